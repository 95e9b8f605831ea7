/* Depthwise 3x3 channel kernel, NEON build of dwconv3x3_impl.h (stride 2 rows are split into even
 * and odd columns by vld2q_f32). */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#define DW_S1_NV 4
#include "dwconv3x3_impl.h"
const cl_dw3x3_kernel cl_dw3x3_neon = {dw_channel, CLV_W};
#else
const cl_dw3x3_kernel cl_dw3x3_neon = {0, 0};
#endif
