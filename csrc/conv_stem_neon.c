/* Stem row kernel (few-input-channel direct conv: conv_stem.c), NEON build of conv_stem_impl.h. */
#include "cl_isa.h"
#include "cl_stem.h"

#if CL_ARM64
#define CL_VEC_NEON
#include "cl_vec.h"
#include "conv_stem_impl.h"
const cl_stem_kernel cl_stem_neon = {stem_row, CLV_W, stem_copy_rows, stem_split_pairs};
#else
const cl_stem_kernel cl_stem_neon = {0, 0, 0, 0};
#endif
