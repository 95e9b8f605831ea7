/* The portable half of the GEMM: packing and the blocking loops around the micro-kernel.
 * Only the MR x NR micro-kernel (gemm_<MR>x<NR>_<isa>.c) knows the instruction set. */
#include <stdlib.h>
#include <string.h>
#include "cl_gemm.h"
#include "cl_kernels.h"

enum {
    KC = CL_GEMM_KC, /* depth of one block: an NR-wide B panel (KC x NR) stays in L1 */
    NC = 256,        /* columns packed at once per thread: KC x NC of B stays in L2 */
    MR_MAX = 16, NR_MAX = 32,
    GEMV_MAX_N = 2,  /* up to this many columns, one GEMV per column beats an NR-wide tile */
};

static void *aligned(size_t nfloats)
{
    /* 64-byte rows for AVX-512 loads; size rounded up as aligned_alloc requires. */
    size_t bytes = (nfloats * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

cl_gemm_a *cl_gemm_pack_a(int M, int K, const float *A, int lda)
{
    if (M < 1 || K < 1 || lda < K || !A)
        return NULL;
    const cl_kernel_table *kt = cl_kernels();
    const cl_ukernel *uk = kt->gemm;
    int mr = uk->mr, mp = (M + mr - 1) / mr * mr;
    cl_gemm_a *a = malloc(sizeof *a);
    float *d = aligned((size_t)mp * K);
    if (!a || !d) {
        free(a);
        free(d);
        return NULL;
    }
    *a = (cl_gemm_a){M, K, mp, uk, kt->gemm_unpacked, d, NULL};
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        for (int i0 = 0; i0 < mp; i0 += mr)
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < mr; i++)
                    *d++ = i0 + i < M ? A[(size_t)(i0 + i) * lda + k0 + k] : 0.0f;
    }
    return a;
}

cl_gemm_a *cl_gemm_pack_a_pointwise(int M, int K, const float *A, int lda)
{
    cl_gemm_a *a = cl_gemm_pack_a(M, K, A, lda);
    if (!a)
        return NULL;
    int nr = a->un->narrow_nr, panels = (M + nr - 1) / nr;
    float *t = a->at = aligned((size_t)panels * nr * K);
    if (!t) {
        cl_gemm_free_a(a);
        return NULL;
    }
    for (int p = 0; p < panels; p++)
        for (int k = 0; k < K; k++)
            for (int i = p * nr; i < (p + 1) * nr; i++)
                *t++ = i < M ? A[(size_t)i * lda + k] : 0.0f;
    return a;
}

void cl_gemm_free_a(cl_gemm_a *a)
{
    if (a) {
        free(a->data);
        free(a->at);
    }
    free(a);
}

int cl_gemm_a_nr(const cl_gemm_a *a) { return a->uk->nr; }

static void pack_matrix(const cl_bsrc *s, int k0, int kc, int n0, int nc, int nr, float *dst)
{
    for (int p = 0; p < nc; p += nr) {
        int w = nc - p < nr ? nc - p : nr;
        for (int k = 0; k < kc; k++) {
            const float *row = s->data + (ptrdiff_t)(k0 + k) * s->ld + n0 + p;
            memcpy(dst, row, (size_t)w * sizeof(float));
            for (int j = w; j < nr; j++)
                dst[j] = 0.0f;
            dst += nr;
        }
    }
}

