/* Internal: the pieces the depthwise convs share (dwconv.c), and the ISA-specific kernels: the 3x3
 * channel kernel (dwconv3x3_<isa>.c, from dwconv3x3_impl.h) and the KxK row kernel
 * (dwconv_kxk_<isa>.c, from dwconv_kxk_impl.h). */
#ifndef CL_DWCONV_H
#define CL_DWCONV_H

#include "cl_conv.h"

/* One channel of one image. */
typedef struct {
    const float *x;         /* h x w input plane */
    float *y;               /* oh x ow output plane */
    int h, w, pt, pl, stride, oh, ow;
    const float *k;         /* the channel's 9 weights */
    float bias, slope;
    int act;                /* sigmoid is left to the caller */
    const float *zero_row;  /* stride 2: w zeros, read for the padding rows */
} cl_dw_channel;

typedef void (*cl_dw_channel_fn)(const cl_dw_channel *c);

typedef struct {
    cl_dw_channel_fn channel;
    int width;              /* floats per vector; 0 if not built */
} cl_dw3x3_kernel;

/* The general (KxK) kernel's row: see dwconv_kxk_impl.h. Sigmoid is left to the caller. */
typedef void (*cl_dw_kxk_row_fn)(int ntaps, const float *const *tap, const float *k, float *y, int ow,
                                 float bias, float slope, int act);

typedef struct {
    cl_dw_kxk_row_fn row;
    int width;              /* floats per vector; 0 if not built */
} cl_dw_kxk_kernel;


extern const cl_dw3x3_kernel cl_dw3x3_scalar, cl_dw3x3_avx2, cl_dw3x3_avx512, cl_dw3x3_neon;
extern const cl_dw_kxk_kernel cl_dw_kxk_scalar, cl_dw_kxk_avx2, cl_dw_kxk_avx512, cl_dw_kxk_neon;

/* The general kernel (dwconv_kxk.c): any kernel size, stride, padding, dilation; the arguments
 * are checked by cl_dwconv_run. */
int cl_dwconv_kxk_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                      const cl_epilogue *ep, int nthreads);

/* One thread's share of a depthwise conv: planes t0..t1-1 (plane t = image t / c_in, channel
 * t % c_in). cl_dw_split runs it over contiguous ranges, on nthreads threads. */
typedef int (*cl_dw_planes_fn)(const cl_conv_shape *s, const float *x, const float *w, float *y,
                               const cl_epilogue *ep, int t0, int t1, const void *ctx);
int cl_dw_split(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                int nthreads, cl_dw_planes_fn planes, const void *ctx);

#endif
