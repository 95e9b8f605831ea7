/* The native engine (cl_engine.h): checks a compiled plan once, prepares its convs, runs it.
 *
 * Every op reads and writes through offsets that cl_engine_create has bounded: the per-op
 * `extent` functions below say how far a step reaches, and create refuses a step that reaches
 * outside the arena or the constant blob. The ops themselves are plain loops; the convs are the
 * lab's kernels (im2col-GEMM, Winograd, depthwise, direct), chosen per layer by the compiler. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_conv.h"
#include "cl_engine.h"
#include "cl_gemm.h"
#include "cl_pool.h"
#include "cl_winograd.h"

typedef struct {
    void *prep;                 /* cl_im2col / cl_winograd / cl_gemm_a, per op */
    void *prep2;                /* ConvTranspose: the packed A of each group after the first */
} cl_prepared;

struct cl_engine {
    cl_step *steps;
    cl_prepared *prep;
    int nsteps;
    const unsigned char *consts;
    int64_t const_bytes, arena_floats;
};

/* ---------------------------------------------------------------- checks */

typedef struct {
    const cl_engine *e;
    char *why;
    int why_len;
} cl_checker;

static int refuse(cl_checker *c, const char *fmt, ...)
{
    if (c->why && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, (size_t)c->why_len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int arena_span(cl_checker *c, int64_t off, int64_t n, const char *what)
{
    char fmt[96];
    if (off < 0 || n < 0 || off > c->e->arena_floats - n) {
        snprintf(fmt, sizeof fmt, "%s at float %%lld (%%lld floats) is outside the arena", what);
        return refuse(c, fmt, (long long)off, (long long)n);
    }
    return 1;
}

static int const_span(cl_checker *c, int64_t off, int64_t bytes, const char *what)
{
    char fmt[96];
    if (off < 0 || bytes < 0 || off % 4 != 0 || off > c->e->const_bytes - bytes) {
        snprintf(fmt, sizeof fmt, "%s at byte %%lld (%%lld bytes) is outside the constants or misaligned", what);
        return refuse(c, fmt, (long long)off, (long long)bytes);
    }
    return 1;
}

static const float *cf(const cl_engine *e, int64_t off) { return off < 0 ? NULL : (const float *)(e->consts + off); }

/* The product of n ints, or -1 if one is negative or the product leaves int64. */
static int64_t product(const int *v, int n)
{
    int64_t p = 1;
    for (int k = 0; k < n; k++) {
        if (v[k] < 0 || (v[k] && p > INT64_MAX / v[k]))
            return -1;
        p *= v[k];
    }
    return p;
}

/* The lowest offset a strided walk over dims reaches (<= 0: strides may be negative, a reversed
 * Slice) in *low, and returns 1 + the highest (0 for an empty walk); -1 for negative dims. */
static int64_t strided_reach(int ndim, const int *dims, const int *strides, int64_t *low)
{
    int64_t top = 0;
    *low = 0;
    for (int k = 0; k < ndim; k++) {
        if (dims[k] <= 0)
            return dims[k] == 0 ? 0 : -1;
        int64_t step = (int64_t)(dims[k] - 1) * strides[k];
        if (step < 0)
            *low += step;
        else
            top += step;
    }
    return top + 1;
}

/* 1 + the largest offset of a walk whose strides may not be negative; -1 if one is. */
static int64_t strided_extent(int ndim, const int *dims, const int *strides)
{
    int64_t low;
    int64_t top = strided_reach(ndim, dims, strides, &low);
    return low < 0 ? -1 : top;
}

static cl_conv_shape conv_shape_of(const cl_step *s)
{
    const int *i = s->i;
    cl_conv_shape cs = {i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8], i[9],
                        i[10], i[11], i[12], i[13], i[14], i[15], i[16], i[17]};
    return cs;
}

static int act_ok(int act) { return act >= CL_ACT_NONE && act <= CL_ACT_HARDSWISH; }

static int check_conv(cl_checker *c, const cl_step *s)
{
    cl_conv_shape cs = conv_shape_of(s);
    if (cl_conv_shape_check(&cs) != CL_OK)
        return refuse(c, "inconsistent conv shape");
    if (s->sub < CL_CONV_IM2COL || s->sub > CL_CONV_STEM || !act_ok(s->act))
        return refuse(c, "unknown conv kernel %d or activation %d", s->sub, s->act);
    int64_t nin = (int64_t)cs.n * cs.c_in * cs.h * cs.w, nout = (int64_t)cs.n * cs.c_out * cs.oh * cs.ow;
    int64_t nw = (int64_t)cs.c_out * (cs.c_in / cs.groups) * cs.kh * cs.kw;
    return arena_span(c, s->in[0], nin, "conv input") && arena_span(c, s->out, nout, "conv output")
        && (s->in[1] < 0 || arena_span(c, s->in[1], nout, "residual"))
        && const_span(c, s->cst[0], 4 * nw, "conv weights")
        && (s->cst[1] < 0 || const_span(c, s->cst[1], 4 * (int64_t)cs.c_out, "bias"))
        && (s->cst[2] < 0 || const_span(c, s->cst[2], 4 * (int64_t)cs.c_out, "slopes"))
        && (s->act != CL_ACT_PRELU || s->cst[2] >= 0 || refuse(c, "PReLU without slopes"));
}

static int check_dims(cl_checker *c, const cl_step *s)
{
    int nd = s->i[0];
    if (nd < 1 || nd > CL_MAX_DIMS)
        return refuse(c, "%d dims (1..%d supported)", nd, CL_MAX_DIMS);
    if (product(s->i + 1, nd) < 0)
        return refuse(c, "negative or overflowing dims");
    return 1;
}

/* An operand of a binary op: arena (in[k] >= 0) or constant (cst[k]). */
static int check_operand(cl_checker *c, const cl_step *s, int k, int64_t extent)
{
    if (s->in[k] >= 0)
        return arena_span(c, s->in[k], extent, k ? "operand b" : "operand a");
    return const_span(c, s->cst[k], 4 * extent, k ? "constant b" : "constant a");
}

static int check_step(cl_checker *c, const cl_step *s)
{
    const int *i = s->i;
    switch (s->op) {
    case CL_OP_CONV:
        return check_conv(c, s);
    case CL_OP_COPY: {
        if (!check_dims(c, s))
            return 0;
        int64_t low, eo = strided_extent(i[0], i + 1, i + 7), ei = strided_reach(i[0], i + 1, i + 13, &low);
        if (eo < 0 || ei < 0)
            return refuse(c, "negative dims or destination strides");
        return arena_span(c, s->in[0] + low, ei - low, "copy source") && arena_span(c, s->out, eo, "copy destination");
    }
    case CL_OP_BINARY: {
        if (!check_dims(c, s))
            return 0;
        int64_t ea = strided_extent(i[0], i + 1, i + 7), eb = strided_extent(i[0], i + 1, i + 13);
        if (ea < 0 || eb < 0 || s->sub < CL_BIN_ADD || s->sub > CL_BIN_PRELU || !act_ok(s->act))
            return refuse(c, "bad strides, operation %d or activation %d", s->sub, s->act);
        return check_operand(c, s, 0, ea) && check_operand(c, s, 1, eb)
            && arena_span(c, s->out, product(i + 1, i[0]), "binary output");
    }
    case CL_OP_UNARY:
        if (i[0] < 0 || s->sub < CL_UN_COPY || s->sub > CL_UN_CEIL)
            return refuse(c, "bad count %d or operation %d", i[0], s->sub);
        return arena_span(c, s->in[0], i[0], "unary input") && arena_span(c, s->out, i[0], "unary output");
    case CL_OP_SOFTMAX: {
        int64_t n = product(i, 3);
        if (n < 0 || i[1] < 1)
            return refuse(c, "bad softmax geometry %d x %d", i[0], i[1]);
        return arena_span(c, s->in[0], n, "softmax input") && arena_span(c, s->out, n, "softmax output");
    }
    case CL_OP_POOL: {
        for (int k = 0; k < 15; k++)
            if (i[k] < 0 || (k < 11 && i[k] == 0))
                return refuse(c, "bad pool parameter %d = %d", k, i[k]);
        if (s->sub < CL_POOL_MAX || s->sub > CL_POOL_AVG_INCLUDE_PAD)
            return refuse(c, "unknown pool %d", s->sub);
        /* ONNX's rules, which also bound the work: a window fits in the padded input, a pad is
         * shorter than the window, and outputs stop where windows would start in the end pad. */
        for (int d = 0; d < 2; d++) {
            int64_t size = i[1 + d], out = i[3 + d], k = i[5 + d], st = i[7 + d], dil = i[9 + d];
            int64_t pb = i[11 + d], pe = i[13 + d], span = (k - 1) * dil + 1;
            if (span > size + pb + pe || pb >= span || pe >= span || (out - 1) * st >= size + pb + pe)
                return refuse(c, "pool window %d (pads %d, %d) does not fit its %d-wide input", (int)span, (int)pb,
                              (int)pe, (int)size);
        }
        int64_t nin = (int64_t)i[0] * i[1] * i[2], nout = (int64_t)i[0] * i[3] * i[4];
        return arena_span(c, s->in[0], nin, "pool input") && arena_span(c, s->out, nout, "pool output");
    }
    case CL_OP_FC: {
        if (i[0] < 1 || i[1] < 1 || i[2] < 1 || !act_ok(s->act) || s->act == CL_ACT_PRELU)
            return refuse(c, "bad FC geometry (%d rows, %d deep) or activation", i[0], i[1]);
        return arena_span(c, s->in[0], (int64_t)i[0] * i[1], "FC input")
            && arena_span(c, s->out, (int64_t)i[0] * i[2], "FC output")
            && const_span(c, s->cst[0], 4 * (int64_t)i[1] * i[2], "FC weights")
            && (s->cst[1] < 0 || const_span(c, s->cst[1], 4 * (int64_t)i[2], "FC bias"));
    }
    case CL_OP_RESIZE: {
        for (int k = 0; k < 5; k++)
            if (i[k] < 1)
                return refuse(c, "bad resize parameter %d = %d", k, i[k]);
        if (s->sub != CL_RESIZE_NEAREST && s->sub != CL_RESIZE_LINEAR)
            return refuse(c, "unknown resize mode %d", s->sub);
        if (!(arena_span(c, s->in[0], (int64_t)i[0] * i[1] * i[2], "resize input")
              && arena_span(c, s->out, (int64_t)i[0] * i[3] * i[4], "resize output")
              && const_span(c, s->cst[0], 12 * (int64_t)i[3], "row table")
              && const_span(c, s->cst[1], 12 * (int64_t)i[4], "column table")))
            return 0;
        /* The tables are data: every index they hold must land inside the input plane. */
        for (int t = 0; t < 2; t++) {
            const int *lo = (const int *)(c->e->consts + s->cst[t]);
            int n = i[3 + t], lim = i[1 + t];
            for (int k = 0; k < 2 * n; k++)
                if (lo[k] < 0 || lo[k] >= lim)
                    return refuse(c, "resize table index %d outside 0..%d", lo[k], lim - 1);
        }
        return 1;
    }
    case CL_OP_FILL:
        return i[0] >= 0 ? arena_span(c, s->out, i[0], "fill") : refuse(c, "bad fill count %d", i[0]);
    case CL_OP_CONVT: {
        for (int k = 0; k < 18; k++)
            if (i[k] < (k >= 12 && k < 16 ? 0 : 1))
                return refuse(c, "bad ConvTranspose parameter %d = %d", k, i[k]);
        if (i[1] % i[7] || i[4] % i[7] || !act_ok(s->act) || s->act == CL_ACT_PRELU)
            return refuse(c, "groups %d do not divide the channels or bad activation %d", i[7], s->act);
        int64_t nw = (int64_t)i[1] * (i[4] / i[7]) * i[5] * i[6];
        return arena_span(c, s->in[0], (int64_t)i[0] * i[1] * i[2] * i[3], "ConvTranspose input")
            && arena_span(c, s->out, (int64_t)i[0] * i[4] * i[16] * i[17], "ConvTranspose output")
            && const_span(c, s->cst[0], 4 * nw, "ConvTranspose weights")
            && (s->cst[1] < 0 || const_span(c, s->cst[1], 4 * (int64_t)i[4], "ConvTranspose bias"));
    }
    default:
        return refuse(c, "unknown op %d", s->op);
    }
}

/* ---------------------------------------------------------------- prepare */

static int prepare_step(cl_engine *e, int k)
{
    const cl_step *s = &e->steps[k];
    cl_prepared *p = &e->prep[k];
    if (s->op == CL_OP_CONV) {
        cl_conv_shape cs = conv_shape_of(s);
        switch (s->sub) {
        case CL_CONV_IM2COL:
            p->prep = cl_im2col_prepare(&cs, cf(e, s->cst[0]));
            return p->prep ? CL_OK : CL_ENOMEM;
        case CL_CONV_WINO_F23: case CL_CONV_WINO_F43: case CL_CONV_WINO_F63: {
            cl_winograd *w = NULL;
            int rc = cl_winograd_prepare(2 * (s->sub - CL_CONV_WINO_F23 + 1), &cs, cf(e, s->cst[0]), &w);
            p->prep = w;
            return rc;
        }
        default:
            return CL_OK;
        }
    }
    if (s->op == CL_OP_FC) {
        p->prep = cl_gemm_pack_a(s->i[2], s->i[1], cf(e, s->cst[0]), s->i[1]);
        return p->prep ? CL_OK : CL_ENOMEM;
    }
    if (s->op == CL_OP_CONVT) {
        /* Per group, A[(co * kh + ky) * kw + kx][ci] = w[g * cig + ci][co][ky][kx]: the GEMM then
         * gives every output channel and tap of every input pixel (the columns col2im scatters). */
        const int *i = s->i;
        int g = i[7], cig = i[1] / g, cog = i[4] / g, taps = i[5] * i[6], m = cog * taps;
        float *t = malloc(sizeof(float) * (size_t)m * cig);
        cl_gemm_a **packs = calloc((size_t)g, sizeof *packs);
        if (!t || !packs) {
            free(t);
            free(packs);
            return CL_ENOMEM;
        }
        const float *w = cf(e, s->cst[0]);
        int rc = CL_OK;
        for (int gi = 0; gi < g && rc == CL_OK; gi++) {
            for (int ci = 0; ci < cig; ci++)
                for (int r = 0; r < m; r++)
                    t[(size_t)r * cig + ci] = w[((size_t)(gi * cig + ci) * cog) * taps + r];
            packs[gi] = cl_gemm_pack_a(m, cig, t, cig);
            if (!packs[gi])
                rc = CL_ENOMEM;
        }
        free(t);
        p->prep = packs;
        return rc;
    }
    return CL_OK;
}

static void release_step(cl_engine *e, int k)
{
    const cl_step *s = &e->steps[k];
    void *prep = e->prep[k].prep;
    if (!prep)
        return;
    if (s->op == CL_OP_CONV && s->sub == CL_CONV_IM2COL)
        cl_im2col_free(prep);
    else if (s->op == CL_OP_CONV)
        cl_winograd_free(prep);
    else if (s->op == CL_OP_FC)
        cl_gemm_free_a(prep);
    else if (s->op == CL_OP_CONVT) {
        cl_gemm_a **packs = prep;
        for (int g = 0; g < s->i[7]; g++)
            cl_gemm_free_a(packs[g]);
        free(packs);
    }
}

void cl_engine_free(cl_engine *e)
{
    if (!e)
        return;
    for (int k = 0; k < e->nsteps; k++)
        release_step(e, k);
    free(e->prep);
    free(e->steps);
    free(e);
}

int cl_engine_create(const cl_step *steps, int nsteps, const unsigned char *consts, int64_t const_bytes,
                     int64_t arena_floats, cl_engine **out, int *bad_step, char *why, int why_len)
{
    *out = NULL;
    if (bad_step)
        *bad_step = -1;
    if (nsteps < 0 || const_bytes < 0 || arena_floats < 0 || (nsteps && !steps) || (const_bytes && !consts))
        return CL_EINVAL;
    cl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return CL_ENOMEM;
    e->steps = malloc(sizeof(cl_step) * (size_t)(nsteps ? nsteps : 1));
    e->prep = calloc((size_t)(nsteps ? nsteps : 1), sizeof(cl_prepared));
    if (!e->steps || !e->prep) {
        cl_engine_free(e);
        return CL_ENOMEM;
    }
    memcpy(e->steps, steps, sizeof(cl_step) * (size_t)nsteps);
    e->consts = consts;
    e->const_bytes = const_bytes;
    e->arena_floats = arena_floats;
    cl_checker c = {e, why, why_len};
    for (int k = 0; k < nsteps; k++) {
        if (!check_step(&c, &e->steps[k])) {
            if (bad_step)
                *bad_step = k;
            cl_engine_free(e);
            return CL_EINVAL;
        }
    }
    e->nsteps = nsteps;   /* from here on cl_engine_free releases what prepare_step made */
    for (int k = 0; k < nsteps; k++) {
        int rc = prepare_step(e, k);
        if (rc != CL_OK) {
            if (bad_step)
                *bad_step = k;
            if (why && why_len > 0)
                snprintf(why, (size_t)why_len, "preparing the kernel failed (code %d)", rc);
            cl_engine_free(e);
            return rc;
        }
    }
    *out = e;
    return CL_OK;
}

/* ---------------------------------------------------------------- the tuner's view */

int cl_engine_nsteps(const cl_engine *e) { return e ? e->nsteps : 0; }

const cl_step *cl_engine_step(const cl_engine *e, int k)
{
    return e && k >= 0 && k < e->nsteps ? &e->steps[k] : NULL;
}

int cl_engine_kernel_supports(const cl_step *s, int kernel)
{
    if (!s || s->op != CL_OP_CONV)
        return 0;
    cl_conv_shape cs = conv_shape_of(s);
    switch (kernel) {
    case CL_CONV_IM2COL: case CL_CONV_DIRECT:
        return 1;
    case CL_CONV_DEPTHWISE:
        return cs.groups == cs.c_in && cs.groups == cs.c_out;
    case CL_CONV_WINO_F23: case CL_CONV_WINO_F43: case CL_CONV_WINO_F63:
        return cs.kh == 3 && cs.kw == 3 && cs.sh == 1 && cs.sw == 1 && cs.dh == 1 && cs.dw == 1 && cs.groups == 1;
    case CL_CONV_STEM:
        return cs.groups == 1 && cs.c_in <= 8;   /* MAX_C_IN of kernels/c/stem.py */
    default:
        return 0;
    }
}

int cl_engine_conv_variant(const cl_engine *e, int k, int kernel, int64_t out_at, int64_t arena_floats,
                           cl_engine **out, char *why, int why_len)
{
    *out = NULL;
    const cl_step *s = cl_engine_step(e, k);
    if (!cl_engine_kernel_supports(s, kernel)) {
        if (why && why_len > 0)
            snprintf(why, (size_t)why_len, "kernel %d does not support step %d", kernel, k);
        return CL_EINVAL;
    }
    cl_step v = *s;
    v.sub = kernel;
    v.in[1] = -1;
    v.out = out_at;
    int bad;
    return cl_engine_create(&v, 1, e->consts, e->const_bytes, arena_floats, out, &bad, why, why_len);
}

/* ---------------------------------------------------------------- ops */

/* exp by range reduction and a degree-6 polynomial (Cephes' expf; relative error ~2e-7 on the
 * clamped range), branch-free so the loops that call it vectorise, unlike libm's expf. Rounding
 * n by adding and subtracting 1.5 * 2^23 keeps it free of floorf (not vectorised without SSE4.1). */
static inline float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);     /* NaN passes through both tests */
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

