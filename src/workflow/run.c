// run.c — the stage driver of `lorac run`: the run directory, run.json, stage
// fingerprints, skip/resume decisions, and the order of the stages.
#include "run_internal.h"

#include "../core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *const run_stage_names[STAGE_COUNT] = {"preflight", "audit", "train", "fuse", "test", "eval", "report"};

int run_stage_from_name(const char *name) {
    for (int i = 0; i < STAGE_COUNT; i++)
        if (!strcmp(run_stage_names[i], name)) return i;
    return -1;
}

// ---- paths ----
char *run_dir_for(const train_config *cfg, const run_opts *o) {
    if (o->run_dir) return xstrdup(o->run_dir);
    const char *cfgp = cfg->config ? cfg->config : "run";
    const char *base = strrchr(cfgp, '/');
    base = base ? base + 1 : cfgp;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml")) n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml")) n -= 4;
    return xasprintf("runs/%.*s", (int)n, base);
}

char *run_path(const run_ctx *c, const char *name) { return path_join(c->dir, name); }

int run_write_json(const run_ctx *c, const char *name, json_t *j) {
    char *p = run_path(c, name);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
    int rc = s ? 0 : err_set("%s: cannot encode JSON", p);
    if (rc == 0) {
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n', s[n + 1] = 0;
        rc = file_write_atomic(p, s, n + 1);
    }
    free(s);
    free(p);
    return rc;
}

json_t *run_read_json(const run_ctx *c, const char *name) {
    char *p = run_path(c, name);
    json_t *j = file_exists(p) ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    return j;
}

const json_t *run_record(const run_ctx *c, run_stage s) {
    const json_t *r = json_object_get(json_object_get(c->state, "stages"), run_stage_names[s]);
    return r && !strcmp(json_string_value(json_object_get(r, "status")) ?: "", "done") ? r : NULL;
}

const char *run_tuned_model(const run_ctx *c, int *fused) {
    const json_t *r = run_record(c, STAGE_FUSE);
    *fused = r && json_is_true(json_object_get(r, "fused"));
    return *fused ? c->fused : c->cfg->model;
}

char *run_data_file(const run_ctx *c, const char *section, const char *fallback) {
    char *key = xasprintf("%s.data", section);
    const char *v = run_config_str(c->cfg, key, NULL);
    free(key);
    return v ? xstrdup(v) : path_join(c->cfg->data, fallback);
}

