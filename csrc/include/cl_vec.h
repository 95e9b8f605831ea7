/* The thin vector layer: one float vector type `clv` of CLV_W lanes and the handful of operations
 * the kernels written once (GEMM micro-kernel template, depthwise rows) need. Define exactly one
 * of CL_VEC_AVX512, CL_VEC_AVX2, CL_VEC_NEON, CL_VEC_SCALAR before including it (x86 files do so
 * inside CL_ISA_BEGIN_* so these inline functions get the target attribute). */
#ifndef CL_VEC_H
#define CL_VEC_H

#include "cl_common.h"

#if defined(CL_VEC_AVX512)
#include <immintrin.h>
typedef __m512 clv;
#define CLV_W 16
static inline clv clv_loadu(const float *p) { return _mm512_loadu_ps(p); }
static inline void clv_storeu(float *p, clv v) { _mm512_storeu_ps(p, v); }
static inline clv clv_set1(float x) { return _mm512_set1_ps(x); }
static inline clv clv_fma(clv a, clv b, clv c) { return _mm512_fmadd_ps(a, b, c); }
static inline clv clv_add(clv a, clv b) { return _mm512_add_ps(a, b); }
static inline clv clv_mul(clv a, clv b) { return _mm512_mul_ps(a, b); }
/* a / b where b > 0, else 0 (an average over no taps). */
static inline clv clv_div_or_zero(clv a, clv b)
{
    return _mm512_maskz_div_ps(_mm512_cmp_ps_mask(b, _mm512_setzero_ps(), _CMP_GT_OQ), a, b);
}
/* max/min return their second operand when either is NaN: put the value second, NaN survives. */
static inline clv clv_max(clv bound, clv v) { return _mm512_max_ps(bound, v); }
static inline clv clv_min(clv bound, clv v) { return _mm512_min_ps(bound, v); }
static inline clv clv_select_neg(clv v, clv if_neg)
{
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), if_neg);
}
/* Lane i takes lane (i + j) % CLV_W, j = 1 or 2 (a constant): a row shifted left in registers. */
static inline clv clv_rot(clv v, int j)
{
    __m512i i = _mm512_castps_si512(v);
    return _mm512_castsi512_ps(j == 1 ? _mm512_alignr_epi32(i, i, 1) : _mm512_alignr_epi32(i, i, 2));
}
/* Row edges (padding columns, tails, rows narrower than a vector): clv_lanes_in(col, w) names the
 * lanes i with 0 <= col + i < w; clv_load_lanes(row, col, m) gives row[col + i] in those lanes and
 * zeros elsewhere (clv_load_lanes_or: fill's lanes), reading nothing outside them (masked-off lanes
 * do not fault). */
typedef __mmask16 clv_lanes;
static inline clv_lanes clv_lanes_in(ptrdiff_t col, ptrdiff_t w)
{
    ptrdiff_t lo = col < 0 ? (-col < CLV_W ? -col : CLV_W) : 0, hi = w - col < CLV_W ? w - col : CLV_W;
    hi = hi < 0 ? 0 : hi;
    return (clv_lanes)(((1u << hi) - 1) & ~((1u << lo) - 1));
}
static inline clv clv_load_lanes(const float *row, ptrdiff_t col, clv_lanes m) { return _mm512_maskz_loadu_ps(m, row + col); }
static inline clv clv_load_lanes_or(const float *row, ptrdiff_t col, clv_lanes m, clv fill)
{
    return _mm512_mask_loadu_ps(fill, m, row + col);
}
/* Lanes 0..n-1 only (0 <= n <= CLV_W): nothing is written past p + n. */
static inline void clv_store_first(float *p, clv v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
/* Lane 0 takes prev's last lane, lane i cur[i - 1]: a row shifted right by one, continuing prev. */
static inline clv clv_shift_in(clv prev, clv cur)
{
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), CLV_W - 1));
}
/* Lane i takes cur[i + 1], the last lane next's lane 0: a row shifted left by one, continued by next. */
static inline clv clv_shift_next(clv cur, clv next)
{
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur), 1));
}
/* A store that bypasses the caches (p aligned to the vector): for outputs far larger than the caches,
 * it saves reading each line in before it is overwritten. Weakly ordered: fence before others read. */
