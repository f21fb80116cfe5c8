// cmd_eval.c — `lorac eval`: answer every user turn of a dataset or prompt suite
// (or take answers made elsewhere), score them (loops, stance, formatting,
// length, truncation, ground truth), aggregate, check the thresholds; JSON to
// stdout or --output, the summary table and progress on stderr. --base-model
// scores the base model on the same prompts and seeds and shows the deltas.
#include "commands.h"
#include "gen_opts.h"

#include "../eval/eval.h"

#include <stdlib.h>
#include <string.h>

const cli_opt eval_cli_opts[] = {
    {"--model", "MODEL", NULL, "HF directory, HF cache repo id or GGUF file (required unless --responses)", 0},
    {"--adapter-path", "DIR", NULL, "apply unfused adapters from DIR (adapter_config.json + adapters.safetensors)", 0},
    {"--adapter-file", "NAME", NULL, "adapter weights file inside DIR (default: adapters.safetensors)", 0},
    {"--data", "FILE", NULL, "JSONL: messages (reference answer last, or ending on the user turn) or prompt[/completion]", 0},
    {"--prompts", "SUITE", NULL, "a prompt suite YAML; 'default' = the built-in examples/prompts/default.yaml", 0},
    {"--responses", "FILE", NULL, "score answers made elsewhere (JSONL with the user turn and 'response', or a results JSON)", 0},
    {"--max-examples", "N", NULL, "only the first N examples (default: all)", 0},
    {"--output|-o", "FILE", NULL, "write the results JSON here (default: stdout)", 0},
    {"--rules", "FILE", NULL, "rules YAML: stance patterns, length band, thresholds (default: built-in insulin-vs-cico)", 0},
    {"--base-model", "MODEL", NULL, "also score this model without adapters on the same prompts and seeds; show deltas", 0},
    {"--system-prompt", "TEXT", NULL, "a system turn for examples that have none (default: none)", 0},
    {"--chat-template-args", "JSON", NULL, "extra template variables, e.g. '{\"enable_thinking\": false}'", 0},
    {"--no-reference-loss", NULL, NULL, "skip the teacher-forced loss on reference answers", 0},
    {"--check", NULL, NULL, "exit 3 when a threshold fails", 0},
    {"--quiet|-q", NULL, NULL, "no progress lines and no summary table", 0},
    {"--max-tokens|-m", "N", "512", "most tokens per answer (a suite's suggestion applies when not given)", 0},
    GEN_SAMPLING_OPTS_BUT_MAX,
    {NULL},
};

#define EXIT_CHECK_FAILED 3

static const struct {
    const char *flag;
    unsigned bit;
} set_bits[] = {
    {"--temp", EVAL_SET_TEMP},
    {"--top-p", EVAL_SET_TOP_P},
    {"--top-k", EVAL_SET_TOP_K},
    {"--min-p", EVAL_SET_MIN_P},
    {"--repetition-penalty", EVAL_SET_REP},
    {"--repetition-context-size", EVAL_SET_REP_CTX},
    {"--presence-penalty", EVAL_SET_PRESENCE},
    {"--frequency-penalty", EVAL_SET_FREQUENCY},
    {"--max-tokens", EVAL_SET_MAX_TOKENS},
};

static int write_json(const json_t *j, const char *path) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    if (!s) return err_set("could not serialise the results");
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n', s[n + 1] = 0;
    int rc = 0;
    if (path) rc = file_write_atomic(path, s, n + 1);
    else fwrite(s, 1, n + 1, stdout), fflush(stdout);
    free(s);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("eval");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    eval_opts o;
    eval_opts_init(&o);
    json_t *extra = NULL, *res = NULL, *base = NULL;
    if ((rc = gen_opts_sampler(&a, &o.sampling, &o.max_tokens)) || (rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    o.model = cli_get(&a, "--model");
    o.adapter_path = cli_get(&a, "--adapter-path");
    o.adapter_file = cli_get(&a, "--adapter-file");
    o.data = cli_get(&a, "--data");
    o.prompts = cli_get(&a, "--prompts");
    o.responses = cli_get(&a, "--responses");
    o.rules = cli_get(&a, "--rules");
    o.system_prompt = cli_get(&a, "--system-prompt");
    o.reference_loss = !cli_has(&a, "--no-reference-loss");
    o.progress = !cli_has(&a, "--quiet");
    const char **eos;
    o.n_extra_eos = cli_get_multi(&a, "--extra-eos-token", &eos);
    o.extra_eos = eos;
    for (size_t i = 0; i < sizeof set_bits / sizeof set_bits[0]; i++)
        if (cli_has(&a, set_bits[i].flag)) o.sampling_set |= set_bits[i].bit;
    const char *base_model = cli_get(&a, "--base-model");
    int nsrc = !!o.data + !!o.prompts + !!o.responses;
    if (nsrc != 1) {
        cli_usage_error(cmd, nsrc ? "--data, --prompts and --responses exclude each other"
                                  : "one of --data, --prompts or --responses is required");
        goto done;
    }
    if (!o.responses && !o.model) {
        cli_usage_error(cmd, "--model is required to generate answers (or score answers made elsewhere with --responses)");
        goto done;
    }
    if (o.responses && base_model) {
        cli_usage_error(cmd, "--base-model generates answers; it does not combine with --responses");
        goto done;
    }
    if (o.adapter_path && !o.model) {
        cli_usage_error(cmd, "--adapter-path needs --model");
        goto done;
    }
    if (!o.adapter_path && o.adapter_file) fprintf(stderr, "lorac: warning: --adapter-file has no effect without --adapter-path\n");
    if (cli_has(&a, "--max-examples")) {
        if (cli_get_int(&a, "--max-examples", &o.max_examples)) goto done;
        if (o.max_examples < 1) {
            cli_usage_error(cmd, "--max-examples must be >= 1, got %lld", (long long)o.max_examples);
            goto done;
        }
    }
    if (gen_opts_template_args(&a, &extra)) goto done;
    o.chat_template_args = extra;
    if (o.progress && !o.responses)
        fprintf(stderr, "lorac eval: %s%s%s, seed %llu (example i: seed + i)\n", o.model, o.adapter_path ? " + " : "",
                o.adapter_path ? o.adapter_path : "", (unsigned long long)o.sampling.seed);
    o.label = base_model ? "tuned" : "eval";
    if (eval_run(&o, &res)) {
        rc = cli_fail();
        goto done;
    }
    if (base_model) {
        eval_opts ob = o;
        ob.model = base_model;
        ob.adapter_path = ob.adapter_file = NULL;
        ob.label = "base";
        if (eval_run(&ob, &base)) {
            rc = cli_fail();
            goto done;
        }
        json_object_set_new(res, "deltas", eval_deltas(base, res));
        json_object_set(res, "base", base);
    }
    if (write_json(res, cli_get(&a, "--output"))) {
        rc = cli_fail();
        goto done;
    }
    if (o.progress) {
        strbuf sb;
        sb_init(&sb);
        eval_summary_table(&sb, res, base);
        fprintf(stderr, "%s", sb.buf);
        if (cli_get(&a, "--output")) fprintf(stderr, "wrote %s\n", cli_get(&a, "--output"));
        sb_release(&sb);
    }
    rc = cli_has(&a, "--check") && !json_is_true(json_object_get(res, "pass")) ? EXIT_CHECK_FAILED : 0;
done:
    json_decref(extra);
    json_decref(res);
    json_decref(base);
    cli_args_release(&a);
    return rc;
}
