/* Portable micro-kernels over B in place: wide 8 x 4 (2 panels of 4 rows), narrow up to 4 pixels
 * x 4 rows of C: the fallback for any CPU. */
#include "cl_gemm.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#define UK_MR 4
#define WIDE_PANELS 2
#define WIDE_NV 4
#define NARROW_PX 4
#define NARROW_NV 4
#define WIDE_MAX_M 64   /* as AVX2 and NEON: the tall wide tile is AVX-512's */
#include "gemm_unpacked_impl.h"

CL_UNPACKED_UKERNEL(scalar);
