/* Checks every C kernel, under every instruction set this CPU runs (aarch64: scalar and NEON;
 * x86: scalar, AVX2, AVX-512), against a plain double-precision convolution over a shape set
 * with odd sizes, asymmetric padding, strides, dilation, groups and every activation; and checks
 * that 1 and 3 threads give bit-identical results; and every ISA build of the Winograd tile
 * transforms against the plain matrices (winograd_transforms.c), and the pools against their
 * window-by-window reference (pool_cases.c). Built natively, under ASan+UBSan, and cross
 * for aarch64 under qemu by csrc/Makefile. Exit status 1 on any failure.
 *
 * To cover a new kernel: add a row to KERNELS (a run function and which shapes it takes);
 * to cover a new shape: add a row to SHAPES. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_gemm.h"
#include "cl_kernels.h"
#include "cl_winograd.h"

typedef struct {
    int n, c_in, c_out, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, act;
} shape;

static const shape SHAPES[] = {
    /* n  cin cout  h   w kh kw sh sw pt pl pb pr dh dw  g  act */
    {1,   1,   1,  1,  1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_NONE},
    {2,  13,  19,  7, 11, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_RELU},      /* 1x1: plain GEMM */
    {1,  64,  33, 17, 31, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_HARDSWISH}, /* N > NC, edges */
    {1, 300,  20,  5,  9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_PRELU},     /* K > KC */
    {1,   7,   9, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, CL_ACT_RELU6},
    {2,   5,  17, 11, 14, 3, 3, 2, 2, 0, 2, 1, 0, 1, 1, 1, CL_ACT_SIGMOID},
    {1,   6,   4,  9, 12, 3, 2, 3, 1, 2, 0, 0, 3, 2, 1, 1, CL_ACT_NONE},
    {1,  40,  12, 10,  9, 5, 5, 1, 2, 2, 2, 2, 2, 1, 2, 1, CL_ACT_PRELU},     /* K = 1000 */
    {1,   8,   6, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},      /* groups */
    {1,   9,   6,  8,  7, 1, 3, 2, 1, 0, 1, 0, 1, 1, 1, 3, CL_ACT_NONE},
    {1,   1,   1, 70, 70, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 1, CL_ACT_NONE},
    /* GEMV (1x1 conv on a 1x1 / 1x2 map): K > KC, M not a whole number of panels, every epilogue */
    {2, 300,  37,  1,  1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_PRELU},
    {1,  61,  19,  1,  2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_SIGMOID},
    {1,  33,  20,  1,  1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_HARDSWISH},
    {1,  16,  10,  3,  3, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_RELU6},    /* im2col source, N = 1 */
    /* im2col stride 1 from flat runs of zero-bordered planes: rows >= 16 wide, dilation, 5x3 taps
     * with asymmetric pads, groups, two images */
    {2,   6,   8, 23, 29, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_PRELU},
    {1,   5,   7, 20, 31, 3, 3, 1, 1, 2, 1, 2, 3, 2, 2, 1, CL_ACT_RELU},
    {1,   8,   6, 17, 19, 5, 3, 1, 1, 1, 2, 3, 0, 1, 1, 2, CL_ACT_HARDSWISH},
    /* im2col on maps of <= 49 pixels (X_col whole, cl_gemm's narrow path): 2x2 at 4x4 (MTCNN), K > KC
     * with M not whole panels, stride 2 with groups and asymmetric pads, dilation down to 2 pixels */
    {2,  48,  64,  4,  4, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_PRELU},
    {1,  40,  37,  7,  7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, CL_ACT_RELU},
    {1,  24,  70,  9,  8, 3, 3, 2, 2, 1, 0, 1, 2, 1, 1, 2, CL_ACT_HARDSWISH},
    {1,  33,  40,  5,  6, 3, 3, 1, 1, 0, 0, 0, 0, 2, 2, 1, CL_ACT_SIGMOID},
    /* stems (<= 8 input channels): stride 1 on maps up to 64 wide run a band's rows as one (flat), with
     * 8-channel blocks cut short, sigmoid after the copy out, and two images */
    {1,   3,  28, 24, 24, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, CL_ACT_PRELU},
    {2,   3,  10, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, CL_ACT_SIGMOID},
    {1,   4,  16, 19, 62, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1, 1, CL_ACT_RELU},
    /* depthwise 3x3: vector interior + scalar edges and tails, s1 and s2 */
    {1,   3,   3,  5,  5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, CL_ACT_RELU},
    {2,   5,   5, 9, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, CL_ACT_PRELU},
    {1,   4,   4, 12, 70, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 4, CL_ACT_HARDSWISH},
    {1,   3,   3, 11, 53, 3, 3, 1, 1, 2, 0, 1, 2, 1, 1, 3, CL_ACT_SIGMOID},
    {1,   6,   6, 13, 67, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6, CL_ACT_RELU6},
    {1,   4,   4, 10, 80, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 4, CL_ACT_NONE},
    {2,   3,   3, 15, 99, 3, 3, 2, 2, 0, 1, 2, 0, 1, 1, 3, CL_ACT_PRELU},
    {1,   2,   2,  2,  3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    /* depthwise 3x3 s1 rows that fit one vector with their taps (rotated taps): NEON, AVX2, AVX-512 */
    {1,   3,   3,  2,  2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, CL_ACT_HARDSWISH},
    {2,   4,   4,  6,  6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, CL_ACT_SIGMOID},
    {1,   2,   2,  5,  4, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1, 2, CL_ACT_PRELU},
    {1,   5,   5, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, CL_ACT_RELU6},
    /* depthwise 3x3 s1 strips (rows read in place, DW_S1_NV vectors a strip): whole and partial
     * strips, a last vector moved back, pads of 0 and 2, one-row planes */
    {1,   3,   3,  4, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, CL_ACT_RELU},
    {1,   2,   2,  3, 49, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1, 2, CL_ACT_PRELU},
    {1,   2,   2,  1, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_NONE},
    {1,   3,   3,  7, 16, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1, 3, CL_ACT_HARDSWISH},
    {1,   2,   2,  6, 15, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2, CL_ACT_SIGMOID},
    {1,   2,   2,  5, 97, 3, 3, 1, 1, 1, 0, 2, 2, 1, 1, 2, CL_ACT_RELU6},
    /* every remainder of vectors past whole strips (1..3 of 4 on NEON, 1..2 of 3 on AVX-512) */
    {1,   2,   2,  3, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    {1,   2,   2,  3, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_NONE},
    {1,   2,   2,  3, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_PRELU},
    {1,   2,   2,  3, 44, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    {1,   2,   2,  3, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    {1,   2,   2,  3, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    /* depthwise 3x3 s2, rows read in place: rows narrower than a vector, pads past a whole vector
     * (leading masked vectors), widths around whole vectors (NEON 4, AVX2 8, AVX-512 16 outputs) */
    {1,   5,   5,  9,  1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 5, CL_ACT_PRELU},
    {2,   3,   3,  4,  3, 3, 3, 2, 2, 0, 0, 1, 0, 1, 1, 3, CL_ACT_RELU},
    {1,   3,   3,  7, 17, 3, 3, 2, 2, 0, 3, 1, 2, 1, 1, 3, CL_ACT_HARDSWISH},
    {1,   2,   2,  8, 33, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 2, CL_ACT_NONE},
    {1,   2,   2,  6, 34, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, CL_ACT_SIGMOID},
    {2,   3,   3,  5, 64, 3, 3, 2, 2, 1, 0, 0, 1, 1, 1, 3, CL_ACT_RELU6},
    {1,   3,   3, 11, 23, 3, 3, 2, 2, 2, 1, 0, 0, 1, 1, 3, CL_ACT_PRELU},
    /* depthwise 3x3 on large planes: several strips of vectors across a row, many rows down */
    {1,   2,   2, 70, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, CL_ACT_RELU},
    {1,   2,   2, 71, 150, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 2, CL_ACT_PRELU},
    /* depthwise KxK: global 7x7, 5x5 s1/s2 with asymmetric padding, 3x3 s3, dilation, non-square */
    {2,   6,   6,  7,  7, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, 6, CL_ACT_PRELU},
    {1,   5,   5, 13, 17, 5, 5, 1, 1, 2, 1, 2, 3, 1, 1, 5, CL_ACT_HARDSWISH},
    {1,   4,   4, 14, 19, 5, 5, 2, 2, 2, 2, 1, 2, 1, 1, 4, CL_ACT_SIGMOID},
    {1,   3,   3, 11, 10, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, CL_ACT_RELU6},
    {1,   3,   3, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3, CL_ACT_RELU},
    {1,   2,   2,  9, 16, 1, 7, 1, 2, 0, 3, 0, 3, 1, 1, 2, CL_ACT_NONE},
    /* Winograd (3x3 s1): partial tiles, runs of tiles across rows, padding >= 2 (direct border
     * outputs), a one-row input */
    {2,   5,   7, 17, 23, 3, 3, 1, 1, 2, 0, 3, 1, 1, 1, 1, CL_ACT_HARDSWISH},
    {1,  20,  12, 29, 31, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, CL_ACT_PRELU},
    {1,   3,   4,  1,  9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, CL_ACT_NONE},
};

/* ---- the kernels under test ---- */

typedef int (*run_fn)(const cl_conv_shape *s, const float *x, const float *w, float *y,
                      const cl_epilogue *ep, int nthreads);

static int run_im2col(const cl_conv_shape *s, const float *x, const float *w, float *y,
                      const cl_epilogue *ep, int nthreads)
{
    cl_im2col *p = cl_im2col_prepare(s, w);
    if (!p)
        return CL_ENOMEM;
    int rc = cl_im2col_run(p, s, x, y, ep, nthreads);
    cl_im2col_free(p);
    return rc;
}

static int is_dw3x3(const cl_conv_shape *s)
{
    return s->groups == s->c_in && s->c_out == s->c_in && s->kh == 3 && s->kw == 3 &&
           s->sh == s->sw && (s->sh == 1 || s->sh == 2) && s->dh == 1 && s->dw == 1;
}

static int is_dw(const cl_conv_shape *s) { return s->groups == s->c_in && s->c_out == s->c_in; }

static int any_shape(const cl_conv_shape *s) { (void)s; return 1; }

static int is_stem(const cl_conv_shape *s) { return s->groups == 1 && s->c_in <= 8; }

static int run_winograd(int m, const cl_conv_shape *s, const float *x, const float *w, float *y,
                        const cl_epilogue *ep, int nthreads)
{
    cl_winograd *p;
    int rc = cl_winograd_prepare(m, s, w, &p);
    if (rc != CL_OK)
        return rc;
    rc = cl_winograd_run(p, s, x, y, ep, nthreads);
    cl_winograd_free(p);
    return rc;
}

static int run_wino2(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                     int nt) { return run_winograd(2, s, x, w, y, ep, nt); }
static int run_wino4(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                     int nt) { return run_winograd(4, s, x, w, y, ep, nt); }
static int run_wino6(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                     int nt) { return run_winograd(6, s, x, w, y, ep, nt); }

static int is_3x3_s1(const cl_conv_shape *s)
{
    return s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 && s->groups == 1;
}

static const struct {
    const char *name;
    run_fn run;
    int (*supports)(const cl_conv_shape *s);
    double error_factor;   /* as registered in Python (tests/conv_oracle.py applies it the same way) */
} KERNELS[] = {
    {"im2col", run_im2col, any_shape, 1},
    {"direct", cl_direct_run, any_shape, 1},
    {"stem", cl_stem_run, is_stem, 1},
    {"depthwise3x3", cl_dwconv3x3_run, is_dw3x3, 1},
    {"depthwise", cl_dwconv_run, is_dw, 1},
    {"winograd_f23", run_wino2, is_3x3_s1, CL_WINOGRAD_F23_ERROR_FACTOR},
    {"winograd_f43", run_wino4, is_3x3_s1, CL_WINOGRAD_F43_ERROR_FACTOR},
    {"winograd_f63", run_wino6, is_3x3_s1, CL_WINOGRAD_F63_ERROR_FACTOR},
};

/* ---- the reference ---- */

static double act_ref(double y, int act, double slope)
{
    switch (act) {
    case CL_ACT_RELU: return y < 0 ? 0 : y;
    case CL_ACT_RELU6: return y < 0 ? 0 : (y > 6 ? 6 : y);
    case CL_ACT_PRELU: return y < 0 ? y * slope : y;
    case CL_ACT_SIGMOID: return 1 / (1 + exp(-y));
    case CL_ACT_HARDSWISH: return y * (y + 3 < 0 ? 0 : (y + 3 > 6 ? 6 : y + 3)) / 6;
    default: return y;
    }
}

/* out[i] = conv (no activation) in double; with absolute values when `absolute`. */
static void conv_ref(const cl_conv_shape *s, const float *x, const float *w, const float *b,
                     int absolute, double *out)
{
    int cig = s->c_in / s->groups, cog = s->c_out / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int oc = 0; oc < s->c_out; oc++)
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double acc = b ? (absolute ? fabs(b[oc]) : b[oc]) : 0;
                    for (int ci = 0; ci < cig; ci++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->sh - s->pt + i * s->dh, ix = ox * s->sw - s->pl + j * s->dw;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                double xv = x[(((size_t)n * s->c_in + oc / cog * cig + ci) * s->h + iy) * s->w + ix];
                                double wv = w[(((size_t)oc * cig + ci) * s->kh + i) * s->kw + j];
                                acc += absolute ? fabs(xv * wv) : xv * wv;
                            }
                    *out++ = acc;
                }
}

static uint64_t rng_state = 88172645463325252ull;
static float urand(void)   /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / (1 << 24)) - 1.0);
}

