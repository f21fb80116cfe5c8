// config.c — model_config from HF config.json / generation_config.json / GGUF
// metadata, validation, and config.json output.
#include "config.h"

#include "../io/json_file.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- names ----
static const char *const arch_names[ARCH_COUNT] = {"llama", "qwen2", "qwen3", "smollm3"};
static const char *const arch_classes[ARCH_COUNT] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                                     "SmolLM3ForCausalLM"};

const char *arch_name(model_arch a) { return (unsigned)a < ARCH_COUNT ? arch_names[a] : "?"; }

int arch_from_name(const char *name) {
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcmp(name, arch_names[i]) == 0) return i;
    return -1;
}

const char *rope_scaling_name(rope_scaling_type t) {
    static const char *const n[] = {"none", "linear", "llama3", "yarn"};
    return (unsigned)t < 4 ? n[t] : "?";
}

void config_init(model_config *c) {
    memset(c, 0, sizeof *c);
    c->bos_token_id = -1;
    c->pad_token_id = -1;
}

void config_release(model_config *c) {
    if (!c) return;
    free(c->use_rope);
    free(c->torch_dtype);
    config_init(c);
}

void config_copy(model_config *dst, const model_config *src) {
    *dst = *src;
    dst->use_rope = NULL;
    if (src->use_rope) {
        dst->use_rope = xmalloc((size_t)src->n_layers);
        memcpy(dst->use_rope, src->use_rope, (size_t)src->n_layers);
    }
    dst->torch_dtype = src->torch_dtype ? xstrdup(src->torch_dtype) : NULL;
}

// ---- JSON field readers ----
// Each returns 1 when the key is present and valid, 0 when absent (or null),
// -1 (error set) when present with the wrong type.
static int get_int(json_t *o, const char *key, int64_t *out, const char *path) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15) {
        *out = (int64_t)json_real_value(v);
        return 1;
    }
    return err_set("%s: '%s' must be an integer", path, key);
}

static int get_num(json_t *o, const char *key, double *out, const char *path) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return err_set("%s: '%s' must be a number", path, key);
    *out = json_number_value(v);
    return 1;
}

static int get_bool(json_t *o, const char *key, int *out, const char *path) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return err_set("%s: '%s' must be true or false", path, key);
    *out = json_is_true(v);
    return 1;
}

static int need_pos_int(json_t *o, const char *key, int64_t *out, const char *path) {
    int r = get_int(o, key, out, path);
    if (r < 0) return -1;
    if (r == 0) return err_set("%s: missing required key '%s'", path, key);
    if (*out <= 0) return err_set("%s: '%s' must be a positive integer, got %lld", path, key, (long long)*out);
    return 0;
}

// bos/eos/pad ids: an integer, a list of integers, or null.
static int get_ids(json_t *o, const char *key, int64_t *ids, int *n, int max, const char *path) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        ids[0] = json_integer_value(v);
        *n = 1;
        return 1;
    }
    if (!json_is_array(v)) return err_set("%s: '%s' must be an integer or a list of integers", path, key);
    size_t i;
    json_t *e;
    *n = 0;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e)) return err_set("%s: '%s'[%zu] must be an integer", path, key, i);
        if (*n < max) ids[(*n)++] = json_integer_value(e);
    }
    return 1;
}

