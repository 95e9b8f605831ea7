/* The stem row kernel (cl_stem.h), written once over the vector layer (cl_vec.h) and compiled per
 * ISA by conv_stem_<isa>.c: CL_STEM_CO output channels x STEM_U vectors of columns accumulate in
 * registers while each tap's input vectors are loaded once for all of them. */
#if defined(CL_VEC_AVX2) || defined(CL_VEC_SCALAR)
enum { STEM_U = 1 };      /* 16 registers (AVX2): 8 accumulators, the input and a weight */
#else
enum { STEM_U = 2 };      /* 32 registers (AVX-512, NEON): 16 accumulators */
#endif

static void stem_row(int ntaps, const float *const *tap, const float *wt, float *const *y, int ow,
                     const float *bias, const float *slope, int act)
{
    int ox = 0;
    for (; ox + STEM_U * CLV_W <= ow; ox += STEM_U * CLV_W) {
        clv acc[CL_STEM_CO][STEM_U];
        CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++)
            CL_UNROLL for (int u = 0; u < STEM_U; u++)
                acc[c][u] = clv_set1(0.0f);
        for (int t = 0; t < ntaps; t++) {
            clv v[STEM_U];
            CL_UNROLL for (int u = 0; u < STEM_U; u++)
                v[u] = clv_loadu(tap[t] + ox + u * CLV_W);
            const float *wc = wt + t * CL_STEM_CO;
            CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++) {
                clv k = clv_set1(wc[c]);
                CL_UNROLL for (int u = 0; u < STEM_U; u++)
                    acc[c][u] = clv_fma(k, v[u], acc[c][u]);
            }
        }
        CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++)
            CL_UNROLL for (int u = 0; u < STEM_U; u++)
                clv_storeu(y[c] + ox + u * CLV_W, clv_act(clv_add(acc[c][u], clv_set1(bias[c])), act, clv_set1(slope[c])));
    }
    for (; ox < ow; ox += CLV_W) {
        clv acc[CL_STEM_CO];
        CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++)
            acc[c] = clv_set1(0.0f);
        for (int t = 0; t < ntaps; t++) {
            clv v = clv_loadu(tap[t] + ox);
            CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++)
                acc[c] = clv_fma(clv_set1(wt[t * CL_STEM_CO + c]), v, acc[c]);
        }
        CL_UNROLL for (int c = 0; c < CL_STEM_CO; c++) {
            clv r = clv_act(clv_add(acc[c], clv_set1(bias[c])), act, clv_set1(slope[c]));
            if (ow - ox >= CLV_W)
                clv_storeu(y[c] + ox, r);
            else
                clv_store_first(y[c] + ox, r, ow - ox);
        }
    }
}

/* The flat path's output rows into the planes: full vectors and one masked store a row. memcpy per
 * row (184 bytes for O-Net) was 20% of O-Net's stem, its call and size dispatch more than the copy. */
static void stem_copy_rows(const float *src, ptrdiff_t sld, float *dst, ptrdiff_t dld, int rows, int n)
{
    for (int r = 0; r < rows; r++, src += sld, dst += dld) {
        int c = 0;
        for (; c + CLV_W <= n; c += CLV_W)
            clv_storeu(dst + c, clv_loadu(src + c));
        if (c < n)
            clv_store_first(dst + c, clv_loadu(src + c), n - c);
    }
}

/* Stride 2's input row split into its even and odd columns, a vector of each per load pair (AVX-512:
 * two permutes; NEON: one ld2). The scalar pair loop was a fifth of a stride-2 stem (the zoo
 * detector's 3->16 at 240x320). */
static void stem_split_pairs(const float *src, int pairs, float *pe, float *po)
{
    int k = 0;
    for (; k + CLV_W <= pairs; k += CLV_W) {
        clv even, odd;
        clv_load2(src + 2 * k, &even, &odd);
        clv_storeu(pe + k, even);
        clv_storeu(po + k, odd);
    }
    for (; k < pairs; k++)
        pe[k] = src[2 * k], po[k] = src[2 * k + 1];
}
