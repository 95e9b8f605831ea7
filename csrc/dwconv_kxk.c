/* Depthwise convolution, the entry point: cl_dwconv_run sends 3x3 stride 1/2 to the vectorised
 * kernel (dwconv3x3.c) and every other kernel size, stride, padding and dilation (MobileFaceNet's
 * global 7x7, 5x5 layers) to the general kernel here. Both split (image, channel) planes between
 * threads the same way (cl_dw_split).
 *
 * The general kernel copies a channel once into a zero-bordered plane, so no tap needs a bounds
 * test, and accumulates a row of outputs tap by tap in a row buffer (the loop over output columns
 * is what the compiler vectorises; there is no ISA-specific code). Every output sums its taps in
 * row-major order and then adds the bias, so results do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_dwconv.h"

int cl_dw_split(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                int nthreads, cl_dw_planes_fn planes, const void *ctx)
{
    int tasks = s->n * s->c_in, rc = CL_OK;
    int parts = nthreads < tasks ? nthreads : tasks;
    if (parts == 1)   /* no OpenMP region: it costs microseconds, a tenth of a small depthwise conv */
        return planes(s, x, w, y, ep, 0, tasks, ctx);
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++) {
        int t0 = (int)((long long)tasks * p / parts), t1 = (int)((long long)tasks * (p + 1) / parts);
        if (planes(s, x, w, y, ep, t0, t1, ctx) != CL_OK) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
        }
    }
    return rc;
}

/* One channel: x (h x w) -> y (oh x ow). plane: the padded plane, borders already zero. */
static void channel(const cl_conv_shape *s, const float *x, const float *k, float *y, float bias, float slope,
                    int act, float *plane, float *acc)
{
    ptrdiff_t pw = s->pl + s->w + s->pr;
    for (int r = 0; r < s->h; r++)
        memcpy(plane + (s->pt + r) * pw + s->pl, x + (ptrdiff_t)r * s->w, (size_t)s->w * sizeof(float));
    for (int oy = 0; oy < s->oh; oy++) {
        for (int ox = 0; ox < s->ow; ox++)
            acc[ox] = 0.0f;
        for (int i = 0; i < s->kh; i++) {
            const float *row = plane + (ptrdiff_t)(oy * s->sh + i * s->dh) * pw;
            for (int j = 0; j < s->kw; j++) {
                float kij = k[i * s->kw + j];
                const float *src = row + j * s->dw;
                if (s->sw == 1)   /* unit stride: the case the compiler vectorises best */
                    for (int ox = 0; ox < s->ow; ox++)
                        acc[ox] += kij * src[ox];
                else
                    for (int ox = 0; ox < s->ow; ox++)
                        acc[ox] += kij * src[ox * s->sw];
            }
        }
        float *out = y + (ptrdiff_t)oy * s->ow;
        for (int ox = 0; ox < s->ow; ox++)
            out[ox] = act == CL_ACT_SIGMOID ? acc[ox] + bias : cl_act1(acc[ox] + bias, act, slope);
    }
    if (act == CL_ACT_SIGMOID)
        cl_sigmoid_inplace(y, (size_t)s->oh * s->ow);
}

static int kxk_planes(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                      int t0, int t1, const void *ctx)
{
    ptrdiff_t plane_size = (ptrdiff_t)(s->pt + s->h + s->pb) * (s->pl + s->w + s->pr);
    float *plane = calloc((size_t)(plane_size + s->ow), sizeof(float));
    if (!plane)
        return CL_ENOMEM;
    int taps = s->kh * s->kw;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    for (int t = t0; t < t1; t++) {
        int c = t % s->c_in;
        channel(s, x + t * in_plane, w + (ptrdiff_t)c * taps, y + t * out_plane,
                ep && ep->bias ? ep->bias[c] : 0.0f, ep && ep->slope ? ep->slope[c] : 0.0f,
                ep ? ep->act : CL_ACT_NONE, plane, plane + plane_size);
    }
    free(plane);
    return CL_OK;
}

int cl_dwconv_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in)
        return CL_EINVAL;
    if (s->kh == 3 && s->kw == 3 && s->sh == s->sw && (s->sh == 1 || s->sh == 2) && s->dh == 1 && s->dw == 1)
        return cl_dwconv3x3_run(s, x, w, y, ep, nthreads);
    return cl_dw_split(s, x, w, y, ep, nthreads, kxk_planes, NULL);
}
