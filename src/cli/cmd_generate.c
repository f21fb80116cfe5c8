// cmd_generate.c — `lorac generate`: one prompt in, streamed text out, with
// mlx-lm's flags (and the penalties mlx-lm's CLI lacks).
#include "commands.h"
#include "gen_opts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_opt generate_opts[] = {
    {"--model", "MODEL", NULL, "HF directory, HF cache repo id or GGUF file (required)", 0},
    GEN_ADAPTER_OPTS,
    {"--prompt|-p", "TEXT", NULL, "the prompt; '-' reads stdin (required)", 0},
    {"--system-prompt", "TEXT", NULL, "system message put before the prompt (default: none)", 0},
    {"--ignore-chat-template", NULL, NULL, "use the prompt as raw text (BOS added as the tokenizer does)", 0},
    {"--chat-template-args", "JSON", NULL, "extra template variables, e.g. '{\"enable_thinking\": false}'", 0},
    {"--max-kv-size", "N", NULL, "KV cache capacity in tokens (default: prompt + max tokens, up to the model's context)", 0},
    {"--verbose", NULL, NULL, "stderr: the rendered prompt, token counts, tok/s, peak RSS, the seed", 0},
    {"--ignore-eos", NULL, NULL, "do not stop on stop tokens: exactly --max-tokens (for benchmarks)", 0},
    GEN_SAMPLING_OPTS,
    {NULL},
};


static char *read_stdin(void) {
    strbuf sb;
    sb_init(&sb);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) sb_append(&sb, buf, n);
    return sb_detach(&sb);
}

// ---- command ----
int cmd_generate(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("generate");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    sampler_params sp;
    int64_t max_tokens;
    char *prompt_text = NULL;
    json_t *extra = NULL, *msgs = NULL;
    gen_model g;
    int loaded = 0;
    sampler *sm = NULL;
    infer_state st = {0};
    tok_ids prompt, out;
    tok_ids_init(&prompt);
    tok_ids_init(&out);
    strbuf rendered;
    sb_init(&rendered);
    if ((rc = gen_opts_sampler(&a, &sp, &max_tokens)) || (rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    const char *model_spec = cli_get(&a, "--model"), *p = cli_get(&a, "--prompt");
    if (!model_spec) {
        cli_usage_error(cmd, "--model is required");
        goto done;
    }
    if (!p) {
        cli_usage_error(cmd, "--prompt is required ('-' reads it from stdin)");
        goto done;
    }
    if (gen_opts_template_args(&a, &extra)) goto done;
    prompt_text = strcmp(p, "-") == 0 ? read_stdin() : xstrdup(p);
    if (!*prompt_text) {
        cli_usage_error(cmd, "the prompt is empty");
        goto done;
    }
    rc = 1;
    if ((rc = gen_opts_load(&a, &g))) goto done;
    loaded = 1;
    if ((rc = gen_opts_stops(&a, &g))) goto done;
    g.ignore_stop = cli_has(&a, "--ignore-eos");
    int ignore = cli_has(&a, "--ignore-chat-template") || !g.has_template;
    if (!g.has_template && !cli_has(&a, "--ignore-chat-template"))
        fprintf(stderr, "lorac: warning: %s has no chat template; using the prompt as raw text\n", g.m.src.path);
    if (ignore) {
        if (cli_has(&a, "--system-prompt")) {
            rc = cli_usage_error(cmd, "--system-prompt needs the chat template (drop --ignore-chat-template)");
            goto done;
        }
        rc = gen_raw_prompt(&g, prompt_text, &prompt);
        if (rc == 0) sb_puts(&rendered, prompt_text);
    } else {
        msgs = json_array();
        if (cli_has(&a, "--system-prompt"))
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", cli_get(&a, "--system-prompt")));
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", prompt_text));
        rc = gen_chat_prompt(&g, msgs, NULL, 1, extra, &prompt, &rendered);
    }
    if (rc) {
        rc = cli_fail();
        goto done;
    }
    int64_t max_ctx = g.m.cfg.max_position_embeddings, n_ctx = (int64_t)prompt.n + max_tokens;
    if (cli_has(&a, "--max-kv-size")) {
        if (cli_get_int(&a, "--max-kv-size", &n_ctx)) {
            rc = EXIT_USAGE;
            goto done;
        }
    }
    if ((int64_t)prompt.n >= max_ctx || (int64_t)prompt.n >= n_ctx) {
        err_set("the prompt has %zu tokens, more than the context allows (%lld)", prompt.n,
                (long long)(n_ctx < max_ctx ? n_ctx : max_ctx));
        err_hint("shorten the prompt or raise --max-kv-size (the model's context is %lld)", (long long)max_ctx);
        rc = cli_fail();
        goto done;
    }
    if (n_ctx > max_ctx) n_ctx = max_ctx;
    if (infer_init(&st, &g.m, n_ctx, 512) || !(sm = sampler_new(&sp, g.m.cfg.vocab_size))) {
        rc = cli_fail();
        goto done;
    }
    gen_attach(&g, &st);
    if (cli_has(&a, "--verbose"))
        fprintf(stderr, "==========\n%s\n==========\nseed %llu\n", rendered.buf, (unsigned long long)sp.seed);
    gen_stats gs;
    if (gen_run(&g, &st, sm, prompt.ids, (int64_t)prompt.n, NULL, 0, max_tokens, gen_emit_stdout, NULL, &out, &gs)) {
        printf("\n");
        rc = cli_fail();
        goto done;
    }
    printf("\n");
    fflush(stdout);
    if (cli_has(&a, "--verbose")) {
        char b[32];
        fprintf(stderr, "==========\n");
        fprintf(stderr, "Prompt: %lld tokens, %.3f tokens-per-sec\n", (long long)gs.prompt_tokens,
                gs.prompt_seconds > 0 ? gs.prompt_tokens / gs.prompt_seconds : 0);
        fprintf(stderr, "Generation: %lld tokens, %.3f tokens-per-sec (%s)\n", (long long)gs.gen_tokens,
                gs.gen_seconds > 0 ? gs.gen_tokens / gs.gen_seconds : 0, gs.hit_stop ? "stop token" : "max tokens");
        fprintf(stderr, "Peak memory: %s\n", fmt_bytes(b, sizeof b, peak_rss_bytes()));
    }
    rc = 0;
done:
    sampler_free(sm);
    infer_release(&st);
    if (loaded) gen_model_release(&g);
    tok_ids_release(&prompt);
    tok_ids_release(&out);
    sb_release(&rendered);
    json_decref(extra);
    json_decref(msgs);
    free(prompt_text);
    cli_args_release(&a);
    return rc;
}
