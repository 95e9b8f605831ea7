/* Depthwise 3x3 channel kernel, AVX2 build of dwconv3x3_impl.h. */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#define DW_S1_NV 3
#include "dwconv3x3_impl.h"
CL_ISA_END
const cl_dw3x3_kernel cl_dw3x3_avx2 = {dw_channel, CLV_W};
#else
const cl_dw3x3_kernel cl_dw3x3_avx2 = {0, 0};
#endif
