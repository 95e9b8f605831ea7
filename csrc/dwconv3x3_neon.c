/* Depthwise 3x3 channel kernel (stride 1 and 2 rows, from an L1 row ring), NEON build of dwconv3x3_impl.h
 * (stride 2 rows are split with vld2q_f32). */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "dwconv3x3_impl.h"
const cl_dw3x3_kernel cl_dw3x3_neon = {dw_channel, CLV_W};
#else
const cl_dw3x3_kernel cl_dw3x3_neon = {0, 0};
#endif