// ---- rope scaling ----
static int parse_rope_scaling(model_config *c, json_t *rs, const char *path) {
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs)) return err_set("%s: 'rope_scaling' must be an object or null", path);
    json_t *t = json_object_get(rs, "rope_type");
    if (!t) t = json_object_get(rs, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : NULL;
    if (!type) return err_set("%s: rope_scaling needs 'rope_type' (linear, llama3 or yarn)", path);
    if (strcmp(type, "default") == 0) return 0;
    double f = 1;
    if (get_num(rs, "factor", &f, path) < 0) return -1;
    c->rope_scaling.factor = f;
    if (strcmp(type, "linear") == 0) {
        c->rope_scaling.type = ROPE_SCALING_LINEAR;
    } else if (strcmp(type, "llama3") == 0) {
        c->rope_scaling.type = ROPE_SCALING_LLAMA3;
        c->rope_scaling.low_freq_factor = 1;
        c->rope_scaling.high_freq_factor = 4;
        c->rope_scaling.original_max_position_embeddings = 8192;
        if (get_num(rs, "low_freq_factor", &c->rope_scaling.low_freq_factor, path) < 0 ||
            get_num(rs, "high_freq_factor", &c->rope_scaling.high_freq_factor, path) < 0 ||
            get_int(rs, "original_max_position_embeddings", &c->rope_scaling.original_max_position_embeddings, path) < 0)
            return -1;
    } else if (strcmp(type, "yarn") == 0) {
        c->rope_scaling.type = ROPE_SCALING_YARN;
        c->rope_scaling.beta_fast = 32;
        c->rope_scaling.beta_slow = 1;
        c->rope_scaling.original_max_position_embeddings = c->max_position_embeddings;
        if (get_num(rs, "beta_fast", &c->rope_scaling.beta_fast, path) < 0 ||
            get_num(rs, "beta_slow", &c->rope_scaling.beta_slow, path) < 0 ||
            get_num(rs, "attention_factor", &c->rope_scaling.attention_factor, path) < 0 ||
            get_int(rs, "original_max_position_embeddings", &c->rope_scaling.original_max_position_embeddings, path) < 0)
            return -1;
    } else {
        return err_set("%s: unsupported rope_scaling type '%s' (lorac supports linear, llama3, yarn)", path, type);
    }
    if (!(f > 0)) return err_set("%s: rope_scaling.factor must be > 0", path);
    return 0;
}

// ---- config.json ----
int config_parse_json(model_config *c, const char *text, size_t len, const char *path) {
    config_init(c);
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return err_set("%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        err_set("%s: expected a JSON object at the top level", path);
        goto done;
    }
    json_t *mt = json_object_get(root, "model_type");
    if (!json_is_string(mt)) {
        err_set("%s: missing 'model_type' (expected one of llama, qwen2, qwen3, smollm3)", path);
        goto done;
    }
    int a = arch_from_name(json_string_value(mt));
    if (a < 0) {
        const char *best = closest_match(json_string_value(mt), arch_names, ARCH_COUNT);
        err_set("%s: unsupported model_type '%s' (lorac supports llama, qwen2, qwen3, smollm3)%s%s%s", path,
                json_string_value(mt), best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
        goto done;
    }
    c->arch = (model_arch)a;
    if (need_pos_int(root, "hidden_size", &c->hidden_size, path) || need_pos_int(root, "intermediate_size", &c->intermediate_size, path) ||
        need_pos_int(root, "num_hidden_layers", &c->n_layers, path) || need_pos_int(root, "num_attention_heads", &c->n_heads, path) ||
        need_pos_int(root, "vocab_size", &c->vocab_size, path))
        goto done;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden_size / c->n_heads;
    c->max_position_embeddings = 2048;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000;
    c->tie_word_embeddings = c->arch == ARCH_SMOLLM3;
    if (get_int(root, "num_key_value_heads", &c->n_kv_heads, path) < 0 || get_int(root, "head_dim", &c->head_dim, path) < 0 ||
        get_int(root, "max_position_embeddings", &c->max_position_embeddings, path) < 0 ||
        get_num(root, "rms_norm_eps", &c->rms_norm_eps, path) < 0 || get_num(root, "rope_theta", &c->rope_theta, path) < 0 ||
        get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, path) < 0)
        goto done;
    // transformers >= 5 nests rope settings in rope_parameters
    json_t *rp = json_object_get(root, "rope_parameters");
    if (json_is_object(rp)) {
        if (get_num(rp, "rope_theta", &c->rope_theta, path) < 0 || parse_rope_scaling(c, rp, path)) goto done;
    }
    if (parse_rope_scaling(c, json_object_get(root, "rope_scaling"), path)) goto done;
    int bias = 0;
    if (get_bool(root, "attention_bias", &bias, path) < 0 || get_bool(root, "mlp_bias", &c->mlp_bias, path) < 0) goto done;
    switch (c->arch) {
    case ARCH_QWEN2: c->attention_bias = 1; break; // Qwen2 always biases q/k/v (not o)
    case ARCH_QWEN3: c->attention_bias = c->o_bias = bias; c->qk_norm = 1; break;
    default: c->attention_bias = c->o_bias = bias; break;
    }
    c->use_rope = xmalloc((size_t)c->n_layers);
    memset(c->use_rope, 1, (size_t)c->n_layers);
    if (c->arch == ARCH_SMOLLM3) {
        json_t *nr = json_object_get(root, "no_rope_layers");
        if (nr && !json_is_null(nr)) {
            if (!json_is_array(nr) || (int64_t)json_array_size(nr) != c->n_layers) {
                err_set("%s: 'no_rope_layers' must be a list of %lld 0/1 values (one per layer)", path, (long long)c->n_layers);
                goto done;
            }
            for (int64_t i = 0; i < c->n_layers; i++) {
                json_t *e = json_array_get(nr, (size_t)i);
                int64_t v = json_is_integer(e) ? json_integer_value(e) : json_is_boolean(e) ? json_is_true(e) : -1;
                if (v != 0 && v != 1) {
                    err_set("%s: 'no_rope_layers'[%lld] must be 0 (NoPE) or 1 (RoPE)", path, (long long)i);
                    goto done;
                }
                c->use_rope[i] = (uint8_t)v;
            }
        } else {
            int64_t every = 4;
            if (get_int(root, "no_rope_layer_interval", &every, path) < 0) goto done;
            if (every <= 0) {
                err_set("%s: 'no_rope_layer_interval' must be positive", path);
                goto done;
            }
            for (int64_t i = 0; i < c->n_layers; i++) c->use_rope[i] = (i + 1) % every != 0;
        }
    }
    int n = 0;
    int64_t one[1];
    if (get_ids(root, "bos_token_id", one, &n, 1, path) < 0) goto done;
    if (n) c->bos_token_id = one[0];
    if (get_ids(root, "eos_token_id", c->eos_token_ids, &c->n_eos, CONFIG_MAX_EOS, path) < 0) goto done;
    n = 0;
    if (get_ids(root, "pad_token_id", one, &n, 1, path) < 0) goto done;
    if (n) c->pad_token_id = one[0];
    json_t *td = json_object_get(root, "torch_dtype");
    if (!td) td = json_object_get(root, "dtype");
    if (json_is_string(td)) c->torch_dtype = xstrdup(json_string_value(td));
    rc = config_validate(c, path);
done:
    json_decref(root);
    if (rc) config_release(c);
    return rc;
}