static void fill(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = urand();
}

static int failures, checks;

/* Every output within the float32 bound of tests/conv_oracle.py: eps * (lip * (K + 1) * |conv|
 * + 4 |exact|). Returns 0 when all are. */
static int compare(const char *what, const cl_conv_shape *s, int act, const float *y,
                   const double *exact, const double *absconv, const float *slope, double factor)
{
    const double eps = 1.1920928955078125e-07;
    size_t total = (size_t)s->n * s->c_out * s->oh * s->ow, plane = (size_t)s->oh * s->ow, bad = 0, worst = 0;
    double k = (double)(s->c_in / s->groups) * s->kh * s->kw + 1, worst_ratio = 0;
    for (size_t i = 0; i < total; i++) {
        int oc = (int)(i / plane % s->c_out);
        double e = act_ref(exact[i], act, slope[oc]);
        double lip = act == CL_ACT_HARDSWISH ? 1.5 : 1.0;
        double bound = eps * (lip * factor * k * absconv[i] + 4 * fabs(e)) + 1e-30;
        double err = fabs(y[i] - e);
        if (!(err <= bound)) {
            bad++;
            if (!(err / bound <= worst_ratio))
                worst_ratio = err / bound, worst = i;
        }
    }
    checks++;
    if (!bad)
        return 0;
    failures++;
    int oc = (int)(worst / plane % s->c_out);
    printf("FAIL %s n%d c%d->%d %dx%d k%dx%d s%d,%d p%d,%d,%d,%d d%d,%d g%d act%d: %zu of %zu outputs wrong; "
           "worst at %zu: got %.9g, expected %.9g\n", what, s->n, s->c_in, s->c_out, s->h, s->w, s->kh, s->kw,
           s->sh, s->sw, s->pt, s->pl, s->pb, s->pr, s->dh, s->dw, s->groups, act, bad, total, worst,
           y[worst], act_ref(exact[worst], act, slope[oc]));
    return 1;
}

