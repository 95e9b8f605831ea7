/* Internal: the row kernel of the direct conv (conv_direct.c), built per ISA from
 * conv_direct_impl.h by conv_direct_<isa>.c, so cl_set_isa reaches it like every other kernel. */
#ifndef CL_DIRECT_H
#define CL_DIRECT_H

/* acc[o * stride_acc + t] += wv[o] * row[t * sw] for t < n, o < noc. */
typedef void (*cl_direct_axpy_fn)(int noc, int n, const float *row, int sw, const float *wv, float *acc,
                                  int stride_acc);

/* NULL where the build has no such target (AVX-512 / AVX2 off x86, NEON off aarch64). */
extern const cl_direct_axpy_fn cl_direct_axpy_scalar, cl_direct_axpy_avx2, cl_direct_axpy_avx512,
    cl_direct_axpy_neon;

#endif
