// compare.c — load runs (adapter dirs, `lorac run` dirs, results files), build
// one comparison table, and render it as Markdown and as an HTML page with SVG
// charts. The table is built once and rendered twice, so both say the same.
#include "compare.h"

#include "svg.h"

#include "../io/jsonl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---- loading ----
static void push(double **s, double **v, int64_t *n, double step, double val) {
    // a resumed run appends to metrics.jsonl: a step at or before the last one
    // replaces the points it repeats
    while (*n > 0 && (*s)[*n - 1] >= step) (*n)--;
    *s = xrealloc(*s, (size_t)(*n + 1) * sizeof **s);
    *v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*s)[*n] = step, (*v)[*n] = val, (*n)++;
}

typedef struct {
    compare_run *r;
    const char *path;
} metrics_ctx;

static int metrics_line(void *ctx, json_t *o, int64_t line) {
    metrics_ctx *c = ctx;
    compare_run *r = c->r;
    json_t *step = json_object_get(o, "step");
    if (!json_is_object(o) || !json_is_number(step))
        return err_set("%s:%lld: expected an object with a numeric 'step' (a lorac lora metrics line)", c->path, (long long)line);
    double s = json_number_value(step);
    json_t *tl = json_object_get(o, "train_loss"), *vl = json_object_get(o, "val_loss"), *te = json_object_get(o, "test_loss");
    if (json_is_number(tl)) push(&r->train_step, &r->train_loss, &r->n_train, s, json_number_value(tl));
    if (json_is_number(vl)) push(&r->val_step, &r->val_loss, &r->n_val, s, json_number_value(vl));
    if (json_is_number(te)) r->test_loss = json_number_value(te);
    return 0;
}

static int load_metrics(compare_run *r, const char *path) {
    metrics_ctx c = {r, path};
    return jsonl_read(path, metrics_line, &c);
}

static json_t *load_json(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) err_set("%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(j)) {
        err_set("%s: expected a JSON object", path);
        json_decref(j);
        j = NULL;
    }
    return j;
}

static char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    char *b = xstrndup(path + s, n - s);
    size_t bl = strlen(b);
    if (bl > 5 && strcmp(b + bl - 5, ".json") == 0) b[bl - 5] = 0;
    return b;
}

static int load_eval(compare_run *r, const char *path) {
    if (!(r->eval = load_json(path))) return -1;
    if (!json_is_object(json_object_get(r->eval, "statistics")))
        return err_set("%s: no 'statistics' object (expected a lorac eval results file)", path);
    r->eval_path = xstrdup(path);
    return 0;
}

int compare_load_run(compare_run *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->test_loss = NAN;
    r->path = xstrdup(path);
    r->name = base_name(path);
    int rc = 0;
    if (!dir_exists(path)) {
        if (!file_exists(path)) rc = err_set("%s: no such run directory or results file", path);
        else rc = load_eval(r, path);
    } else {
        char *cand[2] = {xstrdup(path), path_join(path, "adapters")};
        for (int i = 0; i < 2 && !r->train_dir; i++) {
            char *cfg = path_join(cand[i], "adapter_config.json"), *met = path_join(cand[i], "metrics.jsonl");
            if (file_exists(cfg) || file_exists(met)) r->train_dir = xstrdup(cand[i]);
            free(cfg);
            free(met);
        }
        free(cand[0]);
        free(cand[1]);
        char *ev = path_join(path, "eval.json");
        if (r->train_dir) {
            char *cfg = path_join(r->train_dir, "adapter_config.json"), *met = path_join(r->train_dir, "metrics.jsonl");
            if (file_exists(cfg) && !(r->config = load_json(cfg))) rc = -1;
            if (rc == 0 && file_exists(met)) rc = load_metrics(r, met);
            free(cfg);
            free(met);
        }
        if (rc == 0 && file_exists(ev)) rc = load_eval(r, ev);
        if (rc == 0 && !r->train_dir && !r->eval)
            rc = err_set("%s: not a run: no adapter_config.json or metrics.jsonl (in it or in adapters/) and no eval.json", path);
        free(ev);
    }
    if (rc) compare_run_release(r);
    return rc;
}

