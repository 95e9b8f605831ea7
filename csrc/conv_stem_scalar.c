/* Stem row kernel (few-input-channel direct conv: conv_stem.c), portable build of conv_stem_impl.h. */
#include "cl_stem.h"
#define CL_VEC_SCALAR
#include "cl_vec.h"
#include "conv_stem_impl.h"

const cl_stem_kernel cl_stem_scalar = {stem_row, CLV_W, stem_copy_rows, stem_split_pairs};
