/* Winograd F(m x m, 3 x 3) convolution, m in {2, 4, 6}: stride 1, dilation 1, groups 1, any
 * input size and padding. One driver (winograd.c) for every tile size: per block of tiles it
 * transforms the input (V = B^T d B), runs alpha*alpha GEMMs over channels with the packed GEMM
 * of cl_gemm.h (M_k = U_k V_k, alpha = m + 2), and transforms back (Y = A^T M A) with bias and
 * activation fused. The tile transforms are written once over the vector layer
 * (winograd_impl.h) and built per ISA (winograd_<isa>.c). */
#ifndef CL_WINOGRAD_H
#define CL_WINOGRAD_H

#include "cl_conv.h"

/* cffi:begin */
typedef struct cl_winograd cl_winograd;

/* Transforms and packs the weights w (c_out x c_in x 3 x 3) for tile size m. CL_EINVAL if m is
 * not 2, 4 or 6 or s is not a 3x3, stride 1, dilation 1, groups 1 conv; *out is set on CL_OK. */
int cl_winograd_prepare(int m, const cl_conv_shape *s, const float *w, cl_winograd **out);
void cl_winograd_free(cl_winograd *p);

/* y = epilogue(conv(x)), NCHW. s must have the channels the weights were prepared for (any n,
 * h, w, padding). Results are bit-identical for every nthreads. CL_OK, CL_EINVAL or CL_ENOMEM. */
int cl_winograd_run(const cl_winograd *p, const cl_conv_shape *s, const float *x, float *y,
                    const cl_epilogue *ep, int nthreads);

/* The transform matrices (exact, as doubles): at (m x alpha), g (alpha x 3), bt (alpha x alpha),
 * row-major. The plain definitions every optimised transform must match. CL_EINVAL for a bad m. */
int cl_winograd_matrices(int m, double *at, double *g, double *bt);

/* The factor on the direct bound (K eps sum |w||x|) that the outputs of F(m, 3) are tested
 * against: CL_WINOGRAD_F<m>3_ERROR_FACTOR below; -1 for a bad m. */
double cl_winograd_error_factor(int m);
/* cffi:end */

/* Defined here once: the C test (csrc/tests/test_kernels.c) and the Python registry
 * (src/convlab/kernels/c/winograd.py, through cl_winograd_error_factor; its docstring derives
 * them) both read these. Measured worst ratios to the factor-1 bound (1.7, 40, 66) with a ~4x
 * margin, below the first-order worst case. */
#define CL_WINOGRAD_F23_ERROR_FACTOR 4.0
#define CL_WINOGRAD_F43_ERROR_FACTOR 150.0
#define CL_WINOGRAD_F63_ERROR_FACTOR 250.0

/* ---- internal: what each ISA build of winograd_impl.h provides ---- */

/* The driver's copy of the input is zero-padded to whole tiles and split by column phase: row y
 * of a channel holds, for q = 0..m-1, the lt values at columns q, m + q, 2m + q, ... (lt = tiles
 * per row + 1), so column c of tile tx is at q = c % m, index tx + c / m, and the same column of
 * consecutive tiles is contiguous: the input transform loads vectors, not gathers.
 * Where one tile of a block is: in_off + y0 * ld + x0 is its first value in that copy (y0 its
 * first row, x0 its tile column), then the offset of its image's output and its top-left output
 * coordinate. A lane past the last tile continues the previous lane's row and has
 * oy = ox = INT_MAX/2: it reads spare values and writes nothing. */
typedef struct {
    ptrdiff_t in_off, out_off, y0, x0;
    int oy, ox;
} cl_wino_tile;

/* input: transforms vl tiles of one channel (row stride ld, phase stride lt) and stores
 * V = B^T d B, position k = i*alpha + j at v + k*vstride (vl consecutive floats, one per tile).
 * output: reads M the same way, stores act(A^T M A + bias) of each tile's part above row oh and
 * left of column ow into plane (row stride ldo). */
typedef void (*cl_wino_input_fn)(const float *plane, ptrdiff_t ld, ptrdiff_t lt, const cl_wino_tile *t,
                                 float *v, ptrdiff_t vstride);
typedef void (*cl_wino_output_fn)(const float *mv, ptrdiff_t mstride, const cl_wino_tile *t,
                                  float *plane, int ldo, int oh, int ow, float bias, float slope, int act);
/* split_row: dst[q * lt + i] = row[x_org + i * m + q] (0 outside the row's w values) for q < m,
 * i < lt, the input's copy split by column phase that input reads; returns 0, and does nothing, for
 * a row it does not take (then winograd.c's scalar copy does it). */
typedef int (*cl_wino_split_fn)(int m, const float *row, int w, int x_org, int lt, float *dst);
typedef struct {
    int vl;                          /* tiles per call: the vector width; 0 if not built */
    cl_wino_input_fn input[3];       /* index m/2 - 1 */
    cl_wino_output_fn output[3];
    cl_wino_split_fn split_row;      /* NULL: the scalar copy only */
} cl_wino_kernels;

extern const cl_wino_kernels cl_wino_scalar, cl_wino_avx2, cl_wino_avx512, cl_wino_neon;

#endif
