// decide.c — the decision tree of a fine-tuning run, executable: each rule reads
// measured evidence from the run directory and, when its evidence is there,
// proposes config changes. Rules, in the words of the user's checklist:
//
//   memory      preflight refused: the run does not fit -> grad_checkpoint,
//               batch_size 1 (+accumulation), shorter max_seq_length, fewer layers;
//               or training peaked above 90% of the machine's memory
//   time        the estimate (preflight) or the training itself exceeded
//               --time-budget -> bf16 matmuls (where the CPU has them), fewer
//               layers, shorter max_seq_length
//   loops       test or eval answers loop -> repetition_penalty 1.3-1.5, fewer epochs
//   val_rising  validation loss rose after its best -> stop at the best step,
//               fuse best_adapters.safetensors
//   stance      answers do not favour the domain position -> stronger LoRA (rank,
//               alpha, layers), or the other base model
//   train_flat  training loss did not fall -> higher learning rate (diverging:
//               lower)
//
// Severity in (0, 1] ranks them; a healthy run gets an empty list.
#include "run_internal.h"

#include "../core/core.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- evidence ----
typedef struct {
    double *step, *val; // validation losses by step
    int n_val;
    double *tstep, *train; // training losses by step
    int n_train;
    double peak_rss_gb;
} curves;

static void curves_release(curves *cv) {
    free(cv->step), free(cv->val), free(cv->tstep), free(cv->train);
    memset(cv, 0, sizeof *cv);
}

static void curves_load(const run_ctx *c, curves *cv) {
    memset(cv, 0, sizeof *cv);
    char *p = path_join(c->adapters, "metrics.jsonl");
    FILE *f = fopen(p, "r");
    free(p);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int cv_cap = 0, ct_cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue;
        double step = (double)json_integer_value(json_object_get(o, "step"));
        json_t *v = json_object_get(o, "val_loss"), *t = json_object_get(o, "train_loss");
        if (json_is_number(v)) {
            if (cv->n_val == cv_cap) {
                cv_cap = cv_cap ? 2 * cv_cap : 16;
                cv->step = xrealloc(cv->step, (size_t)cv_cap * sizeof(double));
                cv->val = xrealloc(cv->val, (size_t)cv_cap * sizeof(double));
            }
            cv->step[cv->n_val] = step, cv->val[cv->n_val++] = json_number_value(v);
        }
        if (json_is_number(t)) {
            if (cv->n_train == ct_cap) {
                ct_cap = ct_cap ? 2 * ct_cap : 16;
                cv->tstep = xrealloc(cv->tstep, (size_t)ct_cap * sizeof(double));
                cv->train = xrealloc(cv->train, (size_t)ct_cap * sizeof(double));
            }
            cv->tstep[cv->n_train] = step, cv->train[cv->n_train++] = json_number_value(t);
        }
        json_t *rss = json_object_get(o, "peak_rss_gb");
        if (json_is_number(rss) && json_number_value(rss) > cv->peak_rss_gb) cv->peak_rss_gb = json_number_value(rss);
        json_decref(o);
    }
    free(line);
    fclose(f);
}

// ---- building recommendations ----
static json_t *rec_new(const char *rule, const char *title, double severity) {
    return json_pack("{s:s,s:s,s:f,s:[],s:[]}", "rule", rule, "title", title, "severity", severity, "evidence", "changes");
}

