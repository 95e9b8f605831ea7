/* The depthwise 3x3 channel kernel, written once over the vector layer (cl_vec.h) and compiled per
 * ISA by dwconv3x3_<isa>.c.
 * - Input rows are copied into an L1 ring of zero-bordered rows (cl_dw_ring) one step before they
 *   are needed: every output vector is computed the same way, edges included, and each input row
 *   is read from memory once. For stride 2 the copy splits a row into even and odd columns, so the
 *   taps are even[x], odd[x] and even[x + 1]: unit-stride loads, no shuffles in the inner loop.
 * - Each step computes two output rows (sharing the input rows both read) by two vectors of
 *   columns; a row's last vectors overlap their neighbours rather than run past the row.
 * - Every output is ((row 0 taps + row 1 taps) + row 2 taps) + bias, each row's taps summed 0..2:
 *   the same wherever the output falls in a step, so results do not depend on how rows are paired,
 *   vectors overlap or channels are split between threads. */

/* One or two output rows: rows[i] is input row oy * stride + i in the ring. */
typedef struct {
    const float *rows[5];
    ptrdiff_t half;
    float *y[2];
    float *end;   /* the end of the channel's output plane */
    int ow, act;
} dw_rows_job;

/* acc += the three taps k[0..2] of one input row for the vector of outputs starting at column x. */
static inline clv dw_taps(clv acc, const float *row, ptrdiff_t x, ptrdiff_t half, const clv *k, int s)
{
    acc = clv_fma(k[0], clv_loadu(row + x), acc);
    acc = clv_fma(k[1], clv_loadu(s == 1 ? row + x + 1 : row + half + x), acc);
    return clv_fma(k[2], clv_loadu(s == 1 ? row + x + 2 : row + x + 1), acc);
}

static inline void dw_store(float *out, int n, float *end, clv v)
{
    /* A row narrower than one vector is stored whole while that stays inside the plane: the lanes
     * past the row land on later rows, which are stored after it (steps go down the plane, the
     * two rows of a step in order). Only the last rows need the (slow, Zen 4) masked store. */
    if (n == CLV_W || end - out >= CLV_W)
        clv_storeu(out, v);
    else
        clv_store_first(out, v, n);
}

/* `rows` output rows (1 or 2) by `ux` vectors of columns (at ox0 and, if ux is 2, ox1). Each output
 * sums its three input rows in separate registers and adds them at the end, so a block runs
 * 3 * rows * ux independent chains of 3 FMAs: enough to cover the FMA latency even for a single
 * narrow row. s, rows and ux are constants after inlining. */
/* Stride 1, a row whose taps all fall in one vector (fit: ow + 2 <= CLV_W, x = 0): one load per
 * input row, the shifted taps by rotating it in registers instead of two more unaligned loads.
 * Lanes past the row read rotated-in values and are not stored. */
static inline __attribute__((always_inline)) clv dw_taps_fit(clv acc, const float *row, ptrdiff_t half,
                                                             const clv *k, int s)
{
    clv v = clv_loadu(row);
    acc = clv_fma(k[0], v, acc);
    acc = clv_fma(k[1], clv_rot(v, 1), acc);
    return clv_fma(k[2], clv_rot(v, 2), acc);
}

static inline __attribute__((always_inline)) void dw_block(const dw_rows_job *r, const clv *k, clv bias,
                                                           clv slope, int ox0, int ox1, int rows, int ux, int s,
                                                           int fit)
{
    int n = r->ow < CLV_W ? r->ow : CLV_W, ox[2] = {ox0, ox1};
    clv part[2][2][3];
    CL_UNROLL for (int i = 0; i < 3; i++)
        CL_UNROLL for (int o = 0; o < rows; o++)
            CL_UNROLL for (int u = 0; u < ux; u++)
                part[o][u][i] = fit ? dw_taps_fit(clv_set1(0.0f), r->rows[o * s + i], r->half, k + 3 * i, s)
                                    : dw_taps(clv_set1(0.0f), r->rows[o * s + i], ox[u], r->half, k + 3 * i, s);
    CL_UNROLL for (int o = 0; o < rows; o++)
        CL_UNROLL for (int u = 0; u < ux; u++) {
            clv sum = clv_add(clv_add(part[o][u][0], part[o][u][1]), part[o][u][2]);
            dw_store(r->y[o] + ox[u], n, r->end, clv_act(clv_add(sum, bias), r->act, slope));
        }
}

