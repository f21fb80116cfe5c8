// cmd_inspect.c — `lorac inspect MODEL`: what a model is, what it holds, and
// what it will cost in memory to run and to train.
#include "commands.h"

#include "../model/estimate.h"
#include "../model/model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const cli_opt inspect_opts[] = {
    {"--max-seq-length", "N", "2048", "sequence length for the memory estimates", 0},
    {"--num-layers", "N", "16", "trained blocks (the last N; -1 = all) for the training estimate", 0},
    {"--lora-rank", "R", "8", "LoRA rank for the training estimate", 0},
    {"--batch-size", "N", "4", "sequences per step for the training estimate", 0},
    {"--json", NULL, NULL, "print one JSON object instead of text", 0},
    {"--tensors", NULL, NULL, "also list every tensor with dtype and shape", 0},
    {NULL},
};

// ---- tokenizer facts (without building the tokenizer) ----
typedef struct {
    char kind[32];      // "BPE", "gpt2", "none"
    int64_t vocab;      // tokens incl. added tokens; 0 when unknown
    int chat_template;  // 1 when a chat template ships with the model
    char where[32];     // "tokenizer.json", "gguf", ""
} tok_facts;

static void hf_tok_facts(const char *dir, tok_facts *t) {
    char *p = path_join(dir, "tokenizer.json");
    json_t *root = json_load_file(p, 0, NULL);
    free(p);
    if (root) {
        json_t *m = json_object_get(root, "model");
        json_t *ty = json_object_get(m, "type");
        snprintf(t->kind, sizeof t->kind, "%s", json_is_string(ty) ? json_string_value(ty) : "BPE");
        snprintf(t->where, sizeof t->where, "tokenizer.json");
        int64_t max_id = -1;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(m, "vocab"), k, v) if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
        size_t i;
        json_array_foreach(json_object_get(root, "added_tokens"), i, v) {
            json_int_t id = json_integer_value(json_object_get(v, "id"));
            if (id > max_id) max_id = id;
        }
        t->vocab = max_id + 1;
        json_decref(root);
    }
    p = path_join(dir, "tokenizer_config.json");
    root = json_load_file(p, 0, NULL);
    free(p);
    if (root && json_object_get(root, "chat_template")) t->chat_template = 1;
    json_decref(root);
    p = path_join(dir, "chat_template.jinja");
    if (file_exists(p)) t->chat_template = 1;
    free(p);
    err_clear();
}

static void gguf_tok_facts(const gguf_file *g, tok_facts *t) {
    char *m = gguf_find_kv(g, "tokenizer.ggml.model") ? gguf_get_str(g, "tokenizer.ggml.model") : NULL;
    if (m) {
        snprintf(t->kind, sizeof t->kind, "%s", m);
        snprintf(t->where, sizeof t->where, "gguf");
        free(m);
    }
    const gguf_kv *toks = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (toks && toks->type == GGUF_TYPE_ARRAY) t->vocab = (int64_t)toks->arr_len;
    t->chat_template = gguf_find_kv(g, "tokenizer.chat_template") != NULL;
    err_clear();
}

// ---- tensor groups ----
static const char *const group_names[] = {"embedding", "attention", "attention norm/bias", "mlp", "norms", "lm_head"};
enum { G_EMBED, G_ATTN, G_ATTN_SMALL, G_MLP, G_NORM, G_HEAD, G_COUNT };

static int group_of(const char *hf_name) {
    if (strstr(hf_name, "embed_tokens")) return G_EMBED;
    if (strstr(hf_name, "lm_head")) return G_HEAD;
    if (strstr(hf_name, "self_attn")) return strstr(hf_name, "proj.weight") ? G_ATTN : G_ATTN_SMALL;
    if (strstr(hf_name, "mlp")) return G_MLP;
    return G_NORM;
}

typedef struct {
    int64_t count[G_COUNT][DTYPE_COUNT];
    int64_t bytes[G_COUNT];
} group_stats;

static void collect_groups(const model *m, group_stats *gs, const model_tensor_spec *s, int64_t n) {
    memset(gs, 0, sizeof *gs);
    for (int64_t i = 0; i < n; i++) {
        const tensor_view *v = m->src.kind == MODEL_SRC_GGUF ? gguf_find_tensor(&m->gguf, s[i].gguf_name)
                                                             : st_set_find(&m->st, s[i].hf_name);
        if (!v) continue;
        int g = group_of(s[i].hf_name);
        gs->count[g][v->type]++;
        gs->bytes[g] += (int64_t)v->nbytes;
    }
}