static float sigmoid1(float y) { return 1.0f / (1.0f + exp_poly(-y)); }

/* The activation of a step that is not a kernel epilogue (residual add, binary, FC). */
static void activate(float *y, int64_t n, int act, float slope)
{
    if (act == CL_ACT_NONE)
        return;
    if (act == CL_ACT_SIGMOID) {
        for (int64_t k = 0; k < n; k++)
            y[k] = sigmoid1(y[k]);
        return;
    }
    for (int64_t k = 0; k < n; k++)
        y[k] = cl_act1(y[k], act, slope);
}

static int run_conv(const cl_engine *e, const cl_step *s, const cl_prepared *p, float *arena, int nthreads)
{
    cl_conv_shape cs = conv_shape_of(s);
    const float *x = arena + s->in[0], *w = cf(e, s->cst[0]);
    float *y = arena + s->out;
    int residual = s->in[1] >= 0;
    /* With a residual the activation comes after the add, so the kernel stops at the bias. */
    cl_epilogue ep = {cf(e, s->cst[1]), cf(e, s->cst[2]), residual ? CL_ACT_NONE : s->act};
    int rc;
    switch (s->sub) {
    case CL_CONV_IM2COL: rc = cl_im2col_run(p->prep, &cs, x, y, &ep, nthreads); break;
    case CL_CONV_DIRECT: rc = cl_direct_run(&cs, x, w, y, &ep, nthreads); break;
    case CL_CONV_DEPTHWISE: rc = cl_dwconv_run(&cs, x, w, y, &ep, nthreads); break;
    case CL_CONV_STEM: rc = cl_stem_run(&cs, x, w, y, &ep, nthreads); break;
    default: rc = cl_winograd_run(p->prep, &cs, x, y, &ep, nthreads); break;
    }
    if (rc != CL_OK || !residual)
        return rc;
    const float *r = arena + s->in[1], *slope = cf(e, s->cst[2]);
    int64_t plane = (int64_t)cs.oh * cs.ow, planes = (int64_t)cs.n * cs.c_out;
    CL_PARALLEL_FOR(nthreads)
    for (int64_t t = 0; t < planes; t++) {
        float *yp = y + t * plane;
        const float *rp = r + t * plane;
        for (int64_t k = 0; k < plane; k++)
            yp[k] += rp[k];
        activate(yp, plane, s->act, slope ? slope[t % cs.c_out] : 0.0f);
    }
    return CL_OK;
}

