// split.c — lorac data split: train/valid/test from one JSONL file, the same for
// the same seed, with every group of duplicates (exact, near, same question) on
// one side so no example leaks across.
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THRESHOLD 0.7

// ---- union-find ----
static int64_t uf_find(int64_t *p, int64_t x) {
    while (p[x] != x) x = p[x] = p[p[x]];
    return x;
}

static void uf_union(int64_t *p, int64_t a, int64_t b) {
    a = uf_find(p, a), b = uf_find(p, b);
    if (a != b) p[a > b ? a : b] = a < b ? a : b; // the smaller index is the root
}

// ---- output ----
static int write_split(const char *path, char **lines, size_t *lens, const int *side, int want, int64_t n) {
    atomic_file af;
    if (af_open(&af, path)) return -1;
    for (int64_t i = 0; i < n; i++) {
        if (side[i] != want) continue;
        if (af_write(&af, lines[i], lens[i]) || af_write(&af, "\n", 1)) {
            af_abort(&af);
            return -1;
        }
    }
    return af_commit(&af);
}

static int same_file(const char *a, const char *b) {
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb && !strcmp(ra, rb);
    free(ra);
    free(rb);
    return same;
}

// ---- the split ----
int data_split_run(const data_split_options *o, json_t **report) {
    *report = NULL;
    double t = o->threshold > 0 ? o->threshold : DEFAULT_THRESHOLD;
    if (!(o->valid > 0 && o->valid < 1)) return err_set("valid fraction %g: expected a value in (0, 1)", o->valid);
    if (!(o->test >= 0 && o->test < 1)) return err_set("test fraction %g: expected a value in [0, 1)", o->test);
    if (o->valid + o->test >= 1) return err_set("valid + test = %g leaves nothing to train on", o->valid + o->test);
    if (!(t >= 0.5 && t <= 1)) return err_set("near-duplicate threshold %g: expected a value in [0.5, 1]", t);
    static const char *const names[] = {"train", "valid", "test"};
    char *out_path[3];
    for (int s = 0; s < 3; s++) {
        char *f = xasprintf("%s.jsonl", names[s]);
        out_path[s] = path_join(o->out, f);
        free(f);
    }
    int rc = -1;
    dataset ds = {0};
    char *text = NULL, **lines = NULL;
    size_t *lens = NULL;
    example_text *txt = NULL;
    dup_item *items = NULL;
    dup_pair *pairs = NULL;
    int64_t *parent = NULL, *order = NULL;
    int *side = NULL;
    char *dropped_flag = NULL;
    json_t *rep = NULL;
    for (int s = 0; s < 3; s++) {
        if (s == 2 && o->test == 0) continue;
        if (file_exists(out_path[s]) && same_file(out_path[s], o->input)) {
            err_set("%s: the split would overwrite its own input", out_path[s]);
            goto done;
        }
        if (file_exists(out_path[s]) && !o->force) {
            err_set("%s already exists", out_path[s]);
            err_hint("pass --force to replace it, or choose another --out");
            goto done;
        }
    }
    if (dataset_load(&ds, o->input)) {
        err_hint("'lorac data check --data %s' lists every problem in the file", o->input);
        goto done;
    }
    // the raw lines, to copy byte for byte
    size_t len;
    if (file_read_all(o->input, &text, &len)) goto done;
    int64_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += text[i] == '\n';
    n_lines++;
    lines = xcalloc((size_t)n_lines, sizeof *lines);
    lens = xcalloc((size_t)n_lines, sizeof *lens);
    int64_t ln = 0;
    for (char *p = text; p <= text + len && ln < n_lines; ln++) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        lines[ln] = p, lens[ln] = (size_t)(end - p);
        p = end + 1;
    }
    int64_t n = ds.n;
    txt = xcalloc((size_t)n, sizeof *txt);
    items = xcalloc((size_t)n, sizeof *items);
    for (int64_t i = 0; i < n; i++) {
        example_text_init(&txt[i], &ds.recs[i]);
        items[i] = (dup_item){txt[i].question, txt[i].answer, 0};
    }
    int64_t np;
    if (dedupe_find(items, n, t, &pairs, &np)) goto done;
    // --dedupe: drop the later member of every exact or near-duplicate pair; the
    // first example of each chain of duplicates stays
    dropped_flag = xcalloc((size_t)n, 1);
    json_t *dropped = json_array();
    if (o->dedupe) {
        int64_t *why = xmalloc((size_t)n * sizeof *why); // the pair that drops each example (its earliest partner)
        for (int64_t i = 0; i < n; i++) why[i] = -1;
        for (int64_t p = 0; p < np; p++)
            if (pairs[p].kind != DUP_QUESTION && why[pairs[p].b] < 0) why[pairs[p].b] = p, dropped_flag[pairs[p].b] = 1;
        for (int64_t i = 0; i < n; i++) {
            if (why[i] < 0) continue;
            const dup_pair *d = &pairs[why[i]];
            json_array_append_new(dropped, json_pack("{s:I,s:I,s:s,s:f}", "line", (json_int_t)ds.recs[d->b].line,
                                                     "duplicate_of", (json_int_t)ds.recs[d->a].line, "kind",
                                                     dup_kind_name(d->kind), "answer_similarity", d->a_sim));
        }
        free(why);
    }
    // clusters: every pair joins its two examples
    parent = xmalloc((size_t)n * sizeof *parent);
    for (int64_t i = 0; i < n; i++) parent[i] = i;
    for (int64_t p = 0; p < np; p++)
        if (!dropped_flag[pairs[p].a] && !dropped_flag[pairs[p].b]) uf_union(parent, pairs[p].a, pairs[p].b);
    int64_t kept = 0, n_clusters = 0, together = 0;
    int64_t *size = xcalloc((size_t)n, sizeof *size);
    for (int64_t i = 0; i < n; i++)
        if (!dropped_flag[i]) kept++, size[uf_find(parent, i)]++;
    order = xmalloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++)
        if (!dropped_flag[i] && uf_find(parent, i) == i) {
            order[n_clusters++] = i;
            together += size[i] > 1;
        }
    // targets, then clusters in a seeded order fill test, valid, and the rest trains
    int64_t want[3];
    want[2] = (int64_t)llround(o->test * (double)kept);
    want[1] = (int64_t)llround(o->valid * (double)kept);
    if (o->test > 0 && want[2] == 0) want[2] = 1;
    if (want[1] == 0) want[1] = 1;
    want[0] = kept - want[1] - want[2];
    if (want[0] < 1) {
        free(size);
        json_decref(dropped);
        err_set("%s: %lld examples are too few for valid %g and test %g", o->input, (long long)kept, o->valid, o->test);
        goto done;
    }
    rng_state rng;
    rng_seed(&rng, o->seed);
    for (int64_t j = n_clusters - 1; j > 0; j--) {
        int64_t x = (int64_t)(rng_next(&rng) % (uint64_t)(j + 1)), tmp = order[j];
        order[j] = order[x], order[x] = tmp;
    }
    int64_t got[3] = {0, 0, 0};
    int *cluster_side = xmalloc((size_t)n * sizeof *cluster_side);
    for (int64_t c = 0; c < n_clusters; c++) {
        int64_t root = order[c], sz = size[root];
        int s = 0;
        if (got[2] + sz <= want[2]) s = 2;
        else if (got[1] + sz <= want[1]) s = 1;
        cluster_side[root] = s;
        got[s] += sz;
    }
    side = xmalloc((size_t)n_lines * sizeof *side);
    for (int64_t i = 0; i < n_lines; i++) side[i] = -1;
    for (int64_t i = 0; i < n; i++)
        if (!dropped_flag[i]) side[ds.recs[i].line - 1] = cluster_side[uf_find(parent, i)];
    free(cluster_side);
    free(size);
    if (mkdir_p(o->out)) {
        json_decref(dropped);
        err_set("%s: cannot create the directory", o->out);
        goto done;
    }
    json_t *files = json_object();
    for (int s = 0; s < 3; s++) {
        if (s == 2 && o->test == 0) continue;
        if (write_split(out_path[s], lines, lens, side, s, n_lines)) {
            json_decref(files);
            json_decref(dropped);
            goto done;
        }
        json_object_set_new(files, names[s], json_pack("{s:s,s:I}", "path", out_path[s], "examples", (json_int_t)got[s]));
    }
    rep = json_pack("{s:s,s:s,s:I,s:f,s:f,s:f,s:I,s:I,s:o,s:I,s:o}", "input", o->input, "out", o->out, "seed",
                    (json_int_t)o->seed, "valid", o->valid, "test", o->test, "threshold", t, "examples", (json_int_t)n,
                    "kept", (json_int_t)kept, "dropped", dropped, "clusters_kept_together", (json_int_t)together, "files",
                    files);
    rc = 0;
done:
    for (int s = 0; s < 3; s++) free(out_path[s]);
    if (txt)
        for (int64_t i = 0; i < ds.n; i++) example_text_release(&txt[i]);
    free(txt);
    free(items);
    free(pairs);
    free(parent);
    free(order);
    free(side);
    free(dropped_flag);
    free(lines);
    free(lens);
    free(text);
    dataset_release(&ds);
    *report = rep;
    return rc;
}
