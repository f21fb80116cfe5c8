// report.c — the last stage of `lorac run`: report.md and report.html (the same
// content; the HTML inlines the SVG charts and opens without network access),
// the ranked recommendations, and run-next.yaml. Also test.md (base and tuned
// answers side by side) for the test stage.
//
// Sections: config, preflight, data audit, training (loss curves), evaluation
// (pass/fail), before/after answers, recommendations.
#include "run_internal.h"

#include "../core/core.h"
#include "../eval/compare.h"
#include "../eval/eval.h"
#include "../eval/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---- one document, two renderings ----
typedef struct {
    strbuf md, html;
} doc;

static void md_text(strbuf *o, const char *s) { // table cells: no pipes or newlines
    for (; *s; s++) {
        if (*s == '|') sb_puts(o, "\\|");
        else if (*s == '\n') sb_putc(o, ' ');
        else sb_putc(o, *s);
    }
}

static void h(doc *d, int level, const char *text) {
    sb_printf(&d->md, "\n%.*s %s\n\n", level, "######", text);
    sb_printf(&d->html, "<h%d>", level);
    svg_escape(&d->html, text);
    sb_printf(&d->html, "</h%d>\n", level);
}

static void para(doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void para(doc *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (!s) return;
    sb_printf(&d->md, "%s\n\n", s);
    sb_puts(&d->html, "<p>");
    svg_escape(&d->html, s);
    sb_puts(&d->html, "</p>\n");
    free(s);
}

// A table: cells of n_cols per row; row 0 is the header.
static void table(doc *d, const char *const *cells, int n_rows, int n_cols) {
    sb_puts(&d->html, "<table>\n");
    for (int r = 0; r < n_rows; r++) {
        sb_puts(&d->md, "|");
        sb_puts(&d->html, "<tr>");
        for (int k = 0; k < n_cols; k++) {
            const char *cell = cells[r * n_cols + k] ? cells[r * n_cols + k] : "";
            sb_putc(&d->md, ' ');
            md_text(&d->md, cell);
            sb_puts(&d->md, " |");
            sb_puts(&d->html, r ? "<td>" : "<th>");
            svg_escape(&d->html, cell);
            sb_puts(&d->html, r ? "</td>" : "</th>");
        }
        sb_puts(&d->md, "\n");
        sb_puts(&d->html, "</tr>\n");
        if (r == 0) {
            sb_puts(&d->md, "|");
            for (int k = 0; k < n_cols; k++) sb_puts(&d->md, "---|");
            sb_puts(&d->md, "\n");
        }
    }
    sb_puts(&d->md, "\n");
    sb_puts(&d->html, "</table>\n");
}

// A block of text shown as written (answers).
static void pre(doc *d, const char *text) {
    sb_puts(&d->md, "```text\n");
    sb_puts(&d->md, text);
    sb_puts(&d->md, "\n```\n\n");
    sb_puts(&d->html, "<pre>");
    svg_escape(&d->html, text);
    sb_puts(&d->html, "</pre>\n");
}

// An SVG chart: its own file (linked from the Markdown), inline in the HTML.
static int figure(doc *d, const run_ctx *c, const char *file, const char *alt, const strbuf *svg) {
    char *p = run_path(c, file);
    int rc = file_write_atomic(p, svg->buf ? svg->buf : "", svg->len);
    free(p);
    sb_printf(&d->md, "![%s](%s)\n\n", alt, file);
    sb_puts(&d->html, "<figure>");
    if (svg->buf) sb_puts(&d->html, svg->buf);
    sb_puts(&d->html, "</figure>\n");
    return rc;
}

// ---- cells ----
static char *cell_num(const json_t *v, const char *fmt) {
    if (json_is_integer(v)) return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_number(v)) return xasprintf(fmt, json_number_value(v));
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_boolean(v)) return xstrdup(json_is_true(v) ? "true" : "false");
    return xstrdup("-");
}

typedef struct {
    char **v;
    int n, cap;
} cells;

static void cadd(cells *c, char *s) { // takes s
    if (c->n == c->cap) c->v = xrealloc(c->v, (size_t)(c->cap = c->cap ? 2 * c->cap : 32) * sizeof *c->v);
    c->v[c->n++] = s;
}

