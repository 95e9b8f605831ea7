/* Pool planes, NEON build of pool_impl.h (stride-2 taps split by vld2q_f32). */
#include "cl_isa.h"
#include "cl_pool.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "pool_impl.h"
const cl_pool_kernel cl_pool_neon = {pool_plane, CLV_W};
#else
const cl_pool_kernel cl_pool_neon = {0, 0};
#endif
