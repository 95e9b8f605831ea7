/* The loops around the micro-kernels that read B in place (gemm_unpacked_impl.h): for a plain B
 * (the NCHW input of a 1x1 conv), packing it costs a read and a write of the whole input, as much
 * memory traffic as the product itself when M or N is small. Which of these cl_gemm runs: gemm.c. */
#include <stdlib.h>
#include <string.h>
#include "cl_gemm.h"

enum {
    /* Columns of B per chunk of the wide path, times K: the chunk (and the C rows it makes) stays
     * in L2 while every row chunk of A sweeps it, so B comes from memory once. */
    WIDE_CHUNK_FLOATS = 49152,
    ROWS_MAX = 64,   /* wide_panels * MR and narrow_nr of every micro-kernel are at most this */
};

int cl_gemm_streams_c(int M, int N, int K, const float *C, ptrdiff_t ldc, int act)
{
    /* one pass over C (a second KC block would read it back, the sigmoid pass too), every row
     * 64-byte aligned at every wide tile's first column (tiles start at multiples of wide_nr) */
    return (size_t)M * N * sizeof(float) >= CL_GEMM_STREAM_MIN_BYTES && K <= CL_GEMM_KC && act != CL_ACT_SIGMOID &&
           (size_t)C % 64 == 0 && ldc % 16 == 0;
}

static void epilogue_rows(const cl_epilogue *ep, int i0, int n, int valid, float *bias, float *slope)
{
    for (int i = 0; i < n; i++) {
        bias[i] = ep && ep->bias && i < valid ? ep->bias[i0 + i] : 0.0f;
        slope[i] = ep && ep->slope && i < valid ? ep->slope[i0 + i] : 0.0f;
    }
}

static void sigmoid_rows(const cl_epilogue *ep, float *c, ptrdiff_t ldc, int rows, int cols)
{
    if (ep && ep->act == CL_ACT_SIGMOID)
        for (int i = 0; i < rows; i++)
            cl_sigmoid_inplace(c + i * ldc, (size_t)cols);
}

/* Columns [n_begin, n_end) of C. Row chunks split A's panels evenly (at most wide_panels each):
 * 4 panels run as 2 + 2, not 3 + 1 whose single panel would read B once for MR rows only. */
static void wide_columns(const cl_gemm_a *a, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                         const cl_epilogue *ep, int stream, int long_tile, int n_begin, int n_end)
{
    const cl_unpacked_ukernel *u = a->un;
    int mr = a->uk->mr, nr = long_tile ? u->long_nr : u->wide_nr, M = a->M, K = a->K, panels = a->mp / mr;
    int uk_act = ep && ep->act != CL_ACT_SIGMOID ? ep->act : CL_ACT_NONE;
    int chunks = long_tile ? panels : (panels + u->wide_panels - 1) / u->wide_panels;
    cl_wide_fn tile = long_tile ? u->wide_long : u->wide;
    int nc_max = WIDE_CHUNK_FLOATS / K / nr * nr;
    if (nc_max < nr)
        nc_max = nr;
    float bias[ROWS_MAX], slope[ROWS_MAX];
    for (int n0 = n_begin; n0 < n_end; n0 += nc_max) {
        int nc = n_end - n0 < nc_max ? n_end - n0 : nc_max;
        const float *ap = a->data;
        for (int k0 = 0; k0 < K; k0 += CL_GEMM_KC) {
            int kc = K - k0 < CL_GEMM_KC ? K - k0 : CL_GEMM_KC;
            int flags = (k0 > 0 ? CL_UK_LOAD : 0) | (k0 + kc == K ? CL_UK_EPILOGUE : 0) | stream;
            for (int ch = 0; ch < chunks; ch++) {
                int p0 = panels * ch / chunks, np = panels * (ch + 1) / chunks - p0, i0 = p0 * mr;
                int rows = M - i0 < np * mr ? M - i0 : np * mr;
                epilogue_rows(ep, i0, np * mr, rows, bias, slope);
                for (int j = 0; j < nc; j += nr)
                    tile(np, kc, ap + (size_t)i0 * kc, (ptrdiff_t)kc * mr, B + k0 * ldb + n0 + j, ldb,
                            C + i0 * ldc + n0 + j, ldc, rows, nc - j < nr ? nc - j : nr, flags, bias, slope,
                            uk_act);
                if (flags & CL_UK_EPILOGUE)
                    sigmoid_rows(ep, C + i0 * ldc + n0, ldc, rows, nc);
            }
            ap += (size_t)a->mp * kc;
        }
    }
    if (stream)   /* the streamed stores are weakly ordered: done before anyone reads C */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int cl_gemm_wide(const cl_gemm_a *a, int N, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                 const cl_epilogue *ep, int nthreads, int long_tile)
{
    long_tile = long_tile && a->un->long_nr;
    int nr = long_tile ? a->un->long_nr : a->un->wide_nr;
    /* whole tiles per thread, as cl_gemm_src: a column's sums never depend on the split */
    int share = ((N + nthreads - 1) / nthreads + nr - 1) / nr * nr;
    int parts = (N + share - 1) / share;
    int stream = cl_gemm_streams_c(a->M, N, a->K, C, ldc, ep ? ep->act : CL_ACT_NONE) ? CL_UK_STREAM : 0;
    if (parts == 1) {
        wide_columns(a, B, ldb, C, ldc, ep, stream, long_tile, 0, N);
        return CL_OK;
    }
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++)
        wide_columns(a, B, ldb, C, ldc, ep, stream, long_tile, p * share, (p + 1) * share < N ? (p + 1) * share : N);
    return CL_OK;
}