static void cflush(doc *d, cells *c, int n_cols) {
    if (c->n) table(d, (const char *const *)c->v, c->n / n_cols, n_cols);
    for (int i = 0; i < c->n; i++) free(c->v[i]);
    c->n = 0;
}

static void crelease(cells *c) {
    for (int i = 0; i < c->n; i++) free(c->v[i]);
    free(c->v);
}

// ---- sections ----
static void section_config(doc *d, const run_ctx *c, cells *t) {
    const train_config *cfg = c->cfg;
    h(d, 2, "Configuration");
    cadd(t, xstrdup("key")), cadd(t, xstrdup("value")), cadd(t, xstrdup("from"));
    static const char *const keys[] = {"model", "data", "fine_tune_type", "num_layers", "lora_parameters.rank",
                                       "lora_parameters.scale", "lora_parameters.dropout", "learning_rate", "iters",
                                       "epochs", "batch_size", "grad_accumulation_steps", "max_seq_length",
                                       "grad_checkpoint", "mask_prompt", "optimizer", "seed", "matmul_precision"};
    json_t *j = train_config_to_json(cfg);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *v = json_object_get(j, keys[i]);
        if (!strncmp(keys[i], "lora_parameters.", 16)) v = json_object_get(json_object_get(j, "lora_parameters"), keys[i] + 16);
        if (!v || json_is_null(v)) continue;
        cadd(t, xstrdup(keys[i]));
        if (!strcmp(keys[i], "matmul_precision") && !strcmp(json_string_value(v), "auto")) { // what auto chose
            json_t *pf = run_read_json(c, "preflight.json");
            const char *used = json_string_value(json_object_get(json_object_get(pf, "probe"), "matmul_precision"));
            cadd(t, used ? xasprintf("auto: %s", used) : xstrdup("auto"));
            json_decref(pf);
        } else cadd(t, cell_num(v, "%g"));
        if (!strcmp(keys[i], "lora_parameters.scale") && isfinite(cfg->lora_parameters.alpha))
            cadd(t, xasprintf("alpha %g / %srank (%s)", cfg->lora_parameters.alpha, cfg->lora_parameters.use_rslora ? "√" : "",
                              train_config_where(cfg, "lora_parameters.alpha")));
        else cadd(t, xstrdup(train_config_where(cfg, keys[i])));
    }
    json_decref(j);
    const json_t *gen = run_config_json(cfg, "generation");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)gen, k, v) {
        char *dotted = xasprintf("generation.%s", k);
        cadd(t, xstrdup(dotted));
        cadd(t, json_is_object(v) ? json_dumps(v, JSON_COMPACT) : cell_num(v, "%g"));
        cadd(t, run_config_where(cfg, dotted));
        free(dotted);
    }
    cflush(d, t, 3);
}

static void section_preflight(doc *d, const run_ctx *c, cells *t) {
    json_t *pf = run_read_json(c, "preflight.json");
    if (!pf) return;
    h(d, 2, "Preflight");
    cadd(t, xstrdup("check")), cadd(t, xstrdup("result")), cadd(t, xstrdup("detail"));
    size_t i;
    json_t *ck;
    json_array_foreach(json_object_get(pf, "checks"), i, ck) {
        cadd(t, xstrdup(json_string_value(json_object_get(ck, "check"))));
        cadd(t, xstrdup(json_is_true(json_object_get(ck, "ok")) ? "ok" : "FAIL"));
        cadd(t, xstrdup(json_string_value(json_object_get(ck, "detail"))));
    }
    cflush(d, t, 3);
    double est = json_number_value(json_object_get(json_object_get(pf, "estimated_seconds"), "train"));
    const json_t *tr = run_record(c, STAGE_TRAIN);
    if (est > 0 && tr)
    {
        char d1[32], d2[32];
        para(d, "Training was estimated at %s and took %s.", fmt_duration(d1, sizeof d1, est),
             fmt_duration(d2, sizeof d2, json_number_value(json_object_get(tr, "seconds"))));
    }
    json_decref(pf);
}

