/* Direct convolution for few input channels: a network's first layer (3 -> 16..64 channels, 3x3
 * stride 2), where im2col spends more time gathering a strided column matrix of K = 27 rows than
 * the GEMM spends on it. Here the input rows a band of output rows reads are copied into zero-bordered
 * rows per channel whose columns are split by stride phase (padded column c of a row at
 * (c % sw) * phase + c / sw), so every tap of every output column is a unit-stride vector load; the
 * ISA's row kernel (conv_stem_impl.h) then computes 8 output channels of an output row at once from
 * each loaded input vector. The band (STEM_BAND output rows) keeps the copy in L2 and small: a
 * copy of the whole image (CenterFace's 3x480x800: 4.8 MB) was a fresh allocation per call, its
 * pages faulted in and cleared every time.
 * Every output sums its taps in the same order (channel, row, column) whatever the thread count. */
#include <stdlib.h>
#include <string.h>

#include "cl_conv.h"
#include "cl_kernels.h"

enum { STEM_SLACK = 16 };   /* floats past each phase row: the row kernel's last vector */

typedef struct {
    const cl_conv_shape *s;
    const cl_stem_kernel *k;
    const float *x;             /* the image */
    ptrdiff_t row, phase, chan; /* floats per padded row, per phase, per channel of a band */
    const float *wt, *bias, *slope;   /* per block of CL_STEM_CO channels, zero-padded */
    float *y;                   /* the image's output */
    int act, ntaps, blocks;
    int flat;                   /* 1: a band's output rows are one run for the row kernel (stem_band_flat) */
} stem_job;

/* Output rows per band: their input rows (STEM_BAND * sh + kh - sh for 3x3 s2) are copied together. */
enum { STEM_BAND = 8 };

/* Padded input row pr (pt rows of padding above the image) into dst, split by column phase; dst's
 * padding columns are zero already and stay so (only the image's columns are written). */
static void copy_row(const stem_job *j, int ci, int pr, float *dst)
{
    const cl_conv_shape *s = j->s;
    int r = pr - s->pt;
    if (r < 0 || r >= s->h) {
        memset(dst, 0, sizeof(float) * (size_t)j->row);
        return;
    }
    const float *src = j->x + ((ptrdiff_t)ci * s->h + r) * s->w;
    if (s->sw == 2) {   /* the common stem: pairs (even, odd) split by the ISA's kernel */
        float *pe = dst, *po = dst + j->phase;
        int c = 0;
        if (s->pl & 1)
            po[s->pl / 2] = src[0], c = 1;
        int k0 = (s->pl + c) / 2, pairs = (s->w - c) / 2;
        j->k->split_pairs(src + c, pairs, pe + k0, po + k0);
        c += 2 * pairs;
        if (c < s->w)
            pe[(s->pl + c) / 2] = src[c];
        return;
    }
    if (s->sw == 1) {
        memcpy(dst + s->pl, src, sizeof(float) * (size_t)s->w);
        return;
    }
    for (int ph = 0; ph < s->sw; ph++) {   /* the input columns c with (pl + c) % sw == ph */
        int c0 = ((ph - s->pl) % s->sw + s->sw) % s->sw;
        float *d = dst + ph * j->phase + (s->pl + c0) / s->sw;
        for (int c = c0; c < s->w; c += s->sw)
            *d++ = src[c];
    }
}

/* Stride 1 on a narrow map (R-Net's stem: 22 of 24 columns): the band's padded rows lie back to back
 * (j->row = the padded width), so output pixel (oy, ox) of the band at flat column oy * row + ox reads
 * tap (ky, kx) at a fixed offset from it, and the row kernel runs once over all the band's rows, its
 * full vectors covering row ends, (kw - 1) * dw dropped columns per row computed and thrown away.
 * Row by row, a 22-wide row took a full and a 6-lane vector, each with its own broadcasts of the
 * weights. The result goes through `flat` (CL_STEM_CO rows of STEM_BAND * j->row) into the planes. */
