// gguf_out.c — a model (adapter merged) as a GGUF file llama.cpp loads: the
// architecture's metadata keys, tokenizer metadata, and tensors under
// llama.cpp's names in F32/F16/BF16/Q8_0.
//
// Conventions follow llama.cpp's convert_hf_to_gguf.py (read for the facts, the
// key names and layouts, not copied): architecture names llama, qwen2, qwen3,
// smollm3; 1-D tensors (norms, biases) F32; Q8_0 falls back to F16 for rows not
// a multiple of 32; llama and smollm3 q/k rows (and biases) permuted so ggml's
// "normal" RoPE rotates adjacent pairs; Llama 3 RoPE scaling as a rope_freqs
// tensor of per-frequency factors; llama.cpp's smollm3 has NoPE on every 4th
// layer, fixed, so other no_rope_layers patterns are refused.
#include "fuse_internal.h"

#include "../kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// llama.cpp's general.file_type (LlamaFileType) for a file of mostly `t`.
static uint32_t file_type_of(dtype t) {
    switch (t) {
    case DTYPE_F32: return 0;
    case DTYPE_F16: return 1;
    case DTYPE_Q8_0: return 7;
    case DTYPE_BF16: return 32;
    default: return 0;
    }
}

// What llama.cpp can load of this configuration; -1 with the reason otherwise.
static int check_llamacpp(const model_config *c, const char *path) {
    const char *a = arch_name(c->arch);
    if (c->arch == ARCH_SMOLLM3)
        for (int64_t i = 0; i < c->n_layers; i++)
            if (c->use_rope[i] != ((i + 1) % 4 != 0)) {
                err_set("%s: layer %lld is %s, but llama.cpp's smollm3 has NoPE on exactly every 4th layer "
                        "(layers 3, 7, 11, ...); it would compute another model",
                        path, (long long)i, c->use_rope[i] ? "RoPE" : "NoPE");
                return -1;
            }
    if (c->arch != ARCH_LLAMA && (c->o_bias || c->mlp_bias))
        return err_set("%s: %s with %s biases: llama.cpp's %s has no such tensors", path, a,
                       c->o_bias ? "o_proj" : "MLP", a);
    if (c->arch == ARCH_QWEN2 && c->n_heads * c->head_dim != c->hidden_size)
        return err_set("%s: qwen2 with heads × head_dim (%lld) != hidden size (%lld): llama.cpp's qwen2 assumes they match",
                       path, (long long)(c->n_heads * c->head_dim), (long long)c->hidden_size);
    if (c->rope_scaling.type == ROPE_SCALING_LLAMA3 && c->arch != ARCH_LLAMA)
        return err_set("%s: llama3 RoPE scaling on %s: llama.cpp reads its frequency factors for llama only", path, a);
    return 0;
}

// ---- metadata ----
static void arch_kvs(gguf_writer *w, const model_config *c, const char *name, dtype t) {
    const char *a = arch_name(c->arch);
    char k[128];
#define K(s) (snprintf(k, sizeof k, "%s." s, a), k)
    gguf_set_str(w, "general.architecture", a);
    gguf_set_str(w, "general.type", "model");
    gguf_set_str(w, "general.name", name);
    gguf_set_u32(w, "general.file_type", file_type_of(t));
    gguf_set_u32(w, "general.quantization_version", 2);
    gguf_set_u32(w, K("vocab_size"), (uint32_t)c->vocab_size);
    gguf_set_u32(w, K("context_length"), (uint32_t)c->max_position_embeddings);
    gguf_set_u32(w, K("embedding_length"), (uint32_t)c->hidden_size);
    gguf_set_u32(w, K("block_count"), (uint32_t)c->n_layers);
    gguf_set_u32(w, K("feed_forward_length"), (uint32_t)c->intermediate_size);
    gguf_set_u32(w, K("attention.head_count"), (uint32_t)c->n_heads);
    gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    gguf_set_f32(w, K("rope.freq_base"), (float)c->rope_theta);
    gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), (float)c->rms_norm_eps);
    gguf_set_u32(w, K("attention.key_length"), (uint32_t)c->head_dim);
    gguf_set_u32(w, K("attention.value_length"), (uint32_t)c->head_dim);
    gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)c->head_dim);
    if (c->rope_scaling.type == ROPE_SCALING_LINEAR || c->rope_scaling.type == ROPE_SCALING_YARN) {
        int yarn = c->rope_scaling.type == ROPE_SCALING_YARN;
        gguf_set_str(w, K("rope.scaling.type"), yarn ? "yarn" : "linear");
        gguf_set_f32(w, K("rope.scaling.factor"), (float)c->rope_scaling.factor);
        if (yarn) {
            gguf_set_u32(w, K("rope.scaling.original_context_length"),
                         (uint32_t)c->rope_scaling.original_max_position_embeddings);
            if (c->rope_scaling.beta_fast != 32) gguf_set_f32(w, K("rope.scaling.yarn_beta_fast"), (float)c->rope_scaling.beta_fast);
            if (c->rope_scaling.beta_slow != 1) gguf_set_f32(w, K("rope.scaling.yarn_beta_slow"), (float)c->rope_scaling.beta_slow);
            if (c->rope_scaling.attention_factor > 0)
                gguf_set_f32(w, K("rope.scaling.yarn_attn_factor"), (float)c->rope_scaling.attention_factor);
        }
    }
