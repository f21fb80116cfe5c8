// backward_internal.h — what backward.c and backward_avx512.c share: the
// AVX-512 entry points of the training kernels. Not for other modules.
#ifndef LORAC_BACKWARD_INTERNAL_H
#define LORAC_BACKWARD_INTERNAL_H

#include "backward.h"

// ---- AVX-512 (backward_avx512.c; compiled for AVX-512 whatever -march says) ----
// gemm_f32 with M, N, K > 0 (the caller handles empty shapes).
void gemm_avx512(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a,
                 int trans_b, float alpha, float beta);
// One row of rmsnorm_backward: dx (n) (may alias dy); dwacc (n), when not
// NULL, += dy∘x·r.
void rmsnorm_backward_row_avx512(float *dx, float *dwacc, const float *dy, const float *x, const float *w, int64_t n,
                                 float eps);
void silu_mul_backward_avx512(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n);
void attention_backward_avx512(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale);
// Log-sum-exp pieces over one row of n logits: the maximum, and Σ exp(x − m).
float row_max_avx512(const float *x, int64_t n);
float row_sumexp_avx512(const float *x, int64_t n, float m);
// x = exp(x − m) in place; returns Σ exp(x − m) summed as row_sumexp_avx512 sums it.
float row_exp_sum_avx512(float *x, int64_t n, float m);

#endif
