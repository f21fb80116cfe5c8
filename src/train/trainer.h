// trainer.h — `lorac lora`'s training loop: data, batching, LoRA/DoRA steps with
// gradient accumulation, validation, checkpoints, resume, reports and metrics.
//
// Files in adapter_path: adapters.safetensors (latest), {iter:07d}_adapters.safetensors
// every save_every, best_adapters.safetensors at the best validation loss,
// adapter_config.json (the resolved configuration), training_state.safetensors
// (optimizer moments and counters, for a bitwise-identical resume; also written
// as {iter:07d}_state.safetensors next to each numbered checkpoint), metrics.jsonl.
#ifndef LORAC_TRAINER_H
#define LORAC_TRAINER_H

#include "config.h"

// Run training (and the test evaluation when cfg->test). 0 on success, -1 on
// error (message set), 130 when interrupted (a resumable checkpoint was saved).
int train_run(train_config *cfg);

// A short timing probe before a run: loads the model and the training data as
// train_run would, runs `steps` forward+backward passes on batches spread over the
// length distribution (one: the median batch), and extrapolates. Nothing is written.
typedef struct {
    int64_t iters;           // batches the run will train
    int64_t n_train, n_valid; // usable examples
    double tokens_per_iter;  // mean packed tokens per batch
    double tokens_per_sec;   // measured forward+backward throughput
    double step_seconds;     // tokens_per_iter / tokens_per_sec
    double est_train_seconds, est_eval_seconds;
    int64_t lora_params;     // trainable parameters
    double peak_rss;         // bytes, after the probe
    int matmul_precision;    // the kernel_precision the run computes in (auto resolved)
} train_probe_result;
int train_probe(train_config *cfg, int steps, train_probe_result *out);

// The checkpoint to resume an interrupted run in adapter_path from: the newest
// of adapters.safetensors + training_state.safetensors (Ctrl-C, save_every) and
// the numbered {iter}_adapters/_state pairs, by the iteration stored in the state.
// Returns a new path, or NULL when there is none (no error set).
char *train_find_checkpoint(const char *adapter_path, int64_t *iter);

#endif