static inline void clv_stream(float *p, clv v) { _mm512_stream_ps(p, v); }
/* Every lane = lane `lane` of v (a constant once inlined). CLV_BROADCAST_FROM_REGISTER: whether an
 * FMA by such a lane is cheaper than a broadcast from memory (NEON's fmla by element: yes; x86
 * folds a broadcast from memory into the FMA, from a register it costs a shuffle: no). */
#define CLV_BROADCAST_FROM_REGISTER 0
static inline clv clv_dup_lane(clv v, int lane) { return _mm512_permutexvar_ps(_mm512_set1_epi32(lane), v); }
/* a, b hold 2 * CLV_W consecutive floats: even = x[0], x[2], ..., odd = x[1], x[3], ... */
static inline void clv_deinterleave(clv a, clv b, clv *even, clv *odd)
{
    __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *even = _mm512_permutex2var_ps(a, ie, b);
    *odd = _mm512_permutex2var_ps(a, io, b);
}
/* r[i][j] -> r[j][i]: pairs of rows interleaved, then pairs of pairs, then 128-bit quarters
 * gathered in two rounds (64 shuffles). */
static inline __attribute__((always_inline)) void clv_transpose16(clv r[16])
{
    clv t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 16; i += 8)
        for (int k = 0; k < 4; k++) {
            t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0x88);
            t[i + k + 4] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0xdd);
        }
    for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
    }
}
#elif defined(CL_VEC_AVX2)
#include <immintrin.h>
typedef __m256 clv;
#define CLV_W 8
static inline clv clv_loadu(const float *p) { return _mm256_loadu_ps(p); }
static inline void clv_storeu(float *p, clv v) { _mm256_storeu_ps(p, v); }
static inline clv clv_set1(float x) { return _mm256_set1_ps(x); }
static inline clv clv_fma(clv a, clv b, clv c) { return _mm256_fmadd_ps(a, b, c); }
static inline clv clv_add(clv a, clv b) { return _mm256_add_ps(a, b); }
static inline clv clv_mul(clv a, clv b) { return _mm256_mul_ps(a, b); }
static inline clv clv_div_or_zero(clv a, clv b)
{
    return _mm256_and_ps(_mm256_div_ps(a, b), _mm256_cmp_ps(b, _mm256_setzero_ps(), _CMP_GT_OQ));
}
static inline clv clv_max(clv bound, clv v) { return _mm256_max_ps(bound, v); }
static inline clv clv_min(clv bound, clv v) { return _mm256_min_ps(bound, v); }
static inline clv clv_select_neg(clv v, clv if_neg)
{
    return _mm256_blendv_ps(v, if_neg, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
}
static inline __m256i clv_mask_first(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline clv clv_rot(clv v, int j)
{
    return _mm256_permutevar8x32_ps(v, _mm256_and_si256(_mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                                          _mm256_set1_epi32(j)), _mm256_set1_epi32(7)));
}
typedef __m256i clv_lanes;
static inline clv_lanes clv_lanes_in(ptrdiff_t col, ptrdiff_t w)
{
    ptrdiff_t lo = col < 0 ? (-col < CLV_W ? -col : CLV_W) : 0, hi = w - col < CLV_W ? w - col : CLV_W;
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)lo), lane),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane));
}
static inline clv clv_load_lanes(const float *row, ptrdiff_t col, clv_lanes m) { return _mm256_maskload_ps(row + col, m); }
static inline clv clv_load_lanes_or(const float *row, ptrdiff_t col, clv_lanes m, clv fill)
{
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(row + col, m), _mm256_castsi256_ps(m));
}
static inline void clv_store_first(float *p, clv v, int n) { _mm256_maskstore_ps(p, clv_mask_first(n), v); }
static inline clv clv_shift_in(clv prev, clv cur)
{
    /* per 128-bit half: (cur0..3 : prev4..7) and (cur4..7 : cur0..3), shifted by three floats */
    __m256 mid = _mm256_permute2f128_ps(prev, cur, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(mid), 12));
}
static inline clv clv_shift_next(clv cur, clv next)
{
    /* per 128-bit half: (cur4..7 : cur0..3) and (next0..3 : cur4..7), shifted by one float */
    __m256 mid = _mm256_permute2f128_ps(cur, next, 0x21);
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(mid), _mm256_castps_si256(cur), 4));
}
static inline void clv_stream(float *p, clv v) { _mm256_stream_ps(p, v); }
#define CLV_BROADCAST_FROM_REGISTER 0
static inline clv clv_dup_lane(clv v, int lane) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(lane)); }
static inline void clv_deinterleave(clv a, clv b, clv *even, clv *odd)
{
    /* shuffle picks within 128-bit lanes: a0 a2 b0 b2 | a4 a6 b4 b6; the permute fixes the order */
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}
#elif defined(CL_VEC_NEON)
#include <arm_neon.h>
typedef float32x4_t clv;
#define CLV_W 4
static inline clv clv_loadu(const float *p) { return vld1q_f32(p); }
static inline void clv_storeu(float *p, clv v) { vst1q_f32(p, v); }
static inline clv clv_set1(float x) { return vdupq_n_f32(x); }
static inline clv clv_fma(clv a, clv b, clv c) { return vfmaq_f32(c, a, b); }
static inline clv clv_add(clv a, clv b) { return vaddq_f32(a, b); }
static inline clv clv_mul(clv a, clv b) { return vmulq_f32(a, b); }
static inline clv clv_div_or_zero(clv a, clv b)
{
    return vbslq_f32(vcgtq_f32(b, vdupq_n_f32(0.0f)), vdivq_f32(a, b), vdupq_n_f32(0.0f));
}
static inline clv clv_max(clv bound, clv v) { return vmaxq_f32(bound, v); }   /* NaN-propagating */
static inline clv clv_min(clv bound, clv v) { return vminq_f32(bound, v); }
static inline clv clv_select_neg(clv v, clv if_neg)
{
    return vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), if_neg, v);
}
static inline clv clv_rot(clv v, int j) { return j == 1 ? vextq_f32(v, v, 1) : vextq_f32(v, v, 2); }
typedef struct { ptrdiff_t lo, hi; } clv_lanes;
static inline clv_lanes clv_lanes_in(ptrdiff_t col, ptrdiff_t w) { return (clv_lanes){-col, w - col}; }
static inline clv clv_load_lanes_or(const float *row, ptrdiff_t col, clv_lanes m, clv fill)
{
    float t[4];
    vst1q_f32(t, fill);
    for (int i = 0; i < 4; i++)
        if (i >= m.lo && i < m.hi)
            t[i] = row[col + i];
    return vld1q_f32(t);
}
static inline clv clv_load_lanes(const float *row, ptrdiff_t col, clv_lanes m)
{
    return clv_load_lanes_or(row, col, m, vdupq_n_f32(0.0f));
}
static inline void clv_store_first(float *p, clv v, int n)
{
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < n; i++)
        p[i] = t[i];
}
static inline clv clv_shift_in(clv prev, clv cur) { return vextq_f32(prev, cur, 3); }
static inline clv clv_shift_next(clv cur, clv next) { return vextq_f32(cur, next, 1); }
static inline void clv_stream(float *p, clv v) { vst1q_f32(p, v); }
#define CLV_BROADCAST_FROM_REGISTER 1
static inline clv clv_dup_lane(clv v, int lane) { return vdupq_laneq_f32(v, lane); }
static inline void clv_deinterleave(clv a, clv b, clv *even, clv *odd)
{
    *even = vuzp1q_f32(a, b);
    *odd = vuzp2q_f32(a, b);
}
/* 2 * CLV_W consecutive floats from p split into even and odd ones: one ld2 */
#define CLV_HAS_LOAD2
static inline void clv_load2(const float *p, clv *even, clv *odd)
{
    float32x4x2_t v = vld2q_f32(p);
    *even = v.val[0];
    *odd = v.val[1];
}
#elif defined(CL_VEC_SCALAR)
typedef float clv;
#define CLV_W 1
static inline clv clv_loadu(const float *p) { return *p; }
static inline void clv_storeu(float *p, clv v) { *p = v; }
static inline clv clv_set1(float x) { return x; }
/* fmaf would be a slow libm call without hardware FMA; a*b+c keeps the scalar path honest
 * (-ffp-contract may still fuse it where the target has FMA). */
