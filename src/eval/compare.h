// compare.h — side-by-side comparison of training runs and eval results: what
// differs in their configs, final and best train/validation loss (and the step of
// the best), whether validation loss kept flat, the eval statistics with their
// pass/fail; as a Markdown table and as a self-contained HTML page with SVG charts
// (loss curves of all runs on one chart, eval metrics as bars).
//
// A run is any of:
//   - a `lorac lora` adapter_path: adapter_config.json (the resolved config) and
//     metrics.jsonl (one object per report/eval line: step, train_loss, val_loss, ...);
//   - a `lorac run` directory: those files in DIR/adapters, eval results in DIR/eval.json;
//   - an eval results JSON file (lorac eval --output): eval statistics only.
// adapter_config.json and metrics.jsonl are looked for in DIR, then DIR/adapters;
// eval results in DIR/eval.json.
//
// Ownership: a compare_run owns its arrays and JSON (compare_run_release).
#ifndef LORAC_COMPARE_H
#define LORAC_COMPARE_H

#include "eval.h"

typedef struct {
    char *name;              // display name: the directory or file name (made unique by compare_runs)
    char *path;              // as given
    char *train_dir;         // where adapter_config.json / metrics.jsonl were found, or NULL
    json_t *config;          // adapter_config.json, or NULL
    json_t *eval;            // eval results, or NULL
    char *eval_path;
    double *train_step, *train_loss; // (n_train) from metrics.jsonl
    int64_t n_train;
    double *val_step, *val_loss;     // (n_val)
    int64_t n_val;
    double test_loss;        // NAN when none
} compare_run;

// Load one run from a directory or a results JSON; an error names the path and
// what is missing or malformed (metrics.jsonl line numbers included).
int compare_load_run(compare_run *r, const char *path);
void compare_run_release(compare_run *r);

// Markdown (may be NULL) and HTML (may be NULL) for n loaded runs. rules gives
// max_val_loss_rise (eval checks are the ones stored in each results file).
void compare_runs(compare_run *runs, int n, const eval_rules *rules, const char *title, strbuf *markdown,
                  strbuf *html);

// The loss chart alone (train solid, validation dashed, one colour per run): one
// <path> per series that has points. For reports of a single run too.
void compare_loss_svg(strbuf *svg, const compare_run *runs, int n, const char *title);

#endif
