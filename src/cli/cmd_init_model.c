// cmd_init_model.c — `lorac init-model`: a random-weight HF directory with the
// exact shapes of a real model, for tests, parity checks and benchmarks.
#include "commands.h"

#include "../model/init.h"
#include "../model/model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_opt init_model_opts[] = {
    {"--preset", "NAME", NULL, "tiny, smollm2-135m, smollm3-3b or qwen3-4b (required)", 0},
    {"--arch", "ARCH", NULL, "llama, qwen2, qwen3 or smollm3 (default: the preset's architecture)", 0},
    {"--out|-o", "DIR", NULL, "output directory (required; must not exist unless --force)", 0},
    {"--dtype", "T", "bf16", "weight dtype: f32, bf16 or f16", 0},
    {"--seed", "N", "0", "random seed (same seed, same weights)", 0},
    {"--init-std", "X", "0.02", "standard deviation of the random weights (norms: 1 + N(0, 0.1))", 0},
    {"--tokenizer", "PATH", NULL, "directory with tokenizer.json (+ tokenizer_config.json, chat_template.jinja) or a tokenizer.json to copy; tiny presets take its vocabulary size", 0},
    {"--num-layers", "N", NULL, "layer count (default: the preset's)", 0},
    {"--vocab-size", "N", NULL, "vocabulary size (default: the preset's, or the --tokenizer's for tiny)", 0},
    {"--tie-embeddings", "BOOL", NULL, "true or false: lm_head shares the embedding (default: the preset's)", 0},
    {"--force", NULL, NULL, "replace DIR if it exists", 0},
    {NULL},
};

// ---- tokenizer files ----
static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                                        "special_tokens_map.json", NULL};

// Token id of a special token named in tokenizer_config.json (string or {"content": ..}).
static int64_t token_id(json_t *tok, json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, e) {
        json_t *c = json_object_get(e, "content");
        if (json_is_string(c) && strcmp(json_string_value(c), s) == 0) return json_integer_value(json_object_get(e, "id"));
    }
    json_t *id = json_object_get(json_object_get(json_object_get(tok, "model"), "vocab"), s);
    return json_is_integer(id) ? json_integer_value(id) : -1;
}

// Read vocabulary size and bos/eos ids from the tokenizer; -1 with an error when unreadable.
static int tokenizer_facts(const char *dir, int64_t *vocab, int64_t *bos, int64_t *eos) {
    char *p = path_join(dir, "tokenizer.json");
    json_error_t je;
    json_t *tok = json_load_file(p, 0, &je);
    if (!tok) {
        err_set("%s:%d:%d: %s", p, je.line, je.column, je.text);
        free(p);
        return -1;
    }
    json_t *vocab_obj = json_object_get(json_object_get(tok, "model"), "vocab");
    if (!json_is_object(vocab_obj)) {
        err_set("%s: no model.vocab object", p);
        free(p);
        json_decref(tok);
        return -1;
    }
    free(p);
    int64_t max_id = -1;
    const char *k;
    json_t *v;
    json_object_foreach(vocab_obj, k, v) if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    size_t i;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        if (id > max_id) max_id = id;
    }
    *vocab = max_id + 1;
    p = path_join(dir, "tokenizer_config.json");
    json_t *cfg = json_load_file(p, 0, NULL);
    free(p);
    *bos = cfg ? token_id(tok, cfg, "bos_token") : -1;
    *eos = cfg ? token_id(tok, cfg, "eos_token") : -1;
    json_decref(cfg);
    json_decref(tok);
    return 0;
}

static int copy_tokenizer(const char *src, const char *out) {
    for (int i = 0; tok_files[i]; i++) {
        char *s = path_join(src, tok_files[i]), *d = path_join(out, tok_files[i]);
        int rc = file_exists(s) ? file_copy(s, d) : 0;
        free(s);
        free(d);
        if (rc) return -1;
    }
    return 0;
}

