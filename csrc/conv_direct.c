/* Direct convolution for any kernel size, stride, padding, dilation and groups.
 *
 * One task is an image and a block of OCB output channels; for each output row, the OCB rows
 * are accumulated in a small buffer over (input channel, tap), each tap an axpy along the output
 * row restricted to the columns whose input is not padding. The axpy loop is plain C compiled per
 * ISA (conv_direct_<isa>.c) and taken from the kernel table (cl_kernels.h), so a forced ISA reaches it as
 * it reaches every other kernel. Every output is summed in the same order (channel, tap row, tap column)
 * whatever the thread count. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_kernels.h"

enum { OCB = 4 };   /* output channels sharing each input row load */

/* Output columns [lo, hi) of a row read input columns inside [0, w) for tap offset `off`. */
static void valid_cols(int off, int sw, int w, int ow, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int h = off > w - 1 ? 0 : (w - 1 - off) / sw + 1;
    *lo = l < ow ? l : ow;
    *hi = h < ow ? h : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* Output channels [oc0, oc0 + noc) of image b, all in group gi. */
static void conv_block(cl_direct_axpy_fn axpy_rows, const cl_conv_shape *s, const float *x, const float *w,
                       float *y, const cl_epilogue *ep, int b, int gi, int oc0, int noc, float *acc)
{
    int cig = s->c_in / s->groups;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    const float *xg = x + ((ptrdiff_t)b * s->c_in + (ptrdiff_t)gi * cig) * in_plane;
    float wv[OCB];
    for (int oy = 0; oy < s->oh; oy++) {
        memset(acc, 0, sizeof(float) * OCB * (size_t)s->ow);
        for (int ci = 0; ci < cig; ci++)
            for (int i = 0; i < s->kh; i++) {
                int iy = oy * s->sh - s->pt + i * s->dh;
                if (iy < 0 || iy >= s->h)
                    continue;
                const float *row = xg + ci * in_plane + (ptrdiff_t)iy * s->w;
                for (int j = 0; j < s->kw; j++) {
                    int off = j * s->dw - s->pl, lo, hi;
                    valid_cols(off, s->sw, s->w, s->ow, &lo, &hi);
                    if (lo == hi)
                        continue;
                    for (int o = 0; o < noc; o++)
                        wv[o] = w[(((ptrdiff_t)(oc0 + o) * cig + ci) * s->kh + i) * s->kw + j];
                    axpy_rows(noc, hi - lo, row + lo * s->sw + off, s->sw, wv, acc + lo, s->ow);
                }
            }
        for (int o = 0; o < noc; o++) {
            int oc = oc0 + o;
            float bias = ep && ep->bias ? ep->bias[oc] : 0.0f;
            float slope = ep && ep->slope ? ep->slope[oc] : 0.0f;
            int act = ep ? ep->act : CL_ACT_NONE;
            float *out = y + ((ptrdiff_t)b * s->c_out + oc) * out_plane + (ptrdiff_t)oy * s->ow;
            for (int t = 0; t < s->ow; t++)
                out[t] = cl_act1(acc[o * s->ow + t] + bias, act, slope);
            if (act == CL_ACT_SIGMOID)
                cl_sigmoid_inplace(out, (size_t)s->ow);
        }
    }
}

int cl_direct_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK)
        return CL_EINVAL;
    /* Blocks of OCB channels within each group, so tasks are independent and group-pure. */
    int cog = s->c_out / s->groups, per_group = (cog + OCB - 1) / OCB;
    int blocks = s->groups * per_group, tasks = s->n * blocks, rc = CL_OK;
    cl_direct_axpy_fn axpy = *cl_kernels()->direct_axpy;
    CL_PARALLEL_FOR(nthreads)
    for (int t = 0; t < tasks; t++) {
        float *acc = malloc(sizeof(float) * OCB * (size_t)s->ow);
        if (!acc) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
            continue;
        }
        int blk = t % blocks, gi = blk / per_group, r = blk % per_group * OCB;
        conv_block(axpy, s, x, w, y, ep, t / blocks, gi, gi * cog + r, cog - r < OCB ? cog - r : OCB, acc);
        free(acc);
    }
    return rc;
}
