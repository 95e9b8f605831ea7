/* Internal: the row kernel of the direct conv for few input channels (conv_stem.c), built per ISA
 * from conv_stem_impl.h by conv_stem_<isa>.c. */
#ifndef CL_STEM_H
#define CL_STEM_H

#include "cl_conv.h"

enum { CL_STEM_CO = 8 };   /* output channels per row-kernel call */

/* One output row of CL_STEM_CO channels: y[c][ox] = act(sum_t wt[t * CL_STEM_CO + c] * tap[t][ox]
 * + bias[c]) for ox < ow, summing t = 0..ntaps-1 in order. tap[t] + ox is read a vector at a time,
 * up to one vector past ow (the driver leaves that slack). Sigmoid is left to the caller. */
typedef void (*cl_stem_row_fn)(int ntaps, const float *const *tap, const float *wt, float *const *y, int ow,
                               const float *bias, const float *slope, int act);
/* rows x n floats from src (row stride sld, readable a vector past n) to dst (row stride dld). */
typedef void (*cl_stem_copy_fn)(const float *src, ptrdiff_t sld, float *dst, ptrdiff_t dld, int rows, int n);
/* pe[k] = src[2k], po[k] = src[2k + 1] for k < pairs: stride 2's column phases. */
typedef void (*cl_stem_split_fn)(const float *src, int pairs, float *pe, float *po);
typedef struct {
    cl_stem_row_fn row;
    int width;            /* floats per vector */
    cl_stem_copy_fn copy_rows;   /* the flat path's rows out to the planes */
    cl_stem_split_fn split_pairs;  /* stride 2's input rows in */
} cl_stem_kernel;

extern const cl_stem_kernel cl_stem_scalar, cl_stem_avx2, cl_stem_avx512, cl_stem_neon;

#endif
