/* Depthwise 3x3 convolution, stride 1 or 2, any padding. Each thread takes a contiguous range of
 * (image, channel) planes (cl_dw_split, dwconv.c) and, for stride 2, a row of zeros allocated once
 * per thread; the ISA's channel kernel
 * (dwconv3x3_<isa>.c, dwconv3x3_impl.h) does the rest. Also reached through cl_dwconv_run (dwconv.c). */
#include <stdlib.h>
#include "cl_conv.h"
#include "cl_dwconv.h"
#include "cl_kernels.h"

static int planes(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int t0, int t1, const void *ctx)
{
    const cl_dw3x3_kernel *k = ctx;
    int act = ep ? ep->act : CL_ACT_NONE;
    float *zero_row = NULL;
    if (s->sh == 2 && !(zero_row = calloc((size_t)s->w, sizeof(float))))
        return CL_ENOMEM;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    for (int t = t0; t < t1; t++) {
        int c = t % s->c_in;
        cl_dw_channel job = {x + t * in_plane, y + t * out_plane, s->h, s->w, s->pt, s->pl, s->sh, s->oh, s->ow,
                             w + 9 * c, ep && ep->bias ? ep->bias[c] : 0.0f, ep && ep->slope ? ep->slope[c] : 0.0f,
                             act == CL_ACT_SIGMOID ? CL_ACT_NONE : act, zero_row};
        k->channel(&job);
        if (act == CL_ACT_SIGMOID)
            cl_sigmoid_inplace(job.y, (size_t)out_plane);
    }
    free(zero_row);
    return CL_OK;
}

int cl_dwconv3x3_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                     const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in || s->kh != 3 || s->kw != 3 ||
        s->sh != s->sw || (s->sh != 1 && s->sh != 2) || s->dh != 1 || s->dw != 1)
        return CL_EINVAL;
    return cl_dw_split(s, x, w, y, ep, nthreads, planes, cl_kernels()->dw3x3);
}
