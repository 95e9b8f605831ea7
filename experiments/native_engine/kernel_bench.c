/* One conv kernel on one shape, thread CPU time, median and min of many repeats (input and output
 * hot between repeats, unlike in a model). Build it at two commits to A/B a kernel change:
 *   gcc -std=c11 -O3 -fno-math-errno -fopenmp -Icsrc/include -Icsrc -o /tmp/kernel_bench \
 *       $(ls csrc/*.c) experiments/native_engine/kernel_bench.c -lm
 *   [ISA=0|1|2] /tmp/kernel_bench dw C H W [stride] [repeats]      depthwise 3x3, pad 1
 *   [ISA=0|1|2] /tmp/kernel_bench stem CIN COUT H W [repeats]       3x3 stride 2, pad 1 (cl_stem_run)
 * (ISA: scalar, avx2, avx512.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../bench_clock.h"
#include "cl_common.h"
#include "cl_conv.h"

int main(int argc, char **argv)
{
    int stem = argc > 1 && !strcmp(argv[1], "stem");
    if (argc < (stem ? 6 : 5) || (!stem && strcmp(argv[1], "dw"))) {
        fprintf(stderr, "usage: %s dw C H W [stride] [repeats] | stem CIN COUT H W [repeats]\n", argv[0]);
        return 2;
    }
    if (getenv("ISA") && cl_set_isa(atoi(getenv("ISA"))) != CL_OK) {
        fprintf(stderr, "ISA %s not available here\n", getenv("ISA"));
        return 2;
    }
    int cin = atoi(argv[2]), cout = stem ? atoi(argv[3]) : cin, h = atoi(argv[stem ? 4 : 3]), w = atoi(argv[stem ? 5 : 4]);
    int stride = stem ? 2 : argc > 5 ? atoi(argv[5]) : 1, reps = argc > 6 ? atoi(argv[6]) : 1000;
    cl_conv_shape s = {.n = 1, .c_in = cin, .h = h, .w = w, .c_out = cout, .kh = 3, .kw = 3, .sh = stride, .sw = stride,
                       .pt = 1, .pl = 1, .pb = 1, .pr = 1, .dh = 1, .dw = 1, .groups = stem ? 1 : cin};
    s.oh = (h - 1) / stride + 1;
    s.ow = (w - 1) / stride + 1;
    size_t nx = (size_t)cin * h * w, ny = (size_t)cout * s.oh * s.ow, nk = (size_t)cout * (stem ? cin : 1) * 9;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *k = malloc(sizeof(float) * nk);
    float *bias = calloc((size_t)cout, sizeof(float));
    double *t = malloc(sizeof(double) * reps);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(i % 97) * 0.01f;
    for (size_t i = 0; i < nk; i++)
        k[i] = 0.1f;
    cl_epilogue ep = {bias, NULL, CL_ACT_RELU};
    for (int r = 0; r < 20 + reps; r++) {
        double t0 = now();
        int rc = stem ? cl_stem_run(&s, x, k, y, &ep, 1) : cl_dwconv3x3_run(&s, x, k, y, &ep, 1);
        if (rc != CL_OK) {
            fprintf(stderr, "kernel failed (%d)\n", rc);
            return 1;
        }
        if (r >= 20)
            t[r - 20] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmp);
    printf("%s %dx%dx%d -> %d s%d [%s]: median %.1f us, min %.1f us\n", stem ? "stem" : "dw3x3", cin, h, w, cout,
           stride, cl_isa_name(cl_isa()), t[reps / 2] * 1e6, t[0] * 1e6);
    free(x), free(y), free(k), free(bias), free(t);
    return 0;
}