static cl_conv_shape make_shape(const shape *t)
{
    cl_conv_shape s = {t->n, t->c_in, t->h, t->w, t->c_out, t->kh, t->kw, t->groups,
                       t->sh, t->sw, t->dh, t->dw, t->pt, t->pl, t->pb, t->pr, 0, 0};
    s.oh = (t->h + t->pt + t->pb - t->dh * (t->kh - 1) - 1) / t->sh + 1;
    s.ow = (t->w + t->pl + t->pr - t->dw * (t->kw - 1) - 1) / t->sw + 1;
    return s;
}

static void check_shape(const shape *t)
{
    cl_conv_shape s = make_shape(t);
    if (cl_conv_shape_check(&s) != CL_OK) {
        printf("FAIL bad test shape %d->%d %dx%d\n", t->c_in, t->c_out, t->h, t->w);
        failures++;
        return;
    }
    size_t nx = (size_t)s.n * s.c_in * s.h * s.w, nw = (size_t)s.c_out * (s.c_in / s.groups) * s.kh * s.kw;
    size_t ny = (size_t)s.n * s.c_out * s.oh * s.ow;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(s.c_out * sizeof *b);
    float *slope = malloc(s.c_out * sizeof *slope), *y1 = malloc(ny * sizeof *y1), *y3 = malloc(ny * sizeof *y3);
    double *exact = malloc(ny * sizeof *exact), *absconv = malloc(ny * sizeof *absconv);
    fill(x, nx), fill(w, nw), fill(b, s.c_out), fill(slope, s.c_out);
    conv_ref(&s, x, w, b, 0, exact);
    conv_ref(&s, x, w, b, 1, absconv);
    cl_epilogue ep = {b, slope, t->act};
    for (int isa = 0; isa < 4; isa++) {
        if (cl_set_isa(isa) != CL_OK)
            continue;
        for (size_t k = 0; k < sizeof KERNELS / sizeof *KERNELS; k++) {
            if (!KERNELS[k].supports(&s))
                continue;
            char what[64];
            snprintf(what, sizeof what, "%s/%s", KERNELS[k].name, cl_isa_name(isa));
            /* NaN everywhere first (all bits set): an output a kernel skips must not pass on the
             * value the kernel before it left there */
            memset(y1, 0xff, ny * sizeof *y1), memset(y3, 0xff, ny * sizeof *y3);
            int rc1 = KERNELS[k].run(&s, x, w, y1, &ep, 1), rc3 = KERNELS[k].run(&s, x, w, y3, &ep, 3);
            if (rc1 != CL_OK || rc3 != CL_OK) {
                printf("FAIL %s returned %d / %d\n", what, rc1, rc3);
                failures++;
                continue;
            }
            if (compare(what, &s, t->act, y1, exact, absconv, slope, KERNELS[k].error_factor) == 0 &&
                memcmp(y1, y3, ny * sizeof *y1)) {
                printf("FAIL %s c%d->%d %dx%d n%d: 3 threads differ from 1 thread\n", what, s.c_in, s.c_out, s.h, s.w, s.n);
                failures++;
            }
        }
    }
    cl_set_isa(-1);
    free(x), free(w), free(b), free(slope), free(y1), free(y3), free(exact), free(absconv);
}