void compare_run_release(compare_run *r) {
    if (!r) return;
    free(r->name);
    free(r->path);
    free(r->train_dir);
    free(r->eval_path);
    json_decref(r->config);
    json_decref(r->eval);
    free(r->train_step);
    free(r->train_loss);
    free(r->val_step);
    free(r->val_loss);
    memset(r, 0, sizeof *r);
}

// ---- the table ----
typedef struct {
    char *label;
    char **cell;   // (cols)
    char **status; // (cols): "pass", "FAIL" or NULL
    int section;   // a section heading row (label only)
} trow;

typedef struct {
    trow **rows; // stable pointers: rows are filled after later rows are added
    int n, cols;
} table;

static trow *add_row(table *t, const char *label, int section) {
    t->rows = xrealloc(t->rows, (size_t)(t->n + 1) * sizeof *t->rows);
    trow *r = t->rows[t->n++] = xmalloc(sizeof *r);
    r->label = xstrdup(label);
    r->cell = xcalloc((size_t)t->cols, sizeof *r->cell);
    r->status = xcalloc((size_t)t->cols, sizeof *r->status);
    r->section = section;
    return r;
}

static void row_free(trow *r, int cols) {
    for (int c = 0; c < cols; c++) free(r->cell[c]);
    free(r->label);
    free(r->cell);
    free(r->status);
    free(r);
}

static void table_release(table *t) {
    for (int i = 0; i < t->n; i++) row_free(t->rows[i], t->cols);
    free(t->rows);
}

// Flatten nested objects to dotted keys; other values as compact JSON (strings bare).
static void flatten(json_t *dst, const char *prefix, const json_t *o) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        char *key = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
        if (json_is_object(v) && json_object_size(v)) flatten(dst, key, v);
        else if (json_is_string(v)) json_object_set_new(dst, key, json_string(json_string_value(v)));
        else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
            json_object_set_new(dst, key, json_string(s ? s : "?"));
            free(s);
        }
        free(key);
    }
}

static json_t *run_settings(const compare_run *r) {
    json_t *o = json_object();
    if (r->config) flatten(o, "", r->config);
    if (r->eval) {
        json_t *e = json_object();
        json_t *p = json_object_get(r->eval, "params");
        if (json_is_object(p)) json_object_set(e, "params", p);
        static const char *const keys[] = {"model", "adapter", "data"};
        for (int i = 0; i < 3; i++)
            if (json_is_string(json_object_get(r->eval, keys[i]))) json_object_set(e, keys[i], json_object_get(r->eval, keys[i]));
        json_t *rn = json_object_get(json_object_get(r->eval, "rules"), "name");
        if (rn) json_object_set(e, "rules", rn);
        flatten(o, "eval", e);
        json_decref(e);
    }
    return o;
}

// Keys always shown (for context), then every other key whose value differs.
static const char *const key_settings[] = {"model", "data", "fine_tune_type", "num_layers", "lora_parameters.rank",
                                           "lora_parameters.scale", "learning_rate", "iters", "batch_size",
                                           "grad_accumulation_steps", "max_seq_length", NULL};
static int ignored_setting(const char *k) {
    return !strcmp(k, "adapter_path") || !strcmp(k, "config") || !strcmp(k, "eval.params.seeds");
}

