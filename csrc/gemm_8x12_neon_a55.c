/* NEON GEMM micro-kernel for the Cortex-A55: 8 x 12, 24 q-register accumulators.
 *
 * Per k step: A gives 8 rows in two q registers (v0: rows 0-3, v1: rows 4-7), B gives 12 columns in
 * three (v2, v3, v4), and each of the 24 FMAs is an fmla by element (fmla v.4s, v.4s, v.s[lane]):
 * the broadcast of A is free (24 + 5 = 29 of 32 registers).
 *
 * The A55 is in-order, dual-issues, and runs one 128-bit fmla per cycle; a 128-bit load (ldr q)
 * does not issue beside an fmla, but a 64-bit vector load (ldr d), a 64-bit integer load (ldr x)
 * and an insert of a general register into the upper half (ins v.d[1], x) do (Arm's Cortex-A55
 * Software Optimization Guide; ncnn docs/developer-guide/arm-a53-a55-dual-issue.md). So the k loop
 * is inline assembly (ukernel): every operand arrives as ldr d + ldr x + ins, each paired with one
 * of the 24 fmla, together with the pointer updates and the loop branch, and each placed at least
 * 3 cycles after what it depends on and 4 before its first use (the ldr x of the upper halves go
 * early, into x9-x13, which are free long before the vector is): 24 cycles per k step in
 * the A55 model of src/convlab/a55.py (25 under llvm-mca-19; results/a55/report.md), against 54
 * (llvm-mca: 48) for what GCC -O3 -mcpu=cortex-a55 made of the previous intrinsics version: it
 * merged the 64-bit loads back into ldr q, broadcast A with dup and spilled accumulators to the
 * stack every step. A vector is reloaded right after its last use in the step: during step k,
 * a0, b0 and b1's lower half of step k + 1 and the upper halves of a0, b0, b1 and b2 of step k + 1
 * (into x9, x11-x13); at the start of step k, a1 and b2's lower half. The last step is peeled so
 * nothing is read past the panels.
 *
 * ukernel_c is the same computation in intrinsics (the same fused multiply-adds in the same order
 * for every accumulator, so the two agree bit for bit): the plain version the assembly is tested
 * against (csrc/tests/test_kernels.c, under qemu). */
#include "cl_gemm.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"

enum { MR = 8, NR = 12 };

/* c0[r], c1[r], c2[r]: row r, columns 0-3, 4-7, 8-11. */
static inline __attribute__((always_inline)) void
load_tile(float32x4_t *c0, float32x4_t *c1, float32x4_t *c2, const float *c, ptrdiff_t ldc, int flags)
{
    for (int r = 0; r < MR; r++) {
        if (flags & CL_UK_LOAD) {
            c0[r] = vld1q_f32(c + r * ldc);
            c1[r] = vld1q_f32(c + r * ldc + 4);
            c2[r] = vld1q_f32(c + r * ldc + 8);
        } else {
            c0[r] = c1[r] = c2[r] = vdupq_n_f32(0.0f);
        }
    }
}

static inline __attribute__((always_inline)) void
store_tile(float32x4_t *c0, float32x4_t *c1, float32x4_t *c2, float *c, ptrdiff_t ldc, int flags,
           const float *bias, const float *slope, int act)
{
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

#define FMA_ROW4(c, r, b, a)                                  \
    c[r + 0] = vfmaq_laneq_f32(c[r + 0], b, a, 0);            \
    c[r + 1] = vfmaq_laneq_f32(c[r + 1], b, a, 1);            \
    c[r + 2] = vfmaq_laneq_f32(c[r + 2], b, a, 2);            \
    c[r + 3] = vfmaq_laneq_f32(c[r + 3], b, a, 3)

static void ukernel_c(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int flags,
                      const float *bias, const float *slope, int act)
{
    float32x4_t c0[MR], c1[MR], c2[MR];
    load_tile(c0, c1, c2, c, ldc, flags);
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        FMA_ROW4(c0, 0, b0, a0);
        FMA_ROW4(c1, 0, b1, a0);
        FMA_ROW4(c2, 0, b2, a0);
        FMA_ROW4(c0, 4, b0, a1);
        FMA_ROW4(c1, 4, b1, a1);
        FMA_ROW4(c2, 4, b2, a1);
    }
    store_tile(c0, c1, c2, c, ldc, flags, bias, slope, act);
}

