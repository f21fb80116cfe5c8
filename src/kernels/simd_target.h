// simd_target.h — compile the rest of a kernel file for an instruction set
// the build flags may not enable, so one binary carries every path and cpu.c
// picks at run time. Define KERNEL_TARGET (a target string) and
// KERNEL_NEEDS_AMX before including; it defines KERNEL_SIMD to 1 when the file
// can be built for that target here, else 0 (the file then builds stubs and
// reports the path as missing). Close with simd_target_end.h.
//  - GCC on x86-64: a target pragma covers every function, OpenMP bodies too.
//  - clang: pushed target attributes miss OpenMP's outlined functions, so the
//    path is built only when the flags (-march) already enable the features.
// Floating-point contraction is off in these files: dequantization must round
// every multiply and add as the reference does.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL_SIMD 1
#define KERNEL_STR_(x) #x
#define KERNEL_PRAGMA_(x) _Pragma(KERNEL_STR_(x))
#pragma GCC push_options
KERNEL_PRAGMA_(GCC target(KERNEL_TARGET))
#pragma GCC optimize("fp-contract=off")
#elif defined(__x86_64__) && defined(__clang__) && defined(__AVX512F__) && defined(__AVX512BW__) &&            \
    defined(__AVX512VL__) && defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__) &&                  \
    (!KERNEL_NEEDS_AMX || (defined(__AVX512BF16__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)))
#define KERNEL_SIMD 1
#pragma STDC FP_CONTRACT OFF
#else
#define KERNEL_SIMD 0
#endif
