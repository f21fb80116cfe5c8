// estimate.h — memory estimates for inference and LoRA training, from a config
// and the weights' stored size. Documented formulas, not measurements; the
// trainer and generator report measured peak RSS next to them.
#ifndef LORAC_ESTIMATE_H
#define LORAC_ESTIMATE_H

#include "config.h"

typedef struct {
    int64_t max_seq_length; // tokens per sequence
    int64_t batch_size;
    int64_t num_layers;     // trained blocks (the last N); -1 = all
    int64_t lora_rank;
    int grad_checkpoint;
    int dora;               // DoRA: magnitudes, and each projection's output kept for backward
    int full;               // full fine-tuning of the last num_layers blocks (no LoRA)
} train_shape;

typedef struct {
    double weights;       // bytes of weights as stored (mmap'd, shared)
    double kv_cache;      // fp32 K and V for every layer at max_seq_length
    double activations;   // scratch of one forward (inference) or saved for backward (training)
    double logits;        // fp32 logits (last token for inference; vocabulary chunks for training)
    double lora;          // LoRA parameters + gradients + AdamW moments (fp32)
    double total;
    int64_t lora_params;  // trainable parameter count
} mem_estimate;

void estimate_inference(const model_config *c, double weight_bytes, int64_t seq, mem_estimate *out);
void estimate_lora_training(const model_config *c, double weight_bytes, const train_shape *s, mem_estimate *out);

#endif