/* The GEMM entry points on their own, with leading dimensions larger than the matrices. */
static void check_gemm(int M, int N, int K)
{
    int lda = K + 3, ldb = N + 5, ldc = N + 2;
    float *A = malloc(sizeof(float) * M * lda), *B = malloc(sizeof(float) * K * ldb);
    float *C = malloc(sizeof(float) * M * ldc);
    fill(A, (size_t)M * lda), fill(B, (size_t)K * ldb);
    for (int isa = 0; isa < 4; isa++) {
        if (cl_set_isa(isa) != CL_OK)
            continue;
        for (int i = 0; i < M * ldc; i++)
            C[i] = 12345.0f;   /* the gaps between rows must survive */
        int rc = cl_sgemm(M, N, K, A, lda, B, ldb, C, ldc, NULL, 2), bad = rc != CL_OK;
        for (int i = 0; i < M && !bad; i++)
            for (int j = 0; j < ldc && !bad; j++) {
                double e = 0, ab = 0;
                for (int k = 0; k < K; k++)
                    e += (double)A[i * lda + k] * B[k * ldb + j], ab += fabs((double)A[i * lda + k] * B[k * ldb + j]);
                float got = C[i * ldc + j];
                bad = j < N ? !(fabs(got - e) <= 1.1920928955078125e-07 * (K + 4) * ab + 1e-30) : got != 12345.0f;
            }
        checks++;
        if (bad) {
            printf("FAIL gemm/%s M%d N%d K%d (rc %d)\n", cl_isa_name(isa), M, N, K, rc);
            failures++;
        }
    }
    cl_set_isa(-1);
    free(A), free(B), free(C);
}

