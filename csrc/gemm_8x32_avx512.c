/* AVX-512 GEMM micro-kernel: 8 x 32 (16 zmm accumulators, 2 loads of B per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#define UK_MR 8
#define UK_NV 2
#include "gemm_ukernel_impl.h"
#include "gemv_ukernel_impl.h"
CL_ISA_END
const cl_ukernel cl_ukernel_avx512 = {UK_MR, UK_NR, CL_ISA_AVX512, ukernel, gemv_ukernel};
#else
const cl_ukernel cl_ukernel_avx512 = {0, 0, CL_ISA_AVX512, 0, 0};
#endif
