// estimate.c — memory formulas for inference and LoRA training.
//
// Inference: weights + KV cache (2 · layers · n_kv · hd · T · 4 B) + one block's
// scratch at T tokens (x, norm, q, k, v, attention output, gate, up: (4d + 2q +
// 2kv + 2ff) · T · 4 B, plus one head's T×T scores per thread) + last-token logits.
// Training: weights + LoRA (params, grads, two AdamW moments: 16 B per parameter)
// + saved activations of the trained blocks (all of each block's intermediates,
// or one hidden state per block with gradient checkpointing plus one block's
// intermediates for the recompute) + cross-entropy in 8192-entry vocabulary chunks.
#include "estimate.h"

#define F 4.0 // bytes per fp32 value
#define CE_CHUNK 8192

static double block_scratch(const model_config *c, double tokens) {
    double q = (double)(c->n_heads * c->head_dim), kv = (double)(c->n_kv_heads * c->head_dim);
    double d = (double)c->hidden_size, ff = (double)c->intermediate_size;
    return (4 * d + 2 * q + 2 * kv + 2 * ff) * tokens * F;
}

void estimate_inference(const model_config *c, double weight_bytes, int64_t seq, mem_estimate *o) {
    double T = (double)seq;
    *o = (mem_estimate){0};
    o->weights = weight_bytes;
    o->kv_cache = 2.0 * (double)c->n_layers * (double)(c->n_kv_heads * c->head_dim) * T * F;
    o->activations = block_scratch(c, T) + 2 * T * T * F;
    o->logits = (double)c->vocab_size * F;
    o->total = o->weights + o->kv_cache + o->activations + o->logits;
}

void estimate_lora_training(const model_config *c, double weight_bytes, const train_shape *s, mem_estimate *o) {
    int64_t layers = s->num_layers < 0 || s->num_layers > c->n_layers ? c->n_layers : s->num_layers;
    double T = (double)(s->max_seq_length * s->batch_size);
    double d = (double)c->hidden_size, ff = (double)c->intermediate_size;
    double q = (double)(c->n_heads * c->head_dim), kv = (double)(c->n_kv_heads * c->head_dim);
    double r = s->full ? 0 : (double)s->lora_rank;
    // outputs of q, k, v, o, gate, up, down
    double outs = q + 2 * kv + d + 2 * ff + d;
    double per_layer;
    if (s->full) // every projection (with q/k/v biases for qwen2) and the block's norms, in fp32
        per_layer = d * q + 2 * d * kv + q * d + 3 * d * ff + (c->attention_bias ? q + 2 * kv : 0) + 2 * d +
                    (c->qk_norm ? 2 * (double)c->head_dim : 0);
    else // LoRA on q, k, v, o, gate, up, down: r · (in + out) each; DoRA adds a magnitude per output
        per_layer = r * ((d + q) + 2 * (d + kv) + (q + d) + 2 * (d + ff) + (ff + d)) + (s->dora ? outs : 0);
    *o = (mem_estimate){0};
    o->weights = weight_bytes;
    o->lora_params = (int64_t)(per_layer * (double)layers);
    o->lora = (double)o->lora_params * 4 * F;
    // a block's saved intermediates: inputs of both norms, normed inputs, q, k, v
    // (pre/post RoPE), attention output, gate, up, silu(gate)*up, LoRA inputs of rank r,
    // DoRA's pre-scale outputs, and the attention probabilities (heads · T · T per sequence)
    double block = (6 * d + 3 * q + 4 * kv + 3 * ff + 7 * r + (s->dora ? outs : 0)) * T * F +
                   (double)c->n_heads * (double)s->max_seq_length * T * F;
    if (s->grad_checkpoint) o->activations = (double)layers * d * T * F + block;
    else o->activations = (double)layers * block;
    o->activations += block_scratch(c, T); // the frozen blocks' inference scratch
    o->logits = 2.0 * T * CE_CHUNK * F;   // one chunk of logits and its gradient
    o->total = o->weights + o->lora + o->activations + o->logits;
}
