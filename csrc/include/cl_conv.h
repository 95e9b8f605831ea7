/* Convolution entry points of the C backend (NCHW float32 in and out, OIHW weights, ONNX Conv
 * semantics), one algorithm per source file: conv_im2col.c, conv_direct.c, dwconv.c (+ dwconv_kxk.c, dwconv3x3.c).
 *
 * Every entry point checks the shape it is given (cl_conv_shape_check) and returns CL_EINVAL
 * rather than touching memory for an inconsistent one; the Python side validates first and
 * treats CL_EINVAL as a bug. Prepared weights (cl_*_prepare) remember the weight shape they
 * were packed for and refuse a different one. */
#ifndef CL_CONV_H
#define CL_CONV_H

#include "cl_common.h"

/* cffi:begin */
typedef struct {
    int n, c_in, h, w;              /* input */
    int c_out, kh, kw, groups;      /* weights: c_out x (c_in / groups) x kh x kw */
    int sh, sw, dh, dw;             /* stride, dilation */
    int pt, pl, pb, pr;             /* padding: top, left, bottom, right */
    int oh, ow;                     /* output, must equal what the above imply */
} cl_conv_shape;

int cl_conv_shape_check(const cl_conv_shape *s);

/* im2col + the packed GEMM, per group; a 1x1 stride-1 unpadded conv is a GEMM on the input
 * as it is. The im2col matrix is never materialised: the GEMM packs its B panels straight from
 * the image. */
typedef struct cl_im2col cl_im2col;
cl_im2col *cl_im2col_prepare(const cl_conv_shape *s, const float *w);
void cl_im2col_free(cl_im2col *p);
int cl_im2col_run(const cl_im2col *p, const cl_conv_shape *s, const float *x, float *y,
                  const cl_epilogue *ep, int nthreads);

/* Direct convolution: any kernel size, stride, padding, dilation, groups. */
int cl_direct_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int nthreads);

/* Depthwise (groups == c_in == c_out): any kernel size, stride, padding, dilation (dwconv.c:
 * 3x3 stride 1/2 goes to cl_dwconv3x3_run, the rest to the general kernel of dwconv_kxk.c). */
int cl_dwconv_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int nthreads);
/* Depthwise 3x3 (groups == c_in == c_out), stride 1 or 2 (sh == sw), any padding, dilation 1. */
int cl_dwconv3x3_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                     const cl_epilogue *ep, int nthreads);
/* Direct convolution for few input channels (network stems: 3 -> 32, 3x3 stride 2), groups 1, any
 * kernel, stride, padding, dilation (conv_stem.c): vectors over output columns, 8 output channels
 * in registers per input load, taps read unit-stride from a zero-bordered, stride-phase-split copy. */
int cl_stem_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                const cl_epilogue *ep, int nthreads);
/* cffi:end */

/* The epilogue restricted to output channels [c0, ...): bias/slope offset, act kept. */
static inline cl_epilogue cl_epilogue_from(const cl_epilogue *ep, int c0)
{
    cl_epilogue e = {0, 0, CL_ACT_NONE};
    if (ep) {
        e.act = ep->act;
        e.bias = ep->bias ? ep->bias + c0 : 0;
        e.slope = ep->slope ? ep->slope + c0 : 0;
    }
    return e;
}

#endif
