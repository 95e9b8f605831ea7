/* Winograd F(m x m, 3 x 3), m = 2, 4, 6: the driver shared by every tile size and ISA.
 *
 * prepare: U_k = (G g G^T)_k for each of the alpha^2 positions k, in double, rounded once, and
 * packed as the A operand of the GEMM (c_out x c_in).
 * run: the input is copied once, zero-padded to whole tiles and split by column phase (so tile
 * loads are vector loads). The tiles of all images form one list, cut into blocks of tb tiles (a
 * multiple of the GEMM's NR and of the vector width, V and M of a block about BLOCK_BYTES).
 * Per block: the input transform writes V_k (c_in x tb) straight into the GEMM's B panels for
 * every position k (or, where panels would be mostly padding, a row-major matrix: v_width),
 * alpha^2 GEMMs (cl_gemm_panels, cl_gemm) give M_k = U_k V_k (c_out x tb), the output
 * transform reads M and writes the outputs with the epilogue fused. Outputs whose window sees
 * at most one input row or column are computed directly (direct_border_outputs). Threads take
 * whole blocks; a tile's arithmetic never depends on which block or thread holds it, so results
 * are bit-identical for any thread count. */
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cl_gemm.h"
#include "cl_kernels.h"
#include "cl_winograd.h"

/* The matrices, exact. Points 0, +-1, +-2 (F(4,3)) and 0, +-1, +-1/2, +-2 (F(6,3)) plus infinity;
 * the 1/N_j denominators live in G (applied once, to the weights, in double), so B^T and A^T
 * hold small dyadic constants. Derived with the Cook-Toom construction and checked symbolically
 * (A^T [(G g) . (B^T d)] = correlation of d with g). */
static const double AT2[2 * 4] = {1, 1, 1, 0, 0, 1, -1, 1};
static const double G2[4 * 3] = {1, 0, 0, .5, .5, .5, .5, -.5, .5, 0, 0, 1};
static const double BT2[4 * 4] = {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, -1, 0, 1};

static const double AT4[4 * 6] = {1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0,
                                  0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1};
static const double G4[6 * 3] = {1 / 4., 0, 0, -1 / 6., -1 / 6., -1 / 6., -1 / 6., 1 / 6., -1 / 6.,
                                 1 / 24., 1 / 12., 1 / 6., 1 / 24., -1 / 12., 1 / 6., 0, 0, 1};
static const double BT4[6 * 6] = {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0,
                                  0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1};

static const double AT6[6 * 8] = {
    1, 1, 1, 1, 1, 1, 1, 0,
    0, 1, -1, 1 / 2., -1 / 2., 2, -2, 0,
    0, 1, 1, 1 / 4., 1 / 4., 4, 4, 0,
    0, 1, -1, 1 / 8., -1 / 8., 8, -8, 0,
    0, 1, 1, 1 / 16., 1 / 16., 16, 16, 0,
    0, 1, -1, 1 / 32., -1 / 32., 32, -32, 1};
static const double G6[8 * 3] = {
    1, 0, 0,
    -2 / 9., -2 / 9., -2 / 9.,
    -2 / 9., 2 / 9., -2 / 9.,
    32 / 45., 16 / 45., 8 / 45.,
    32 / 45., -16 / 45., 8 / 45.,
    1 / 90., 1 / 45., 2 / 45.,
    1 / 90., -1 / 45., 2 / 45.,
    0, 0, 1};
static const double BT6[8 * 8] = {
    1, 0, -21 / 4., 0, 21 / 4., 0, -1, 0,
    0, 1, 1, -17 / 4., -17 / 4., 1, 1, 0,
    0, -1, 1, 17 / 4., -17 / 4., -1, 1, 0,
    0, 2, 4, -5 / 2., -5, 1 / 2., 1, 0,
    0, -2, 4, 5 / 2., -5, -1 / 2., 1, 0,
    0, 1 / 2., 1 / 4., -5 / 2., -5 / 4., 2, 1, 0,
    0, -1 / 2., 1 / 4., 5 / 2., -5 / 4., -2, 1, 0,
    0, -1, 0, 21 / 4., 0, -21 / 4., 0, 1};

