/* Depthwise 3x3 convolution, stride 1 or 2, any padding: one task per (image, channel), one
 * output row at a time. Rows above or below the image read a shared zero row; the columns whose
 * taps all fall inside the row go through the ISA's vector row kernel (dwconv3x3_<isa>.c), the
 * few at the edges (and the tail shorter than a vector) through the scalar point below. */
#include <stdlib.h>
#include "cl_conv.h"
#include "cl_dwconv.h"

static cl_dw_row_fn row_kernel(void)
{
    cl_dw_row_fn f = 0;
    switch (cl_isa()) {
    case CL_ISA_AVX512: f = cl_dw_row_avx512; break;
    case CL_ISA_AVX2: f = cl_dw_row_avx2; break;
    case CL_ISA_NEON: f = cl_dw_row_neon; break;
    }
    return f ? f : cl_dw_row_scalar;
}

/* One output column with bounds checks: the plain version the row kernels must match. */
static float dw_point(const cl_dw_row *r, int ox)
{
    float acc = 0.0f;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int ix = ox * r->stride - r->pl + j;
            if (ix >= 0 && ix < r->w)
                acc += r->k[3 * i + j] * r->rows[i][ix];
        }
    return cl_act1(acc + r->bias, r->act, r->slope);
}

static void dw_channel(const cl_conv_shape *s, const float *x, const float *k, float *y,
                       float bias, float slope, int act, const float *zeros, cl_dw_row_fn vec)
{
    int st = s->sh;
    /* first column whose leftmost tap is inside the row */
    int lo = (s->pl + st - 1) / st < s->ow ? (s->pl + st - 1) / st : s->ow;
    cl_dw_row r = {{0}, k, st, s->pl, s->w, bias, slope, act == CL_ACT_SIGMOID ? CL_ACT_NONE : act};
    for (int oy = 0; oy < s->oh; oy++) {
        for (int i = 0; i < 3; i++) {
            int iy = oy * st - s->pt + i;
            r.rows[i] = iy >= 0 && iy < s->h ? x + (ptrdiff_t)iy * s->w : zeros;
        }
        float *out = y + (ptrdiff_t)oy * s->ow;
        for (int ox = 0; ox < lo; ox++)
            out[ox] = dw_point(&r, ox);
        for (int ox = vec(&r, out, lo, s->ow); ox < s->ow; ox++)
            out[ox] = dw_point(&r, ox);
        if (act == CL_ACT_SIGMOID)
            cl_sigmoid_inplace(out, (size_t)s->ow);
    }
}

int cl_dwconv3x3_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                     const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in || s->kh != 3 || s->kw != 3 ||
        s->sh != s->sw || (s->sh != 1 && s->sh != 2) || s->dh != 1 || s->dw != 1)
        return CL_EINVAL;
    float *zeros = calloc((size_t)s->w, sizeof(float));
    if (!zeros)
        return CL_ENOMEM;
    cl_dw_row_fn vec = row_kernel();
    int tasks = s->n * s->c_in, act = ep ? ep->act : CL_ACT_NONE;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    CL_PARALLEL_FOR(nthreads)
    for (int t = 0; t < tasks; t++) {
        int c = t % s->c_in;
        dw_channel(s, x + t * in_plane, w + 9 * c, y + t * out_plane,
                   ep && ep->bias ? ep->bias[c] : 0.0f, ep && ep->slope ? ep->slope[c] : 0.0f,
                   act, zeros, vec);
    }
    free(zeros);
    return CL_OK;
}