/* One thread's share: columns [n_begin, n_end) of C. */
static int gemm_columns(const cl_gemm_a *a, const cl_bsrc *b, float *C, ptrdiff_t ldc,
                        const cl_epilogue *ep, int n_begin, int n_end)
{
    const cl_ukernel *uk = a->uk;
    int mr = uk->mr, nr = uk->nr, M = a->M, K = a->K;
    int act = ep ? ep->act : CL_ACT_NONE;
    int uk_act = act == CL_ACT_SIGMOID ? CL_ACT_NONE : act;
    /* A shallow product (K well under KC: a 1x1 conv from few channels over a large map) is bound
     * by writing C, not by arithmetic: pack wider blocks of B (still L2-sized) and sweep each A
     * panel across the whole block, so C is written in long runs along its rows rather than in
     * NR-wide pieces of every row at once. */
    int shallow = K <= KC / 4 && (size_t)a->mp * K * sizeof(float) <= 16384;
    int nc_max = shallow ? (65536 / K) / nr * nr : NC / nr * nr;
    if (nc_max < NC / nr * nr)
        nc_max = NC / nr * nr;
    float *bp = b->pack ? aligned((size_t)(shallow ? K : KC) * nc_max) : NULL;
    if (b->pack && !bp)
        return CL_ENOMEM;
    _Alignas(64) float tile[MR_MAX * NR_MAX];
    float bias[MR_MAX], slope[MR_MAX];

    for (int n0 = n_begin; n0 < n_end; n0 += nc_max) {
        int nc = n_end - n0 < nc_max ? n_end - n0 : nc_max;
        const float *ap = a->data;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            int flags = (k0 > 0 ? CL_UK_LOAD : 0) | (k0 + kc == K ? CL_UK_EPILOGUE : 0);
            if (b->pack)
                b->pack(b, k0, kc, n0, nc, nr, bp);
            /* tile t: B panel t / tiles_m and A panel t % tiles_m (BLIS order: a B panel stays in
             * L1 while the A panels stream), or the transpose when shallow (see above) */
            int tiles_m = (M + mr - 1) / mr, tiles_n = (nc + nr - 1) / nr;
            for (int t = 0; t < tiles_m * tiles_n; t++) {
                int j0 = (shallow ? t % tiles_n : t / tiles_m) * nr, i0 = (shallow ? t / tiles_n : t % tiles_m) * mr;
                int nn = nc - j0 < nr ? nc - j0 : nr;
                const float *bpanel = b->pack ? bp + (size_t)j0 * kc
                                              : b->data + (n0 + j0) / nr * b->panel_stride + (ptrdiff_t)k0 * nr;
                {
                    int mm = M - i0 < mr ? M - i0 : mr;
                    const float *apanel = ap + (size_t)i0 * kc;
                    float *c = C + (ptrdiff_t)i0 * ldc + n0 + j0;
                    for (int i = 0; i < mr; i++) {
                        bias[i] = ep && ep->bias && i < mm ? ep->bias[i0 + i] : 0.0f;
                        slope[i] = ep && ep->slope && i < mm ? ep->slope[i0 + i] : 0.0f;
                    }
                    if (mm == mr && nn == nr) {
                        uk->fn(kc, apanel, bpanel, c, ldc, flags, bias, slope, uk_act);
                    } else {  /* edge tile: compute a full tile aside, keep its valid part */
                        if (flags & CL_UK_LOAD)
                            for (int i = 0; i < mm; i++)
                                memcpy(tile + i * nr, c + i * ldc, (size_t)nn * sizeof(float));
                        uk->fn(kc, apanel, bpanel, tile, nr, flags, bias, slope, uk_act);
                        for (int i = 0; i < mm; i++)
                            memcpy(c + i * ldc, tile + i * nr, (size_t)nn * sizeof(float));
                    }
                    if (act == CL_ACT_SIGMOID && (flags & CL_UK_EPILOGUE))
                        for (int i = 0; i < mm; i++)
                            cl_sigmoid_inplace(c + i * ldc, (size_t)nn);
                }
            }
            ap += (size_t)a->mp * kc;
        }
    }
    free(bp);
    return CL_OK;
}

/* Row panels [p0, p1) of one GEMV: c[i * ldc] = epilogue(A row i . the column expanded in bx).
 * KC blocks outermost, so A is read in the order it is stored (one sequential stream per thread);
 * sum holds the rows' partial sums between blocks. */
