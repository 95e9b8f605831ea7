/* AVX-512 micro-kernels over B in place: wide 24 x 16 (3 panels of 8 rows, 24 zmm accumulators),
 * narrow up to 14 pixels x 32 rows of C (28 zmm accumulators, 2 loads of A^T per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#define UK_MR 8
#define WIDE_PANELS 3
#define WIDE_NV 1
#define NARROW_PX 14
#define NARROW_NV 2
#define WIDE_MAX_M 0   /* the tall tile: 24 rows; the long one: 8 rows x 48 (rule in gemm.c) */
#define WIDE_LONG_NV 3
#include "gemm_unpacked_impl.h"
CL_ISA_END
CL_UNPACKED_UKERNEL(avx512);
#else
const cl_unpacked_ukernel cl_unpacked_avx512 = {0};
#endif
