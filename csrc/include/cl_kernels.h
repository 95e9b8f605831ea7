/* The C kernel table: one row per instruction set holding the kernel of every op that is compiled
 * per ISA (kernel_table.c). MLAS's platform.cpp and XNNPACK's src/configs/ are the model: one
 * place says which micro-kernel each op runs, so cl_set_isa switches all of them at once and the
 * Python side (convlab.kernels.c.kernel_table) lists, tests and records exactly what runs. */
#ifndef CL_KERNELS_H
#define CL_KERNELS_H

#include "cl_common.h"
#include "cl_direct.h"
#include "cl_dwconv.h"
#include "cl_gemm.h"
#include "cl_pool.h"
#include "cl_stem.h"
#include "cl_winograd.h"

typedef struct {
    int isa;
    const cl_ukernel *gemm;                    /* packed-A GEMM micro-kernel, MR x NR (gemm.c) */
    const cl_unpacked_ukernel *gemm_unpacked;  /* B read in place: wide and narrow tiles */
    const cl_wino_kernels *winograd;           /* tile transforms, a tile per lane */
    const cl_stem_kernel *stem;                /* few-input-channel direct conv rows */
    const cl_dw3x3_kernel *dw3x3;
    const cl_dw_kxk_kernel *dw_kxk;
    const cl_pool_kernel *pool;
    const cl_direct_axpy_fn *direct_axpy;      /* the general direct conv's row update */
} cl_kernel_table;

/* The row of isa (CL_ISA_*), or the scalar row when this build has no kernels for it (NEON on
 * x86-64, AVX on aarch64; cl_set_isa refuses those anyway). */
const cl_kernel_table *cl_kernels_for(int isa);
/* The row of cl_isa(): what a kernel prepared or run now uses. The GEMM and Winograd take theirs at
 * prepare (their packed weights are laid out for one micro-kernel) and keep it; every other op at
 * each run. */
const cl_kernel_table *cl_kernels(void);

/* cffi:begin */
/* Row k (0, 1, ...) of isa's table as text: the op's name and its tile (e.g. "gemm", "8x32 (MR x
 * NR)"), tile written into tile[0..len). Returns 0 past the last row or for an unknown isa. */
int cl_kernel_row(int isa, int k, const char **op, char *tile, int len);
/* cffi:end */

#endif
