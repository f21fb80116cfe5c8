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

#endif
