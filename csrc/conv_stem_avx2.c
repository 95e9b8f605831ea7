/* Stem row kernel (few-input-channel direct conv: conv_stem.c), AVX2 build of conv_stem_impl.h. */
#include "cl_isa.h"
#include "cl_stem.h"

#if CL_X86
CL_ISA_BEGIN_AVX2
#define CL_VEC_AVX2
#include "cl_vec.h"
#include "conv_stem_impl.h"
CL_ISA_END
const cl_stem_kernel cl_stem_avx2 = {stem_row, CLV_W, stem_copy_rows, stem_split_pairs};
#else
const cl_stem_kernel cl_stem_avx2 = {0, 0, 0, 0};
#endif