typedef struct {
    const double *at, *g, *bt;
} wino_matrices;

static int matrices_for(int m, wino_matrices *mat)
{
    switch (m) {
    case 2: *mat = (wino_matrices){AT2, G2, BT2}; return CL_OK;
    case 4: *mat = (wino_matrices){AT4, G4, BT4}; return CL_OK;
    case 6: *mat = (wino_matrices){AT6, G6, BT6}; return CL_OK;
    default: return CL_EINVAL;
    }
}

double cl_winograd_error_factor(int m)
{
    switch (m) {
    case 2: return CL_WINOGRAD_F23_ERROR_FACTOR;
    case 4: return CL_WINOGRAD_F43_ERROR_FACTOR;
    case 6: return CL_WINOGRAD_F63_ERROR_FACTOR;
    default: return -1.0;
    }
}

int cl_winograd_matrices(int m, double *at, double *g, double *bt)
{
    wino_matrices mat;
    if (matrices_for(m, &mat) != CL_OK || !at || !g || !bt)
        return CL_EINVAL;
    int a = m + 2;
    memcpy(at, mat.at, sizeof(double) * m * a);
    memcpy(g, mat.g, sizeof(double) * a * 3);
    memcpy(bt, mat.bt, sizeof(double) * a * a);
    return CL_OK;
}

/* The run's scratch memory (padded input, per thread V and M), kept by the plan between runs:
 * fresh pages for a few MB per run cost more than the transforms. A run that finds it busy (the
 * same plan run concurrently) allocates its own. Zeroed: the output transform reads M in whole
 * vectors, and a partial block's columns past its tiles are never written (run_block), so those
 * lanes hold zeros or an earlier product, never uninitialised bits (NaN or denormal arithmetic). */
typedef struct {
    atomic_flag busy;
    void *buf;
    size_t bytes;
} wino_scratch;

static void *scratch_get(wino_scratch *sc, size_t bytes, int *kept)
{
    *kept = 0;
    if (!atomic_flag_test_and_set(&sc->busy)) {
        if (sc->bytes < bytes) {
            free(sc->buf);
            sc->buf = calloc(1, bytes);
            sc->bytes = sc->buf ? bytes : 0;
        }
        if (sc->buf) {
            *kept = 1;
            return sc->buf;
        }
        atomic_flag_clear(&sc->busy);
    }
    return calloc(1, bytes);
}

static void scratch_put(wino_scratch *sc, void *buf, int kept)
{
    if (kept)
        atomic_flag_clear(&sc->busy);
    else
        free(buf);
}

struct cl_winograd {
    int m, alpha, c_in, c_out;
    int nr;                          /* the GEMM micro-kernel's NR, fixed when U was packed */
    const cl_wino_kernels *k;
    cl_gemm_a **u;                   /* alpha^2 packed c_out x c_in matrices */
    float *w;                        /* the weights as given, for the direct border outputs */
    wino_scratch *scratch;
};

void cl_winograd_free(cl_winograd *p)
{
    if (!p)
        return;
    if (p->u)
        for (int k = 0; k < p->alpha * p->alpha; k++)
            cl_gemm_free_a(p->u[k]);
    free(p->u);
    free(p->w);
    if (p->scratch)
        free(p->scratch->buf);
    free(p->scratch);
    free(p);
}

static int is_winograd_shape(const cl_conv_shape *s)
{
    return cl_conv_shape_check(s) == CL_OK && s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 &&
           s->dh == 1 && s->dw == 1 && s->groups == 1;
}

/* The outputs whose window sees two or more input rows and columns, [oy0, oy1) x [ox0, ox1): the
 * tiles cover them; the rest are direct (direct_border_outputs). Output oy sees input rows
 * oy - pt .. oy - pt + 2: at least two of them from pt - 1 to h + pt - 2. */
