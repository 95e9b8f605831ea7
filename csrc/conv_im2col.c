/* im2col + GEMM: per image and group, Y (c_out/g x OH*OW) = W (c_out/g x K) * X_col (K x OH*OW),
 * K = (c_in/g)*kh*kw, with the bias and activation fused in the GEMM's epilogue. X_col is never
 * built: its NR-column panels are packed straight from the image (pack_im2col), KC rows at a time. */
#include <stdlib.h>
#include <string.h>
#include "cl_conv.h"
#include "cl_gemm.h"

struct cl_im2col {
    int c_out, cig, kh, kw, groups;
    cl_gemm_a *a[];                 /* one packed weight matrix per group */
};

typedef struct {
    const cl_conv_shape *s;
    const float *x;                 /* first channel of this image and group */
    /* Small maps: x copied once into zero-bordered planes of hp x wp (padded_plane floats each);
     * stride 2 (pack_gathered) adds, for each tap, the offset in such a plane of every output
     * pixel's input; stride 1 (pack_flat) needs none. */
    const float *padded;
    const int *offsets;
    ptrdiff_t padded_plane;
} im2col_ctx;

/* pack_im2col copies run by run, a run per output row per panel row: short rows make that its
 * cost (4x5 maps: 2304 runs of five for a 256-channel 3x3 conv, 55% of its time). Instead the
 * input is copied into zero-bordered planes first, then
 * - stride 1, maps up to FLAT_MAX_PIXELS: each row of X_col is one run of a plane (pack_flat),
 *   im2col/c 0.69-0.77x the time run by run (32->64 @23x23 0.172 -> 0.132 ms, 64->64 @30x40
 *   0.769 -> 0.528, 16->16 @56x56 0.314 -> 0.153, 64->64 @56x56 1.97 -> 1.33; larger maps not
 *   measured);
 * - other strides, output rows under GATHER_MAX_OW and maps up to GATHER_MAX_PIXELS: a gather
 *   through a per-call offset table (pack_gathered). */
#define FLAT_MAX_PIXELS 4096
#define GATHER_MAX_OW 16
#define GATHER_MAX_PIXELS 1024
/* Up to this many output pixels X_col is gathered whole (K x npix, row-major) and multiplied with
 * A^T panels on hand (cl_gemm's narrow path: pixels broadcast, output channels on lanes): NR-column
 * panels would be mostly padding (a 2x2 conv over a 4x4 map: 11 flat columns of 32). kernel_bench,
 * min us, panels -> narrow, Zen 5 AVX-512: 48->64 2x2 at 4x4 5.6 -> 2.6, 64->128 2x2 at 4x4
 * 11.7 -> 4.7, 64->64 3x3 at 8x8 28 -> 20, 256->256 at 6x6 173 -> 108, 128->128 at 7x7 pad 1
 * 94 -> 78; AVX2 alike (0.6-0.8); but 64->64 at 10x10 (64 pixels) 38 -> 55: a 576-deep A^T panel
 * no longer stays in L1 across the pixel tiles and the gather costs as much as the panels saved. */
#define NARROW_MAX_PIXELS 49

static int is_plain_gemm(const cl_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 &&
           !(s->pt | s->pl | s->pb | s->pr);
}

/* Row k of X_col is input channel k/(kh*kw) shifted by tap (i, j); column n is output pixel
 * (n / ow, n % ow). Each panel row is filled run by run, a run being the panel's columns that
 * fall in one output row: zeros where the tap reads padding, a (strided) copy elsewhere. */
static void pack_run(float *restrict dst, const float *restrict row, int ix0, int run, int sw, int w)
{
    /* t in [lo, hi) reads inside the row: ix0 + t * sw in [0, w). Divisions only at the edges:
     * per run they would cost as much as the copy. */
    int lo = 0, hi = run;
    if (ix0 < 0)
        lo = (-ix0 + sw - 1) / sw < run ? (-ix0 + sw - 1) / sw : run;
    if (ix0 + (run - 1) * sw >= w)
        hi = w - ix0 <= 0 ? 0 : (w - ix0 + sw - 1) / sw;
    hi = hi < lo ? lo : hi;
    /* plain loops, not memset/memcpy: runs are a panel's width or less, shorter than a call */
    for (int t = 0; t < lo; t++)
        dst[t] = 0.0f;
    if (sw == 1)
        for (int t = lo; t < hi; t++)
            dst[t] = row[ix0 + t];
    else if (sw == 2)   /* a constant stride the compiler vectorises (stride-2 stems) */
        for (int t = lo; t < hi; t++)
            dst[t] = row[ix0 + 2 * t];
    else
        for (int t = lo; t < hi; t++)
            dst[t] = row[ix0 + t * sw];
    for (int t = hi; t < run; t++)
        dst[t] = 0.0f;
}

