/* Winograd tile transforms for NEON (the template is winograd_impl.h). */
#include "cl_isa.h"
#include "cl_winograd.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#define WINO_KERNELS cl_wino_neon
#include "winograd_impl.h"
#else
const cl_wino_kernels cl_wino_neon = {0};
#endif