#undef K
}

// Llama 3 RoPE: one factor per frequency (head_dim / 2), as llama.cpp's converter
// derives them from rope_scaling (factor, low/high_freq_factor, original context).
static float *llama3_rope_factors(const model_config *c) {
    int64_t half = c->head_dim / 2;
    float *f = xmalloc((size_t)half * sizeof(float));
    double factor = c->rope_scaling.factor, lo = c->rope_scaling.low_freq_factor, hi = c->rope_scaling.high_freq_factor;
    double old = (double)c->rope_scaling.original_max_position_embeddings;
    double lo_wl = old / lo, hi_wl = old / hi;
    for (int64_t i = 0; i < half; i++) {
        float freq = 1.0f / powf((float)c->rope_theta, (float)(2 * i) / (float)c->head_dim);
        double wl = 2 * M_PI / freq;
        if (wl < hi_wl) f[i] = 1;
        else if (wl > lo_wl) f[i] = (float)factor;
        else {
            double smooth = (old / wl - lo) / (hi - lo);
            f[i] = (float)(1 / ((1 - smooth) / factor + smooth));
        }
    }
    return f;
}

// ---- the file ----
static dtype tensor_type(const model_tensor_spec *t, dtype want) {
    if (t->ndim == 1) return DTYPE_F32;
    if (t->shape[1] % dtype_block_size(want)) return DTYPE_F16; // as llama.cpp's converter
    return want;
}

static int gguf_sink(void *ctx, const void *data, size_t n) { return gguf_writer_write(ctx, data, n); }

int gguf_write_model(const wsource *s, const char *path, dtype type, const char *name, kept_stats *ks, FILE *log) {
    const model *m = s->m;
    const model_config *c = &m->cfg;
    if (type != DTYPE_F32 && type != DTYPE_F16 && type != DTYPE_BF16 && type != DTYPE_Q8_0)
        return err_set("%s: GGUF tensor type %s is not one lorac writes (f32, f16, bf16, q8_0)", path, dtype_name(type));
    if (check_llamacpp(c, path)) return -1;
    gguf_writer *w = gguf_writer_new();
    arch_kvs(w, c, name, type);
    int rc = 0;
    if (m->src.kind == MODEL_SRC_GGUF) {
        for (int64_t i = 0; i < m->gguf.n_kv; i++)
            if (strncmp(m->gguf.kvs[i].key, "tokenizer.", 10) == 0) gguf_set_kv(w, &m->gguf.kvs[i]);
        if (!gguf_find_kv(&m->gguf, "tokenizer.ggml.model"))
            rc = err_set("%s: no tokenizer metadata to carry into %s", m->src.path, path);
    } else {
        rc = tok_meta_from_hf(w, m->src.path, c);
    }
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(c, &ms);
    float *factors = c->rope_scaling.type == ROPE_SCALING_LLAMA3 ? llama3_rope_factors(c) : NULL;
    if (rc == 0 && factors) {
        int64_t sh[1] = {c->head_dim / 2};
        rc = gguf_add_tensor(w, "rope_freqs.weight", DTYPE_F32, 1, sh);
    }
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t sh[2] = {ms[i].shape[0], ms[i].shape[1]};
        rc = gguf_add_tensor(w, ms[i].gguf_name, tensor_type(&ms[i], type), ms[i].ndim, sh);
    }
    if (rc == 0) rc = gguf_writer_open(w, path);
    if (rc == 0 && factors) rc = gguf_writer_write(w, factors, (size_t)(c->head_dim / 2) * sizeof(float));
    int permuted = c->arch == ARCH_LLAMA || c->arch == ARCH_SMOLLM3;
    dtype *types = xmalloc((size_t)n * sizeof *types);
    for (int64_t i = 0; i < n; i++) types[i] = tensor_type(&ms[i], type);
    if (rc == 0) rc = wsrc_stream(s, ms, n, types, permuted, 1, ks, gguf_sink, w, log);
    free(types);
    if (rc == 0) rc = gguf_writer_commit(w);
    free(factors);
    free(ms);
    gguf_writer_free(w);
    return rc;
}
