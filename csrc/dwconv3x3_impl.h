/* The depthwise 3x3 channel kernel, written once over the vector layer (cl_vec.h) and compiled per
 * ISA by dwconv3x3_<isa>.c.
 * - Every output is ((row 0 taps + row 1 taps) + row 2 taps) + bias, each row's taps summed 0..2:
 *   the same wherever the output falls in a step, so results do not depend on how rows are paired,
 *   vectors overlap or channels are split between threads.
 * - Each step computes two output rows (sharing the input rows both read), one or two vectors of
 *   columns at a time; each output sums its three input rows in separate registers and adds them
 *   at the end, so a block runs 3 * rows * vectors independent chains of 3 FMAs.
 * - Stride 1: input rows are copied into zero-bordered rows one step before they are needed (an
 *   L1 ring, or for small planes the whole plane once), so every vector is computed the same way,
 *   edges included; a row's last vectors overlap their neighbours rather than run past the row.
 * - Stride 2: input rows are read in place. A vector of outputs needs 2 * CLV_W + 1 consecutive
 *   input columns: two loads split into even and odd columns in registers (taps 1 and 2) and the
 *   odd ones shifted by one lane, continued from the vector before's (tap 0), just computed as
 *   rows are swept left to right. Only the vectors that reach past a row's ends load with masks
 *   (zeros there: the padding); padding rows read a row of zeros. */

/* The channel's weights, bias and PReLU slope broadcast once and kept in registers. */
typedef struct {
    clv k[9], bias, slope;
    int act;
} dw_consts;

static inline __attribute__((always_inline)) dw_consts dw_consts_of(const cl_dw_channel *c)
{
    dw_consts q;
    for (int t = 0; t < 9; t++)
        q.k[t] = clv_set1(c->k[t]);
    q.bias = clv_set1(c->bias);
    q.slope = clv_set1(c->slope);
    q.act = c->act;
    return q;
}

/* The output of three per-row partial sums. */
static inline __attribute__((always_inline)) clv dw_finish(const clv *part, const dw_consts *q)
{
    return clv_act(clv_add(clv_add(clv_add(part[0], part[1]), part[2]), q->bias), q->act, q->slope);
}

/* acc + the three taps k[0..2] of one input row, given as three vectors of inputs. */
static inline __attribute__((always_inline)) clv dw_row_taps(clv t0, clv t1, clv t2, const clv *k)
{
    return clv_fma(k[2], t2, clv_fma(k[1], t1, clv_fma(k[0], t0, clv_set1(0.0f))));
}

static inline void dw_store(float *out, int n, float *end, clv v)
{
    /* A vector reaching past its row is stored whole while that stays inside the plane: the lanes
     * past the row land on output that is stored after it (the callers' store order). Only the
     * plane's last vectors need the (slow, Zen 4) masked store. */
    if (n == CLV_W || end - out >= CLV_W)
        clv_storeu(out, v);
    else
        clv_store_first(out, v, n);
}

/* ---- stride 1: rows from zero-bordered copies ---- */

/* One or two output rows: rows[i] is the zero-bordered copy of input row oy + i. */
typedef struct {
    const float *rows[4];
    float *y[2];
    float *end;   /* the end of the channel's output plane */
    int ow;
} dw_rows_job;

/* The taps of one input row for the vector of outputs starting at column x. A row whose taps all
 * fall in one vector (fit: ow + 2 <= CLV_W, x = 0) is loaded once and rotated in registers for the
 * shifted taps; lanes past the row read rotated-in values and are not stored. */
static inline __attribute__((always_inline)) clv dw_s1_taps(const float *row, ptrdiff_t x, const clv *k, int fit)
{
    if (fit) {
        clv v = clv_loadu(row);
        return dw_row_taps(v, clv_rot(v, 1), clv_rot(v, 2), k);
    }
    return dw_row_taps(clv_loadu(row + x), clv_loadu(row + x + 1), clv_loadu(row + x + 2), k);
}

/* `rows` output rows (1 or 2) by `ux` vectors of columns (at ox0 and, if ux is 2, ox1); rows, ux
 * and fit are constants after inlining. */
