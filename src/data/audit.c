// audit.c — lorac audit: every example of a JSONL file assigned to a category by
// the rules, with the terms that decided it; counts, shares, value tiers,
// on-topic share and replacement candidates; the human table.
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 16     // distinct terms kept per category and example
#define CLOSE_CALL 0.8   // runner-up score / winner score that makes a close call

// ---- matching ----
typedef struct {
    uint64_t key;        // hash of the lowercased term
    const char *at;      // first occurrence (in the question or the answer)
    int len;
    int q, a;            // matches in the question and in the answer
    int order;           // first seen: question before answer, then by position
} term_hit;

typedef struct {
    int64_t hq, ha;
    double score;
    int n_terms;
    term_hit terms[MAX_TERMS];
} cat_hits;

static uint64_t term_key(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            space = 1;
            continue;
        }
        if (space) h = (h ^ ' ') * 0x100000001b3ull, space = 0;
        if (ch >= 'A' && ch <= 'Z') ch += 32;
        h = (h ^ ch) * 0x100000001b3ull;
    }
    return h;
}

static void add_term(cat_hits *h, const char *s, size_t n, int in_q) {
    uint64_t k = term_key(s, n);
    for (int i = 0; i < h->n_terms; i++)
        if (h->terms[i].key == k) {
            in_q ? h->terms[i].q++ : h->terms[i].a++;
            return;
        }
    if (h->n_terms == MAX_TERMS) return; // counted in hq/ha, not listed
    h->terms[h->n_terms] = (term_hit){k, s, (int)n, in_q, !in_q, h->n_terms};
    h->n_terms++;
}

