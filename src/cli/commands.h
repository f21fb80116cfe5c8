// commands.h — every subcommand's entry point and its table entry for main.c.
// Each cmd_<name>.c defines `int cmd_<name>(int argc, char **argv)` and the
// option table `<name>_opts`; the CMD_<NAME> macro builds its commands[] entry.
#ifndef LORAC_COMMANDS_H
#define LORAC_COMMANDS_H

#include "cli.h"

int cmd_help(int argc, char **argv);
extern const cli_opt help_opts[];
#define CMD_HELP                                                                           \
    {"help", cmd_help, "show commands, or one command's options and defaults",           \
     "lorac help [COMMAND]", NULL, help_opts, 0, 1}

int cmd_inspect(int argc, char **argv);
extern const cli_opt inspect_opts[];
#define CMD_INSPECT                                                                        \
    {"inspect", cmd_inspect,                                                               \
     "describe a model: architecture, shapes, dtypes, tokenizer, memory estimates",        \
     "lorac inspect MODEL [options]",                                                      \
     "MODEL is an HF model directory, a repo id in the local HF cache (ORG/NAME),\n"      \
     "or a GGUF file. Memory estimates: inference = weights + KV cache at\n"              \
     "--max-seq-length; LoRA training = weights + LoRA parameters, gradients and\n"       \
     "AdamW moments + activations of the last --num-layers blocks.",                      \
     inspect_opts, 1, 1}

int cmd_init_model(int argc, char **argv);
extern const cli_opt init_model_opts[];
#define CMD_INIT_MODEL                                                                     \
    {"init-model", cmd_init_model,                                                         \
     "write a random-weight HF model directory with a real model's shapes",              \
     "lorac init-model --preset NAME --out DIR [options]",                                 \
     "Presets: tiny (a few layers, small dims, for tests), smollm2-135m, smollm3-3b,\n"   \
     "qwen3-4b. --arch defaults to the preset's architecture; with another --arch the\n"  \
     "preset's shapes are kept and that architecture's features are used (qwen2 q/k/v\n" \
     "bias, qwen3 q/k norm, smollm3 NoPE on every 4th layer). Weights ~ N(0, 0.02),\n"     \
     "norm weights ~ 1 + N(0, 0.1) so parity tests see them.",                            \
     init_model_opts, 0, 0}

#endif
