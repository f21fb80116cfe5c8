// init.h — model presets with real models' shapes, and random-weight HF directories
// written from them (for tests, parity checks and benchmarks at real scale).
#ifndef LORAC_INIT_H
#define LORAC_INIT_H

#include "config.h"

extern const char *const preset_names[]; // NULL-terminated
// Fill c with preset `name`'s shapes and token ids; arch < 0 keeps the preset's
// architecture, otherwise that architecture's features are switched on.
int preset_config(const char *name, int arch, model_config *c);
// Write random weights for c into dir as safetensors (sharded above 5 GB).
// Values: N(0, std) (an Irwin-Hall approximation; std 0.02 is HF's
// initializer_range), norms 1 + N(0, 0.1); deterministic for a seed whatever
// the thread count.
int model_write_random(const model_config *c, const char *dir, dtype t, uint64_t seed, float std);

#endif
