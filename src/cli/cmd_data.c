// cmd_data.c — `lorac data check|split`: validate train/valid/test (every
// problem, duplicates, leaks, token lengths) and split one file into them.
#include "commands.h"
#include "gen_opts.h"

#include "../data/data.h"

#include <stdlib.h>
#include <string.h>

const cli_opt data_opts[] = {{NULL}};

// ---- data check ----
static const cli_opt check_opts[] = {
    {"--data", "DIR|FILE", NULL, "a directory with train/valid/test.jsonl, or one JSONL file (required)", 0},
    {"--model", "M", NULL, "count tokens after this model's chat template (HF dir, tokenizer dir, GGUF, ORG/NAME)", 0},
    {"--max-seq-length", "N", "2048", "report examples longer than N tokens and what truncation drops", 0},
    {"--mask-prompt", NULL, NULL, "targets are the last assistant turn only (as lora's mask_prompt)", 0},
    {"--threshold", "T", "0.7", "near-duplicate Jaccard similarity, 0.5 to 1", 0},
    {"--chat-template-args", "JSON", NULL, "extra template variables, e.g. '{\"enable_thinking\": false}'", 0},
    {"--output|-o", "FILE", NULL, "also write the report as JSON to FILE", 0},
    {"--json", NULL, NULL, "print the JSON report on stdout instead of the text", 0},
    {"--lengths", "FILE.tsv", NULL, "with --model: write per-example token counts (file, line, tokens, ...) to FILE", 0},
    {"--strict", NULL, NULL, "exit 1 on warnings too (duplicates, leaks, over-long examples)", 0},
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    {NULL},
};

static const cli_command check_cmd = {
    "data check", NULL, "validate training data: every line, duplicates, leaks, token lengths",
    "lorac data check --data DIR|FILE [--model M] [--max-seq-length N] [--mask-prompt] [options]",
    "Every line of train.jsonl, valid.jsonl and test.jsonl (or of FILE) is checked:\n"
    "JSON, a known format (messages, prompt/completion, text), roles and their order,\n"
    "non-empty string content, an assistant turn to learn. Each problem is listed as\n"
    "file:line. Duplicates: the same question and answer (ignoring case, spacing and\n"
    "punctuation), near-duplicates (answers' word 3-shingle Jaccard >= --threshold,\n"
    "found with MinHash and verified exactly), the same question with different\n"
    "answers; pairs across files are leaks. With --model: token lengths after the chat\n"
    "template, examples over --max-seq-length and the tokens truncation drops, and the\n"
    "share of target tokens. Exit 1 when there are errors (with --strict: warnings).",
    check_opts, 0, 0};

static int data_check(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&check_cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    json_t *rep = NULL, *extra = NULL;
    int64_t max_len;
    double thr;
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--data")) {
        cli_usage_error(&check_cmd, "--data is required");
        goto done;
    }
    if (cli_get_int(&a, "--max-seq-length", &max_len) || cli_get_double(&a, "--threshold", &thr)) goto done;
    if (max_len < 2) {
        cli_usage_error(&check_cmd, "--max-seq-length must be at least 2, got %lld", (long long)max_len);
        goto done;
    }
    if (!(thr >= 0.5 && thr <= 1)) {
        cli_usage_error(&check_cmd, "--threshold must be between 0.5 and 1, got %g", thr);
        goto done;
    }
    if (cli_has(&a, "--lengths") && !cli_has(&a, "--model")) {
        cli_usage_error(&check_cmd, "--lengths needs --model (token counts come from its chat template)");
        goto done;
    }
    if (gen_opts_template_args(&a, &extra)) goto done;
    data_check_options o = {.data = cli_get(&a, "--data"),
                            .model = cli_get(&a, "--model"),
                            .max_seq_length = max_len,
                            .mask_prompt = cli_has(&a, "--mask-prompt"),
                            .threshold = thr,
                            .template_args = extra,
                            .lengths_tsv = cli_get(&a, "--lengths")};
    if (data_check_run(&o, &rep) || (cli_has(&a, "--output") && data_write_json(cli_get(&a, "--output"), rep))) {
        rc = cli_fail();
        goto done;
    }
    if (cli_has(&a, "--json")) {
        data_print_json(stdout, rep);
    } else {
        data_check_print(stdout, rep);
    }
    json_t *sum = json_object_get(rep, "summary");
    int64_t errors = json_integer_value(json_object_get(sum, "errors")), warnings = json_integer_value(json_object_get(sum, "warnings"));
    rc = errors || (cli_has(&a, "--strict") && warnings) ? 1 : 0;
done:
    json_decref(extra);
    json_decref(rep);
    cli_args_release(&a);
    return rc;
}

