// generate.c — model + tokenizer + template loading, stop tokens, prompts, and
// the generation loop.
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- stop tokens ----
static void add_stop(gen_model *g, int64_t id) {
    if (id < 0 || id >= g->m.cfg.vocab_size) return;
    for (int i = 0; i < g->n_stop; i++)
        if (g->stop_ids[i] == id) return;
    if (g->n_stop < GEN_MAX_STOP) g->stop_ids[g->n_stop++] = (int32_t)id;
}

int gen_is_stop(const gen_model *g, int32_t id) {
    for (int i = 0; i < g->n_stop; i++)
        if (g->stop_ids[i] == id) return 1;
    return 0;
}

int gen_add_stop_token(gen_model *g, const char *text) {
    int32_t id = tok_added_id(g->tok, text);
    if (id < 0) id = tok_token_to_id(g->tok, text);
    if (id < 0) {
        tok_ids ids;
        tok_ids_init(&ids);
        if (tok_encode(g->tok, text, strlen(text), 0, &ids) == 0 && ids.n == 1) id = ids.ids[0];
        tok_ids_release(&ids);
    }
    if (id < 0) return err_set("--extra-eos-token '%s' is not a single token of this tokenizer", text);
    add_stop(g, id);
    return 0;
}

// The template's end-of-turn token: render one assistant turn and take the first
// special token after its content (<|im_end|>, <|eot_id|>, ...).
static int32_t find_end_of_turn(gen_model *g) {
    const char *probe = "lorac-probe-answer";
    json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "user", "content", "hi", "role", "assistant", "content", probe);
    strbuf sb;
    sb_init(&sb);
    int32_t found = -1;
    if (chat_template_render(g->tpl.source, msgs, NULL, 0, g->tpl.special, NULL, &sb) == 0) {
        const char *at = strstr(sb.buf, probe);
        if (at) {
            at += strlen(probe);
            tok_ids ids;
            tok_ids_init(&ids);
            if (tok_encode(g->tok, at, strlen(at), 0, &ids) == 0)
                for (size_t i = 0; i < ids.n && found < 0; i++)
                    if (tok_is_special(g->tok, ids.ids[i])) found = ids.ids[i];
            tok_ids_release(&ids);
        }
    }
    err_clear();
    sb_release(&sb);
    json_decref(msgs);
    return found;
}

// ---- loading ----
int gen_model_load(gen_model *g, const char *spec) {
    memset(g, 0, sizeof *g);
    g->end_of_turn = -1;
    if (model_load(&g->m, spec)) return -1;
    int gguf = g->m.src.kind == MODEL_SRC_GGUF;
    g->tok = gguf ? tok_load_gguf_file(&g->m.gguf, g->m.src.path) : tok_load_dir(g->m.src.path);
    if (!g->tok) goto fail;
    if (tok_vocab_size(g->tok) > g->m.cfg.vocab_size) {
        err_set("%s: the tokenizer has %d tokens but the model's vocabulary is %lld", g->m.src.path,
                tok_vocab_size(g->tok), (long long)g->m.cfg.vocab_size);
        goto fail;
    }
    if (chat_template_load(g->m.src.path, gguf, NULL, 0, &g->tpl) == 0) g->has_template = g->tpl.source != NULL;
    err_clear();
    for (int i = 0; i < g->m.cfg.n_eos; i++) add_stop(g, g->m.cfg.eos_token_ids[i]);
    add_stop(g, tok_eos_id(g->tok));
    if (g->has_template) {
        g->end_of_turn = find_end_of_turn(g);
        add_stop(g, g->end_of_turn);
    }
    return 0;
fail:
    gen_model_release(g);
    return -1;
}

int gen_model_load_text(gen_model *g, const char *spec) {
    memset(g, 0, sizeof *g);
    g->end_of_turn = -1;
    char *jp = path_join(spec, "tokenizer.json");
    int tok_dir = dir_exists(spec) && file_exists(jp);
    free(jp);
    if (tok_dir) {
        g->m.src = (model_src){MODEL_SRC_HF_DIR, xstrdup(spec)};
    } else if (file_exists(spec) && !dir_exists(spec) && gguf_is_gguf(spec)) {
        g->m.src = (model_src){MODEL_SRC_GGUF, xstrdup(spec)};
    } else if (model_path_resolve(spec, &g->m.src)) {
        return -1;
    }
    int gguf = g->m.src.kind == MODEL_SRC_GGUF;
    g->tok = gguf ? tok_load_gguf(g->m.src.path) : tok_load_dir(g->m.src.path);
    if (!g->tok) {
        gen_model_release(g);
        return -1;
    }
    if (chat_template_load(g->m.src.path, gguf, NULL, 0, &g->tpl) == 0) g->has_template = g->tpl.source != NULL;
    err_clear();
    return 0;
}

// ---- adapters ----
int gen_model_load_adapter(gen_model *g, const char *dir, const char *file) {
    if (lora_load_dir(&g->lora, &g->m, dir, file)) return -1;
    g->has_lora = 1;
    return 0;
}

void gen_attach(gen_model *g, infer_state *st) { lora_attach(g->has_lora ? &g->lora : NULL, st); }

void gen_model_release(gen_model *g) {
    if (!g) return;
    if (g->has_lora) lora_release(&g->lora);
    tok_free(g->tok);
    if (g->has_template || g->tpl.source || g->tpl.special) chat_template_src_release(&g->tpl);
    model_release(&g->m);
    memset(g, 0, sizeof *g);
}

