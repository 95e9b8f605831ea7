/* Depthwise 3x3 channel kernel, AVX-512 build of dwconv3x3_impl.h. */
#include "cl_dwconv.h"
#include "cl_isa.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#define DW_S1_NV 3
#include "dwconv3x3_impl.h"
CL_ISA_END
const cl_dw3x3_kernel cl_dw3x3_avx512 = {dw_channel, CLV_W};
#else
const cl_dw3x3_kernel cl_dw3x3_avx512 = {0, 0};
#endif
