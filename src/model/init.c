// init.c — presets (SmolLM2-135M, SmolLM3-3B, Qwen3-4B, tiny) and random weights.
#include "init.h"

#include "hf_write.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

// ---- presets ----
typedef struct {
    const char *name;
    model_arch arch;
    int64_t d, ff, layers, heads, kv, hd, vocab, max_pos;
    double eps, theta;
    int tie;
    int64_t bos, eos, pad;
} preset;

static const preset presets[] = {
    // tiny: 4 layers so smollm3 has one NoPE layer (layer 3); dims small but GQA-shaped
    {"tiny", ARCH_LLAMA, 64, 128, 4, 4, 2, 16, 256, 2048, 1e-6, 10000, 0, 1, 2, -1},
    {"smollm2-135m", ARCH_LLAMA, 576, 1536, 30, 9, 3, 64, 49152, 8192, 1e-5, 100000, 1, 1, 2, 2},
    {"smollm3-3b", ARCH_SMOLLM3, 2048, 11008, 36, 16, 4, 128, 128256, 65536, 1e-6, 5000000, 1, 128000, 128012, 128004},
    {"qwen3-4b", ARCH_QWEN3, 2560, 9728, 36, 32, 8, 128, 151936, 262144, 1e-6, 5000000, 1, 151643, 151645, 151643},
};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])
const char *const preset_names[] = {"tiny", "smollm2-135m", "smollm3-3b", "qwen3-4b", NULL};

int preset_config(const char *name, int arch, model_config *c) {
    const preset *p = NULL;
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(presets[i].name, name) == 0) p = &presets[i];
    if (!p) return err_set("unknown preset '%s'", name);
    config_init(c);
    c->arch = arch >= 0 ? (model_arch)arch : p->arch;
    c->hidden_size = p->d;
    c->intermediate_size = p->ff;
    c->n_layers = p->layers;
    c->n_heads = p->heads;
    c->n_kv_heads = p->kv;
    c->head_dim = p->hd;
    c->vocab_size = p->vocab;
    c->max_position_embeddings = p->max_pos;
    c->rms_norm_eps = p->eps;
    c->rope_theta = p->theta;
    c->tie_word_embeddings = p->tie;
    c->bos_token_id = p->bos;
    c->eos_token_ids[0] = p->eos;
    c->n_eos = 1;
    c->pad_token_id = p->pad;
    c->attention_bias = c->arch == ARCH_QWEN2;
    c->qk_norm = c->arch == ARCH_QWEN3;
    c->use_rope = xmalloc((size_t)c->n_layers);
    for (int64_t i = 0; i < c->n_layers; i++) c->use_rope[i] = c->arch != ARCH_SMOLLM3 || (i + 1) % 4 != 0;
    return 0;
}

// ---- random weights ----
#define CHUNK (1 << 20) // values per independently seeded chunk

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

// One chunk of N(mean, std) values from one 64-bit draw each: the sum of four
// 16-bit uniforms (Irwin-Hall, variance 1/3) rescaled to unit variance.
static void fill_chunk(float *out, int64_t n, uint64_t seed, float mean, float std) {
    rng_state r;
    rng_seed(&r, seed);
    const float scale = std * 1.7320508f / 65536.0f;
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = rng_next(&r);
        float s = (float)(x & 0xffff) + (float)((x >> 16) & 0xffff) + (float)((x >> 32) & 0xffff) + (float)(x >> 48);
        out[i] = mean + (s - 2.0f * 65535.0f) * scale;
    }
}

int model_write_random(const model_config *c, const char *dir, dtype t, uint64_t seed, float init_std) {
    if (t != DTYPE_F32 && t != DTYPE_BF16 && t != DTYPE_F16) return err_set("init: dtype must be f32, f16 or bf16");
    if (!(init_std > 0 && init_std < 10)) return err_set("init: standard deviation must be in (0, 10), got %g", init_std);
    hf_writer h;
    if (hfw_open_model(&h, dir, c, t)) return -1;
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(c, &ms);
    int rc = 0;
    size_t esz = dtype_block_bytes(t);
    const int64_t batch = 16 * (int64_t)CHUNK; // values generated per write
    float *f = xmalloc_aligned(64, (size_t)batch * sizeof(float));
    uint16_t *half = t == DTYPE_F32 ? NULL : xmalloc_aligned(64, (size_t)batch * 2);
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t numel = ms[i].ndim == 1 ? ms[i].shape[0] : ms[i].shape[0] * ms[i].shape[1];
        int is_norm = strstr(ms[i].hf_name, "norm") != NULL;
        float mean = is_norm ? 1.0f : 0.0f, std = is_norm ? 0.1f : init_std;
        uint64_t tseed = seed * 0x9e3779b97f4a7c15ull ^ name_hash(ms[i].hf_name);
        for (int64_t off = 0; off < numel && rc == 0; off += batch) {
            int64_t m = numel - off < batch ? numel - off : batch;
            int64_t nchunks = (m + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
            for (int64_t k = 0; k < nchunks; k++) {
                int64_t lo = k * CHUNK, len = m - lo < CHUNK ? m - lo : CHUNK;
                fill_chunk(f + lo, len, tseed + (uint64_t)((off + lo) / CHUNK), mean, std);
                if (t == DTYPE_BF16)
                    for (int64_t j = lo; j < lo + len; j++) half[j] = f32_to_bf16(f[j]);
                else if (t == DTYPE_F16)
                    for (int64_t j = lo; j < lo + len; j++) half[j] = f32_to_f16(f[j]);
            }
            rc = hfw_write(&h, half ? (const void *)half : (const void *)f, (size_t)m * esz);
        }
    }
    free(f);
    free(half);
    free(ms);
    if (rc) {
        hfw_abort(&h);
        return -1;
    }
    return hfw_commit(&h);
}