/* Whole vectors only: the last block is moved back to end at the row's end, overlapping its
 * neighbour (same values written twice) instead of running past it. */
static inline __attribute__((always_inline)) void dw_row_span(const dw_rows_job *r, const clv *k, clv bias,
                                                              clv slope, int rows, int s)
{
    int ow = r->ow;
    if (s == 1 && ow + 2 <= CLV_W) {   /* (stride 2 measured slower this way: its tap 1 is a load anyway) */
        dw_block(r, k, bias, slope, 0, 0, rows, 1, s, 1);
        return;
    }
    if (ow <= CLV_W) {
        dw_block(r, k, bias, slope, 0, 0, rows, 1, s, 0);
        return;
    }
    for (int ox = 0;; ox += 2 * CLV_W) {
        if (ox + 2 * CLV_W > ow)
            ox = ow - 2 * CLV_W < 0 ? 0 : ow - 2 * CLV_W;
        dw_block(r, k, bias, slope, ox, ox + CLV_W <= ow - CLV_W ? ox + CLV_W : ow - CLV_W, rows, 2, s, 0);
        if (ox + 2 * CLV_W >= ow)
            return;
    }
}

static inline __attribute__((always_inline)) void dw_fill(float *dst, const float *src, int w, int pl, int s, ptrdiff_t half)
{
    /* Whole vectors; a row's tail (or a row narrower than a vector) by a masked load, which reads
     * nothing past the row and gives zeros there, stored as a whole vector: the ring row has room
     * (dwconv3x3.c) and must be zero past the row anyway. Masked stores are slow (Zen 4). */
    if (s == 1) {
        int i = 0;
        for (; i + CLV_W <= w; i += CLV_W)
            clv_storeu(dst + pl + i, clv_loadu(src + i));
        if (i < w)
            clv_storeu(dst + pl + i, clv_load_first(src + i, w - i));
        return;
    }
    /* src[i] is padded column pl + i: the even i go to one half, the odd i to the other */
    float *from_even = (pl & 1 ? dst + half : dst) + pl / 2, *from_odd = (pl & 1 ? dst : dst + half) + (pl + 1) / 2;
    for (int i = 0; i < w; i += 2 * CLV_W) {
        int r = w - i < 2 * CLV_W ? w - i : 2 * CLV_W;
        clv e, o;
        if (r == 2 * CLV_W) {
            clv_deinterleave(clv_loadu(src + i), clv_loadu(src + i + CLV_W), &e, &o);
            clv_storeu(from_even + i / 2, e);
            clv_storeu(from_odd + i / 2, o);
        } else {
            clv_deinterleave(clv_load_first(src + i, r < CLV_W ? r : CLV_W),
                             clv_load_first(src + i + CLV_W, r > CLV_W ? r - CLV_W : 0), &e, &o);
            clv_storeu(from_even + i / 2, e);
            clv_storeu(from_odd + i / 2, o);
        }
    }
}

static inline __attribute__((always_inline)) const float *ring_row(cl_dw_ring *g, const cl_dw_channel *c, int iy)
{
    int slot = iy & (CL_DW_RING - 1);   /* consecutive rows, negative ones too, get distinct slots */
    float *row = g->buf + slot * g->ld;
    if (g->holds[slot] != iy) {
        if (iy >= 0 && iy < c->h) {
            dw_fill(row, c->x + (ptrdiff_t)iy * c->w, c->w, c->pl, c->stride, g->half);
            g->zero[slot] = 0;
        } else if (!g->zero[slot]) {
            for (ptrdiff_t i = 0; i < g->ld; i++)
                row[i] = 0.0f;
            g->zero[slot] = 1;
        }
        g->holds[slot] = iy;
    }
    return row;
}

