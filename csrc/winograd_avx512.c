/* Winograd tile transforms for AVX512 (the template is winograd_impl.h). */
#include "cl_isa.h"
#include "cl_winograd.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_avx512
#define W_BLEND(a, b, lo, hi) _mm512_mask_blend_ps((__mmask16)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)), a, b)
#include "winograd_impl.h"
CL_ISA_END
#else
const cl_wino_kernels cl_wino_avx512 = {0};
#endif
