// check.c — lorac data check: every line of train/valid/test validated (every
// problem, not the first), duplicates within each file and leaks between them,
// and with a model the token lengths after the chat template against
// max_seq_length, with what truncation and prompt masking leave to learn.
#include "data.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THRESHOLD 0.7
#define DEFAULT_MAX_SEQ 2048

// ---- the files ----
typedef struct {
    char *name;      // "train", "valid", "test", or the file's base name
    char *path;
    dataset ds;
    ds_issues issues;
    int64_t lines;
} check_file;

static int64_t count_lines(const char *path) {
    mapped_file mf;
    if (mf_open(&mf, path)) return 0;
    int64_t n = 0;
    for (size_t i = 0; i < mf.size; i++) n += mf.data[i] == '\n';
    if (mf.size && mf.data[mf.size - 1] != '\n') n++;
    mf_release(&mf);
    return n;
}

static int find_files(const char *data, check_file **out, int *n) {
    *out = NULL;
    *n = 0;
    static const char *const split[] = {"train", "valid", "test"};
    if (dir_exists(data)) {
        check_file *f = xcalloc(3, sizeof *f);
        int k = 0;
        for (int i = 0; i < 3; i++) {
            char *name = xasprintf("%s.jsonl", split[i]);
            char *p = path_join(data, name);
            free(name);
            if (file_exists(p)) f[k].name = xstrdup(split[i]), f[k++].path = p;
            else free(p);
        }
        if (!k) {
            free(f);
            return err_set("%s: no train.jsonl, valid.jsonl or test.jsonl", data);
        }
        *out = f, *n = k;
        return 0;
    }
    if (!file_exists(data)) return err_set("%s: no such file or directory", data);
    check_file *f = xcalloc(1, sizeof *f);
    const char *base = strrchr(data, '/');
    f->name = xstrdup(base ? base + 1 : data);
    f->path = xstrdup(data);
    *out = f, *n = 1;
    return 0;
}

// ---- problems ----
static json_t *issue_json(const check_file *f, const ds_issue *x) {
    return json_pack("{s:s,s:I,s:s,s:s}", "file", f->path, "line", (json_int_t)x->line, "kind", x->kind, "message", x->msg);
}

static void add_issue(json_t *list, json_t *counts, const char *file, int64_t line, const char *kind, const char *msg) {
    json_array_append_new(list, json_pack("{s:s,s:I,s:s,s:s}", "file", file, "line", (json_int_t)line, "kind", kind, "message", msg));
    json_object_set_new(counts, kind, json_integer(json_integer_value(json_object_get(counts, kind)) + 1));
}

// ---- token statistics ----
typedef struct {
    int64_t tokens, start;   // full length; index of the first target token (mask_prompt)
    int ok;
} tok_len;

typedef struct {
    int64_t *len;  // sorted lengths
    int64_t n, over, dropped, total, kept, targets, masked_targets, no_targets;
} len_stats;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// Nearest-rank percentile of sorted v.
static int64_t pct(const int64_t *v, int64_t n, double p) {
    if (n == 0) return 0;
    int64_t k = (int64_t)ceil(p / 100.0 * (double)n);
    if (k < 1) k = 1;
    return v[k - 1];
}

static void stats_add(len_stats *s, const tok_len *t, int64_t L, int mask) {
    int64_t kept = t->tokens < L ? t->tokens : L;
    s->len[s->n++] = t->tokens;
    s->total += t->tokens;
    s->kept += kept;
    if (t->tokens > L) s->over++, s->dropped += t->tokens - L;
    int64_t mt = kept - t->start > 0 ? kept - t->start : 0;
    int64_t tt = mask ? mt : (kept > 1 ? kept - 1 : 0);
    s->masked_targets += mt;
    s->targets += tt;
    if (tt == 0) s->no_targets++;
}

