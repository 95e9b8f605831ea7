/* Winograd tile transforms, one tile at a time: the fallback for any CPU. */
#include "cl_winograd.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_scalar
#include "winograd_impl.h"
