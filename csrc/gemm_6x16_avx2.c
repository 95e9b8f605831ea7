/* AVX2+FMA GEMM micro-kernel: 6 x 16 (12 ymm accumulators, 2 loads of B, 6 broadcasts per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define UK_MR 6
#define UK_NV 2
#include "gemm_ukernel_impl.h"
#include "gemv_ukernel_impl.h"
CL_ISA_END
const cl_ukernel cl_ukernel_avx2 = {UK_MR, UK_NR, CL_ISA_AVX2, ukernel, gemv_ukernel};
#else
const cl_ukernel cl_ukernel_avx2 = {0, 0, CL_ISA_AVX2, 0, 0};
#endif