static void stem_band_flat(const stem_job *j, const float *band, const float **tap, float *flat, int b0, int b1, int act)
{
    const cl_conv_shape *s = j->s;
    int n = (b1 - 1 - b0) * (int)j->row + s->ow, k = 0;
    ptrdiff_t ld = (ptrdiff_t)STEM_BAND * j->row;
    for (int ci = 0; ci < s->c_in; ci++)
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++)
                tap[k++] = band + ci * j->chan + (ptrdiff_t)ky * s->dh * j->row + kx * s->dw;
    for (int b = 0; b < j->blocks; b++) {
        int co0 = b * CL_STEM_CO;
        float *outs[CL_STEM_CO];
        for (int c = 0; c < CL_STEM_CO; c++)
            outs[c] = flat + c * ld;
        j->k->row(j->ntaps, tap, j->wt + (size_t)b * j->ntaps * CL_STEM_CO, outs, n, j->bias + co0, j->slope + co0, act);
        for (int c = 0; c < CL_STEM_CO && co0 + c < s->c_out; c++) {
            float *y = j->y + ((ptrdiff_t)(co0 + c) * s->oh + b0) * s->ow;
            j->k->copy_rows(outs[c], j->row, y, s->ow, b1 - b0, s->ow);
            if (j->act == CL_ACT_SIGMOID)
                cl_sigmoid_inplace(y, (size_t)(b1 - b0) * s->ow);
        }
    }
}

/* Output rows t0..t1-1, a band at a time into band (j->chan floats per channel, zeroed). A row is
 * done in chunks of STEM_CHUNK columns, every channel block of a chunk before the next chunk, so
 * the chunk's input (ntaps rows of it) stays in L1 while all the blocks read it: on a wide map
 * (CenterFace's 800) whole rows would be re-read from L2 per block. */
enum { STEM_CHUNK = 128 };
/* Stride-1 maps up to this padded width run flat (stem_band_flat). kernel_bench stem, min us, rows ->
 * flat, Zen 5 AVX-512: R-Net's 3->28 at 24x24 12.2 -> 7.4-8.7, 3->10 at 12x12 2.6 -> 2.1, O-Net's
 * 3->32 at 48x48 and 3->16 at 64x64 within noise (23-25 both); wider rows lose nothing to the row
 * split and their chunks keep a row's input in L1 (STEM_CHUNK). A whole map in one band (24 rows)
 * measured no better than 8. */
enum { FLAT_MAX_WIDTH = 64 };

static int stem_rows(const stem_job *j, float *band, int t0, int t1)
{
    const cl_conv_shape *s = j->s;
    const float **tap = malloc(sizeof *tap * (size_t)j->ntaps * 2);
    /* rows of padding channels, or stem_band_flat's output (copy_rows reads a vector past its end) */
    float *spare = malloc(sizeof(float) * ((j->flat ? CL_STEM_CO * STEM_BAND * (size_t)j->row : STEM_CHUNK) + STEM_SLACK));
    if (!tap || !spare) {
        free(tap), free(spare);
        return CL_ENOMEM;
    }
    const float **at = tap + j->ntaps;
    int act = j->act == CL_ACT_SIGMOID ? CL_ACT_NONE : j->act;
    for (int b0 = t0; b0 < t1; b0 += STEM_BAND) {
        int b1 = t1 - b0 < STEM_BAND ? t1 : b0 + STEM_BAND, first = b0 * s->sh;
        int rows = (b1 - 1 - b0) * s->sh + (s->kh - 1) * s->dh + 1;
        for (int ci = 0; ci < s->c_in; ci++)
            for (int r = 0; r < rows; r++)
                copy_row(j, ci, first + r, band + ci * j->chan + r * j->row);
        if (j->flat) {
            stem_band_flat(j, band, tap, spare, b0, b1, act);
            continue;
        }
        for (int oy = b0; oy < b1; oy++) {
            int k = 0;
            for (int ci = 0; ci < s->c_in; ci++)
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        int c = kx * s->dw;
                        tap[k++] = band + ci * j->chan + (ptrdiff_t)(oy * s->sh + ky * s->dh - first) * j->row
                                   + (c % s->sw) * j->phase + c / s->sw;
                    }
            for (int x0 = 0; x0 < s->ow; x0 += STEM_CHUNK) {
                int n = s->ow - x0 < STEM_CHUNK ? s->ow - x0 : STEM_CHUNK;
                for (k = 0; k < j->ntaps; k++)
                    at[k] = tap[k] + x0;
                for (int b = 0; b < j->blocks; b++) {
                    int co0 = b * CL_STEM_CO;
                    float *outs[CL_STEM_CO];
                    for (int c = 0; c < CL_STEM_CO; c++)
                        outs[c] = co0 + c < s->c_out ? j->y + ((ptrdiff_t)(co0 + c) * s->oh + oy) * s->ow + x0 : spare;
                    j->k->row(j->ntaps, at, j->wt + (size_t)b * j->ntaps * CL_STEM_CO, outs, n, j->bias + co0,
                              j->slope + co0, act);
                    if (j->act == CL_ACT_SIGMOID)
                        for (int c = 0; c < CL_STEM_CO && co0 + c < s->c_out; c++)
                            cl_sigmoid_inplace(outs[c], (size_t)n);
                }
            }
        }
    }
    free(tap), free(spare);
    return CL_OK;
}

