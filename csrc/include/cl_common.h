/* What every convlab C entry point shares: error codes, activation codes, the fused epilogue.
 *
 * Blocks between the cffi:begin / cffi:end markers of every header in csrc/include are given to cffi's
 * cdef by csrc/build_ffi.py, so they must be plain C declarations (no macros, no #if). A new
 * algorithm exposes itself to Python by adding a header with such a block next to its .c file. */
#ifndef CL_COMMON_H
#define CL_COMMON_H

#include <stddef.h>

/* cffi:begin */
/* Return codes of every int-returning entry point. */
enum { CL_OK = 0, CL_EINVAL = 1, CL_ENOMEM = 2 };

/* Activation codes: the same numbers as convlab/activation.py (ACT_*). */
enum { CL_ACT_NONE = 0, CL_ACT_RELU = 1, CL_ACT_RELU6 = 2, CL_ACT_PRELU = 3,
       CL_ACT_SIGMOID = 4, CL_ACT_HARDSWISH = 5 };

/* Bias + activation applied to each output before it is stored. bias and slope are indexed by
 * output channel (GEMM row); either may be NULL (no bias / slope 0). slope is read only for
 * CL_ACT_PRELU (leaky ReLU is a PReLU whose slopes are all alpha). */
typedef struct {
    const float *bias;
    const float *slope;
    int act;
} cl_epilogue;

/* Instruction sets a kernel can be built for; cl_isa() is the one the dispatcher chose at load
 * (cpuid on x86, NEON always on aarch64). cl_set_isa forces one (tests use it to check every
 * micro-kernel this CPU can run); -1 restores the automatic choice. Returns CL_EINVAL if this
 * CPU or build cannot run it. Not thread-safe: call it between convolutions. */
enum { CL_ISA_SCALAR = 0, CL_ISA_AVX2 = 1, CL_ISA_AVX512 = 2, CL_ISA_NEON = 3 };
int cl_isa(void);
int cl_set_isa(int isa);
int cl_isa_supported(int isa);
const char *cl_isa_name(int isa);
/* cffi:end */

/* Scalar epilogue of one value: the definition the vector epilogues must match. */
static inline float cl_act1(float y, int act, float slope)
{
    switch (act) {
    case CL_ACT_RELU: return y < 0.0f ? 0.0f : y;                 /* NaN stays NaN */
    case CL_ACT_RELU6: return y < 0.0f ? 0.0f : (y > 6.0f ? 6.0f : y);
    case CL_ACT_PRELU: return y < 0.0f ? y * slope : y;
    case CL_ACT_HARDSWISH: {
        float t = y + 3.0f;
        t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
        return y * t * (1.0f / 6.0f);
    }
    default: return y;
    }
}

/* Sigmoid needs expf; vector epilogues leave it to this pass over what they stored (still in L1). */
void cl_sigmoid_inplace(float *y, size_t n);

/* Threads: OpenMP when the compiler has it, else one thread (results are identical either way,
 * because no kernel splits a reduction across threads). */
#ifdef _OPENMP
#include <omp.h>
#define CL_PRAGMA(x) _Pragma(#x)
#define CL_PARALLEL_FOR(nt) CL_PRAGMA(omp parallel for num_threads(nt) schedule(static) if((nt) > 1))
#define CL_ATOMIC_WRITE CL_PRAGMA(omp atomic write)
/* Which of a CL_PARALLEL_FOR's threads runs this iteration: indexes per-thread scratch. */
static inline int cl_thread_num(void) { return omp_get_thread_num(); }
#else
#define CL_PARALLEL_FOR(nt)
#define CL_ATOMIC_WRITE
static inline int cl_thread_num(void) { return 0; }
#endif

#endif
