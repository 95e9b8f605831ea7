/* cl_pool_run (pool.c, and the row loops of every ISA build, pool_<isa>.c) against
 * cl_pool_reference, the window-by-window loop: random shapes with odd sizes, every pad under the
 * window, strides 1-3, ceil-mode last windows that run past the pad, dilation (which takes the
 * reference itself), max with NaNs and infinities planted, both averages; and 1 vs 3 threads
 * bit-identical. Max must match exactly (NaN where the reference has one); an average within a
 * few roundings, since the separable pass sums a window by columns. Called by test_kernels.c. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_pool.h"

static uint32_t pool_rng = 2463534242u;
static int draw(int lo, int hi)   /* uniform in [lo, hi] */
{
    pool_rng ^= pool_rng << 13, pool_rng ^= pool_rng >> 17, pool_rng ^= pool_rng << 5;
    return lo + (int)(pool_rng % (uint32_t)(hi - lo + 1));
}

static int out_size(int size, int k, int stride, int dil, int pa, int pb, int ceil_mode)
{
    int span = (k - 1) * dil + 1, room = size + pa + pb - span;
    int out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
    return (out - 1) * stride >= size + pa ? out - 1 : out;   /* ONNX: the last window starts before the end pad */
}

static int same(float a, float b) { return a == b || (isnan(a) && isnan(b)); }

/* One shape and kind under one ISA: returns a message on failure, NULL when all outputs agree. */
static const char *check_case(int kind, const cl_pool_shape *s, const float *x)
{
    size_t n = (size_t)s->planes * s->oh * s->ow;
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got), *got3 = malloc(n * sizeof *got3);
    const char *why = NULL;
    for (size_t i = 0; i < n; i++)
        got[i] = got3[i] = NAN;   /* poison: an output the kernel skips shows */
    cl_pool_reference(kind, s, x, want);
    cl_pool_run(kind, s, x, got, 1);
    cl_pool_run(kind, s, x, got3, 3);
    double tol = 4.0 * s->kh * s->kw * 1.1920928955078125e-07;
    for (size_t i = 0; i < n && !why; i++) {
        if (!same(got[i], want[i]) && (kind == CL_POOL_MAX || !(fabs(got[i] - want[i]) <= tol)))
            why = "differs from the reference";
        else if (memcmp(&got[i], &got3[i], sizeof(float)) != 0)
            why = "differs between 1 and 3 threads";
    }
    free(want);
    free(got);
    free(got3);
    return why;
}

void check_pool_cases(int *checks, int *failures)
{
    for (int t = 0; t < 160; t++) {
        cl_pool_shape s = {0};
        s.planes = draw(1, 5), s.h = draw(1, 37), s.w = draw(1, t % 2 ? 41 : 90);   /* 90: whole vectors of outputs */
        s.kh = draw(1, 4), s.kw = draw(1, 4), s.sh = draw(1, 3), s.sw = draw(1, 3);
        if (t % 3 == 0)   /* the common pools: 2x2 and 3x3 at stride 2 */
            s.kh = s.kw = s.sh = s.sw = draw(2, 3), s.sh = s.sw = 2;
        s.dh = t % 11 == 10 ? 2 : 1, s.dw = t % 13 == 12 ? 2 : 1;
        int span_h = (s.kh - 1) * s.dh + 1, span_w = (s.kw - 1) * s.dw + 1;
        s.pt = draw(0, span_h - 1), s.pb = draw(0, span_h - 1), s.pl = draw(0, span_w - 1), s.pr = draw(0, span_w - 1);
        if (span_h > s.h + s.pt + s.pb || span_w > s.w + s.pl + s.pr)
            continue;
        int ceil_mode = t % 4 == 1;
        s.oh = out_size(s.h, s.kh, s.sh, s.dh, s.pt, s.pb, ceil_mode);
        s.ow = out_size(s.w, s.kw, s.sw, s.dw, s.pl, s.pr, ceil_mode);
        size_t nx = (size_t)s.planes * s.h * s.w;
        float *x = malloc(nx * sizeof *x);
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)draw(-1000, 1000) / 997.0f;
        if (t % 5 == 2)
            x[draw(0, (int)nx - 1)] = NAN;
        if (t % 7 == 3)
            x[draw(0, (int)nx - 1)] = t % 2 ? INFINITY : -INFINITY;
        for (int isa = 0; isa < 4; isa++) {
            if (cl_set_isa(isa) != CL_OK)
                continue;
            for (int kind = CL_POOL_MAX; kind <= CL_POOL_AVG_INCLUDE_PAD; kind++) {
                const char *why = check_case(kind, &s, x);
                ++*checks;
                if (why) {
                    ++*failures;
                    printf("FAIL pool kind %d/%s %dx%dx%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d -> %dx%d: %s\n", kind,
                           cl_isa_name(isa), s.planes, s.h, s.w, s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb,
                           s.pr, s.oh, s.ow, why);
                }
            }
        }
        cl_set_isa(-1);
        free(x);
    }
    /* global pools (the window is the whole plane: run_global), plane counts around its groups */
    for (int planes = 1; planes <= 19; planes += 3) {
        int h = planes % 4 + 1, w = planes % 9 + 1;
        cl_pool_shape s = {planes, h, w, 1, 1, h, w, 1, 1, 1, 1, 0, 0, 0, 0};
        float *x = malloc((size_t)planes * h * w * sizeof *x);
        for (int i = 0; i < planes * h * w; i++)
            x[i] = (float)draw(-1000, 1000) / 997.0f;
        if (planes == 10)
            x[draw(0, planes * h * w - 1)] = NAN;
        for (int kind = CL_POOL_MAX; kind <= CL_POOL_AVG_INCLUDE_PAD; kind++) {
            const char *why = check_case(kind, &s, x);
            ++*checks;
            if (why) {
                ++*failures;
                printf("FAIL global pool kind %d %dx%dx%d: %s\n", kind, planes, h, w, why);
            }
        }
        free(x);
    }
}
