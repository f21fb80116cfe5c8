// run.h — `lorac run`: one command for the whole loop of a fine-tuning run, in
// stages that each write into the run directory:
//
//   preflight  preflight.json   paths, config, model, data check, memory, timing probe
//   audit      audit.json       the training data by category (audit: rules)
//   train      adapters/        lorac lora into RUN/adapters (resumes a stopped run)
//   fuse       fused/           adapters merged into the base (fuse: section)
//   test       test.json/.md    the test prompts on the base and the tuned model
//   eval       eval.json        lorac eval on the evaluation data
//   report     report.md/.html  + run-next.yaml: the decision, ranked, with evidence
//
// run.json records each finished stage with a fingerprint of what it read (the
// config keys it uses, the data files' size and time, the fingerprints of the
// stages it builds on). Running the same command again skips a stage when its
// fingerprint is unchanged and its outputs are still there; a changed input
// reruns that stage and every stage after it that depends on it. A stopped
// train stage resumes from its newest checkpoint.
//
// Ownership: run_opts holds borrowed strings.
#ifndef LORAC_RUN_H
#define LORAC_RUN_H

#include "../train/config.h"

typedef enum { STAGE_PREFLIGHT, STAGE_AUDIT, STAGE_TRAIN, STAGE_FUSE, STAGE_TEST, STAGE_EVAL, STAGE_REPORT, STAGE_COUNT } run_stage;
extern const char *const run_stage_names[STAGE_COUNT];
int run_stage_from_name(const char *name); // -1 when unknown

typedef struct {
    const char *run_dir;   // NULL: runs/<config file name without .yaml>
    int from;              // -1, or rerun from this stage on
    int only;              // -1, or run only this stage
    double time_budget_h;  // 0: none; else preflight refuses a run estimated to take longer
    double memory_limit_gb; // 0: the memory available now (MemAvailable); else this many GB
    int probe_steps;       // batches the preflight timing probe runs (default 1)
} run_opts;

// The run directory run_workflow would use (new string).
char *run_dir_for(const train_config *cfg, const run_opts *o);

// Run the stages. 0 when every stage ran or was skipped; -1 on an error (message
// set; stages before it are recorded as done); 130 when interrupted during train
// (a resumable checkpoint was saved).
int run_workflow(train_config *cfg, const run_opts *o);

#endif