/* Strided walk over the first nd-1 dims; the innermost is handled by the op's row function. */
#define CL_WALK_BEGIN(nd, dims)                                                                \
    int idx_[CL_MAX_DIMS] = {0};                                                               \
    int64_t outer_ = 1;                                                                        \
    for (int d_ = 0; d_ < (nd) - 1; d_++)                                                      \
        outer_ *= (dims)[d_];                                                                  \
    for (int64_t o_ = 0; o_ < outer_; o_++) {
#define CL_WALK_END(nd, dims)                                                                  \
        for (int d_ = (nd) - 2; d_ >= 0; d_--) {                                               \
            if (++idx_[d_] < (dims)[d_]) break;                                                \
            idx_[d_] = 0;                                                                      \
        }                                                                                      \
    }

static int64_t walk_offset(const int *idx, const int *strides, int nd)
{
    int64_t off = 0;
    for (int d = 0; d < nd - 1; d++)
        off += (int64_t)idx[d] * strides[d];
    return off;
}

static void run_copy(const cl_step *s, float *arena)
{
    int nd = s->i[0];
    const int *dims = s->i + 1, *os = s->i + 7, *is = s->i + 13;
    const float *x = arena + s->in[0];
    float *y = arena + s->out;
    int n = dims[nd - 1], so = os[nd - 1], si = is[nd - 1];
    CL_WALK_BEGIN(nd, dims)
        float *yr = y + walk_offset(idx_, os, nd);
        const float *xr = x + walk_offset(idx_, is, nd);
        if (so == 1 && si == 1)
            memcpy(yr, xr, sizeof(float) * (size_t)n);
        else
            for (int k = 0; k < n; k++)
                yr[(int64_t)k * so] = xr[(int64_t)k * si];
    CL_WALK_END(nd, dims)
}

