/* The vector body of the depthwise 3x3 row, written once over the vector layer (cl_vec.h) and
 * compiled per ISA by dwconv3x3_<isa>.c. Stride 1: nine unaligned loads per output vector;
 * stride 2: each input row is split into even and odd columns (the three taps are even[x],
 * odd[x] and even[x + 1]). Summation order: row 0 taps 0..2, row 1, row 2, then the bias. */
static int dw_row(const cl_dw_row *r, float *out, int ox, int hi)
{
    clv k[9];
    for (int t = 0; t < 9; t++)
        k[t] = clv_set1(r->k[t]);
    clv bias = clv_set1(r->bias), slope = clv_set1(r->slope);
    int s = r->stride;
    /* the last vector's loads end at input column (ox + W - 1) * s - pl + 2 (+1 for stride 2) */
    for (; ox + CLV_W <= hi && (ox + CLV_W - 1) * s - r->pl + 1 + s < r->w; ox += CLV_W) {
        int ix = ox * s - r->pl;
        clv acc = clv_set1(0.0f);
        CL_UNROLL for (int i = 0; i < 3; i++) {
            const float *p = r->rows[i] + ix;
            if (s == 1) {
                acc = clv_fma(k[3 * i], clv_loadu(p), acc);
                acc = clv_fma(k[3 * i + 1], clv_loadu(p + 1), acc);
                acc = clv_fma(k[3 * i + 2], clv_loadu(p + 2), acc);
            } else {
                clv e0, o0, e2, o2;
                clv_load_even_odd(p, &e0, &o0);
                clv_load_even_odd(p + 2, &e2, &o2);
                acc = clv_fma(k[3 * i], e0, acc);
                acc = clv_fma(k[3 * i + 1], o0, acc);
                acc = clv_fma(k[3 * i + 2], e2, acc);
            }
        }
        clv_storeu(out + ox, clv_act(clv_add(acc, bias), r->act, slope));
    }
    return ox;
}
