// simd_target_end.h — closes the region opened by simd_target.h.
#if KERNEL_SIMD && defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
