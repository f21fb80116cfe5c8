// cmd_perplexity.c — `lorac perplexity`: mean loss and perplexity of a model on
// the target tokens (the assistant's reply) of a JSONL dataset.
#include "commands.h"
#include "gen_opts.h"

#include "../train/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_opt perplexity_opts[] = {
    {"--model", "MODEL", NULL, "HF directory, HF cache repo id or GGUF file (required)", 0},
    GEN_ADAPTER_OPTS,
    {"--data", "FILE", NULL, "JSONL in the messages, prompt/completion or text format (required)", 0},
    {"--max-examples", "N", NULL, "score only the first N examples (default: all)", 0},
    {"--max-seq-length", "N", "2048", "truncate longer sequences (counted and reported)", 0},
    {"--chat-template-args", "JSON", NULL, "extra template variables", 0},
    {"--json", NULL, NULL, "print a JSON object with per-example losses", 0},
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    {NULL},
};

int cmd_perplexity(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("perplexity");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    gen_model g;
    int loaded = 0;
    dataset ds = {0};
    infer_state st = {0};
    json_t *extra = NULL, *per = json_array();
    tok_ids ids;
    tok_ids_init(&ids);
    int64_t max_len, max_ex = -1;
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--model") || !cli_get(&a, "--data")) {
        cli_usage_error(cmd, "--model and --data are required");
        goto done;
    }
    if (cli_get_int(&a, "--max-seq-length", &max_len) || (cli_has(&a, "--max-examples") && cli_get_int(&a, "--max-examples", &max_ex)))
        goto done;
    if (max_len < 2) {
        cli_usage_error(cmd, "--max-seq-length must be at least 2");
        goto done;
    }
    if (gen_opts_template_args(&a, &extra)) goto done;
    rc = 1;
    if (dataset_load(&ds, cli_get(&a, "--data"))) {
        rc = cli_fail();
        goto done;
    }
    if ((rc = gen_opts_load(&a, &g))) goto done;
    loaded = 1;
    int64_t chunk = 128;
    if (max_len > g.m.cfg.max_position_embeddings) max_len = g.m.cfg.max_position_embeddings;
    if (infer_init(&st, &g.m, max_len, chunk)) {
        rc = cli_fail();
        goto done;
    }
    gen_attach(&g, &st);
    double total = 0;
    int64_t n_targets = 0, n_ex = 0, truncated = 0;
    double t0 = now_seconds();
    for (int64_t e = 0; e < ds.n && (max_ex < 0 || e < max_ex); e++) {
        int64_t start;
        if (record_tokenize(&g, &ds.recs[e], extra, &ids, &start)) {
            rc = cli_fail();
            goto done;
        }
        int64_t T = (int64_t)ids.n;
        if (T > max_len) T = max_len, truncated++;
        double ex_loss;
        int64_t ex_n;
        if (gen_target_nll(&g, &st, ids.ids, T, start, &ex_loss, &ex_n)) {
            rc = cli_fail();
            goto done;
        }
        if (ex_n) {
            total += ex_loss;
            n_targets += ex_n;
            json_array_append_new(per, json_pack("{s:I,s:I,s:f}", "line", (json_int_t)ds.recs[e].line, "target_tokens",
                                                 (json_int_t)ex_n, "loss", ex_loss / (double)ex_n));
        }
        n_ex++;
        if (isatty(2)) fprintf(stderr, "\rscored %lld/%lld examples", (long long)n_ex, (long long)(max_ex < 0 || max_ex > ds.n ? ds.n : max_ex));
    }
    if (isatty(2)) fprintf(stderr, "\n");
    if (n_targets == 0) {
        err_set("%s: no target tokens to score", ds.path);
        rc = cli_fail();
        goto done;
    }
    double mean = total / (double)n_targets, secs = now_seconds() - t0;
    if (truncated)
        fprintf(stderr, "lorac: warning: %lld of %lld examples were longer than --max-seq-length %lld and were truncated\n",
                (long long)truncated, (long long)n_ex, (long long)max_len);
    if (cli_has(&a, "--json")) {
        json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:f,s:f,s:I,s:O}", "model", g.m.src.path, "data", ds.path, "examples",
                              (json_int_t)n_ex, "target_tokens", (json_int_t)n_targets, "loss", mean, "perplexity",
                              exp(mean), "truncated", (json_int_t)truncated, "per_example", per);
        char *s = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("examples:       %lld\n", (long long)n_ex);
        printf("target tokens:  %lld\n", (long long)n_targets);
        printf("mean loss:      %.4f\n", mean);
        printf("perplexity:     %.3f\n", exp(mean));
        printf("took:           %.1f s (%.0f tokens/s)\n", secs, secs > 0 ? (double)n_targets / secs : 0);
    }
    rc = 0;
done:
    infer_release(&st);
    if (loaded) gen_model_release(&g);
    dataset_release(&ds);
    tok_ids_release(&ids);
    json_decref(extra);
    json_decref(per);
    cli_args_release(&a);
    return rc;
}