// ---- generation_config.json ----
static int parse_generation_config(model_config *c, const char *path) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len)) return -1;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root) return err_set("%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        err_set("%s: expected a JSON object at the top level", path);
        goto done;
    }
    int r;
    if ((r = get_num(root, "temperature", &c->gen.temperature, path)) < 0) goto done;
    c->gen.has_temperature = r;
    if ((r = get_num(root, "top_p", &c->gen.top_p, path)) < 0) goto done;
    c->gen.has_top_p = r;
    if ((r = get_int(root, "top_k", &c->gen.top_k, path)) < 0) goto done;
    c->gen.has_top_k = r;
    if ((r = get_num(root, "min_p", &c->gen.min_p, path)) < 0) goto done;
    c->gen.has_min_p = r;
    if ((r = get_num(root, "repetition_penalty", &c->gen.repetition_penalty, path)) < 0) goto done;
    c->gen.has_repetition_penalty = r;
    if (get_bool(root, "do_sample", &c->gen.do_sample, path) < 0) goto done;
    // generation_config's eos list is the one generate() stops on; merge it in
    int64_t ids[CONFIG_MAX_EOS];
    int n = 0;
    if (get_ids(root, "eos_token_id", ids, &n, CONFIG_MAX_EOS, path) < 0) goto done;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < c->n_eos; j++) seen |= c->eos_token_ids[j] == ids[i];
        if (!seen && c->n_eos < CONFIG_MAX_EOS) c->eos_token_ids[c->n_eos++] = ids[i];
    }
    int64_t one[1];
    n = 0;
    if (get_ids(root, "bos_token_id", one, &n, 1, path) < 0) goto done;
    if (n && c->bos_token_id < 0) c->bos_token_id = one[0];
    n = 0;
    if (get_ids(root, "pad_token_id", one, &n, 1, path) < 0) goto done;
    if (n && c->pad_token_id < 0) c->pad_token_id = one[0];
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int config_load_hf(model_config *c, const char *dir) {
    char *path = path_join(dir, "config.json");
    char *text;
    size_t len;
    config_init(c);
    if (!file_exists(path)) {
        err_set("%s: missing config.json (not an HF model directory)", dir);
        free(path);
        return -1;
    }
    int rc = file_read_all(path, &text, &len);
    if (rc == 0) {
        rc = config_parse_json(c, text, len, path);
        free(text);
    }
    free(path);
    if (rc) return -1;
    char *gpath = path_join(dir, "generation_config.json");
    if (file_exists(gpath)) rc = parse_generation_config(c, gpath);
    free(gpath);
    if (rc) config_release(c);
    return rc;
}