// ---- data split ----
static const cli_opt split_opts[] = {
    {"--input", "FILE", NULL, "the JSONL file to split (required)", 0},
    {"--out", "DIR", NULL, "output directory for train.jsonl, valid.jsonl (and test.jsonl) (required)", 0},
    {"--valid", "F", "0.1", "fraction of the examples for valid.jsonl, in (0, 1)", 0},
    {"--test", "F", "0", "fraction for test.jsonl, in [0, 1); 0 = no test file", 0},
    {"--seed", "N", "42", "the same seed and input give the same split", 0},
    {"--dedupe", NULL, NULL, "drop exact and near-duplicate examples, keeping the first of each", 0},
    {"--threshold", "T", "0.7", "near-duplicate Jaccard similarity, 0.5 to 1", 0},
    {"--force", NULL, NULL, "replace existing files in DIR", 0},
    {"--json", NULL, NULL, "print the report as JSON", 0},
    {NULL},
};

static const cli_command split_cmd = {
    "data split", NULL, "split one JSONL file into train/valid/test, duplicates on one side",
    "lorac data split --input FILE.jsonl --out DIR --valid 0.1 [--test 0.05] --seed 42 [--dedupe]",
    "Examples that are duplicates (exact, near, or the same question) form a group\n"
    "that goes to one side whole, so no example leaks from train into valid or test.\n"
    "Groups are shuffled with --seed and fill test, then valid, up to their fractions;\n"
    "the rest trains. Lines are copied byte for byte, in input order. The same seed and\n"
    "input give byte-identical files.",
    split_opts, 0, 0};

static int data_split(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&split_cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    json_t *rep = NULL;
    double valid, test, thr;
    int64_t seed;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--input") || !cli_get(&a, "--out")) {
        cli_usage_error(&split_cmd, "--input and --out are required");
        goto done;
    }
    if (cli_get_double(&a, "--valid", &valid) || cli_get_double(&a, "--test", &test) ||
        cli_get_double(&a, "--threshold", &thr) || cli_get_int(&a, "--seed", &seed))
        goto done;
    if (!(valid > 0 && valid < 1)) {
        cli_usage_error(&split_cmd, "--valid must be between 0 and 1 (exclusive), got %g", valid);
        goto done;
    }
    if (!(test >= 0 && test < 1)) {
        cli_usage_error(&split_cmd, "--test must be at least 0 and below 1, got %g", test);
        goto done;
    }
    if (valid + test >= 1) {
        cli_usage_error(&split_cmd, "--valid %g + --test %g leave nothing to train on", valid, test);
        goto done;
    }
    if (!(thr >= 0.5 && thr <= 1)) {
        cli_usage_error(&split_cmd, "--threshold must be between 0.5 and 1, got %g", thr);
        goto done;
    }
    if (seed < 0) {
        cli_usage_error(&split_cmd, "--seed must be 0 or more, got %lld", (long long)seed);
        goto done;
    }
    data_split_options o = {.input = cli_get(&a, "--input"),
                            .out = cli_get(&a, "--out"),
                            .valid = valid,
                            .test = test,
                            .seed = (uint64_t)seed,
                            .dedupe = cli_has(&a, "--dedupe"),
                            .threshold = thr,
                            .force = cli_has(&a, "--force")};
    if (data_split_run(&o, &rep)) {
        rc = cli_fail();
        goto done;
    }
    if (cli_has(&a, "--json")) {
        data_print_json(stdout, rep);
    } else {
        json_t *files = json_object_get(rep, "files");
        printf("split %s (%lld examples, seed %lld)", o.input, (long long)json_integer_value(json_object_get(rep, "examples")),
               (long long)seed);
        size_t nd = json_array_size(json_object_get(rep, "dropped"));
        if (o.dedupe) printf(", dropped %zu duplicate%s", nd, nd == 1 ? "" : "s");
        printf("; %lld group%s of duplicates kept on one side\n",
               (long long)json_integer_value(json_object_get(rep, "clusters_kept_together")),
               json_integer_value(json_object_get(rep, "clusters_kept_together")) == 1 ? "" : "s");
        const char *k;
        json_t *v;
        json_object_foreach(files, k, v)
            printf("  %-6s %6lld  %s\n", k, (long long)json_integer_value(json_object_get(v, "examples")),
                   json_string_value(json_object_get(v, "path")));
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(rep, "dropped"), i, d)
            printf("  dropped line %lld: %s of line %lld\n", (long long)json_integer_value(json_object_get(d, "line")),
                   json_string_value(json_object_get(d, "kind")), (long long)json_integer_value(json_object_get(d, "duplicate_of")));
    }
    rc = 0;
done:
    json_decref(rep);
    cli_args_release(&a);
    return rc;
}

// ---- dispatch ----
int cmd_data(int argc, char **argv) {
    static const char *const subs[] = {"check", "split"};
    const cli_command *cmd = cli_find_command("data");
    if (argc < 2) return cli_usage_error(cmd, "expected a subcommand: check or split");
    const char *s = argv[1];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
        cli_print_help(stdout, cmd);
        return 0;
    }
    if (!strcmp(s, "check")) return data_check(argc - 1, argv + 1);
    if (!strcmp(s, "split")) return data_split(argc - 1, argv + 1);
    const char *best = closest_match(s, subs, 2);
    if (best) return cli_usage_error(cmd, "unknown subcommand '%s'; did you mean '%s'?", s, best);
    return cli_usage_error(cmd, "unknown subcommand '%s' (expected check or split)", s);
}
