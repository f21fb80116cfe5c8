// stages.c — the stages of `lorac run` that drive other modules: audit (data),
// train (train), fuse (fuse), test and eval (eval). Each writes its outputs
// into the run directory; run.c decides whether it runs.
#include "run_internal.h"

#include "../core/core.h"
#include "../data/data.h"
#include "../eval/eval.h"
#include "../fuse/fuse.h"
#include "../train/trainer.h"

#include <stdlib.h>
#include <string.h>

// ---- audit ----
// The training data by category (audit.rules, else the built-in insulin rules).
int stage_audit(run_ctx *c) {
    char *data = run_data_file(c, "audit", "train.jsonl");
    audit_options o = {data, run_config_str(c->cfg, "audit.rules", NULL)};
    if (!o.rules) fprintf(stderr, "no audit.rules: the built-in insulin rules (examples/audit-rules/insulin.yaml)\n");
    json_t *rep = NULL;
    int rc = audit_run(&o, &rep);
    if (rc == 0) {
        audit_print(stderr, rep, 0);
        rc = run_write_json(c, "audit.json", rep);
    }
    json_decref(rep);
    free(data);
    return rc;
}

// ---- the data check of preflight ----
int preflight_data(run_ctx *c, json_t *pf, int *failed, json_t *checks) {
    const train_config *cfg = c->cfg;
    data_check_options o = {cfg->data, cfg->model, cfg->max_seq_length, cfg->mask_prompt, 0, NULL, NULL};
    json_t *rep = NULL;
    if (data_check_run(&o, &rep)) return -1;
    int rc = run_write_json(c, "data-check.json", rep);
    const json_t *sum = json_object_get(rep, "summary");
    json_int_t errors = json_integer_value(json_object_get(sum, "errors"));
    json_t *d = json_pack("{s:O}", "summary", sum);
    const json_t *tok = json_object_get(rep, "tokens");
    if (tok) {
        json_object_set(d, "all_tokens", json_object_get(tok, "all"));
        json_object_set(d, "train_tokens", json_object_get(json_object_get(tok, "files"), "train"));
    }
    json_object_set_new(pf, "data", d);
    strbuf sb;
    sb_init(&sb);
    if (errors) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(rep, "errors"), i, e) if (i < 3) sb_printf(&sb, "%s%s", i ? "; " : "", json_string_value(json_object_get(e, "message")));
        if (errors > 3) sb_printf(&sb, "; ... (%lld errors, all in data-check.json)", (long long)errors);
        preflight_check(checks, failed, "data", 0, "%s", sb.buf);
    } else {
        sb_printf(&sb, "%lld examples, %lld warnings", (long long)json_integer_value(json_object_get(sum, "examples")),
                  (long long)json_integer_value(json_object_get(sum, "warnings")));
        static const char *const keys[] = {"exact_duplicates", "near_duplicates", "same_questions", "leaks", "over_max_seq_length"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            json_int_t v = json_integer_value(json_object_get(sum, keys[i]));
            if (v) sb_printf(&sb, ", %s %lld", keys[i], (long long)v);
        }
        const json_t *tr = json_object_get(d, "train_tokens");
        if (tr) sb_printf(&sb, "; train tokens min/median/p95/max %lld/%lld/%lld/%lld", (long long)json_integer_value(json_object_get(tr, "min")),
                          (long long)json_number_value(json_object_get(tr, "median")), (long long)json_number_value(json_object_get(tr, "p95")),
                          (long long)json_integer_value(json_object_get(tr, "max")));
        preflight_check(checks, failed, "data", 1, "%s", sb.buf);
    }
    sb_release(&sb);
    json_decref(rep);
    return rc;
}

// ---- fuse ----
// Runs when the config has a fuse: section; test and eval then load the fused
// directory. Without one they load the base with the unfused adapters.
int stage_fuse(run_ctx *c) {
    const train_config *cfg = c->cfg;
    if (!run_config_json(cfg, "fuse")) {
        fprintf(stderr, "no fuse: section: test and eval apply the adapters unfused\n");
        json_object_set_new(c->extra, "fused", json_false());
        return 0;
    }
    // replace only what an earlier fuse of this run wrote
    const json_t *prev = json_object_get(json_object_get(c->state, "stages"), "fuse");
    int ours = prev && json_is_true(json_object_get(prev, "fused"));
    if (dir_exists(c->fused) && !ours) {
        char *w = run_config_where(cfg, "fuse.save_path");
        err_set("%s: %s exists and was not written by this run", w, c->fused);
        err_hint("remove it, or set fuse.save_path to a new directory");
        free(w);
        return -1;
    }
    fuse_opts o;
    fuse_opts_init(&o);
    o.model = cfg->model;
    o.adapter_path = c->adapters;
    o.adapter_file = c->adapter_file;
    o.save_path = c->fused;
    const char *dt = run_config_str(cfg, "fuse.dtype", NULL);
    if (dt) o.dtype = fuse_dtype_from_name(dt);
    o.dequantize = run_config_bool(cfg, "fuse.dequantize", 1);
    o.export_gguf = run_config_bool(cfg, "fuse.export_gguf", 0);
    o.gguf_path = run_config_str(cfg, "fuse.gguf_path", NULL);
    const char *gt = run_config_str(cfg, "fuse.gguf_type", NULL);
    if (gt) o.gguf_type = fuse_dtype_from_name(gt);
    o.force = 1;
    o.log = stderr;
    fuse_report r;
    if (fuse_model(&o, &r)) return -1;
    json_object_set_new(c->extra, "fused", json_true());
    json_object_set_new(c->extra, "save_path", json_string(c->fused));
    json_object_set_new(c->extra, "kept", json_real(r.hf_kept));
    if (r.have_gguf) {
        json_object_set_new(c->extra, "gguf_path", json_string(r.gguf_path));
        json_object_set_new(c->extra, "gguf_kept", json_real(r.gguf_kept));
    }
    fuse_report_release(&r);
    return 0;
}