// ---- validation ----
int config_validate(const model_config *c, const char *path) {
    struct {
        const char *k;
        int64_t v;
    } dims[] = {{"hidden_size", c->hidden_size},        {"intermediate_size", c->intermediate_size},
                {"num_hidden_layers", c->n_layers},     {"num_attention_heads", c->n_heads},
                {"num_key_value_heads", c->n_kv_heads}, {"head_dim", c->head_dim},
                {"vocab_size", c->vocab_size},          {"max_position_embeddings", c->max_position_embeddings}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v <= 0) return err_set("%s: '%s' must be positive, got %lld", path, dims[i].k, (long long)dims[i].v);
    if (c->n_layers > 10000 || c->hidden_size > (1 << 20) || c->vocab_size > (1 << 24) || c->n_heads > 4096)
        return err_set("%s: dimensions out of range (layers %lld, hidden %lld, vocab %lld)", path, (long long)c->n_layers,
                       (long long)c->hidden_size, (long long)c->vocab_size);
    if (c->n_heads % c->n_kv_heads)
        return err_set("%s: num_attention_heads (%lld) must be a multiple of num_key_value_heads (%lld)", path,
                       (long long)c->n_heads, (long long)c->n_kv_heads);
    if (c->head_dim % 2) return err_set("%s: head_dim (%lld) must be even for RoPE", path, (long long)c->head_dim);
    if (!(c->rms_norm_eps > 0)) return err_set("%s: 'rms_norm_eps' must be > 0", path);
    if (!(c->rope_theta > 0)) return err_set("%s: 'rope_theta' must be > 0", path);
    return 0;
}

