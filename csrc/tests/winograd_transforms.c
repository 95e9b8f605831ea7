/* The Winograd tile transforms of each ISA build (winograd_<isa>.c, from winograd_impl.h) against
 * the plain matrices of winograd.c (cl_winograd_matrices), in double: input transforms on runs of
 * consecutive tiles (blends at run boundaries), output transforms on tiles cut by the plane's
 * edge, which must write exactly their own part. Called by test_kernels.c for every m and ISA. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include "cl_winograd.h"


/* (T d T^T)_ij for a transform T with rows of a values: B^T (input) or A^T (output). */
static double plain_transform(const double *t, int a, const double *d, int i, int j)
{
    double acc = 0;
    for (int r = 0; r < a; r++)
        for (int c = 0; c < a; c++)
            acc += t[i * a + r] * d[r * a + c] * t[j * a + c];
    return acc;
}

static float rand_unit(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) * 2.0f - 1.0f;   /* [-1, 1) */
}

static void track(double ref, double got, double *err, double *scale)
{
    *err = fmax(*err, fabs(ref - got));   /* NaN got: fmax keeps err, caught by the caller */
    *scale = fmax(*scale, fabs(ref));
}

/* dst[q * lt + i] = row[i * m + q], zero past the row's w values: the driver's split copy
 * (cl_winograd.h) of a row with its origin at column 0. */
static void split_row(int m, const float *row, int w, int lt, float *dst)
{
    for (int q = 0; q < m; q++)
        for (int i = 0; i < lt; i++)
            dst[q * lt + i] = i * m + q < w ? row[i * m + q] : 0.0f;
}

double check_winograd_transforms(int m, int isa, unsigned seed)
{
    static const cl_wino_kernels *const by_isa[4] = {&cl_wino_scalar, &cl_wino_avx2, &cl_wino_avx512, &cl_wino_neon};
    enum { A_MAX = 8 };
    double at[6 * A_MAX], g[A_MAX * 3], bt[A_MAX * A_MAX];
    if (cl_winograd_matrices(m, at, g, bt) != CL_OK || isa < 0 || isa > 3 || !cl_isa_supported(isa))
        return -1.0;
    const cl_wino_kernels *k = by_isa[isa];
    if (!k->vl)
        return -1.0;    /* not built for this ISA */
    enum { H = 16, W = 25, VL_MAX = 16, LT = W / 2 + 1 };
    int a = m + 2, vl = k->vl, fn = m / 2 - 1, bad = 0, ntx = (W - a) / m + 1, lt = W / m + 1;
    float plane[H * W], split[H * 6 * LT + 32], v[64 * VL_MAX], out[VL_MAX * H * W];
    uint32_t st = seed;
    for (int i = 0; i < H * W; i++)
        plane[i] = rand_unit(&st);
    for (int r = 0; r < H; r++)
        split_row(m, plane + r * W, W, lt, split + r * m * lt);
    double err = 0, scale = 0;
    /* Lanes in runs of ntx consecutive tiles on successive rows (one blend per run boundary);
     * output tiles at scattered origins, some cut by the plane's edge. */
    for (int y0 = 0; y0 + a + (vl - 1) / ntx <= H; y0++) {
        cl_wino_tile t[VL_MAX];
        for (int l = 0; l < vl; l++)
            t[l] = (cl_wino_tile){0, (ptrdiff_t)l * H * W, y0 + l / ntx, l % ntx,
                                  y0 / 2 + 3 * (l % 4), 5 * (l % 5) + y0 % 2};
        if (vl > 1) {   /* a lane past the last tile: continues the run, writes nothing */
            t[vl - 1].y0 = t[vl - 2].y0;
            t[vl - 1].x0 = t[vl - 2].x0 + 1;
            t[vl - 1].oy = t[vl - 1].ox = INT_MAX / 2;
        }
        k->input[fn](split, m * lt, lt, t, v, vl);
        for (int l = 0; l < vl - (vl > 1); l++) {
            double d[64];
            for (int r = 0; r < a; r++)
                for (int c = 0; c < a; c++)
                    d[r * a + c] = plane[(t[l].y0 + r) * W + t[l].x0 * m + c];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++)
                    track(plain_transform(bt, a, d, i, j), v[(i * a + j) * vl + l], &err, &scale);
        }
        /* The output transform of the same V, as if it were M; each lane has its own plane. */
        for (int i = 0; i < VL_MAX * H * W; i++)
            out[i] = NAN;
        k->output[fn](v, vl, t, out, W, H, W, 0.0f, 0.0f, CL_ACT_NONE);
        for (int l = 0; l < vl; l++) {
            double mv[64];
            for (int q = 0; q < a * a; q++)
                mv[q] = v[q * vl + l];
            const float *o = out + t[l].out_off;
            for (int yy = 0; yy < H; yy++)
                for (int xx = 0; xx < W; xx++) {
                    int i = yy - t[l].oy, j = xx - t[l].ox;
                    int mine = i >= 0 && i < m && j >= 0 && j < m;
                    float got = o[yy * W + xx];
                    if (mine)
                        track(plain_transform(at, a, mv, i, j), got, &err, &scale);
                    bad |= mine ? got != got : got == got;   /* wrote exactly its own part */
                }
        }
    }
    if (bad)
        return 1e30;
    return scale > 0 ? err / scale : err;
}
