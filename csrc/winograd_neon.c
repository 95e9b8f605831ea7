/* Winograd tile transforms for NEON (the template is winograd_impl.h). */
#include "cl_isa.h"
#include "cl_winograd.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_neon
static inline clv w_blend_neon(clv a, clv b, int lo, int hi)
{
    static const uint32_t idx[4] = {0, 1, 2, 3};
    uint32x4_t lane = vld1q_u32(idx);
    uint32x4_t in = vandq_u32(vcgeq_u32(lane, vdupq_n_u32((uint32_t)lo)), vcltq_u32(lane, vdupq_n_u32((uint32_t)hi)));
    return vbslq_f32(in, b, a);
}
#define W_BLEND(a, b, lo, hi) w_blend_neon(a, b, lo, hi)
#include "winograd_impl.h"
#else
const cl_wino_kernels cl_wino_neon = {0};
#endif
