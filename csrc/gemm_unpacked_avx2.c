/* AVX2+FMA micro-kernels over B in place: wide 6 x 16 (one panel, 12 ymm accumulators, 2 loads of B
 * and 6 broadcasts per k: AVX2 cannot fold a broadcast into the FMA, so 12 x 8 was bound by its 12
 * broadcast loads: 128x3136x128 1.81 ms against 1.51, 32x6000x192 1.44 against 1.14), narrow up to
 * 6 pixels x 16 rows of C (12 ymm accumulators, 2 loads of A^T per k). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define UK_MR 6
#define WIDE_PANELS 1
#define WIDE_NV 2
#define NARROW_PX 6
#define NARROW_NV 2
/* one panel a tile reads B once per 6 rows: even or behind packed for many rows (192x6000x32
 * 1.05 ms vs 1.09, 256x784x256 1.34 vs 1.31, 128x3136x128 1.51 vs 1.35), far ahead for few
 * (16x96000x32 3.0 vs 4.9, 24x24000x144 3.5 vs 6.1) */
#define WIDE_MAX_M 64
#include "gemm_unpacked_impl.h"
CL_ISA_END
CL_UNPACKED_UKERNEL(avx2);
#else
const cl_unpacked_ukernel cl_unpacked_avx2 = {0};
#endif
