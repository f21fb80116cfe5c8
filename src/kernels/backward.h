// backward.h — the kernels training needs beyond the forward ones: input
// gradients of every op in a transformer block, general fp32 GEMM (LoRA
// factors, weight gradients), and cross-entropy over vocabulary chunks.
//
// Same rules as kernels.h: each optimised kernel has a naive _ref twin it is
// tested against (and every backward kernel is checked by finite differences);
// fp32 activations and gradients; weights in their stored dtype; nothing
// allocated outlives a call (the caller owns every buffer it passes); OpenMP
// threads inside. For a given thread count every kernel is bitwise
// deterministic (fixed summation orders).
#ifndef LORAC_BACKWARD_H
#define LORAC_BACKWARD_H

#include "kernels.h"

// ---- views ----
// tensor_rows(w, r0, n) — rows [r0, r0 + n) of a 2-D weight of any dtype as a
// view of the same memory — is declared in kernels.h (matmul.c); the LM-head
// chunks of cross_entropy_chunked use it.

// ---- fp32 GEMM ----
// C (M, N) = alpha · op(A) · op(B) + beta · C, row-major; op(A) is (M, K): A is
// (M, K), or (K, M) when trans_a; op(B) is (K, N): B is (K, N), or (N, K) when trans_b.
// beta = 0 never reads C (BLAS semantics); K = 0 or alpha = 0 gives beta·C
// without reading A or B; M = 0 or N = 0 does nothing. Tuned for LoRA's
// skinny shapes (one of M, N, K = r = 8..64) as well as large ones.
void gemm_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a, int trans_b,
              float alpha, float beta);
void gemm_f32_ref(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a, int trans_b,
                  float alpha, float beta);

// ---- block ops ----
// y = x · r · w with r = 1/sqrt(mean(x²) + eps) per row of n.
// dx (T, n) = r·(dy∘w) − x · r³/n · Σ(dy∘w∘x); dw (n), when not NULL, += Σ_t dy∘x·r.
// dx may alias dy. dw's sum over rows does not depend on the thread count.
void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int64_t T, int64_t n,
                      float eps);
void rmsnorm_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w, int64_t T, int64_t n,
                          float eps);
// Gradient through rope_forward: rotate dx (T, n_heads, hd) in place by −angle.
// rope_forward computes y = s·R(θ)·x with s = attn_scale (yarn), so dx = s·R(θ)ᵀ·dy.
void rope_backward(float *dx, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r);
void rope_backward_ref(float *dx, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r);
// y = silu(g)·u: dg = dy·u·σ(g)(1 + g(1 − σ(g))), du = dy·silu(g). dg may alias dy.
void silu_mul_backward(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n);
void silu_mul_backward_ref(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n);
// Causal GQA attention over one sequence of T tokens (positions 0..T-1), as
// attention_forward with pos0 = 0. Probabilities are recomputed from q and k
// (nothing T×T is stored between forward and backward).
// dq (T, n_heads*hd) is overwritten; dk, dv (T, n_kv*hd) are overwritten;
// dk and dv sum the contributions of every query head sharing a kv head.
// Scratch inside the call: keys and values transposed (3·T·n_kv·hd floats),
// per thread 2·(16·n_heads/n_kv)·T score floats and dK/dV partials (2·T·n_kv·hd).
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale);
void attention_backward_ref(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                            const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale);

// ---- loss ----
// Cross-entropy of logits = h · Wᵀ (W = lm_head (V, d), frozen) against targets,
// computed in vocabulary chunks of `chunk` rows so full (T, V) logits never exist:
// one pass over the chunks keeps each row's running max and Σ exp, and (with dh)
// accumulates Σ exp(logit − running max)·W_chunk, rescaled when the max grows;
// at the end dh += grad_scale · (that / Σ exp − W_target), i.e.
// grad_scale · (softmax − onehot) · W.
// h (T, d); targets (T), < 0 = not a target (no loss, no gradient);
// dh (T, d) accumulated, may be NULL (loss only); losses (T), when not NULL,
// gets each row's loss (0 for non-targets). Returns the sum of target losses.
// Only target rows enter the matmuls (matmul_forward / matmul_backward_input
// on tensor_rows chunks, any weight dtype); scratch is one (target rows,
// chunk) block of logits (chunk = 4096: 16 MB at 1,024 targets) and, with dh,
// one (target rows, d) accumulator.
// Cost: 1 logits matmul + 1 matmul_backward_input with dh, 1 matmul without.
double cross_entropy_chunked(float *dh, float *losses, const float *h, const tensor_view *w, const int32_t *targets,
                             int64_t T, int64_t d, int64_t V, int64_t chunk, float grad_scale);
double cross_entropy_chunked_ref(float *dh, float *losses, const float *h, const tensor_view *w,
                                 const int32_t *targets, int64_t T, int64_t d, int64_t V, float grad_scale);

#endif
