/* The depthwise 3x3 plane kernel, written once over the vector layer (cl_vec.h) and compiled per
 * ISA by dwconv3x3_<isa>.c. The input rows are zero-padded (cl_dw_rows), so every output vector
 * is computed the same way, edges included; the last vector of a row overlaps the one before it
 * rather than running past the row. Two output rows per step share the input rows they both read
 * (stride 1: 4 rows for 2 outputs instead of 6). Stride 2 splits each input row into even and odd
 * columns: the taps are even[x], odd[x] and even[x + 1]. Two vectors of columns per step too,
 * so four independent sums hide the FMA latency.
 * Every output sums row 0 taps 0..2, row 1, row 2, then adds the bias: the same in either row of
 * a pair, so the result does not depend on how rows are paired or split between threads. */

/* acc += the three taps k[0..2] of one input row for the vector of outputs starting at p. */
static inline clv dw_taps(clv acc, const float *p, const clv *k, int s)
{
    if (s == 1) {
        acc = clv_fma(k[0], clv_loadu(p), acc);
        acc = clv_fma(k[1], clv_loadu(p + 1), acc);
        return clv_fma(k[2], clv_loadu(p + 2), acc);
    }
    clv e0, o0, e2, o2;
    clv_load_even_odd(p, &e0, &o0);
    clv_load_even_odd(p + 2, &e2, &o2);
    acc = clv_fma(k[0], e0, acc);
    acc = clv_fma(k[1], o0, acc);
    return clv_fma(k[2], e2, acc);
}

static inline void dw_store(float *out, int n, clv v)
{
    if (n == CLV_W) {
        clv_storeu(out, v);
    } else {  /* a row narrower than one vector */
        float tmp[CLV_W];
        clv_storeu(tmp, v);
        for (int i = 0; i < n; i++)
            out[i] = tmp[i];
    }
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
                acc[o][u] = dw_taps(acc[o][u], r->rows[o * s + i] + (ptrdiff_t)(ox + u * CLV_W) * s, k + 3 * i, s);
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

static void dw_rows(const cl_dw_rows *r)
{
    clv k[9];
    for (int t = 0; t < 9; t++)
        k[t] = clv_set1(r->k[t]);
    clv bias = clv_set1(r->bias), slope = clv_set1(r->slope);
    if (r->stride == 1)
        r->y[1] ? dw_row_span(r, k, bias, slope, 2, 1) : dw_row_span(r, k, bias, slope, 1, 1);
    else
        r->y[1] ? dw_row_span(r, k, bias, slope, 2, 2) : dw_row_span(r, k, bias, slope, 1, 2);
}
