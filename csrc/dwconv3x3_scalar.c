/* Depthwise 3x3 channel kernel, portable build of dwconv3x3_impl.h (one column per step). */
#include "cl_dwconv.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#define DW_S1_NV 1
#include "dwconv3x3_impl.h"

const cl_dw3x3_kernel cl_dw3x3_scalar = {dw_channel, CLV_W};