static void ukernel(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int flags,
                    const float *bias, const float *slope, int act)
{
    /* acc[j * 8 + r] = c<j>[r], in v(8 + j * 8 + r) during the k loop: the assembly loads and stores
     * them itself (24 register operands would be beyond GCC's limit of 30 asm operands); that is 24
     * loads and stores per call against 24 cycles per k step. */
    float32x4_t acc[3 * MR];
    load_tile(acc, acc + MR, acc + 2 * MR, c, ldc, flags);
    if (kc > 0) {
        int k = kc - 1;   /* steps before the peeled last one */
        float32x4_t *p = acc;
        __asm__ volatile(
        "ldp q8, q9, [%[p]]\n\t"
        "ldp q10, q11, [%[p], #32]\n\t"
        "ldp q12, q13, [%[p], #64]\n\t"
        "ldp q14, q15, [%[p], #96]\n\t"
        "ldp q16, q17, [%[p], #128]\n\t"
        "ldp q18, q19, [%[p], #160]\n\t"
        "ldp q20, q21, [%[p], #192]\n\t"
        "ldp q22, q23, [%[p], #224]\n\t"
        "ldp q24, q25, [%[p], #256]\n\t"
        "ldp q26, q27, [%[p], #288]\n\t"
        "ldp q28, q29, [%[p], #320]\n\t"
        "ldp q30, q31, [%[p], #352]\n\t"
        /* step 0's a0 and b0; b1's lower half, and the upper halves of b1 and b2 in x12 and x13
         * (inserted in the step, as every step finds them) */
        "ldr d0, [%[a]]\n\t"
        "ldr x9, [%[a], #8]\n\t"
        "ldr d2, [%[b]]\n\t"
        "ldr x11, [%[b], #8]\n\t"
        "ldr d3, [%[b], #16]\n\t"
        "ldr x12, [%[b], #24]\n\t"
        "ldr x13, [%[b], #40]\n\t"
        "ins v0.d[1], x9\n\t"
        "ins v2.d[1], x11\n\t"
        "cbz %w[k], 2f\n\t"
        "1:\n\t"
        "fmla v8.4s, v2.4s, v0.s[0]\n\t"
        "ins v3.d[1], x12\n\t"
        "fmla v9.4s, v2.4s, v0.s[1]\n\t"
        "ldr d4, [%[b], #32]\n\t"
        "fmla v10.4s, v2.4s, v0.s[2]\n\t"
        "ldr d1, [%[a], #16]\n\t"
        "fmla v11.4s, v2.4s, v0.s[3]\n\t"
        "ldr x10, [%[a], #24]\n\t"
        "fmla v16.4s, v3.4s, v0.s[0]\n\t"
        "ins v4.d[1], x13\n\t"
        "fmla v17.4s, v3.4s, v0.s[1]\n\t"
        "fmla v18.4s, v3.4s, v0.s[2]\n\t"
        "ldr x9, [%[a], #40]\n\t"
        "fmla v19.4s, v3.4s, v0.s[3]\n\t"
        "ins v1.d[1], x10\n\t"
        "fmla v24.4s, v4.4s, v0.s[0]\n\t"
        "ldr x11, [%[b], #56]\n\t"
        "fmla v25.4s, v4.4s, v0.s[1]\n\t"
        "ldr x12, [%[b], #72]\n\t"
        "fmla v26.4s, v4.4s, v0.s[2]\n\t"
        "ldr x13, [%[b], #88]\n\t"
        "fmla v27.4s, v4.4s, v0.s[3]\n\t"
        "fmla v12.4s, v2.4s, v1.s[0]\n\t"
        "ldr d0, [%[a], #32]\n\t"
        "fmla v13.4s, v2.4s, v1.s[1]\n\t"
        "add %[a], %[a], #32\n\t"
        "fmla v14.4s, v2.4s, v1.s[2]\n\t"
        "fmla v15.4s, v2.4s, v1.s[3]\n\t"
        "ins v0.d[1], x9\n\t"
        "fmla v20.4s, v3.4s, v1.s[0]\n\t"
        "ldr d2, [%[b], #48]\n\t"
        "fmla v21.4s, v3.4s, v1.s[1]\n\t"
        "add %[b], %[b], #48\n\t"
        "fmla v22.4s, v3.4s, v1.s[2]\n\t"
        "subs %w[k], %w[k], #1\n\t"
        "fmla v23.4s, v3.4s, v1.s[3]\n\t"
        "ins v2.d[1], x11\n\t"
        "fmla v28.4s, v4.4s, v1.s[0]\n\t"
        "ldr d3, [%[b], #16]\n\t"
        "fmla v29.4s, v4.4s, v1.s[1]\n\t"
        "fmla v30.4s, v4.4s, v1.s[2]\n\t"
        "fmla v31.4s, v4.4s, v1.s[3]\n\t"
        "b.ne 1b\n\t"
        "2:\n\t"
        "fmla v8.4s, v2.4s, v0.s[0]\n\t"
        "ins v3.d[1], x12\n\t"
        "fmla v9.4s, v2.4s, v0.s[1]\n\t"
        "ldr d4, [%[b], #32]\n\t"
        "fmla v10.4s, v2.4s, v0.s[2]\n\t"
        "ldr d1, [%[a], #16]\n\t"
        "fmla v11.4s, v2.4s, v0.s[3]\n\t"
        "ldr x10, [%[a], #24]\n\t"
        "fmla v16.4s, v3.4s, v0.s[0]\n\t"
        "ins v4.d[1], x13\n\t"
        "fmla v17.4s, v3.4s, v0.s[1]\n\t"
        "fmla v18.4s, v3.4s, v0.s[2]\n\t"
        "fmla v19.4s, v3.4s, v0.s[3]\n\t"
        "ins v1.d[1], x10\n\t"
        "fmla v24.4s, v4.4s, v0.s[0]\n\t"
        "fmla v25.4s, v4.4s, v0.s[1]\n\t"
        "fmla v26.4s, v4.4s, v0.s[2]\n\t"
        "fmla v27.4s, v4.4s, v0.s[3]\n\t"
        "fmla v12.4s, v2.4s, v1.s[0]\n\t"
        "fmla v13.4s, v2.4s, v1.s[1]\n\t"
        "fmla v14.4s, v2.4s, v1.s[2]\n\t"
        "fmla v15.4s, v2.4s, v1.s[3]\n\t"
        "fmla v20.4s, v3.4s, v1.s[0]\n\t"
        "fmla v21.4s, v3.4s, v1.s[1]\n\t"
        "fmla v22.4s, v3.4s, v1.s[2]\n\t"
        "fmla v23.4s, v3.4s, v1.s[3]\n\t"
        "fmla v28.4s, v4.4s, v1.s[0]\n\t"
        "fmla v29.4s, v4.4s, v1.s[1]\n\t"
        "fmla v30.4s, v4.4s, v1.s[2]\n\t"
        "fmla v31.4s, v4.4s, v1.s[3]\n\t"
        "stp q8, q9, [%[p]]\n\t"
        "stp q10, q11, [%[p], #32]\n\t"
        "stp q12, q13, [%[p], #64]\n\t"
        "stp q14, q15, [%[p], #96]\n\t"
        "stp q16, q17, [%[p], #128]\n\t"
        "stp q18, q19, [%[p], #160]\n\t"
        "stp q20, q21, [%[p], #192]\n\t"
        "stp q22, q23, [%[p], #224]\n\t"
        "stp q24, q25, [%[p], #256]\n\t"
        "stp q26, q27, [%[p], #288]\n\t"
        "stp q28, q29, [%[p], #320]\n\t"
        "stp q30, q31, [%[p], #352]\n\t"
        : [a] "+r"(a), [b] "+r"(b), [k] "+r"(k)
        : [p] "r"(p)
        : "v0", "v1", "v2", "v3", "v4", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17",
          "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
          "x9", "x10", "x11", "x12", "x13", "cc", "memory");
    }
    store_tile(acc, acc + MR, acc + 2 * MR, c, ldc, flags, bias, slope, act);
}

#define UK_MR MR
#include "gemv_ukernel_impl.h"

const cl_ukernel cl_ukernel_neon = {MR, NR, CL_ISA_NEON, ukernel, gemv_ukernel};
const cl_ukernel cl_ukernel_neon_c = {MR, NR, CL_ISA_NEON, ukernel_c, gemv_ukernel};
#else
const cl_ukernel cl_ukernel_neon = {0, 0, CL_ISA_NEON, 0, 0};
const cl_ukernel cl_ukernel_neon_c = {0, 0, CL_ISA_NEON, 0, 0};
#endif