static void section_audit(doc *d, const run_ctx *c, cells *t) {
    json_t *a = run_read_json(c, "audit.json");
    if (!a) return;
    h(d, 2, "Data audit");
    const json_t *sum = json_object_get(a, "summary");
    para(d, "%lld examples in %s (rules: %s): %.1f%% on topic; value tiers high %lld, medium %lld, low %lld; %lld replacement candidates.",
         (long long)json_integer_value(json_object_get(sum, "total_examples")), json_string_value(json_object_get(a, "data")),
         json_string_value(json_object_get(a, "rules")), 100 * json_number_value(json_object_get(sum, "on_topic_share")),
         (long long)json_integer_value(json_object_get(sum, "high")), (long long)json_integer_value(json_object_get(sum, "medium")),
         (long long)json_integer_value(json_object_get(sum, "low")),
         (long long)json_integer_value(json_object_get(sum, "replacement_candidates")));
    cadd(t, xstrdup("category")), cadd(t, xstrdup("value")), cadd(t, xstrdup("keep")), cadd(t, xstrdup("examples")),
        cadd(t, xstrdup("share"));
    size_t i;
    json_t *cat;
    json_array_foreach(json_object_get(a, "categories"), i, cat) {
        cadd(t, cell_num(json_object_get(cat, "name"), "%g"));
        cadd(t, cell_num(json_object_get(cat, "value"), "%g"));
        cadd(t, cell_num(json_object_get(cat, "keep"), "%g"));
        cadd(t, cell_num(json_object_get(cat, "count"), "%g"));
        cadd(t, xasprintf("%.1f%%", 100 * json_number_value(json_object_get(cat, "share"))));
    }
    cflush(d, t, 5);
    json_decref(a);
}

static void section_training(doc *d, const run_ctx *c, cells *t) {
    h(d, 2, "Training");
    compare_run run;
    if (compare_load_run(&run, c->dir)) {
        para(d, "No training metrics: %s", err_msg());
        err_clear();
        return;
    }
    cadd(t, xstrdup("")), cadd(t, xstrdup("first")), cadd(t, xstrdup("final")), cadd(t, xstrdup("best")),
        cadd(t, xstrdup("best at step"));
    for (int k = 0; k < 2; k++) {
        const double *st = k ? run.val_step : run.train_step, *ls = k ? run.val_loss : run.train_loss;
        int64_t n = k ? run.n_val : run.n_train;
        if (!n) continue;
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (ls[i] < ls[best]) best = i;
        cadd(t, xstrdup(k ? "validation loss" : "training loss"));
        cadd(t, xasprintf("%.3f", ls[0]));
        cadd(t, xasprintf("%.3f", ls[n - 1]));
        cadd(t, xasprintf("%.3f", ls[best]));
        cadd(t, xasprintf("%.0f", st[best]));
    }
    cflush(d, t, 5);
    if (isfinite(run.test_loss)) para(d, "Test loss %.3f (perplexity %.2f).", run.test_loss, exp(run.test_loss));
    strbuf svg;
    sb_init(&svg);
    compare_loss_svg(&svg, &run, 1, "loss");
    figure(d, c, "loss.svg", "training and validation loss", &svg);
    sb_release(&svg);
    compare_run_release(&run);
}