static int scan(const rule_category *c, pcre2_match_data *md, const char *text, int in_q, cat_hits *h) {
    size_t len = strlen(text), off = 0;
    while (off < len) {
        // jansson guarantees valid UTF-8, so the per-call UTF check (O(len)) is skipped
        int rc = pcre2_match(c->re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) { // a resource limit: say so rather than count fewer matches
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set("category '%s': matching failed: %s", c->name, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        add_term(h, text + ov[0], ov[1] - ov[0], in_q);
        in_q ? h->hq++ : h->ha++;
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80) off++; // stay on a character boundary
    }
    return 0;
}

// Lowercased term with runs of whitespace as one space.
static json_t *term_json(const term_hit *t) {
    char *s = xmalloc((size_t)t->len + 1);
    int n = 0, space = 0;
    for (int i = 0; i < t->len; i++) {
        char ch = t->at[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            space = 1;
            continue;
        }
        if (space && n) s[n++] = ' ';
        space = 0;
        s[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    s[n] = 0;
    json_t *o = json_pack("{s:s,s:i,s:i}", "term", s, "question", t->q, "answer", t->a);
    free(s);
    return o;
}

static int cmp_terms(const void *x, const void *y) {
    const term_hit *a = x, *b = y;
    int na = a->q + a->a, nb = b->q + b->a;
    if (na != nb) return nb - na;
    return a->order - b->order;
}

// ---- classification ----
int audit_classify(const audit_rules *r, const char *question, const char *answer, audit_result *out) {
    memset(out, 0, sizeof *out);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return err_set("out of memory for PCRE2 match data");
    int n = r->n_cats;
    cat_hits *h = xcalloc((size_t)n, sizeof *h);
    for (int c = 0; c < n; c++) {
        if (scan(&r->cats[c], md, question, 1, &h[c]) || scan(&r->cats[c], md, answer, 0, &h[c])) {
            pcre2_match_data_free(md);
            free(h);
            return -1;
        }
        h[c].score = r->cats[c].q_weight * (double)h[c].hq + r->cats[c].a_weight * (double)h[c].ha;
    }
    pcre2_match_data_free(md);
    int win = -1;
    for (int c = 0; c < n; c++) {
        // a match in the question is never incidental; answer-only evidence needs min_hits
        if ((h[c].hq == 0 && h[c].ha < r->cats[c].min_hits) || h[c].score <= 0) continue;
        if (win < 0 || (r->strategy == STRATEGY_SCORE && h[c].score > h[win].score)) win = c;
        if (r->strategy == STRATEGY_FIRST) break;
    }
    int run = -1;
    for (int c = 0; c < n; c++)
        if (c != win && h[c].hq + h[c].ha > 0 && (run < 0 || h[c].score > h[run].score)) run = c;
    out->category = win < 0 ? n : win;
    out->score = win < 0 ? 0 : h[win].score;
    out->runner_up = run;
    out->runner_up_score = run < 0 ? 0 : h[run].score;
    out->evidence = json_object();
    for (int c = 0; c < n; c++) {
        if (h[c].hq + h[c].ha == 0) continue;
        qsort(h[c].terms, (size_t)h[c].n_terms, sizeof *h[c].terms, cmp_terms);
        json_t *terms = json_array();
        for (int i = 0; i < h[c].n_terms; i++) json_array_append_new(terms, term_json(&h[c].terms[i]));
        json_object_set_new(out->evidence, r->cats[c].name,
                            json_pack("{s:f,s:I,s:I,s:o}", "score", h[c].score, "question_hits", (json_int_t)h[c].hq,
                                      "answer_hits", (json_int_t)h[c].ha, "terms", terms));
    }
    free(h);
    return 0;
}

void audit_result_release(audit_result *res) {
    if (!res) return;
    json_decref(res->evidence);
    memset(res, 0, sizeof *res);
}

// ---- the report ----
static char *resolve_data(const char *data) {
    if (!dir_exists(data)) return xstrdup(data);
    char *p = path_join(data, "train.jsonl");
    if (!file_exists(p)) {
        err_set("%s: a directory without train.jsonl", data);
        err_hint("pass the JSONL file to audit with --data FILE.jsonl");
        free(p);
        return NULL;
    }
    return p;
}

static double share(int64_t n, int64_t total) { return total ? (double)n / (double)total : 0; }

int audit_run(const audit_options *o, json_t **report) {
    *report = NULL;
    char *path = resolve_data(o->data);
    if (!path) return -1;
    dataset ds;
    if (dataset_load(&ds, path)) {
        err_hint("'lorac data check --data %s' lists every problem in the file", path);
        free(path);
        return -1;
    }
    audit_rules *r = audit_rules_load(o->rules);
    if (!r) {
        dataset_release(&ds);
        free(path);
        return -1;
    }
    int64_t N = ds.n;
    int nc = r->n_cats;
    audit_result *res = xcalloc((size_t)N, sizeof *res);
    example_text *txt = xcalloc((size_t)N, sizeof *txt);
    int64_t failed = 0; // the first failing line
    char why[512] = "";
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < N; i++) {
        example_text_init(&txt[i], &ds.recs[i]);
        if (audit_classify(r, txt[i].question, txt[i].answer, &res[i]))
#pragma omp critical(audit_failure)
            if (!failed || ds.recs[i].line < failed) failed = ds.recs[i].line, snprintf(why, sizeof why, "%s", err_msg());
    }
    json_t *rep = NULL;
    if (failed) goto done;
    // counts
    int64_t *count = xcalloc((size_t)nc + 1, sizeof *count), *tier_count = xcalloc((size_t)r->n_tiers, sizeof *tier_count);
    int64_t on_topic = 0, close_calls = 0, groups[3] = {0, 0, 0};
    for (int64_t i = 0; i < N; i++) {
        const rule_category *c = &r->cats[res[i].category];
        count[res[i].category]++;
        tier_count[c->tier]++;
        on_topic += c->on_topic;
        const char *g = r->tier_group[c->tier];
        groups[!strcmp(g, "high") ? 0 : !strcmp(g, "medium") ? 1 : 2]++;
        if (res[i].runner_up >= 0 && res[i].category < nc && res[i].runner_up_score >= CLOSE_CALL * res[i].score)
            close_calls++;
    }
    rep = json_object();
    json_object_set_new(rep, "data", json_string(path));
    json_object_set_new(rep, "rules", json_string(r->source));
    json_object_set_new(rep, "strategy", json_string(r->strategy == STRATEGY_FIRST ? "first" : "score"));
    json_object_set_new(rep, "total_examples", json_integer(N));
    json_t *cats = json_array(), *counts = json_object(), *shares = json_object(), *by_cat = json_object();
    for (int c = 0; c <= nc; c++) {
        const rule_category *rc = &r->cats[c];
        json_array_append_new(cats, json_pack("{s:s,s:s?,s:s,s:s,s:s,s:b,s:I,s:f}", "name", rc->name, "description",
                                              rc->description, "value", r->tiers[rc->tier], "group",
                                              r->tier_group[rc->tier], "keep", keep_names[rc->keep], "on_topic",
                                              rc->on_topic, "count", (json_int_t)count[c], "share", share(count[c], N)));
        json_object_set_new(counts, rc->name, json_integer(count[c]));
        json_object_set_new(shares, rc->name, json_real(share(count[c], N)));
        json_object_set_new(by_cat, rc->name, json_array());
    }
    json_object_set_new(rep, "category_counts", counts);
    json_object_set_new(rep, "category_shares", shares);
    json_object_set_new(rep, "categories", cats);
    json_t *tiers = json_object();
    for (int t = 0; t < r->n_tiers; t++) json_object_set_new(tiers, r->tiers[t], json_integer(tier_count[t]));
    json_object_set_new(rep, "value_counts", tiers);
    json_object_set_new(rep, "value_groups", json_pack("{s:I,s:I,s:I}", "high", (json_int_t)groups[0], "medium",
                                                       (json_int_t)groups[1], "low", (json_int_t)groups[2]));
    json_object_set_new(rep, "on_topic", json_pack("{s:I,s:f}", "count", (json_int_t)on_topic, "share", share(on_topic, N)));
    json_t *cands = json_array(), *examples = json_array();
    for (int64_t i = 0; i < N; i++) {
        const rule_category *c = &r->cats[res[i].category];
        json_int_t line = (json_int_t)ds.recs[i].line;
        const char *q = txt[i].shown;
        if (c->keep == KEEP_REPLACE)
            json_array_append_new(cands, json_pack("{s:I,s:s,s:s,s:s}", "line", line, "category", c->name, "value",
                                                   r->tiers[c->tier], "question", q));
        json_array_append_new(json_object_get(by_cat, c->name), json_pack("{s:I,s:s}", "line", line, "question", q));
        int close = res[i].runner_up >= 0 && res[i].category < nc && res[i].runner_up_score >= CLOSE_CALL * res[i].score;
        json_array_append_new(
            examples, json_pack("{s:I,s:s,s:s,s:s,s:s,s:f,s:s?,s:f,s:b,s:O}", "line", line, "question", q, "category",
                                c->name, "value", r->tiers[c->tier], "keep", keep_names[c->keep], "score", res[i].score,
                                "runner_up", res[i].runner_up >= 0 ? r->cats[res[i].runner_up].name : NULL,
                                "runner_up_score", res[i].runner_up_score, "close_call", close, "evidence",
                                res[i].evidence));
    }
    json_object_set_new(rep, "summary",
                        json_pack("{s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "total_examples", (json_int_t)N, "on_topic_share",
                                  share(on_topic, N), "high", (json_int_t)groups[0], "medium", (json_int_t)groups[1], "low",
                                  (json_int_t)groups[2], "replacement_candidates", (json_int_t)json_array_size(cands),
                                  "uncategorized", (json_int_t)count[nc], "close_calls", (json_int_t)close_calls));
    json_object_set_new(rep, "replacement_candidates", cands);
    json_object_set_new(rep, "examples_by_category", by_cat);
    json_object_set_new(rep, "examples", examples);
    free(count);
    free(tier_count);
done:
    if (failed) err_set("%s:%lld: %s", path, (long long)failed, why);
    for (int64_t i = 0; i < N; i++) audit_result_release(&res[i]), example_text_release(&txt[i]);
    free(res);
    free(txt);
    audit_rules_free(r);
    dataset_release(&ds);
    free(path);
    *report = rep;
    return rep ? 0 : -1;
}

// ---- the human table ----
// The first `width` columns of s (UTF-8 aware), with "..." when cut.
static void put_cut(FILE *f, const char *s, int width) {
    int cols = 0;
    const char *p = s;
    while (*p && cols < width) {
        p++;
        while ((*p & 0xC0) == 0x80) p++;
        cols++;
    }
    if (*p) {
        const char *q = s;
        cols = 0;
        while (*q && cols < width - 3) {
            q++;
            while ((*q & 0xC0) == 0x80) q++;
            cols++;
        }
        fprintf(f, "%.*s...", (int)(q - s), s);
    } else {
        fputs(s, f);
    }
}

static void print_terms(FILE *f, json_t *ev, const char *cat, int max) {
    json_t *terms = json_object_get(json_object_get(ev, cat), "terms");
    size_t i;
    json_t *t;
    json_array_foreach(terms, i, t) {
        if ((int)i == max) {
            fprintf(f, ", ...");
            break;
        }
        int q = (int)json_integer_value(json_object_get(t, "question")), a = (int)json_integer_value(json_object_get(t, "answer"));
        fprintf(f, "%s\"%s\"", i ? ", " : "", json_string_value(json_object_get(t, "term")));
        if (q) fprintf(f, " q%d", q);
        if (a) fprintf(f, " a%d", a);
    }
}

void audit_print(FILE *f, const json_t *rep, int show) {
    int64_t N = json_integer_value(json_object_get(rep, "total_examples"));
    fprintf(f, "audit of %s: %lld examples\nrules: %s; strategy: %s\n\n", json_string_value(json_object_get(rep, "data")),
            (long long)N, json_string_value(json_object_get(rep, "rules")), json_string_value(json_object_get(rep, "strategy")));
    fprintf(f, "%-22s %-11s %-8s %6s %7s\n", "category", "value", "keep", "count", "share");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(rep, "categories"), i, c) {
        fprintf(f, "%-22s %-11s %-8s %6lld %6.1f%%\n", json_string_value(json_object_get(c, "name")),
                json_string_value(json_object_get(c, "value")), json_string_value(json_object_get(c, "keep")),
                (long long)json_integer_value(json_object_get(c, "count")), 100 * json_real_value(json_object_get(c, "share")));
    }
    json_t *vg = json_object_get(rep, "value_groups");
    fprintf(f, "\nvalue tiers:");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rep, "value_counts"), k, v)
        fprintf(f, "  %s %lld", k, (long long)json_integer_value(v));
    fprintf(f, "\ntotals:       high %lld (%.1f%%)  medium %lld (%.1f%%)  low %lld (%.1f%%)\n",
            (long long)json_integer_value(json_object_get(vg, "high")), 100 * share(json_integer_value(json_object_get(vg, "high")), N),
            (long long)json_integer_value(json_object_get(vg, "medium")), 100 * share(json_integer_value(json_object_get(vg, "medium")), N),
            (long long)json_integer_value(json_object_get(vg, "low")), 100 * share(json_integer_value(json_object_get(vg, "low")), N));
    json_t *ot = json_object_get(rep, "on_topic");
    fprintf(f, "on-topic:     %lld of %lld (%.1f%%)\n", (long long)json_integer_value(json_object_get(ot, "count")),
            (long long)N, 100 * json_real_value(json_object_get(ot, "share")));
    json_t *sum = json_object_get(rep, "summary");
    fprintf(f, "close calls:  %lld (the runner-up scored at least %.0f%% of the winner)\n",
            (long long)json_integer_value(json_object_get(sum, "close_calls")), 100 * CLOSE_CALL);
    json_t *cands = json_object_get(rep, "replacement_candidates");
    fprintf(f, "\nreplacement candidates (%zu):\n", json_array_size(cands));
    json_array_foreach(cands, i, c) {
        fprintf(f, "  %5lld  %-18s ", (long long)json_integer_value(json_object_get(c, "line")),
                json_string_value(json_object_get(c, "category")));
        put_cut(f, json_string_value(json_object_get(c, "question")), 70);
        fputc('\n', f);
    }
    if (show <= 0) return;
    fprintf(f, "\nexamples (up to %d per category) and the terms that decided them:\n", show);
    json_t *examples = json_object_get(rep, "examples");
    json_array_foreach(json_object_get(rep, "categories"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        int shown = 0;
        size_t j;
        json_t *e;
        json_array_foreach(examples, j, e) {
            if (shown == show) break;
            if (strcmp(json_string_value(json_object_get(e, "category")), name)) continue;
            if (!shown) fprintf(f, "%s\n", name);
            shown++;
            fprintf(f, "  %5lld  ", (long long)json_integer_value(json_object_get(e, "line")));
            put_cut(f, json_string_value(json_object_get(e, "question")), 80);
            fprintf(f, "\n         score %g: ", json_real_value(json_object_get(e, "score")));
            json_t *ev = json_object_get(e, "evidence");
            if (json_object_get(ev, name)) print_terms(f, ev, name, 5);
            else fprintf(f, "no pattern matched");
            const char *ru = json_string_value(json_object_get(e, "runner_up"));
            if (ru) {
                fprintf(f, "\n         runner-up %s %g: ", ru, json_real_value(json_object_get(e, "runner_up_score")));
                print_terms(f, ev, ru, 3);
            }
            fputc('\n', f);
        }
    }
}
