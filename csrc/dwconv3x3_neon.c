/* Depthwise 3x3 channel kernel, NEON build of dwconv3x3_impl.h (stride 2 rows are split with vld2q_f32). */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "dwconv3x3_impl.h"
#include "dwconv_kxk_impl.h"
const cl_dw_kernels cl_dw_neon = {dw_channel, CLV_W, dw_kxk_row};
#else
const cl_dw_kernels cl_dw_neon = {0, 0, 0};
#endif