// ---- test and eval: generation with the generation: section ----
static const struct {
    const char *key;
    unsigned bit;
} GEN_KEYS[] = {
    {"temp", EVAL_SET_TEMP},
    {"top_p", EVAL_SET_TOP_P},
    {"top_k", EVAL_SET_TOP_K},
    {"min_p", EVAL_SET_MIN_P},
    {"repetition_penalty", EVAL_SET_REP},
    {"repetition_context_size", EVAL_SET_REP_CTX},
    {"presence_penalty", EVAL_SET_PRESENCE},
    {"frequency_penalty", EVAL_SET_FREQUENCY},
    {"max_tokens", EVAL_SET_MAX_TOKENS},
};

// eval options for the tuned model: the fused directory, or the base with the
// adapters; sampling from generation: (the seed defaults to the training seed).
static int eval_setup(run_ctx *c, eval_opts *o, json_t **lines) {
    const train_config *cfg = c->cfg;
    *lines = NULL;
    eval_opts_init(o);
    int fused;
    o->model = run_tuned_model(c, &fused);
    if (!fused) o->adapter_path = c->adapters, o->adapter_file = c->adapter_file;
    sampler_params *p = &o->sampling;
    sampler_params_init(p);
    p->temp = (float)run_config_num(cfg, "generation.temp", p->temp);
    p->top_p = (float)run_config_num(cfg, "generation.top_p", p->top_p);
    p->top_k = (int)run_config_num(cfg, "generation.top_k", p->top_k);
    p->min_p = (float)run_config_num(cfg, "generation.min_p", p->min_p);
    p->repetition_penalty = (float)run_config_num(cfg, "generation.repetition_penalty", p->repetition_penalty);
    p->repetition_context_size = (int)run_config_num(cfg, "generation.repetition_context_size", p->repetition_context_size);
    p->presence_penalty = (float)run_config_num(cfg, "generation.presence_penalty", p->presence_penalty);
    p->frequency_penalty = (float)run_config_num(cfg, "generation.frequency_penalty", p->frequency_penalty);
    p->seed = (uint64_t)run_config_num(cfg, "generation.seed", (double)cfg->seed);
    o->max_tokens = (int64_t)run_config_num(cfg, "generation.max_tokens", (double)o->max_tokens);
    for (size_t i = 0; i < sizeof GEN_KEYS / sizeof *GEN_KEYS; i++) {
        char *k = xasprintf("generation.%s", GEN_KEYS[i].key);
        if (run_config_json(cfg, k)) o->sampling_set |= GEN_KEYS[i].bit;
        free(k);
    }
    if (sampler_params_validate(p)) {
        char *w = run_config_where(cfg, "generation");
        err_prefix("%s: generation", w);
        free(w);
        return -1;
    }
    o->system_prompt = run_config_str(cfg, "generation.system_prompt", NULL);
    o->chat_template_args = run_config_json(cfg, "generation.chat_template_args");
    o->rules = run_config_str(cfg, "evaluation.rules", NULL);
    // evaluation.thresholds, with their lines renamed to the rules file's ".thresholds.<key>"
    *lines = run_config_threshold_lines(cfg);
    o->thresholds = run_config_json(cfg, "evaluation.thresholds");
    o->thresholds_file = cfg->config;
    o->thresholds_lines = *lines;
    return 0;
}

static void summary_table(const json_t *res, const json_t *base) {
    strbuf sb;
    sb_init(&sb);
    eval_summary_table(&sb, res, base);
    fputs(sb.buf, stderr);
    sb_release(&sb);
}

