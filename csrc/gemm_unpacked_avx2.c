/* AVX2+FMA micro-kernels over B in place: wide 12 x 8 (2 panels of 6 rows, 12 ymm accumulators),
 * narrow up to 6 pixels x 16 rows of C (12 ymm accumulators, 2 loads of A^T per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define UK_MR 6
#define WIDE_PANELS 2
#define WIDE_NV 1
#define NARROW_PX 6
#define NARROW_NV 2
#include "gemm_unpacked_impl.h"
CL_ISA_END
const cl_unpacked_ukernel cl_unpacked_avx2 = {WIDE_PANELS, WIDE_NR, NARROW_PX, NARROW_NR, wide_ukernel, narrow_ukernel};
#else
const cl_unpacked_ukernel cl_unpacked_avx2 = {0, 0, 0, 0, 0, 0};
#endif