static void add_settings(table *t, compare_run *runs, int n) {
    json_t **set = xcalloc((size_t)n, sizeof *set), *keys = json_object();
    for (int i = 0; i < n; i++) {
        set[i] = run_settings(&runs[i]);
        const char *k;
        json_t *v;
        json_object_foreach(set[i], k, v) json_object_set_new(keys, k, json_true());
    }
    add_row(t, "configuration", 1);
    int shown = 0, nkey = 0;
    while (key_settings[nkey]) nkey++;
    // the main settings in their fixed order, then every other key in file order
    const char **order = xmalloc((json_object_size(keys) + (size_t)nkey) * sizeof *order);
    int no = 0;
    for (int j = 0; j < nkey; j++)
        if (json_object_get(keys, key_settings[j])) order[no++] = key_settings[j];
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v) {
        int key = 0;
        for (int j = 0; j < nkey; j++) key |= strcmp(k, key_settings[j]) == 0;
        if (!key && !ignored_setting(k)) order[no++] = k;
    }
    for (int o = 0; o < no; o++) {
        k = order[o];
        int key = 0, is_eval = strncmp(k, "eval.", 5) == 0;
        for (int j = 0; j < nkey; j++) key |= strcmp(k, key_settings[j]) == 0;
        // compared among the runs that have that kind of settings (a results file has no training config)
        int differs = 0, seen = 0;
        const char *first = NULL;
        for (int i = 0; i < n; i++) {
            if (is_eval ? !runs[i].eval : !runs[i].config) continue;
            const char *s = json_string_value(json_object_get(set[i], k));
            if (seen++ == 0) first = s;
            else differs |= (s == NULL) != (first == NULL) || (s && first && strcmp(s, first));
        }
        if (!key && !differs) continue;
        trow *r = add_row(t, k, 0);
        for (int i = 0; i < n; i++) {
            const char *s = json_string_value(json_object_get(set[i], k));
            r->cell[i] = xstrdup(s ? s : "-");
        }
        shown++;
    }
    free(order);
    if (!shown) {
        trow *r = add_row(t, "(no configuration found)", 0);
        for (int i = 0; i < n; i++) r->cell[i] = xstrdup("-");
    }
    for (int i = 0; i < n; i++) json_decref(set[i]);
    free(set);
    json_decref(keys);
}

static void best_of(const double *s, const double *v, int64_t n, double *best, double *at) {
    *best = NAN, *at = NAN;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i]) && !(v[i] >= *best)) *best = v[i], *at = s[i];
}

static char *loss_cell(double v, double step) {
    return isfinite(v) ? xasprintf("%.4f (step %.0f)", v, step) : xstrdup("-");
}

// Relative rise of the last validation loss over the best; NAN without validation.
static double val_rise(const compare_run *r) {
    double best, at;
    best_of(r->val_step, r->val_loss, r->n_val, &best, &at);
    if (!r->n_val || !isfinite(best) || best <= 0) return NAN;
    return (r->val_loss[r->n_val - 1] - best) / best;
}

static void add_losses(table *t, compare_run *runs, int n, const eval_rules *rules) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= runs[i].n_train || runs[i].n_val || isfinite(runs[i].test_loss);
    if (!any) return;
    add_row(t, "loss", 1);
    trow *ft = add_row(t, "train loss, final", 0), *bt = add_row(t, "train loss, best", 0);
    trow *fv = add_row(t, "val loss, final", 0), *bv = add_row(t, "val loss, best", 0);
    char label[96];
    snprintf(label, sizeof label, "val loss rise, final over best (check <= %g%%)", 100 * rules->max_val_loss_rise);
    trow *rise = add_row(t, isnan(rules->max_val_loss_rise) ? "val loss rise, final over best" : label, 0);
    trow *te = add_row(t, "test loss", 0);
    for (int i = 0; i < n; i++) {
        compare_run *r = &runs[i];
        double b, at;
        ft->cell[i] = r->n_train ? loss_cell(r->train_loss[r->n_train - 1], r->train_step[r->n_train - 1]) : xstrdup("-");
        best_of(r->train_step, r->train_loss, r->n_train, &b, &at);
        bt->cell[i] = loss_cell(b, at);
        fv->cell[i] = r->n_val ? loss_cell(r->val_loss[r->n_val - 1], r->val_step[r->n_val - 1]) : xstrdup("-");
        best_of(r->val_step, r->val_loss, r->n_val, &b, &at);
        bv->cell[i] = loss_cell(b, at);
        double x = val_rise(r);
        rise->cell[i] = isfinite(x) ? xasprintf("%+.1f%%", 100 * x) : xstrdup("-");
        if (isfinite(x) && !isnan(rules->max_val_loss_rise)) rise->status[i] = x <= rules->max_val_loss_rise + 1e-12 ? "pass" : "FAIL";
        te->cell[i] = isfinite(r->test_loss) ? xasprintf("%.4f", r->test_loss) : xstrdup("-");
    }
}