static void gemv_panels(const cl_gemm_a *a, const float *bx, float *sum, float *c, ptrdiff_t ldc,
                        const cl_epilogue *ep, int p0, int p1)
{
    int mr = a->uk->mr, K = a->K, act = ep ? ep->act : CL_ACT_NONE;
    int i_begin = p0 * mr, i_end = a->M < p1 * mr ? a->M : p1 * mr;
    memset(sum + i_begin, 0, (size_t)(p1 - p0) * mr * sizeof(float));
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        for (int i0 = i_begin; i0 < p1 * mr; i0 += mr)
            a->uk->gemv(kc, a->data + (size_t)a->mp * k0 + (size_t)i0 * kc, bx + (size_t)k0 * mr, sum + i0);
    }
    for (int i = i_begin; i < i_end; i++) {
        float *y = c + (ptrdiff_t)i * ldc;
        *y = sum[i] + (ep && ep->bias ? ep->bias[i] : 0.0f);
        if (act == CL_ACT_SIGMOID)
            cl_sigmoid_inplace(y, 1);
        else
            *y = cl_act1(*y, act, ep && ep->slope ? ep->slope[i] : 0.0f);
    }
}

/* bx[k * mr + i] = col[k]: the GEMV micro-kernel's layout of B's column. The micro-kernels' row counts
 * as constants, so each copy is a few vector stores rather than mr scalar ones. */
static inline __attribute__((always_inline)) void expand_column_mr(const float *col, int K, int mr, float *bx)
{
    for (int k = 0; k < K; k++)
        for (int i = 0; i < mr; i++)
            bx[(size_t)k * mr + i] = col[k];
}

static void expand_column(const float *col, int K, int mr, float *bx)
{
    switch (mr) {
    case 4: expand_column_mr(col, K, 4, bx); break;
    case 6: expand_column_mr(col, K, 6, bx); break;
    case 8: expand_column_mr(col, K, 8, bx); break;
    default: expand_column_mr(col, K, mr, bx); break;
    }
}

/* Few columns (a 1x1 conv on a 1x1 map: a classifier): an MR x NR tile would compute NR columns
 * to keep N, and a GEMV is bound by streaming A anyway. So each column is a GEMV over the packed
 * panels; threads split the row panels, so each output is still summed by one thread in one order. */
static int gemv_columns(const cl_gemm_a *a, const cl_bsrc *b, float *C, ptrdiff_t ldc,
                        const cl_epilogue *ep, int nthreads)
{
    int mr = a->uk->mr, K = a->K, panels = a->mp / mr;
    int parts = nthreads < panels ? nthreads : panels;
    float *col = aligned((size_t)K), *bx = aligned((size_t)K * mr), *sum = aligned((size_t)a->mp);
    if (!col || !bx || !sum) {
        free(col);
        free(bx);
        free(sum);
        return CL_ENOMEM;
    }
    for (int j = 0; j < b->N; j++) {
        if (b->pack == pack_matrix)   /* a column of a plain matrix: read in place (pack_matrix would */
            for (int k = 0; k < K; k++)   /* memcpy it one float at a time: a fifth of a dense layer) */
                col[k] = b->data[(ptrdiff_t)k * b->ld + j];
        else
            for (int k0 = 0; k0 < K; k0 += KC)
                b->pack(b, k0, K - k0 < KC ? K - k0 : KC, j, 1, 1, col + k0);
        expand_column(col, K, mr, bx);
        if (parts == 1) {
            gemv_panels(a, bx, sum, C + j, ldc, ep, 0, panels);
            continue;
        }
        CL_PARALLEL_FOR(parts)
        for (int t = 0; t < parts; t++)
            gemv_panels(a, bx, sum, C + j, ldc, ep, (int)((long long)panels * t / parts),
                        (int)((long long)panels * (t + 1) / parts));
    }
    free(col);
    free(bx);
    free(sum);
    return CL_OK;
}