static void tiled_outputs(const cl_conv_shape *s, int *oy0, int *ox0, int *oy1, int *ox1)
{
    *oy0 = s->pt > 1 ? s->pt - 1 : 0, *ox0 = s->pl > 1 ? s->pl - 1 : 0;
    *oy1 = s->h + s->pt - 1 < s->oh ? s->h + s->pt - 1 : s->oh;
    *ox1 = s->w + s->pl - 1 < s->ow ? s->w + s->pl - 1 : s->ow;
    if (s->h < 2)
        *oy1 = *oy0;   /* no window holds two input rows: every output is direct */
    if (s->w < 2)
        *ox1 = *ox0;
}

static long long tile_count(int m, const cl_conv_shape *s)
{
    int oy0, ox0, oy1, ox1;
    tiled_outputs(s, &oy0, &ox0, &oy1, &ox1);
    return (long long)s->n * ((oy1 - oy0 + m - 1) / m) * ((ox1 - ox0 + m - 1) / m);
}

/* Tiles in whole units: whole vectors for the transforms; whole panels, or (row-major) at least 3
 * columns, so that cl_gemm never takes its GEMV loop for a block (N <= 2 sums in another order,
 * and a tile's bits must not depend on the block it falls in). */
static int tile_unit(const cl_winograd *p, int rowmajor)
{
    int unit = rowmajor ? p->k->vl : p->nr;
    while (unit % p->k->vl || unit < 3)
        unit += rowmajor ? p->k->vl : p->nr;
    return unit;
}

/* Whether V goes row-major (v_width): when whole NR panels would hold a quarter or more padding
 * columns. Measured (Zen 5, AVX-512, NR 32): 16 or 36 tiles run 1.4-2.9x faster row-major (64->64
 * on 10x10 F(2,3) 30 -> 21 us, 128->128 on 7x7 F(4,3) 204 -> 70 us); 121 or 196 tiles
 * (3-12% padding) 1.1x faster as panels; 25 and 49 (22-23%) about even. */
static int rowmajor_pays(const cl_winograd *p, long long tiles)
{
    long long unit = tile_unit(p, 0);
    return (tiles + unit - 1) / unit * unit * 3 >= tiles * 4;
}

int cl_winograd_prepare(int m, const cl_conv_shape *s, const float *w, cl_winograd **out)
{
    wino_matrices mat;
    if (!out || !w || matrices_for(m, &mat) != CL_OK || !s || !is_winograd_shape(s))
        return CL_EINVAL;
    *out = NULL;
    int a = m + 2;
    const cl_kernel_table *kt = cl_kernels();
    cl_winograd *p = calloc(1, sizeof *p);
    float *uk = malloc(sizeof(float) * (size_t)s->c_out * s->c_in);
    if (p)
        *p = (cl_winograd){.m = m, .alpha = a, .c_in = s->c_in, .c_out = s->c_out, .nr = kt->gemm->nr,
                           .k = kt->winograd};
    if (p) {
        p->u = calloc((size_t)a * a, sizeof *p->u);
        p->w = malloc(sizeof(float) * 9 * (size_t)s->c_out * s->c_in);
        p->scratch = calloc(1, sizeof *p->scratch);
        if (p->scratch)
            atomic_flag_clear(&p->scratch->busy);
    }
    if (!p || !uk || !p->u || !p->w || !p->scratch) {
        free(uk);
        cl_winograd_free(p);
        return CL_ENOMEM;
    }
    /* A^T too where the shape prepared for runs row-major: cl_gemm's path for narrow B */
    const int pointwise = rowmajor_pays(p, tile_count(m, s));
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            for (int co = 0; co < s->c_out; co++)
                for (int ci = 0; ci < s->c_in; ci++) {
                    const float *g = w + ((size_t)co * s->c_in + ci) * 9;
                    double acc = 0;
                    for (int r = 0; r < 3; r++)
                        for (int c = 0; c < 3; c++)
                            acc += mat.g[i * 3 + r] * g[r * 3 + c] * mat.g[j * 3 + c];
                    uk[(size_t)co * s->c_in + ci] = (float)acc;
                }
            p->u[i * a + j] = pointwise ? cl_gemm_pack_a_pointwise(s->c_out, s->c_in, uk, s->c_in)
                                        : cl_gemm_pack_a(s->c_out, s->c_in, uk, s->c_in);
            if (!p->u[i * a + j]) {
                free(uk);
                cl_winograd_free(p);
                return CL_ENOMEM;
            }
        }
    free(uk);
    memcpy(p->w, w, sizeof(float) * 9 * (size_t)s->c_out * s->c_in);
    *out = p;
    return CL_OK;
}

