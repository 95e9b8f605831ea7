/* The row kernel of the general depthwise conv (dwconv_kxk.c), written once over the vector layer
 * (cl_vec.h) and compiled per ISA by dwconv_kxk_<isa>.c. tap[t] points at
 * the input that output column 0 reads through tap t; output column ox reads tap[t][ox] (the
 * driver lays the plane out so that every tap is a unit-stride load, whatever the stride). Each
 * output sums its taps in order t = 0..ntaps-1, then adds the bias: the same for every column,
 * whether it falls in a block of vectors or the tail. Reads up to CLV_W - 1 floats past a tap's
 * last column (the driver leaves that slack). */
enum { DW_KXK_U = 4 };   /* vectors in flight: independent FMA chains to cover the latency */

static void dw_kxk_row(int ntaps, const float *const *tap, const float *k, float *y, int ow, float bias,
                       float slope, int act)
{
    clv b = clv_set1(bias), sl = clv_set1(slope);
    int ox = 0;
    for (; ox + DW_KXK_U * CLV_W <= ow; ox += DW_KXK_U * CLV_W) {
        clv acc[DW_KXK_U];
        CL_UNROLL for (int u = 0; u < DW_KXK_U; u++)
            acc[u] = clv_set1(0.0f);
        for (int t = 0; t < ntaps; t++) {
            clv kt = clv_set1(k[t]);
            CL_UNROLL for (int u = 0; u < DW_KXK_U; u++)
                acc[u] = clv_fma(kt, clv_loadu(tap[t] + ox + u * CLV_W), acc[u]);
        }
        CL_UNROLL for (int u = 0; u < DW_KXK_U; u++)
            clv_storeu(y + ox + u * CLV_W, clv_act(clv_add(acc[u], b), act, sl));
    }
    for (; ox < ow; ox += CLV_W) {
        clv acc = clv_set1(0.0f);
        for (int t = 0; t < ntaps; t++)
            acc = clv_fma(clv_set1(k[t]), clv_loadu(tap[t] + ox), acc);
        acc = clv_act(clv_add(acc, b), act, sl);
        if (ow - ox >= CLV_W)
            clv_storeu(y + ox, acc);
        else
            clv_store_first(y + ox, acc, ow - ox);
    }
}
