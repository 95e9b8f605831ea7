/* Pool planes for one ISA (cl_pool.h): included by pool_<isa>.c after cl_vec.h. The loops are
 * written once with is_max a parameter and instantiated for both by pool_plane at the end, so
 * no inner loop tests it. */
#include <math.h>

#define POOL_INLINE static inline __attribute__((always_inline))

POOL_INLINE clv pool_tap(clv acc, clv tap, int is_max)
{
    return is_max ? clv_max(tap, acc) : clv_add(acc, tap);   /* clv_max(a, b): a > b ? a : b */
}

/* v[c] = the combine of x[k * w + c] over rows k < n, c < w. */
POOL_INLINE void pool_vertical(float *restrict v, const float *restrict x, int n, int w, int is_max)
{
    const clv identity = clv_set1(is_max ? -INFINITY : 0.0f);
    for (int c = 0; c < w; c += CLV_W) {
        clv_lanes in = clv_lanes_in(0, w - c);
        clv acc = identity;
        for (int k = 0; k < n; k++) {
            const float *row = x + (ptrdiff_t)k * w;
            clv tap = w - c >= CLV_W ? clv_loadu(row + c) : clv_load_lanes(row, c, in);
            acc = pool_tap(acc, tap, is_max);
        }
        if (w - c >= CLV_W)
            clv_storeu(v + c, acc);
        else
            clv_store_first(v + c, acc, w - c);
    }
}

/* Tap t of outputs o..o+CLV_W-1 at stride 2: the even or odd floats of 2 * CLV_W from v + 2o. */
POOL_INLINE clv pool_tap_s2(const float *v, int o, int t)
{
    clv even, odd;
    clv_load2(v + 2 * o + (t & ~1), &even, &odd);
    return t & 1 ? odd : even;
}

/* y[o] = the combine of v[o * sw + t] over t < kw, o < ow; an average then divides by the taps
 * inside (rows_in * col_count[o]; 0 when none). */
POOL_INLINE void pool_horizontal(const float *restrict v, float *restrict y, int ow, int kw, int sw, int is_max,
                                 float rows_in, const float *col_count)
{
    if (sw > 2) {   /* rare (no model here has one): plain loops */
        for (int o = 0; o < ow; o++) {
            float acc = v[o * sw];
            for (int t = 1; t < kw; t++) {
                float tap = v[o * sw + t];
                acc = is_max ? (tap > acc ? tap : acc) : acc + tap;
            }
            y[o] = is_max ? acc : rows_in * col_count[o] > 0.0f ? acc / (rows_in * col_count[o]) : 0.0f;
        }
        return;
    }
    for (int o = 0; o < ow; o += CLV_W) {
        clv acc = sw == 2 ? pool_tap_s2(v, o, 0) : clv_loadu(v + o);
        for (int t = 1; t < kw; t++)
            acc = pool_tap(acc, sw == 2 ? pool_tap_s2(v, o, t) : clv_loadu(v + o + t), is_max);
        if (!is_max) {   /* col_count is readable a vector past ow (cl_pool.h) */
            clv count = clv_mul(clv_set1(rows_in), clv_loadu(col_count + o));
            acc = clv_div_or_zero(acc, count);
        }
        if (ow - o >= CLV_W)
            clv_storeu(y + o, acc);
        else
            clv_store_first(y + o, acc, ow - o);
    }
}

/* Rows of the vertical pass for CL_POOL_BAND output rows go to their own lines of v before the
 * horizontal pass reads any: read straight back, the horizontal pass's loads (2 * CLV_W floats
 * at odd offsets) would straddle stores still in flight, which cannot be forwarded and stalled
 * every output row (a quarter of O-Net's first pool). */
POOL_INLINE void pool_plane_impl(const cl_pool_shape *s, const float *restrict xp, float *restrict yp,
                                float *restrict v, const float *col_count, int kind, int is_max)
{
    const int row = cl_pool_row_floats(s, CLV_W), include_pad = kind == CL_POOL_AVG_INCLUDE_PAD;
    for (int band = 0; band < s->oh; band += CL_POOL_BAND) {
        int rows = s->oh - band < CL_POOL_BAND ? s->oh - band : CL_POOL_BAND;
        for (int r = 0; r < rows; r++) {
            int y0 = (band + r) * s->sh - s->pt, ky0 = y0 < 0 ? -y0 : 0;
            pool_vertical(v + r * row + s->pl, xp + (ptrdiff_t)(y0 + ky0) * s->w,
                          cl_pool_taps_inside(y0, s->kh, 0, s->h), s->w, is_max);
        }
        for (int r = 0; r < rows; r++) {
            int y0 = (band + r) * s->sh - s->pt;
            int rows_in = cl_pool_taps_inside(y0, s->kh, include_pad ? -s->pt : 0, include_pad ? s->h + s->pb : s->h);
            pool_horizontal(v + r * row, yp + (ptrdiff_t)(band + r) * s->ow, s->ow, s->kw, s->sw, is_max,
                            (float)rows_in, col_count);
        }
    }
}

/* Whether x[0..n) holds a NaN or an infinity: x * 0 summed, which stays 0 otherwise. Four
 * accumulators: a single one would be a chain of dependent FMAs, slower than the pool itself. */