static float binary1(int op, float a, float b)
{
    switch (op) {
    case CL_BIN_ADD: return a + b;
    case CL_BIN_SUB: return a - b;
    case CL_BIN_MUL: return a * b;
    case CL_BIN_DIV: return a / b;
    case CL_BIN_MAX: return isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
    case CL_BIN_MIN: return isnan(a) || isnan(b) ? NAN : (a < b ? a : b);
    default: return a < 0.0f ? a * b : a;
    }
}

/* One row of a binary op; the common unit/broadcast strides get their own loops so the compiler
 * vectorises them. */
static void binary_row(int op, const float *a, int sa, const float *b, int sb, float *y, int n)
{
#define CL_BIN_LOOPS(EXPR)                                                                        \
    if (sa == 1 && sb == 1) { for (int k = 0; k < n; k++) { float av = a[k], bv = b[k]; y[k] = (EXPR); } } \
    else if (sa == 1 && sb == 0) { float bv = b[0]; for (int k = 0; k < n; k++) { float av = a[k]; y[k] = (EXPR); } } \
    else if (sa == 0 && sb == 1) { float av = a[0]; for (int k = 0; k < n; k++) { float bv = b[k]; y[k] = (EXPR); } } \
    else { for (int k = 0; k < n; k++) { float av = a[(int64_t)k * sa], bv = b[(int64_t)k * sb]; y[k] = (EXPR); } }
    switch (op) {
    case CL_BIN_ADD: CL_BIN_LOOPS(av + bv) break;
    case CL_BIN_SUB: CL_BIN_LOOPS(av - bv) break;
    case CL_BIN_MUL: CL_BIN_LOOPS(av * bv) break;
    case CL_BIN_DIV: CL_BIN_LOOPS(av / bv) break;
    case CL_BIN_PRELU: CL_BIN_LOOPS(av < 0.0f ? av * bv : av) break;
    default:
        for (int k = 0; k < n; k++)
            y[k] = binary1(op, a[(int64_t)k * sa], b[(int64_t)k * sb]);
    }
#undef CL_BIN_LOOPS
}