// ---- GGUF metadata ----
// GGUF arch names: llama, qwen2, qwen3, smollm3.
int config_from_gguf(model_config *c, const gguf_file *g) {
    const char *path = g->map.path;
    config_init(c);
    char *archs = gguf_get_str(g, "general.architecture");
    if (!archs) return err_prefix("%s", path);
    int a = arch_from_name(archs);
    if (a < 0) {
        err_set("%s: unsupported general.architecture '%s' (lorac supports llama, qwen2, qwen3, smollm3)", path, archs);
        free(archs);
        return -1;
    }
    c->arch = (model_arch)a;
    char key[128];
    uint64_t u;
    double f;
#define KEY(s) (snprintf(key, sizeof key, "%s." s, archs), key)
#define NEED_U(s, dst)                                                                                                 \
    do {                                                                                                               \
        if (gguf_get_u64(g, KEY(s), &u)) goto fail;                                                                    \
        dst = (int64_t)u;                                                                                              \
    } while (0)
    NEED_U("embedding_length", c->hidden_size);
    NEED_U("feed_forward_length", c->intermediate_size);
    NEED_U("block_count", c->n_layers);
    NEED_U("attention.head_count", c->n_heads);
    NEED_U("context_length", c->max_position_embeddings);
    c->n_kv_heads = c->n_heads;
    if (gguf_find_kv(g, KEY("attention.head_count_kv")) && gguf_get_u64(g, key, &u) == 0) c->n_kv_heads = (int64_t)u;
    c->head_dim = c->n_heads ? c->hidden_size / c->n_heads : 0;
    if (gguf_find_kv(g, KEY("attention.key_length")) && gguf_get_u64(g, key, &u) == 0) c->head_dim = (int64_t)u;
    if (gguf_get_f64(g, KEY("attention.layer_norm_rms_epsilon"), &f)) goto fail;
    c->rms_norm_eps = f;
    c->rope_theta = 10000;
    if (gguf_find_kv(g, KEY("rope.freq_base")) && gguf_get_f64(g, key, &f) == 0) c->rope_theta = f;
    if (gguf_find_kv(g, KEY("rope.scaling.type"))) {
        char *t = gguf_get_str(g, key);
        if (!t) goto fail;
        double factor = 1;
        if (gguf_find_kv(g, KEY("rope.scaling.factor"))) gguf_get_f64(g, key, &factor);
        if (strcmp(t, "linear") == 0) c->rope_scaling.type = ROPE_SCALING_LINEAR;
        else if (strcmp(t, "yarn") == 0) {
            c->rope_scaling.type = ROPE_SCALING_YARN;
            c->rope_scaling.beta_fast = 32;
            c->rope_scaling.beta_slow = 1;
        } else if (strcmp(t, "none") != 0) {
            err_set("%s: unsupported %s '%s'", path, key, t);
            free(t);
            goto fail;
        }
        free(t);
        c->rope_scaling.factor = factor;
        if (gguf_find_kv(g, KEY("rope.scaling.original_context_length")) && gguf_get_u64(g, key, &u) == 0)
            c->rope_scaling.original_max_position_embeddings = (int64_t)u;
    }
    // vocabulary: the tokenizer's token list, else the embedding's rows
    const gguf_kv *toks = gguf_find_kv(g, "tokenizer.ggml.tokens");
    const tensor_view *emb = gguf_find_tensor(g, "token_embd.weight");
    if (toks && toks->type == GGUF_TYPE_ARRAY) c->vocab_size = (int64_t)toks->arr_len;
    if (emb && emb->ndim == 2) c->vocab_size = emb->shape[0];
    if (gguf_find_kv(g, KEY("vocab_size")) && gguf_get_u64(g, key, &u) == 0) c->vocab_size = (int64_t)u;
    c->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->attention_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    c->o_bias = gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
    c->mlp_bias = gguf_find_tensor(g, "blk.0.ffn_up.bias") != NULL;
    c->qk_norm = gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL;
    c->qk_permuted = c->arch == ARCH_LLAMA || c->arch == ARCH_SMOLLM3; // converters permute llama-family q/k
    if (gguf_find_tensor(g, "rope_freqs.weight")) {
        err_set("%s: tensor 'rope_freqs.weight' (Llama 3 RoPE frequency factors) is not supported", path);
        err_hint("load the model's HF directory instead (config.json rope_scaling llama3 is supported)");
        goto fail;
    }
    if (c->n_layers <= 0 || c->n_layers > 10000) {
        err_set("%s: %s = %lld is out of range", path, KEY("block_count"), (long long)c->n_layers);
        goto fail;
    }
    c->use_rope = xmalloc((size_t)c->n_layers);
    memset(c->use_rope, 1, (size_t)c->n_layers);
    if (c->arch == ARCH_SMOLLM3) // llama.cpp: NoPE on every 4th layer
        for (int64_t i = 0; i < c->n_layers; i++) c->use_rope[i] = (i + 1) % 4 != 0;
    if (gguf_find_kv(g, "tokenizer.ggml.bos_token_id") && gguf_get_u64(g, "tokenizer.ggml.bos_token_id", &u) == 0)
        c->bos_token_id = (int64_t)u;
    if (gguf_find_kv(g, "tokenizer.ggml.eos_token_id") && gguf_get_u64(g, "tokenizer.ggml.eos_token_id", &u) == 0)
        c->eos_token_ids[c->n_eos++] = (int64_t)u;
    if (gguf_find_kv(g, "tokenizer.ggml.eot_token_id") && gguf_get_u64(g, "tokenizer.ggml.eot_token_id", &u) == 0 &&
        (c->n_eos == 0 || c->eos_token_ids[0] != (int64_t)u))
        c->eos_token_ids[c->n_eos++] = (int64_t)u;
    if (gguf_find_kv(g, "tokenizer.ggml.padding_token_id") && gguf_get_u64(g, "tokenizer.ggml.padding_token_id", &u) == 0)
        c->pad_token_id = (int64_t)u;
#undef NEED_U
#undef KEY
    free(archs);
    err_clear();
    if (config_validate(c, path)) {
        config_release(c);
        return -1;
    }
    return 0;
fail:
    if (!strstr(err_msg(), path)) err_prefix("%s", path);
    free(archs);
    config_release(c);
    return -1;
}

