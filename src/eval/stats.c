// stats.c — aggregates over the per-example results (mean/median/min/max/std,
// rates, per category) and the pass/fail checks against the rules' thresholds.
// Statistics are a function of results[] and the rules only, so a results file
// can be re-aggregated (lorac eval --responses results.json) under other rules.
#include "eval_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- summary statistics ----
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

json_t *eval_summary_stats(const double *v, int64_t n) {
    double *s = xmalloc((size_t)(n + 1) * sizeof *s);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) s[k++] = v[i];
    json_t *o = json_pack("{s:I}", "n", (json_int_t)k);
    if (k) {
        qsort(s, (size_t)k, sizeof *s, cmp_double);
        double sum = 0, ss = 0;
        for (int64_t i = 0; i < k; i++) sum += s[i];
        double mean = sum / (double)k;
        for (int64_t i = 0; i < k; i++) ss += (s[i] - mean) * (s[i] - mean);
        double median = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
        json_object_set_new(o, "mean", json_real(mean));
        json_object_set_new(o, "median", json_real(median));
        json_object_set_new(o, "min", json_real(s[0]));
        json_object_set_new(o, "max", json_real(s[k - 1]));
        json_object_set_new(o, "std", json_real(sqrt(ss / (double)k)));
    }
    free(s);
    return o;
}

// ---- reading results ----
static json_t *at(const json_t *o, const char *path) { return eval_stat_at(o, path); }

static double num_at(const json_t *o, const char *path) {
    json_t *v = at(o, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

// 1 true, 0 false, -1 absent
static int bool_at(const json_t *o, const char *path) {
    json_t *v = at(o, path);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

static json_t *rate(int64_t k, int64_t n) { return n ? json_real((double)k / (double)n) : json_null(); }

// Statistics of one numeric field over the results (skipped when no result has
// it); only over those where `when` is not false, when given.
static void add_field_when(json_t *st, const char *name, const json_t *results, const char *path, const char *when) {
    size_t n = json_array_size(results);
    double *v = xmalloc((n + 1) * sizeof *v);
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double x = num_at(json_array_get(results, i), path);
        if (isfinite(x) && !(when && bool_at(json_array_get(results, i), when) == 0)) v[k++] = x;
    }
    if (k) json_object_set_new(st, name, eval_summary_stats(v, k));
    free(v);
}

static void add_field(json_t *st, const char *name, const json_t *results, const char *path) {
    add_field_when(st, name, results, path, NULL);
}

// Rates and counts of the checks over a subset of results (all, or one category).
static json_t *group_stats(const eval_rules *r, const json_t *results, const char *category) {
    json_t *st = json_object(), *sub = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(results, i, e) {
        const char *c = json_string_value(json_object_get(e, "category"));
        if (!category || (c && strcmp(c, category) == 0)) json_array_append(sub, e);
    }
    int64_t n = (int64_t)json_array_size(sub);
    int64_t loops = 0, scored = 0, domain = 0, fcount = 0, wf = 0, bold = 0, list = 0, para = 0, head = 0;
    int64_t in_band = 0, short_ = 0, long_ = 0, trunc_known = 0, trunc = 0, exp_checked = 0, exp_found = 0;
    json_t *labels = json_object();
    json_array_foreach(sub, i, e) {
        loops += bool_at(e, "loops.loop") == 1;
        if (bool_at(e, "stance.counted") == 1) {
            scored++;
            const char *lab = json_string_value(at(e, "stance.label"));
            if (lab) {
                json_int_t c = json_integer_value(json_object_get(labels, lab));
                json_object_set_new(labels, lab, json_integer(c + 1));
                domain += r->side[0] && strcmp(lab, r->side[0]) == 0;
            }
        }
        if (bool_at(e, "formatting.counted") != 0) {
            fcount++;
            wf += bool_at(e, "formatting.well_formatted") == 1;
            bold += bool_at(e, "formatting_checks.has_bold") == 1;
            list += bool_at(e, "formatting_checks.has_lists") == 1;
            para += bool_at(e, "formatting_checks.has_paragraphs") == 1;
            head += bool_at(e, "formatting_checks.has_headings") == 1;
        }
        in_band += bool_at(e, "length.in_band") == 1;
        double chars = num_at(e, "length.chars");
        json_t *band = at(e, "length.band");
        if (json_is_array(band) && isfinite(chars)) {
            short_ += chars < json_number_value(json_array_get(band, 0));
            long_ += chars > json_number_value(json_array_get(band, 1));
        }
        int t = bool_at(e, "truncated");
        if (t >= 0) trunc_known++, trunc += t;
        int f = bool_at(e, "expected.found");
        if (f >= 0) exp_checked++, exp_found += f;
    }
    json_object_set_new(st, "examples", json_integer((json_int_t)n));
    json_object_set_new(st, "loops", json_pack("{s:I,s:o}", "count", (json_int_t)loops, "rate", rate(loops, n)));
    if (r->stance)
        json_object_set_new(st, "stance", json_pack("{s:I,s:s,s:I,s:o,s:o}", "scored", (json_int_t)scored, "domain",
                                                    r->side[0], "domain_count", (json_int_t)domain, "domain_rate",
                                                    rate(domain, scored), "labels", labels));
    else json_decref(labels);
    json_object_set_new(st, "formatting", json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "scored", (json_int_t)fcount,
                                                    "well_formatted_rate", rate(wf, fcount), "bold_rate", rate(bold, fcount),
                                                    "list_rate", rate(list, fcount), "paragraph_rate", rate(para, fcount),
                                                    "heading_rate", rate(head, fcount)));
    json_object_set_new(st, "length_band", json_pack("{s:o,s:I,s:I,s:I}", "in_band_rate", rate(in_band, n), "in_band",
                                                     (json_int_t)in_band, "too_short", (json_int_t)short_, "too_long",
                                                     (json_int_t)long_));
    if (trunc_known)
        json_object_set_new(st, "truncated", json_pack("{s:I,s:o}", "count", (json_int_t)trunc, "rate", rate(trunc, trunc_known)));
    if (exp_checked)
        json_object_set_new(st, "expected", json_pack("{s:I,s:I,s:o}", "checked", (json_int_t)exp_checked, "found",
                                                      (json_int_t)exp_found, "rate", rate(exp_found, exp_checked)));
    add_field(st, "response_length", sub, "length.chars");
    add_field(st, "words", sub, "length.words");
    add_field(st, "tokens", sub, "length.tokens");
    add_field(st, "generated_tokens", sub, "generated_tokens");
    add_field(st, "distinct_1", sub, "loops.distinct_1");
    add_field(st, "distinct_2", sub, "loops.distinct_2");
    add_field(st, "distinct_3", sub, "loops.distinct_3");
    add_field_when(st, "formatting_score", sub, "formatting_score", "formatting.counted");
    if (r->stance) add_field_when(json_object_get(st, "stance"), "score", sub, "stance.score", "stance.counted");
    add_field(st, "rouge_l_f1", sub, "ground_truth.rouge_l.f1");
    add_field(st, "length_ratio", sub, "ground_truth.length_ratio");
    add_field(st, "reference_loss", sub, "ground_truth.reference_loss");
    add_field(st, "tokens_per_sec", sub, "tokens_per_sec");
    json_decref(sub);
    return st;
}

// ---- checks ----
static void add_checks(const eval_rules *r, json_t *st) {
    json_t *checks = json_array();
    int all = 1, any = 0;
    for (int i = 0; i < ev_n_thresholds; i++) {
        const ev_threshold *t = &ev_thresholds[i];
        double th = *(const double *)((const char *)r + t->offset);
        json_t *v = at(st, t->metric);
        if (isnan(th) || strcmp(t->key, "max_val_loss_rise") == 0) continue; // val loss: compare's check
        json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:f}", "name", t->key, "metric", t->metric, "what", t->what, "op",
                              t->at_least ? ">=" : "<=", "threshold", th);
        if (json_is_number(v)) {
            double x = json_number_value(v);
            int pass = t->at_least ? x >= th - 1e-12 : x <= th + 1e-12;
            json_object_set_new(c, "value", json_real(x));
            json_object_set_new(c, "pass", json_boolean(pass));
            all &= pass, any = 1;
        } else {
            json_object_set_new(c, "value", json_null());
            json_object_set_new(c, "pass", json_null()); // nothing to check (e.g. no suite expectations)
        }
        json_array_append_new(checks, c);
    }
    json_object_set_new(st, "checks", checks);
    json_object_set_new(st, "pass", json_boolean(all && any));
}

