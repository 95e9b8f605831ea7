/* Max and average pooling (cl_pool.h): the exact window-by-window reference, the separable
 * driver around the ISA's row loops (pool_<isa>.c), and global pooling. Planes are split
 * between threads; no output's combine is split. */
#include <math.h>
#include <stdlib.h>
#include "cl_kernels.h"
#include "cl_pool.h"

/* A window's taps outside the input are skipped; the average divides by the taps inside the
 * input (or, counting pads, inside the explicitly padded input, as ONNX's count_include_pad). */
static void reference_plane(int kind, const cl_pool_shape *s, const float *xp, float *yp)
{
    for (int oy = 0; oy < s->oh; oy++)
        for (int ox = 0; ox < s->ow; ox++) {
            int y0 = oy * s->sh - s->pt, x0 = ox * s->sw - s->pl;
            float acc = kind == CL_POOL_MAX ? -INFINITY : 0.0f;
            int count = 0, counted = 0;
            for (int ky = 0; ky < s->kh; ky++) {
                int yy = y0 + ky * s->dh;
                for (int kx = 0; kx < s->kw; kx++) {
                    int xx = x0 + kx * s->dw;
                    if (yy >= -s->pt && yy < s->h + s->pb && xx >= -s->pl && xx < s->w + s->pr)
                        counted++;
                    if (yy < 0 || yy >= s->h || xx < 0 || xx >= s->w)
                        continue;
                    float v = xp[(int64_t)yy * s->w + xx];
                    if (kind == CL_POOL_MAX)
                        acc = (v > acc || isnan(v)) && !isnan(acc) ? v : acc;
                    else
                        acc += v;
                    count++;
                }
            }
            if (kind == CL_POOL_AVG)
                acc = count ? acc / (float)count : 0.0f;
            else if (kind == CL_POOL_AVG_INCLUDE_PAD)
                acc = counted ? acc / (float)counted : 0.0f;
            yp[oy * s->ow + ox] = acc;
        }
}

void cl_pool_reference(int kind, const cl_pool_shape *s, const float *x, float *y)
{
    for (int p = 0; p < s->planes; p++)
        reference_plane(kind, s, x + (int64_t)p * s->h * s->w, y + (int64_t)p * s->oh * s->ow);
}

/* Undilated windows are separable (cl_pool_kernel): no tap needs a bounds test, and each input
 * row is read kh/sh times instead of kh*kw/sw. Returns 0 (the caller takes the reference) if
 * the rows cannot be allocated. */
static int run_separable(int kind, const cl_pool_shape *s, const float *x, float *y, int nthreads)
{
    const cl_pool_kernel *k = cl_kernels()->pool;
    int row = cl_pool_row_floats(s, k->lanes) * CL_POOL_BAND;
    float *rows = malloc(sizeof(float) * (size_t)row * (size_t)nthreads);
    float *col_count = calloc((size_t)(s->ow + k->lanes), sizeof(float));
    if (!rows || !col_count) {
        free(rows);
        free(col_count);
        return 0;
    }
    for (size_t c = 0; c < (size_t)row * (size_t)nthreads; c++)
        rows[c] = kind == CL_POOL_MAX ? -INFINITY : 0.0f;
    const int include_pad = kind == CL_POOL_AVG_INCLUDE_PAD;
    for (int ox = 0; ox < s->ow; ox++)
        col_count[ox] = (float)cl_pool_taps_inside(ox * s->sw - s->pl, s->kw, include_pad ? -s->pl : 0,
                                           include_pad ? s->w + s->pr : s->w);
    CL_PARALLEL_FOR(nthreads)
    for (int p = 0; p < s->planes; p++) {
        const float *xp = x + (int64_t)p * s->h * s->w;
        float *yp = y + (int64_t)p * s->oh * s->ow;
        if (k->plane(kind, s, xp, yp, rows + (size_t)cl_thread_num() * row, col_count))
            reference_plane(kind, s, xp, yp);
    }
    free(rows);
    free(col_count);
    return 1;
}

/* A window that is the whole plane, unpadded: one straight loop per plane. */
static int is_global(const cl_pool_shape *s)
{
    return s->oh == 1 && s->ow == 1 && s->kh == s->h && s->kw == s->w && !s->pt && !s->pl && !s->pb && !s->pr;
}

/* GLOBAL_PLANES planes at a time, their sums interleaved: each plane's sum is one chain of dependent
 * double adds, so one plane at a time waited on the adder's latency. Each plane still adds its values
 * in order, so the bits do not change. Min us, Zen 5: MobileNetV1's 1024 planes of 7x7 15.7 -> 8.1
 * (onnxruntime's in-model: 8), MobileNetV2's 1280 20.7 -> 10.1; 4 planes at a time: 8.5 and 11.2. */
enum { GLOBAL_PLANES = 8 };

static void global_planes(int kind, const float *x, int64_t n, int planes, float *y)
{
    if (kind == CL_POOL_MAX) {
        for (int p = 0; p < planes; p++) {
            const float *xp = x + p * n;
            float m = -INFINITY;
            for (int64_t k = 0; k < n; k++)
                m = (xp[k] > m || isnan(xp[k])) && !isnan(m) ? xp[k] : m;
            y[p] = m;
        }
        return;
    }
    double acc[GLOBAL_PLANES] = {0};   /* a whole plane: double keeps the mean's error at float rounding */
    if (planes == GLOBAL_PLANES) {     /* constant trip count: the compiler keeps acc in registers */
        for (int64_t k = 0; k < n; k++)
            for (int p = 0; p < GLOBAL_PLANES; p++)
                acc[p] += x[p * n + k];
    } else {
        for (int p = 0; p < planes; p++)
            for (int64_t k = 0; k < n; k++)
                acc[p] += x[p * n + k];
    }
    for (int p = 0; p < planes; p++)
        y[p] = (float)(acc[p] / (double)n);
}

static void run_global(int kind, const cl_pool_shape *s, const float *x, float *y, int nthreads)
{
    int64_t n = (int64_t)s->h * s->w;
    int groups = (s->planes + GLOBAL_PLANES - 1) / GLOBAL_PLANES;
    CL_PARALLEL_FOR(nthreads)
    for (int g = 0; g < groups; g++) {
        int p = g * GLOBAL_PLANES, planes = s->planes - p < GLOBAL_PLANES ? s->planes - p : GLOBAL_PLANES;
        global_planes(kind, x + p * n, n, planes, y + p);
    }
}

void cl_pool_run(int kind, const cl_pool_shape *s, const float *x, float *y, int nthreads)
{
    if (is_global(s)) {
        run_global(kind, s, x, y, nthreads);
        return;
    }
    if (s->dh == 1 && s->dw == 1 && run_separable(kind, s, x, y, nthreads))
        return;
    CL_PARALLEL_FOR(nthreads)
    for (int p = 0; p < s->planes; p++)
        reference_plane(kind, s, x + (int64_t)p * s->h * s->w, y + (int64_t)p * s->oh * s->ow);
}
