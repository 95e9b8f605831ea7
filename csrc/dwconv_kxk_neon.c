/* Depthwise KxK row kernel (any kernel size, stride, dilation: dwconv_kxk.c), NEON build of dwconv_kxk_impl.h. */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "dwconv_kxk_impl.h"
const cl_dw_kxk_kernel cl_dw_kxk_neon = {dw_kxk_row, CLV_W};
#else
const cl_dw_kxk_kernel cl_dw_kxk_neon = {0, 0};
#endif
