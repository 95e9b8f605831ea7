/* One conv kernel on one shape, thread CPU time, median and min of many repeats (input and output
 * hot between repeats, unlike in a model). Build it at two commits to A/B a kernel change:
 *   gcc -std=c11 -O3 -fno-math-errno -fopenmp -Icsrc/include -Icsrc -o /tmp/kernel_bench \
 *       $(ls csrc/*.c) experiments/native_engine/kernel_bench.c -lm
 *   [ISA=0|1|2] /tmp/kernel_bench dw C H W [stride] [repeats]      depthwise 3x3, pad 1
 *   [ISA=0|1|2] /tmp/kernel_bench stem CIN COUT H W [repeats]       3x3 stride 2, pad 1 (cl_stem_run)
 *   [ISA=0|1|2] /tmp/kernel_bench ALGO CIN COUT H W PAD [repeats]    3x3 stride 1, ALGO = f23, f43, f63, im2col
 *   [ISA=0|1|2] [AVG=1] /tmp/kernel_bench pool C H W K S PAD_END [repeats]   K x K max (average) pool,
 *                                                                     padding at the bottom and right (SAME_UPPER)
 * (ISA: scalar, avx2, avx512. KSIZE=k: a k x k kernel instead of 3x3 for ALGO and stem; STRIDE=s,
 * PAD=p: the stem's stride and padding, e.g. MTCNN R-Net's stem: STRIDE=1 PAD=0 ... stem 3 28 24 24.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../bench_clock.h"
#include "cl_common.h"
#include "cl_conv.h"
#include "cl_pool.h"
#include "cl_winograd.h"

/* ALGO's prepared state for one 3x3 stride-1 shape: Winograd F(m, 3) (m = 2, 4, 6) or im2col (m = 0). */
typedef struct {
    int m;
    cl_winograd *wino;
    cl_im2col *im2col;
} prepared_conv;

static int run_prepared(const prepared_conv *p, const cl_conv_shape *s, const float *x, float *y,
                        const cl_epilogue *ep)
{
    return p->m ? cl_winograd_run(p->wino, s, x, y, ep, 1) : cl_im2col_run(p->im2col, s, x, y, ep, 1);
}

/* cl_pool_run on one shape: K = H = W with stride 1 and no padding is a global pool. */
static int pool_bench(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: %s pool C H W K S PAD_END [repeats]\n", argv[0]);
        return 2;
    }
    int c = atoi(argv[2]), h = atoi(argv[3]), w = atoi(argv[4]), k = atoi(argv[5]), st = atoi(argv[6]);
    int pe = atoi(argv[7]), reps = argc > 8 ? atoi(argv[8]) : 2000, kind = getenv("AVG") ? CL_POOL_AVG : CL_POOL_MAX;
    cl_pool_shape s = {c, h, w, (h + pe - k) / st + 1, (w + pe - k) / st + 1, k, k, st, st, 1, 1, 0, 0, pe, pe};
    float *x = malloc(sizeof(float) * (size_t)c * h * w), *y = malloc(sizeof(float) * (size_t)c * s.oh * s.ow);
    double *t = malloc(sizeof(double) * reps);
    for (size_t i = 0; i < (size_t)c * h * w; i++)
        x[i] = (float)(i * 7919 % 1000) * 0.01f - 3.0f;
    for (int r = 0; r < 20 + reps; r++) {
        double t0 = now();
        cl_pool_run(kind, &s, x, y, 1);
        if (r >= 20)
            t[r - 20] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmp);
    printf("%s pool %dx%dx%d k%d s%d +%d -> %dx%d [%s]: median %.2f us, min %.2f us\n", kind == CL_POOL_AVG ? "avg" : "max",
           c, h, w, k, st, pe, s.oh, s.ow, cl_isa_name(cl_isa()), t[reps / 2] * 1e6, t[0] * 1e6);
    free(x), free(y), free(t);
    return 0;
}