static json_t *stats_json(len_stats *s) {
    qsort(s->len, (size_t)s->n, sizeof *s->len, cmp_i64);
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:f,s:I}", "examples", (json_int_t)s->n,
                     "min", (json_int_t)(s->n ? s->len[0] : 0), "median", (json_int_t)pct(s->len, s->n, 50), "p95",
                     (json_int_t)pct(s->len, s->n, 95), "max", (json_int_t)(s->n ? s->len[s->n - 1] : 0), "mean",
                     s->n ? (double)s->total / (double)s->n : 0.0, "total", (json_int_t)s->total, "over_max",
                     (json_int_t)s->over, "tokens_dropped", (json_int_t)s->dropped, "kept_tokens", (json_int_t)s->kept,
                     "target_tokens", (json_int_t)s->targets, "target_share",
                     s->kept ? (double)s->targets / (double)s->kept : 0.0, "masked_target_tokens",
                     (json_int_t)s->masked_targets, "masked_target_share",
                     s->kept ? (double)s->masked_targets / (double)s->kept : 0.0, "no_targets", (json_int_t)s->no_targets);
}

// A bin width of 1, 2 or 5 x 10^k giving at most 12 bins up to max.
static int64_t nice_width(int64_t max) {
    for (int64_t p = 1;; p *= 10)
        for (int m = 0; m < 3; m++) {
            int64_t w = p * (m == 0 ? 1 : m == 1 ? 2 : 5);
            if (max / w < 12) return w;
        }
}

// Tokenize every record with the model's chat template. Each thread has its own
// tokenizer (a tokenizer is single-threaded); the first is g itself.
static void tokenize_all(gen_model *g, const char *spec, check_file *files, int nf, const json_t *extra, tok_len **out,
                         int64_t n_total, char ***errs) {
    tok_len *t = xcalloc((size_t)(n_total ? n_total : 1), sizeof *t);
    char **err = xcalloc((size_t)(n_total ? n_total : 1), sizeof *err);
    const record **recs = xmalloc((size_t)(n_total ? n_total : 1) * sizeof *recs);
    int64_t k = 0;
    for (int f = 0; f < nf; f++)
        for (int64_t i = 0; i < files[f].ds.n; i++) recs[k++] = &files[f].ds.recs[i];
    int nt = omp_get_max_threads();
    if (n_total < 512) nt = 1; // loading a tokenizer per thread costs more than it saves
    gen_model *gm = xcalloc((size_t)nt, sizeof *gm);
    gm[0] = *g;
    int loaded = 1;
    for (; loaded < nt; loaded++)
        if (gen_model_load_text(&gm[loaded], spec)) break;
    nt = loaded;
    err_clear();
#pragma omp parallel num_threads(nt)
    {
        gen_model *mine = &gm[omp_get_thread_num()];
        tok_ids ids;
        tok_ids_init(&ids);
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < n_total; i++) {
            int64_t start = 1;
            if (record_tokenize(mine, recs[i], extra, &ids, &start)) {
                err[i] = xstrdup(err_msg());
                continue;
            }
            t[i] = (tok_len){(int64_t)ids.n, start, 1};
        }
        tok_ids_release(&ids);
    }
    for (int i = 1; i < nt; i++) gen_model_release(&gm[i]);
    free(gm);
    free(recs);
    *out = t;
    *errs = err;
}

// Sort a list of {file, line, ...} objects by the file's position, then line
// (stable: problems on one line keep their order).
typedef struct {
    json_t *v;
    int file;
    int64_t line;
    size_t at;
} sort_item;

static int cmp_item(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->file != y->file) return x->file - y->file;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static json_t *sorted_by_line(json_t *list, const check_file *files, int nf) {
    size_t n = json_array_size(list);
    sort_item *it = xmalloc((n ? n : 1) * sizeof *it);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        const char *p = json_string_value(json_object_get(v, "file"));
        int f = 0;
        while (f < nf && strcmp(files[f].path, p)) f++;
        it[i] = (sort_item){v, f, (int64_t)json_integer_value(json_object_get(v, "line")), i};
    }
    qsort(it, n, sizeof *it, cmp_item);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append(out, it[i].v);
    free(it);
    json_decref(list);
    return out;
}

