/* Compiling ISA-specific code without per-file compiler flags.
 *
 * Each ISA-specific source file starts with CL_ISA_BEGIN_AVX512 / _AVX2 (x86) and is compiled
 * with the same generic flags as the rest: the pragma gives every function in the file (including
 * the inline vector helpers it includes) the target attribute, so intrinsics are allowed there,
 * while cpu.c only calls them after cpuid says the CPU has the instructions. On aarch64 NEON is
 * baseline and needs nothing. Files for the other architecture compile to nothing. */
#ifndef CL_ISA_H
#define CL_ISA_H

#if defined(__x86_64__) || defined(_M_X64)
#define CL_X86 1
#else
#define CL_X86 0
#endif
#if defined(__aarch64__)
#define CL_ARM64 1
#else
#define CL_ARM64 0
#endif

#if CL_X86 && defined(__clang__)
#define CL_ISA_BEGIN_AVX2 _Pragma("clang attribute push (__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define CL_ISA_BEGIN_AVX512 _Pragma("clang attribute push (__attribute__((target(\"avx512f,avx2,fma\"))), apply_to = function)")
#define CL_ISA_END _Pragma("clang attribute pop")
#elif CL_X86
#define CL_ISA_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define CL_ISA_BEGIN_AVX512 _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx2,fma\")")
#define CL_ISA_END _Pragma("GCC pop_options")
#endif

#endif
