/* Depthwise 3x3 convolution, stride 1 or 2, any padding. Each thread takes a contiguous range of
 * (image, channel) planes. Input rows are copied, just before they are needed, into a small ring
 * of zero-bordered row buffers that stays in L1 (stride 2: split into even and odd columns on the
 * way), so the ISA's row kernel (dwconv3x3_<isa>.c) sees padding as plain zeros, needs no edge
 * cases and loads every tap with unit stride; each input row is read from memory once. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_dwconv.h"

enum { RING = 8 };   /* >= stride + 3 rows, the most two output rows read; a power of 2 */

typedef struct {
    float *buf;            /* RING rows of ld floats; columns outside the image stay zero */
    ptrdiff_t ld, half;
    int holds[RING];       /* input row held by each slot; NONE when unknown */
    int zero[RING];        /* the slot's row is all zeros */
    const cl_dw_kernels *k;
} ring;

enum { NONE = -1 << 30 };

static const float *ring_row(ring *r, const cl_conv_shape *s, const float *plane, int iy)
{
    int slot = iy & (RING - 1);   /* consecutive rows, negative ones too, get distinct slots */
    float *row = r->buf + slot * r->ld;
    if (r->holds[slot] != iy) {
        if (iy >= 0 && iy < s->h) {
            r->k->fill(row, plane + (ptrdiff_t)iy * s->w, s->w, s->pl, s->sh, r->half);
            r->zero[slot] = 0;
        } else if (!r->zero[slot]) {
            memset(row, 0, (size_t)r->ld * sizeof(float));
            r->zero[slot] = 1;
        }
        r->holds[slot] = iy;
    }
    return row;
}

static const cl_dw_kernels *kernels(void)
{
    const cl_dw_kernels *k = &cl_dw_scalar;
    switch (cl_isa()) {
    case CL_ISA_AVX512: k = &cl_dw_avx512; break;
    case CL_ISA_AVX2: k = &cl_dw_avx2; break;
    case CL_ISA_NEON: k = &cl_dw_neon; break;
    }
    return k->rows ? k : &cl_dw_scalar;
}

static int planes(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int t0, int t1, const cl_dw_kernels *k)
{
    int st = s->sh, act = ep ? ep->act : CL_ACT_NONE;
    ptrdiff_t reach = (s->ow > k->width ? s->ow : k->width) + 3;   /* output columns a vector may read */
    ptrdiff_t padded = s->pl + s->w + s->pr;
    ring r = {.k = k};
    if (st == 1) {
        r.ld = padded > reach ? padded : reach;
    } else {
        r.half = (padded + 1) / 2 > reach ? (padded + 1) / 2 : reach;
        r.ld = 2 * r.half;
    }
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
        cl_dw_rows job = {{0}, r.half, {0}, s->ow, st, w + 9 * c, ep && ep->bias ? ep->bias[c] : 0.0f,
                          ep && ep->slope ? ep->slope[c] : 0.0f, act == CL_ACT_SIGMOID ? CL_ACT_NONE : act};
        for (int oy = 0; oy < s->oh; oy += 2) {
            int two = oy + 1 < s->oh, nrows = two ? st + 3 : 3;
            for (int i = 0; i < nrows; i++)
                job.rows[i] = ring_row(&r, s, xp, oy * st - s->pt + i);
            job.y[0] = yp + (ptrdiff_t)oy * s->ow;
            job.y[1] = two ? job.y[0] + s->ow : NULL;
            k->rows(&job);
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
    int tasks = s->n * s->c_in, rc = CL_OK;
    const cl_dw_kernels *k = kernels();
    int parts = nthreads < tasks ? nthreads : tasks;
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++) {
        int t0 = (int)((long long)tasks * p / parts), t1 = (int)((long long)tasks * (p + 1) / parts);
        if (planes(s, x, w, y, ep, t0, t1, k) != CL_OK) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
        }
    }
    return rc;
}
