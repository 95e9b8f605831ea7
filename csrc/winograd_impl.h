/* Winograd tile transforms written once over the vector layer (cl_vec.h): each lane of a vector
 * is a different tile, so every transform is plain elementwise arithmetic with no shuffles, and
 * the same code is NEON, AVX2, AVX-512 or scalar. Each winograd_<isa>.c includes this file after
 * cl_vec.h and defines WINO_KERNELS, the name of its cl_wino_kernels, and W_BLEND(a, b, lo, hi):
 * a with lanes lo..hi-1 taken from b (cl_vec.h has no blend; never used when CLV_W is 1).
 *
 * The 1D transforms are the matrices of winograd.c (the plain versions) factored by hand: rows of
 * B^T and A^T for the points +p and -p share their even and odd parts, so each pair costs one
 * add and one subtract of shared sums (as in ncnn and Lavin & Gray). */
#include "cl_winograd.h"

/* cl_vec.h has no subtract; an FMA by -1 rounds once, so it is exactly a - b. */
static inline clv w_sub(clv a, clv b) { return clv_fma(clv_set1(-1.0f), b, a); }
/* a + c*b with a constant c. */
static inline clv w_axpy(clv a, float c, clv b) { return clv_fma(clv_set1(c), b, a); }

/* ---- 1D transforms: in[0..alpha-1] at stride is -> out at stride os ---- */

static inline void bt_f23(const clv *d, int is, clv *o, int os)
{
    o[0] = w_sub(d[0], d[2 * is]);
    o[os] = clv_add(d[is], d[2 * is]);
    o[2 * os] = w_sub(d[2 * is], d[is]);
    o[3 * os] = w_sub(d[3 * is], d[is]);
}

static inline void at_f23(const clv *s, int is, clv *o, int os)
{
    o[0] = clv_add(clv_add(s[0], s[is]), s[2 * is]);
    o[os] = clv_add(w_sub(s[is], s[2 * is]), s[3 * is]);
}

static inline void bt_f43(const clv *d, int is, clv *o, int os)
{
    clv d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is], d5 = d[5 * is];
    clv a12 = w_axpy(d4, -4.0f, d2), b12 = w_axpy(d3, -4.0f, d1);
    clv a34 = w_sub(d4, d2), b34 = clv_mul(clv_set1(2.0f), w_sub(d3, d1));
    o[0] = w_axpy(w_axpy(d4, 4.0f, d0), -5.0f, d2);
    o[os] = clv_add(a12, b12);
    o[2 * os] = w_sub(a12, b12);
    o[3 * os] = clv_add(a34, b34);
    o[4 * os] = w_sub(a34, b34);
    o[5 * os] = w_axpy(w_axpy(d5, 4.0f, d1), -5.0f, d3);
}

static inline void at_f43(const clv *s, int is, clv *o, int os)
{
    clv s1 = clv_add(s[is], s[2 * is]), d1 = w_sub(s[is], s[2 * is]);
    clv s2 = clv_add(s[3 * is], s[4 * is]), d2 = w_sub(s[3 * is], s[4 * is]);
    o[0] = clv_add(clv_add(s[0], s1), s2);
    o[os] = w_axpy(d1, 2.0f, d2);
    o[2 * os] = w_axpy(s1, 4.0f, s2);
    o[3 * os] = clv_add(w_axpy(d1, 8.0f, d2), s[5 * is]);
}

static inline void bt_f63(const clv *d, int is, clv *o, int os)
{
    clv d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is];
    clv d4 = d[4 * is], d5 = d[5 * is], d6 = d[6 * is], d7 = d[7 * is];
    clv a12 = w_axpy(clv_add(d2, d6), -4.25f, d4), b12 = w_axpy(clv_add(d1, d5), -4.25f, d3);
    clv a34 = w_axpy(w_axpy(d6, 4.0f, d2), -5.0f, d4);
    clv b34 = w_axpy(w_axpy(clv_mul(clv_set1(2.0f), d1), -2.5f, d3), 0.5f, d5);
    clv a56 = w_axpy(w_axpy(d6, 0.25f, d2), -1.25f, d4);
    clv b56 = w_axpy(w_axpy(clv_mul(clv_set1(0.5f), d1), -2.5f, d3), 2.0f, d5);
    o[0] = w_axpy(w_sub(d0, d6), 5.25f, w_sub(d4, d2));
    o[os] = clv_add(a12, b12);
    o[2 * os] = w_sub(a12, b12);
    o[3 * os] = clv_add(a34, b34);
    o[4 * os] = w_sub(a34, b34);
    o[5 * os] = clv_add(a56, b56);
    o[6 * os] = w_sub(a56, b56);
    o[7 * os] = w_axpy(w_sub(d7, d1), 5.25f, w_sub(d3, d5));
}

