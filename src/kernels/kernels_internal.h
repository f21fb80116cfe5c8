// kernels_internal.h — what the kernel files share: the per-ISA matmul entry
// points and the constants that tie the paths together. Not for other modules.
#ifndef LORAC_KERNELS_INTERNAL_H
#define LORAC_KERNELS_INTERNAL_H

#include "kernels.h"

// Fewer tokens than this take the fused dequantize-and-dot path (weights
// streamed once, memory-bound); more take the tiled GEMM (compute-bound).
#define KERNEL_GEMM_MIN_T 16

// Shape of a weight as (out, in) with in a multiple of the block size
// (asserted); the bytes of one row.
typedef struct {
    int64_t out, in;
    size_t row_bytes;
    const uint8_t *data;
    dtype type;
} weight_info;
weight_info weight_info_of(const tensor_view *w, const char *fn);

// Types the optimised paths handle (all that dequantize_row handles).
int kernel_type_supported(dtype t);

// Whether this build carries the AVX-512 / AMX code (see simd_target.h); the
// *_avx512.c files share one condition, so one flag answers for all of them.
extern const int kernel_avx512_built, kernel_amx_built;

// ---- AVX-512 (matmul_avx512.c; compiled for AVX-512 whatever -march says) ----
void matmul_avx512_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T);
void matmul_avx512_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate);
// n values (a multiple of the block size) of rows starting at src into dst,
// bit-identical to dequantize_row.
void dequant_avx512(dtype t, const uint8_t *src, float *dst, int64_t n);

// ---- AMX (matmul_amx.c) ----
void matmul_amx_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T);
void matmul_amx_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate);
// The same packing with AVX-512 BF16 register products: KERNEL_PREC_BF16 only.
void matmul_bf16dot_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T);
void matmul_bf16dot_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate);
// Ask the OS for the AMX tile state once per process; 0 when granted.
int amx_request_permission(void);

// ---- vector math (ops_avx512.c) ----
void silu_mul_avx512(float *out, const float *gate, const float *up, int64_t n);
void softmax_avx512(float *x, int64_t n);
void rmsnorm_avx512(float *out, const float *x, const float *w, int64_t n, float eps);

// ---- attention (attention_avx512.c) ----
void attention_avx512(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                      int64_t n_heads, int64_t n_kv, int64_t hd, float scale);

#endif
