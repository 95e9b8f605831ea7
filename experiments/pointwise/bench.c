/* cl_gemm's three loop nests on one shape, interleaved, thread CPU time, medians: what set the
 * thresholds of the rule in csrc/gemm.c. B and C are hot between repeats (unlike in a model).
 *   gcc -std=c11 -O3 -fno-math-errno -fopenmp -Icsrc/include -o /tmp/gemm_bench csrc/gemm*.c csrc/cpu.c \
 *       csrc/conv_shape.c experiments/pointwise/bench.c -lm
 *   /tmp/gemm_bench M N K [repeats] [paths: 2 = packed and wide, 3 = and narrow, 4 = and long] */
#include <stdio.h>
#include <stdlib.h>
#include "../bench_clock.h"
#include "cl_gemm.h"

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]);
    int reps = argc > 4 ? atoi(argv[4]) : 20, npaths = argc > 5 ? atoi(argv[5]) : 4;
    if (reps < 1 || reps > 200 || npaths < 1 || npaths > 4)
        return 2;
    float *A = malloc(sizeof(float) * M * K), *B = aligned_alloc(64, (4L * K * N + 63) / 64 * 64);
    float *C = aligned_alloc(64, (4L * M * N + 63) / 64 * 64), *bias = calloc(M, sizeof(float));
    for (long i = 0; i < (long)M * K; i++)
        A[i] = (float)(i % 7) - 3;
    for (long i = 0; i < (long)K * N; i++)
        B[i] = (float)(i % 5) - 2;
    cl_gemm_a *a = cl_gemm_pack_a_pointwise(M, K, A, K);
    cl_epilogue ep = {bias, NULL, CL_ACT_RELU};
    static const int paths[] = {CL_GEMM_PACKED, CL_GEMM_WIDE, CL_GEMM_NARROW, CL_GEMM_LONG};
    static const char *names[] = {"packed", "wide", "narrow", "long"};
    static double t[3][200];
    for (int r = 0; r < reps + 2; r++)
        for (int p = 0; p < npaths; p++) {
            cl_gemm_force_path(paths[p]);
            double t0 = now();
            cl_gemm(a, N, B, N, C, N, &ep, 1);
            if (r >= 2)
                t[p][r - 2] = now() - t0;
        }
    printf("M%d N%d K%d:", M, N, K);
    for (int p = 0; p < npaths; p++) {
        qsort(t[p], reps, sizeof(double), cmp);
        double med = t[p][reps / 2];
        printf("  %s %.3f ms %.1f GF", names[p], med * 1e3, 2.0 * M * N * K / med * 1e-9);
    }
    printf("\n");
    cl_gemm_free_a(a);
    free(A), free(B), free(C), free(bias);
    return 0;
}