static inline void at_f63(const clv *s, int is, clv *o, int os)
{
    clv s1 = clv_add(s[is], s[2 * is]), d1 = w_sub(s[is], s[2 * is]);
    clv s2 = clv_add(s[3 * is], s[4 * is]), d2 = w_sub(s[3 * is], s[4 * is]);
    clv s3 = clv_add(s[5 * is], s[6 * is]), d3 = w_sub(s[5 * is], s[6 * is]);
    o[0] = clv_add(clv_add(clv_add(s[0], s1), s2), s3);
    o[os] = w_axpy(w_axpy(d1, 0.5f, d2), 2.0f, d3);
    o[2 * os] = w_axpy(w_axpy(s1, 0.25f, s2), 4.0f, s3);
    o[3 * os] = w_axpy(w_axpy(d1, 0.125f, d2), 8.0f, d3);
    o[4 * os] = w_axpy(w_axpy(s1, 0.0625f, s2), 16.0f, s3);
    o[5 * os] = clv_add(w_axpy(w_axpy(d1, 0.03125f, d2), 32.0f, d3), s[7 * is]);
}

typedef void (*w_1d_fn)(const clv *, int, clv *, int);

/* ---- 2D tile transforms, generic in alpha; always inlined so alpha and the 1D transform are
 * constants in each instance below ---- */

static inline __attribute__((always_inline)) void
input_tiles(int alpha, w_1d_fn bt, const float *plane, ptrdiff_t ld, ptrdiff_t lt, const cl_wino_tile *t,
            float *v, ptrdiff_t vstride)
{
    /* Runs of lanes whose tiles are consecutive in one tile row: run r is lanes lo[r]..lo[r+1]-1,
     * lane l's tile starting at start[r] + l. One vector load per run, blended. */
    int m = alpha - 2, runs = 0, lo[CLV_W + 1];
    ptrdiff_t start[CLV_W];
    for (int l = 0; l < CLV_W; l++) {
        ptrdiff_t base = t[l].in_off + t[l].y0 * ld + t[l].x0;
        if (l == 0 || base != start[runs - 1] + l) {
            lo[runs] = l;
            start[runs++] = base - l;
        }
    }
    lo[runs] = CLV_W;
    clv rows[8 * 8];
    CL_UNROLL for (int r = 0; r < alpha; r++) {   /* load a row of d, d B: transform it */
        clv d[8];
        CL_UNROLL for (int c = 0; c < alpha; c++)
            d[c] = clv_loadu(plane + start[0] + r * ld + (c % m) * lt + c / m);
        for (int q = 1; q < runs; q++)
            CL_UNROLL for (int c = 0; c < alpha; c++)
                d[c] = W_BLEND(d[c], clv_loadu(plane + start[q] + r * ld + (c % m) * lt + c / m),
                               lo[q], lo[q + 1]);
        bt(d, 1, rows + r * alpha, 1);
    }
    CL_UNROLL for (int c = 0; c < alpha; c++) {   /* B^T (d B): transform each column, store */
        clv o[8];
        bt(rows + c, alpha, o, 1);
        CL_UNROLL for (int i = 0; i < alpha; i++)
            clv_storeu(v + (i * alpha + c) * vstride, o[i]);
    }
}

