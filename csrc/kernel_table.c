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

int cl_kernel_row(int isa, int k, const char **op, char *tile, int len)
{
    if (isa < 0 || isa >= (int)(sizeof TABLES / sizeof TABLES[0]) || !op || !tile || len < 1)
        return 0;
    const cl_kernel_table *t = cl_kernels_for(isa);
    const cl_unpacked_ukernel *u = t->gemm_unpacked;
    switch (k) {
    case 0:
        *op = "gemm";
        snprintf(tile, (size_t)len, "%dx%d (MR x NR, packed A and B)", t->gemm->mr, t->gemm->nr);
        return 1;
    case 1:
        *op = "gemm_wide";
        snprintf(tile, (size_t)len, "%dx%d (rows x columns, B in place)", u->wide_panels * t->gemm->mr, u->wide_nr);
        return 1;
    case 2:
        *op = "gemm_narrow";
        snprintf(tile, (size_t)len, "%d pixels x %d rows (A^T, pixels broadcast)", u->narrow_px, u->narrow_nr);
        return 1;
    case 3:
        *op = "winograd";
        snprintf(tile, (size_t)len, "%d tiles per transform (a tile per lane)", t->winograd->vl);
        return 1;
    case 4:
        *op = "stem";
        snprintf(tile, (size_t)len, "%d channels x %d-float vectors per row", CL_STEM_CO, t->stem->width);
        return 1;
    case 5:
        *op = "depthwise3x3";
        snprintf(tile, (size_t)len, "%d-float vectors per row", t->dw3x3->width);
        return 1;
    case 6:
        *op = "depthwise_kxk";
        snprintf(tile, (size_t)len, "%d-float vectors per row", t->dw_kxk->width);
        return 1;
    case 7:
        *op = "pool";
        snprintf(tile, (size_t)len, "%d-float vectors per row", t->pool->lanes);
        return 1;
    case 8:
        *op = "direct";
        snprintf(tile, (size_t)len, "row update in plain C, compiled for %s", cl_isa_name(t->isa));
        return 1;
    default:
        return 0;
    }
}