/* X_col's rows in order: tap (i, j) of channel ci, stepped without dividing per row. */
static inline void next_tap(const cl_conv_shape *s, int *ci, int *i, int *j)
{
    if (++*j == s->kw) {
        *j = 0;
        if (++*i == s->kh)
            *i = 0, ++*ci;
    }
}

/* A panel row's columns past the matrix are zero; returns the next row. */
static inline float *end_panel_row(float *dst, int cols, int nr)
{
    for (int q = cols; q < nr; q++)
        dst[q] = 0.0f;
    return dst + nr;
}

static void pack_im2col(const cl_bsrc *src, int k0, int kc, int n0, int nc, int nr, float *dst)
{
    const im2col_ctx *c = src->ctx;
    const cl_conv_shape *s = c->s;
    int taps = s->kh * s->kw;
    for (int p = 0; p < nc; p += nr) {
        int cols = nc - p < nr ? nc - p : nr;
        int oy0 = (n0 + p) / s->ow, ox0 = (n0 + p) % s->ow;
        /* row k = (channel ci, tap i, j), stepped without dividing per row */
        int ci = k0 / taps, i = k0 % taps / s->kw, j = k0 % s->kw;
        for (int k = k0; k < k0 + kc; k++) {
            const float *plane = c->x + (ptrdiff_t)ci * s->h * s->w;
            int oy = oy0, ox = ox0;
            for (int q = 0; q < cols;) {
                int run = s->ow - ox < cols - q ? s->ow - ox : cols - q;
                int iy = oy * s->sh - s->pt + i * s->dh;
                int ix0 = ox * s->sw - s->pl + j * s->dw;   /* input column of the run's first */
                if (iy < 0 || iy >= s->h) {
                    memset(dst + q, 0, (size_t)run * sizeof(float));
                } else {
                    pack_run(dst + q, plane + (ptrdiff_t)iy * s->w, ix0, run, s->sw, s->w);
                }
                q += run;
                oy++;
                ox = 0;
            }
            dst = end_panel_row(dst, cols, nr);
            next_tap(s, &ci, &i, &j);
        }
    }
}

static void pack_gathered(const cl_bsrc *src, int k0, int kc, int n0, int nc, int nr, float *dst)
{
    const im2col_ctx *c = src->ctx;
    int taps = c->s->kh * c->s->kw, npix = src->N;
    for (int p = 0; p < nc; p += nr) {
        int cols = nc - p < nr ? nc - p : nr;
        const float *plane = c->padded + (ptrdiff_t)(k0 / taps) * c->padded_plane;
        for (int k = k0, tap = k0 % taps; k < k0 + kc; k++) {
            const int *off = c->offsets + (ptrdiff_t)tap * npix + n0 + p;
            for (int q = 0; q < cols; q++)
                dst[q] = plane[off[q]];
            dst = end_panel_row(dst, cols, nr);
            if (++tap == taps) {
                tap = 0;
                plane += c->padded_plane;
            }
        }
    }
}

/* Stride 1 on zero-bordered planes: tap (i, j) of the output pixel at flat column n = oy * wp + ox
 * reads the plane at n + i * dh * wp + j * dw, so a row of X_col over these flat columns is one
 * contiguous run. The columns ox >= ow (ow..wp-1 of each row but the last: (kw - 1) * dw per row)
 * are computed and dropped (compact_flat): 2 in 23 for a 3x3 at 21 wide, and on a 4x5 map 26 flat
 * columns fill the one 32-column panel the 20 real ones would. */