static inline __attribute__((always_inline)) void
output_tiles(int alpha, int m, w_1d_fn at, const float *mv, ptrdiff_t mstride, const cl_wino_tile *t,
             float *plane, int ldo, int oh, int ow, float bias, float slope, int act)
{
    clv rows[8 * 6], vb = clv_set1(bias), vs = clv_set1(slope);
    CL_UNROLL for (int r = 0; r < alpha; r++) {   /* M A: each row to m values */
        clv mr[8];
        CL_UNROLL for (int c = 0; c < alpha; c++)
            mr[c] = clv_loadu(mv + (r * alpha + c) * mstride);
        at(mr, 1, rows + r * m, 1);
    }
    _Alignas(64) float y[6 * 6 * CLV_W];     /* y[(i*m + j)*CLV_W + lane] */
    CL_UNROLL for (int c = 0; c < m; c++) {       /* A^T (M A), epilogue */
        clv o[6];
        at(rows + c, m, o, 1);
        CL_UNROLL for (int i = 0; i < m; i++)
            clv_storeu(y + (i * m + c) * CLV_W, clv_act(clv_add(o[i], vb), act, vs));
    }
    if (act == CL_ACT_SIGMOID)
        cl_sigmoid_inplace(y, (size_t)m * m * CLV_W);
    for (int l = 0; l < CLV_W; l++) {
        int rows_left = oh - t[l].oy, cols_left = ow - t[l].ox;
        int mi = rows_left < m ? rows_left : m, mj = cols_left < m ? cols_left : m;
        if (mi <= 0 || mj <= 0)
            continue;  /* a lane past the last tile */
        float *dst = plane + t[l].out_off + (ptrdiff_t)t[l].oy * ldo + t[l].ox;
        if (mi == m && mj == m) {   /* whole tile: constant trip counts, unrolled */
            CL_UNROLL for (int i = 0; i < m; i++)
                CL_UNROLL for (int j = 0; j < m; j++)
                    dst[(ptrdiff_t)i * ldo + j] = y[(i * m + j) * CLV_W + l];
            continue;
        }
        for (int i = 0; i < mi; i++)
            for (int j = 0; j < mj; j++)
                dst[(ptrdiff_t)i * ldo + j] = y[(i * m + j) * CLV_W + l];
    }
}

#define W_INSTANCE(M, ALPHA)                                                                    \
    static void input_f##M##3(const float *plane, ptrdiff_t ld, ptrdiff_t lt, const cl_wino_tile *t, \
                              float *v, ptrdiff_t vstride)                                      \
    {                                                                                           \
        input_tiles(ALPHA, bt_f##M##3, plane, ld, lt, t, v, vstride);                           \
    }                                                                                           \
    static void output_f##M##3(const float *mv, ptrdiff_t mstride, const cl_wino_tile *t,        \
                               float *plane, int ldo, int oh, int ow, float bias, float slope,  \
                               int act)                                                         \
    {                                                                                           \
        output_tiles(ALPHA, M, at_f##M##3, mv, mstride, t, plane, ldo, oh, ow, bias, slope, act); \
    }
W_INSTANCE(2, 4)
W_INSTANCE(4, 6)
W_INSTANCE(6, 8)
#undef W_INSTANCE

#ifdef CL_VEC_AVX512
/* A row of up to 32 split floats (m * lt <= 32: every row of a small map) in two masked loads, each
 * phase one two-register permute of them and one masked store. The scalar copy spent about 58
 * cycles a row on O-Net's 23-wide rows (phase loops a few floats long), 17% of its F(4,3) conv. */
static int split_short_row(int m, const float *row, int w, int x_org, int lt, float *dst)
{
    if (m * lt > 2 * CLV_W)
        return 0;
    clv r0 = clv_load_lanes(row, x_org, clv_lanes_in(x_org, w));   /* zeros outside the row */
    clv r1 = clv_load_lanes(row, x_org + CLV_W, clv_lanes_in(x_org + CLV_W, w));
    __m512i col = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                     _mm512_set1_epi32(m));
    for (int q = 0; q < m; q++)   /* lanes past lt wrap around in the permute and are not stored */
        clv_store_first(dst + q * lt, _mm512_permutex2var_ps(r0, _mm512_add_epi32(col, _mm512_set1_epi32(q)), r1), lt);
    return 1;
}
#define W_SPLIT_ROW split_short_row
#else
#define W_SPLIT_ROW NULL
#endif

const cl_wino_kernels WINO_KERNELS = {
    CLV_W, {input_f23, input_f43, input_f63}, {output_f23, output_f43, output_f63}, W_SPLIT_ROW};