static void run_binary(const cl_engine *e, const cl_step *s, float *arena)
{
    int nd = s->i[0];
    const int *dims = s->i + 1, *as = s->i + 7, *bs = s->i + 13;
    const float *a = s->in[0] >= 0 ? arena + s->in[0] : cf(e, s->cst[0]);
    const float *b = s->in[1] >= 0 ? arena + s->in[1] : cf(e, s->cst[1]);
    float *y = arena + s->out;
    int n = dims[nd - 1];
    CL_WALK_BEGIN(nd, dims)
        float *yr = y + o_ * n;
        binary_row(s->sub, a + walk_offset(idx_, as, nd), as[nd - 1], b + walk_offset(idx_, bs, nd), bs[nd - 1], yr, n);
        activate(yr, n, s->act, s->f[0]);
    CL_WALK_END(nd, dims)
}

static float unary1(int op, float x, float f0, float f1);

static void run_unary(const cl_step *s, float *arena, int nthreads)
{
    const float *x = arena + s->in[0];
    float *y = arena + s->out;
    int64_t n = s->i[0];
    float f0 = s->f[0], f1 = s->f[1];
    if (y > x && y < x + n) {
        /* The arena put the output over the tail of its dying input: last to first, every value
         * is read before it is overwritten. (Output at or below the input is safe forwards.) */
        for (int64_t k = n - 1; k >= 0; k--)
            y[k] = unary1(s->sub, x[k], f0, f1);
        return;
    }
    switch (s->sub) {
    case CL_UN_COPY: memmove(y, x, sizeof(float) * (size_t)n); break;
    case CL_UN_RELU: for (int64_t k = 0; k < n; k++) y[k] = x[k] < 0.0f ? 0.0f : x[k]; break;
    case CL_UN_SIGMOID: for (int64_t k = 0; k < n; k++) y[k] = sigmoid1(x[k]); break;
    case CL_UN_TANH: for (int64_t k = 0; k < n; k++) y[k] = tanhf(x[k]); break;
    case CL_UN_CLIP: for (int64_t k = 0; k < n; k++) y[k] = x[k] < f0 ? f0 : (x[k] > f1 ? f1 : x[k]); break;
    case CL_UN_LEAKY: for (int64_t k = 0; k < n; k++) y[k] = x[k] < 0.0f ? x[k] * f0 : x[k]; break;
    case CL_UN_HARDSIGMOID:
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] * f0 + f1;
            y[k] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case CL_UN_HARDSWISH:
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] * (1.0f / 6.0f) + 0.5f;
            y[k] = x[k] * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
        }
        break;
    case CL_UN_EXP: for (int64_t k = 0; k < n; k++) y[k] = expf(x[k]); break;   /* exact: may overflow to inf */
    case CL_UN_NEG: for (int64_t k = 0; k < n; k++) y[k] = -x[k]; break;
    case CL_UN_SQRT: for (int64_t k = 0; k < n; k++) y[k] = sqrtf(x[k]); break;
    case CL_UN_FLOOR: for (int64_t k = 0; k < n; k++) y[k] = floorf(x[k]); break;
    default: for (int64_t k = 0; k < n; k++) y[k] = ceilf(x[k]); break;
    }
    (void)nthreads;
}