// ---- command ----
int cmd_init_model(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("init-model");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    const char *preset = NULL, *dtype_s = NULL, *arch_s = NULL;
    static const char *const arch_choices[] = {"llama", "qwen2", "qwen3", "smollm3", NULL};
    static const char *const dtype_choices[] = {"f32", "bf16", "f16", NULL};
    static const char *const bool_choices[] = {"true", "false", NULL};
    const char *out = cli_get(&a, "--out");
    int64_t seed = 0;
    double init_std = 0.02;
    model_config c;
    config_init(&c);
    char *tmp = NULL, *tokdir = NULL;
    rc = EXIT_USAGE;
    if (!cli_has(&a, "--preset")) {
        cli_usage_error(cmd, "--preset is required (one of: tiny, smollm2-135m, smollm3-3b, qwen3-4b)");
        goto done;
    }
    if (!out) {
        cli_usage_error(cmd, "--out is required");
        goto done;
    }
    if (cli_get_choice(&a, "--preset", preset_names, &preset) || cli_get_choice(&a, "--dtype", dtype_choices, &dtype_s) ||
        (cli_has(&a, "--arch") && cli_get_choice(&a, "--arch", arch_choices, &arch_s)) || cli_get_int(&a, "--seed", &seed) ||
        cli_get_double(&a, "--init-std", &init_std))
        goto done;
    if (!(init_std > 0 && init_std < 10)) {
        cli_usage_error(cmd, "--init-std must be in (0, 10), got %g", init_std);
        goto done;
    }
    preset_config(preset, arch_s ? arch_from_name(arch_s) : -1, &c);
    c.torch_dtype = xstrdup(strcmp(dtype_s, "f32") == 0 ? "float32" : strcmp(dtype_s, "f16") == 0 ? "float16" : "bfloat16");
    if (cli_has(&a, "--num-layers")) {
        int64_t nl;
        if (cli_get_int(&a, "--num-layers", &nl)) goto done;
        if (nl <= 0 || nl > 1000) {
            cli_usage_error(cmd, "--num-layers must be between 1 and 1000");
            goto done;
        }
        c.n_layers = nl;
        c.use_rope = xrealloc(c.use_rope, (size_t)nl);
        for (int64_t i = 0; i < nl; i++) c.use_rope[i] = c.arch != ARCH_SMOLLM3 || (i + 1) % 4 != 0;
    }
    if (cli_has(&a, "--tie-embeddings")) {
        const char *b;
        if (cli_get_choice(&a, "--tie-embeddings", bool_choices, &b)) goto done;
        c.tie_word_embeddings = strcmp(b, "true") == 0;
    }
    rc = 1;
    const char *tok = cli_get(&a, "--tokenizer");
    if (tok) {
        if (dir_exists(tok)) tokdir = xstrdup(tok);
        else if (file_exists(tok) && strstr(tok, "tokenizer.json")) {
            tokdir = xstrdup(tok);
            char *slash = strrchr(tokdir, '/');
            if (slash) *slash = 0;
            else strcpy(tokdir, ".");
        } else {
            err_set("--tokenizer %s: not a directory with tokenizer.json, nor a tokenizer.json file", tok);
            rc = cli_fail();
            goto done;
        }
        int64_t vocab, bos, eos;
        if (tokenizer_facts(tokdir, &vocab, &bos, &eos)) {
            rc = cli_fail();
            goto done;
        }
        if (strcmp(preset, "tiny") == 0) {
            c.vocab_size = vocab;
            c.bos_token_id = bos;
            c.pad_token_id = -1;
            c.n_eos = 0;
            if (eos >= 0) c.eos_token_ids[c.n_eos++] = eos;
        } else if (vocab > c.vocab_size) {
            err_set("--tokenizer %s has %lld tokens, more than the %s preset's vocabulary of %lld", tok, (long long)vocab,
                    preset, (long long)c.vocab_size);
            rc = cli_fail();
            goto done;
        }
    }
    if (cli_has(&a, "--vocab-size")) {
        int64_t v;
        if (cli_get_int(&a, "--vocab-size", &v)) {
            rc = EXIT_USAGE;
            goto done;
        }
        c.vocab_size = v;
    }
    if (config_validate(&c, "init-model")) {
        rc = cli_fail();
        goto done;
    }
    if (file_exists(out) || (dir_exists(out) && !cli_has(&a, "--force"))) {
        err_set("%s: already exists", out);
        if (dir_exists(out)) err_hint("choose another --out, or pass --force to replace it");
        rc = cli_fail();
        goto done;
    }
    // build everything in a temp directory beside OUT, then rename it into place
    tmp = xasprintf("%s.tmp.%d", out, (int)getpid());
    dtype t = strcmp(dtype_s, "f32") == 0 ? DTYPE_F32 : strcmp(dtype_s, "f16") == 0 ? DTYPE_F16 : DTYPE_BF16;
    if (mkdir_p(tmp) || config_write_hf(&c, tmp) || model_write_random(&c, tmp, t, (uint64_t)seed, (float)init_std) ||
        (tokdir && copy_tokenizer(tokdir, tmp))) {
        rc = cli_fail();
        rm_rf(tmp);
        goto done;
    }
    if (dir_exists(out)) {
        char *old = xasprintf("%s.old.%d", out, (int)getpid());
        if (rename(out, old) != 0 || rename(tmp, out) != 0) {
            err_set("%s: cannot replace the existing directory", out);
            rc = cli_fail();
            rm_rf(tmp);
            free(old);
            goto done;
        }
        rm_rf(old);
        free(old);
    } else if (rename(tmp, out) != 0) {
        err_set("%s: cannot move the new model into place", out);
        rc = cli_fail();
        rm_rf(tmp);
        goto done;
    }
    char b[32];
    fprintf(stderr, "wrote %s: %s %s, %lld layers, %s parameters, %s\n", out, arch_name(c.arch), preset,
            (long long)c.n_layers, fmt_count(b, sizeof b, (double)model_param_count(&c)), dtype_s);
    rc = 0;
done:
    free(tmp);
    free(tokdir);
    config_release(&c);
    cli_args_release(&a);
    return rc;
}