/* A block's V and M together stay under this. Measured on Zen 4 (1 MiB L2): 2 MiB beats 512 KiB
 * by up to 40% for 16-32 channels (fewer, wider GEMM calls; V and M stream through L2 in order),
 * and by a few % for 64-128, where 4+ MiB starts to lose. */
enum { BLOCK_BYTES = 2048 * 1024 };

static int block_tiles(const cl_winograd *p, long long tiles, int nthreads, int rowmajor)
{
    int unit = tile_unit(p, rowmajor);
    long long per_tile = (long long)p->alpha * p->alpha * (p->c_in + p->c_out) * (long long)sizeof(float);
    long long tb = BLOCK_BYTES / per_tile / unit * unit;
    long long share = (tiles + nthreads - 1) / nthreads;   /* keep every thread busy */
    share = (share + unit - 1) / unit * unit;
    if (tb > share)
        tb = share;
    return tb < unit ? unit : (int)tb;
}

typedef struct {
    const cl_winograd *p;
    const cl_conv_shape *s;
    const float *x;
    float *y;
    const cl_epilogue *ep;
    int oy0, ox0, oy1, ox1;     /* the outputs whose window sees two or more input rows and columns */
    int tiles_y, tiles_x, tb;
    long long tiles;
    int rowmajor;               /* V's layout (v_width) */
    float *xp;                  /* the input, padded and split by column phase (cl_winograd.h) */
    int hp, lt;                 /* rows per channel, values per phase; a row is m * lt values */
} wino_job;

enum { XP_LEAD = 16, XP_TAIL = 32 };   /* spare floats around xp for the lanes of partial runs */

/* dst[q * lt + i] = row[i * m + q + x_org], zero outside the row's w values. The columns i whose m
 * phases all read inside the row go in one pass that reads the row straight through (m stores per
 * m contiguous loads); only the one or two at each edge test their phases. Phase by phase, three
 * short loops per phase and row made this copy 18% of O-Net's 32->64 F(4,3) conv. */
static inline __attribute__((always_inline)) void
split_column(int m, const float *row, int w, int x_org, int lt, float *dst, int i)
{
    for (int q = 0; q < m; q++) {
        int c = x_org + i * m + q;
        dst[q * lt + i] = c >= 0 && c < w ? row[c] : 0.0f;
    }
}

static inline __attribute__((always_inline)) void
split_row_m(int m, const float *row, int w, int x_org, int lt, float *dst)
{
    int lo = x_org >= 0 ? 0 : (-x_org + m - 1) / m;
    int hi = w - x_org >= m ? (w - x_org - m) / m + 1 : 0;   /* i < hi: x_org + i * m + m - 1 < w */
    lo = lo < lt ? lo : lt;
    hi = hi < lo ? lo : (hi < lt ? hi : lt);
    int i = 0;
    for (; i < lo; i++)
        split_column(m, row, w, x_org, lt, dst, i);
    for (const float *src = row + x_org; i < hi; i++)
        for (int q = 0; q < m; q++)
            dst[q * lt + i] = src[i * m + q];
    for (; i < lt; i++)
        split_column(m, row, w, x_org, lt, dst, i);
}

