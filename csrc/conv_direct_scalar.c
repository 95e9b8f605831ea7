/* Direct conv row kernel (conv_direct.c), portable build of conv_direct_impl.h: the target's
 * baseline (SSE2 on x86-64), for a CPU or a forced ISA without a wider one. */
#include "cl_direct.h"
#include "conv_direct_impl.h"

const cl_direct_axpy_fn cl_direct_axpy_scalar = axpy_rows;
