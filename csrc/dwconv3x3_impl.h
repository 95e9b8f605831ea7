/* The depthwise 3x3 plane kernel, written once over the vector layer (cl_vec.h) and compiled per
 * ISA by dwconv3x3_<isa>.c. The input rows are zero-padded (cl_dw_rows), so every output vector
 * is computed the same way, edges included; the last vector of a row overlaps the one before it
 * rather than running past the row. Two output rows per step share the input rows they both read
 * (stride 1: 4 rows for 2 outputs instead of 6). For stride 2, dw_fill has split each input row
 * into even and odd columns, so the taps are even[x], odd[x] and even[x + 1]: unit-stride loads,
 * no shuffles in the inner loop. Two vectors of columns per step too, so four independent sums
 * hide the FMA latency.
 * Every output sums row 0 taps 0..2, row 1, row 2, then adds the bias: the same in either row of
 * a pair, so the result does not depend on how rows are paired or split between threads. */

/* acc += the three taps k[0..2] of one input row for the vector of outputs starting at column x. */
static inline clv dw_taps(clv acc, const float *row, ptrdiff_t x, ptrdiff_t half, const clv *k, int s)
{
    acc = clv_fma(k[0], clv_loadu(row + x), acc);
    acc = clv_fma(k[1], clv_loadu(s == 1 ? row + x + 1 : row + half + x), acc);
    return clv_fma(k[2], clv_loadu(s == 1 ? row + x + 2 : row + x + 1), acc);
}

static inline void dw_store(float *out, int n, clv v)
{
    if (n == CLV_W)
        clv_storeu(out, v);
    else   /* a row narrower than one vector */
        clv_store_first(out, v, n);
}

/* `rows` output rows (1 or 2), `ux` vectors of columns at ox: rows * ux independent FMA chains,
 * enough to cover the FMA latency (one chain is 9 dependent FMAs). s, rows and ux are constants
 * after inlining. */
static inline __attribute__((always_inline)) void dw_block(const cl_dw_rows *r, const clv *k, clv bias,
                                                           clv slope, int ox, int rows, int ux, int s)
{
    int n = r->ow < CLV_W ? r->ow : CLV_W;
    clv acc[2][2];
    CL_UNROLL for (int o = 0; o < rows; o++)
        CL_UNROLL for (int u = 0; u < ux; u++)
            acc[o][u] = clv_set1(0.0f);
    CL_UNROLL for (int i = 0; i < 3; i++)
        CL_UNROLL for (int o = 0; o < rows; o++)
            CL_UNROLL for (int u = 0; u < ux; u++)
                acc[o][u] = dw_taps(acc[o][u], r->rows[o * s + i], ox + u * CLV_W, r->half, k + 3 * i, s);
    CL_UNROLL for (int o = 0; o < rows; o++)
        CL_UNROLL for (int u = 0; u < ux; u++)
            dw_store(r->y[o] + ox + u * CLV_W, n, clv_act(clv_add(acc[o][u], bias), r->act, slope));
}

static inline __attribute__((always_inline)) void dw_row_span(const cl_dw_rows *r, const clv *k, clv bias,
                                                              clv slope, int rows, int s)
{
    int ow = r->ow, ox = 0;
    for (; ox + 2 * CLV_W <= ow; ox += 2 * CLV_W)
        dw_block(r, k, bias, slope, ox, rows, 2, s);
    for (; ox < ow; ox += CLV_W)  /* the last vector overlaps its neighbour instead of running past */
        dw_block(r, k, bias, slope, ox + CLV_W <= ow || ow < CLV_W ? ox : ow - CLV_W, rows, 1, s);
}

/* One function per (rows, stride): each gets its own register allocation, the 9 weights and the
 * accumulators all in registers. */
#define DW_VARIANT(name, rows, s)                                                   \
    static __attribute__((noinline)) void name(const cl_dw_rows *r)                  \
    {                                                                                \
        clv k[9];                                                                    \
        for (int t = 0; t < 9; t++)                                                  \
            k[t] = clv_set1(r->k[t]);                                                \
        dw_row_span(r, k, clv_set1(r->bias), clv_set1(r->slope), rows, s);          \
    }
DW_VARIANT(dw_rows1_s1, 1, 1)
DW_VARIANT(dw_rows2_s1, 2, 1)
DW_VARIANT(dw_rows1_s2, 1, 2)
DW_VARIANT(dw_rows2_s2, 2, 2)

static void dw_rows(const cl_dw_rows *r)
{
    if (r->stride == 1)
        r->y[1] ? dw_rows2_s1(r) : dw_rows1_s1(r);
    else
        r->y[1] ? dw_rows2_s2(r) : dw_rows1_s2(r);
}

static void dw_fill(float *dst, const float *src, int w, int pl, int s, ptrdiff_t half)
{
    /* Whole vectors; the last one overlaps its neighbour (rewriting the same values) rather than
     * leaving a scalar tail. */
    if (s == 1) {
        if (w < CLV_W) {
            for (int i = 0; i < w; i++)
                dst[pl + i] = src[i];
            return;
        }
        for (int i = 0;; i += CLV_W) {
            i = i + CLV_W <= w ? i : w - CLV_W;
            clv_storeu(dst + pl + i, clv_loadu(src + i));
            if (i + CLV_W == w)
                return;
        }
    }
    /* src[i] is padded column pl + i: the even i go to one half, the odd i to the other */
    float *from_even = (pl & 1 ? dst + half : dst) + pl / 2, *from_odd = (pl & 1 ? dst : dst + half) + (pl + 1) / 2;
    int i = 0;
    if (w >= 2 * CLV_W)
        for (;; i += 2 * CLV_W) {
            i = i + 2 * CLV_W <= w ? i : (w - 2 * CLV_W) & ~1;   /* even: keeps the parity split */
            clv e, o;
            clv_load_even_odd(src + i, &e, &o);
            clv_storeu(from_even + i / 2, e);
            clv_storeu(from_odd + i / 2, o);
            if (i + 2 * CLV_W >= w - 1) {
                i += 2 * CLV_W;
                break;
            }
        }
    /* narrow rows and the tail: a loop the compiler vectorises itself */
    int j = i / 2;
    for (; 2 * j + 1 < w; j++) {
        from_even[j] = src[2 * j];
        from_odd[j] = src[2 * j + 1];
    }
    if (w & 1)
        from_even[w / 2] = src[w - 1];
}