static void section_eval(doc *d, const run_ctx *c, cells *t) {
    json_t *ev = run_read_json(c, "eval.json"), *test = run_read_json(c, "test.json");
    if (ev) {
        h(d, 2, "Evaluation");
        const json_t *st = json_object_get(ev, "statistics");
        para(d, "%lld answers to %s by %s%s%s — %s.", (long long)json_integer_value(json_object_get(st, "examples")),
             json_string_value(json_object_get(ev, "data")) ?: "?", json_string_value(json_object_get(ev, "model")) ?: "?",
             json_is_string(json_object_get(ev, "adapter")) ? " + " : "",
             json_is_string(json_object_get(ev, "adapter")) ? json_string_value(json_object_get(ev, "adapter")) : "",
             json_is_true(json_object_get(ev, "pass")) ? "PASS" : "FAIL");
        cadd(t, xstrdup("metric")), cadd(t, xstrdup("value")), cadd(t, xstrdup("threshold")), cadd(t, xstrdup("check"));
        for (int i = 0; i < eval_n_headlines; i++) {
            const eval_headline *hl = &eval_headlines[i];
            json_t *v = eval_stat_at(st, hl->metric);
            if (!json_is_number(v)) continue;
            char val[32], desc[48];
            const char *status = eval_check_status(st, hl->threshold, desc, sizeof desc);
            eval_format_value(val, sizeof val, v, hl->is_rate);
            cadd(t, xstrdup(hl->label)), cadd(t, xstrdup(val)), cadd(t, xstrdup(desc)), cadd(t, xstrdup(status));
        }
        cflush(d, t, 4);
    }
    // rates as bars: base and tuned on the test prompts, tuned on the eval data
    static const char *const metrics[] = {"loops.rate", "stance.domain_rate", "formatting.well_formatted_rate",
                                          "length_band.in_band_rate"};
    static const char *const labels[] = {"loop", "favour the domain", "well formatted", "in length band"};
    const json_t *src[3] = {test ? json_object_get(test, "base") : NULL, test ? json_object_get(test, "tuned") : NULL, ev};
    const char *names[3] = {"base (test prompts)", "tuned (test prompts)", "tuned (eval data)"};
    double vals[4 * 3];
    int colors[3] = {0, 1, 2};
    for (int m = 0; m < 4; m++)
        for (int s = 0; s < 3; s++) {
            json_t *v = src[s] ? eval_stat_at(json_object_get(src[s], "statistics"), metrics[m]) : NULL;
            vals[m * 3 + s] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    if (ev || test) {
        strbuf svg;
        sb_init(&svg);
        svg_chart ch = {"answers by metric (share)", NULL, "share of answers", 640, 300};
        svg_bar_chart(&svg, &ch, labels, 4, names, colors, 3, vals, 0, 1);
        figure(d, c, "eval.svg", "answer metrics, base vs tuned", &svg);
        sb_release(&svg);
    }
    if (test) {
        h(d, 2, "Before and after: the test prompts");
        para(d, "Base model and fine-tuned model, same prompts, same seeds (all answers in test.md).");
        const json_t *tr = json_object_get(json_object_get(test, "tuned"), "results"), *br = json_object_get(json_object_get(test, "base"), "results");
        for (size_t i = 0; i < json_array_size(tr); i++) {
            const json_t *a = json_array_get(tr, i), *b = json_array_get(br, i);
            h(d, 3, json_string_value(json_object_get(a, "instruction")) ?: "?");
            para(d, "base (%lld characters):", (long long)json_integer_value(json_object_get(b, "response_length")));
            pre(d, json_string_value(json_object_get(b, "response")) ?: "");
            para(d, "tuned (%lld characters%s):", (long long)json_integer_value(json_object_get(a, "response_length")),
                 json_is_true(json_object_get(json_object_get(a, "loops"), "loop")) ? ", LOOPS" : "");
            pre(d, json_string_value(json_object_get(a, "response")) ?: "");
        }
    }
    json_decref(ev), json_decref(test);
}

static void section_recommendations(doc *d, const json_t *recs) {
    h(d, 2, "Recommendations");
    if (!json_array_size(recs)) {
        para(d, "None: no rule found evidence of a problem (loops, stance, rising validation loss, flat training loss, "
                "memory, time). run-next.yaml is this run's config.");
        return;
    }
    para(d, "Most important first. run-next.yaml is this run's config with every change applied and marked.");
    size_t i, j;
    json_t *r, *e;
    json_array_foreach(recs, i, r) {
        char *title = xasprintf("%zu. %s (%s, severity %.2f)", i + 1, json_string_value(json_object_get(r, "title")),
                                json_string_value(json_object_get(r, "rule")), json_number_value(json_object_get(r, "severity")));
        h(d, 3, title);
        free(title);
        json_array_foreach(json_object_get(r, "evidence"), j, e) para(d, "Evidence: %s", json_string_value(e));
        json_array_foreach(json_object_get(r, "changes"), j, e) {
            char *from = cell_num(json_object_get(e, "from"), "%g"), *to = cell_num(json_object_get(e, "to"), "%g");
            para(d, "Change: %s: %s → %s (%s)", json_string_value(json_object_get(e, "key")), from, to,
                 json_string_value(json_object_get(e, "why")));
            free(from), free(to);
        }
    }
}

// ---- the stage ----
static const char HTML_HEAD[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lorac run report</title>\n"
    "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}pre{white-space:pre-wrap;background:#f7f7f7;border:1px solid #ddd;padding:.6em}"
    "figure{margin:1em 0}</style></head><body>\n";

static int write_doc(const run_ctx *c, doc *d, const char *md_name, const char *html_name) {
    char *mp = run_path(c, md_name), *hp = run_path(c, html_name);
    sb_puts(&d->html, "</body></html>\n");
    int rc = file_write_atomic(mp, d->md.buf, d->md.len) || file_write_atomic(hp, d->html.buf, d->html.len) ? -1 : 0;
    free(mp), free(hp);
    return rc;
}

int stage_report(run_ctx *c) {
    doc d;
    sb_init(&d.md), sb_init(&d.html);
    sb_puts(&d.html, HTML_HEAD);
    cells t = {0};
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    char *title = xasprintf("lorac run: %s", c->cfg->config ? c->cfg->config : c->dir);
    sb_printf(&d.md, "# %s\n\n", title);
    sb_puts(&d.html, "<h1>");
    svg_escape(&d.html, title);
    sb_puts(&d.html, "</h1>\n");
    free(title);
    para(&d, "Run directory %s, written %s by lorac %s.", c->dir, when, LORAC_VERSION);
    json_t *recs = decide(c);
    section_config(&d, c, &t);
    section_preflight(&d, c, &t);
    section_audit(&d, c, &t);
    section_training(&d, c, &t);
    section_eval(&d, c, &t);
    section_recommendations(&d, recs);
    int rc = write_doc(c, &d, "report.md", "report.html");
    if (rc == 0) rc = decide_write_next(c, recs, "run-next.yaml");
    if (rc == 0) {
        fprintf(stderr, "\n");
        decide_print(stderr, recs);
    }
    json_decref(recs);
    crelease(&t);
    sb_release(&d.md), sb_release(&d.html);
    return rc;
}

int test_markdown(const run_ctx *c, const json_t *test) {
    doc d;
    sb_init(&d.md), sb_init(&d.html);
    sb_puts(&d.md, "# Test prompts: base and fine-tuned\n\n");
    const json_t *tuned = json_object_get(test, "tuned"), *base = json_object_get(test, "base");
    const json_t *p = json_object_get(tuned, "params");
    strbuf ps;
    sb_init(&ps);
    static const char *const keys[] = {"temp", "top_p", "top_k", "min_p", "repetition_penalty", "repetition_context_size",
                                       "presence_penalty", "frequency_penalty", "max_tokens", "seed"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *v = json_object_get(p, keys[i]);
        if (json_is_number(v)) sb_printf(&ps, "%s%s %.6g", ps.len ? ", " : "", keys[i], json_number_value(v));
    }
    para(&d, "Base: %s. Tuned: %s%s%s. Sampling: %s (answer i: seed + i).", json_string_value(json_object_get(base, "model")) ?: "?",
         json_string_value(json_object_get(tuned, "model")) ?: "?", json_is_string(json_object_get(tuned, "adapter")) ? " + " : "",
         json_is_string(json_object_get(tuned, "adapter")) ? json_string_value(json_object_get(tuned, "adapter")) : "",
         ps.buf ? ps.buf : "");
    sb_release(&ps);
    const json_t *tr = json_object_get(tuned, "results"), *br = json_object_get(base, "results");
    for (size_t i = 0; i < json_array_size(tr); i++) {
        const json_t *a = json_array_get(tr, i), *b = json_array_get(br, i);
        sb_printf(&d.md, "## %zu. %s\n\n", i + 1, json_string_value(json_object_get(a, "instruction")) ?: "?");
        for (int k = 0; k < 2; k++) {
            const json_t *r = k ? a : b;
            const json_t *st = json_object_get(r, "stance");
            sb_printf(&d.md, "**%s** — %lld characters, formatting %lld/3, stance %s%s%s:\n\n", k ? "tuned" : "base",
                      (long long)json_integer_value(json_object_get(r, "response_length")),
                      (long long)json_integer_value(json_object_get(r, "formatting_score")),
                      json_string_value(json_object_get(st, "label")) ?: "-",
                      json_is_true(json_object_get(json_object_get(r, "loops"), "loop")) ? ", LOOPS" : "",
                      json_is_true(json_object_get(r, "truncated")) ? ", cut at max_tokens" : "");
            pre(&d, json_string_value(json_object_get(r, "response")) ?: "");
        }
    }
    char *mp = run_path(c, "test.md");
    int rc = file_write_atomic(mp, d.md.buf, d.md.len);
    free(mp);
    sb_release(&d.md), sb_release(&d.html);
    return rc;
}