static void add_eval(table *t, compare_run *runs, int n) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= runs[i].eval != NULL;
    if (!any) return;
    add_row(t, "eval", 1);
    trow *ex = add_row(t, "examples", 0);
    for (int i = 0; i < n; i++) {
        json_t *st = json_object_get(runs[i].eval, "statistics");
        ex->cell[i] = st ? xasprintf("%lld", (long long)json_integer_value(json_object_get(st, "examples"))) : xstrdup("-");
    }
    for (int h = 0; h < eval_n_headlines; h++) {
        const eval_headline *hl = &eval_headlines[h];
        int present = 0;
        for (int i = 0; i < n; i++) present |= json_is_number(eval_stat_at(json_object_get(runs[i].eval, "statistics"), hl->metric));
        if (!present) continue;
        char label[128], desc[48] = "";
        for (int i = 0; i < n && !desc[0]; i++) eval_check_status(json_object_get(runs[i].eval, "statistics"), hl->threshold, desc, sizeof desc);
        snprintf(label, sizeof label, "%s%s%s%s", hl->label, desc[0] ? " (check " : "", desc, desc[0] ? ")" : "");
        trow *r = add_row(t, label, 0);
        for (int i = 0; i < n; i++) {
            json_t *st = json_object_get(runs[i].eval, "statistics");
            char b[32];
            eval_format_value(b, sizeof b, eval_stat_at(st, hl->metric), hl->is_rate);
            r->cell[i] = xstrdup(b);
            const char *s = st ? eval_check_status(st, hl->threshold, NULL, 0) : "";
            r->status[i] = !strcmp(s, "pass") ? "pass" : !strcmp(s, "FAIL") ? "FAIL" : NULL;
        }
    }
}

static void add_overall(table *t, compare_run *runs, int n, const eval_rules *rules) {
    trow *r = add_row(t, "overall", 0);
    for (int i = 0; i < n; i++) {
        int checked = 0, ok = 1;
        if (runs[i].eval) checked = 1, ok &= json_is_true(json_object_get(runs[i].eval, "pass"));
        double x = val_rise(&runs[i]);
        if (isfinite(x) && !isnan(rules->max_val_loss_rise)) checked = 1, ok &= x <= rules->max_val_loss_rise + 1e-12;
        r->cell[i] = xstrdup(checked ? (ok ? "PASS" : "FAIL") : "-");
        r->status[i] = checked ? (ok ? "pass" : "FAIL") : NULL;
    }
}

static void build_table(table *t, compare_run *runs, int n, const eval_rules *rules) {
    memset(t, 0, sizeof *t);
    t->cols = n;
    trow *src = add_row(t, "source", 0);
    for (int i = 0; i < n; i++) src->cell[i] = xstrdup(runs[i].path);
    add_settings(t, runs, n);
    add_losses(t, runs, n, rules);
    add_eval(t, runs, n);
    add_overall(t, runs, n, rules);
    // rows no run has a value for say nothing
    int k = 0;
    for (int r = 0; r < t->n; r++) {
        trow *w = t->rows[r];
        int empty = !w->section;
        for (int i = 0; i < n && empty; i++) empty = !w->cell[i] || !strcmp(w->cell[i], "-");
        if (empty) row_free(w, n);
        else t->rows[k++] = w;
    }
    t->n = k;
}

// ---- Markdown ----
static void md_cell(strbuf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|') sb_puts(out, "\\|");
        else if (*s == '\n') sb_putc(out, ' ');
        else sb_putc(out, *s);
    }
}

