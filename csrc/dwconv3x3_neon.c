/* Depthwise 3x3 row kernel, NEON build of dwconv3x3_impl.h (stride 2 uses vld2q_f32). */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "dwconv3x3_impl.h"
const cl_dw_row_fn cl_dw_row_neon = dw_row;
#else
const cl_dw_row_fn cl_dw_row_neon = 0;
#endif
