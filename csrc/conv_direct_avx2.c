/* Direct conv row kernel (conv_direct.c), AVX2 build of conv_direct_impl.h. */
#include "cl_direct.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#include "conv_direct_impl.h"
CL_ISA_END
const cl_direct_axpy_fn cl_direct_axpy_avx2 = axpy_rows;
#else
const cl_direct_axpy_fn cl_direct_axpy_avx2 = 0;
#endif