static void split_row(int m, const float *row, int w, int x_org, int lt, float *dst)
{
    switch (m) {   /* a constant m lets the compiler strength-reduce the strided loads */
    case 2: split_row_m(2, row, w, x_org, lt, dst); break;
    case 4: split_row_m(4, row, w, x_org, lt, dst); break;
    default: split_row_m(6, row, w, x_org, lt, dst); break;
    }
}

/* xp row r of a channel is input row oy0 - pt + r, from column ox0 - pl on. */
static void pad_planes(const wino_job *j, long long i0, long long i1)
{
    const cl_conv_shape *s = j->s;
    int m = j->p->m, ld = m * j->lt, y_org = j->oy0 - s->pt, x_org = j->ox0 - s->pl;
    for (long long i = i0; i < i1; i++) {
        const float *src = j->x + i * s->h * s->w;
        float *dst = j->xp + i * j->hp * ld;
        for (int r = 0; r < j->hp; r++, dst += ld) {
            int y = y_org + r;
            if (y < 0 || y >= s->h)
                memset(dst, 0, sizeof(float) * ld);
            else if (!j->p->k->split_row || !j->p->k->split_row(m, src + (ptrdiff_t)y * s->w, s->w, x_org, j->lt, dst))
                split_row(m, src + (ptrdiff_t)y * s->w, s->w, x_org, j->lt, dst);
        }
    }
}

static void pad_input(const wino_job *j, int nthreads)
{
    long long planes = (long long)j->s->n * j->s->c_in;
    if (nthreads == 1) {
        pad_planes(j, 0, planes);
        return;
    }
    CL_PARALLEL_FOR(nthreads)
    for (int t = 0; t < nthreads; t++)
        pad_planes(j, planes * t / nthreads, planes * (t + 1) / nthreads);
}

static void locate_tiles(const wino_job *j, long long t0, cl_wino_tile *t)
{
    const cl_conv_shape *s = j->s;
    int m = j->p->m;
    long long per_image = (long long)j->tiles_y * j->tiles_x;
    for (int l = 0; l < j->tb; l++) {
        long long i = t0 + l;
        if (i >= j->tiles) {   /* continue the previous lane's run: no extra load */
            t[l] = t[l - 1];
            t[l].x0++;
            t[l].oy = t[l].ox = INT_MAX / 2;
            continue;
        }
        long long n = i / per_image, r = i % per_image;
        int ty = (int)(r / j->tiles_x), tx = (int)(r % j->tiles_x);
        t[l] = (cl_wino_tile){(ptrdiff_t)n * s->c_in * j->hp * m * j->lt, (ptrdiff_t)n * s->c_out * s->oh * s->ow,
                              (ptrdiff_t)ty * m, tx, j->oy0 + ty * m, j->ox0 + tx * m};
    }
}

/* Layouts of a block's transformed tiles, chosen for the transforms, which touch all alpha^2
 * positions of a tile at once: V goes straight into the GEMM's NR-column panels, panel-major and
 * then position-major (V[panel][k][channel][NR]), so the input transform writes a few dozen KiB
 * and the GEMM reads panels without a packing copy. M (the GEMM's output, row stride
 * alpha^2 * (tb + 16)) is channel-major: channel c's alpha^2 rows are consecutive. The +16
 * floats keep rows whose size is a multiple of 4 KiB out of one L1 set (measured: 2x slower
 * output transform without). */
static ptrdiff_t m_row(int tb) { return (ptrdiff_t)tb + 16; }
/* V's panel width: NR for cl_gemm_panels; or the whole block, V_k then a row-major c_in x tb
 * matrix that cl_gemm multiplies over the block's real tiles only, where rounding the tiles up to
 * whole NR panels would waste much of the GEMM (a small map: O-Net's 21x21 has 36 F(4,3) tiles,
 * 64 columns as panels). */
static int v_width(const wino_job *j) { return j->rowmajor ? j->tb : j->p->nr; }
static ptrdiff_t v_pos(const wino_job *j) { return (ptrdiff_t)j->p->c_in * v_width(j) + 16; }