// ---- fingerprints ----
static uint64_t fnv1a(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

// A file's identity for fingerprints: size and modification time (absent: null).
static json_t *file_stamp(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return json_null();
    return json_pack("{s:s,s:I,s:I}", "path", path, "size", (json_int_t)st.st_size, "mtime_ns",
                     (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
}

static json_t *section_or_null(const train_config *cfg, const char *name) {
    const json_t *s = run_config_json(cfg, name);
    return s ? json_deep_copy(s) : json_null();
}

// The training configuration without what does not change the adapters.
static json_t *training_inputs(const run_ctx *c) {
    json_t *j = train_config_to_json(c->cfg);
    static const char *const drop[] = {"config", "adapter_path", "resume_adapter_file", "steps_per_report", "save_every"};
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++) json_object_del(j, drop[i]);
    for (int i = 0; i < TC_NSECTIONS; i++) json_object_del(j, train_config_section_names[i]);
    char *tr = path_join(c->cfg->data, "train.jsonl"), *va = path_join(c->cfg->data, "valid.jsonl");
    json_object_set_new(j, "train.jsonl", file_stamp(tr));
    json_object_set_new(j, "valid.jsonl", file_stamp(va));
    free(tr), free(va);
    return j;
}

static json_t *upstream(const run_ctx *c, run_stage s) {
    const json_t *r = run_record(c, s);
    return r ? json_integer(json_integer_value(json_object_get(r, "serial"))) : json_null();
}

// What stage s reads; a change reruns it. Upstream stages enter by their serial
// number, so a stage that reran makes everything built on it rerun too.
static json_t *stage_inputs(const run_ctx *c, run_stage s) {
    json_t *j = json_object();
    const train_config *cfg = c->cfg;
    switch (s) {
    case STAGE_PREFLIGHT: {
        json_object_set_new(j, "training", training_inputs(c));
        for (int i = 0; i < TC_NSECTIONS; i++)
            json_object_set_new(j, train_config_section_names[i], section_or_null(cfg, train_config_section_names[i]));
        json_object_set_new(j, "time_budget_h", json_real(c->o->time_budget_h));
        json_object_set_new(j, "memory_limit_gb", json_real(c->o->memory_limit_gb));
        json_object_set_new(j, "probe_steps", json_integer(c->o->probe_steps));
        break;
    }
    case STAGE_AUDIT: {
        char *d = run_data_file(c, "audit", "train.jsonl");
        json_object_set_new(j, "audit", section_or_null(cfg, "audit"));
        json_object_set_new(j, "data", file_stamp(d));
        json_object_set_new(j, "rules", file_stamp(run_config_str(cfg, "audit.rules", NULL)));
        free(d);
        break;
    }
    case STAGE_TRAIN: json_object_set_new(j, "training", training_inputs(c)); break;
    case STAGE_FUSE:
        json_object_set_new(j, "fuse", section_or_null(cfg, "fuse"));
        json_object_set_new(j, "train", upstream(c, STAGE_TRAIN));
        break;
    case STAGE_TEST:
    case STAGE_EVAL: {
        json_object_set_new(j, "generation", section_or_null(cfg, "generation"));
        json_object_set_new(j, "train", upstream(c, STAGE_TRAIN));
        json_object_set_new(j, "fuse", upstream(c, STAGE_FUSE));
        if (s == STAGE_TEST) {
            json_object_set_new(j, "test_prompts", section_or_null(cfg, "test_prompts"));
            const json_t *tp = run_config_json(cfg, "test_prompts");
            if (json_is_string(tp)) json_object_set_new(j, "suite", file_stamp(json_string_value(tp)));
        } else {
            char *d = run_data_file(c, "evaluation", "valid.jsonl");
            json_object_set_new(j, "evaluation", section_or_null(cfg, "evaluation"));
            json_object_set_new(j, "data", file_stamp(d));
            json_object_set_new(j, "rules", file_stamp(run_config_str(cfg, "evaluation.rules", NULL)));
            free(d);
        }
        break;
    }
    case STAGE_REPORT:
        for (int t = 0; t < STAGE_REPORT; t++) json_object_set_new(j, run_stage_names[t], upstream(c, (run_stage)t));
        break;
    default: break;
    }
    return j;
}

static void fingerprint(const run_ctx *c, run_stage s, char out[17]) {
    json_t *j = stage_inputs(c, s);
    char *txt = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
    snprintf(out, 17, "%016llx", (unsigned long long)fnv1a(txt, 0xcbf29ce484222325ull));
    free(txt);
    json_decref(j);
}

// ---- run.json ----
static int state_save(run_ctx *c) { return run_write_json(c, "run.json", c->state); }

static void state_load(run_ctx *c) {
    c->state = run_read_json(c, "run.json");
    if (!json_is_object(c->state) || !json_is_object(json_object_get(c->state, "stages"))) {
        json_decref(c->state);
        c->state = json_pack("{s:o}", "stages", json_object());
    }
    c->serial = json_integer_value(json_object_get(c->state, "serial"));
    json_object_set_new(c->state, "config", c->cfg->config ? json_string(c->cfg->config) : json_null());
    json_object_set_new(c->state, "lorac_version", json_string(LORAC_VERSION));
}

static void record(run_ctx *c, run_stage s, const char *status, const char *fp, double secs) {
    json_t *r = json_pack("{s:s,s:s,s:f}", "status", status, "fingerprint", fp, "seconds", secs);
    if (!strcmp(status, "done")) {
        json_object_set_new(r, "serial", json_integer(++c->serial));
        json_object_set_new(c->state, "serial", json_integer(c->serial));
    }
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime(&now));
    json_object_set_new(r, "finished", json_string(when));
    if (c->extra) json_object_update_missing(r, c->extra); // what the stage noted (fuse: "fused")
    json_object_set_new(json_object_get(c->state, "stages"), run_stage_names[s], r);
}

// ---- the stages ----
typedef struct {
    int (*run)(run_ctx *c);
    const char *outputs; // '|'-separated, relative to the run directory; checked before skipping
} stage_def;

static const stage_def STAGES[STAGE_COUNT] = {
    [STAGE_PREFLIGHT] = {stage_preflight, "preflight.json"},
    [STAGE_AUDIT] = {stage_audit, "audit.json"},
    [STAGE_TRAIN] = {stage_train, "adapters/adapter_config.json|adapters/metrics.jsonl"},
    [STAGE_FUSE] = {stage_fuse, NULL},
    [STAGE_TEST] = {stage_test, "test.json|test.md"},
    [STAGE_EVAL] = {stage_eval, "eval.json"},
    [STAGE_REPORT] = {stage_report, "report.md|report.html|run-next.yaml"},
};

static int outputs_present(const run_ctx *c, run_stage s) {
    if (s == STAGE_TRAIN) {
        char *a = path_join(c->adapters, c->adapter_file);
        int ok = file_exists(a);
        free(a);
        if (!ok) return 0;
    }
    if (s == STAGE_FUSE) {
        const json_t *r = run_record(c, STAGE_FUSE);
        if (r && json_is_true(json_object_get(r, "fused"))) {
            char *p = path_join(c->fused, "config.json");
            int ok = file_exists(p);
            free(p);
            return ok;
        }
        return 1;
    }
    const char *o = STAGES[s].outputs;
    while (o && *o) {
        const char *bar = strchr(o, '|');
        size_t n = bar ? (size_t)(bar - o) : strlen(o);
        char *name = xstrndup(o, n), *p = run_path(c, name);
        int ok = file_exists(p);
        free(name), free(p);
        if (!ok) return 0;
        o += n + (bar != NULL);
    }
    return 1;
}

static void ctx_release(run_ctx *c) {
    free(c->dir), free(c->adapters), free(c->fused), free(c->adapter_file), free(c->prev_fp);
    json_decref(c->state);
    json_decref(c->extra);
}

int run_workflow(train_config *cfg, const run_opts *o) {
    run_ctx c = {0};
    c.cfg = cfg, c.o = o;
    c.dir = run_dir_for(cfg, o);
    c.adapters = path_join(c.dir, "adapters");
    const char *sp = run_config_str(cfg, "fuse.save_path", NULL);
    c.fused = sp ? xstrdup(sp) : path_join(c.dir, "fused");
    c.adapter_file = xstrdup(run_config_str(cfg, "fuse.adapter_file", "adapters.safetensors"));
    int rc = 0;
    if (mkdir_p(c.dir)) {
        ctx_release(&c);
        return -1;
    }
    state_load(&c);
    fprintf(stderr, "lorac run: %s -> %s/\n", cfg->config ? cfg->config : "(flags)", c.dir);
    for (int s = 0; s < STAGE_COUNT && rc == 0; s++) {
        if (o->only >= 0 && s != o->only) continue;
        char fp[17];
        fingerprint(&c, (run_stage)s, fp);
        const json_t *rec = run_record(&c, (run_stage)s);
        int forced = (o->from >= 0 && s >= o->from) || o->only == s;
        if (!forced && rec && !strcmp(json_string_value(json_object_get(rec, "fingerprint")) ?: "", fp) &&
            outputs_present(&c, (run_stage)s)) {
            fprintf(stderr, "== %d/%d %s: done before (%s), skipped\n", s + 1, STAGE_COUNT, run_stage_names[s],
                    json_string_value(json_object_get(rec, "finished")) ?: "");
            continue;
        }
        fprintf(stderr, "== %d/%d %s\n", s + 1, STAGE_COUNT, run_stage_names[s]);
        // a stage that was running when the last run stopped keeps its fingerprint
        // in "started", so train can tell a resumable run from a changed one
        json_t *started = json_pack("{s:s,s:s}", "status", "started", "fingerprint", fp);
        json_t *prev = json_object_get(json_object_get(c.state, "stages"), run_stage_names[s]);
        free(c.prev_fp);
        c.prev_fp = prev && json_is_string(json_object_get(prev, "fingerprint"))
                        ? xstrdup(json_string_value(json_object_get(prev, "fingerprint")))
                        : NULL;
        memcpy(c.fp, fp, sizeof fp);
        json_decref(c.extra);
        c.extra = json_object();
        json_object_set_new(json_object_get(c.state, "stages"), run_stage_names[s], started);
        if (state_save(&c)) {
            rc = -1;
            break;
        }
        double t0 = now_seconds();
        rc = STAGES[s].run(&c);
        if (rc == 0) {
            record(&c, (run_stage)s, "done", fp, now_seconds() - t0);
        } else {
            json_object_set_new(json_object_get(json_object_get(c.state, "stages"), run_stage_names[s]), "status",
                                json_string(rc == 130 ? "interrupted" : "failed"));
        }
        if (state_save(&c) && rc == 0) rc = -1;
        if (rc == -1) err_prefix("%s", run_stage_names[s]);
    }
    if (rc == 0 && (o->only < 0 || o->only == STAGE_REPORT)) {
        char *md = run_path(&c, "report.md"), *html = run_path(&c, "report.html"), *next = run_path(&c, "run-next.yaml");
        fprintf(stderr, "\nreport: %s\n        %s\nnext run: %s\n", md, html, next);
        free(md), free(html), free(next);
    }
    ctx_release(&c);
    return rc;
}
