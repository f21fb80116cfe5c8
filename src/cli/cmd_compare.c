// cmd_compare.c — `lorac compare RUN ...`: a Markdown table of the runs' config
// differences, losses and eval results on stdout; --html writes the same with SVG
// charts as one self-contained page.
#include "commands.h"

#include "../eval/compare.h"

#include <stdlib.h>
#include <string.h>

const cli_opt compare_opts[] = {
    {"--html", "FILE", NULL, "also write an HTML report with SVG charts (loss curves, eval metrics)", 0},
    {"--rules", "FILE", NULL, "rules YAML for max_val_loss_rise (default: built-in insulin-vs-cico)", 0},
    {"--title", "TEXT", "lorac compare", "heading of the report", 0},
    {NULL},
};

int cmd_compare(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("compare");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    eval_rules rules;
    int have_rules = 0, n = 0;
    compare_run *runs = xcalloc((size_t)a.n_pos + 1, sizeof *runs);
    strbuf md, html;
    sb_init(&md);
    sb_init(&html);
    rc = 1;
    if (eval_rules_load(&rules, cli_get(&a, "--rules"))) {
        cli_fail();
        goto done;
    }
    have_rules = 1;
    for (; n < a.n_pos; n++)
        if (compare_load_run(&runs[n], a.pos[n])) {
            cli_fail();
            goto done;
        }
    const char *hp = cli_get(&a, "--html");
    compare_runs(runs, n, &rules, cli_get(&a, "--title"), &md, hp ? &html : NULL);
    if (hp && file_write_atomic(hp, html.buf, html.len)) {
        cli_fail();
        goto done;
    }
    fwrite(md.buf, 1, md.len, stdout);
    fflush(stdout);
    if (hp) fprintf(stderr, "wrote %s\n", hp);
    rc = 0;
done:
    for (int i = 0; i < n; i++) compare_run_release(&runs[i]);
    free(runs);
    if (have_rules) eval_rules_release(&rules);
    sb_release(&md);
    sb_release(&html);
    cli_args_release(&a);
    return rc;
}
