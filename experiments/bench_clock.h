/* What the C benchmarks under experiments/ share: the calling thread's CPU time, and a comparison
 * for qsort to take medians with. */
#ifndef EXPERIMENTS_BENCH_CLOCK_H
#define EXPERIMENTS_BENCH_CLOCK_H
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
#endif
