/* Depthwise 3x3 convolution, stride 1 or 2, any padding. Each thread takes a contiguous range of
 * (image, channel) planes. Input rows are copied, just before they are needed, into a small ring
 * of zero-bordered row buffers that stays in L1, so the ISA's row kernel (dwconv3x3_<isa>.c) sees
 * padding as plain zeros and needs no edge cases, and each input row is read from memory once. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_dwconv.h"

enum { RING = 6 };   /* > stride + 3 rows, the most two output rows read */

typedef struct {
    float *buf;            /* RING rows of ld floats; columns outside [pl, pl + w) stay zero */
    ptrdiff_t ld;
    int holds[RING];       /* input row held by each slot; NONE when unknown */
    int zero[RING];        /* the slot's row is all zeros */
} ring;

enum { NONE = -1 << 30 };

static const float *ring_row(ring *r, const cl_conv_shape *s, const float *plane, int iy)
{
    int slot = ((iy % RING) + RING) % RING;
    float *row = r->buf + slot * r->ld;
    if (r->holds[slot] != iy) {
        if (iy >= 0 && iy < s->h) {
            memcpy(row + s->pl, plane + (ptrdiff_t)iy * s->w, (size_t)s->w * sizeof(float));
            r->zero[slot] = 0;
        } else if (!r->zero[slot]) {
            memset(row + s->pl, 0, (size_t)s->w * sizeof(float));
            r->zero[slot] = 1;
        }
        r->holds[slot] = iy;
    }
    return row;
}

static cl_dw_rows_fn row_kernel(int *width)
{
    cl_dw_rows_fn f = 0;
    switch (cl_isa()) {
    case CL_ISA_AVX512: f = cl_dw_rows_avx512, *width = cl_dw_width_avx512; break;
    case CL_ISA_AVX2: f = cl_dw_rows_avx2, *width = cl_dw_width_avx2; break;
    case CL_ISA_NEON: f = cl_dw_rows_neon, *width = cl_dw_width_neon; break;
    }
    if (!f)
        f = cl_dw_rows_scalar, *width = cl_dw_width_scalar;
    return f;
}

static int planes(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int t0, int t1, cl_dw_rows_fn kernel, int vw)
{
    int st = s->sh, act = ep ? ep->act : CL_ACT_NONE;
    int ow_v = s->ow > vw ? s->ow : vw;
    ring r = {0};
    r.ld = s->pl + s->w + s->pr;
    if (r.ld < (ptrdiff_t)(ow_v - 1) * st + 4)
        r.ld = (ptrdiff_t)(ow_v - 1) * st + 4;
    if (!(r.buf = calloc((size_t)(r.ld * RING), sizeof(float))))
        return CL_ENOMEM;
    for (int i = 0; i < RING; i++)
        r.zero[i] = 1;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w, out_plane = (ptrdiff_t)s->oh * s->ow;
    for (int t = t0; t < t1; t++) {
        int c = t % s->c_in;
        const float *xp = x + t * in_plane;
        float *yp = y + t * out_plane;
        for (int i = 0; i < RING; i++)
            r.holds[i] = NONE;
        cl_dw_rows job = {{0}, {0}, s->ow, st, w + 9 * c, ep && ep->bias ? ep->bias[c] : 0.0f,
                          ep && ep->slope ? ep->slope[c] : 0.0f, act == CL_ACT_SIGMOID ? CL_ACT_NONE : act};
        for (int oy = 0; oy < s->oh; oy += 2) {
            int two = oy + 1 < s->oh, nrows = two ? st + 3 : 3;
            for (int i = 0; i < nrows; i++)
                job.rows[i] = ring_row(&r, s, xp, oy * st - s->pt + i);
            job.y[0] = yp + (ptrdiff_t)oy * s->ow;
            job.y[1] = two ? job.y[0] + s->ow : NULL;
            kernel(&job);
        }
        if (act == CL_ACT_SIGMOID)
            cl_sigmoid_inplace(yp, (size_t)out_plane);
    }
    free(r.buf);
    return CL_OK;
}

int cl_dwconv3x3_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                     const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in || s->kh != 3 || s->kw != 3 ||
        s->sh != s->sw || (s->sh != 1 && s->sh != 2) || s->dh != 1 || s->dw != 1)
        return CL_EINVAL;
    int vw, tasks = s->n * s->c_in, rc = CL_OK;
    cl_dw_rows_fn kernel = row_kernel(&vw);
    int parts = nthreads < tasks ? nthreads : tasks;
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++) {
        int t0 = (int)((long long)tasks * p / parts), t1 = (int)((long long)tasks * (p + 1) / parts);
        if (planes(s, x, w, y, ep, t0, t1, kernel, vw) != CL_OK) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
        }
    }
    return rc;
}
