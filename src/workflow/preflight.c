// preflight.c — the first stage of `lorac run`: everything that can be known
// before training starts, checked rather than printed.
//
//   paths      the model, the data directory, every file a section names
//   model      loads (shapes, tokenizer, chat template)
//   data       lorac data check on train/valid/test (errors stop the run)
//   memory     the training estimate against the memory available now; when it
//              does not fit, the smallest change that does (grad_checkpoint,
//              batch_size 1, shorter max_seq_length, fewer layers) is named
//   time       a timing probe (one training step) -> the estimated total time,
//              against --time-budget when given
//
// Writes preflight.json (each check with ok/detail, the estimates, the probe). On
// a refusal, the recommendations and run-next.yaml are written as well.
#include "run_internal.h"

#include "../core/core.h"
#include "../kernels/kernels.h"
#include "../generate/generate.h"
#include "../model/estimate.h"
#include "../train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- the machine ----
// MemTotal and MemAvailable from /proc/meminfo (bytes); 0 when unknown.
static void mem_info(double *total, double *avail) {
    *total = *avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) *total = (double)kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) *avail = (double)kb * 1024;
    }
    fclose(f);
}

static double gb(double b) { return b / 1e9; }

// ---- checks ----
typedef struct {
    json_t *checks; // [{"check", "ok", "detail"}]
    int failed;
} checklist;

void preflight_check(json_t *checks, int *failed, const char *name, int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *detail;
    if (vasprintf(&detail, fmt, ap) < 0) detail = NULL;
    va_end(ap);
    json_array_append_new(checks, json_pack("{s:s,s:b,s:s}", "check", name, "ok", ok, "detail", detail ? detail : ""));
    fprintf(stderr, "  %-8s %s  %s\n", name, ok ? "ok  " : "FAIL", detail ? detail : "");
    free(detail);
    if (!ok) (*failed)++;
}

#define check_add(cl, ...) preflight_check((cl)->checks, &(cl)->failed, __VA_ARGS__)

// A file a section names must exist.
static void check_file(checklist *cl, const run_ctx *c, const char *key, const char *path) {
    if (!path) return;
    char *w = run_config_where(c->cfg, key);
    if (file_exists(path)) check_add(cl, "paths", 1, "%s: %s", key, path);
    else check_add(cl, "paths", 0, "%s: %s (%s) does not exist", w, path, key);
    free(w);
}

// ---- memory ----
static train_shape shape_of(const train_config *cfg) {
    return (train_shape){cfg->max_seq_length, cfg->batch_size, cfg->num_layers, cfg->lora_parameters.rank,
                         cfg->grad_checkpoint, cfg->fine_tune_type == FT_DORA, cfg->fine_tune_type == FT_FULL};
}

// Add key: from -> to to changes, or move an earlier change of key on to `to`.
static void set_change(json_t *changes, const char *key, json_t *from, json_t *to) {
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c) if (!strcmp(json_string_value(json_object_get(c, "key")), key)) {
        json_object_set_new(c, "to", to);
        json_decref(from);
        return;
    }
    json_array_append_new(changes, json_pack("{s:s,s:o,s:o}", "key", key, "from", from, "to", to));
}

// Cumulative changes that lower the training memory, in the order a user would
// accept them: recompute activations, one sequence per step (same effective
// batch through accumulation), shorter sequences, fewer trained layers.
static json_t *memory_alternatives(const train_config *cfg, const model_config *mc, double wbytes, double avail,
                                   const train_shape *from, json_t **fit) {
    json_t *alts = json_array();
    *fit = NULL;
    train_shape s = *from;
    json_t *changes = json_array();
    int64_t accum = cfg->grad_accumulation_steps;
    for (int step = 0; step < 12 && !*fit; step++) {
        if (!s.grad_checkpoint) {
            s.grad_checkpoint = 1;
            set_change(changes, "grad_checkpoint", json_false(), json_true());
        } else if (s.batch_size > 1) {
            set_change(changes, "batch_size", json_integer(s.batch_size), json_integer(1));
            set_change(changes, "grad_accumulation_steps", json_integer(accum), json_integer(accum * s.batch_size));
            accum *= s.batch_size;
            s.batch_size = 1;
        } else if (s.max_seq_length > 512) {
            set_change(changes, "max_seq_length", json_integer(cfg->max_seq_length), json_integer(s.max_seq_length / 2));
            s.max_seq_length /= 2;
        } else {
            int64_t nl = s.num_layers < 0 || s.num_layers > mc->n_layers ? mc->n_layers : s.num_layers;
            if (nl <= 1) break;
            set_change(changes, "num_layers", json_integer(nl), json_integer(nl / 2));
            s.num_layers = nl / 2;
        }
        mem_estimate e;
        estimate_lora_training(mc, wbytes, &s, &e);
        json_t *alt = json_pack("{s:o,s:f,s:b}", "changes", json_deep_copy(changes), "estimate_gb", gb(e.total), "fits", e.total <= avail);
        json_array_append_new(alts, alt);
        if (e.total <= avail) *fit = alt;
    }
    json_decref(changes);
    return alts;
}

