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

int cmd_tokenize(int argc, char **argv);
extern const cli_opt tokenize_opts[];
#define CMD_TOKENIZE                                                                       \
    {"tokenize", cmd_tokenize, "encode text to token ids, or decode ids to text",          \
     "lorac tokenize --model M (--text T | --file F) [options]",                           \
     "Encodes exactly like Hugging Face tokenizers (add_special_tokens=True unless\n"      \
     "--no-special) and prints the ids on one line. --decode reads ids (space/comma\n"     \
     "separated or a JSON array) and prints the text as is, without a newline added.\n"    \
     "M is an HF model directory, a directory with just tokenizer.json, a GGUF file\n"     \
     "(tokenizer.ggml.*), or ORG/NAME in the local HF cache.",                             \
     tokenize_opts, 0, 0}

int cmd_template(int argc, char **argv);
extern const cli_opt template_opts[];
#define CMD_TEMPLATE                                                                       \
    {"template", cmd_template, "render a chat template exactly as HF apply_chat_template", \
     "lorac template (--model M | --template FILE.jinja) --messages FILE.json [options]",  \
     "Prints the prompt exactly as transformers' apply_chat_template renders it (jinja2\n" \
     "sandbox, trim_blocks, lstrip_blocks, loop controls), with no newline added.\n"       \
     "Variables: messages, tools, add_generation_prompt, the model's bos_token and\n"      \
     "eos_token (tokenizer_config.json, or the GGUF token list), then each --var\n"        \
     "(enable_thinking=false, bos_token='\"<s>\"'). The template is the model's\n"         \
     "chat_template.jinja or tokenizer_config.json chat_template (GGUF:\n"                 \
     "tokenizer.chat_template), or --template FILE.",                                      \
     template_opts, 0, 0}

int cmd_generate(int argc, char **argv);
extern const cli_opt generate_opts[];
#define CMD_GENERATE                                                                       \
    {"generate", cmd_generate, "generate a reply to one prompt, streamed to stdout",       \
     "lorac generate --model MODEL --prompt TEXT [options]",                               \
     "The prompt goes through the model's chat template (add_generation_prompt) unless\n" \
     "--ignore-chat-template. Generation stops at --max-tokens or on a stop token: the\n"  \
     "EOS ids of config.json / generation_config.json / the tokenizer, the template's\n"  \
     "end-of-turn token, and every --extra-eos-token.\n"                                   \
     "Sampling order (as mlx-lm): repetition, presence and frequency penalties on the\n"  \
     "raw logits over the last --repetition-context-size tokens (prompt included); then\n"\
     "greedy when --temp 0, else top-p, min-p and top-k on the log-probabilities and a\n"  \
     "draw from the survivors at temperature --temp.",                                     \
     generate_opts, 0, 0}

int cmd_chat(int argc, char **argv);
extern const cli_opt chat_opts[];
#define CMD_CHAT                                                                           \
    {"chat", cmd_chat, "talk to a model; the KV cache is kept across turns",               \
     "lorac chat --model MODEL [options]",                                                 \
     "Each line on stdin is a user turn; the reply streams to stdout. /reset starts a\n"  \
     "new conversation, /quit or end of input ends. Works with piped input. Sampling\n"  \
     "flags and order are generate's.",                                                    \
     chat_opts, 0, 0}

int cmd_perplexity(int argc, char **argv);
extern const cli_opt perplexity_opts[];
#define CMD_PERPLEXITY                                                                     \
    {"perplexity", cmd_perplexity, "mean loss and perplexity on a dataset's target tokens", \
     "lorac perplexity --model MODEL --data FILE.jsonl [options]",                         \
     "Targets are the tokens the trainer learns with mask_prompt: the last assistant\n"   \
     "turn (chat), the completion, or every token after the first (text). Loss is the\n"  \
     "mean negative log-likelihood over all target tokens; perplexity = exp(loss).",     \
     perplexity_opts, 0, 0}

