/* Which micro-kernels this CPU can run, chosen once at load: cpuid on x86 (via the compiler's
 * __builtin_cpu_supports), NEON always on aarch64 (it is part of armv8-a). The ISA-specific
 * files carry their own target attributes (see cl_isa.h), so the whole library builds with the
 * generic flags and a single binary runs on any x86-64. */
#include <math.h>
#include "cl_common.h"
#include "cl_isa.h"

static int forced = -1;

int cl_isa_supported(int isa)
{
    switch (isa) {
    case CL_ISA_SCALAR: return 1;
#if CL_X86
    case CL_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CL_ISA_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
#if CL_ARM64
    case CL_ISA_NEON: return 1;
#endif
    default: return 0;
    }
}

static int detect(void)
{
    static const int best_first[] = {CL_ISA_AVX512, CL_ISA_AVX2, CL_ISA_NEON};
    for (size_t i = 0; i < sizeof best_first / sizeof *best_first; i++)
        if (cl_isa_supported(best_first[i]))
            return best_first[i];
    return CL_ISA_SCALAR;
}

int cl_isa(void)
{
    static int detected = -1;
    if (forced >= 0)
        return forced;
    if (detected < 0)
        detected = detect();
    return detected;
}

int cl_set_isa(int isa)
{
    if (isa == -1) {
        forced = -1;
        return CL_OK;
    }
    if (!cl_isa_supported(isa))
        return CL_EINVAL;
    forced = isa;
    return CL_OK;
}

const char *cl_isa_name(int isa)
{
    static const char *names[] = {"scalar", "avx2", "avx512", "neon"};
    return isa >= 0 && isa < 4 ? names[isa] : "unknown";
}

void cl_sigmoid_inplace(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-y[i]));
}