// ---- the check ----
int data_check_run(const data_check_options *o, json_t **report) {
    *report = NULL;
    double t = o->threshold > 0 ? o->threshold : DEFAULT_THRESHOLD;
    int64_t L = o->max_seq_length > 0 ? o->max_seq_length : DEFAULT_MAX_SEQ;
    if (!(t >= 0.5 && t <= 1)) return err_set("near-duplicate threshold %g: expected a value in [0.5, 1]", t);
    check_file *files;
    int nf;
    if (find_files(o->data, &files, &nf)) return -1;
    int rc = 0;
    for (int f = 0; f < nf && rc == 0; f++) {
        rc = dataset_check(&files[f].ds, files[f].path, &files[f].issues);
        files[f].lines = count_lines(files[f].path);
    }
    gen_model g;
    int have_model = 0;
    if (rc == 0 && o->model) {
        if (gen_model_load_text(&g, o->model)) rc = -1;
        else have_model = 1;
    }
    if (rc) goto fail;
    json_t *rep = json_object(), *errors = json_array(), *warnings = json_array(), *wcounts = json_object(),
           *ecounts = json_object(), *jfiles = json_array();
    json_object_set_new(rep, "data", json_string(o->data));
    // validation problems, file by file
    for (int f = 0; f < nf; f++) {
        check_file *cf = &files[f];
        for (int64_t i = 0; i < cf->issues.n; i++) {
            const ds_issue *x = &cf->issues.v[i];
            json_t *list = x->level == DS_ERROR ? errors : warnings, *counts = x->level == DS_ERROR ? ecounts : wcounts;
            json_array_append_new(list, issue_json(cf, x));
            json_object_set_new(counts, x->kind, json_integer(json_integer_value(json_object_get(counts, x->kind)) + 1));
        }
    }
    // duplicates and leaks
    int64_t n_total = 0;
    for (int f = 0; f < nf; f++) n_total += files[f].ds.n;
    example_text *txt = xcalloc((size_t)(n_total ? n_total : 1), sizeof *txt);
    dup_item *items = xcalloc((size_t)(n_total ? n_total : 1), sizeof *items);
    const record **recs = xmalloc((size_t)(n_total ? n_total : 1) * sizeof *recs);
    int *file_of = xmalloc((size_t)(n_total ? n_total : 1) * sizeof *file_of);
    int64_t k = 0;
    for (int f = 0; f < nf; f++)
        for (int64_t i = 0; i < files[f].ds.n; i++, k++) recs[k] = &files[f].ds.recs[i], file_of[k] = f;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < n_total; i++) {
        example_text_init(&txt[i], recs[i]);
        items[i] = (dup_item){txt[i].question, txt[i].answer, file_of[i]};
    }
    dup_pair *pairs = NULL;
    int64_t np = 0;
    dedupe_find(items, n_total, t, &pairs, &np);
    // one pair per duplicate example (the later one of the pair): a leak before
    // anything else, then exact, near, same question; the earliest partner
    int64_t *best = xmalloc((size_t)(n_total ? n_total : 1) * sizeof *best);
    for (int64_t i = 0; i < n_total; i++) best[i] = -1;
    for (int64_t p = 0; p < np; p++) {
        const dup_pair *d = &pairs[p];
        int64_t cur = best[d->b];
        if (cur < 0) {
            best[d->b] = p;
            continue;
        }
        const dup_pair *c = &pairs[cur];
        int cross_d = file_of[d->a] != file_of[d->b], cross_c = file_of[c->a] != file_of[c->b];
        if (cross_d != cross_c ? cross_d : d->kind != c->kind ? d->kind < c->kind : d->a < c->a) best[d->b] = p;
    }
    json_t *jpairs = json_array(), *leaks = json_array();
    int64_t kinds[3] = {0, 0, 0};
    for (int64_t i = 0; i < n_total; i++) {
        if (best[i] < 0) continue;
        const dup_pair *d = &pairs[best[i]];
        const record *a = recs[d->a], *b = recs[d->b];
        int cross = file_of[d->a] != file_of[d->b];
        json_t *jp = json_pack("{s:s,s:{s:s,s:I},s:{s:s,s:I},s:f,s:f}", "kind", dup_kind_name(d->kind), "a", "file",
                               a->path, "line", (json_int_t)a->line, "b", "file", b->path, "line", (json_int_t)b->line,
                               "question_similarity", d->q_sim, "answer_similarity", d->a_sim);
        const char *what = d->kind == DUP_EXACT  ? "exact duplicate (question and answer)"
                           : d->kind == DUP_NEAR ? "near-duplicate"
                                                 : "same question, different answer";
        char sims[96] = "", *msg;
        if (d->kind != DUP_EXACT)
            snprintf(sims, sizeof sims, " (question similarity %.2f, answer %.2f)", d->q_sim, d->a_sim);
        if (cross)
            msg = xasprintf("%s:%lld: leak: %s of %s:%lld%s", b->path, (long long)b->line, what, a->path,
                            (long long)a->line, sims);
        else
            msg = xasprintf("%s:%lld: %s of line %lld%s", b->path, (long long)b->line, what, (long long)a->line, sims);
        static const char *const wk[] = {"exact_duplicate", "near_duplicate", "same_question"};
        add_issue(warnings, wcounts, b->path, b->line, cross ? "leak" : wk[d->kind], msg);
        free(msg);
        if (cross) json_array_append_new(leaks, jp);
        else json_array_append_new(jpairs, jp), kinds[d->kind]++;
    }
    free(best);
    json_object_set_new(rep, "duplicates", json_pack("{s:f,s:I,s:o}", "threshold", t, "pairs_found", (json_int_t)np, "pairs", jpairs));
    json_object_set_new(rep, "leaks", leaks);
    // token lengths
    int64_t over_all = 0, dropped_all = 0;
    if (have_model) {
        tok_len *tl;
        char **terr;
        tokenize_all(&g, o->model, files, nf, o->template_args, &tl, n_total, &terr);
        len_stats all = {xmalloc((size_t)(n_total ? n_total : 1) * sizeof(int64_t)), 0, 0, 0, 0, 0, 0, 0, 0};
        json_t *jf = json_object();
        strbuf tsv;
        sb_init(&tsv);
        sb_puts(&tsv, "file\tline\ttokens\tkept\tprompt_tokens\ttarget_tokens\ttruncated\n");
        int64_t i0 = 0;
        for (int f = 0; f < nf; f++) {
            len_stats s = {xmalloc((size_t)(files[f].ds.n ? files[f].ds.n : 1) * sizeof(int64_t)), 0, 0, 0, 0, 0, 0, 0, 0};
            for (int64_t i = i0; i < i0 + files[f].ds.n; i++) {
                const record *r = recs[i];
                if (terr[i]) {
                    add_issue(errors, ecounts, r->path, r->line, "template", terr[i]);
                    continue;
                }
                stats_add(&s, &tl[i], L, o->mask_prompt);
                stats_add(&all, &tl[i], L, o->mask_prompt);
                int64_t kept = tl[i].tokens < L ? tl[i].tokens : L;
                int64_t targets = o->mask_prompt ? (kept - tl[i].start > 0 ? kept - tl[i].start : 0) : (kept > 1 ? kept - 1 : 0);
                sb_printf(&tsv, "%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%d\n", r->path, (long long)r->line,
                          (long long)tl[i].tokens, (long long)kept, (long long)tl[i].start, (long long)targets,
                          tl[i].tokens > L);
                if (tl[i].tokens > L) {
                    char *msg = xasprintf("%s:%lld: %lld tokens; max_seq_length %lld cuts the last %lld", r->path,
                                          (long long)r->line, (long long)tl[i].tokens, (long long)L,
                                          (long long)(tl[i].tokens - L));
                    add_issue(warnings, wcounts, r->path, r->line, "too_long", msg);
                    free(msg);
                }
                if (targets == 0) {
                    char *msg = xasprintf("%s:%lld: no target tokens within max_seq_length %lld%s; training skips it",
                                          r->path, (long long)r->line, (long long)L,
                                          o->mask_prompt ? " (the prompt fills it)" : "");
                    add_issue(warnings, wcounts, r->path, r->line, "no_targets", msg);
                    free(msg);
                }
            }
            json_object_set_new(jf, files[f].name, stats_json(&s));
            free(s.len);
            i0 += files[f].ds.n;
        }
        over_all = all.over, dropped_all = all.dropped;
        // histogram over every file
        int64_t mx = 0;
        for (int64_t i = 0; i < all.n; i++) mx = all.len[i] > mx ? all.len[i] : mx;
        json_t *hist = json_array();
        if (all.n) {
            int64_t w = nice_width(mx);
            int64_t nb = mx / w + 1;
            int64_t *cnt = xcalloc((size_t)nb, sizeof *cnt);
            for (int64_t i = 0; i < all.n; i++) cnt[all.len[i] / w]++;
            int64_t b0 = 0;
            while (b0 < nb && cnt[b0] == 0) b0++; // from the first bin with examples
            for (int64_t b = b0; b < nb; b++)
                json_array_append_new(hist, json_pack("{s:I,s:I,s:I}", "from", (json_int_t)(b * w), "to",
                                                      (json_int_t)((b + 1) * w - 1), "count", (json_int_t)cnt[b]));
            free(cnt);
        }
        json_t *jall = stats_json(&all);
        free(all.len);
        json_object_set_new(rep, "tokens", json_pack("{s:s,s:I,s:b,s:o,s:o,s:o}", "model", g.m.src.path, "max_seq_length",
                                                     (json_int_t)L, "mask_prompt", o->mask_prompt, "files", jf, "all",
                                                     jall, "histogram", hist));
        if (o->lengths_tsv && file_write_atomic(o->lengths_tsv, tsv.buf, tsv.len)) rc = -1;
        sb_release(&tsv);
        for (int64_t i = 0; i < n_total; i++) free(terr[i]);
        free(terr);
        free(tl);
    }
    // files, with their own counts
    for (int f = 0; f < nf; f++) {
        check_file *cf = &files[f];
        int64_t ne = 0, nw = 0;
        size_t i;
        json_t *x;
        json_array_foreach(errors, i, x) ne += !strcmp(json_string_value(json_object_get(x, "file")), cf->path);
        json_array_foreach(warnings, i, x) nw += !strcmp(json_string_value(json_object_get(x, "file")), cf->path);
        int64_t fm[3] = {0, 0, 0};
        for (int64_t r = 0; r < cf->ds.n; r++) fm[cf->ds.recs[r].kind]++;
        json_array_append_new(jfiles, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I}}", "name", cf->name, "path",
                                                cf->path, "lines", (json_int_t)cf->lines, "examples", (json_int_t)cf->ds.n,
                                                "errors", (json_int_t)ne, "warnings", (json_int_t)nw, "formats",
                                                "messages", (json_int_t)fm[0], "prompt_completion", (json_int_t)fm[1],
                                                "text", (json_int_t)fm[2]));
    }
    json_object_set_new(rep, "files", jfiles);
    // errors and warnings in file, line order
    errors = sorted_by_line(errors, files, nf);
    warnings = sorted_by_line(warnings, files, nf);
    int64_t ne = (int64_t)json_array_size(errors), nw = (int64_t)json_array_size(warnings);
    json_object_set_new(rep, "errors", errors);
    json_object_set_new(rep, "error_counts", ecounts);
    json_object_set_new(rep, "warnings", warnings);
    json_object_set_new(rep, "warning_counts", wcounts);
    json_object_set_new(rep, "summary",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "examples", (json_int_t)n_total, "errors",
                                  (json_int_t)ne, "warnings", (json_int_t)nw, "exact_duplicates", (json_int_t)kinds[DUP_EXACT],
                                  "near_duplicates", (json_int_t)kinds[DUP_NEAR], "same_questions",
                                  (json_int_t)kinds[DUP_QUESTION], "leaks", (json_int_t)json_array_size(leaks),
                                  "over_max_seq_length", (json_int_t)over_all, "tokens_dropped", (json_int_t)dropped_all,
                                  "ok", ne == 0));
    free(pairs);
    for (int64_t i = 0; i < n_total; i++) example_text_release(&txt[i]);
    free(txt);
    free(items);
    free(recs);
    free(file_of);
    *report = rep;
    if (rc) json_decref(rep), *report = NULL;