int cl_stem_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK || s->groups != 1)
        return CL_EINVAL;
    int ntaps = s->c_in * s->kh * s->kw, blocks = (s->c_out + CL_STEM_CO - 1) / CL_STEM_CO;
    int pw = s->pl + s->w + s->pr, band_rows = (STEM_BAND - 1) * s->sh + (s->kh - 1) * s->dh + 1;
    int flat = s->sh == 1 && s->sw == 1 && pw <= FLAT_MAX_WIDTH;
    ptrdiff_t phase = (pw + s->sw - 1) / s->sw + (flat ? 0 : STEM_SLACK), row = s->sw * phase;
    ptrdiff_t chan = band_rows * row + (flat ? STEM_SLACK : 0);
    float *wt = calloc((size_t)blocks * ntaps * CL_STEM_CO, sizeof(float));
    float *bs = calloc((size_t)blocks * CL_STEM_CO * 2, sizeof(float));
    if (!wt || !bs) {
        free(wt), free(bs);
        return CL_ENOMEM;
    }
    /* weights as [block][tap][channel]: one contiguous row of CL_STEM_CO per tap */
    for (int co = 0; co < s->c_out; co++) {
        for (int t = 0; t < ntaps; t++)
            wt[((size_t)(co / CL_STEM_CO) * ntaps + t) * CL_STEM_CO + co % CL_STEM_CO] = w[(size_t)co * ntaps + t];
        bs[co] = ep && ep->bias ? ep->bias[co] : 0.0f;
        bs[blocks * CL_STEM_CO + co] = ep && ep->slope ? ep->slope[co] : 0.0f;
    }
    stem_job j = {s, cl_kernels()->stem, NULL, row, phase, chan, wt, bs, bs + blocks * CL_STEM_CO, NULL,
                  ep ? ep->act : CL_ACT_NONE, ntaps, blocks, flat};
    int rc = CL_OK;
    for (int n = 0; n < s->n && rc == CL_OK; n++) {
        j.x = x + (ptrdiff_t)n * s->c_in * s->h * s->w;
        j.y = y + (ptrdiff_t)n * s->c_out * s->oh * s->ow;
        /* whole bands per thread: a band's rows are copied once */
        int bands = (s->oh + STEM_BAND - 1) / STEM_BAND, parts = nthreads < bands ? nthreads : bands;
        CL_PARALLEL_FOR(parts)
        for (int p = 0; p < parts; p++) {
            float *band = calloc((size_t)s->c_in * (size_t)chan, sizeof(float));
            int t0 = (int)((long long)bands * p / parts) * STEM_BAND, t1 = (int)((long long)bands * (p + 1) / parts) * STEM_BAND;
            if (!band || stem_rows(&j, band, t0, t1 < s->oh ? t1 : s->oh) != CL_OK) {
                CL_ATOMIC_WRITE
                rc = CL_ENOMEM;
            }
            free(band);
        }
    }
    free(wt), free(bs);
    return rc;
}
