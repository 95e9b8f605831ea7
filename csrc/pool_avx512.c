/* Pool planes, AVX512 build of pool_impl.h. */
#include "cl_isa.h"
#include "cl_pool.h"

#if CL_X86
CL_ISA_BEGIN_AVX512
#define CL_VEC_AVX512
#include "cl_vec.h"
#include "pool_impl.h"
CL_ISA_END
const cl_pool_kernel cl_pool_avx512 = {pool_plane, CLV_W};
#else
const cl_pool_kernel cl_pool_avx512 = {0, 0};
#endif
