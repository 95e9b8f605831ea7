/* Direct conv row kernel (conv_direct.c), NEON build of conv_direct_impl.h (NEON is aarch64's baseline). */
#include "cl_direct.h"
#include "cl_isa.h"

#if CL_ARM64
#include "conv_direct_impl.h"
const cl_direct_axpy_fn cl_direct_axpy_neon = axpy_rows;
#else
const cl_direct_axpy_fn cl_direct_axpy_neon = 0;
#endif
