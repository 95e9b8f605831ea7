/* Pool planes, portable build of pool_impl.h (one column per step). */
#include "cl_pool.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#include "pool_impl.h"

const cl_pool_kernel cl_pool_scalar = {pool_plane, CLV_W};