static void evidence(json_t *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void evidence(json_t *rec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (s) json_array_append_new(json_object_get(rec, "evidence"), json_string(s));
    free(s);
}

// from/to are new references (stolen).
static void change(json_t *rec, const char *key, json_t *from, json_t *to, const char *why) {
    json_array_append_new(json_object_get(rec, "changes"), json_pack("{s:s,s:o,s:o,s:s}", "key", key, "from", from ? from : json_null(),
                                                                     "to", to, "why", why));
}

// ---- rules ----
static void rule_memory(const run_ctx *c, const json_t *pf, const curves *cv, json_t *out) {
    const json_t *mem = json_object_get(pf, "memory");
    if (json_is_false(json_object_get(mem, "fits"))) {
        json_t *r = rec_new("memory", "The run does not fit in memory: lower what training keeps", 1.0);
        evidence(r, "preflight estimate %.1f GB > %.1f GB available (weights %.1f, activations %.1f)",
                 json_number_value(json_object_get(mem, "estimate_gb")), json_number_value(json_object_get(mem, "available_gb")),
                 json_number_value(json_object_get(mem, "weights_gb")), json_number_value(json_object_get(mem, "activations_gb")));
        const json_t *alts = json_object_get(mem, "alternatives"), *fit = NULL;
        size_t i;
        json_t *a;
        json_array_foreach(alts, i, a) if (json_is_true(json_object_get(a, "fits"))) {
            fit = a;
            break;
        }
        if (!fit) fit = json_array_get(alts, json_array_size(alts) - 1);
        if (fit) {
            evidence(r, "with the changes below: about %.1f GB%s", json_number_value(json_object_get(fit, "estimate_gb")),
                     json_is_true(json_object_get(fit, "fits")) ? "" : " — still too much: use a smaller model or a machine with more memory");
            json_array_foreach(json_object_get(fit, "changes"), i, a)
                change(r, json_string_value(json_object_get(a, "key")), json_deep_copy(json_object_get(a, "from")),
                       json_deep_copy(json_object_get(a, "to")), "fits the estimate into the available memory");
        }
        json_array_append_new(out, r);
        return;
    }
    double total = json_number_value(json_object_get(mem, "total_gb"));
    if (total > 0 && cv->peak_rss_gb > 0.9 * total) {
        json_t *r = rec_new("memory", "Training ran close to out of memory", 0.7);
        evidence(r, "peak RSS %.1f GB of %.1f GB (metrics.jsonl)", cv->peak_rss_gb, total);
        if (!c->cfg->grad_checkpoint)
            change(r, "grad_checkpoint", json_false(), json_true(), "keeps one hidden state per block instead of all activations");
        else if (c->cfg->max_seq_length > 512)
            change(r, "max_seq_length", json_integer(c->cfg->max_seq_length), json_integer(c->cfg->max_seq_length / 2),
                   "halves the activations");
        json_array_append_new(out, r);
    }
}

static void rule_time(const run_ctx *c, const json_t *pf, json_t *out) {
    double budget = c->o->time_budget_h;
    if (budget <= 0) return;
    double est = json_number_value(json_object_get(json_object_get(pf, "estimated_seconds"), "total"));
    const json_t *tr = run_record(c, STAGE_TRAIN);
    double took = tr ? json_number_value(json_object_get(tr, "seconds")) : 0;
    double t = took > 0 ? took : est;
    if (t <= budget * 3600) return;
    json_t *r = rec_new("time", "The run is too slow for the time budget: train less per step", fmin(1.0, 0.5 + (t / 3600 - budget) / budget));
    if (took > 0) evidence(r, "training took %.1f h; the budget is %.1f h", took / 3600, budget);
    else evidence(r, "preflight estimate %.1f h (%.0f tokens/s); the budget is %.1f h", est / 3600,
                  json_number_value(json_object_get(json_object_get(pf, "probe"), "tokens_per_sec")), budget);
    const train_config *cfg = c->cfg;
    // bf16 products, when the run computed in fp32 (preflight's probe says) and the CPU has them
    const char *used = json_string_value(json_object_get(json_object_get(pf, "probe"), "matmul_precision"));
    if (used && !strcmp(used, "fp32") && kernels_precision_effective(KERNEL_PREC_BF16) == KERNEL_PREC_BF16)
        change(r, "matmul_precision",
               json_string(train_matmul_precision_name(cfg->matmul_precision)),
               json_string("bf16"), "bf16 products summed in fp32 (PyTorch bf16 autocast's precision): 1.7-2.4x faster training on this CPU");
    const json_t *model = json_object_get(pf, "model");
    int64_t layers = json_integer_value(json_object_get(model, "layers"));
    int64_t nl = cfg->num_layers < 0 || (layers && cfg->num_layers > layers) ? layers : cfg->num_layers;
    if (nl > 1) change(r, "num_layers", json_integer(nl), json_integer(nl / 2), "backward runs through half the blocks");
    const json_t *lens = json_object_get(json_object_get(pf, "data"), "train_tokens");
    int64_t p95 = json_integer_value(json_object_get(lens, "p95"));
    if (p95 > 0 && p95 < cfg->max_seq_length)
        change(r, "max_seq_length", json_integer(cfg->max_seq_length), json_integer(p95), "the 95th percentile of the training examples' length");
    json_array_append_new(out, r);
}

static void rule_val_rising(const run_ctx *c, const curves *cv, json_t *out) {
    if (cv->n_val < 3) return;
    int best = 0;
    for (int i = 1; i < cv->n_val; i++)
        if (cv->val[i] < cv->val[best]) best = i;
    double last = cv->val[cv->n_val - 1], bv = cv->val[best];
    double rise = last - bv;
    if (best == cv->n_val - 1 || rise <= fmax(0.01, 0.02 * bv)) return;
    json_t *r = rec_new("val_rising", "Validation loss rose after its best: stop earlier and use the best checkpoint",
                        fmin(1.0, 0.4 + 10 * rise / bv));
    evidence(r, "validation loss %.3f at step %.0f (best) -> %.3f at step %.0f", bv, cv->step[best], last, cv->step[cv->n_val - 1]);
    if (cv->n_train) evidence(r, "training loss at the end %.3f", cv->train[cv->n_train - 1]);
    int64_t best_step = (int64_t)cv->step[best];
    if (best_step > 0) {
        const train_config *cfg = c->cfg;
        json_t *from = cfg->epochs > 0 ? json_sprintf("epochs: %g", cfg->epochs) : json_integer(cfg->iters);
        change(r, "iters", from, json_integer(best_step), "the step of the best validation loss");
    }
    if (run_config_json(c->cfg, "fuse")) // without a fuse: section the next run retrains to the best step instead
        change(r, "fuse.adapter_file", json_string(c->adapter_file), json_string("best_adapters.safetensors"),
               "fuse the adapters saved at the best validation loss");
    json_array_append_new(out, r);
}

static void rule_train_flat(const run_ctx *c, const curves *cv, json_t *out) {
    if (cv->n_train < 3) return;
    double first = cv->train[0], last = cv->train[cv->n_train - 1], low = last;
    for (int i = cv->n_train - 3 < 0 ? 0 : cv->n_train - 3; i < cv->n_train; i++) low = fmin(low, cv->train[i]);
    const train_config *cfg = c->cfg;
    double lr = cfg->lr_schedule.name != LRS_NONE ? cfg->lr_schedule.arguments[0] : cfg->learning_rate;
    const char *key = cfg->lr_schedule.name != LRS_NONE ? "lr_schedule.arguments[0]" : "learning_rate";
    if (!isfinite(last) || last > first * 1.1) {
        json_t *r = rec_new("train_flat", "Training loss diverged: lower the learning rate", 0.9);
        evidence(r, "training loss %.3f at step %.0f -> %.3f at step %.0f", first, cv->tstep[0], last, cv->tstep[cv->n_train - 1]);
        change(r, key, json_real(lr), json_real(lr / 3), "a third of the learning rate");
        json_array_append_new(out, r);
    } else if (low > first * 0.98) {
        json_t *r = rec_new("train_flat", "Training loss did not fall: raise the learning rate", 0.6);
        evidence(r, "training loss %.3f at step %.0f -> %.3f at step %.0f (%.1f%% lower)", first, cv->tstep[0], last,
                 cv->tstep[cv->n_train - 1], 100 * (first - low) / first);
        change(r, key, json_real(lr), json_real(lr * 3), "three times the learning rate");
        json_array_append_new(out, r);
    }
}

// Loops and stance come from eval.json and test.json (see stages.c for their keys).
static void rule_loops(const run_ctx *c, const json_t *ev, const json_t *test, json_t *out) {
    int n_loop = 0, n = 0;
    json_t *examples = json_array();
    eval_loop_evidence(ev, &n_loop, &n, examples);
    int t_loop = 0, t_n = 0;
    eval_loop_evidence(json_object_get(test, "tuned"), &t_loop, &t_n, examples);
    if (n_loop + t_loop == 0) {
        json_decref(examples);
        return;
    }
    double rate = (double)(n_loop + t_loop) / (double)(n + t_n);
    json_t *r = rec_new("loops", "Answers loop: raise the repetition penalty and train less", fmin(1.0, 0.5 + rate));
    if (n) evidence(r, "%d of %d eval answers repeat themselves", n_loop, n);
    if (t_n) evidence(r, "%d of %d test answers repeat themselves", t_loop, t_n);
    size_t i;
    json_t *e;
    json_array_foreach(examples, i, e) if (i < 3) evidence(r, "%s", json_string_value(e));
    json_decref(examples);
    double rp = run_config_num(c->cfg, "generation.repetition_penalty", 1.0);
    double to = rp < 1.3 ? 1.3 : fmin(1.5, rp + 0.1);
    if (to > rp) change(r, "generation.repetition_penalty", json_real(rp), json_real(to), "penalises tokens repeated in the window");
    const train_config *cfg = c->cfg;
    if (cfg->epochs > 1) change(r, "epochs", json_real(cfg->epochs), json_real(cfg->epochs > 2 ? cfg->epochs - 1 : cfg->epochs / 2),
                                "fewer passes over the data memorise less");
    json_array_append_new(out, r);
}

static void rule_stance(const run_ctx *c, const json_t *ev, const json_t *pf, json_t *out) {
    double share, threshold;
    int n;
    if (eval_stance_evidence(ev, &share, &threshold, &n) || n == 0 || share >= threshold) return;
    json_t *r = rec_new("stance", "Answers do not take the domain's position: train a stronger adapter", fmin(1.0, 0.4 + (threshold - share) / threshold));
    evidence(r, "%.0f%% of %d eval answers favour the domain position; the threshold is %.0f%%", 100 * share, n, 100 * threshold);
    const train_config *cfg = c->cfg;
    if (cfg->fine_tune_type != FT_FULL) {
        int64_t rank = cfg->lora_parameters.rank;
        if (rank < 64) {
            change(r, "lora_parameters.rank", json_integer(rank), json_integer(rank * 2), "twice the adapter's capacity");
            if (isfinite(cfg->lora_parameters.alpha))
                change(r, "lora_parameters.alpha", json_real(cfg->lora_parameters.alpha), json_real(cfg->lora_parameters.alpha * 2),
                       "keeps the scale alpha/rank");
        }
    }
    int64_t layers = json_integer_value(json_object_get(json_object_get(pf, "model"), "layers"));
    int64_t nl = cfg->num_layers < 0 || (layers && cfg->num_layers > layers) ? layers : cfg->num_layers;
    if (layers && nl < layers)
        change(r, "num_layers", json_integer(nl), json_integer(nl * 2 > layers ? layers : nl * 2), "adapts more of the model");
    evidence(r, "or train the other base model (the user's Run 8: Qwen/Qwen3-4B-Instruct-2507 with DoRA, examples/run8-qwen3.yaml)");
    json_array_append_new(out, r);
}

static int by_severity(const void *a, const void *b) {
    double x = json_number_value(json_object_get(*(json_t *const *)a, "severity"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "severity"));
    return x < y ? 1 : x > y ? -1 : 0;
}

json_t *decide(const run_ctx *c) {
    json_t *pf = run_read_json(c, "preflight.json"), *ev = run_read_json(c, "eval.json"), *test = run_read_json(c, "test.json");
    curves cv;
    curves_load(c, &cv);
    json_t *out = json_array();
    if (pf) rule_memory(c, pf, &cv, out);
    if (pf) rule_time(c, pf, out);
    rule_loops(c, ev, test, out);
    rule_val_rising(c, &cv, out);
    rule_stance(c, ev, pf, out);
    rule_train_flat(c, &cv, out);
    // rank
    size_t n = json_array_size(out);
    json_t **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(out, i));
    qsort(v, n, sizeof *v, by_severity);
    json_array_clear(out);
    for (size_t i = 0; i < n; i++) json_array_append_new(out, v[i]);
    free(v);
    curves_release(&cv);
    json_decref(pf), json_decref(ev), json_decref(test);
    return out;
}