static inline clv clv_fma(clv a, clv b, clv c) { return a * b + c; }
static inline clv clv_add(clv a, clv b) { return a + b; }
static inline clv clv_mul(clv a, clv b) { return a * b; }
static inline clv clv_div_or_zero(clv a, clv b) { return b > 0.0f ? a / b : 0.0f; }
static inline clv clv_max(clv bound, clv v) { return v < bound ? bound : v; }
static inline clv clv_min(clv bound, clv v) { return v > bound ? bound : v; }
static inline clv clv_select_neg(clv v, clv if_neg) { return v < 0.0f ? if_neg : v; }
static inline clv clv_rot(clv v, int j) { return v; }
typedef int clv_lanes;
static inline clv_lanes clv_lanes_in(ptrdiff_t col, ptrdiff_t w) { return col >= 0 && col < w; }
static inline clv clv_load_lanes(const float *row, ptrdiff_t col, clv_lanes m) { return m ? row[col] : 0.0f; }
static inline clv clv_load_lanes_or(const float *row, ptrdiff_t col, clv_lanes m, clv fill) { return m ? row[col] : fill; }
static inline clv clv_shift_in(clv prev, clv cur) { return prev; }
static inline clv clv_shift_next(clv cur, clv next) { return next; }
static inline void clv_store_first(float *p, clv v, int n)
{
    if (n > 0)
        *p = v;
}
static inline void clv_stream(float *p, clv v) { *p = v; }
#define CLV_BROADCAST_FROM_REGISTER 0
static inline clv clv_dup_lane(clv v, int lane) { return v; }
static inline void clv_deinterleave(clv a, clv b, clv *even, clv *odd)
{
    *even = a;
    *odd = b;
}
#else
#error "define one of CL_VEC_AVX512, CL_VEC_AVX2, CL_VEC_NEON, CL_VEC_SCALAR"
#endif