// ---- output ----
static void print_text(const model *m, const tok_facts *tf, const group_stats *gs, const mem_estimate *inf,
                       const mem_estimate *tr, const mem_estimate *tr_ckpt, const train_shape *ts) {
    const model_config *c = &m->cfg;
    char b1[32], b2[32], b3[32];
    printf("model:         %s (%s)\n", m->src.path, m->src.kind == MODEL_SRC_GGUF ? "GGUF" : "HF directory");
    printf("architecture:  %s\n", arch_name(c->arch));
    printf("layers:        %lld\n", (long long)c->n_layers);
    printf("hidden size:   %lld\n", (long long)c->hidden_size);
    printf("mlp size:      %lld\n", (long long)c->intermediate_size);
    printf("heads:         %lld query / %lld kv, head dim %lld\n", (long long)c->n_heads, (long long)c->n_kv_heads,
           (long long)c->head_dim);
    printf("vocabulary:    %lld\n", (long long)c->vocab_size);
    printf("context:       %lld positions\n", (long long)c->max_position_embeddings);
    printf("rope:          theta %g, scaling %s", c->rope_theta, rope_scaling_name(c->rope_scaling.type));
    if (c->rope_scaling.type != ROPE_SCALING_NONE) printf(" (factor %g)", c->rope_scaling.factor);
    printf("\n");
    int nope = 0;
    for (int64_t i = 0; i < c->n_layers; i++) nope += !c->use_rope[i];
    if (c->arch == ARCH_SMOLLM3 || nope) {
        printf("nope layers:   %d of %lld:", nope, (long long)c->n_layers);
        for (int64_t i = 0; i < c->n_layers; i++)
            if (!c->use_rope[i]) printf(" %lld", (long long)i);
        printf("\n");
    }
    printf("features:      %s embeddings%s%s%s%s\n", c->tie_word_embeddings ? "tied" : "untied",
           c->attention_bias ? ", q/k/v bias" : "", c->o_bias ? ", o bias" : "", c->qk_norm ? ", q/k norm" : "",
           c->mlp_bias ? ", mlp bias" : "");
    printf("rms norm eps:  %g\n", c->rms_norm_eps);
    printf("parameters:    %s (%lld)\n", fmt_count(b1, sizeof b1, (double)model_param_count(c)),
           (long long)model_param_count(c));
    printf("file size:     %s\n", fmt_bytes(b1, sizeof b1, (double)m->file_bytes));
    printf("tensors:\n");
    for (int g = 0; g < G_COUNT; g++) {
        int any = 0;
        for (int t = 0; t < DTYPE_COUNT; t++) any |= gs->count[g][t] > 0;
        if (!any) continue;
        printf("  %-20s", group_names[g]);
        for (int t = 0; t < DTYPE_COUNT; t++)
            if (gs->count[g][t]) printf(" %s×%lld", dtype_name((dtype)t), (long long)gs->count[g][t]);
        printf("  (%s)\n", fmt_bytes(b1, sizeof b1, (double)gs->bytes[g]));
    }
    if (tf->vocab) printf("tokenizer:     %s, %lld tokens (%s)\n", tf->kind, (long long)tf->vocab, tf->where);
    else printf("tokenizer:     none found\n");
    printf("chat template: %s\n", tf->chat_template ? "yes" : "no");
    printf("bos / eos:     %lld /", (long long)c->bos_token_id);
    for (int i = 0; i < c->n_eos; i++) printf(" %lld", (long long)c->eos_token_ids[i]);
    printf("%s\n", c->n_eos ? "" : " none");
    printf("memory estimate at %lld tokens:\n", (long long)ts->max_seq_length);
    printf("  inference:     %s (weights %s + KV cache %s + scratch %s)\n", fmt_bytes(b1, sizeof b1, inf->total),
           fmt_bytes(b2, sizeof b2, inf->weights), fmt_bytes(b3, sizeof b3, inf->kv_cache),
           fmt_bytes((char[32]){0}, 32, inf->activations + inf->logits));
    printf("  LoRA training: %s (rank %lld, last %lld layers, batch %lld; %s trainable parameters)\n",
           fmt_bytes(b1, sizeof b1, tr->total), (long long)ts->lora_rank,
           (long long)(ts->num_layers < 0 || ts->num_layers > c->n_layers ? c->n_layers : ts->num_layers),
           (long long)ts->batch_size, fmt_count(b2, sizeof b2, (double)tr->lora_params));
    printf("  with grad checkpointing: %s\n", fmt_bytes(b1, sizeof b1, tr_ckpt->total));
}

static json_t *mem_json(const mem_estimate *e) {
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "total", e->total, "weights", e->weights, "kv_cache", e->kv_cache,
                     "activations", e->activations, "logits", e->logits, "lora", e->lora);
}

