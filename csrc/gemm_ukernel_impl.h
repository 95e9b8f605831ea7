/* The GEMM micro-kernel written once over the vector layer (cl_vec.h); each
 * gemm_<MR>x<NR>_<isa>.c (gemm_8x32_avx512.c, gemm_6x16_avx2.c, gemm_4x8_scalar.c)
 * includes it with its own UK_MR (rows) and UK_NV (vectors per row, so
 * NR = UK_NV * CLV_W). The MR*NV accumulators live in registers for the whole k loop; each
 * k step loads NV vectors of B and broadcasts MR values of A (AVX-512 folds the broadcast into
 * the FMA's memory operand). Contract: cl_ukernel_fn in cl_gemm.h. */
#define UK_NR (UK_NV * CLV_W)

static void ukernel(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int flags,
                    const float *bias, const float *slope, int act)
{
    clv acc[UK_MR][UK_NV];
    CL_UNROLL for (int i = 0; i < UK_MR; i++)
        CL_UNROLL for (int j = 0; j < UK_NV; j++)
            acc[i][j] = flags & CL_UK_LOAD ? clv_loadu(c + i * ldc + j * CLV_W) : clv_set1(0.0f);
    for (int k = 0; k < kc; k++) {
        clv bv[UK_NV];
        CL_UNROLL for (int j = 0; j < UK_NV; j++)
            bv[j] = clv_loadu(b + j * CLV_W);
        CL_UNROLL for (int i = 0; i < UK_MR; i++) {
            clv ai = clv_set1(a[i]);
            CL_UNROLL for (int j = 0; j < UK_NV; j++)
                acc[i][j] = clv_fma(ai, bv[j], acc[i][j]);
        }
        a += UK_MR;
        b += UK_NR;
    }
    if (flags & CL_UK_EPILOGUE)
        CL_UNROLL for (int i = 0; i < UK_MR; i++) {
            clv bi = clv_set1(bias[i]), si = clv_set1(slope[i]);
            CL_UNROLL for (int j = 0; j < UK_NV; j++)
                acc[i][j] = clv_act(clv_add(acc[i][j], bi), act, si);
        }
    CL_UNROLL for (int i = 0; i < UK_MR; i++)
        CL_UNROLL for (int j = 0; j < UK_NV; j++)
            clv_storeu(c + i * ldc + j * CLV_W, acc[i][j]);
}