#ifndef CLV_HAS_LOAD2
static inline void clv_load2(const float *p, clv *even, clv *odd)
{
    clv_deinterleave(clv_loadu(p), clv_loadu(p + CLV_W), even, odd);
}
#endif

/* The epilogue's activation on one vector; slope is the row's PReLU slope broadcast. Sigmoid is
 * not here (callers run cl_sigmoid_inplace on the stored values). Matches cl_act1 lane by lane. */
static inline clv clv_act(clv v, int act, clv slope)
{
    switch (act) {
    case CL_ACT_RELU: return clv_max(clv_set1(0.0f), v);
    case CL_ACT_RELU6: return clv_min(clv_set1(6.0f), clv_max(clv_set1(0.0f), v));
    case CL_ACT_PRELU: return clv_select_neg(v, clv_mul(v, slope));
    case CL_ACT_HARDSWISH: {
        clv t = clv_min(clv_set1(6.0f), clv_max(clv_set1(0.0f), clv_add(v, clv_set1(3.0f))));
        return clv_mul(clv_mul(v, t), clv_set1(1.0f / 6.0f));
    }
    default: return v;
    }
}

#if defined(__GNUC__)
#define CL_UNROLL _Pragma("GCC unroll 32")
#else
#define CL_UNROLL
#endif

#endif
