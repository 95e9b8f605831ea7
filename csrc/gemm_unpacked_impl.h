/* The two GEMM micro-kernels that read B (K x N, row-major, row stride ldb: the NCHW input of a
 * 1x1 conv) where it lies, written once over the vector layer (cl_vec.h); each
 * gemm_unpacked_<isa>.c includes it with
 *   UK_MR         rows of the packed A panels (the packed micro-kernel's MR: the wide tile reads them),
 *   WIDE_PANELS   at most this many A panels per wide tile, WIDE_NV vectors of columns,
 *   NARROW_PX     at most this many columns of B per narrow tile, NARROW_NV vectors of rows of C,
 *   WIDE_LONG_NV  optional: vectors of columns of the long tile (one A panel), for many rows of C.
 * Both sum every output in k order with one FMA per k, as the packed micro-kernel does, so every
 * path of cl_gemm gives the same bits. Contracts: cl_wide_fn and cl_narrow_fn in cl_gemm.h. */
#define WIDE_NR (WIDE_NV * CLV_W)
#ifdef WIDE_LONG_NV
#define LONG_NR (WIDE_LONG_NV * CLV_W)
#define WIDE_NV_MAX (WIDE_LONG_NV > WIDE_NV ? WIDE_LONG_NV : WIDE_NV)
#else
#define LONG_NR 0
#define WIDE_NV_MAX WIDE_NV
#endif
#define NARROW_NR (NARROW_NV * CLV_W)
/* Ahead of the wide tile's B loads: a tile reads one short piece of each of K rows, more streams
 * than the hardware prefetchers follow, so the first row chunk would wait on memory per piece. */
#define WIDE_PREFETCH (4 * WIDE_NR)

static inline clv load_cols(const float *p, int full, int n)
{
    return full ? clv_loadu(p) : clv_load_lanes(p, 0, clv_lanes_in(0, n));
}

static inline void store_cols(float *p, clv v, int full, int n, int stream)
{
    if (full && stream)
        clv_stream(p, v);
    else if (full)
        clv_storeu(p, v);
    else if (n > 0)
        clv_store_first(p, v, n > CLV_W ? CLV_W : n);
}

/* Wide tile: rows = panels * UK_MR rows of C (A panel p at a + p * a_panel, kc x UK_MR, k-major)
 * by nv vectors of columns read straight from B's rows; full (all nv vectors valid) is a constant
 * once inlined, so the masked loads of the right edge cost nothing elsewhere. With CL_UK_STREAM,
 * full rows of C go out with cache-bypassing stores. */
static inline __attribute__((always_inline)) void
wide_tile(int panels, int nv, int full, int kc, const float *a, ptrdiff_t a_panel, const float *b, ptrdiff_t ldb,
          float *c, ptrdiff_t ldc, int rows, int cols, int flags, const float *bias, const float *slope, int act)
{
    clv acc[WIDE_PANELS * UK_MR][WIDE_NV_MAX];
    CL_UNROLL for (int i = 0; i < panels * UK_MR; i++)
        CL_UNROLL for (int j = 0; j < nv; j++)
            acc[i][j] = flags & CL_UK_LOAD && i < rows ? load_cols(c + i * ldc + j * CLV_W, full, cols - j * CLV_W)
                                                       : clv_set1(0.0f);
    for (int k = 0; k < kc; k++) {
        clv bv[WIDE_NV_MAX], av[WIDE_PANELS * UK_MR / CLV_W + 1];
        __builtin_prefetch(b + WIDE_PREFETCH);
        CL_UNROLL for (int j = 0; j < nv; j++)
            bv[j] = load_cols(b + j * CLV_W, full, cols - j * CLV_W);
        if (CLV_BROADCAST_FROM_REGISTER)   /* whole vectors of A, each row an FMA by one lane */
            CL_UNROLL for (int q = 0; q < panels * UK_MR / CLV_W; q++)
                av[q] = clv_loadu(a + q * CLV_W / UK_MR * a_panel + q * CLV_W % UK_MR);
        CL_UNROLL for (int i = 0; i < panels * UK_MR; i++) {
            clv ai = CLV_BROADCAST_FROM_REGISTER ? clv_dup_lane(av[i / CLV_W], i % CLV_W)
                                                 : clv_set1(a[i / UK_MR * a_panel + i % UK_MR]);
            CL_UNROLL for (int j = 0; j < nv; j++)
                acc[i][j] = clv_fma(ai, bv[j], acc[i][j]);
        }
        a += UK_MR;
        b += ldb;
    }
    CL_UNROLL for (int i = 0; i < panels * UK_MR; i++) {
        if (i >= rows)
            break;
        if (flags & CL_UK_EPILOGUE) {
            clv bi = clv_set1(bias[i]), si = clv_set1(slope[i]);
            CL_UNROLL for (int j = 0; j < nv; j++)
                acc[i][j] = clv_act(clv_add(acc[i][j], bi), act, si);
        }
        CL_UNROLL for (int j = 0; j < nv; j++)
            store_cols(c + i * ldc + j * CLV_W, acc[i][j], full, cols - j * CLV_W, flags & CL_UK_STREAM);
    }
}