static float unary1(int op, float x, float f0, float f1)
{
    float v;
    switch (op) {
    case CL_UN_COPY: return x;
    case CL_UN_RELU: return x < 0.0f ? 0.0f : x;
    case CL_UN_SIGMOID: return sigmoid1(x);
    case CL_UN_TANH: return tanhf(x);
    case CL_UN_CLIP: return x < f0 ? f0 : (x > f1 ? f1 : x);
    case CL_UN_LEAKY: return x < 0.0f ? x * f0 : x;
    case CL_UN_HARDSIGMOID: v = x * f0 + f1; return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    case CL_UN_HARDSWISH: v = x * (1.0f / 6.0f) + 0.5f; return x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
    case CL_UN_EXP: return expf(x);
    case CL_UN_NEG: return -x;
    case CL_UN_SQRT: return sqrtf(x);
    case CL_UN_FLOOR: return floorf(x);
    default: return ceilf(x);
    }
}

/* Softmax over the middle axis of (outer, n, inner): max, exp, sum, scale, inner lanes at a time. */
static int run_softmax(const cl_step *s, float *arena)
{
    int outer = s->i[0], n = s->i[1], inner = s->i[2];
    const float *x = arena + s->in[0];
    float *y = arena + s->out;
    float *acc = malloc(sizeof(float) * 2 * (size_t)(inner ? inner : 1));
    if (!acc)
        return CL_ENOMEM;
    float *top = acc, *sum = acc + inner;
    if (inner == 1) {   /* rows of n contiguous values (a detector's classes per anchor) */
        for (int64_t o = 0; o < outer; o++) {
            const float *xr = x + o * n;
            float *yr = y + o * n, m = xr[0], total = 0.0f;
            for (int j = 1; j < n; j++)
                m = xr[j] > m ? xr[j] : m;
            for (int j = 0; j < n; j++)
                total += yr[j] = exp_poly(xr[j] - m);
            float inv = 1.0f / total;
            for (int j = 0; j < n; j++)
                yr[j] *= inv;
        }
        free(acc);
        return CL_OK;
    }
    for (int o = 0; o < outer; o++) {
        const float *xo = x + (int64_t)o * n * inner;
        float *yo = y + (int64_t)o * n * inner;
        memcpy(top, xo, sizeof(float) * (size_t)inner);
        for (int j = 1; j < n; j++)
            for (int k = 0; k < inner; k++)
                top[k] = xo[(int64_t)j * inner + k] > top[k] ? xo[(int64_t)j * inner + k] : top[k];
        memset(sum, 0, sizeof(float) * (size_t)inner);
        for (int j = 0; j < n; j++)
            for (int k = 0; k < inner; k++) {
                float v = exp_poly(xo[(int64_t)j * inner + k] - top[k]);
                yo[(int64_t)j * inner + k] = v;
                sum[k] += v;
            }
        for (int k = 0; k < inner; k++)
            sum[k] = 1.0f / sum[k];
        for (int j = 0; j < n; j++)
            for (int k = 0; k < inner; k++)
                yo[(int64_t)j * inner + k] *= sum[k];
    }
    free(acc);
    return CL_OK;
}