/* Every loop nest of cl_gemm (packed B; B in place, wide and narrow tiles) forced in turn, with the
 * epilogue act, at 1, 2 and 4 threads: each within the float32 bound of the double product, and all
 * bit-identical to the wide path at 1 thread (every output is one FMA chain in k order), except the
 * packed path's GEMV (forced or chosen) for N <= 2, which sums in its own order. The gaps
 * between C's rows must survive. */
static void check_gemm_paths(int M, int N, int K, int act)
{
    static const int paths[] = {CL_GEMM_WIDE, CL_GEMM_LONG, CL_GEMM_NARROW, CL_GEMM_PACKED, CL_GEMM_AUTO};
    static const char *names[] = {"wide", "long", "narrow", "packed", "auto"};
    static const int threads[] = {1, 2, 4};
    int lda = K + 1, ldb = N + 3, ldc = N + 2;
    float *A = malloc(sizeof(float) * M * lda), *B = malloc(sizeof(float) * K * ldb);
    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
    float *bias = malloc(sizeof(float) * M), *slope = malloc(sizeof(float) * M);
    fill(A, (size_t)M * lda), fill(B, (size_t)K * ldb), fill(bias, M), fill(slope, M);
    cl_epilogue ep = {bias, slope, act};
    for (int isa = 0; isa < 4; isa++) {
        if (cl_set_isa(isa) != CL_OK)
            continue;
        cl_gemm_a *a = cl_gemm_pack_a_pointwise(M, K, A, lda);
        for (size_t p = 0; p < sizeof paths / sizeof *paths; p++)
            for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
                cl_gemm_force_path(paths[p]);
                for (int i = 0; i < M * ldc; i++)
                    C[i] = 12345.0f;
                int rc = cl_gemm(a, N, B, ldb, C, ldc, &ep, threads[t]), bad = rc != CL_OK, identical = 1;
                for (int i = 0; i < M && !bad; i++)
                    for (int j = 0; j < ldc && !bad; j++) {
                        double e = bias[i], ab = fabs(bias[i]);
                        for (int k = 0; k < K; k++)
                            e += (double)A[i * lda + k] * B[k * ldb + j], ab += fabs((double)A[i * lda + k] * B[k * ldb + j]);
                        e = act_ref(e, act, slope[i]);
                        float got = C[i * ldc + j];
                        bad = j < N ? !(fabs(got - e) <= 1.1920928955078125e-07 * (1.5 * (K + 4) * ab + 4 * fabs(e)) + 1e-30)
                                    : got != 12345.0f;
                    }
                if (p == 0 && t == 0)
                    memcpy(C0, C, sizeof(float) * M * ldc);
                else if (!(paths[p] != CL_GEMM_WIDE && paths[p] != CL_GEMM_LONG && paths[p] != CL_GEMM_NARROW && N <= 2))
                    identical = !memcmp(C0, C, sizeof(float) * M * ldc);
                checks++;
                if (bad || !identical) {
                    printf("FAIL gemm path %s/%s M%d N%d K%d act%d threads %d: %s (rc %d)\n", names[p],
                           cl_isa_name(isa), M, N, K, act, threads[t], bad ? "wrong" : "differs from wide", rc);
                    failures++;
                }
            }
        cl_gemm_force_path(CL_GEMM_AUTO);
        cl_gemm_free_a(a);
    }
    cl_set_isa(-1);
    free(A), free(B), free(C), free(C0), free(bias), free(slope);
}