// ---- the stage ----
int stage_preflight(run_ctx *c) {
    train_config *cfg = c->cfg;
    checklist cl = {json_array(), 0};
    json_t *pf = json_object();
    gen_model g;
    int loaded = 0, rc = -1;
    // config: loaded, resolved and its sections checked before any stage ran
    check_add(&cl, "config", 1, "%s: %s %s, %s", cfg->config ? cfg->config : "flags", train_ft_type_name(cfg->fine_tune_type),
              cfg->fine_tune_type == FT_FULL ? "" : "adapters", cfg->train ? "train: true" : "train: false (the train stage trains anyway)");
    // paths
    model_src src;
    if (model_path_resolve(cfg->model, &src) == 0) {
        check_add(&cl, "paths", 1, "model: %s", src.path);
        model_src_release(&src);
    } else {
        check_add(&cl, "paths", 0, "%s: model '%s': %s", train_config_where(cfg, "model"), cfg->model, err_msg());
    }
    if (train_config_check_data(cfg)) check_add(&cl, "paths", 0, "%s", err_msg());
    else check_add(&cl, "paths", 1, "data: %s", cfg->data);
    char *evd = run_data_file(c, "evaluation", "valid.jsonl");
    check_file(&cl, c, "evaluation.data", evd);
    free(evd);
    check_file(&cl, c, "evaluation.rules", run_config_str(cfg, "evaluation.rules", NULL));
    check_file(&cl, c, "audit.rules", run_config_str(cfg, "audit.rules", NULL));
    const json_t *tp = run_config_json(cfg, "test_prompts");
    if (json_is_string(tp)) check_file(&cl, c, "test_prompts", json_string_value(tp));
    if (cl.failed) goto refuse;
    // the model
    if (gen_model_load(&g, cfg->model)) {
        check_add(&cl, "model", 0, "%s", err_msg());
        goto refuse;
    }
    loaded = 1;
    const model_config *mc = &g.m.cfg;
    int64_t nl = cfg->num_layers < 0 || cfg->num_layers > mc->n_layers ? mc->n_layers : cfg->num_layers;
    check_add(&cl, "model", 1, "%s, %lld layers (training the last %lld), %.2fB parameters, %s of weights%s",
              arch_name(mc->arch), (long long)mc->n_layers, (long long)nl, (double)model_param_count(mc) / 1e9,
              fmt_bytes((char[32]){0}, 32, (double)g.m.file_bytes), g.has_template ? ", chat template" : ", NO chat template");
    json_object_set_new(pf, "model", json_pack("{s:s,s:s,s:I,s:I,s:I}", "path", g.m.src.path, "architecture", arch_name(mc->arch),
                                               "layers", (json_int_t)mc->n_layers, "parameters", (json_int_t)model_param_count(mc),
                                               "file_bytes", (json_int_t)g.m.file_bytes));
    if (!g.has_template) check_add(&cl, "model", 0, "the model has no chat template; chat data cannot be rendered");
    if (cl.failed) goto refuse;
    // the data
    if (preflight_data(c, pf, &cl.failed, cl.checks)) goto done;
    if (cl.failed) goto refuse;
    // memory, at the longest sequence the data holds (a batch packs batch_size of them)
    double total, avail;
    mem_info(&total, &avail);
    if (c->o->memory_limit_gb > 0) avail = c->o->memory_limit_gb * 1e9;
    train_shape ts = shape_of(cfg);
    int64_t longest = json_integer_value(json_object_get(json_object_get(json_object_get(pf, "data"), "train_tokens"), "max"));
    if (longest > 0 && longest < ts.max_seq_length) ts.max_seq_length = longest;
    mem_estimate e;
    estimate_lora_training(mc, (double)g.m.file_bytes, &ts, &e);
    json_t *mem = json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "sequence_tokens", (json_int_t)ts.max_seq_length, "estimate_gb", gb(e.total), "weights_gb", gb(e.weights),
                            "trainable_gb", gb(e.lora), "activations_gb", gb(e.activations), "logits_gb", gb(e.logits),
                            "available_gb", gb(avail), "total_gb", gb(total));
    json_object_set_new(pf, "memory", mem);
    if (avail > 0 && e.total > avail) {
        json_t *fit;
        json_t *alts = memory_alternatives(cfg, mc, (double)g.m.file_bytes, avail, &ts, &fit);
        json_object_set_new(mem, "alternatives", alts);
        json_object_set_new(mem, "fits", json_false());
        check_add(&cl, "memory", 0, "training needs about %.1f GB; %.1f GB %s (of %.1f GB)", gb(e.total), gb(avail),
                  c->o->memory_limit_gb > 0 ? "is the --memory-limit" : "is available now", gb(total));
        goto refuse;
    }
    json_object_set_new(mem, "fits", json_true());
    check_add(&cl, "memory", 1, "about %.1f GB (weights %.1f, trainable %.2f, activations %.1f); %.1f GB available", gb(e.total),
              gb(e.weights), gb(e.lora), gb(e.activations), gb(avail));
    gen_model_release(&g);
    loaded = 0;
    // time
    train_probe_result pr;
    fprintf(stderr, "  probe    timing %d training step%s...\n", c->o->probe_steps, c->o->probe_steps == 1 ? "" : "s");
    if (train_probe(cfg, c->o->probe_steps, &pr)) goto done;
    double est = pr.est_train_seconds + pr.est_eval_seconds;
    json_object_set_new(pf, "probe", json_pack("{s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:I}", "iters", (json_int_t)pr.iters, "train_examples",
                                               (json_int_t)pr.n_train, "valid_examples", (json_int_t)pr.n_valid, "tokens_per_iter",
                                               pr.tokens_per_iter, "tokens_per_sec", pr.tokens_per_sec, "step_seconds", pr.step_seconds,
                                               "est_train_seconds", pr.est_train_seconds, "est_eval_seconds", pr.est_eval_seconds,
                                               "peak_rss_gb", gb(pr.peak_rss), "trainable_parameters", (json_int_t)pr.lora_params));
    json_object_set_new(json_object_get(pf, "probe"), "matmul_precision",
                        json_string(kernel_precision_name((kernel_precision)pr.matmul_precision)));
    int over = c->o->time_budget_h > 0 && est > c->o->time_budget_h * 3600;
    char d1[32], d2[32];
    check_add(&cl, "time", !over, "%.0f tokens/s on a %.0f-token batch: %lld iterations ≈ %s training + %s validation%s",
              pr.tokens_per_sec, pr.tokens_per_iter, (long long)pr.iters, fmt_duration(d1, sizeof d1, pr.est_train_seconds),
              fmt_duration(d2, sizeof d2, pr.est_eval_seconds), over ? " — over the time budget" : "");
    json_object_set_new(pf, "estimated_seconds", json_pack("{s:f,s:f,s:f}", "train", pr.est_train_seconds, "validation",
                                                          pr.est_eval_seconds, "total", est));
    if (c->o->time_budget_h > 0) json_object_set_new(pf, "time_budget_h", json_real(c->o->time_budget_h));
    if (c->o->memory_limit_gb > 0) json_object_set_new(pf, "memory_limit_gb", json_real(c->o->memory_limit_gb));
    if (over) goto refuse;
    json_object_set_new(pf, "ok", json_true());
    json_object_set_new(pf, "checks", cl.checks);
    cl.checks = NULL;
    rc = run_write_json(c, "preflight.json", pf);
    goto done;
refuse:
    json_object_set_new(pf, "ok", json_false());
    json_object_set_new(pf, "checks", json_incref(cl.checks));
    if (run_write_json(c, "preflight.json", pf) == 0) {
        json_t *recs = decide(c);
        if (json_array_size(recs)) {
            fprintf(stderr, "\n");
            decide_print(stderr, recs);
            if (decide_write_next(c, recs, "run-next.yaml") == 0) {
                char *p = run_path(c, "run-next.yaml");
                fprintf(stderr, "The config with these changes: %s\n", p);
                free(p);
            }
        }
        json_decref(recs);
        err_set("%d check%s failed (see %s/preflight.json)", cl.failed, cl.failed == 1 ? "" : "s", c->dir);
    }
done:
    if (loaded) gen_model_release(&g);
    json_decref(cl.checks);
    json_decref(pf);
    return rc;
}