static inline __attribute__((always_inline)) void dw_s1_block(const dw_rows_job *r, const dw_consts *q, int ox0,
                                                              int ox1, int rows, int ux, int fit)
{
    int n = r->ow < CLV_W ? r->ow : CLV_W, ox[2] = {ox0, ox1};
    clv part[2][2][3];
    CL_UNROLL for (int i = 0; i < 3; i++)
        CL_UNROLL for (int o = 0; o < rows; o++)
            CL_UNROLL for (int u = 0; u < ux; u++)
                part[o][u][i] = dw_s1_taps(r->rows[o + i], ox[u], q->k + 3 * i, fit);
    CL_UNROLL for (int o = 0; o < rows; o++)
        CL_UNROLL for (int u = 0; u < ux; u++)
            dw_store(r->y[o] + ox[u], n, r->end, dw_finish(part[o][u], q));
}

/* Whole vectors only: the last block is moved back to end at the row's end, overlapping its
 * neighbour (same values written twice) instead of running past it. */
static inline __attribute__((always_inline)) void dw_s1_rows(const dw_rows_job *r, const dw_consts *q, int rows)
{
    int ow = r->ow;
    if (ow + 2 <= CLV_W) {
        dw_s1_block(r, q, 0, 0, rows, 1, 1);
        return;
    }
    if (ow <= CLV_W) {
        dw_s1_block(r, q, 0, 0, rows, 1, 0);
        return;
    }
    for (int ox = 0;; ox += 2 * CLV_W) {
        if (ox + 2 * CLV_W > ow)
            ox = ow - 2 * CLV_W < 0 ? 0 : ow - 2 * CLV_W;
        dw_s1_block(r, q, ox, ox + CLV_W <= ow - CLV_W ? ox + CLV_W : ow - CLV_W, rows, 2, 0);
        if (ox + 2 * CLV_W >= ow)
            return;
    }
}

static inline __attribute__((always_inline)) void dw_fill(float *dst, const float *src, int w, int pl)
{
    /* Whole vectors; a row's tail (or a row narrower than a vector) by a masked load, which reads
     * nothing past the row and gives zeros there, stored as a whole vector: the ring row has room
     * (dwconv3x3.c) and must be zero past the row anyway. Masked stores are slow (Zen 4). */
    int i = 0;
    for (; i + CLV_W <= w; i += CLV_W)
        clv_storeu(dst + pl + i, clv_loadu(src + i));
    if (i < w)
        clv_storeu(dst + pl + i, clv_load_lanes(src, i, clv_lanes_in(i, w)));
}

