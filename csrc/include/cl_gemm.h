/* Single-precision GEMM, BLIS-style: C (M x N) = epilogue(A (M x K) * B (K x N)), all row-major.
 *
 * A is packed once (conv weights: at prepare time) into MR-row panels for the micro-kernel
 * chosen at pack time; B is packed per call into NR-column panels, KC rows at a time.
 * Threads split the columns of C only, so every output is summed in the same order (k = 0..K-1,
 * in KC blocks) whatever the thread count: results are bit-identical across thread counts.
 *
 * For callers such as Winograd's batched GEMMs: pack each A once with cl_gemm_pack_a, then
 * call cl_gemm per input with epilogue NULL (plain C = A*B). cl_gemm is reentrant (its packing
 * buffer is allocated per call), so callers may run several GEMMs from their own threads with
 * nthreads = 1. */
#ifndef CL_GEMM_H
#define CL_GEMM_H

#include "cl_common.h"

/* cffi:begin */
typedef struct cl_gemm_a cl_gemm_a;

/* Packs A (M x K, row stride lda >= K). NULL if out of memory or an argument is out of range. */
cl_gemm_a *cl_gemm_pack_a(int M, int K, const float *A, int lda);
void cl_gemm_free_a(cl_gemm_a *a);

/* C = epilogue(A * B). B: K x N, row stride ldb >= N; C: M x N, row stride ldc >= N.
 * ep may be NULL (no bias, no activation). Returns CL_OK, CL_EINVAL or CL_ENOMEM. */
int cl_gemm(const cl_gemm_a *a, int N, const float *B, int ldb, float *C, int ldc,
            const cl_epilogue *ep, int nthreads);

/* C = epilogue(A * B) with B already in the micro-kernel's panels (cl_gemm_a_nr columns each,
 * K rows of NR floats, panel p at panels + p * panel_stride; columns past N are computed and
 * dropped). For callers that produce B themselves (Winograd's input transform): no packing copy. */
int cl_gemm_panels(const cl_gemm_a *a, int N, const float *panels, ptrdiff_t panel_stride, float *C,
                   ptrdiff_t ldc, const cl_epilogue *ep, int nthreads);
int cl_gemm_a_nr(const cl_gemm_a *a);

/* cl_gemm_pack_a, plus A^T in the panels of the small-N path (a 1x1 conv over a small map): for an
 * A that multiplies B matrices of any width. Twice the memory of cl_gemm_pack_a. */
cl_gemm_a *cl_gemm_pack_a_pointwise(int M, int K, const float *A, int lda);

/* Which loop nest cl_gemm runs (every one gives the same bits): by default (CL_GEMM_AUTO) a rule on
 * M, N, K (gemm.c); the others force one, for tests and A/B timing. CL_GEMM_NARROW applies only to
 * an A from cl_gemm_pack_a_pointwise (else the rule decides); CL_GEMM_LONG is CL_GEMM_WIDE on an ISA
 * without a long tile. Returns CL_EINVAL for an unknown
 * path. Not thread-safe: call it between GEMMs. */
enum { CL_GEMM_AUTO = 0, CL_GEMM_PACKED = 1, CL_GEMM_WIDE = 2, CL_GEMM_NARROW = 3, CL_GEMM_LONG = 4 };
int cl_gemm_force_path(int path);

/* cl_gemm with A unpacked (packs it per call): convenient, slower for repeated A. */
int cl_sgemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             float *C, int ldc, const cl_epilogue *ep, int nthreads);
/* cffi:end */

/* ---- internal: the micro-kernel contract and B sources other than a plain matrix ---- */

/* Accumulates one MR x NR tile: acc = A panel (kc x MR, k-major) * B panel (kc x NR, k-major);
 * if (flags & CL_UK_LOAD) acc += C first; if (flags & CL_UK_EPILOGUE) adds bias[i] and applies
 * act with slope[i] per row i (sigmoid excluded: the driver applies it). Stores MR x NR to c
 * with row stride ldc. bias and slope always point at MR readable values. */
enum { CL_UK_LOAD = 1, CL_UK_EPILOGUE = 2, CL_UK_STREAM = 4 /* wide tile only, see cl_wide_fn */ };
typedef void (*cl_ukernel_fn)(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                              int flags, const float *bias, const float *slope, int act);
/* The GEMV micro-kernel (N = 1): adds to sum[0..MR-1] the kc-deep dot products of one A panel
 * with bx, the column of B expanded to the panel's layout (bx[k * MR + i] = b[k]). */
typedef void (*cl_gemv_fn)(int kc, const float *a, const float *bx, float *sum);
typedef struct {
    int mr, nr, isa;
    cl_ukernel_fn fn;
    cl_gemv_fn gemv;
} cl_ukernel;

