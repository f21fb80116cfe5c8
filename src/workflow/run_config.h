// run_config.h — `lorac run`'s configuration: the training YAML of `lorac lora`
// (train/config.h) plus the workflow sections, validated here key by key.
//
//   fuse:          save_path, adapter_file, dtype, dequantize, export_gguf, gguf_path, gguf_type
//   generation:    temp, top_p, top_k, min_p, repetition_penalty, repetition_context_size,
//                  presence_penalty, frequency_penalty, max_tokens, seed, system_prompt,
//                  chat_template_args
//   test_prompts:  a list of prompts, or the path of a prompt-suite YAML
//   evaluation:    data, max_examples, rules, thresholds
//   audit:         data, rules
//
// An unknown key is an error naming the file, its line and the nearest known key,
// as for the training keys; a value of the wrong type names what was expected.
//
// Ownership: values returned by the getters are borrowed from the train_config.
#ifndef LORAC_RUN_CONFIG_H
#define LORAC_RUN_CONFIG_H

#include "../train/config.h"

// Validate every workflow section of cfg (absent sections are fine). 0 or -1.
int run_config_check(const train_config *cfg);

// "file:line" of a section key ("generation.temp"), or of the section, or the file.
// Returns a new string.
char *run_config_where(const train_config *cfg, const char *dotted);

// The line of a workflow key ("generation.temp", "fuse") in the config file: 0 when
// the file does not set it; -1 when the key is not a workflow section's.
int run_config_line(const train_config *cfg, const char *dotted);

// The lines of evaluation.* keys renamed as an eval rules file's (".thresholds.<key>"),
// for eval_rules_set_thresholds' messages. New reference.
json_t *run_config_threshold_lines(const train_config *cfg);

// Typed values of section keys ("generation.temp"); def when absent or null.
double run_config_num(const train_config *cfg, const char *dotted, double def);
int run_config_bool(const train_config *cfg, const char *dotted, int def);
const char *run_config_str(const train_config *cfg, const char *dotted, const char *def);
const json_t *run_config_json(const train_config *cfg, const char *dotted); // NULL when absent

#endif