#define WIDE_CASE(p)                                                                                      \
    case p:                                                                                               \
        if (p <= WIDE_PANELS) {                                                                           \
            int q = p <= WIDE_PANELS ? p : 1;   /* keeps the dead cases inside acc */                     \
            if (cols == WIDE_NR)                                                                          \
                wide_tile(q, WIDE_NV, 1, kc, a, a_panel, b, ldb, c, ldc, rows, cols, flags, bias, slope, act); \
            else                                                                                          \
                wide_tile(q, WIDE_NV, 0, kc, a, a_panel, b, ldb, c, ldc, rows, cols, flags, bias, slope, act); \
        }                                                                                                 \
        break;

static void wide_ukernel(int panels, int kc, const float *a, ptrdiff_t a_panel, const float *b, ptrdiff_t ldb,
                         float *c, ptrdiff_t ldc, int rows, int cols, int flags, const float *bias,
                         const float *slope, int act)
{
    switch (panels) {
    WIDE_CASE(1) WIDE_CASE(2) WIDE_CASE(3) WIDE_CASE(4)
    }
}

#ifdef WIDE_LONG_NV
/* The long tile: one A panel by LONG_NR columns. Per k it loads WIDE_LONG_NV vectors of B for
 * UK_MR broadcasts, where the tall tile loads one for 3 * UK_MR: on a core with two full-width
 * FMA pipes the tall tile's broadcasts, not its FMAs, set its pace (measured: gemm.c's rule). */
static void long_ukernel(int panels, int kc, const float *a, ptrdiff_t a_panel, const float *b, ptrdiff_t ldb,
                         float *c, ptrdiff_t ldc, int rows, int cols, int flags, const float *bias,
                         const float *slope, int act)
{
    (void)panels;
    if (cols == LONG_NR)
        wide_tile(1, WIDE_LONG_NV, 1, kc, a, a_panel, b, ldb, c, ldc, rows, cols, flags, bias, slope, act);
    else
        wide_tile(1, WIDE_LONG_NV, 0, kc, a, a_panel, b, ldb, c, ldc, rows, cols, flags, bias, slope, act);
}
#define LONG_UKERNEL long_ukernel
#else
#define LONG_UKERNEL 0
#endif

/* Narrow tile, the transpose: px columns of B are the broadcast operand (read from B's rows, so
 * any px wastes no lane), NARROW_NR rows of C the vector lanes (wt: A^T, k x NARROW_NR, k-major).
 * Every output row gets its bias and activation on its lane; the tile goes out through a stack
 * copy that turns pixel-major lanes into C's rows. */
