// forward.h — the inference forward pass (batched prefill and one-token decode)
// with a KV cache, for llama / qwen2 / qwen3 / smollm3.
//
// Ownership: an infer_state owns its KV cache, scratch buffers and the fp32
// copies of the small weights (norms, biases); it borrows the model, which must
// outlive it. Large weights are read in their stored dtype from the mmap.
#ifndef LORAC_FORWARD_H
#define LORAC_FORWARD_H

#include "../kernels/kernels.h"
#include "model.h"

typedef struct {
    float *attn_norm, *mlp_norm;       // (d)
    float *q_norm, *k_norm;            // (hd) or NULL
    float *q_bias, *k_bias, *v_bias;   // (n_heads*hd), (n_kv*hd), (n_kv*hd) or NULL
    float *o_bias;                     // (d) or NULL
    float *gate_bias, *up_bias, *down_bias; // (ff), (ff), (d) or NULL
} layer_small;

// Called after each projection with y (T, out) = x (T, in)·Wᵀ (+ bias) so an
// adapter (LoRA/DoRA, train/lora.h) can add its contribution in place.
typedef void (*infer_adapter_fn)(void *ctx, int64_t layer, proj_kind p, float *y, const float *x, int64_t T,
                                 const float *bias);

typedef struct {
    const model *m;
    infer_adapter_fn adapter; // NULL = the base model
    void *adapter_ctx;
    rope_table rope;
    layer_small *small;   // (n_layers)
    float *final_norm;    // (d)
    int64_t n_ctx;        // KV cache capacity in tokens
    int64_t max_batch;    // tokens per forward call (longer inputs are split)
    int64_t pos;          // tokens already in the cache
    float **k_cache, **v_cache; // per layer (n_ctx, n_kv*hd)
    // scratch, each sized for max_batch tokens
    float *x, *xn;        // (B, d)
    float *q, *k, *v;     // (B, n_heads*hd), (B, n_kv*hd), (B, n_kv*hd)
    float *att;           // (B, n_heads*hd)
    float *gate, *up;     // (B, ff)
    float *tmp;           // (B, d)
    int64_t *positions;   // (B)
} infer_state;

// n_ctx: KV capacity (clamped to the model's max positions); max_batch: chunk size.
int infer_init(infer_state *s, const model *m, int64_t n_ctx, int64_t max_batch);
void infer_release(infer_state *s);
void infer_reset(infer_state *s); // empties the KV cache
// Run T tokens at positions pos..pos+T-1, appending to the cache. logits gets
// (T, vocab) when all_logits, else (vocab) for the last token only. Returns -1
// (error set) when the cache would overflow or a token id is out of range.
int infer_forward(infer_state *s, const int32_t *tokens, int64_t T, float *logits, int all_logits);
// Drop cached positions >= pos (to rewind, e.g. after a regenerate).
void infer_truncate(infer_state *s, int64_t pos);

#endif
