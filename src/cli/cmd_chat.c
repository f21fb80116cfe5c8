// cmd_chat.c — `lorac chat`: an interactive conversation that keeps the KV cache
// across turns (only the new part of each prompt runs). Lines from stdin are user
// turns; /reset starts over, /quit (or end of input) ends. Works with a pipe.
#include "commands.h"
#include "gen_opts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_opt chat_opts[] = {
    {"--model", "MODEL", NULL, "HF directory, HF cache repo id or GGUF file (required)", 0},
    GEN_ADAPTER_OPTS,
    {"--system-prompt", "TEXT", NULL, "system message for every conversation (default: none)", 0},
    {"--chat-template-args", "JSON", NULL, "extra template variables, e.g. '{\"enable_thinking\": false}'", 0},
    {"--max-kv-size", "N", "4096", "KV cache capacity in tokens (up to the model's context)", 0},
    {"--verbose", NULL, NULL, "stderr: tokens and tok/s after each reply", 0},
    GEN_SAMPLING_OPTS,
    {NULL},
};


static json_t *new_conversation(const char *system) {
    json_t *m = json_array();
    if (system) json_array_append_new(m, json_pack("{s:s,s:s}", "role", "system", "content", system));
    return m;
}

int cmd_chat(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("chat");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    sampler_params sp;
    int64_t max_tokens, n_ctx;
    gen_model g;
    int loaded = 0;
    sampler *sm = NULL;
    infer_state st = {0};
    json_t *extra = NULL, *msgs = NULL;
    tok_ids prompt, out, cached;
    tok_ids_init(&prompt);
    tok_ids_init(&out);
    tok_ids_init(&cached);
    char *line = NULL;
    size_t cap = 0;
    if ((rc = gen_opts_sampler(&a, &sp, &max_tokens)) || (rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--model")) {
        cli_usage_error(cmd, "--model is required");
        goto done;
    }
    if (cli_get_int(&a, "--max-kv-size", &n_ctx)) goto done;
    if (n_ctx < 16) {
        cli_usage_error(cmd, "--max-kv-size must be at least 16");
        goto done;
    }
    if (gen_opts_template_args(&a, &extra)) goto done;
    rc = 1;
    if ((rc = gen_opts_load(&a, &g))) goto done;
    loaded = 1;
    if ((rc = gen_opts_stops(&a, &g))) goto done;
    if (!g.has_template) {
        err_set("%s: the model has no chat template; chat needs one", g.m.src.path);
        err_hint("use `lorac generate --ignore-chat-template` for raw-text prompts");
        rc = cli_fail();
        goto done;
    }
    if (n_ctx > g.m.cfg.max_position_embeddings) n_ctx = g.m.cfg.max_position_embeddings;
    if (infer_init(&st, &g.m, n_ctx, 512) || !(sm = sampler_new(&sp, g.m.cfg.vocab_size))) {
        rc = cli_fail();
        goto done;
    }
    gen_attach(&g, &st);
    const char *system = cli_get(&a, "--system-prompt");
    msgs = new_conversation(system);
    int tty = isatty(0);
    if (tty) fprintf(stderr, "lorac chat: type a message; /reset starts over, /quit ends.\n");
    rc = 0;
    for (;;) {
        if (tty) fprintf(stderr, ">> ");
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            json_decref(msgs);
            msgs = new_conversation(system);
            infer_reset(&st);
            cached.n = 0;
            if (tty) fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", line));
        prompt.n = 0;
        if (gen_chat_prompt(&g, msgs, NULL, 1, extra, &prompt, NULL)) {
            rc = cli_fail();
            break;
        }
        if ((int64_t)prompt.n + 1 > st.n_ctx) {
            err_set("the conversation has %zu tokens; the KV cache holds %lld", prompt.n, (long long)st.n_ctx);
            err_hint("/reset to start over, or raise --max-kv-size");
            cli_fail();
            json_array_remove(msgs, json_array_size(msgs) - 1);
            continue;
        }
        out.n = 0;
        gen_stats gs;
        int64_t budget = st.n_ctx - (int64_t)prompt.n;
        if (gen_run(&g, &st, sm, prompt.ids, (int64_t)prompt.n, cached.ids, (int64_t)cached.n,
                    max_tokens < budget ? max_tokens : budget, gen_emit_stdout, NULL, &out, &gs)) {
            printf("\n");
            rc = cli_fail();
            break;
        }
        printf("\n");
        fflush(stdout);
        // the cache now holds the prompt and (all but possibly the last) generated ids
        cached.n = 0;
        for (size_t i = 0; i < prompt.n; i++) tok_ids_push(&cached, prompt.ids[i]);
        for (size_t i = 0; i < out.n && (int64_t)cached.n < st.pos; i++) tok_ids_push(&cached, out.ids[i]);
        strbuf reply;
        sb_init(&reply);
        tok_decode(g.tok, out.ids, out.n, TOK_SKIP_SPECIAL, &reply);
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", reply.buf));
        sb_release(&reply);
        if (cli_has(&a, "--verbose"))
            fprintf(stderr, "[prompt %lld new + %lld cached tokens, %.1f tok/s; %lld generated, %.1f tok/s]\n",
                    (long long)gs.prompt_tokens, (long long)gs.reused_tokens,
                    gs.prompt_seconds > 0 ? gs.prompt_tokens / gs.prompt_seconds : 0, (long long)gs.gen_tokens,
                    gs.gen_seconds > 0 ? gs.gen_tokens / gs.gen_seconds : 0);
    }
done:
    free(line);
    sampler_free(sm);
    infer_release(&st);
    if (loaded) gen_model_release(&g);
    tok_ids_release(&prompt);
    tok_ids_release(&out);
    tok_ids_release(&cached);
    json_decref(extra);
    json_decref(msgs);
    cli_args_release(&a);
    return rc;
}
