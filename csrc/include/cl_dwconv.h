/* Internal: the ISA-specific row kernels of the depthwise 3x3 conv (dwconv3x3_<isa>.c, all from
 * dwconv3x3_impl.h) and what they are given. */
#ifndef CL_DWCONV_H
#define CL_DWCONV_H

#include "cl_common.h"

/* One or two output rows of one channel. rows[i] is input row oy*stride + i (i < 3 for one output
 * row, i < stride + 3 for two), zero-padded: column ox*stride + j of rows[i] is tap j of output
 * column ox, readable up to column (max(ow, W) - 1) * stride + 3 for vector width W. */
typedef struct {
    const float *rows[5];
    float *y[2];            /* the output rows; y[1] NULL for one row */
    int ow, stride;
    const float *k;         /* the channel's 9 weights */
    float bias, slope;
    int act;                /* sigmoid is left to the caller */
} cl_dw_rows;

typedef void (*cl_dw_rows_fn)(const cl_dw_rows *r);

extern const cl_dw_rows_fn cl_dw_rows_scalar, cl_dw_rows_avx2, cl_dw_rows_avx512, cl_dw_rows_neon;
extern const int cl_dw_width_scalar, cl_dw_width_avx2, cl_dw_width_avx512, cl_dw_width_neon;

#endif