int cmd_lora(int argc, char **argv);
extern cli_opt lora_opts[];
#define CMD_LORA                                                                           \
    {"lora", cmd_lora, "train LoRA/DoRA adapters from an mlx-lm lora YAML",                \
     "lorac lora --config run.yaml [flags]",                                               \
     "Accepts every key of mlx-lm's lora YAML with mlx-lm's defaults, plus the flat keys\n"\
     "lora_rank, lora_alpha, lora_dropout, use_dora, epochs (mapped and reported). An\n"  \
     "unknown key is an error naming its line and the nearest known key. Flags beat the\n"\
     "YAML. Writes adapters.safetensors, adapter_config.json, numbered checkpoints,\n"    \
     "best_adapters.safetensors, training_state.safetensors and metrics.jsonl into\n"    \
     "adapter_path. Ctrl-C saves a resumable checkpoint (exit 130).",                     \
     lora_opts, 0, 0}

int cmd_fuse(int argc, char **argv);
extern const cli_opt fuse_cli_opts[];
#define CMD_FUSE                                                                           \
    {"fuse", cmd_fuse, "merge adapters into the base model: an HF directory (and a GGUF)",  \
     "lorac fuse --model MODEL [--adapter-path DIR] [--save-path OUT] [options]",           \
     "W' = W + scale*(A*B)^T in fp32 for every adapted projection (DoRA rows then\n"       \
     "rescaled by m / ||W'||), stored in the base's dtype (bf16 for quantized GGUF\n"      \
     "bases). Adapters in mlx-lm or PEFT layout. OUT gets config.json,\n"                 \
     "model.safetensors (or <= 5 GB shards + index), generation_config.json and the\n"   \
     "tokenizer files with the chat template; --export-gguf also writes a GGUF. The\n"   \
     "report says how much of the adapter's change each output keeps; a quantized\n"     \
     "GGUF keeping less than --min-kept is refused. Outputs are written under a\n"      \
     "temporary name and renamed into place.",                                             \
     fuse_cli_opts, 0, 0}

int cmd_convert(int argc, char **argv);
extern const cli_opt convert_cli_opts[];
#define CMD_CONVERT                                                                        \
    {"convert", cmd_convert, "convert a model between an HF directory and a GGUF file",    \
     "lorac convert --model IN --out OUT [--dtype f32|f16|bf16|q8_0]",                      \
     "OUT ending in .gguf writes a GGUF for llama.cpp (its metadata, tensor names, q/k\n" \
     "order and tokenizer); anything else writes an HF directory that transformers and\n"\
     "mlx-lm load (tokenizer.json rebuilt from GGUF metadata).",                         \
     convert_cli_opts, 0, 0}

int cmd_adapters(int argc, char **argv);
extern const cli_opt adapters_cli_opts[];
#define CMD_ADAPTERS                                                                       \
    {"adapters", cmd_adapters, "convert adapters between mlx-lm and PEFT layouts; describe one", \
     "lorac adapters convert --to peft|mlx IN OUT [--model M]\n"                          \
     "       lorac adapters info DIR [--json]",                                              \
     "mlx-lm: adapters.safetensors (lora_a (in, r), lora_b (r, out), DoRA m) +\n"         \
     "adapter_config.json (num_layers, lora_parameters). PEFT: adapter_model.safetensors\n"\
     "(lora_A.weight (r, in), lora_B.weight (out, r), lora_magnitude_vector) +\n"        \
     "adapter_config.json (r, lora_alpha, target_modules, use_dora, use_rslora,\n"       \
     "layers_to_transform). --model checks the adapter against the base and gives\n"     \
     "mlx-lm's num_layers when a PEFT adapter lists layers_to_transform.",                \
     adapters_cli_opts, 2, 3}
int cmd_audit(int argc, char **argv);
extern const cli_opt audit_opts[];
#define CMD_AUDIT                                                                          \
    {"audit", cmd_audit, "assign each example to a category by rules; counts, value tiers, evidence", \
     "lorac audit --data FILE.jsonl [--rules RULES.yaml] [--output audit.json] [options]",  \
     "Each category of the rules file has PCRE2 patterns (case-insensitive, whole words\n" \
     "unless whole_word: false). Its score for an example is question_weight x matches\n" \
     "in the user turns + answer_weight x matches in the assistant turns; the highest\n"   \
     "score among categories with min_hits matches wins (ties: the category listed\n"     \
     "first), else the example is uncategorized. Prints categories with value tier,\n"    \
     "keep advice, count and share; high/medium/low totals; the on-topic share;\n"        \
     "replacement candidates with line numbers; and examples with the terms that\n"       \
     "decided them. Built-in rules: insulin (examples/audit-rules/insulin.yaml).",          \
     audit_opts, 0, 0}

