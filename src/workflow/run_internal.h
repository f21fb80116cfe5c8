// run_internal.h — what the stages of `lorac run` share (run.c, preflight.c,
// stages.c, decide.c, report.c). Not a public interface.
#ifndef LORAC_RUN_INTERNAL_H
#define LORAC_RUN_INTERNAL_H

#include "run.h"
#include "run_config.h"

#include <jansson.h>

typedef struct {
    train_config *cfg;
    const run_opts *o;
    char *dir;        // the run directory
    char *adapters;   // dir/adapters (the trainer's adapter_path)
    char *fused;      // fuse.save_path, else dir/fused
    char *adapter_file; // fuse.adapter_file, else adapters.safetensors
    json_t *state;    // run.json: {"config", "serial", "stages": {name: record}}
    int64_t serial;   // increases with every finished stage
    // the stage running now
    char fp[17];      // its fingerprint
    char *prev_fp;    // the fingerprint of its last attempt (done, failed or interrupted), or NULL
    json_t *extra;    // keys the stage adds to its record in run.json (fuse: "fused")
} run_ctx;

// ---- paths and files (run.c) ----
char *run_path(const run_ctx *c, const char *name); // dir/name, new string
int run_write_json(const run_ctx *c, const char *name, json_t *j); // atomic, indent 2
json_t *run_read_json(const run_ctx *c, const char *name);         // NULL when absent/unreadable (no error)
// The stage's record in run.json (NULL when it never finished).
const json_t *run_record(const run_ctx *c, run_stage s);
// The model test and eval load: the fused directory when fuse ran, else the base.
const char *run_tuned_model(const run_ctx *c, int *fused);
// The data file a section names (key "data"), else DATA/<fallback>. New string.
char *run_data_file(const run_ctx *c, const char *section, const char *fallback);

// ---- stages ----
int stage_preflight(run_ctx *c);   // preflight.c
int stage_audit(run_ctx *c);       // stages.c
int stage_train(run_ctx *c);
int stage_fuse(run_ctx *c);
int stage_test(run_ctx *c);
int stage_eval(run_ctx *c);
int stage_report(run_ctx *c);      // report.c

// ---- evidence from other modules' outputs (stages.c) ----
// Loops in an eval results JSON (eval.json, or test.json's "tuned"): how many
// answers loop of how many, with one line of evidence per looping answer.
void eval_loop_evidence(const json_t *results, int *n_loop, int *n, json_t *examples);
// The share of answers favouring the domain's position and its threshold; -1
// when the results carry no stance.
int eval_stance_evidence(const json_t *results, double *share, double *threshold, int *n);
// preflight's data check: adds checks (failing ones raise *failed) and
// pf["data"] (the report's summary, token lengths included). -1 on an error.
int preflight_data(run_ctx *c, json_t *pf, int *failed, json_t *checks);
// Add {"check", "ok", "detail"} to checks, print it, count a failure (preflight.c).
void preflight_check(json_t *checks, int *failed, const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
// test.md: the test prompts' answers, base and tuned side by side (report.c).
int test_markdown(const run_ctx *c, const json_t *test);

// ---- the decision (decide.c) ----
// Ranked recommendations from the evidence in the run directory (preflight.json,
// adapters/metrics.jsonl, test.json, eval.json): a JSON array of
// {"rule", "title", "severity", "evidence": [..], "changes": [{"key", "from", "to", "why"}]}.
json_t *decide(const run_ctx *c);
// Write run-next.yaml: the config file's text with each change applied in place
// and commented ("# lorac run: was X; why"), keys the file lacks added. 0 or -1.
int decide_write_next(const run_ctx *c, const json_t *recs, const char *name);
// Print the ranked list to f.
void decide_print(FILE *f, const json_t *recs);

#endif