/* Every micro-kernel this build has (x86: scalar, avx2, avx512; aarch64: scalar, neon). */
extern const cl_ukernel cl_ukernel_scalar, cl_ukernel_avx2, cl_ukernel_avx512, cl_ukernel_neon;
/* The NEON micro-kernel in intrinsics: what the assembly of cl_ukernel_neon must match bit for bit
 * (csrc/tests/test_kernels.c); never in the kernel table (cl_kernels.h). */
extern const cl_ukernel cl_ukernel_neon_c;

/* The micro-kernels that read a plain B (K x N, row stride ldb) where it lies (gemm_unpacked_impl.h).
 * Wide: C rows = panels * MR (A panel p at a + p * a_panel, 1 <= panels <= wide_panels) by cols <=
 * wide_nr columns, B's columns from b; CL_UK_LOAD / CL_UK_EPILOGUE as cl_ukernel_fn; stores only rows
 * < rows, columns < cols; bias, slope: panels * MR values. CL_UK_STREAM: the full rows of C are
 * written with non-temporal stores (c and ldc must keep every row's columns vector-aligned; the
 * caller fences before C is read by another thread).
 * Narrow: px (1..narrow_px) columns of B (x, row stride ldx) by narrow_nr rows of C, whose A^T panel
 * wt holds k x narrow_nr, k-major (next: NULL, or a panel to prefetch alongside); the whole depth k at once, always with the epilogue (bias, slope:
 * narrow_nr values), storing rows < chans of C (row stride ldc). */
typedef void (*cl_wide_fn)(int panels, int kc, const float *a, ptrdiff_t a_panel, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int rows, int cols, int flags, const float *bias,
                           const float *slope, int act);
typedef void (*cl_narrow_fn)(int px, int k, const float *x, ptrdiff_t ldx, const float *wt, const float *next, float *c,
                             ptrdiff_t ldc, int chans, const float *bias, const float *slope, int act);
typedef struct {
    int wide_panels, wide_nr, narrow_px, narrow_nr;
    int wide_max_m;   /* 0, or the M past which the packed micro-kernel beats the wide tile (measured) */
    cl_wide_fn wide;
    cl_narrow_fn narrow;
    int long_nr;      /* 0, or the columns of the long tile: one A panel (MR rows) a tile */
    cl_wide_fn wide_long;
} cl_unpacked_ukernel;
extern const cl_unpacked_ukernel cl_unpacked_scalar, cl_unpacked_avx2, cl_unpacked_avx512, cl_unpacked_neon;

enum { CL_GEMM_KC = 256 };   /* depth of one block of A's panels */
struct cl_gemm_a {
    int M, K, mp;          /* mp: M rounded up to MR */
    const cl_ukernel *uk;
    const cl_unpacked_ukernel *un;   /* the same ISA as uk: the wide tile reads uk's panels */
    float *data;           /* per CL_GEMM_KC block: mp/MR panels of kc x MR, k-major */
    float *at;             /* NULL, or A^T as narrow panels: panel p (rows p * narrow_nr..) K x narrow_nr */
};

/* The loop nests around the unpacked micro-kernels (gemm_unpacked.c); cl_gemm chooses. */
/* C at least this large outgrows the L3 (32 MB here, shared): the layer that reads it next reads it
 * from memory however it was written, so the wide path writes it past the caches. */
enum { CL_GEMM_STREAM_MIN_BYTES = 24 << 20 };
int cl_gemm_streams_c(int M, int N, int K, const float *C, ptrdiff_t ldc, int act);
/* long_tile: the wide loops around the long tile (where the ISA has one) instead of the tall one */
int cl_gemm_wide(const cl_gemm_a *a, int N, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                 const cl_epilogue *ep, int nthreads, int long_tile);
int cl_gemm_narrow(const cl_gemm_a *a, int N, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                   const cl_epilogue *ep, int nthreads);

/* A source of B: writes rows k0..k0+kc-1, columns n0..n0+nc-1 as NR-wide panels (panel p holds
 * columns n0+p*nr.., k-major, kc*nr floats), zero beyond column N-1. Lets im2col pack straight
 * from the image instead of materialising the K x N matrix. */
typedef struct cl_bsrc cl_bsrc;
struct cl_bsrc {
    void (*pack)(const cl_bsrc *src, int k0, int kc, int n0, int nc, int nr, float *dst);
    int K, N;
    const float *data;
    ptrdiff_t ld;
    const void *ctx;
    ptrdiff_t panel_stride;   /* pack == NULL: data already holds the panels (cl_gemm_panels) */
};
int cl_gemm_src(const cl_gemm_a *a, const cl_bsrc *b, float *C, ptrdiff_t ldc,
                const cl_epilogue *ep, int nthreads);

#endif
