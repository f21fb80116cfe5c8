// simd_target.h — compile the rest of a kernel file for an instruction set
// the build flags may not enable, so one binary carries every path and cpu.c
// picks at run time. Define KERNEL_TARGET (a target string) before including;
// close the region with simd_target_end.h at the end of the file.
// GCC: target pragma; clang: an attribute pushed onto every function.
// Floating-point contraction is switched off too: dequantization must round
// every multiply and add as the reference does.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target(KERNEL_TARGET))), apply_to = function)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target(KERNEL_TARGET)
#pragma GCC optimize("fp-contract=off")
#endif
