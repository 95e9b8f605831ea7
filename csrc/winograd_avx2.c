/* Winograd tile transforms for AVX2 (the template is winograd_impl.h). */
#include "cl_isa.h"
#include "cl_winograd.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_avx2
#include "winograd_impl.h"
CL_ISA_END
#else
const cl_wino_kernels cl_wino_avx2 = {0};
#endif