/* One function per stride, the weights broadcast once per channel and kept in registers. */
#define DW_CHANNEL(name, s)                                                                  \
    static void name(const cl_dw_channel *c)                                                 \
    {                                                                                        \
        clv k[9];                                                                            \
        for (int t = 0; t < 9; t++)                                                          \
            k[t] = clv_set1(c->k[t]);                                                        \
        clv bias = clv_set1(c->bias), slope = clv_set1(c->slope);                            \
        dw_rows_job job = {{0}, c->ring->half, {0}, c->y + (ptrdiff_t)c->oh * c->ow, c->ow, c->act};                          \
        for (int i = 0; i < CL_DW_RING; i++)                                                 \
            c->ring->holds[i] = CL_DW_NONE;                                                  \
        for (int oy = 0; oy < c->oh; oy += 2) {                                              \
            int two = oy + 1 < c->oh;                                                        \
            for (int i = 0; i < (two ? s + 3 : 3); i++)                                      \
                job.rows[i] = ring_row(c->ring, c, oy * s - c->pt + i);                      \
            /* the next step's rows now: loads that follow their stores closely stall */     \
            for (int i = s + 3; i < 3 * s + 3 && oy + 2 < c->oh; i++)                        \
                ring_row(c->ring, c, oy * s - c->pt + i);                                    \
            job.y[0] = c->y + (ptrdiff_t)oy * c->ow;                                         \
            job.y[1] = job.y[0] + c->ow;                                                     \
            if (two)                                                                         \
                dw_row_span(&job, k, bias, slope, 2, s);                                     \
            else                                                                             \
                dw_row_span(&job, k, bias, slope, 1, s);                                     \
        }                                                                                    \
    }
DW_CHANNEL(dw_channel_s1, 1)
DW_CHANNEL(dw_channel_s2, 2)

/* Small planes: copy the channel's rows into the zero-bordered plane once, then run the same
 * two-row steps over it with no ring bookkeeping (same sums, same order: bit-identical). */
#define DW_PLANE(name, s)                                                                    \
    static void name(const cl_dw_channel *c)                                                 \
    {                                                                                        \
        clv k[9];                                                                            \
        for (int t = 0; t < 9; t++)                                                          \
            k[t] = clv_set1(c->k[t]);                                                        \
        clv bias = clv_set1(c->bias), slope = clv_set1(c->slope);                            \
        ptrdiff_t ld = c->ring->ld;                                                          \
        float *plane = c->ring->plane;                                                       \
        for (int iy = 0; iy < c->h; iy++)                                                    \
            dw_fill(plane + (ptrdiff_t)(c->pt + iy) * ld, c->x + (ptrdiff_t)iy * c->w, c->w, \
                    c->pl, s, c->ring->half);                                                \
        dw_rows_job job = {{0}, c->ring->half, {0}, c->y + (ptrdiff_t)c->oh * c->ow, c->ow, c->act};                          \
        int oy = 0;                                                                          \
        for (; oy + 1 < c->oh; oy += 2) {                                                    \
            const float *r0 = plane + (ptrdiff_t)oy * s * ld;                                \
            for (int i = 0; i < s + 3; i++)                                                  \
                job.rows[i] = r0 + i * ld;                                                   \
            job.y[0] = c->y + (ptrdiff_t)oy * c->ow;                                         \
            job.y[1] = job.y[0] + c->ow;                                                     \
            dw_row_span(&job, k, bias, slope, 2, s);                                         \
        }                                                                                    \
        if (oy < c->oh) {                                                                    \
            const float *r0 = plane + (ptrdiff_t)oy * s * ld;                                \
            for (int i = 0; i < 3; i++)                                                      \
                job.rows[i] = r0 + i * ld;                                                   \
            job.y[0] = c->y + (ptrdiff_t)oy * c->ow;                                         \
            dw_row_span(&job, k, bias, slope, 1, s);                                         \
        }                                                                                    \
    }
DW_PLANE(dw_plane_s1, 1)
DW_PLANE(dw_plane_s2, 2)

static void dw_channel(const cl_dw_channel *c)
{
    if (c->ring->plane)
        (c->stride == 1 ? dw_plane_s1 : dw_plane_s2)(c);
    else
        (c->stride == 1 ? dw_channel_s1 : dw_channel_s2)(c);
}