int main(int argc, char **argv)
{
    const char *algos[] = {"im2col", "", "f23", "", "f43", "", "f63"};
    prepared_conv conv = {-1, NULL, NULL};
    for (int m = 0; m <= 6 && argc > 1; m++)
        if (*algos[m] && !strcmp(argv[1], algos[m]))
            conv.m = m;
    if (argc > 1 && !strcmp(argv[1], "pool")) {
        if (getenv("ISA") && cl_set_isa(atoi(getenv("ISA"))) != CL_OK) {
            fprintf(stderr, "ISA %s not available here\n", getenv("ISA"));
            return 2;
        }
        return pool_bench(argc, argv);
    }
    int stem = argc > 1 && !strcmp(argv[1], "stem"), general = conv.m >= 0;
    if (argc < (general ? 7 : stem ? 6 : 5) || (!stem && !general && strcmp(argv[1], "dw"))) {
        fprintf(stderr, "usage: %s dw C H W [stride] [repeats] | stem CIN COUT H W [repeats] | "
                        "f23|f43|f63|im2col CIN COUT H W PAD [repeats] | pool C H W K S PAD_END [repeats]\n", argv[0]);
        return 2;
    }
    if (getenv("ISA") && cl_set_isa(atoi(getenv("ISA"))) != CL_OK) {
        fprintf(stderr, "ISA %s not available here\n", getenv("ISA"));
        return 2;
    }
    int dense = stem || general, cin = atoi(argv[2]), cout = dense ? atoi(argv[3]) : cin;
    int ks = dense && getenv("KSIZE") ? atoi(getenv("KSIZE")) : 3;
    int h = atoi(argv[dense ? 4 : 3]), w = atoi(argv[dense ? 5 : 4]);
    int pad = general ? atoi(argv[6]) : stem && getenv("PAD") ? atoi(getenv("PAD")) : 1;
    int stride = stem ? (getenv("STRIDE") ? atoi(getenv("STRIDE")) : 2) : general ? 1 : argc > 5 ? atoi(argv[5]) : 1;
    int reps = argc > (general ? 7 : 6) ? atoi(argv[general ? 7 : 6]) : 1000;
    cl_conv_shape s = {.n = 1, .c_in = cin, .h = h, .w = w, .c_out = cout, .kh = ks, .kw = ks, .sh = stride, .sw = stride,
                       .pt = pad, .pl = pad, .pb = pad, .pr = pad, .dh = 1, .dw = 1, .groups = dense ? 1 : cin};
    s.oh = (h + 2 * pad - ks) / stride + 1;
    s.ow = (w + 2 * pad - ks) / stride + 1;
    size_t nx = (size_t)cin * h * w, ny = (size_t)cout * s.oh * s.ow, nk = (size_t)cout * (dense ? cin : 1) * ks * ks;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *k = malloc(sizeof(float) * nk);
    float *bias = calloc((size_t)cout, sizeof(float));
    double *t = malloc(sizeof(double) * reps);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(i % 97) * 0.01f;
    for (size_t i = 0; i < nk; i++)
        k[i] = 0.1f;
    cl_epilogue ep = {bias, NULL, CL_ACT_RELU};
    if (general && (conv.m ? cl_winograd_prepare(conv.m, &s, k, &conv.wino) != CL_OK
                           : !(conv.im2col = cl_im2col_prepare(&s, k)))) {
        fprintf(stderr, "%s does not take this shape\n", argv[1]);
        return 1;
    }
    for (int r = 0; r < 20 + reps; r++) {
        double t0 = now();
        int rc = general ? run_prepared(&conv, &s, x, y, &ep)
                 : stem  ? cl_stem_run(&s, x, k, y, &ep, 1)
                         : cl_dwconv3x3_run(&s, x, k, y, &ep, 1);
        if (rc != CL_OK) {
            fprintf(stderr, "kernel failed (%d)\n", rc);
            return 1;
        }
        if (r >= 20)
            t[r - 20] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmp);
    printf("%s %dx%dx%d -> %d k%d s%d p%d [%s]: median %.1f us, min %.1f us\n", general ? argv[1] : stem ? "stem" : "dw3x3",
           cin, h, w, cout, ks, stride, pad, cl_isa_name(cl_isa()), t[reps / 2] * 1e6, t[0] * 1e6);
    cl_winograd_free(conv.wino);
    cl_im2col_free(conv.im2col);
    free(x), free(y), free(k), free(bias), free(t);
    return 0;
}