static inline __attribute__((always_inline)) const float *ring_row(cl_dw_ring *g, const cl_dw_channel *c, int iy)
{
    int slot = iy & (CL_DW_RING - 1);   /* consecutive rows, negative ones too, get distinct slots */
    float *row = g->buf + slot * g->ld;
    if (g->holds[slot] != iy) {
        if (iy >= 0 && iy < c->h) {
            dw_fill(row, c->x + (ptrdiff_t)iy * c->w, c->w, c->pl);
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

static void dw_s1_ring(const cl_dw_channel *c)
{
    dw_consts q = dw_consts_of(c);
    dw_rows_job job = {{0}, {0}, c->y + (ptrdiff_t)c->oh * c->ow, c->ow};
    for (int i = 0; i < CL_DW_RING; i++)
        c->ring->holds[i] = CL_DW_NONE;
    for (int oy = 0; oy < c->oh; oy += 2) {
        int two = oy + 1 < c->oh;
        for (int i = 0; i < (two ? 4 : 3); i++)
            job.rows[i] = ring_row(c->ring, c, oy - c->pt + i);
        /* the next step's rows now: loads that follow their stores closely stall */
        for (int i = 4; i < 6 && oy + 2 < c->oh; i++)
            ring_row(c->ring, c, oy - c->pt + i);
        job.y[0] = c->y + (ptrdiff_t)oy * c->ow;
        job.y[1] = job.y[0] + c->ow;
        if (two)
            dw_s1_rows(&job, &q, 2);
        else
            dw_s1_rows(&job, &q, 1);
    }
}

/* Small planes: copy the channel's rows into the zero-bordered plane once, then run the same
 * two-row steps over it with no ring bookkeeping (same sums, same order: bit-identical). */
static void dw_s1_plane(const cl_dw_channel *c)
{
    dw_consts q = dw_consts_of(c);
    ptrdiff_t ld = c->ring->ld;
    float *plane = c->ring->plane;
    for (int iy = 0; iy < c->h; iy++)
        dw_fill(plane + (ptrdiff_t)(c->pt + iy) * ld, c->x + (ptrdiff_t)iy * c->w, c->w, c->pl);
    dw_rows_job job = {{0}, {0}, c->y + (ptrdiff_t)c->oh * c->ow, c->ow};
    int oy = 0;
    for (; oy + 1 < c->oh; oy += 2) {
        for (int i = 0; i < 4; i++)
            job.rows[i] = plane + (ptrdiff_t)(oy + i) * ld;
        job.y[0] = c->y + (ptrdiff_t)oy * c->ow;
        job.y[1] = job.y[0] + c->ow;
        dw_s1_rows(&job, &q, 2);
    }
    if (oy < c->oh) {
        for (int i = 0; i < 3; i++)
            job.rows[i] = plane + (ptrdiff_t)(oy + i) * ld;
        job.y[0] = c->y + (ptrdiff_t)oy * c->ow;
        dw_s1_rows(&job, &q, 1);
    }
}

/* ---- stride 2: rows read in place ---- */

/* Prefetch distance in steps of 4 input rows (1, 2 and 4 measured alike on 240x400 planes, and a
 * distance of at least 8 KB no better on narrow ones). */
enum { DW_S2_AHEAD = 2 };

/* One or two output rows: rows[i] is input row 2 * oy - pt + i (or a row of zeros). */
typedef struct {
    const float *rows[5];
    const float *ahead;   /* the first input row to prefetch as rows[1..4] are read (see dw_s2) */
    float *y[2];
    float *end;
    int w, pl, ow;
} dw_s2_job;

/* The input column of tap 1 of output column ox: the vector at ox loads 2 * CLV_W columns from here. */
static inline ptrdiff_t dw_s2_col(const dw_s2_job *r, int ox) { return 2 * (ptrdiff_t)ox + 1 - r->pl; }

static inline int dw_s2_inside(const dw_s2_job *r, int ox)
{
    ptrdiff_t col = dw_s2_col(r, ox);
    return col >= 0 && col + 2 * CLV_W <= r->w;
}

/* The micro-kernel: `rows` output rows (1 or 2) by the vector of outputs at column ox, of which the
 * first n are in the row. Tap 1 and
 * tap 2 are the even and odd loaded columns, tap 0 the odd ones shifted in by one lane from
 * prev[i], input row i's odd columns of the vector before (only its last lane counts); prev[i]
 * becomes this vector's. edge: some of the columns lie outside the row. rows and edge are
 * constants after inlining. */
static inline __attribute__((always_inline)) void dw_s2_block(const dw_s2_job *r, const dw_consts *q, int ox,
                                                              int n, clv *prev, int rows, int edge)
{
    ptrdiff_t col = dw_s2_col(r, ox);
    clv_lanes in0 = clv_lanes_in(col, r->w), in1 = clv_lanes_in(col + CLV_W, r->w);
    clv part[2][3];
    /* the columns this vector reads, further down (the 4 rows a step adds) */
    CL_UNROLL for (int i = 0; i < 4; i++)
        CL_UNROLL for (int j = 0; j < 2 * CLV_W; j += 64 / (int)sizeof(float))   /* a cache line */
            __builtin_prefetch(r->ahead + i * (ptrdiff_t)r->w + col + j);
    CL_UNROLL for (int i = 0; i < 2 * rows + 1; i++) {
        clv even, odd;
        if (edge)
            clv_deinterleave(clv_load_lanes(r->rows[i], col, in0), clv_load_lanes(r->rows[i], col + CLV_W, in1),
                             &even, &odd);
        else
            clv_load2(r->rows[i] + col, &even, &odd);
        clv odd0 = clv_shift_in(prev[i], odd);
        prev[i] = odd;
        /* input row i is kernel row i % 2 of output row i / 2, and (i even) row 2 of output row i / 2 - 1 */
        if (i / 2 < rows)
            part[i / 2][i % 2] = dw_row_taps(odd0, even, odd, q->k + 3 * (i % 2));
        if (i % 2 == 0 && i > 0)
            part[i / 2 - 1][2] = dw_row_taps(odd0, even, odd, q->k + 6);
    }
    CL_UNROLL for (int o = 0; o < rows; o++)   /* row 0 first: its lanes past the row land on row 1 */
        dw_store(r->y[o] + ox, n, r->end, dw_finish(part[o], q));
}

/* prev[] for the vector at ox: the input column just left of its first. */
static inline __attribute__((always_inline)) void dw_s2_prev(const dw_s2_job *r, int ox, clv *prev, int rows)
{
    ptrdiff_t col = dw_s2_col(r, ox) - 1;
    CL_UNROLL for (int i = 0; i < 2 * rows + 1; i++)
        prev[i] = clv_set1(col >= 0 && col < r->w ? r->rows[i][col] : 0.0f);
}

/* A step's output rows. The last vector goes first, on its own: it may reach past the row, and
 * the lanes past the row land on the next row, stored later. Then the rest left to right, each
 * vector continuing the one before (prev), whole: those reaching past the row's left end
 * (padding), the ones within it, the rest. */
static inline __attribute__((always_inline)) void dw_s2_rows(const dw_s2_job *r, const dw_consts *q, int rows)
{
    int last = (r->ow - 1) / CLV_W * CLV_W, ox = 0;
    clv prev[5];
    dw_s2_prev(r, last, prev, rows);
    if (dw_s2_inside(r, last))
        dw_s2_block(r, q, last, r->ow - last, prev, rows, 0);
    else
        dw_s2_block(r, q, last, r->ow - last, prev, rows, 1);
    dw_s2_prev(r, 0, prev, rows);
    for (; ox < last && dw_s2_col(r, ox) < 0; ox += CLV_W)
        dw_s2_block(r, q, ox, CLV_W, prev, rows, 1);
    for (; ox < last && dw_s2_inside(r, ox); ox += CLV_W)
        dw_s2_block(r, q, ox, CLV_W, prev, rows, 0);
    for (; ox < last; ox += CLV_W)
        dw_s2_block(r, q, ox, CLV_W, prev, rows, 1);
}

static void dw_s2(const cl_dw_channel *c)
{
    dw_consts q = dw_consts_of(c);
    dw_s2_job job = {.end = c->y + (ptrdiff_t)c->oh * c->ow, .w = c->w, .pl = c->pl, .ow = c->ow};
    /* Planes beyond L1 stream in, and rows read a vector at a time, five at once, are streams too
     * short for the hardware prefetcher (slower than a row-by-row copy): each vector prefetches
     * the columns it reads DW_S2_AHEAD steps on (past the plane's end, the next channel's first rows;
     * prefetches do not fault). */
    for (int oy = 0; oy < c->oh; oy += 2) {
        int rows = oy + 1 < c->oh ? 2 : 1;
        job.ahead = c->x + (2 * oy - c->pt + 1 + 4 * DW_S2_AHEAD) * (ptrdiff_t)c->w;
        for (int i = 0; i < 2 * rows + 1; i++) {
            int iy = 2 * oy - c->pt + i;
            job.rows[i] = iy >= 0 && iy < c->h ? c->x + (ptrdiff_t)iy * c->w : c->zero_row;
        }
        job.y[0] = c->y + (ptrdiff_t)oy * c->ow;
        job.y[1] = job.y[0] + c->ow;
        if (rows == 2)
            dw_s2_rows(&job, &q, 2);
        else
            dw_s2_rows(&job, &q, 1);
    }
}

static void dw_channel(const cl_dw_channel *c)
{
    if (c->stride == 2)
        dw_s2(c);
    else if (c->ring->plane)
        dw_s1_plane(c);
    else
        dw_s1_ring(c);
}
