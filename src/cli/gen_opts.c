// gen_opts.c — shared sampling flags -> sampler_params.
#include "gen_opts.h"

#include <omp.h>
#include <time.h>

int gen_opts_sampler(const cli_args *a, sampler_params *p, int64_t *max_tokens) {
    sampler_params_init(p);
    double temp, top_p, min_p, rep, pres, freq;
    int64_t top_k, ctx;
    if (cli_get_int(a, "--max-tokens", max_tokens) || cli_get_double(a, "--temp", &temp) ||
        cli_get_double(a, "--top-p", &top_p) || cli_get_double(a, "--min-p", &min_p) ||
        cli_get_int(a, "--top-k", &top_k) || cli_get_double(a, "--repetition-penalty", &rep) ||
        cli_get_int(a, "--repetition-context-size", &ctx) || cli_get_double(a, "--presence-penalty", &pres) ||
        cli_get_double(a, "--frequency-penalty", &freq))
        return EXIT_USAGE;
    if (*max_tokens < 0) return cli_usage_error(a->cmd, "--max-tokens must be >= 0, got %lld", (long long)*max_tokens);
    p->temp = (float)temp;
    p->top_p = (float)top_p;
    p->min_p = (float)min_p;
    p->top_k = top_k > 1 << 30 ? 1 << 30 : (int)top_k;
    p->repetition_penalty = (float)rep;
    p->repetition_context_size = ctx > 1 << 30 ? 1 << 30 : (int)ctx;
    p->presence_penalty = (float)pres;
    p->frequency_penalty = (float)freq;
    if (top_k < 0) return cli_usage_error(a->cmd, "--top-k must be >= 0, got %lld", (long long)top_k);
    if (ctx < 0) return cli_usage_error(a->cmd, "--repetition-context-size must be >= 0, got %lld", (long long)ctx);
    if (cli_has(a, "--seed")) {
        int64_t seed;
        if (cli_get_int(a, "--seed", &seed)) return EXIT_USAGE;
        p->seed = (uint64_t)seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p->seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
        p->seed &= 0x7fffffff; // printable and reusable as --seed
    }
    if (sampler_params_validate(p)) return cli_usage_error(a->cmd, "%s", err_msg());
    return 0;
}

int gen_opts_threads(const cli_args *a) {
    if (!cli_has(a, "--threads")) return 0;
    int64_t n;
    if (cli_get_int(a, "--threads", &n)) return EXIT_USAGE;
    if (n < 1 || n > 1024) return cli_usage_error(a->cmd, "--threads must be between 1 and 1024, got %lld", (long long)n);
    omp_set_num_threads((int)n);
    return 0;
}

int gen_opts_stops(const cli_args *a, gen_model *g) {
    const char **v;
    int n = cli_get_multi(a, "--extra-eos-token", &v);
    for (int i = 0; i < n; i++)
        if (gen_add_stop_token(g, v[i])) return cli_fail();
    return 0;
}

int gen_opts_template_args(const cli_args *a, json_t **extra) {
    *extra = NULL;
    if (!cli_has(a, "--chat-template-args")) return 0;
    json_error_t je;
    *extra = json_loads(cli_get(a, "--chat-template-args"), 0, &je);
    if (json_is_object(*extra)) return 0;
    int rc = cli_usage_error(a->cmd, "--chat-template-args: expected a JSON object%s%s", *extra ? "" : ": ",
                             *extra ? "" : je.text);
    json_decref(*extra);
    *extra = NULL;
    return rc;
}

int gen_emit_stdout(void *ctx, const char *text, size_t n) {
    (void)ctx;
    fwrite(text, 1, n, stdout);
    fflush(stdout);
    return 0;
}

int gen_opts_load(const cli_args *a, gen_model *g) {
    if (gen_model_load(g, cli_get(a, "--model"))) return cli_fail();
    const char *dir = cli_get(a, "--adapter-path");
    if (dir && gen_model_load_adapter(g, dir, cli_get(a, "--adapter-file"))) {
        gen_model_release(g);
        return cli_fail();
    }
    if (!dir && cli_has(a, "--adapter-file"))
        fprintf(stderr, "lorac: warning: --adapter-file has no effect without --adapter-path\n");
    return 0;
}