int cmd_data(int argc, char **argv);
extern const cli_opt data_opts[];
#define CMD_DATA                                                                           \
    {"data", cmd_data, "check training data (errors, duplicates, leaks, token lengths), split it", \
     "lorac data check|split [options]",                                                   \
     "lorac data check --data DIR|FILE [--model M] [--max-seq-length N] [--mask-prompt]\n" \
     "    every line of train/valid/test validated (file:line errors), exact and near-\n" \
     "    duplicate questions and answers, leaks across files, token lengths after the\n" \
     "    chat template. Exit 1 on errors.\n"                                              \
     "lorac data split --input FILE.jsonl --out DIR --valid 0.1 [--test 0.05] --seed 42\n" \
     "    a deterministic split that keeps duplicates on one side.\n"                     \
     "'lorac data check --help' and 'lorac data split --help' list their options.",        \
     data_opts, 0, -1}
int cmd_eval(int argc, char **argv);
extern const cli_opt eval_cli_opts[];
#define CMD_EVAL                                                                           \
    {"eval", cmd_eval, "generate answers and score them: loops, stance, format, length, truncation", \
     "lorac eval --model MODEL (--data FILE.jsonl | --prompts SUITE) [options]\n"         \
     "       lorac eval --responses FILE.jsonl [--model MODEL] [options]",                \
     "Answers every example's user turn with the chat template and the sampling flags\n" \
     "(example i is sampled with --seed + i), then scores each answer: loops (a sentence\n"\
     "or line repeated, a span repeated back to back; distinct-1/2/3), stance (weighted,\n"\
     "negation-aware patterns from --rules), formatting (bold, lists, paragraphs,\n"     \
     "headings), length (characters, words, tokens; inside the band), truncation, and\n"\
     "with a reference answer ROUGE-L, length ratio and the teacher-forced loss on it.\n"\
     "Statistics and pass/fail against the rules' thresholds; JSON to stdout or\n"      \
     "--output, the summary on stderr. Exit 3 with --check when a threshold fails.",     \
     eval_cli_opts, 0, 0}

int cmd_compare(int argc, char **argv);
extern const cli_opt compare_opts[];
#define CMD_COMPARE                                                                        \
    {"compare", cmd_compare, "compare runs: config differences, losses, eval results; Markdown and HTML", \
     "lorac compare RUN_DIR|results.json ... [--html report.html]",                        \
     "A run is a lorac lora adapter_path (adapter_config.json + metrics.jsonl), a lorac\n" \
     "run directory (those in adapters/, eval results in eval.json), or an eval results\n"\
     "JSON. Prints a Markdown table: the configuration keys that differ (and the main\n" \
     "ones), final and best train/validation loss with their steps, whether validation\n"\
     "loss rose past max_val_loss_rise over its best, the eval statistics with their\n"   \
     "checks, and an overall PASS/FAIL. --html adds SVG charts (all loss curves on one\n"\
     "chart, eval metrics as bars) in one self-contained page.",                          \
     compare_opts, 1, -1}
int cmd_run(int argc, char **argv);
extern cli_opt run_opts_table[];
#define CMD_RUN                                                                            \
    {"run", cmd_run, "the whole loop: preflight, audit, train, fuse, test, eval, report",    \
     "lorac run CONFIG.yaml [flags]",                                                      \
     "CONFIG is a lorac lora YAML plus the sections fuse:, generation:, test_prompts:,\n"  \
     "evaluation: and audit:. Every stage writes into the run directory (--run-dir,\n"   \
     "default runs/<config name>): preflight.json, audit.json, adapters/, fused/,\n"      \
     "test.json/.md, eval.json, report.md/.html and run-next.yaml (the config with the\n" \
     "recommended changes). Running the same command again skips the stages whose\n"     \
     "inputs did not change and resumes a stopped training run from its checkpoint.\n"   \
     "Training keys are also flags, as for lorac lora.",                                  \
     run_opts_table, 1, 1}

#endif