/* A C past CL_GEMM_STREAM_MIN_BYTES, aligned: the wide path writes it with non-temporal stores (and
 * the rule picks wide for it); it must equal the packed path bit for bit, whatever the threads, and
 * the right edge (N not a multiple of any vector width) must still be exact. */
static void check_gemm_streamed(void)
{
    enum { M = 20, N = (CL_GEMM_STREAM_MIN_BYTES / 4 / M + 15) / 16 * 16 + 5, K = 7, LDC = (N + 15) / 16 * 16 };
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = aligned_alloc(64, sizeof(float) * M * LDC), *C0 = aligned_alloc(64, sizeof(float) * M * LDC);
    float bias[M], slope[M];
    fill(A, M * K), fill(B, (size_t)K * N), fill(bias, M), fill(slope, M);
    cl_epilogue ep = {bias, slope, CL_ACT_PRELU};
    for (int isa = 0; isa < 4; isa++) {
        if (cl_set_isa(isa) != CL_OK)
            continue;
        cl_gemm_a *a = cl_gemm_pack_a_pointwise(M, K, A, K);
        cl_gemm_force_path(CL_GEMM_PACKED);
        int rc = cl_gemm(a, N, B, N, C0, LDC, &ep, 1);
        for (int threads = 1; threads <= 2; threads++) {
            cl_gemm_force_path(threads == 1 ? CL_GEMM_AUTO : CL_GEMM_WIDE);
            rc |= cl_gemm(a, N, B, N, C, LDC, &ep, threads);
            int bad = rc != CL_OK || !cl_gemm_streams_c(M, N, K, C, LDC, CL_ACT_PRELU);
            for (int i = 0; i < M && !bad; i++)
                bad = memcmp(C + (size_t)i * LDC, C0 + (size_t)i * LDC, sizeof(float) * N) != 0;
            for (int i = 0; i < M && !bad; i++)
                for (int j = i; j < N && !bad; j += 4099) {   /* a sample, and the last column */
                    int jj = j + 4099 >= N ? N - 1 : j;
                    double e = bias[i];
                    for (int k = 0; k < K; k++)
                        e += (double)A[i * K + k] * B[(size_t)k * N + jj];
                    e = act_ref(e, CL_ACT_PRELU, slope[i]);
                    bad = !(fabs(C[(size_t)i * LDC + jj] - e) <= 1e-5 * (1 + fabs(e)));
                }
            checks++;
            if (bad) {
                printf("FAIL gemm streamed C/%s threads %d (rc %d)\n", cl_isa_name(isa), threads, rc);
                failures++;
            }
        }
        cl_gemm_force_path(CL_GEMM_AUTO);
        cl_gemm_free_a(a);
    }
    cl_set_isa(-1);
    free(A), free(B), free(C), free(C0);
}

