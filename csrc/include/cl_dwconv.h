/* Internal: the ISA-specific row kernels of the depthwise 3x3 conv (dwconv3x3_<isa>.c, all from
 * dwconv3x3_impl.h) and what they are given. */
#ifndef CL_DWCONV_H
#define CL_DWCONV_H

#include "cl_common.h"

/* One or two output rows of one channel. rows[i] is input row oy*stride + i (i < 3 for one output
 * row, i < stride + 3 for two) as cl_dw_fill_fn laid it out, zero-padded. Stride 1: taps j of
 * output column ox are rows[i][ox + j]. Stride 2: the row is stored as its even padded columns
 * then (from rows[i] + half) its odd ones, so the taps are even[ox], odd[ox], even[ox + 1], all
 * unit-stride loads. Readable up to output column max(ow, W) - 1 + 3 for vector width W. */
typedef struct {
    const float *rows[5];
    ptrdiff_t half;
    float *y[2];            /* the output rows; y[1] NULL for one row */
    int ow, stride;
    const float *k;         /* the channel's 9 weights */
    float bias, slope;
    int act;                /* sigmoid is left to the caller */
} cl_dw_rows;

typedef void (*cl_dw_rows_fn)(const cl_dw_rows *r);

/* Copies input row src (w floats) into a ring row at padded column pl: stride 1 as it is; stride 2
 * padded column c to dst[c / 2] when c is even, dst[half + c / 2] when odd. */
typedef void (*cl_dw_fill_fn)(float *dst, const float *src, int w, int pl, int stride, ptrdiff_t half);

typedef struct {
    cl_dw_rows_fn rows;
    cl_dw_fill_fn fill;
    int width;              /* floats per vector */
} cl_dw_kernels;

extern const cl_dw_kernels cl_dw_scalar, cl_dw_avx2, cl_dw_avx512, cl_dw_neon;

#endif
