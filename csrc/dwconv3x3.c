/* Depthwise 3x3 convolution, stride 1 or 2, any padding. Each thread takes a contiguous range of
 * (image, channel) planes (cl_dw_split, dwconv.c) and one row ring (cl_dw_ring, allocated once per thread; its borders
 * stay zero); the ISA's channel kernel (dwconv3x3_<isa>.c) does the rest. Also reached through
 * cl_dwconv_run (dwconv.c). */
#include <stdlib.h>
#include "cl_conv.h"
#include "cl_dwconv.h"

/* Planes whose zero-bordered copy (rows of ring.ld floats) fits in this many floats are copied
 * whole (cl_dw_ring.plane); larger ones go through the row ring. */
#ifndef CL_DW_PLANE_MAX
#define CL_DW_PLANE_MAX 8192
#endif

static int planes(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int t0, int t1, const void *ctx)
{
    const cl_dw3x3_kernel *k = ctx;
    int st = s->sh, act = ep ? ep->act : CL_ACT_NONE;
    /* a vector of outputs starting at column ox reads ring columns up to ox + width + 2 */
    ptrdiff_t reach = (s->ow > k->width ? s->ow : k->width) + 3, padded = s->pl + s->w + s->pr;
    /* the fill stores a row's tail as a whole vector (zeros past the row): room for it */
    ptrdiff_t tail = st == 1 ? s->pl + s->w + k->width : (s->pl + s->w + 1) / 2 + k->width + 1;
    reach = reach > tail ? reach : tail;
    cl_dw_ring ring = {0};
    if (st == 1) {
        ring.ld = padded > reach ? padded : reach;
    } else {
        ring.half = (padded + 1) / 2 > reach ? (padded + 1) / 2 : reach;
        ring.ld = 2 * ring.half;
    }
    ptrdiff_t prows = s->pt + s->h + s->pb;
    if (prows * ring.ld <= CL_DW_PLANE_MAX) {
        if (!(ring.plane = calloc((size_t)(prows * ring.ld), sizeof(float))))
            return CL_ENOMEM;
    } else if (!(ring.buf = calloc((size_t)(ring.ld * CL_DW_RING), sizeof(float))))
        return CL_ENOMEM;
    for (int i = 0; i < CL_DW_RING; i++)
        ring.zero[i] = 1;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    for (int t = t0; t < t1; t++) {
        int c = t % s->c_in;
        cl_dw_channel job = {x + t * in_plane, y + t * out_plane, s->h, s->w, s->pt, s->pl, st, s->oh, s->ow,
                             w + 9 * c, ep && ep->bias ? ep->bias[c] : 0.0f, ep && ep->slope ? ep->slope[c] : 0.0f,
                             act == CL_ACT_SIGMOID ? CL_ACT_NONE : act, &ring};
        k->channel(&job);
        if (act == CL_ACT_SIGMOID)
            cl_sigmoid_inplace(job.y, (size_t)out_plane);
    }
    free(ring.buf);
    free(ring.plane);
    return CL_OK;
}

int cl_dwconv3x3_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                     const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in || s->kh != 3 || s->kw != 3 ||
        s->sh != s->sw || (s->sh != 1 && s->sh != 2) || s->dh != 1 || s->dw != 1)
        return CL_EINVAL;
    return cl_dw_split(s, x, w, y, ep, nthreads, planes, cl_dw3x3_for_isa());
}