/* The NEON micro-kernel's assembly against its intrinsic version (gemm_8x12_neon_a55.c): the same
 * FMAs in the same order, so bit-identical, for every k depth (1 = the peeled last step alone),
 * loaded or zero accumulators, every epilogue; the C tile between the rows must be untouched. */
static void check_ukernel_asm(void)
{
    const cl_ukernel *u = &cl_ukernel_neon, *ref = &cl_ukernel_neon_c;
    if (!u->fn || !ref->fn)
        return;   /* not an aarch64 build */
    enum { LDC = 15, KMAX = 67 };
    static const int depths[] = {1, 2, 3, 4, 7, 16, 67};
    float a[KMAX * 8], b[KMAX * 12], c0[8 * LDC], c1[8 * LDC], bias[8], slope[8];
    fill(a, sizeof a / sizeof *a), fill(b, sizeof b / sizeof *b), fill(bias, 8), fill(slope, 8);
    for (size_t d = 0; d < sizeof depths / sizeof *depths; d++)
        for (int flags = 0; flags < 4; flags++) {
            int act = flags & CL_UK_EPILOGUE ? (int)(d % 2 ? CL_ACT_PRELU : CL_ACT_HARDSWISH) : CL_ACT_NONE;
            fill(c0, 8 * LDC);
            memcpy(c1, c0, sizeof c0);
            u->fn(depths[d], a, b, c0, LDC, flags, bias, slope, act);
            ref->fn(depths[d], a, b, c1, LDC, flags, bias, slope, act);
            checks++;
            if (memcmp(c0, c1, sizeof c0)) {
                int i = 0;
                while (c0[i] == c1[i])
                    i++;
                printf("FAIL ukernel neon asm != intrinsics: kc %d flags %d, first difference at row %d col %d: "
                       "%.9g vs %.9g\n", depths[d], flags, i / LDC, i % LDC, c0[i], c1[i]);
                failures++;
            }
        }
}

/* tests/pool_cases.c */
void check_pool_cases(int *checks, int *failures);

/* tests/winograd_transforms.c */
double check_winograd_transforms(int m, int isa, unsigned seed);

/* Every ISA build of the Winograd tile transforms against the plain matrices. */
static void check_transforms(void)
{
    for (int isa = 0; isa < 4; isa++)
        for (int m = 2; m <= 6; m += 2) {
            double err = check_winograd_transforms(m, isa, 7);
            if (err < 0)
                continue;   /* this ISA cannot run here */
            checks++;
            if (!(err < 1e-6)) {
                printf("FAIL winograd F(%d,3) transforms/%s differ from the matrices by %.3g (relative)\n", m,
                       cl_isa_name(isa), err);
                failures++;
            }
        }
}

/* The kernel table: forcing an ISA gives its own row (every kernel of that ISA, none of another's),
 * and the row's text form has every op once. */