// ---- printing ----
static char *value_text(const json_t *v) {
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_real(v)) return xasprintf("%g", json_real_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

void decide_print(FILE *f, const json_t *recs) {
    if (json_array_size(recs) == 0) {
        fprintf(f, "Recommendations: none — no rule found evidence of a problem.\n");
        return;
    }
    fprintf(f, "Recommendations (most important first):\n");
    size_t i, j;
    json_t *r, *e;
    json_array_foreach(recs, i, r) {
        fprintf(f, "%zu. %s  [%s, severity %.2f]\n", i + 1, json_string_value(json_object_get(r, "title")),
                json_string_value(json_object_get(r, "rule")), json_number_value(json_object_get(r, "severity")));
        json_array_foreach(json_object_get(r, "evidence"), j, e) fprintf(f, "   evidence: %s\n", json_string_value(e));
        json_array_foreach(json_object_get(r, "changes"), j, e) {
            char *from = value_text(json_object_get(e, "from")), *to = value_text(json_object_get(e, "to"));
            fprintf(f, "   change:   %s: %s -> %s (%s)\n", json_string_value(json_object_get(e, "key")), from, to,
                    json_string_value(json_object_get(e, "why")));
            free(from), free(to);
        }
    }
}

// ---- run-next.yaml ----
// A YAML scalar for v that reads back as the same value (floats keep a dot, so
// PyYAML reads them as floats too).
static char *yaml_value(const json_t *v) {
    if (json_is_true(v)) return xstrdup("true");
    if (json_is_false(v)) return xstrdup("false");
    if (json_is_integer(v)) return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.6g", json_real_value(v));
        char *e = strchr(buf, 'e');
        if (strchr(buf, '.') || strchr(buf, 'n') || strchr(buf, 'i')) return xstrdup(buf);
        if (!e) return xasprintf("%s.0", buf);
        return xasprintf("%.*s.0e%d", (int)(e - buf), buf, atoi(e + 1));
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") == strlen(s) &&
            strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_./", s[0]))
            return xstrdup(s);
        return json_dumps(v, JSON_ENCODE_ANY);
    }
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

typedef struct {
    char **lines;
    int n, cap;
} text_lines;

static void tl_insert(text_lines *t, int at, char *line) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->lines = xrealloc(t->lines, (size_t)t->cap * sizeof(char *));
    }
    memmove(t->lines + at + 1, t->lines + at, (size_t)(t->n - at) * sizeof(char *));
    t->lines[at] = line;
    t->n++;
}

