// block.h — the training forward and backward pass of the whole model over a
// packed batch of sequences, with LoRA/DoRA on the last blocks.
//
// Sequences are packed back to back (no padding): every op but attention works
// per token, and attention runs per sequence. Blocks before the first adapted
// one run in inference mode and keep nothing; adapted blocks keep their
// activations (or only their input, with gradient checkpointing, recomputing
// the rest one block at a time in backward). Cross-entropy runs over vocabulary
// chunks. Gradients of the LoRA parameters accumulate into the lora_set's slab.
//
// Ownership: a train_ctx owns its activation and scratch buffers (sized once for
// max_tokens); it borrows the model and the lora_set.
#ifndef LORAC_BLOCK_H
#define LORAC_BLOCK_H

#include "../kernels/backward.h"
#include "lora.h"

typedef struct {
    int64_t n_seq;
    int64_t T;            // total tokens
    const int64_t *start; // (n_seq + 1) offsets of each sequence in tokens
    const int32_t *tokens; // (T)
    const int32_t *targets; // (T): the token position t must predict, or -1 (prompt, or the last token)
} train_batch;

// Saved activations of one adapted block (NULL fields when not kept).
typedef struct {
    float *x_in;               // (T, d) block input — always kept
    float *xn1;                // (T, d) attention norm output
    float *q_pre, *k_pre;      // (T, qd), (T, kvd) before q/k norm (qwen3)
    float *q, *k, *v;          // (T, qd), (T, kvd), (T, kvd) as attention sees them (after norm, RoPE)
    float *att;                // (T, qd) attention output (o_proj input)
    float *h;                  // (T, d) residual after attention
    float *xn2;                // (T, d) MLP norm output
    float *gate, *up;          // (T, ff) projections
    float *act;                // (T, ff) silu(gate)·up (down_proj input)
    float *xa[PROJ_COUNT];     // (T, r) dropout(x)·A per adapted projection
    float *ypre[PROJ_COUNT];   // (T, out) DoRA: output before the m/n scale (without bias)
} block_acts;

typedef struct {
    const model *m;
    lora_set *lora;
    rope_table rope;
    int64_t max_tokens;
    int grad_checkpoint;
    uint64_t dropout_seed;   // changes every micro-batch (set by the trainer)
    int training;            // 1: dropout on; 0: evaluation
    float **norm_w;          // per layer: [0] attn norm (d), [1] mlp norm (d), [2] q_norm (hd), [3] k_norm (hd) fp32
    float **bias;            // per layer × PROJ_COUNT: fp32 bias or NULL
    float *final_norm;       // (d)
    block_acts *acts;        // (n_layers - first_layer)
    block_acts recompute;    // one block's full activations for checkpointed backward
    // scratch (max_tokens rows)
    float *x, *xf, *dx, *dxf;  // (T, d)
    float *s_d, *s_d2;         // (T, d)
    float *s_q, *s_q2;         // (T, qd)
    float *s_kv, *s_kv2, *s_kv3; // (T, kvd)
    float *s_ff, *s_ff2, *s_ff3; // (T, ff)
    float *s_in;               // (T, max(d, ff, qd)) dropout input / LoRA dx
    float *s_r, *s_r2;         // (T, r)
    float *s_out;              // (T, max out) DoRA scaled dy
    int64_t *pos;              // (T)
} train_ctx;

int train_ctx_init(train_ctx *c, const model *m, lora_set *lora, int64_t max_tokens, int grad_checkpoint);
void train_ctx_release(train_ctx *c);

// Forward, loss and (when backward) gradients for one batch. The loss of each
// target token is multiplied by grad_scale before its gradient flows (so a group
// of micro-batches can share one mean); LoRA gradients ADD into lora->grads.
// Returns the summed (unscaled) loss over the batch's target tokens in *loss_sum
// and their count in *n_targets.
int train_step(train_ctx *c, const train_batch *b, int backward, float grad_scale, double *loss_sum,
               int64_t *n_targets);

#endif