/* Max / average pooling (pool.c): i = planes, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr. */
static void run_pool(const cl_step *s, float *arena, int nthreads)
{
    const int *i = s->i;
    cl_pool_shape shape = {i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8], i[9], i[10], i[11], i[12], i[13], i[14]};
    cl_pool_run(s->sub, &shape, arena + s->in[0], arena + s->out, nthreads);
}

/* Fully connected: rows of x (M x K) times W^T (W stored N x K, packed once) plus bias; one
 * GEMV per row, so every output's sum runs in the same order whatever M and nthreads. */
static int run_fc(const cl_engine *e, const cl_step *s, const cl_prepared *p, float *arena, int nthreads)
{
    int m = s->i[0], k = s->i[1], n = s->i[2];
    cl_epilogue ep = {cf(e, s->cst[1]), NULL, CL_ACT_NONE};
    for (int r = 0; r < m; r++) {
        float *y = arena + s->out + (int64_t)r * n;
        int rc = cl_gemm(p->prep, 1, arena + s->in[0] + (int64_t)r * k, 1, y, 1, &ep, nthreads);
        if (rc != CL_OK)
            return rc;
        activate(y, n, s->act, s->f[0]);
    }
    return CL_OK;
}

/* ConvTranspose: per image and group, col = A_g X_g (every output channel x tap x input pixel),
 * then each column scattered (added) to the output pixel it lands on, over bias. */