static int run_block(const wino_job *j, long long t0, cl_wino_tile *t, float *v, float *mm)
{
    const cl_winograd *p = j->p;
    const cl_conv_shape *s = j->s;
    const cl_wino_kernels *k = p->k;
    int tb = j->tb, vl = k->vl, pw = v_width(j), a2 = p->alpha * p->alpha, fn = p->m / 2 - 1;
    int real = j->tiles - t0 < tb ? (int)(j->tiles - t0) : tb;
    /* Row-major: the GEMM's N, the real tiles only (at least 3: no GEMV). Every path but the GEMV
     * sums each output in the same order, so N does not change a tile's bits. O-Net's 36 F(4,3)
     * tiles were multiplied as 48, a quarter of the GEMM on lanes no output reads. */
    int columns = real < 3 ? 3 : real;
    ptrdiff_t vpos = v_pos(j), vpanel = a2 * vpos, pos = m_row(tb), chan = a2 * pos;
    locate_tiles(j, t0, t);
    for (int c = 0; c < p->c_in; c++)
        for (int g = 0; g < tb; g += vl)
            k->input[fn](j->xp + (ptrdiff_t)c * j->hp * p->m * j->lt, p->m * j->lt, j->lt, t + g,
                         v + g / pw * vpanel + (ptrdiff_t)c * pw + g % pw, vpos);
    for (int q = 0; q < a2; q++) {   /* M's columns past `columns` keep older values: no tile of y reads them */
        int rc = j->rowmajor ? cl_gemm(p->u[q], columns, v + q * vpos, tb, mm + q * pos, (int)chan, NULL, 1)
                             : cl_gemm_panels(p->u[q], tb, v + q * vpos, vpanel, mm + q * pos, chan, NULL, 1);
        if (rc != CL_OK)
            return rc;
    }
    const cl_epilogue *ep = j->ep;
    int act = ep ? ep->act : CL_ACT_NONE;
    for (int co = 0; co < p->c_out; co++) {
        float bias = ep && ep->bias ? ep->bias[co] : 0.0f;
        float slope = ep && ep->slope ? ep->slope[co] : 0.0f;
        for (int g = 0; g < tb; g += vl)
            k->output[fn](mm + co * chan + g, pos, t + g, j->y + (ptrdiff_t)co * s->oh * s->ow,
                          s->ow, j->oy1, j->ox1, bias, slope, act);
    }
    return CL_OK;
}

/* One thread's scratch: tile list, V, M. */
static size_t v_floats(const wino_job *j) { return (size_t)j->tb / v_width(j) * j->p->alpha * j->p->alpha * v_pos(j); }

static size_t thread_scratch_floats(const wino_job *j)
{
    const cl_winograd *p = j->p;
    size_t tiles = (sizeof(cl_wino_tile) * (size_t)j->tb + sizeof(float) - 1) / sizeof(float);
    return tiles + v_floats(j) + (size_t)p->alpha * p->alpha * m_row(j->tb) * p->c_out + 16;
}

/* One thread's blocks [b0, b1). */
static int run_blocks(const wino_job *j, long long b0, long long b1, float *scratch)
{
    cl_wino_tile *t = (cl_wino_tile *)scratch;
    float *v = scratch + (sizeof(cl_wino_tile) * (size_t)j->tb + sizeof(float) - 1) / sizeof(float);
    v += (16 - ((uintptr_t)v / sizeof(float)) % 16) % 16;     /* 64-byte rows for the GEMM */
    float *mm = v + v_floats(j);
    int rc = CL_OK;
    for (long long b = b0; b < b1 && rc == CL_OK; b++)
        rc = run_block(j, b * j->tb, t, v, mm);
    return rc;
}

/* Outputs whose 3x3 window holds at most one input row or column (padding of 2 or more) are
 * computed directly here: Winograd would produce them by cancellation within a tile, with
 * rounding noise the size of the neighbouring outputs against an exact value that has only 3
 * taps per channel (or none). Only a line per padded side (plus the all-padding ones) is direct. */