static void pack_flat(const cl_bsrc *src, int k0, int kc, int n0, int nc, int nr, float *dst)
{
    const im2col_ctx *c = src->ctx;
    const cl_conv_shape *s = c->s;
    int wp = s->w + s->pl + s->pr;
    for (int p = 0; p < nc; p += nr) {
        int cols = nc - p < nr ? nc - p : nr;
        int ci = k0 / (s->kh * s->kw), i = k0 % (s->kh * s->kw) / s->kw, j = k0 % s->kw;
        for (int k = k0; k < k0 + kc; k++) {
            const float *run = c->padded + ci * c->padded_plane + (ptrdiff_t)i * s->dh * wp + j * s->dw + n0 + p;
            for (int q = 0; q < cols; q++)
                dst[q] = run[q];
            dst = end_panel_row(dst, cols, nr);
            next_tap(s, &ci, &i, &j);
        }
    }
}

/* The flat columns of pack_flat's product (rows of ldf) into the output planes (oh x ow). */
static void compact_flat(const cl_conv_shape *s, int rows, const float *flat, int ldf, float *y)
{
    int wp = s->w + s->pl + s->pr;
    for (int r = 0; r < rows; r++)
        for (int oy = 0; oy < s->oh; oy++)
            memcpy(y + ((ptrdiff_t)r * s->oh + oy) * s->ow, flat + (ptrdiff_t)r * ldf + (ptrdiff_t)oy * wp,
                   sizeof(float) * (size_t)s->ow);
}

/* The zero-bordered planes for pack_flat / pack_gathered, for one image and group, and for the
 * gather (with_offsets) its offset table; NULL, and the caller packs run by run, if they cannot be
 * allocated. */
static float *padded_setup(const cl_conv_shape *s, const float *x, int cig, int with_offsets, int **offsets,
                           ptrdiff_t *plane)
{
    int hp = s->h + s->pt + s->pb, wp = s->w + s->pl + s->pr, taps = s->kh * s->kw, npix = s->oh * s->ow;
    *plane = (ptrdiff_t)hp * wp;
    float *padded = calloc((size_t)cig * (size_t)*plane, sizeof(float));
    *offsets = with_offsets ? malloc(sizeof(int) * (size_t)taps * (size_t)npix) : NULL;
    if (!padded || (with_offsets && !*offsets)) {
        free(padded);
        free(*offsets);
        return NULL;
    }
    for (int c = 0; c < cig; c++)
        for (int y = 0; y < s->h; y++)
            memcpy(padded + c * *plane + (ptrdiff_t)(y + s->pt) * wp + s->pl, x + ((ptrdiff_t)c * s->h + y) * s->w,
                   sizeof(float) * (size_t)s->w);
    if (!with_offsets)
        return padded;
    for (int i = 0; i < s->kh; i++)
        for (int j = 0; j < s->kw; j++)
            for (int n = 0; n < npix; n++)
                (*offsets)[(i * s->kw + j) * npix + n] = (n / s->ow * s->sh + i * s->dh) * wp + n % s->ow * s->sw + j * s->dw;
    return padded;
}

cl_im2col *cl_im2col_prepare(const cl_conv_shape *s, const float *w)
{
    if (cl_conv_shape_check(s) != CL_OK || !w)
        return NULL;
    int g = s->groups, cog = s->c_out / g, k = s->c_in / g * s->kh * s->kw;
    cl_im2col *p = calloc(1, sizeof *p + (size_t)g * sizeof(cl_gemm_a *));
    if (!p)
        return NULL;
    *p = (cl_im2col){s->c_out, s->c_in / g, s->kh, s->kw, g};
    for (int gi = 0; gi < g; gi++)
        if (!(p->a[gi] = (is_plain_gemm(s) || s->oh * s->ow <= NARROW_MAX_PIXELS ? cl_gemm_pack_a_pointwise
                                                                               : cl_gemm_pack_a)(cog, k, w + (ptrdiff_t)gi * cog * k, k))) {
            cl_im2col_free(p);
            return NULL;
        }
    return p;
}

void cl_im2col_free(cl_im2col *p)
{
    if (!p)
        return;
    for (int g = 0; g < p->groups; g++)
        cl_gemm_free_a(p->a[g]);
    free(p);
}