int cl_gemm_src(const cl_gemm_a *a, const cl_bsrc *b, float *C, ptrdiff_t ldc,
                const cl_epilogue *ep, int nthreads)
{
    if (!a || !b || !C || b->K != a->K || b->N < 1 || ldc < b->N || nthreads < 1)
        return CL_EINVAL;
    int nr = a->uk->nr, N = b->N;
    if (b->pack && N <= GEMV_MAX_N)
        return gemv_columns(a, b, C, ldc, ep, nthreads);
    /* Equal column shares, whole NR panels: which thread computes a column never changes
     * how it is summed. */
    int share = ((N + nthreads - 1) / nthreads + nr - 1) / nr * nr;
    int parts = (N + share - 1) / share, rc = CL_OK;
    if (parts == 1)   /* no OpenMP region: it costs microseconds, as much as a small GEMM */
        return gemm_columns(a, b, C, ldc, ep, 0, N);
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++) {
        int n_end = (p + 1) * share < N ? (p + 1) * share : N;
        if (gemm_columns(a, b, C, ldc, ep, p * share, n_end) != CL_OK) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
        }
    }
    return rc;
}

static int forced_path = CL_GEMM_AUTO;

int cl_gemm_force_path(int path)
{
    if (path < CL_GEMM_AUTO || path > CL_GEMM_LONG)
        return CL_EINVAL;
    forced_path = path;
    return CL_OK;
}

/* The rule, from A/B runs of the paths on 1x1 convs (experiments/pointwise/layers.py and bench.c
 * there, 1 thread, thread CPU time; ratios are time / packed path).
 * On Zen 4 (AVX-512 as two 256-bit halves, 2026-11/12):
 * - narrow (B in place, pixels broadcast, rows of C on lanes) wins whenever N is small: 7x7 maps
 *   0.65-0.96, 14x14 0.68-0.94 (512->512: 0.79-0.86, 107 GFLOP/s); at 20x20 it ties with wide
 *   (0.74-1.04 both; 15x25: narrow 0.78-0.87, wide 0.82-0.92), from 28x28 on wide is as good or
 *   better; and narrow only with a full panel of rows on its lanes (24x375x320: wide 0.061 ms,
 *   narrow 0.073, 8 of its 32 lanes idle);
 * - wide (B in place, up to 3 panels of A broadcast) everywhere else but one corner: few rows
 *   (M <= 64: 0.37-0.96 at 56x56, 0.44-0.86 at 120x200; CenterFace 32->16 at 240x400 0.47, 144->24
 *   at 120x200 0.38), and many rows too (M 192..1024, K 32..512, N 784..6000: 0.62-0.96 in 88 of 96
 *   shapes, the rest within 1.06; 32->192 at 60x100 0.62-0.74, 96->576 at 30x50 0.78-0.89);
 * - packed (the classic BLIS loops), the corner: many rows from few channels (M > 64, K < 64) over
 *   a map so large that C (8..24 MB) lives in the L3: wide reads B from L2 once per 24 rows where
 *   packed reads its L1 panel, and that shows once C stops fitting L2: 16->96 and 32->128 at
 *   120x200 wide 1.05-1.15, 24->144 at 120x200 0.98-1.05; and for N <= GEMV_MAX_N its GEMV, which
 *   streams A with enough independent sums: 1000x1280 by one column 0.14-0.18 ms against 0.22-0.35
 *   for a narrow tile of one pixel (two FMA chains);
 * - and past 24 MB of C, wide again (cl_gemm_streams_c): it stores past the caches, the packed path
 *   cannot (16->96 at 240x400, 37 MB out: 4.7-6.0 ms against packed 5.4-7.0).
 * On Zen 5 (two full-width 512-bit FMA pipes, 2026-12-02) the tall wide tile falls behind packed
 * for M > 24 (1.14-1.27 at 56x56, 28x28 and 120x200): one B load and 24 broadcasts per 24 FMAs
 * keep the FMA pipes waiting. The long tile (one panel, 48 columns: 3 loads + 8 broadcasts per 24
 * FMAs) takes over there: 0.61-0.92 of packed for M 24..144 at 56x56..240x400 (16->96 at 240x400,
 * streamed, 0.84; 128->128 at 56x56 219 GFLOP/s), 0.97-0.99 at 28x28; narrow stays ahead up to
 * N = 400 (0.80-0.90 at 7x7 and 14x14, long 1.05-1.43). The tall tile keeps M <= 24, which it
 * covers in one pass over B (32->16 at 240x400: 0.51, long 0.76). Both tiles read the same panels
 * and sum in the same order, so the rule only moves time.
 * The wide figures are AVX-512's; a shorter tile (AVX2, NEON, scalar) stops at its wide_max_m
 * (gemm_unpacked_<isa>.c), and only AVX-512 has a long tile. */
