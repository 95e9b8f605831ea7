/* The depthwise 3x3 channel kernel, written once over the vector layer (cl_vec.h) and compiled per
 * ISA by dwconv3x3_<isa>.c.
 * - Every output is ((row 0 taps + row 1 taps) + row 2 taps) + bias, each row's taps summed 0..2:
 *   the same wherever the output falls in a step, so results do not depend on how rows are paired,
 *   vectors overlap or channels are split between threads.
 * - Each output sums its three input rows in separate registers and adds them at the end: 3
 *   independent chains of 3 FMAs per output vector.
 * - Stride 1: input rows are read in place, a strip of DW_S1_NV vectors of columns at a time walked
 *   down the plane, each input row loaded once for the three output rows it feeds; the vectors
 *   reaching past a row's ends load with masks (zeros there: the padding), and a row's last vector
 *   overlaps its neighbour rather than run past the row. (Until 2026-12 the rows were copied into
 *   a zero-bordered ring first: 1.1-1.9x the time, experiments/dw_s1.)
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

/* The three taps k[0..2] of one input row, given as three vectors of inputs: a multiply, then two
 * FMAs (a first FMA into zero costs a register clear on NEON). */
static inline __attribute__((always_inline)) clv dw_row_taps(clv t0, clv t1, clv t2, const clv *k)
{
    return clv_fma(k[2], t2, clv_fma(k[1], t1, clv_mul(k[0], t0)));
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

/* ---- stride 1: rows read in place, a strip of columns at a time down the plane ---- */

/* DW_S1_NV (dwconv3x3_<isa>.c): vectors of columns per strip, 9 multiply-add chains each per input
 * row. AVX-512 3 (of 32 zmm). AVX2 3 although 16 ymm spill: forced on Zen 5 it beat the row ring on
 * every plane of experiments/native_engine/kernel_bench.c (0.68-0.98x) where 2 did not (112x112).
 * NEON 4 of 32: 115 cycles per 4 output vectors in `convlab a55 report`'s A55 model, where the row
 * ring's best loop before it took 106 (3 vectors: 95). */

/* One input row r down a strip: nv vectors of outputs at columns ox[u], tap j of vector u reading
 * input columns col[u] + j. Input row r is tap row 0 of output r + pt, 1 of r + pt - 1, 2 of
 * r + pt - 2: each output's sum ((row 0 + row 1) + row 2) + bias (dw_finish's order) builds up in
 * s1 (row 0) and s2 (rows 0 and 1) over three input rows, so each input row is loaded once; output
 * o = r + pt - 2 is finished and stored here. row NULL: a padding row (zeros, as a zero-bordered
 * copy would give; a constant after inlining). Compile-time shape of the step:
 *   edge  some vectors reach past the row: those taps load with masks (masked[u][j]);
 *   fit   one vector holds a row and its taps (ow + 2 <= CLV_W): one load, rotated for taps 1
 *         and 2 (the lanes rotated in are past the row, never stored);
 *   full  every vector is a whole one (else one vector of ow < CLV_W outputs: masked store). */
static inline __attribute__((always_inline)) void
dw_s1_step(const cl_dw_channel *c, const dw_consts *q, const float *row, int o, const ptrdiff_t *col, const int *ox,
           int nv, int edge, int fit, int full, const int (*masked)[3], const clv_lanes (*lanes)[3], clv *s1, clv *s2)
{
    clv t[DW_S1_NV][3];
    CL_UNROLL for (int u = 0; u < nv; u++) {
        clv v[3];
        if (!row) {
            v[0] = v[1] = v[2] = clv_set1(0.0f);
        } else if (fit) {
            v[0] = clv_load_lanes(row, col[u], lanes[u][0]);
            v[1] = clv_rot(v[0], 1);
            v[2] = clv_rot(v[0], 2);
        } else {
            CL_UNROLL for (int j = 0; j < 3; j++)
                v[j] = edge && masked[u][j] ? clv_load_lanes(row, col[u] + j, lanes[u][j]) : clv_loadu(row + col[u] + j);
        }
        CL_UNROLL for (int i = 0; i < 3; i++)
            t[u][i] = dw_row_taps(v[0], v[1], v[2], q->k + 3 * i);
    }
    CL_UNROLL for (int u = 0; u < nv; u++) {
        if (o >= 0) {
            clv out = clv_act(clv_add(clv_add(s2[u], t[u][2]), q->bias), q->act, q->slope);
            if (full)
                clv_storeu(c->y + (ptrdiff_t)o * c->ow + ox[u], out);
            else
                clv_store_first(c->y + (ptrdiff_t)o * c->ow + ox[u], out, c->ow);
        }
        s2[u] = clv_add(s1[u], t[u][1]);
        s1[u] = t[u][0];
    }
}

/* A strip walked down the plane: the padding rows above, the rows of the plane, the padding
 * rows below, each a loop of its own so no step tests its row. */
static inline __attribute__((always_inline)) void dw_s1_strip(const cl_dw_channel *c, const dw_consts *q,
                                                             const int *ox, int nv, int edge, int fit, int full)
{
    ptrdiff_t col[DW_S1_NV];
    int masked[DW_S1_NV][3];
    clv_lanes lanes[DW_S1_NV][3];
    clv s1[DW_S1_NV], s2[DW_S1_NV];
    CL_UNROLL for (int u = 0; u < nv; u++) {
        col[u] = ox[u] - c->pl;
        CL_UNROLL for (int j = 0; j < 3; j++) {
            masked[u][j] = col[u] + j < 0 || col[u] + j + CLV_W > c->w;
            lanes[u][j] = clv_lanes_in(col[u] + j, c->w);
        }
        s1[u] = s2[u] = clv_set1(0.0f);
    }
    int r = -c->pt, end = c->oh - c->pt + 2;
    for (; r < 0 && r < end; r++)
        dw_s1_step(c, q, NULL, r + c->pt - 2, col, ox, nv, edge, fit, full, masked, lanes, s1, s2);
    for (; r < c->h && r < end; r++)
        dw_s1_step(c, q, c->x + (ptrdiff_t)r * c->w, r + c->pt - 2, col, ox, nv, edge, fit, full, masked, lanes, s1, s2);
    for (; r < end; r++)
        dw_s1_step(c, q, NULL, r + c->pt - 2, col, ox, nv, edge, fit, full, masked, lanes, s1, s2);
}

/* A strip of nv (1..4, at most DW_S1_NV) vectors: nv a constant in each case, so the dead cases
 * above DW_S1_NV keep their arrays in bounds. */
#define DW_S1_CASE(nv)                                                    \
    case nv:                                                              \
        if (nv <= DW_S1_NV) {                                             \
            if (edge)                                                     \
                dw_s1_strip(c, &q, ox, nv <= DW_S1_NV ? nv : 1, 1, 0, 1); \
            else                                                          \
                dw_s1_strip(c, &q, ox, nv <= DW_S1_NV ? nv : 1, 0, 0, 1); \
        }                                                                 \
        break;

/* Strips of DW_S1_NV vectors across the row; the last vector is moved back to end at the row's
 * end (overlapping its neighbour: the same values written twice), so only a row narrower than a
 * vector stores with a mask. Only the strips at the row's ends have taps past it (edge). */
static void dw_s1(const cl_dw_channel *c)
{
    dw_consts q = dw_consts_of(c);
    int ow = c->ow, ox[DW_S1_NV] = {0};
    if (ow < CLV_W) {
        if (ow + 2 <= CLV_W)
            dw_s1_strip(c, &q, ox, 1, 1, 1, 0);
        else
            dw_s1_strip(c, &q, ox, 1, 1, 0, 0);
        return;
    }
    _Static_assert(DW_S1_NV >= 1 && DW_S1_NV <= 4, "dw_s1 has cases for strips of 1..4 vectors");
    int vecs = (ow + CLV_W - 1) / CLV_W;
    for (int v0 = 0; v0 < vecs; v0 += DW_S1_NV) {
        int nv = vecs - v0 < DW_S1_NV ? vecs - v0 : DW_S1_NV, edge = 0;
        for (int u = 0; u < nv; u++) {
            int x = (v0 + u) * CLV_W;
            ox[u] = x + CLV_W > ow ? ow - CLV_W : x;
            edge |= ox[u] - c->pl < 0 || ox[u] - c->pl + 2 + CLV_W > c->w;
        }
        switch (nv) {
        DW_S1_CASE(1) DW_S1_CASE(2) DW_S1_CASE(3) DW_S1_CASE(4)
        }
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
    else
        dw_s1(c);
}
