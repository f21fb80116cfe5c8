// generate.h — what generate, chat and eval share: a model with its tokenizer,
// chat template and stop tokens; prompt building; the token-by-token loop that
// streams UTF-8-safe text.
//
// Ownership: a gen_model owns the model, tokenizer and template source it loads.
// gen_run borrows an infer_state and a sampler from the caller and appends the
// generated ids to a caller-owned tok_ids.
#ifndef LORAC_GENERATE_H
#define LORAC_GENERATE_H

#include "../model/forward.h"
#include "../model/model.h"
#include "../template/template.h"
#include "../tokenizer/tokenizer.h"
#include "../train/lora.h"
#include "sampler.h"

#define GEN_MAX_STOP 32

typedef struct {
    model m;
    tokenizer *tok;
    chat_template_src tpl;
    int has_template;
    int32_t stop_ids[GEN_MAX_STOP]; // EOS ids (config, generation_config, tokenizer) + end of turn
    int n_stop;
    int32_t end_of_turn;           // the template's end-of-turn token, -1 if none found
    int ignore_stop;               // generate exactly max_tokens (benchmarks: --ignore-eos)
    lora_set lora;                 // unfused adapters (--adapter-path)
    int has_lora;
} gen_model;

// Load model, tokenizer and chat template from what --model names.
int gen_model_load(gen_model *g, const char *spec);
void gen_model_release(gen_model *g);
// Only the tokenizer and chat template, no weights: for tools that count tokens
// (lorac data check). spec is anything gen_model_load takes, or a directory with
// just tokenizer.json (+ tokenizer_config.json). g->m holds only src; stop
// tokens are not set. Release with gen_model_release.
int gen_model_load_text(gen_model *g, const char *spec);
// Load unfused adapters (mlx-lm layout: adapter_config.json + adapters.safetensors,
// or `file` in dir) to apply on top of the base weights.
int gen_model_load_adapter(gen_model *g, const char *dir, const char *file);
// Set up st (after infer_init) to apply g's adapters, if any.
void gen_attach(gen_model *g, infer_state *st);
// Add a stop token by its text (--extra-eos-token); -1 when it is not one token.
int gen_add_stop_token(gen_model *g, const char *text);
int gen_is_stop(const gen_model *g, int32_t id);

// Render messages (JSON array) with the chat template and encode without adding
// specials (the template writes them). extra: template variables (JSON object,
// may be NULL; bos_token/eos_token default to the model's). rendered: optional.
int gen_chat_prompt(gen_model *g, const json_t *messages, const json_t *tools, int add_generation_prompt,
                    const json_t *extra, tok_ids *out, strbuf *rendered);
// Encode raw text as the tokenizer does by default (BOS when it adds one).
int gen_raw_prompt(gen_model *g, const char *text, tok_ids *out);

typedef struct {
    int64_t prompt_tokens;  // tokens run through the model for this call (cache reuse excluded)
    int64_t reused_tokens;  // prompt tokens already in the KV cache
    int64_t gen_tokens;
    double prompt_seconds, gen_seconds;
    int hit_stop;           // ended on a stop token (else max_tokens)
} gen_stats;

// Receives each piece of complete UTF-8 text as it is produced; non-zero stops.
typedef int (*gen_emit_fn)(void *ctx, const char *text, size_t n);

// Generate after `prompt`. The KV cache may already hold a previous sequence
// (`cached`, n_cached ids, e.g. the last chat turn): the longest common prefix is
// reused and only the rest is run. The sampler's penalty window is reset and
// refilled with the prompt. Generated ids (the stop token excluded) are appended
// to `out`; text goes to emit.
int gen_run(gen_model *g, infer_state *st, sampler *sm, const int32_t *prompt, int64_t n_prompt,
            const int32_t *cached, int64_t n_cached, int64_t max_tokens, gen_emit_fn emit, void *ctx,
            tok_ids *out, gen_stats *stats);

// Teacher-forced negative log-likelihood of the targets ids[start..T) (start >= 1),
// each predicted from every token before it: empties st's cache, runs ids[0..T-1)
// in chunks of st->max_batch, and returns the summed NLL in nats in *sum and the
// number of targets in *n. T must fit in st->n_ctx. (perplexity, eval, lorac run)
int gen_target_nll(gen_model *g, infer_state *st, const int32_t *ids, int64_t T, int64_t start, double *sum,
                   int64_t *n);

#endif