json_t *eval_statistics(const eval_rules *r, const json_t *results) {
    json_t *st = group_stats(r, results, NULL);
    // reference loss over all target tokens (as lorac perplexity reports it)
    double tot = 0;
    int64_t ntok = 0;
    size_t i;
    json_t *e;
    json_array_foreach(results, i, e) {
        double l = num_at(e, "ground_truth.reference_loss"), t = num_at(e, "ground_truth.reference_tokens");
        if (isfinite(l) && isfinite(t)) tot += l * t, ntok += (int64_t)t;
    }
    if (ntok) {
        json_object_set_new(st, "reference_token_loss", json_real(tot / (double)ntok));
        json_object_set_new(st, "reference_perplexity", json_real(exp(tot / (double)ntok)));
    }
    // per category (prompt suites)
    json_t *cats = json_object();
    json_array_foreach(results, i, e) {
        const char *c = json_string_value(json_object_get(e, "category"));
        if (c && !json_object_get(cats, c)) {
            json_t *g = group_stats(r, results, c);
            json_object_del(g, "tokens_per_sec");
            json_object_set_new(cats, c, g);
        }
    }
    if (json_object_size(cats)) json_object_set_new(st, "by_category", cats);
    else json_decref(cats);
    // the keys the user's evaluation script wrote
    json_object_set(st, "total_examples", json_object_get(st, "examples"));
    json_t *rl = json_object_get(st, "response_length");
    if (json_object_get(rl, "mean")) {
        json_object_set(st, "avg_response_length", json_object_get(rl, "mean"));
        json_object_set(st, "min_response_length", json_object_get(rl, "min"));
        json_object_set(st, "max_response_length", json_object_get(rl, "max"));
    }
    json_t *fs = json_object_get(st, "formatting_score");
    if (json_object_get(fs, "mean")) json_object_set(st, "avg_formatting_score", json_object_get(fs, "mean"));
    add_checks(r, st);
    return st;
}
