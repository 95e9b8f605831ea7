/* Depthwise KxK row kernel (any kernel size, stride, dilation: dwconv_kxk.c), portable build of dwconv_kxk_impl.h. */
#include "cl_dwconv.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#include "dwconv_kxk_impl.h"

const cl_dw_kxk_kernel cl_dw_kxk_scalar = {dw_kxk_row, CLV_W};
