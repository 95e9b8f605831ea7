/* Reading and writing the subnormal controls (see cl_fpenv.h). The environment is per thread,
 * so setting it also runs one parallel region to give the OpenMP workers the same flags. */
#include "cl_common.h"
#include "cl_fpenv.h"
#include "cl_isa.h"

#if CL_X86
#include <xmmintrin.h>
enum { MXCSR_DAZ = 1 << 6, MXCSR_FTZ = 1 << 15 };

static int get_here(void)
{
    unsigned m = _mm_getcsr();
    return (m & MXCSR_FTZ ? CL_FP_FTZ : 0) | (m & MXCSR_DAZ ? CL_FP_DAZ : 0);
}

static void set_here(int flags)
{
    unsigned m = _mm_getcsr() & ~(unsigned)(MXCSR_FTZ | MXCSR_DAZ);
    _mm_setcsr(m | (flags & CL_FP_FTZ ? MXCSR_FTZ : 0) | (flags & CL_FP_DAZ ? MXCSR_DAZ : 0));
}
#elif CL_ARM64
enum { FPCR_FZ = 1 << 24 };

static int get_here(void)
{
    unsigned long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v & FPCR_FZ ? CL_FP_FTZ | CL_FP_DAZ : 0;
}

static void set_here(int flags)
{
    unsigned long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    v = flags ? v | FPCR_FZ : v & ~(unsigned long)FPCR_FZ;
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}
#else
static int get_here(void) { return 0; }
static void set_here(int flags) { (void)flags; }
#endif

int cl_fpenv_get(void)
{
    return get_here();
}

int cl_fpenv_set(int flags)
{
    int old = get_here();
    set_here(flags);
#ifdef _OPENMP
    /* libgomp reuses its pooled threads for later teams, so this reaches the threads kernels use
     * (up to this many). */
    int n = omp_get_num_procs() > omp_get_max_threads() ? omp_get_num_procs() : omp_get_max_threads();
#pragma omp parallel num_threads(n)
    set_here(flags);
#endif
    return old;
}
