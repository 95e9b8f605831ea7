/* Winograd tile transforms, one tile at a time: the fallback for any CPU. */
#include "cl_winograd.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_scalar
#define W_BLEND(a, b, lo, hi) ((void)(lo), (void)(hi), (a))   /* one lane: never more than one run */
#include "winograd_impl.h"