static int indent_of(const char *s) { return (int)strspn(s, " "); }

// The 1-based line of a training key in the file's text: a top-level "key:" line,
// its flat spelling (lora_rank for lora_parameters.rank), or "rank:" inside the
// lora_parameters block. 0 when the file does not set it.
static int scan_line(const text_lines *t, int n, const char *key) {
    static const char *const FLAT[][2] = {{"lora_parameters.rank", "lora_rank"}, {"lora_parameters.alpha", "lora_alpha"},
                                          {"lora_parameters.dropout", "lora_dropout"}};
    const char *dot = strchr(key, '.');
    const char *flat = NULL;
    for (size_t k = 0; k < 3; k++)
        if (!strcmp(key, FLAT[k][0])) flat = FLAT[k][1];
    size_t pl = dot ? (size_t)(dot - key) : 0;
    int in_parent = 0;
    for (int i = 0; i < n; i++) {
        const char *l = t->lines[i];
        if (indent_of(l) == 0 && *l && *l != '#') in_parent = dot && !strncmp(l, key, pl) && l[pl] == ':';
        const char *name = NULL;
        if (indent_of(l) == 0) name = dot ? flat : key;
        else if (in_parent) name = dot + 1, l += indent_of(l);
        size_t nl = name ? strlen(name) : 0;
        if (name && !strncmp(l, name, nl) && (l[nl] == ':' || l[nl] == ' ')) return i + 1;
    }
    return 0;
}

