/* Portable GEMM micro-kernel, 4 x 8: the fallback for any CPU, and the plain version the SIMD
 * micro-kernels are tested against. */
#include "cl_gemm.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#define UK_MR 4
#define UK_NV 8
#include "gemm_ukernel_impl.h"
#include "gemv_ukernel_impl.h"

const cl_ukernel cl_ukernel_scalar = {UK_MR, UK_NR, CL_ISA_SCALAR, ukernel, gemv_ukernel};