POOL_INLINE int pool_nonfinite(const float *x, int n)
{
    const clv zero = clv_set1(0.0f);
    clv acc[4] = {zero, zero, zero, zero};
    int i = 0;
    for (; i + 4 * CLV_W <= n; i += 4 * CLV_W)
        for (int a = 0; a < 4; a++)
            acc[a] = clv_fma(clv_loadu(x + i + a * CLV_W), zero, acc[a]);
    for (; i < n; i += CLV_W)
        acc[0] = clv_fma(clv_load_lanes(x, i, clv_lanes_in(0, n - i)), zero, acc[0]);
    float lanes[CLV_W];
    clv_storeu(lanes, clv_add(clv_add(acc[0], acc[1]), clv_add(acc[2], acc[3])));
    int bad = 0;
    for (int l = 0; l < CLV_W; l++)
        bad |= lanes[l] != 0.0f;
    return bad;
}

/* Max pool at column stride 2, windows 2 or 3 wide (nearly every max pool: MTCNN's, ResNet's stem
 * pool): each output vector straight from its window's rows, with no intermediate row. The rows'
 * max over 2 * CLV_W columns (+ one for kw = 3) first, then one deinterleave: the even columns are
 * tap 0, the odd ones tap 1, the evens shifted by one lane tap 2. Columns outside the input are
 * -inf, so padding needs no count. No intermediate row is stored and read back, and no per-row
 * bookkeeping: MTCNN O-Net's pools, min us (Zen 5, AVX-512), 32x46x46 11.1 -> 7.7, 64x21x21
 * 7.0 -> 5.0, 2x2 on 64x8x8 2.96 -> 2.0. */
typedef struct {   /* one vector of outputs' input columns, the same for every output row */
    int c0, inside, upper, next_in;   /* upper: columns c0 + CLV_W.. reach into the row */
    clv_lanes in_lo, in_hi;
} max_s2_columns;

POOL_INLINE max_s2_columns max_s2_columns_at(int c0, int w, int kw)
{
    max_s2_columns c = {c0, c0 >= 0 && c0 + 2 * CLV_W + (kw == 3) <= w, c0 + CLV_W < w,
                        kw == 3 && c0 + 2 * CLV_W >= 0 && c0 + 2 * CLV_W < w,
                        clv_lanes_in(c0, w), clv_lanes_in(c0 + CLV_W, w)};
    return c;
}

POOL_INLINE clv max_s2_vector(const float *restrict x, int w, int rows, const max_s2_columns *c, int kw)
{
    const clv ninf = clv_set1(-INFINITY);
    clv lo = ninf, hi = ninf, next = ninf;
    if (c->inside) {
        for (int r = 0; r < rows; r++) {
            const float *row = x + (ptrdiff_t)r * w + c->c0;
            lo = clv_max(clv_loadu(row), lo);
            hi = clv_max(clv_loadu(row + CLV_W), hi);
            if (kw == 3)
                next = clv_max(clv_set1(row[2 * CLV_W]), next);
        }
    } else if (!c->upper) {   /* the right edge's last vector: its upper half lies past the row */
        for (int r = 0; r < rows; r++)
            lo = clv_max(clv_load_lanes_or(x + (ptrdiff_t)r * w, c->c0, c->in_lo, ninf), lo);
    } else {
        for (int r = 0; r < rows; r++) {
            const float *row = x + (ptrdiff_t)r * w;
            lo = clv_max(clv_load_lanes_or(row, c->c0, c->in_lo, ninf), lo);
            hi = clv_max(clv_load_lanes_or(row, c->c0 + CLV_W, c->in_hi, ninf), hi);
            if (c->next_in)
                next = clv_max(clv_set1(row[c->c0 + 2 * CLV_W]), next);
        }
    }
    clv even, odd;
    clv_deinterleave(lo, hi, &even, &odd);
    clv acc = clv_max(odd, even);
    return kw == 3 ? clv_max(clv_shift_next(even, next), acc) : acc;
}

/* A vector of columns at a time down all output rows: the columns' masks are worked out once. */
POOL_INLINE void max_s2_plane_impl(const cl_pool_shape *s, const float *restrict xp, float *restrict yp, int kw)
{
    for (int o = 0; o < s->ow; o += CLV_W) {
        max_s2_columns c = max_s2_columns_at(2 * o - s->pl, s->w, kw);
        int n = s->ow - o < CLV_W ? s->ow - o : CLV_W;
        for (int oy = 0; oy < s->oh; oy++) {
            int y0 = oy * s->sh - s->pt, top = y0 < 0 ? 0 : y0;
            clv v = max_s2_vector(xp + (ptrdiff_t)top * s->w, s->w, cl_pool_taps_inside(y0, s->kh, 0, s->h), &c, kw);
            if (n == CLV_W)
                clv_storeu(yp + (ptrdiff_t)oy * s->ow + o, v);
            else
                clv_store_first(yp + (ptrdiff_t)oy * s->ow + o, v, n);
        }
    }
}

static int pool_plane(int kind, const cl_pool_shape *s, const float *restrict xp, float *restrict yp,
                      float *restrict v, const float *col_count)
{
    if (kind == CL_POOL_MAX && pool_nonfinite(xp, s->h * s->w))
        return 1;   /* the vector max would drop a NaN */
    if (kind != CL_POOL_MAX)
        pool_plane_impl(s, xp, yp, v, col_count, kind, 0);
    else if (s->sw == 2 && s->kw == 3)
        max_s2_plane_impl(s, xp, yp, 3);
    else if (s->sw == 2 && s->kw == 2)
        max_s2_plane_impl(s, xp, yp, 2);
    else
        pool_plane_impl(s, xp, yp, v, col_count, kind, 1);
    return 0;
}