// The test prompts on the base and on the tuned model, same seeds, side by side.
int stage_test(run_ctx *c) {
    eval_opts o;
    json_t *lines, *tuned = NULL, *base = NULL;
    char *jsonl = NULL;
    int rc = -1;
    if (eval_setup(c, &o, &lines)) goto out;
    const json_t *tp = run_config_json(c->cfg, "test_prompts");
    if (json_is_array(tp)) { // a list: written as prompts-only chat JSONL
        strbuf sb;
        sb_init(&sb);
        size_t i;
        json_t *p;
        json_array_foreach(tp, i, p) {
            json_t *rec = json_pack("{s:[{s:s,s:O}]}", "messages", "role", "user", "content", p);
            char *line = json_dumps(rec, JSON_COMPACT);
            sb_printf(&sb, "%s\n", line);
            free(line);
            json_decref(rec);
        }
        jsonl = run_path(c, "test-prompts.jsonl");
        rc = file_write_atomic(jsonl, sb.buf, sb.len);
        sb_release(&sb);
        if (rc) goto out;
        rc = -1;
        o.data = jsonl;
    } else {
        o.prompts = json_is_string(tp) ? json_string_value(tp) : "default";
        if (!tp) fprintf(stderr, "no test_prompts: the built-in prompt suite (examples/prompts/default.yaml)\n");
    }
    o.reference_loss = 0;
    o.label = "tuned";
    if (eval_run(&o, &tuned)) goto out;
    eval_opts ob = o;
    ob.model = c->cfg->model, ob.adapter_path = ob.adapter_file = NULL, ob.label = "base";
    if (eval_run(&ob, &base)) goto out;
    summary_table(tuned, base);
    json_t *t = json_pack("{s:O,s:O,s:o}", "tuned", tuned, "base", base, "deltas", eval_deltas(base, tuned));
    rc = run_write_json(c, "test.json", t);
    if (rc == 0) rc = test_markdown(c, t);
    json_decref(t);
out:
    json_decref(tuned), json_decref(base), json_decref(lines);
    free(jsonl);
    return rc;
}

// lorac eval on the evaluation data (evaluation.data, else DATA/valid.jsonl).
int stage_eval(run_ctx *c) {
    eval_opts o;
    json_t *lines, *res = NULL;
    char *data = run_data_file(c, "evaluation", "valid.jsonl");
    int rc = -1;
    if (eval_setup(c, &o, &lines)) goto out;
    o.data = data;
    o.max_examples = (int64_t)run_config_num(c->cfg, "evaluation.max_examples", 20);
    o.label = "eval";
    if (eval_run(&o, &res)) goto out;
    summary_table(res, NULL);
    rc = run_write_json(c, "eval.json", res);
out:
    json_decref(res), json_decref(lines);
    free(data);
    return rc;
}

// ---- evidence for the decision ----
void eval_loop_evidence(const json_t *results, int *n_loop, int *n, json_t *examples) {
    *n_loop = *n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(results, "results"), i, r) {
        (*n)++;
        const json_t *lo = json_object_get(r, "loops");
        if (!json_is_true(json_object_get(lo, "loop"))) continue;
        (*n_loop)++;
        const json_t *sent = json_object_get(lo, "repeated_sentence"), *span = json_object_get(lo, "repeated_span");
        const char *prompt = json_string_value(json_object_get(r, "instruction"));
        char *what = sent ? xasprintf("\"%.80s\" %lld times", json_string_value(json_object_get(sent, "text")),
                                      (long long)json_integer_value(json_object_get(sent, "count")))
                          : xasprintf("a %lld-token span repeated %lld times in a row: \"%.80s\"",
                                      (long long)json_integer_value(json_object_get(span, "tokens")),
                                      (long long)json_integer_value(json_object_get(span, "repeats")),
                                      json_string_value(json_object_get(span, "text")));
        json_array_append_new(examples, json_sprintf("\"%.60s\": %s", prompt ? prompt : "?", what));
        free(what);
    }
}

int eval_stance_evidence(const json_t *results, double *share, double *threshold, int *n) {
    const json_t *st = json_object_get(json_object_get(results, "statistics"), "stance");
    const json_t *rate = json_object_get(st, "domain_rate"), *thr = json_object_get(json_object_get(results, "thresholds"), "min_stance_rate");
    if (!st || !json_is_number(rate)) return -1;
    *share = json_number_value(rate);
    *threshold = json_is_number(thr) ? json_number_value(thr) : 0.8;
    *n = (int)json_integer_value(json_object_get(st, "scored"));
    return 0;
}

// ---- train ----
// Trains into RUN/adapters. A run stopped with the same training inputs (its
// fingerprint) resumes from its newest checkpoint; adapters from other inputs
// are removed first, so the directory never mixes two runs.
int stage_train(run_ctx *c) {
    train_config *cfg = c->cfg;
    int same = c->prev_fp && !strcmp(c->prev_fp, c->fp);
    int64_t it = 0;
    char *ck = same ? train_find_checkpoint(c->adapters, &it) : NULL;
    if (ck) {
        fprintf(stderr, "resuming the stopped training run from %s (iteration %lld)\n", ck, (long long)it);
    } else if (dir_exists(c->adapters)) {
        fprintf(stderr, "%s holds adapters from %s; starting over\n", c->adapters,
                same ? "a run without a resumable checkpoint" : "other training inputs");
        if (rm_rf(c->adapters)) return -1;
    }
    free(cfg->resume_adapter_file);
    cfg->resume_adapter_file = ck;
    int saved_train = cfg->train;
    cfg->train = 1;
    int rc = train_run(cfg);
    cfg->train = saved_train;
    free(cfg->resume_adapter_file);
    cfg->resume_adapter_file = NULL;
    return rc;
}
