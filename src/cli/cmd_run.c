// cmd_run.c — `lorac run CONFIG.yaml`: preflight, audit, train, fuse, test,
// eval and report in one non-interactive command; re-running resumes.
// Every training key is also a flag (as for `lorac lora`); flags beat the YAML.
#include "commands.h"
#include "gen_opts.h"
#include "train_opts.h"

#include "../workflow/run.h"
#include "../workflow/run_config.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RUN_OPTS 170
cli_opt run_opts_table[MAX_RUN_OPTS];
#define N_RUN_HEAD 7

__attribute__((constructor)) static void build_run_opts(void) {
    static const cli_opt head[N_RUN_HEAD] = {
        {"--run-dir", "DIR", NULL, "the run directory (default: runs/<config name>)", 0},
        {"--from", "STAGE", NULL, "rerun from this stage on: preflight, audit, train, fuse, test, eval, report", 0},
        {"--only", "STAGE", NULL, "run only this stage (the stages it needs must be done)", 0},
        {"--time-budget", "HOURS", NULL, "refuse a run estimated to take longer; recommend what to cut", 0},
        {"--memory-limit", "GB", NULL, "refuse a run estimated to need more (default: the memory available now)", 0},
        {"--probe-steps", "N", "1", "training steps the preflight timing probe runs", 0},
        {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    };
    train_opts_build(run_opts_table, MAX_RUN_OPTS, head, N_RUN_HEAD);
}

static int stage_arg(const cli_command *cmd, const cli_args *a, const char *flag, int *out) {
    *out = -1;
    const char *v = cli_get(a, flag);
    if (!v) return 0;
    *out = run_stage_from_name(v);
    if (*out >= 0) return 0;
    const char *best = closest_match(v, (const char *const *)run_stage_names, STAGE_COUNT);
    return cli_usage_error(cmd, "%s: unknown stage '%s'%s%s%s (stages: preflight, audit, train, fuse, test, eval, report)", flag, v,
                           best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
}

int cmd_run(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("run");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    train_config cfg;
    train_config_init(&cfg);
    run_opts o = {0};
    char *dir = NULL, *adapters = NULL;
    int64_t probe;
    rc = EXIT_USAGE;
    if (stage_arg(cmd, &a, "--from", &o.from) || stage_arg(cmd, &a, "--only", &o.only)) goto done;
    if (o.from >= 0 && o.only >= 0) {
        cli_usage_error(cmd, "--from and --only exclude each other");
        goto done;
    }
    if (cli_has(&a, "--time-budget") && cli_get_double(&a, "--time-budget", &o.time_budget_h)) goto done;
    if (cli_has(&a, "--time-budget") && !(o.time_budget_h > 0)) {
        cli_usage_error(cmd, "--time-budget must be a positive number of hours");
        goto done;
    }
    if (cli_has(&a, "--memory-limit") && cli_get_double(&a, "--memory-limit", &o.memory_limit_gb)) goto done;
    if (cli_has(&a, "--memory-limit") && !(o.memory_limit_gb > 0)) {
        cli_usage_error(cmd, "--memory-limit must be a positive number of GB");
        goto done;
    }
    if (cli_get_int(&a, "--probe-steps", &probe)) goto done;
    if (probe < 1 || probe > 100) {
        cli_usage_error(cmd, "--probe-steps must be in [1, 100], got %lld", (long long)probe);
        goto done;
    }
    o.probe_steps = (int)probe;
    o.run_dir = cli_get(&a, "--run-dir");
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = 1;
    if (train_opts_load(&cfg, a.pos[0], &a, run_opts_table, N_RUN_HEAD)) goto done;
    // every output of the run lives in the run directory, the adapters too
    dir = run_dir_for(&cfg, &o);
    adapters = xasprintf("%s/adapters", dir);
    if (train_config_set(&cfg, "adapter_path", adapters, "lorac run") || train_config_resolve(&cfg) || run_config_check(&cfg)) {
        rc = cli_fail();
        goto done;
    }
    train_config_print_notes(&cfg, stderr);
    int r = run_workflow(&cfg, &o);
    rc = r == 130 ? 130 : r ? cli_fail() : 0;
done:
    free(dir), free(adapters);
    train_config_release(&cfg);
    cli_args_release(&a);
    return rc;
}