// ---- config.json output ----
static json_t *ids_json(const int64_t *ids, int n) {
    if (n == 0) return json_null();
    if (n == 1) return json_integer(ids[0]);
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

int config_write_hf(const model_config *c, const char *dir) {
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", arch_classes[c->arch]));
    json_object_set_new(o, "model_type", json_string(arch_names[c->arch]));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    if (c->rope_scaling.type == ROPE_SCALING_NONE) {
        json_object_set_new(o, "rope_scaling", json_null());
    } else {
        json_t *rs = json_object();
        json_object_set_new(rs, "rope_type", json_string(rope_scaling_name(c->rope_scaling.type)));
        json_object_set_new(rs, "factor", json_real(c->rope_scaling.factor));
        if (c->rope_scaling.type == ROPE_SCALING_LLAMA3) {
            json_object_set_new(rs, "low_freq_factor", json_real(c->rope_scaling.low_freq_factor));
            json_object_set_new(rs, "high_freq_factor", json_real(c->rope_scaling.high_freq_factor));
        }
        if (c->rope_scaling.type == ROPE_SCALING_YARN) {
            json_object_set_new(rs, "beta_fast", json_real(c->rope_scaling.beta_fast));
            json_object_set_new(rs, "beta_slow", json_real(c->rope_scaling.beta_slow));
            if (c->rope_scaling.attention_factor > 0)
                json_object_set_new(rs, "attention_factor", json_real(c->rope_scaling.attention_factor));
        }
        if (c->rope_scaling.original_max_position_embeddings > 0)
            json_object_set_new(rs, "original_max_position_embeddings",
                                json_integer(c->rope_scaling.original_max_position_embeddings));
        json_object_set_new(o, "rope_scaling", rs);
    }
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    if (c->arch != ARCH_QWEN2) json_object_set_new(o, "attention_bias", json_boolean(c->attention_bias));
    if (c->arch == ARCH_LLAMA) json_object_set_new(o, "mlp_bias", json_boolean(c->mlp_bias));
    json_object_set_new(o, "attention_dropout", json_real(0));
    if (c->arch != ARCH_LLAMA) {
        json_object_set_new(o, "use_sliding_window", json_false());
        json_object_set_new(o, "sliding_window", json_null());
    }
    if (c->arch == ARCH_SMOLLM3) {
        json_t *nr = json_array();
        for (int64_t i = 0; i < c->n_layers; i++) json_array_append_new(nr, json_integer(c->use_rope[i]));
        json_object_set_new(o, "no_rope_layers", nr);
        json_object_set_new(o, "no_rope_layer_interval", json_integer(4));
    }
    json_object_set_new(o, "bos_token_id", c->bos_token_id >= 0 ? json_integer(c->bos_token_id) : json_null());
    json_object_set_new(o, "eos_token_id", ids_json(c->eos_token_ids, c->n_eos));
    json_object_set_new(o, "pad_token_id", c->pad_token_id >= 0 ? json_integer(c->pad_token_id) : json_null());
    json_object_set_new(o, "torch_dtype", json_string(c->torch_dtype ? c->torch_dtype : "float32"));
    json_object_set_new(o, "use_cache", json_true());
    char *path = path_join(dir, "config.json");
    int rc = json_save(path, o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(o);
    free(path);
    if (rc) return -1;
    return config_write_generation(c, dir);
}

int config_write_generation(const model_config *c, const char *dir) {
    // generation_config.json: token ids, plus any sampling defaults we know
    json_t *gc = json_object();
    if (c->bos_token_id >= 0) json_object_set_new(gc, "bos_token_id", json_integer(c->bos_token_id));
    json_object_set_new(gc, "eos_token_id", ids_json(c->eos_token_ids, c->n_eos));
    if (c->pad_token_id >= 0) json_object_set_new(gc, "pad_token_id", json_integer(c->pad_token_id));
    if (c->gen.has_temperature) json_object_set_new(gc, "temperature", json_real(c->gen.temperature));
    if (c->gen.has_top_p) json_object_set_new(gc, "top_p", json_real(c->gen.top_p));
    if (c->gen.has_top_k) json_object_set_new(gc, "top_k", json_integer(c->gen.top_k));
    if (c->gen.has_min_p) json_object_set_new(gc, "min_p", json_real(c->gen.min_p));
    if (c->gen.has_repetition_penalty) json_object_set_new(gc, "repetition_penalty", json_real(c->gen.repetition_penalty));
    if (c->gen.do_sample) json_object_set_new(gc, "do_sample", json_true());
    char *path = path_join(dir, "generation_config.json");
    int rc = json_save(path, gc, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(gc);
    free(path);
    return rc;
}
