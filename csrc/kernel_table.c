/* The C kernel table (cl_kernels.h): each op's per-ISA kernel, one row per instruction set. */
#include <stdio.h>
#include "cl_kernels.h"

#define ROW(isa, name)                                                                                  \
    [isa] = {isa, &cl_ukernel_##name, &cl_unpacked_##name, &cl_wino_##name, &cl_stem_##name, &cl_dw3x3_##name, \
             &cl_dw_kxk_##name, &cl_pool_##name, &cl_direct_axpy_##name}

static const cl_kernel_table TABLES[] = {
    ROW(CL_ISA_SCALAR, scalar), ROW(CL_ISA_AVX2, avx2), ROW(CL_ISA_AVX512, avx512), ROW(CL_ISA_NEON, neon),
};

/* A row whose ISA this build did not compile holds empty kernels (every per-ISA file has the same
 * guard, CL_X86 or aarch64); a row is used only whole, never mixed with the scalar one. */
static int built(const cl_kernel_table *t)
{
    return t->gemm->fn && t->gemm_unpacked->narrow && t->winograd->vl && t->stem->row && t->dw3x3->channel &&
           t->dw_kxk->row && t->pool->plane && *t->direct_axpy;
}

const cl_kernel_table *cl_kernels_for(int isa)
{
    int known = isa >= 0 && isa < (int)(sizeof TABLES / sizeof TABLES[0]);
    return known && built(&TABLES[isa]) ? &TABLES[isa] : &TABLES[CL_ISA_SCALAR];
}

const cl_kernel_table *cl_kernels(void) { return cl_kernels_for(cl_isa()); }

static const char *const OPS[] = {"gemm", "gemm_wide", "gemm_narrow", "winograd", "stem", "depthwise3x3",
                                  "depthwise_kxk", "pool", "direct"};

int cl_kernel_row(int isa, int k, const char **op, char *tile, int len)
{
    if (isa < 0 || isa >= (int)(sizeof TABLES / sizeof TABLES[0]) || k < 0 || k >= (int)(sizeof OPS / sizeof OPS[0]) ||
        !op || !tile || len < 1)
        return 0;
    const cl_kernel_table *t = cl_kernels_for(isa);
    const cl_unpacked_ukernel *u = t->gemm_unpacked;
    size_t n = (size_t)len;
    *op = OPS[k];
    switch (k) {
    case 0: snprintf(tile, n, "%dx%d (MR x NR, packed A and B)", t->gemm->mr, t->gemm->nr); break;
    case 1: snprintf(tile, n, "%dx%d (rows x columns, B in place)", u->wide_panels * t->gemm->mr, u->wide_nr); break;
    case 2: snprintf(tile, n, "%d pixels x %d rows (A^T, pixels broadcast)", u->narrow_px, u->narrow_nr); break;
    case 3: snprintf(tile, n, "%d tiles per transform (a tile per lane)", t->winograd->vl); break;
    case 4: snprintf(tile, n, "%d channels x %d-float vectors per row", CL_STEM_CO, t->stem->width); break;
    case 5: snprintf(tile, n, "%d-float vectors per row", t->dw3x3->width); break;
    case 6: snprintf(tile, n, "%d-float vectors per row", t->dw_kxk->width); break;
    case 7: snprintf(tile, n, "%d-float vectors per row", t->pool->lanes); break;
    default: snprintf(tile, n, "row update in plain C, compiled for %s", cl_isa_name(t->isa)); break;
    }
    return 1;
}
