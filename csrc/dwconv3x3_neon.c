/* Depthwise 3x3 row kernel, NEON build of dwconv3x3_impl.h (stride 2 uses vld2q_f32). */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "dwconv3x3_impl.h"
const cl_dw_rows_fn cl_dw_rows_neon = dw_rows;
const int cl_dw_width_neon = CLV_W;
#else
const cl_dw_rows_fn cl_dw_rows_neon = 0;
const int cl_dw_width_neon = 0;
#endif
