// cmd_audit.c — `lorac audit`: each example of a JSONL file assigned to a category
// by a rules file, with counts, value tiers, the on-topic share, replacement
// candidates and the terms behind every decision.
#include "commands.h"
#include "gen_opts.h"

#include "../data/data.h"

#include <stdlib.h>

const cli_opt audit_opts[] = {
    {"--data", "FILE", NULL, "JSONL file in the messages, prompt/completion or text format, or a DIR with train.jsonl (required)", 0},
    {"--rules", "RULES", "insulin", "rules YAML file, or a built-in rules name", 0},
    {"--output|-o", "FILE", NULL, "also write the full report (per-example evidence) as JSON to FILE", 0},
    {"--show", "N", "3", "list N examples per category with the terms that decided them (0 = none)", 0},
    {"--json", NULL, NULL, "print the JSON report on stdout instead of the table", 0},
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    {NULL},
};

int cmd_audit(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("audit");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    json_t *rep = NULL;
    int64_t show;
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--data")) {
        cli_usage_error(cmd, "--data is required");
        goto done;
    }
    if (cli_get_int(&a, "--show", &show)) goto done;
    if (show < 0) {
        cli_usage_error(cmd, "--show must be 0 or more, got %lld", (long long)show);
        goto done;
    }
    audit_options o = {.data = cli_get(&a, "--data"), .rules = cli_get(&a, "--rules")};
    if (audit_run(&o, &rep) || (cli_has(&a, "--output") && data_write_json(cli_get(&a, "--output"), rep))) {
        rc = cli_fail();
        goto done;
    }
    if (cli_has(&a, "--json")) {
        data_print_json(stdout, rep);
    } else {
        audit_print(stdout, rep, (int)show);
    }
    if (cli_has(&a, "--output")) fprintf(stderr, "lorac: wrote %s\n", cli_get(&a, "--output"));
    rc = 0;
done:
    json_decref(rep);
    cli_args_release(&a);
    return rc;
}
