/* NEON GEMM micro-kernel for the Cortex-A55: 8 x 12, 24 q-register accumulators.
 *
 * Per k step: A gives 8 rows in two q registers, B gives 12 columns in three, and each of the
 * 24 FMAs is vfmaq_laneq_f32 (fmla v.4s, v.4s, v.s[lane]): the broadcast of A is free, so no
 * extra registers or instructions are spent on it (24 + 2 + 3 = 29 of 32 registers).
 * The A55 is in-order and dual-issues, but a 128-bit load does not pair with an fmla, while a
 * 64-bit one does: loads are 64-bit halves (vld1_f32), issued one k step ahead and spread between
 * the fmla groups so the in-order pipeline never waits on them. */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"

enum { MR = 8, NR = 12 };

static inline float32x4_t ld2x64(const float *p) { return vcombine_f32(vld1_f32(p), vld1_f32(p + 2)); }

#define FMA_ROW4(c, r, b, a)                                  \
    c[r + 0] = vfmaq_laneq_f32(c[r + 0], b, a, 0);            \
    c[r + 1] = vfmaq_laneq_f32(c[r + 1], b, a, 1);            \
    c[r + 2] = vfmaq_laneq_f32(c[r + 2], b, a, 2);            \
    c[r + 3] = vfmaq_laneq_f32(c[r + 3], b, a, 3)

static void ukernel(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int flags,
                    const float *bias, const float *slope, int act)
{
    /* c0[r], c1[r], c2[r]: row r, columns 0-3, 4-7, 8-11. */
    float32x4_t c0[MR], c1[MR], c2[MR];
    for (int r = 0; r < MR; r++) {
        if (flags & CL_UK_LOAD) {
            c0[r] = vld1q_f32(c + r * ldc);
            c1[r] = vld1q_f32(c + r * ldc + 4);
            c2[r] = vld1q_f32(c + r * ldc + 8);
        } else {
            c0[r] = c1[r] = c2[r] = vdupq_n_f32(0.0f);
        }
    }
    float32x4_t a0 = ld2x64(a), a1 = ld2x64(a + 4);
    float32x4_t b0 = ld2x64(b), b1 = ld2x64(b + 4), b2 = ld2x64(b + 8);
    for (int k = 0; k < kc; k++) {
        /* Next step's operands are loaded between this step's fmla groups (the last step
         * reloads its own rather than reading past the panel). */
        const float *an = a + MR * (k + 1 < kc), *bn = b + NR * (k + 1 < kc);
        FMA_ROW4(c0, 0, b0, a0);
        float32x4_t nb0 = ld2x64(bn);
        FMA_ROW4(c0, 4, b0, a1);
        float32x4_t na0 = ld2x64(an);
        FMA_ROW4(c1, 0, b1, a0);
        float32x4_t nb1 = ld2x64(bn + 4);
        FMA_ROW4(c1, 4, b1, a1);
        float32x4_t na1 = ld2x64(an + 4);
        FMA_ROW4(c2, 0, b2, a0);
        float32x4_t nb2 = ld2x64(bn + 8);
        FMA_ROW4(c2, 4, b2, a1);
        a = an;
        b = bn;
        a0 = na0, a1 = na1, b0 = nb0, b1 = nb1, b2 = nb2;
    }
    for (int r = 0; r < MR; r++) {
        if (flags & CL_UK_EPILOGUE) {
            float32x4_t br = vdupq_n_f32(bias[r]), sr = vdupq_n_f32(slope[r]);
            c0[r] = clv_act(vaddq_f32(c0[r], br), act, sr);
            c1[r] = clv_act(vaddq_f32(c1[r], br), act, sr);
            c2[r] = clv_act(vaddq_f32(c2[r], br), act, sr);
        }
        vst1q_f32(c + r * ldc, c0[r]);
        vst1q_f32(c + r * ldc + 4, c1[r]);
        vst1q_f32(c + r * ldc + 8, c2[r]);
    }
}

#define UK_MR MR
#include "gemv_ukernel_impl.h"

const cl_ukernel cl_ukernel_neon = {MR, NR, CL_ISA_NEON, ukernel, gemv_ukernel};
#else
const cl_ukernel cl_ukernel_neon = {0, 0, CL_ISA_NEON, 0, 0};
#endif