static void direct_border_outputs(const wino_job *j, const float *w)
{
    const cl_conv_shape *s = j->s;
    const cl_epilogue *ep = j->ep;
    int act = ep ? ep->act : CL_ACT_NONE;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->c_out; co++) {
            float *plane = j->y + ((ptrdiff_t)n * s->c_out + co) * s->oh * s->ow;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    if (oy >= j->oy0 && oy < j->oy1 && ox >= j->ox0 && ox < j->ox1)
                        continue;
                    float acc = ep && ep->bias ? ep->bias[co] : 0.0f;
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int r = 0; r < 3; r++)
                            for (int c = 0; c < 3; c++) {
                                int y = oy - s->pt + r, x = ox - s->pl + c;
                                if (y >= 0 && y < s->h && x >= 0 && x < s->w)
                                    acc += w[((ptrdiff_t)co * s->c_in + ci) * 9 + r * 3 + c] *
                                           j->x[(((ptrdiff_t)n * s->c_in + ci) * s->h + y) * s->w + x];
                            }
                    if (act == CL_ACT_SIGMOID)
                        cl_sigmoid_inplace(&acc, 1);
                    else
                        acc = cl_act1(acc, act, ep && ep->slope ? ep->slope[co] : 0.0f);
                    plane[(ptrdiff_t)oy * s->ow + ox] = acc;
                }
        }
}

int cl_winograd_run(const cl_winograd *p, const cl_conv_shape *s, const float *x, float *y,
                    const cl_epilogue *ep, int nthreads)
{
    if (!p || !s || !x || !y || nthreads < 1 || !is_winograd_shape(s) || s->c_in != p->c_in ||
        s->c_out != p->c_out)
        return CL_EINVAL;
    int m = p->m, oy0, ox0, oy1, ox1;
    tiled_outputs(s, &oy0, &ox0, &oy1, &ox1);
    wino_job j = {p, s, x, y, ep, oy0, ox0, oy1, ox1, (oy1 - oy0 + m - 1) / m, (ox1 - ox0 + m - 1) / m, 0, 0,
                  0, NULL, 0, 0};
    if (oy0 > 0 || ox0 > 0 || oy1 < s->oh || ox1 < s->ow)
        direct_border_outputs(&j, p->w);
    j.tiles = (long long)s->n * j.tiles_y * j.tiles_x;
    if (j.tiles == 0)
        return CL_OK;
    j.hp = j.tiles_y * m + 2;
    j.lt = j.tiles_x + 1;
    j.rowmajor = rowmajor_pays(p, j.tiles);
    j.tb = block_tiles(p, j.tiles, nthreads, j.rowmajor);
    long long blocks = (j.tiles + j.tb - 1) / j.tb;
    int parts = blocks < nthreads ? (int)blocks : nthreads, rc = CL_OK, kept;
    size_t xp_floats = ((size_t)s->n * s->c_in * j.hp * m * j.lt + XP_LEAD + XP_TAIL + 15) / 16 * 16;
    size_t per_thread = thread_scratch_floats(&j);
    float *scratch = scratch_get(p->scratch, sizeof(float) * (xp_floats + per_thread * parts), &kept);
    if (!scratch)
        return CL_ENOMEM;
    j.xp = scratch + XP_LEAD;
    pad_input(&j, nthreads);
    if (parts == 1) {   /* no OpenMP region for one thread: it costs microseconds */
        rc = run_blocks(&j, 0, blocks, scratch + xp_floats);
    } else {
        CL_PARALLEL_FOR(parts)
        for (int i = 0; i < parts; i++) {
            int r = run_blocks(&j, blocks * i / parts, blocks * (i + 1) / parts,
                               scratch + xp_floats + per_thread * i);
            if (r != CL_OK)
                rc = r;  /* benign race: any failure is reported */
        }
    }
    scratch_put(p->scratch, scratch, kept);
    return rc;
}
