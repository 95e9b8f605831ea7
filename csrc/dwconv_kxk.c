/* The general depthwise kernel: any kernel size, stride, padding and dilation (MobileFaceNet's
 * global 7x7, 5x5 layers), reached through cl_dwconv_run (dwconv.c).
 *
 * It copies a channel once into a zero-bordered plane whose columns are split by
 * stride phase, so no tap needs a bounds test and every tap is a unit-stride vector load; the
 * ISA's row kernel (dwconv_kxk_impl.h, built per ISA in dwconv_kxk_<isa>.c) computes a row of
 * outputs. Every output sums its taps in row-major order and then adds the bias, so results do
 * not depend on the thread count or where a column falls in the vectors. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_dwconv.h"
#include "cl_kernels.h"

/* The zero-bordered plane of one channel, its columns split by phase so that every tap is a
 * unit-stride load: padded column c of padded row r is at r * row + (c % sw) * phase + c / sw.
 * Each phase row has CL_DW_SLACK floats past its last column for the row kernel's last vector. */
enum { CL_DW_SLACK = 16 };
typedef struct {
    float *buf;
    ptrdiff_t row, phase;
    const float **tap;      /* the row kernel's tap pointers */
    ptrdiff_t *off;         /* tap t of output row 0 column 0, relative to buf */
} kxk_plane;

static void channel(const cl_conv_shape *s, const cl_dw_kxk_kernel *kern, const kxk_plane *p, const float *x,
                    const float *k, float *y, float bias, float slope, int act)
{
    for (int r = 0; r < s->h; r++) {
        float *dst = p->buf + (s->pt + r) * p->row;
        const float *src = x + (ptrdiff_t)r * s->w;
        if (s->sw == 1)
            memcpy(dst + s->pl, src, (size_t)s->w * sizeof(float));
        else   /* phase by phase: the input columns c with (pl + c) % sw == ph */
            for (int ph = 0; ph < s->sw; ph++) {
                int c0 = ((ph - s->pl) % s->sw + s->sw) % s->sw;
                float *d = dst + ph * p->phase + (s->pl + c0) / s->sw;
                for (int c = c0; c < s->w; c += s->sw)
                    *d++ = src[c];
            }
    }
    int ntaps = s->kh * s->kw;
    for (int oy = 0; oy < s->oh; oy++) {
        for (int t = 0; t < ntaps; t++)
            p->tap[t] = p->buf + (ptrdiff_t)oy * s->sh * p->row + p->off[t];
        kern->row(ntaps, p->tap, k, y + (ptrdiff_t)oy * s->ow, s->ow, bias, slope,
                      act == CL_ACT_SIGMOID ? CL_ACT_NONE : act);
    }
    if (act == CL_ACT_SIGMOID)
        cl_sigmoid_inplace(y, (size_t)s->oh * s->ow);
}

static int kxk_planes(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                      int t0, int t1, const void *ctx)
{
    int ntaps = s->kh * s->kw, pw = s->pl + s->w + s->pr;
    kxk_plane p;
    p.phase = (pw + s->sw - 1) / s->sw + CL_DW_SLACK;
    p.row = s->sw * p.phase;
    p.buf = calloc((size_t)((s->pt + s->h + s->pb) * p.row), sizeof(float));
    p.tap = malloc((size_t)ntaps * sizeof *p.tap);
    p.off = malloc((size_t)ntaps * sizeof *p.off);
    if (!p.buf || !p.tap || !p.off) {
        free(p.buf), free(p.tap), free(p.off);
        return CL_ENOMEM;
    }
    for (int i = 0; i < s->kh; i++)
        for (int j = 0; j < s->kw; j++)
            p.off[i * s->kw + j] = (ptrdiff_t)i * s->dh * p.row + j * s->dw % s->sw * p.phase + j * s->dw / s->sw;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    for (int t = t0; t < t1; t++) {
        int c = t % s->c_in;
        channel(s, ctx, &p, x + t * in_plane, w + (ptrdiff_t)c * ntaps, y + t * out_plane,
                ep && ep->bias ? ep->bias[c] : 0.0f, ep && ep->slope ? ep->slope[c] : 0.0f,
                ep ? ep->act : CL_ACT_NONE);
    }
    free(p.buf), free(p.tap), free(p.off);
    return CL_OK;
}

int cl_dwconv_kxk_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                      const cl_epilogue *ep, int nthreads)
{
    return cl_dw_split(s, x, w, y, ep, nthreads, kxk_planes, cl_kernels()->dw_kxk);
}
