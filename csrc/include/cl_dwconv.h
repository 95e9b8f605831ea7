/* Internal: the ISA-specific row kernels of the depthwise 3x3 conv (dwconv3x3_<isa>.c, all
 * from dwconv3x3_impl.h) and what they are given. */
#ifndef CL_DWCONV_H
#define CL_DWCONV_H

#include "cl_common.h"

typedef struct {
    const float *rows[3];   /* the 3 input rows the output row reads (a zero row for padding) */
    const float *k;         /* this channel's 9 weights */
    int stride, pl, w;      /* stride, left padding, input width */
    float bias, slope;
    int act;                /* sigmoid is left to the caller */
} cl_dw_row;

/* Computes output columns ox, ox + CLV_W, ... while a whole vector of them reads only input
 * columns inside [0, w) and stays below hi; returns the first column it did not compute. */
typedef int (*cl_dw_row_fn)(const cl_dw_row *r, float *out, int ox, int hi);

extern const cl_dw_row_fn cl_dw_row_scalar, cl_dw_row_avx2, cl_dw_row_avx512, cl_dw_row_neon;

#endif