static void render_markdown(strbuf *out, const table *t, compare_run *runs, const char *title) {
    sb_printf(out, "# %s\n\n|  |", title);
    for (int i = 0; i < t->cols; i++) {
        sb_putc(out, ' ');
        md_cell(out, runs[i].name);
        sb_puts(out, " |");
    }
    sb_puts(out, "\n|---|");
    for (int i = 0; i < t->cols; i++) sb_puts(out, "---|");
    sb_putc(out, '\n');
    for (int r = 0; r < t->n; r++) {
        const trow *w = t->rows[r];
        if (w->section) {
            sb_printf(out, "| **%s** |", w->label);
            for (int i = 0; i < t->cols; i++) sb_puts(out, " |");
            sb_putc(out, '\n');
            continue;
        }
        sb_puts(out, "| ");
        md_cell(out, w->label);
        sb_puts(out, " |");
        for (int i = 0; i < t->cols; i++) {
            sb_putc(out, ' ');
            md_cell(out, w->cell[i] ? w->cell[i] : "-");
            if (w->status[i] && strcmp(w->cell[i], "PASS") && strcmp(w->cell[i], "FAIL"))
                sb_printf(out, " %s", !strcmp(w->status[i], "FAIL") ? "**FAIL**" : "pass");
            sb_puts(out, " |");
        }
        sb_putc(out, '\n');
    }
}

// ---- HTML ----
void compare_loss_svg(strbuf *svg, const compare_run *runs, int n, const char *title) {
    svg_series *s = xcalloc((size_t)(2 * n + 1), sizeof *s);
    char **names = xcalloc((size_t)(2 * n + 1), sizeof *names);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (runs[i].n_train) {
            names[k] = xasprintf("%s train", runs[i].name);
            s[k] = (svg_series){names[k], runs[i].train_step, runs[i].train_loss, runs[i].n_train, i, 0};
            k++;
        }
        if (runs[i].n_val) {
            names[k] = xasprintf("%s validation", runs[i].name);
            s[k] = (svg_series){names[k], runs[i].val_step, runs[i].val_loss, runs[i].n_val, i, 1};
            k++;
        }
    }
    svg_chart c = {title, "step", "loss", 760, 380};
    svg_line_chart(svg, &c, s, k);
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
    free(s);
}

static const char *const bar_metrics[][2] = {
    {"loops.rate", "loops"},
    {"stance.domain_rate", "favour domain"},
    {"formatting.well_formatted_rate", "well formatted"},
    {"length_band.in_band_rate", "in length band"},
    {"truncated.rate", "truncated"},
    {"expected.rate", "expected found"},
};

static void eval_bars(strbuf *out, compare_run *runs, int n) {
    const char *series[256], *groups[8], *lgroups[3] = {"mean", "median", "max"};
    int colors[256];
    double *vals = xcalloc((size_t)(8 * n + 1), sizeof *vals), *lvals = xcalloc((size_t)(3 * n + 1), sizeof *lvals);
    int ns = 0, ng = 0;
    for (int i = 0; i < n && ns < 256; i++)
        if (runs[i].eval) colors[ns] = i, series[ns++] = runs[i].name;
    for (size_t m = 0; m < sizeof bar_metrics / sizeof bar_metrics[0]; m++) {
        int present = 0;
        for (int i = 0, k = 0; i < n && k < ns; i++) {
            if (!runs[i].eval) continue;
            json_t *v = eval_stat_at(json_object_get(runs[i].eval, "statistics"), bar_metrics[m][0]);
            vals[ng * ns + k] = json_is_number(v) ? 100 * json_number_value(v) : NAN;
            present |= json_is_number(v);
            k++;
        }
        if (present) groups[ng++] = bar_metrics[m][1];
    }
    for (int i = 0, k = 0; i < n && k < ns; i++) {
        if (!runs[i].eval) continue;
        json_t *st = json_object_get(runs[i].eval, "statistics");
        lvals[0 * ns + k] = json_number_value(eval_stat_at(st, "response_length.mean"));
        lvals[1 * ns + k] = json_number_value(eval_stat_at(st, "response_length.median"));
        lvals[2 * ns + k] = json_number_value(eval_stat_at(st, "response_length.max"));
        if (!json_is_number(eval_stat_at(st, "response_length.mean"))) lvals[k] = lvals[ns + k] = lvals[2 * ns + k] = NAN;
        k++;
    }
    svg_chart c = {"Eval: rates (%)", NULL, "% of answers", 760, 340};
    svg_bar_chart(out, &c, groups, ng, series, colors, ns, vals, 0, 100);
    sb_puts(out, "\n");
    svg_chart lc = {"Eval: answer length (characters)", NULL, "characters", 760, 300};
    svg_bar_chart(out, &lc, lgroups, 3, series, colors, ns, lvals, NAN, NAN);
    free(vals);
    free(lvals);
}

