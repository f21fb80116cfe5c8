// kernels.h — the numeric kernels every forward and backward pass is built from.
//
// Each optimised kernel has a naive reference twin (suffix _ref) that it is
// tested against. Activations are fp32; weights are tensor_views in their
// stored dtype (F32/F16/BF16 or GGUF blocks), never converted to a full fp32
// copy. Kernels allocate nothing that outlives the call and own nothing.
// Threads: OpenMP inside the kernel (omp_set_num_threads sets the count).
#ifndef LORAC_KERNELS_H
#define LORAC_KERNELS_H

#include "../core/tensor.h"

// ---- instruction sets ----
// matmul picks the best path the CPU and OS allow: AMX tiles (bf16 tile
// products on split operands, faithful to fp32), AVX-512 (fp32 FMA), or
// portable C. LORAC_KERNELS=scalar|avx512|amx in the environment caps it;
// kernels_set_isa caps it from code (tests and benchmarks compare paths).
typedef enum { KERNEL_ISA_SCALAR, KERNEL_ISA_AVX512, KERNEL_ISA_AMX } kernel_isa;
kernel_isa kernels_isa(void);          // the path in use now
kernel_isa kernels_isa_detected(void); // the best this CPU and OS support
void kernels_set_isa(kernel_isa cap);  // clamped to what was detected
const char *kernel_isa_name(kernel_isa isa); // "scalar", "avx512", "amx"
// Precision of the many-token matmuls (T >= 16: prefill, training).
// KERNEL_PREC_FP32 (default): within fp32 rounding of the reference (what is
// dropped is ~2^-24 of each product) on every path.
// KERNEL_PREC_FAST (AMX only): activations in two bf16 parts and only the
// leading cross products: error per product at most ~3·2^-16 = 4.6e-5 of
// |w·x| (still ~100x finer than bf16 activations), 1.5-2x faster.
// KERNEL_PREC_BF16: activations and weights rounded to bf16 (round to
// nearest even), products summed in fp32 — PyTorch's bf16 autocast
// precision: ~2^-8 relative per product. On AVX-512 BF16 CPUs without AMX
// it is the only mode faster than fp32 FMA (vdpbf16ps does twice the
// multiply-adds); CPUs without AVX-512 BF16 stay in fp32.
// LORAC_MATMUL=fast|bf16|fp32 in the environment selects the mode too.
typedef enum { KERNEL_PREC_FP32, KERNEL_PREC_FAST, KERNEL_PREC_BF16 } kernel_precision;
kernel_precision kernels_precision(void);
void kernels_set_precision(kernel_precision p);
const char *kernel_precision_name(kernel_precision p); // "fp32", "fast", "bf16"
// The mode a name gives; -1 for an unknown name.
int kernel_precision_parse(const char *name);
// What the many-token matmuls compute in when `want` is asked for on the
// path in use: FAST needs AMX, BF16 needs AMX or AVX-512 BF16; else FP32.
kernel_precision kernels_precision_effective(kernel_precision want);

// ---- matmul ----
// y (T, out) = x (T, in) · Wᵀ (+ bias), W a (out, in) tensor_view of any
// supported dtype; bias (out) fp32 or NULL.
void matmul_forward(float *y, const float *x, const tensor_view *w, const float *bias, int64_t T);
void matmul_forward_ref(float *y, const float *x, const tensor_view *w, const float *bias, int64_t T);
// dx (T, in) = dy (T, out) · W — the input gradient through a frozen weight
// (accumulate = 1 adds into dx instead of overwriting).
void matmul_backward_input(float *dx, const float *dy, const tensor_view *w, int64_t T, int accumulate);
void matmul_backward_input_ref(float *dx, const float *dy, const tensor_view *w, int64_t T, int accumulate);
// Rows [r0, r0 + n) of a 2-D weight as a view of the same memory (e.g. a
// vocabulary chunk of the LM head for chunked cross-entropy).
tensor_view tensor_rows(const tensor_view *w, int64_t r0, int64_t n);
// Row r of a weight (e.g. an embedding) as fp32: out (in).
void tensor_row_f32(float *out, const tensor_view *w, int64_t r);
// A 1-D weight (norm, bias) as fp32: out (n).
void tensor_to_f32(float *out, const tensor_view *w);

// ---- elementwise and normalisation ----
// out (T, n) = x / rms(x) * w, rms over each row of n; out may alias x.
void rmsnorm_forward(float *out, const float *x, const float *w, int64_t T, int64_t n, float eps);
void rmsnorm_forward_ref(float *out, const float *x, const float *w, int64_t T, int64_t n, float eps);
// out (n) = silu(gate) * up; out may alias gate.
void silu_mul_forward(float *out, const float *gate, const float *up, int64_t n);
void silu_mul_forward_ref(float *out, const float *gate, const float *up, int64_t n);
// In-place softmax over n values.
void softmax_forward(float *x, int64_t n);
void softmax_forward_ref(float *x, int64_t n);

// ---- rotary position embedding ----
typedef enum { ROPE_NEOX, ROPE_INTERLEAVED } rope_mode; // HF rotates halves; GGUF llama rotates pairs
typedef struct {
    int64_t head_dim;
    float *inv_freq;   // (head_dim/2), scaling applied
    float attn_scale;  // yarn's mscale on cos/sin (1 otherwise)
    rope_mode mode;
} rope_table;
// Scaling kinds; the values equal model_config's rope_scaling_type.
enum { ROPE_SCALE_NONE, ROPE_SCALE_LINEAR, ROPE_SCALE_LLAMA3, ROPE_SCALE_YARN };
// Build inv_freq from theta and the config's rope_scaling (linear/llama3/yarn);
// scaling_type and its parameters mirror model_config.rope_scaling. Computed
// in fp32 with HF transformers' operations in HF's order (modeling_rope_utils),
// so the tables agree with HF's to the last bit or within an ulp of its pow.
// yarn: beta_fast/beta_slow 0 mean HF's defaults 32/1; attention_factor 0 means
// 0.1·ln(factor) + 1. The table owns inv_freq; rope_table_release frees it.
void rope_table_init(rope_table *r, int64_t head_dim, double theta, int scaling_type, double factor,
                     double low_freq_factor, double high_freq_factor, int64_t original_max_pos,
                     double beta_fast, double beta_slow, double attention_factor, rope_mode mode);
void rope_table_release(rope_table *r);
// x (T, n_heads, head_dim) rotated in place; pos (T) absolute positions.
void rope_forward(float *x, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r);
void rope_forward_ref(float *x, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r);

// ---- attention ----
// Causal grouped-query attention for T new queries at positions pos0..pos0+T-1
// against S = pos0 + T cached keys/values.
// out (T, n_heads*hd); q (T, n_heads*hd); k, v (S, n_kv*hd); scale = 1/sqrt(hd).
void attention_forward(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                       int64_t n_heads, int64_t n_kv, int64_t hd, float scale);
void attention_forward_ref(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                           int64_t n_heads, int64_t n_kv, int64_t hd, float scale);

#endif