// The 1-based line of a key in the config file, or 0 when the file does not set it.
static int line_of(const run_ctx *c, const text_lines *t, int n, const char *key) {
    int line = run_config_line(c->cfg, key);
    if (line >= 0) return line; // a workflow section's key
    const char *file = c->cfg->config, *w = train_config_where(c->cfg, key);
    size_t fl = file ? strlen(file) : 0;
    if (file && !strncmp(w, file, fl) && w[fl] == ':') return atoi(w + fl + 1);
    return scan_line(t, n, key); // a flag overrode it; the file may still set it
}

// Replace the value on a "key: value  # comment" line, keeping its key text.
static char *replace_value(const char *line, const char *value, const char *comment) {
    const char *colon = strchr(line, ':');
    if (!colon) return NULL;
    return xasprintf("%.*s: %s  # %s", (int)(colon - line), line, value, comment);
}

int decide_write_next(const run_ctx *c, const json_t *recs, const char *name) {
    const train_config *cfg = c->cfg;
    text_lines t = {0};
    char *text = NULL;
    size_t len;
    if (cfg->config && file_read_all(cfg->config, &text, &len)) return -1;
    for (char *p = text, *nl; p && *p; p = nl) {
        nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        tl_insert(&t, t.n, xstrndup(p, n));
        nl = nl ? nl + 1 : p + n;
    }
    free(text);
    int original_n = t.n;
    text_lines orig = {xmalloc((size_t)(t.n ? t.n : 1) * sizeof(char *)), t.n, t.n}; // line lookups use the original text
    for (int k = 0; k < t.n; k++) orig.lines[k] = xstrdup(t.lines[k]);
    int *shift = xcalloc((size_t)original_n + 2, sizeof(int)); // lines inserted after each original line
    strbuf appended;
    sb_init(&appended);
    json_t *done = json_object();
    int n_changes = 0;
    size_t i, j;
    json_t *r, *ch;
    json_array_foreach(recs, i, r) json_array_foreach(json_object_get(r, "changes"), j, ch) {
        const char *key = json_string_value(json_object_get(ch, "key"));
        if (json_object_get(done, key)) continue; // the more severe rule's change stands
        json_object_set_new(done, key, json_true());
        n_changes++;
        char *val = yaml_value(json_object_get(ch, "to")), *from = value_text(json_object_get(ch, "from"));
        char *comment = xasprintf("lorac run: was %s; %s (%s)", from, json_string_value(json_object_get(ch, "why")),
                                  json_string_value(json_object_get(r, "rule")));
        int line = 0;
        const char *write_key = key;
        if (!strcmp(key, "iters") && cfg->epochs > 0) line = line_of(c, &orig, original_n, "epochs"), write_key = "iters";
        else line = line_of(c, &orig, original_n, key);
        if (line > 0 && line <= original_n) {
            // find the line's current position (after earlier insertions)
            int pos = line - 1;
            for (int k = 0; k < line - 1; k++) pos += shift[k];
            char *nl;
            if (!strcmp(write_key, "iters") && strcmp(key, "iters") == 0 && cfg->epochs > 0)
                nl = xasprintf("%*siters: %s  # %s", indent_of(t.lines[pos]), "", val, comment);
            else if (!strncmp(key, "lr_schedule.arguments[", 22)) {
                const char *lb = strchr(t.lines[pos], '['), *cm = lb ? strpbrk(lb, ",]") : NULL;
                nl = lb && cm ? xasprintf("%.*s[%s%s  # %s", (int)(lb - t.lines[pos]), t.lines[pos], val, cm, comment) : NULL;
            } else
                nl = replace_value(t.lines[pos], val, comment);
            if (nl) {
                free(t.lines[pos]);
                t.lines[pos] = nl;
            } else {
                sb_printf(&appended, "# %s -> %s  (%s)\n", key, val, comment);
            }
        } else {
            const char *dot = strchr(key, '.');
            char *section = dot ? xstrndup(key, (size_t)(dot - key)) : NULL;
            int sline = section ? run_config_line(cfg, section) : 0;
            static const char *const FLAT[][2] = {{"lora_parameters.rank", "lora_rank"}, {"lora_parameters.alpha", "lora_alpha"},
                                                  {"lora_parameters.dropout", "lora_dropout"}};
            const char *flat = NULL;
            for (size_t k = 0; k < 3; k++)
                if (!strcmp(key, FLAT[k][0])) flat = FLAT[k][1];
            if (flat || !dot) {
                sb_printf(&appended, "%s: %s  # %s\n", flat ? flat : key, val, comment);
            } else if (sline > 0 && sline <= original_n) {
                int pos = sline - 1;
                for (int k = 0; k < sline - 1; k++) pos += shift[k];
                int ind = pos + 1 < t.n && indent_of(t.lines[pos + 1]) > indent_of(t.lines[pos]) ? indent_of(t.lines[pos + 1])
                                                                                              : indent_of(t.lines[pos]) + 2;
                tl_insert(&t, pos + 1, xasprintf("%*s%s: %s  # %s", ind, "", dot + 1, val, comment));
                shift[sline - 1]++;
            } else {
                sb_printf(&appended, "%s:\n  %s: %s  # %s\n", section, dot + 1, val, comment);
            }
            free(section);
        }
        free(val), free(from), free(comment);
    }
    strbuf out;
    sb_init(&out);
    sb_printf(&out, "# %s — written by lorac run from %s: %d change%s, each marked 'lorac run:'.\n", name,
              cfg->config ? cfg->config : "flags", n_changes, n_changes == 1 ? "" : "s");
    sb_printf(&out, "# The evidence for each is in %s/report.md.\n", c->dir);
    for (int k = 0; k < t.n; k++) {
        sb_puts(&out, t.lines[k]);
        sb_putc(&out, '\n');
        free(t.lines[k]);
    }
    if (appended.len) {
        sb_puts(&out, "\n# ---- added by lorac run ----\n");
        sb_puts(&out, appended.buf);
    }
    free(t.lines);
    for (int k = 0; k < orig.n; k++) free(orig.lines[k]);
    free(orig.lines);
    free(shift);
    sb_release(&appended);
    json_decref(done);
    char *p = run_path(c, name);
    int rc = file_write_atomic(p, out.buf, out.len);
    free(p);
    sb_release(&out);
    return rc;
}