/* One image and group of a tiny map through the narrow path: X_col gathered whole from zero-bordered
 * planes, then one cl_gemm. CL_ENOMEM if the buffers cannot be had (the caller packs panels then). */
static int run_narrow(const cl_gemm_a *a, const cl_conv_shape *s, int cig, const float *xg, float *yg,
                      const cl_epilogue *ep, int nthreads)
{
    int npix = s->oh * s->ow, k = cig * s->kh * s->kw;
    im2col_ctx ctx = {.s = s};
    cl_bsrc src = {.K = k, .N = npix, .ctx = &ctx};
    int *offsets;
    float *padded = padded_setup(s, xg, cig, 1, &offsets, &ctx.padded_plane);
    float *xcol = padded ? malloc(sizeof(float) * (size_t)k * (size_t)npix) : NULL;
    int rc = CL_ENOMEM;
    if (xcol) {
        ctx.padded = padded;
        ctx.offsets = offsets;
        pack_gathered(&src, 0, k, 0, npix, npix, xcol);
        rc = cl_gemm(a, npix, xcol, npix, yg, npix, ep, nthreads);
    }
    free(xcol);
    free(padded);
    free(offsets);
    return rc;
}

int cl_im2col_run(const cl_im2col *p, const cl_conv_shape *s, const float *x, float *y,
                  const cl_epilogue *ep, int nthreads)
{
    if (!p || !x || !y || cl_conv_shape_check(s) != CL_OK || s->c_out != p->c_out ||
        s->c_in / s->groups != p->cig || s->kh != p->kh || s->kw != p->kw || s->groups != p->groups)
        return CL_EINVAL;
    int g = s->groups, cig = p->cig, cog = s->c_out / g, npix = s->oh * s->ow;
    int k = cig * s->kh * s->kw;
    ptrdiff_t in_plane = (ptrdiff_t)s->h * s->w;
    for (int b = 0; b < s->n; b++)
        for (int gi = 0; gi < g; gi++) {
            const float *xg = x + ((ptrdiff_t)b * s->c_in + (ptrdiff_t)gi * cig) * in_plane;
            float *yg = y + ((ptrdiff_t)b * s->c_out + (ptrdiff_t)gi * cog) * npix;
            im2col_ctx ctx = {.s = s, .x = xg};
            cl_bsrc src = {.pack = pack_im2col, .K = k, .N = npix, .data = xg, .ld = in_plane, .ctx = &ctx};
            cl_epilogue e = cl_epilogue_from(ep, gi * cog);
            if (p->a[gi]->at && !is_plain_gemm(s) && npix <= NARROW_MAX_PIXELS) {
                int rc = run_narrow(p->a[gi], s, cig, xg, yg, &e, nthreads);
                if (rc == CL_OK)
                    continue;
                if (rc != CL_ENOMEM)
                    return rc;
            }
            int *offsets = NULL;
            float *padded = NULL, *flat = NULL;
            int unit = s->sh == 1 && s->sw == 1;
            if (!is_plain_gemm(s) && (unit ? npix <= FLAT_MAX_PIXELS : s->ow < GATHER_MAX_OW && npix <= GATHER_MAX_PIXELS)
                && (padded = padded_setup(s, xg, cig, !unit, &offsets, &ctx.padded_plane))) {
                ctx.padded = padded;
                ctx.offsets = offsets;
                src.pack = unit ? pack_flat : pack_gathered;
                if (unit) {
                    src.N = (s->oh - 1) * (s->w + s->pl + s->pr) + s->ow;
                    if (!(flat = malloc(sizeof(float) * (size_t)cog * (size_t)src.N))) {
                        free(padded);
                        return CL_ENOMEM;
                    }
                }
            }
            int rc = is_plain_gemm(s) ? cl_gemm(p->a[gi], npix, xg, npix, yg, npix, &e, nthreads)
                                      : cl_gemm_src(p->a[gi], &src, flat ? flat : yg, flat ? src.N : npix, &e, nthreads);
            if (flat && rc == CL_OK)
                compact_flat(s, cog, flat, src.N, yg);
            free(padded);
            free(offsets);
            free(flat);
            if (rc != CL_OK)
                return rc;
        }
    return CL_OK;
}
