/* NEON micro-kernels over B in place: wide 16 x 4 (2 panels of 8 rows, 16 q accumulators),
 * narrow up to 6 pixels x 12 rows of C (18 q accumulators, 3 loads of A^T per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#define UK_MR 8
#define WIDE_PANELS 2
#define WIDE_NV 1
#define NARROW_PX 6
#define NARROW_NV 3
/* many rows: the packed 8x12 kernel, A55-scheduled assembly, 24 fmla in 25 cycles per k (llvm-mca)
 * against this wide tile's 16 in 20 */
#define WIDE_MAX_M 64
#include "gemm_unpacked_impl.h"
CL_UNPACKED_UKERNEL(neon);
#else
const cl_unpacked_ukernel cl_unpacked_neon = {0};
#endif
