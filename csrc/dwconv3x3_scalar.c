/* Depthwise 3x3 row kernel, portable build of dwconv3x3_impl.h (one column per step). */
#include "cl_dwconv.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#include "dwconv3x3_impl.h"

const cl_dw_rows_fn cl_dw_rows_scalar = dw_rows;
const int cl_dw_width_scalar = CLV_W;