fail:
    if (have_model) gen_model_release(&g);
    for (int f = 0; f < nf; f++) {
        dataset_release(&files[f].ds);
        ds_issues_release(&files[f].issues);
        free(files[f].name);
        free(files[f].path);
    }
    free(files);
    return rc;
}

// ---- the human report ----
static int64_t ival(const json_t *o, const char *k) { return (int64_t)json_integer_value(json_object_get(o, k)); }

static void print_list(FILE *f, const char *title, json_t *list, json_t *counts) {
    size_t n = json_array_size(list);
    if (!n) {
        fprintf(f, "%s: none\n", title);
        return;
    }
    fprintf(f, "%s (%zu):", title, n);
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(counts, k, v) {
        fprintf(f, "%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
        first = 0;
    }
    fputc('\n', f);
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) fprintf(f, "  %s\n", json_string_value(json_object_get(x, "message")));
}

void data_check_print(FILE *f, const json_t *rep) {
    fprintf(f, "data check of %s\n", json_string_value(json_object_get(rep, "data")));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(rep, "files"), i, x) {
        json_t *fm = json_object_get(x, "formats");
        fprintf(f, "  %-28s %6lld lines %6lld examples", json_string_value(json_object_get(x, "path")),
                (long long)ival(x, "lines"), (long long)ival(x, "examples"));
        const char *names[] = {"messages", "prompt_completion", "text"};
        for (int k = 0; k < 3; k++)
            if (ival(fm, names[k])) fprintf(f, "  %s %lld", names[k], (long long)ival(fm, names[k]));
        int64_t ne = ival(x, "errors"), nw = ival(x, "warnings");
        fprintf(f, "  | %lld error%s, %lld warning%s\n", (long long)ne, ne == 1 ? "" : "s", (long long)nw, nw == 1 ? "" : "s");
    }
    fputc('\n', f);
    print_list(f, "errors", json_object_get(rep, "errors"), json_object_get(rep, "error_counts"));
    print_list(f, "warnings", json_object_get(rep, "warnings"), json_object_get(rep, "warning_counts"));
    json_t *sum = json_object_get(rep, "summary");
    fprintf(f, "\nduplicates (threshold %.2f): %lld exact, %lld near-duplicate, %lld same question; leaks between files: %lld\n",
            json_real_value(json_object_get(json_object_get(rep, "duplicates"), "threshold")),
            (long long)ival(sum, "exact_duplicates"), (long long)ival(sum, "near_duplicates"),
            (long long)ival(sum, "same_questions"), (long long)ival(sum, "leaks"));
    json_t *tok = json_object_get(rep, "tokens");
    if (tok) {
        int mask = json_is_true(json_object_get(tok, "mask_prompt"));
        fprintf(f, "\ntokens after the chat template (%s; max_seq_length %lld; mask_prompt %s):\n",
                json_string_value(json_object_get(tok, "model")), (long long)ival(tok, "max_seq_length"), mask ? "on" : "off");
        fprintf(f, "  %-12s %8s %6s %7s %6s %6s %9s %8s %8s %8s\n", "file", "examples", "min", "median", "p95", "max",
                "over max", "dropped", "targets", "masked");
        const char *k;
        json_t *s;
        json_t *rows = json_deep_copy(json_object_get(tok, "files"));
        if (json_object_size(rows) > 1) json_object_set(rows, "all", json_object_get(tok, "all"));
        json_object_foreach(rows, k, s) {
            fprintf(f, "  %-12s %8lld %6lld %7lld %6lld %6lld %9lld %8lld %7.1f%% %7.1f%%\n", k, (long long)ival(s, "examples"),
                    (long long)ival(s, "min"), (long long)ival(s, "median"), (long long)ival(s, "p95"),
                    (long long)ival(s, "max"), (long long)ival(s, "over_max"), (long long)ival(s, "tokens_dropped"),
                    100 * json_real_value(json_object_get(s, "target_share")),
                    100 * json_real_value(json_object_get(s, "masked_target_share")));
        }
        json_decref(rows);
        fprintf(f, "  (targets: share of the kept tokens the loss sees with mask_prompt %s; masked: with mask_prompt on)\n",
                mask ? "on" : "off");
        json_t *hist = json_object_get(tok, "histogram");
        int64_t mx = 0, L = ival(tok, "max_seq_length");
        json_array_foreach(hist, i, x) mx = ival(x, "count") > mx ? ival(x, "count") : mx;
        fprintf(f, "\n  tokens per example (all files):\n");
        json_array_foreach(hist, i, x) {
            int64_t c = ival(x, "count"), bar = mx ? (c * 40 + mx - 1) / mx : 0;
            char range[48];
            snprintf(range, sizeof range, "%lld-%lld", (long long)ival(x, "from"), (long long)ival(x, "to"));
            fprintf(f, "  %13s %6lld ", range, (long long)c);
            for (int64_t b = 0; b < bar; b++) fputc('#', f);
            if (ival(x, "from") > L) fprintf(f, "%sover max_seq_length %lld", bar ? " " : "", (long long)L);
            else if (ival(x, "to") > L) fprintf(f, "%spartly over max_seq_length %lld", bar ? " " : "", (long long)L);
            fputc('\n', f);
        }
    }
    int64_t ne = ival(sum, "errors"), nw = ival(sum, "warnings");
    fprintf(f, "\nresult: %lld error%s, %lld warning%s\n", (long long)ne, ne == 1 ? "" : "s", (long long)nw, nw == 1 ? "" : "s");
}