static int run_convt(const cl_engine *e, const cl_step *s, const cl_prepared *p, float *arena, int nthreads)
{
    const int *i = s->i;
    int n = i[0], c_in = i[1], h = i[2], w = i[3], c_out = i[4], kh = i[5], kw = i[6], g = i[7];
    int sh = i[8], sw = i[9], dh = i[10], dw = i[11], pt = i[12], pl = i[13], oh = i[16], ow = i[17];
    int cig = c_in / g, cog = c_out / g, taps = kh * kw, hw = h * w;
    cl_gemm_a *const *packs = p->prep;
    const float *bias = cf(e, s->cst[1]);
    float *col = malloc(sizeof(float) * (size_t)cog * taps * hw);
    if (!col)
        return CL_ENOMEM;
    int rc = CL_OK;
    for (int b = 0; b < n && rc == CL_OK; b++) {
        float *yb = arena + s->out + (int64_t)b * c_out * oh * ow;
        for (int c = 0; c < c_out; c++)
            for (int64_t k = 0; k < (int64_t)oh * ow; k++)
                yb[c * (int64_t)oh * ow + k] = bias ? bias[c] : 0.0f;
        for (int gi = 0; gi < g && rc == CL_OK; gi++) {
            const float *xg = arena + s->in[0] + ((int64_t)b * c_in + (int64_t)gi * cig) * hw;
            rc = cl_gemm(packs[gi], hw, xg, hw, col, hw, NULL, nthreads);
            for (int co = 0; co < cog && rc == CL_OK; co++) {
                float *yc = yb + (int64_t)(gi * cog + co) * oh * ow;
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        const float *cr = col + ((int64_t)(co * kh + ky) * kw + kx) * hw;
                        for (int iy = 0; iy < h; iy++) {
                            int yy = iy * sh + ky * dh - pt;
                            if (yy < 0 || yy >= oh)
                                continue;
                            for (int ix = 0; ix < w; ix++) {
                                int xx = ix * sw + kx * dw - pl;
                                if (xx >= 0 && xx < ow)
                                    yc[(int64_t)yy * ow + xx] += cr[iy * w + ix];
                            }
                        }
                    }
            }
        }
        activate(yb, (int64_t)c_out * oh * ow, s->act, s->f[0]);
    }
    free(col);
    return rc;
}

/* Resize of the last two axes by tables: row/column t maps from lo[t], hi[t] with weight frac[t]
 * (tables laid out lo[n], hi[n], frac[n]). Nearest reads lo only. */
static void run_resize(const cl_engine *e, const cl_step *s, float *arena, int nthreads)
{
    int planes = s->i[0], h = s->i[1], w = s->i[2], oh = s->i[3], ow = s->i[4];
    const int *ylo = (const int *)(e->consts + s->cst[0]), *yhi = ylo + oh;
    const float *yf = (const float *)(ylo + 2 * oh);
    const int *xlo = (const int *)(e->consts + s->cst[1]), *xhi = xlo + ow;
    const float *xf = (const float *)(xlo + 2 * ow);
    const float *x = arena + s->in[0];
    float *y = arena + s->out;
    CL_PARALLEL_FOR(nthreads)
    for (int p = 0; p < planes; p++) {
        const float *xp = x + (int64_t)p * h * w;
        float *yp = y + (int64_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = xp + (int64_t)ylo[oy] * w, *r1 = xp + (int64_t)yhi[oy] * w;
            float *yr = yp + (int64_t)oy * ow;
            if (s->sub == CL_RESIZE_NEAREST) {
                for (int ox = 0; ox < ow; ox++)
                    yr[ox] = r0[xlo[ox]];
                continue;
            }
            float fy = yf[oy];
            for (int ox = 0; ox < ow; ox++) {
                /* rows first, then columns: the order the reference resizes the axes in */
                float a = r0[xlo[ox]] + (r1[xlo[ox]] - r0[xlo[ox]]) * fy;
                float b = r0[xhi[ox]] + (r1[xhi[ox]] - r0[xhi[ox]]) * fy;
                yr[ox] = a + (b - a) * xf[ox];
            }
        }
    }
}

static int run_step(const cl_engine *e, int k, float *arena, int nthreads)
{
    const cl_step *s = &e->steps[k];
    const cl_prepared *p = &e->prep[k];
    switch (s->op) {
    case CL_OP_CONV: return run_conv(e, s, p, arena, nthreads);
    case CL_OP_COPY: run_copy(s, arena); return CL_OK;
    case CL_OP_BINARY: run_binary(e, s, arena); return CL_OK;
    case CL_OP_UNARY: run_unary(s, arena, nthreads); return CL_OK;
    case CL_OP_SOFTMAX: return run_softmax(s, arena);
    case CL_OP_POOL: run_pool(s, arena, nthreads); return CL_OK;
    case CL_OP_FC: return run_fc(e, s, p, arena, nthreads);
    case CL_OP_RESIZE: run_resize(e, s, arena, nthreads); return CL_OK;
    case CL_OP_FILL: {
        float *y = arena + s->out;
        for (int64_t j = 0; j < s->i[0]; j++)
            y[j] = s->f[0];
        return CL_OK;
    }
    case CL_OP_CONVT: return run_convt(e, s, p, arena, nthreads);
    default: return CL_EINVAL;
    }
}

static double now(int clock)
{
    struct timespec t;
    clock_gettime(clock == CL_CLOCK_THREAD_CPU ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cl_engine_run(const cl_engine *e, float *arena, int first, int last, int nthreads,
                  double *seconds, int clock, int *failed_step)
{
    if (!e || !arena || first < 0 || last > e->nsteps || first > last || nthreads < 1)
        return CL_EINVAL;
    for (int k = first; k < last; k++) {
        double t0 = seconds ? now(clock) : 0.0;
        int rc = run_step(e, k, arena, nthreads);
        if (seconds)
            seconds[k] += now(clock) - t0;
        if (rc != CL_OK) {
            if (failed_step)
                *failed_step = k;
            return rc;
        }
    }
    return CL_OK;
}
