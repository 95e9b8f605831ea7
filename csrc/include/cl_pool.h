/* 2-D max and average pooling of (planes, h, w) maps: the engine's Pool op (engine.c), here so
 * the C harness and the NEON build under qemu test it like any other kernel.
 *
 * cl_pool_run takes undilated windows (nearly every pool) through a separable pass per output
 * row: a vertical combine of the window's input rows into one identity-padded row, then a
 * horizontal combine along it at the stride, both the ISA's vector loops (pool_<isa>.c,
 * pool_impl.h); max pools 2 or 3 wide at column stride 2 (nearly all of them) skip the
 * intermediate row and deinterleave each output vector's window columns in registers. Dilated
 * windows, and any plane of a max pool that holds a NaN or an infinity, take cl_pool_reference,
 * the plain window-by-window loop, which is exact (a NaN in a window wins, as ONNX's MaxPool).
 * Every output is combined in the same order whatever nthreads. */
#ifndef CL_POOL_H
#define CL_POOL_H

#include "cl_common.h"
#include "cl_engine.h"   /* CL_POOL_MAX, CL_POOL_AVG, CL_POOL_AVG_INCLUDE_PAD */

/* The engine's pool step ints, in its order. Pads: top, left, bottom, right. */
typedef struct {
    int planes, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
} cl_pool_shape;

/* kind: CL_POOL_*. The shape must satisfy ONNX's rules (engine.c checks them for a plan). */
void cl_pool_run(int kind, const cl_pool_shape *s, const float *x, float *y, int nthreads);
void cl_pool_reference(int kind, const cl_pool_shape *s, const float *x, float *y);

/* One ISA's separable pass over a plane (pool_<isa>.c, pool_impl.h): per output row, the
 * window's rows inside the input combined into v from column pl on (v's other columns hold the
 * identity, -inf or 0, and v is cl_pool_row_floats long), then the windows combined along v at
 * the stride, each tap as `tap > acc ? tap : acc` or `acc + tap` in increasing order; an
 * average divides by (rows inside) * col_count[o], col_count readable lanes floats past ow.
 * v holds CL_POOL_BAND such rows, cl_pool_row_floats apart. A max pool returns 1 without
 * writing when the plane holds a NaN or an infinity (the vector max drops a NaN): the caller
 * takes the reference for it. */
typedef struct {
    int (*plane)(int kind, const cl_pool_shape *s, const float *restrict xp, float *restrict yp,
                 float *restrict v, const float *col_count);
    int lanes;
} cl_pool_kernel;

enum { CL_POOL_BAND = 8 };

/* Taps of the window starting at `start` (input coordinates, k long) that fall in [lo, hi). */
static inline int cl_pool_taps_inside(int start, int k, int lo, int hi)
{
    int a = start > lo ? start : lo, b = start + k < hi ? start + k : hi;
    return b > a ? b - a : 0;
}

static inline int cl_pool_row_floats(const cl_pool_shape *s, int lanes)
{
    int reach = s->sw * ((s->ow + lanes - 1) / lanes * lanes) + s->kw + 2 * lanes;
    return reach > s->pl + s->w + lanes ? reach : s->pl + s->w + lanes;
}

extern const cl_pool_kernel cl_pool_avx512, cl_pool_avx2, cl_pool_neon, cl_pool_scalar;

#endif
