/* The GEMV micro-kernel (one column of B, N = 1) written once over the vector layer (cl_vec.h);
 * each gemm_<MR>x<NR>_<isa>.c includes it with its UK_MR. A GEMV does one multiply per weight, so it
 * is bound by streaming A: it reads A's MR-row panels (kc x MR, k-major) as one flat array, whole
 * vectors at a time, against bx, the column expanded to the same layout (bx[k * MR + i] = b[k],
 * built once per KC block by the driver and shared by every panel, so it stays in L1). Flat
 * position e belongs to row e % MR: with a period of GV_L = MR * CLV_W floats, the MR
 * accumulators keep every lane on one row (and are enough independent chains to hide the FMA
 * latency). At the end, accumulators whose lanes map to the same rows (every lcm(MR, CLV_W) / CLV_W-th)
 * are added as vectors, and only one lcm-long period of lanes is summed per row in scalar code.
 * Adds the panel's kc-deep dot products to sum[0..MR-1]. */
#define GV_NA UK_MR
#define GV_L (GV_NA * CLV_W)

static void gemv_ukernel(int kc, const float *a, const float *bx, float *sum)
{
    clv acc[GV_NA];
    CL_UNROLL for (int v = 0; v < GV_NA; v++)
        acc[v] = clv_set1(0.0f);
    int n = kc * UK_MR, e = 0;
    for (; e + GV_L <= n; e += GV_L)
        CL_UNROLL for (int v = 0; v < GV_NA; v++)
            acc[v] = clv_fma(clv_loadu(a + e + v * CLV_W), clv_loadu(bx + e + v * CLV_W), acc[v]);
    int lcm = UK_MR;            /* constants once inlined */
    while (lcm % CLV_W)
        lcm += UK_MR;
    int nv = lcm / CLV_W;
    CL_UNROLL for (int v = nv; v < GV_NA; v++)
        acc[v % nv] = clv_add(acc[v % nv], acc[v]);
    float lanes[GV_L];
    CL_UNROLL for (int v = 0; v < nv; v++)
        clv_storeu(lanes + v * CLV_W, acc[v]);
    for (; e < n; e++)          /* kc * MR is not a whole number of periods */
        lanes[e % lcm] += a[e] * bx[e];
    for (int p = 0; p < lcm; p++)
        sum[p % UK_MR] += lanes[p];
}