enum { NARROW_MAX_N = 400, WIDE_MAX_M = 64, SHALLOW_K = 64, C_IN_L3_BYTES = 8 << 20 };

static int choose_path(const cl_gemm_a *a, int N, const float *C, int ldc, const cl_epilogue *ep)
{
    if (forced_path == CL_GEMM_NARROW && a->at)
        return CL_GEMM_NARROW;
    if (forced_path == CL_GEMM_PACKED || forced_path == CL_GEMM_WIDE || forced_path == CL_GEMM_LONG)
        return forced_path;
    if (a->at && N > GEMV_MAX_N && N <= NARROW_MAX_N && a->M >= a->un->narrow_nr)
        return CL_GEMM_NARROW;
    if (a->un->long_nr && N > GEMV_MAX_N && a->M > a->un->wide_panels * a->uk->mr)
        return CL_GEMM_LONG;
    int streams = cl_gemm_streams_c(a->M, N, a->K, C, ldc, ep ? ep->act : CL_ACT_NONE);
    if (a->un->wide_max_m && a->M > a->un->wide_max_m && !streams)
        return CL_GEMM_PACKED;
    if (a->M > WIDE_MAX_M && a->K < SHALLOW_K && (size_t)a->M * N * sizeof(float) >= C_IN_L3_BYTES && !streams)
        return CL_GEMM_PACKED;
    return N <= GEMV_MAX_N ? CL_GEMM_PACKED : CL_GEMM_WIDE;
}

int cl_gemm(const cl_gemm_a *a, int N, const float *B, int ldb, float *C, int ldc,
            const cl_epilogue *ep, int nthreads)
{
    if (!a || !B || !C || N < 1 || ldb < N || ldc < N || nthreads < 1)
        return CL_EINVAL;
    switch (choose_path(a, N, C, ldc, ep)) {
    case CL_GEMM_NARROW: return cl_gemm_narrow(a, N, B, ldb, C, ldc, ep, nthreads);
    case CL_GEMM_WIDE: return cl_gemm_wide(a, N, B, ldb, C, ldc, ep, nthreads, 0);
    case CL_GEMM_LONG: return cl_gemm_wide(a, N, B, ldb, C, ldc, ep, nthreads, 1);
    default: {
        cl_bsrc src = {.pack = pack_matrix, .K = a->K, .N = N, .data = B, .ld = ldb};
        return cl_gemm_src(a, &src, C, ldc, ep, nthreads);
    }
    }
}

int cl_gemm_panels(const cl_gemm_a *a, int N, const float *panels, ptrdiff_t panel_stride, float *C,
                   ptrdiff_t ldc, const cl_epilogue *ep, int nthreads)
{
    if (!a || !panels || N < 1 || panel_stride < (ptrdiff_t)a->K * a->uk->nr)
        return CL_EINVAL;
    cl_bsrc src = {NULL, a->K, N, panels, 0, NULL, panel_stride};
    return cl_gemm_src(a, &src, C, ldc, ep, nthreads);
}

int cl_sgemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             float *C, int ldc, const cl_epilogue *ep, int nthreads)
{
    if (M < 1 || N < 1 || K < 1 || lda < K)
        return CL_EINVAL;
    cl_gemm_a *a = cl_gemm_pack_a_pointwise(M, K, A, lda);
    if (!a)
        return A ? CL_ENOMEM : CL_EINVAL;
    int rc = cl_gemm(a, N, B, ldb, C, ldc, ep, nthreads);
    cl_gemm_free_a(a);
    return rc;
}
