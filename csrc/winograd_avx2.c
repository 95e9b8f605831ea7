/* Winograd tile transforms for AVX2 (the template is winograd_impl.h). */
#include "cl_isa.h"
#include "cl_winograd.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_avx2
static inline clv w_blend_avx2(clv a, clv b, int lo, int hi)
{
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i in = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)),
                                  _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(in));
}
#define W_BLEND(a, b, lo, hi) w_blend_avx2(a, b, lo, hi)
#include "winograd_impl.h"
CL_ISA_END
#else
const cl_wino_kernels cl_wino_avx2 = {0};
#endif
