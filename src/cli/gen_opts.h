// gen_opts.h — the sampling and model flags generate, chat and eval share, and
// their translation into sampler_params (one definition, so defaults agree).
#ifndef LORAC_GEN_OPTS_H
#define LORAC_GEN_OPTS_H

#include "../generate/generate.h"
#include "cli.h"

// Spliced into each command's cli_opt table. GEN_SAMPLING_OPTS_BUT_MAX lets a
// command (eval) give --max-tokens its own default.
#define GEN_SAMPLING_OPTS                                                                                     \
    {"--max-tokens|-m", "N", "256", "most tokens to generate", 0},                                           \
    GEN_SAMPLING_OPTS_BUT_MAX
#define GEN_SAMPLING_OPTS_BUT_MAX                                                                             \
    {"--temp", "T", "0", "sampling temperature; 0 = greedy", 0},                                             \
    {"--top-p", "P", "1", "nucleus filter in (0, 1]; 1 = off", 0},                                           \
    {"--top-k", "K", "0", "keep the K most likely tokens; 0 = off", 0},                                      \
    {"--min-p", "P", "0", "drop tokens below P x the top probability; 0 = off", 0},                          \
    {"--repetition-penalty", "R", "1", "CTRL repetition penalty over the context window; 1 = off", 0},       \
    {"--repetition-context-size", "N", "20", "tokens (prompt included) the penalties look back over", 0},    \
    {"--presence-penalty", "X", "0", "subtract X once from each token in the window", 0},                    \
    {"--frequency-penalty", "X", "0", "subtract X per occurrence in the window", 0},                         \
    {"--seed", "N", NULL, "random seed: same seed, same text (default: from the clock, printed with --verbose)", 0}, \
    {"--extra-eos-token", "TOKEN", NULL, "also stop on this token [repeatable]", 1},                          \
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0}

// The adapter flags of every command that runs a model (both adapter layouts).
#define GEN_ADAPTER_OPTS                                                                                      \
    {"--adapter-path", "DIR", NULL, "apply unfused adapters from DIR: mlx-lm (adapters.safetensors) or PEFT "  \
                                    "(adapter_model.safetensors) layout, with adapter_config.json", 0},     \
    {"--adapter-file", "NAME", NULL,                                                                          \
     "adapter weights file inside DIR (default: adapters.safetensors, or adapter_model.safetensors for PEFT)", 0}

// Parse the shared flags into p; prints a usage error and returns EXIT_USAGE on a bad value.
int gen_opts_sampler(const cli_args *a, sampler_params *p, int64_t *max_tokens);
// --chat-template-args JSON into *extra (NULL when absent); usage error -> EXIT_USAGE.
int gen_opts_template_args(const cli_args *a, json_t **extra);
// gen_emit_fn that writes to stdout and flushes (streaming output).
int gen_emit_stdout(void *ctx, const char *text, size_t n);
// Load --model and, when given, --adapter-path/--adapter-file into g; prints the
// error and returns 1 on failure (g is then released).
int gen_opts_load(const cli_args *a, gen_model *g);
// Apply --threads (0 when absent).
int gen_opts_threads(const cli_args *a);
// --extra-eos-token values into g's stop list; prints the error and returns 1.
int gen_opts_stops(const cli_args *a, gen_model *g);

#endif