/* Row panels [p_begin, p_end) of A^T, all N columns. The columns are cut into tiles of nearly equal
 * width (N = 49 with 14-pixel tiles: 13 + 12 + 12 + 12, not 14 + 14 + 14 + 7), so the short tile
 * that issues as many A^T loads as a full one is not that short. */
static void narrow_panels(const cl_gemm_a *a, int N, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                          const cl_epilogue *ep, int p_begin, int p_end)
{
    const cl_unpacked_ukernel *u = a->un;
    int nr = u->narrow_nr, K = a->K, tiles = (N + u->narrow_px - 1) / u->narrow_px;
    int uk_act = ep ? (ep->act != CL_ACT_SIGMOID ? ep->act : CL_ACT_NONE) : CL_ACT_NONE;
    _Alignas(64) float bias[ROWS_MAX], slope[ROWS_MAX];
    for (int p = p_begin; p < p_end; p++) {
        int i0 = p * nr, rows = a->M - i0 < nr ? a->M - i0 : nr;
        const float *wt = a->at + (size_t)p * K * nr;
        epilogue_rows(ep, i0, nr, rows, bias, slope);
        for (int t = 0, n0 = 0; t < tiles; t++) {
            int px = N / tiles + (t < N % tiles);
            /* the last tile of a panel brings the next panel's A^T in (a model's weights are cold) */
            const float *next = t == tiles - 1 && p + 1 < p_end ? wt + (size_t)K * nr : NULL;
            u->narrow(px, K, B + n0, ldb, wt, next, C + i0 * ldc + n0, ldc, rows, bias, slope, uk_act);
            n0 += px;
        }
        sigmoid_rows(ep, C + i0 * ldc, ldc, rows, N);
    }
}

int cl_gemm_narrow(const cl_gemm_a *a, int N, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                   const cl_epilogue *ep, int nthreads)
{
    int panels = (a->M + a->un->narrow_nr - 1) / a->un->narrow_nr;
    int parts = nthreads < panels ? nthreads : panels;
    if (parts == 1) {
        narrow_panels(a, N, B, ldb, C, ldc, ep, 0, panels);
        return CL_OK;
    }
    CL_PARALLEL_FOR(parts)
    for (int t = 0; t < parts; t++)
        narrow_panels(a, N, B, ldb, C, ldc, ep, panels * t / parts, panels * (t + 1) / parts);
    return CL_OK;
}