// ---- prompts ----
int gen_chat_prompt(gen_model *g, const json_t *messages, const json_t *tools, int add_generation_prompt,
                    const json_t *extra, tok_ids *out, strbuf *rendered) {
    if (!g->has_template) {
        err_set("%s: the model has no chat template", g->m.src.path);
        err_hint("pass --ignore-chat-template to use the prompt as raw text");
        return -1;
    }
    json_t *vars = json_deep_copy(g->tpl.special ? g->tpl.special : json_object());
    if (extra) json_object_update(vars, (json_t *)extra);
    strbuf sb;
    sb_init(&sb);
    int rc = chat_template_render(g->tpl.source, messages, tools, add_generation_prompt, vars, NULL, &sb);
    json_decref(vars);
    if (rc == 0) rc = tok_encode(g->tok, sb.buf, sb.len, 0, out);
    if (rc == 0 && rendered) sb_append(rendered, sb.buf, sb.len);
    sb_release(&sb);
    return rc;
}

int gen_raw_prompt(gen_model *g, const char *text, tok_ids *out) {
    return tok_encode(g->tok, text, strlen(text), 1, out);
}

// ---- the loop ----
static int argmax_ok(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] != x[i]) return 0;
    return 1;
}

int gen_run(gen_model *g, infer_state *st, sampler *sm, const int32_t *prompt, int64_t n_prompt,
            const int32_t *cached, int64_t n_cached, int64_t max_tokens, gen_emit_fn emit, void *ctx,
            tok_ids *out, gen_stats *stats) {
    memset(stats, 0, sizeof *stats);
    int64_t V = g->m.cfg.vocab_size;
    if (n_prompt <= 0) return err_set("the prompt is empty");
    if (n_prompt + (max_tokens > 0 ? 1 : 0) > st->n_ctx)
        return err_set("the prompt has %lld tokens; the context holds %lld", (long long)n_prompt, (long long)st->n_ctx);
    // reuse the cached prefix; at least one prompt token must run to get logits
    int64_t lcp = 0;
    if (cached && st->pos == n_cached)
        while (lcp < n_cached && lcp < n_prompt - 1 && cached[lcp] == prompt[lcp]) lcp++;
    infer_truncate(st, lcp);
    if (st->pos != lcp) infer_reset(st), lcp = 0;
    stats->reused_tokens = lcp;
    stats->prompt_tokens = n_prompt - lcp;
    float *logits = xmalloc((size_t)V * sizeof(float));
    double t0 = now_seconds();
    int rc = infer_forward(st, prompt + lcp, n_prompt - lcp, logits, 0);
    stats->prompt_seconds = now_seconds() - t0;
    sampler_reset(sm);
    for (int64_t i = 0; i < n_prompt; i++) sampler_accept(sm, prompt[i]);
    tok_decoder dec;
    tok_decoder_init(&dec, g->tok, TOK_SKIP_SPECIAL);
    strbuf piece;
    sb_init(&piece);
    t0 = now_seconds();
    for (int64_t step = 0; rc == 0 && step < max_tokens; step++) {
        if (!argmax_ok(logits, V)) {
            rc = err_set("the model produced NaN logits at generated token %lld", (long long)step);
            break;
        }
        int32_t next = sampler_sample(sm, logits);
        if (next < 0) {
            rc = -1;
            break;
        }
        if (!g->ignore_stop && gen_is_stop(g, next)) {
            stats->hit_stop = 1;
            break;
        }
        tok_ids_push(out, next);
        sampler_accept(sm, next);
        stats->gen_tokens++;
        piece.len = 0;
        piece.buf[0] = 0;
        if (tok_decoder_push(&dec, next, &piece)) {
            rc = -1;
            break;
        }
        if (piece.len && emit && emit(ctx, piece.buf, piece.len)) break;
        if (step + 1 < max_tokens) {
            if (st->pos + 1 > st->n_ctx) break; // context full: stop like max_tokens
            rc = infer_forward(st, &next, 1, logits, 0);
        }
    }
    stats->gen_seconds = now_seconds() - t0;
    piece.len = 0;
    piece.buf[0] = 0;
    tok_decoder_flush(&dec, &piece);
    if (rc == 0 && piece.len && emit) emit(ctx, piece.buf, piece.len);
    sb_release(&piece);
    free(logits);
    return rc;
}

// ---- teacher-forced scoring ----
// Negative log-likelihood of `target` under logits (V): logsumexp - logit[target].
static double token_nll(const float *logits, int64_t V, int32_t target) {
    float mx = logits[0];
    for (int64_t i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double s = 0;
    for (int64_t i = 0; i < V; i++) s += exp((double)(logits[i] - mx));
    return log(s) + mx - logits[target];
}

int gen_target_nll(gen_model *g, infer_state *st, const int32_t *ids, int64_t T, int64_t start, double *sum,
                   int64_t *n) {
    *sum = 0;
    *n = 0;
    if (start < 1) start = 1;
    if (T > st->n_ctx) return err_set("%lld tokens to score; the context holds %lld", (long long)T, (long long)st->n_ctx);
    int64_t V = g->m.cfg.vocab_size, chunk = st->max_batch < T - 1 ? st->max_batch : T - 1;
    if (chunk < 1) return 0;
    float *logits = xmalloc((size_t)(chunk * V) * sizeof(float));
    infer_reset(st);
    int rc = 0;
    // logits at position i predict token i+1
    for (int64_t off = 0; rc == 0 && off < T - 1; off += chunk) {
        int64_t m = T - 1 - off < chunk ? T - 1 - off : chunk;
        rc = infer_forward(st, ids + off, m, logits, 1);
        for (int64_t i = 0; rc == 0 && i < m; i++) {
            int64_t tgt = off + i + 1;
            if (tgt < start) continue;
            *sum += token_nll(logits + i * V, V, ids[tgt]);
            (*n)++;
        }
    }
    free(logits);
    return rc;
}
