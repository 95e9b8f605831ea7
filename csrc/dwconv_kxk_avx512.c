/* Depthwise KxK row kernel (any kernel size, stride, dilation: dwconv_kxk.c), AVX-512 build of dwconv_kxk_impl.h. */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#include "dwconv_kxk_impl.h"
CL_ISA_END
const cl_dw_kxk_kernel cl_dw_kxk_avx512 = {dw_kxk_row, CLV_W};
#else
const cl_dw_kxk_kernel cl_dw_kxk_avx512 = {0, 0};
#endif