static inline __attribute__((always_inline)) void
narrow_tile(int px, int kc, const float *x, ptrdiff_t ldx, const float *wt, const float *next, float *c,
            ptrdiff_t ldc, int chans, const float *bias, const float *slope, int act)
{
    clv acc[NARROW_PX][NARROW_NV];
    CL_UNROLL for (int j = 0; j < px; j++)
        CL_UNROLL for (int v = 0; v < NARROW_NV; v++)
            acc[j][v] = clv_set1(0.0f);
    for (int k = 0; k < kc; k++) {
        clv wv[NARROW_NV], xv[NARROW_PX / CLV_W + 1];
        CL_UNROLL for (int v = 0; v < NARROW_NV; v++)
            wv[v] = clv_loadu(wt + v * CLV_W);
        if (next) {   /* the next panel's A^T, a k step ahead of its first read: it streams from L3 */
            CL_UNROLL for (int l = 0; l < NARROW_NR; l += 64 / (int)sizeof(float))
                __builtin_prefetch(next + l);
            next += NARROW_NR;
        }
        if (CLV_BROADCAST_FROM_REGISTER)   /* whole vectors of pixels; the last px % CLV_W one by one */
            CL_UNROLL for (int q = 0; q < px / CLV_W; q++)
                xv[q] = clv_loadu(x + q * CLV_W);
        CL_UNROLL for (int j = 0; j < px; j++) {
            clv xj = CLV_BROADCAST_FROM_REGISTER && j < px / CLV_W * CLV_W ? clv_dup_lane(xv[j / CLV_W], j % CLV_W)
                                                                        : clv_set1(x[j]);
            CL_UNROLL for (int v = 0; v < NARROW_NV; v++)
                acc[j][v] = clv_fma(xj, wv[v], acc[j][v]);
        }
        x += ldx;
        wt += NARROW_NR;
    }
#ifdef CL_VEC_AVX512
    /* Out through 16 x 16 transposes in registers (pixels x rows -> rows x pixels), a masked store of
     * px lanes per row of C: the stack copy below gathered every value one by one, 27% of this
     * kernel in O-Net's Winograd GEMMs (K = 32). */
    CL_UNROLL for (int v = 0; v < NARROW_NV; v++) {
        clv bv = clv_loadu(bias + v * CLV_W), sv = clv_loadu(slope + v * CLV_W), t[16];
        CL_UNROLL for (int j = 0; j < 16; j++)
            t[j] = j < px && j < NARROW_PX ? clv_act(clv_add(acc[j][v], bv), act, sv) : clv_set1(0.0f);
        clv_transpose16(t);
        for (int r = 0; r < CLV_W && v * CLV_W + r < chans; r++)
            clv_store_first(c + (v * CLV_W + r) * ldc, t[r], px);
    }
#else
    float tile[NARROW_PX * NARROW_NR];
    CL_UNROLL for (int v = 0; v < NARROW_NV; v++) {
        clv bv = clv_loadu(bias + v * CLV_W), sv = clv_loadu(slope + v * CLV_W);
        CL_UNROLL for (int j = 0; j < px; j++)
            clv_storeu(tile + j * NARROW_NR + v * CLV_W, clv_act(clv_add(acc[j][v], bv), act, sv));
    }
    for (int r = 0; r < chans && r < NARROW_NR; r++)
        CL_UNROLL for (int j = 0; j < px; j++)
            c[r * ldc + j] = tile[j * NARROW_NR + r];
#endif
}

#define NARROW_CASE(n)                                                                   \
    case n:                                                                              \
        if (n <= NARROW_PX)                                                              \
            narrow_tile(n <= NARROW_PX ? n : 1, kc, x, ldx, wt, next, c, ldc, chans, bias, slope, act); \
        break;

static void narrow_ukernel(int px, int kc, const float *x, ptrdiff_t ldx, const float *wt, const float *next, float *c,
                           ptrdiff_t ldc, int chans, const float *bias, const float *slope, int act)
{
    switch (px) {
    NARROW_CASE(1) NARROW_CASE(2) NARROW_CASE(3) NARROW_CASE(4) NARROW_CASE(5) NARROW_CASE(6)
    NARROW_CASE(7) NARROW_CASE(8) NARROW_CASE(9) NARROW_CASE(10) NARROW_CASE(11) NARROW_CASE(12)
    NARROW_CASE(13) NARROW_CASE(14)
    }
}

#define CL_UNPACKED_UKERNEL(isa)                                                                     \
    const cl_unpacked_ukernel cl_unpacked_##isa = {WIDE_PANELS, WIDE_NR, NARROW_PX, NARROW_NR, WIDE_MAX_M, \
                                                   wide_ukernel, narrow_ukernel, LONG_NR, LONG_UKERNEL}