static void print_json(const model *m, const tok_facts *tf, const group_stats *gs, const mem_estimate *inf,
                       const mem_estimate *tr, const mem_estimate *tr_ckpt) {
    const model_config *c = &m->cfg;
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(m->src.path));
    json_object_set_new(o, "format", json_string(m->src.kind == MODEL_SRC_GGUF ? "gguf" : "hf"));
    json_object_set_new(o, "architecture", json_string(arch_name(c->arch)));
    json_object_set_new(o, "num_layers", json_integer(c->n_layers));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_heads", json_integer(c->n_heads));
    json_object_set_new(o, "num_kv_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rope_scaling", json_string(rope_scaling_name(c->rope_scaling.type)));
    json_t *nope = json_array();
    for (int64_t i = 0; i < c->n_layers; i++)
        if (!c->use_rope[i]) json_array_append_new(nope, json_integer(i));
    json_object_set_new(o, "nope_layers", nope);
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "qkv_bias", json_boolean(c->attention_bias));
    json_object_set_new(o, "qk_norm", json_boolean(c->qk_norm));
    json_object_set_new(o, "parameters", json_integer(model_param_count(c)));
    json_object_set_new(o, "file_bytes", json_integer(m->file_bytes));
    json_t *groups = json_object();
    for (int g = 0; g < G_COUNT; g++) {
        json_t *d = json_object();
        for (int t = 0; t < DTYPE_COUNT; t++)
            if (gs->count[g][t]) json_object_set_new(d, dtype_name((dtype)t), json_integer(gs->count[g][t]));
        if (json_object_size(d)) json_object_set_new(groups, group_names[g], d);
        else json_decref(d);
    }
    json_object_set_new(o, "dtypes", groups);
    json_object_set_new(o, "tokenizer", tf->vocab ? json_pack("{s:s,s:I}", "kind", tf->kind, "vocab_size", (json_int_t)tf->vocab)
                                                   : json_null());
    json_object_set_new(o, "chat_template", json_boolean(tf->chat_template));
    json_object_set_new(o, "memory_inference", mem_json(inf));
    json_object_set_new(o, "memory_lora_training", mem_json(tr));
    json_object_set_new(o, "memory_lora_training_grad_checkpoint", mem_json(tr_ckpt));
    json_object_set_new(o, "lora_parameters", json_integer(tr->lora_params));
    char *s = json_dumps(o, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

static void print_tensors(const model *m) {
    char sh[64];
    int64_t n = m->src.kind == MODEL_SRC_GGUF ? m->gguf.n_tensors : m->st.n_tensors;
    for (int64_t i = 0; i < n; i++) {
        const tensor_view *v = m->src.kind == MODEL_SRC_GGUF ? &m->gguf.tensors[i] : m->st.index[i];
        printf("  %-48s %-5s %s\n", v->name, dtype_name(v->type), shape_str(sh, sizeof sh, v->ndim, v->shape));
    }
}

// ---- command ----
int cmd_inspect(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("inspect");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    train_shape ts = {0};
    if (cli_get_int(&a, "--max-seq-length", &ts.max_seq_length) || cli_get_int(&a, "--num-layers", &ts.num_layers) ||
        cli_get_int(&a, "--lora-rank", &ts.lora_rank) || cli_get_int(&a, "--batch-size", &ts.batch_size)) {
        cli_args_release(&a);
        return EXIT_USAGE;
    }
    if (ts.max_seq_length <= 0 || ts.lora_rank <= 0 || ts.batch_size <= 0 || ts.num_layers == 0 || ts.num_layers < -1) {
        rc = cli_usage_error(cmd, "--max-seq-length, --lora-rank and --batch-size must be positive; --num-layers positive or -1");
        cli_args_release(&a);
        return rc;
    }
    model m;
    if (model_load(&m, a.pos[0])) {
        cli_args_release(&a);
        return cli_fail();
    }
    tok_facts tf = {.kind = "none"};
    if (m.src.kind == MODEL_SRC_GGUF) gguf_tok_facts(&m.gguf, &tf);
    else hf_tok_facts(m.src.path, &tf);
    model_tensor_spec *specs;
    int64_t n = model_tensor_specs(&m.cfg, &specs);
    group_stats gs;
    collect_groups(&m, &gs, specs, n);
    double wbytes = 0;
    for (int g = 0; g < G_COUNT; g++) wbytes += (double)gs.bytes[g];
    mem_estimate inf, tr, trc;
    estimate_inference(&m.cfg, wbytes, ts.max_seq_length, &inf);
    estimate_lora_training(&m.cfg, wbytes, &ts, &tr);
    ts.grad_checkpoint = 1;
    estimate_lora_training(&m.cfg, wbytes, &ts, &trc);
    ts.grad_checkpoint = 0;
    if (cli_has(&a, "--json")) print_json(&m, &tf, &gs, &inf, &tr, &trc);
    else print_text(&m, &tf, &gs, &inf, &tr, &trc, &ts);
    if (cli_has(&a, "--tensors")) print_tensors(&m);
    free(specs);
    model_release(&m);
    cli_args_release(&a);
    return 0;
}
