/* The direct conv's row kernel (cl_direct.h): plain C that each conv_direct_<isa>.c compiles for its
 * target, where the compiler vectorises it (contiguous for stride 1). */
static void axpy_rows(int noc, int n, const float *restrict row, int sw, const float *wv, float *restrict acc,
                      int stride_acc)
{
    for (int o = 0; o < noc; o++) {
        float wo = wv[o];
        float *restrict a = acc + o * stride_acc;
        if (sw == 1)
            for (int t = 0; t < n; t++)
                a[t] += wo * row[t];
        else
            for (int t = 0; t < n; t++)
                a[t] += wo * row[t * sw];
    }
}