static void html_text(strbuf *out, const char *s) { svg_escape(out, s); }

static void render_html(strbuf *out, const table *t, compare_run *runs, int n, const char *title) {
    char created[40];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    sb_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    html_text(out, title);
    sb_puts(out, "</title>\n<style>\n"
                 "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}\n"
                 "table{border-collapse:collapse;font-size:13px}\n"
                 "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\n"
                 "tr.section th{background:#f0f0f0}\n"
                 "td.pass{background:#e6f4ea}\ntd.fail{background:#fce8e6;font-weight:bold}\n"
                 "figure{margin:16px 0}\n.note{color:#666;font-size:12px}\n"
                 "</style>\n</head>\n<body>\n<h1>");
    html_text(out, title);
    sb_printf(out, "</h1>\n<p class=\"note\">lorac %s, %s; %d run%s</p>\n", LORAC_VERSION, created, n, n == 1 ? "" : "s");
    sb_puts(out, "<h2>Loss</h2>\n<figure id=\"loss\">\n");
    compare_loss_svg(out, runs, n, "Training (solid) and validation (dashed) loss");
    sb_puts(out, "</figure>\n");
    int any_eval = 0;
    for (int i = 0; i < n; i++) any_eval |= runs[i].eval != NULL;
    if (any_eval) {
        sb_puts(out, "<h2>Eval</h2>\n<figure id=\"eval\">\n");
        eval_bars(out, runs, n);
        sb_puts(out, "</figure>\n");
    }
    sb_puts(out, "<h2>Comparison</h2>\n<table>\n<tr><th></th>");
    for (int i = 0; i < n; i++) {
        sb_puts(out, "<th>");
        html_text(out, runs[i].name);
        sb_puts(out, "</th>");
    }
    sb_puts(out, "</tr>\n");
    for (int r = 0; r < t->n; r++) {
        const trow *w = t->rows[r];
        if (w->section) {
            sb_printf(out, "<tr class=\"section\"><th colspan=\"%d\">", n + 1);
            html_text(out, w->label);
            sb_puts(out, "</th></tr>\n");
            continue;
        }
        sb_puts(out, "<tr><th>");
        html_text(out, w->label);
        sb_puts(out, "</th>");
        for (int i = 0; i < n; i++) {
            const char *st = w->status[i];
            sb_printf(out, "<td%s>", st ? (!strcmp(st, "FAIL") ? " class=\"fail\"" : " class=\"pass\"") : "");
            html_text(out, w->cell[i] ? w->cell[i] : "-");
            sb_puts(out, "</td>");
        }
        sb_puts(out, "</tr>\n");
    }
    sb_puts(out, "</table>\n</body>\n</html>\n");
}

// ---- entry point ----
void compare_runs(compare_run *runs, int n, const eval_rules *rules, const char *title, strbuf *markdown, strbuf *html) {
    // unique display names: the path when two runs share a name
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && strcmp(runs[i].name, runs[j].name) == 0 && strcmp(runs[i].name, runs[i].path) != 0) {
                free(runs[i].name);
                runs[i].name = xstrdup(runs[i].path);
                j = -1;
            }
    table t;
    build_table(&t, runs, n, rules);
    if (markdown) render_markdown(markdown, &t, runs, title);
    if (html) render_html(html, &t, runs, n, title);
    table_release(&t);
}