static void check_kernel_table(void)
{
    for (int isa = 0; isa < 4; isa++) {
        if (cl_set_isa(isa) != CL_OK)
            continue;
        const cl_kernel_table *t = cl_kernels();
        const cl_kernel_table *scalar = cl_kernels_for(CL_ISA_SCALAR);
        int own = t->isa == isa && t->gemm->isa == isa;
        if (isa != CL_ISA_SCALAR)   /* a vector ISA's row shares no kernel with the scalar row */
            own = own && t->gemm != scalar->gemm && t->gemm_unpacked != scalar->gemm_unpacked &&
                  t->winograd != scalar->winograd && t->stem != scalar->stem && t->dw3x3 != scalar->dw3x3 &&
                  t->dw_kxk != scalar->dw_kxk && t->pool != scalar->pool && *t->direct_axpy != *scalar->direct_axpy;
        const char *op, *seen[16];
        char tile[96];
        int rows = 0, unique = 1;
        while (rows < 16 && cl_kernel_row(isa, rows, &op, tile, (int)sizeof tile)) {
            for (int r = 0; r < rows; r++)
                unique = unique && strcmp(seen[r], op) != 0;
            seen[rows++] = op;
        }
        checks++;
        if (!own || rows != 9 || !unique) {
            printf("FAIL kernel table/%s: own kernels %d, %d rows, ops unique %d\n", cl_isa_name(isa), own, rows, unique);
            failures++;
        }
    }
    cl_set_isa(-1);
    const char *op;
    char tile[8];
    checks++;
    if (cl_kernel_row(4, 0, &op, tile, 8) || cl_kernel_row(-1, 0, &op, tile, 8) ||
        cl_kernel_row(0, 0, NULL, tile, 8) || cl_kernels_for(7) != cl_kernels_for(CL_ISA_SCALAR)) {
        printf("FAIL kernel table: an unknown ISA or a NULL argument was not refused\n");
        failures++;
    }
}

static void check_errors(void)
{
    cl_conv_shape s = make_shape(&SHAPES[4]);
    float v = 0;
    s.ow += 1;   /* inconsistent with the rest */
    int ok = cl_direct_run(&s, &v, &v, &v, NULL, 1) == CL_EINVAL &&
             cl_dwconv3x3_run(&s, &v, &v, &v, NULL, 1) == CL_EINVAL && cl_dwconv_run(&s, &v, &v, &v, NULL, 1) == CL_EINVAL && cl_im2col_prepare(&s, &v) == NULL &&
             cl_sgemm(0, 1, 1, &v, 1, &v, 1, &v, 1, NULL, 1) == CL_EINVAL &&
             cl_sgemm(2, 2, 2, &v, 1, &v, 2, &v, 2, NULL, 1) == CL_EINVAL;
    checks++;
    if (!ok) {
        printf("FAIL bad arguments were not rejected with CL_EINVAL\n");
        failures++;
    }
}

int main(void)
{
    printf("instruction sets:");
    for (int isa = 0; isa < 4; isa++)
        if (cl_isa_supported(isa))
            printf(" %s", cl_isa_name(isa));
    printf(" (default %s)\n", cl_isa_name(cl_isa()));
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        check_shape(&SHAPES[i]);
    static const int gemms[][3] = {{1, 1, 1}, {8, 12, 1}, {1000, 1, 1280}, {37, 2, 517}, {5, 1, 3}, {17, 33, 257}, {9, 1030, 20}, {70, 45, 600}};
    for (size_t i = 0; i < sizeof gemms / sizeof *gemms; i++)
        check_gemm(gemms[i][0], gemms[i][1], gemms[i][2]);
    /* M 1..40 around every panel height, N below, at and past every vector and tile width, K = 1 */
    static const int paths[][4] = {{1, 1, 1, CL_ACT_NONE}, {1, 33, 5, CL_ACT_RELU}, {7, 17, 1, CL_ACT_PRELU},
                                   {8, 16, 3, CL_ACT_SIGMOID}, {13, 100, 9, CL_ACT_HARDSWISH}, {16, 3, 20, CL_ACT_RELU6},
                                   {23, 49, 31, CL_ACT_PRELU}, {24, 15, 2, CL_ACT_RELU}, {25, 65, 17, CL_ACT_NONE},
                                   {33, 196, 40, CL_ACT_PRELU}, {40, 7, 300, CL_ACT_HARDSWISH}, {37, 31, 513, CL_ACT_SIGMOID},
                                   {5, 1000, 260, CL_ACT_PRELU}, {64, 14, 64, CL_ACT_RELU}, {2, 2, 7, CL_ACT_PRELU}};
    for (int M = 1; M <= 40; M++)
        check_gemm_paths(M, 19 + M % 5, 1 + M % 7, M % 6);
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        check_gemm_paths(paths[i][0], paths[i][1], paths[i][2], paths[i][3]);
    check_gemm_streamed();
    check_transforms();
    check_pool_cases(&checks, &failures);
    check_ukernel_asm();
    check_kernel_table();
    check_errors();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
