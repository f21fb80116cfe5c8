// config.h — the in-memory model configuration shared by every architecture and
// file format: read from an HF config.json (+ generation_config.json) or from
// GGUF metadata, and written back as config.json.
//
// Ownership: a model_config owns its arrays (use_rope, eos ids, strings);
// config_release frees them.
#ifndef LORAC_CONFIG_H
#define LORAC_CONFIG_H

#include "../core/core.h"
#include "../io/gguf.h"

typedef enum { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3, ARCH_SMOLLM3, ARCH_COUNT } model_arch;
const char *arch_name(model_arch a);  // "llama", "qwen2", "qwen3", "smollm3"
int arch_from_name(const char *name); // -1 if unknown

typedef enum { ROPE_SCALING_NONE, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3, ROPE_SCALING_YARN } rope_scaling_type;
const char *rope_scaling_name(rope_scaling_type t);

#define CONFIG_MAX_EOS 8

typedef struct {
    model_arch arch;
    int64_t hidden_size;       // d
    int64_t intermediate_size; // MLP inner width
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;          // hd; hidden_size / n_heads unless given
    int64_t vocab_size;
    int64_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    struct {
        rope_scaling_type type;
        double factor;
        double low_freq_factor, high_freq_factor; // llama3
        int64_t original_max_position_embeddings; // llama3, yarn
        double beta_fast, beta_slow;              // yarn
        double attention_factor;                  // yarn (0 = derive from factor)
    } rope_scaling;
    int tie_word_embeddings;
    int attention_bias;    // q/k/v projections carry a bias (qwen2 always; llama attention_bias)
    int o_bias;            // o_proj carries a bias (llama attention_bias)
    int mlp_bias;          // gate/up/down carry a bias (llama mlp_bias)
    int qk_norm;           // per-head RMSNorm on q and k before RoPE (qwen3)
    uint8_t *use_rope;     // (n_layers) 1 = RoPE, 0 = NoPE (smollm3 no_rope_layers)
    int64_t bos_token_id;  // -1 when none
    int64_t eos_token_ids[CONFIG_MAX_EOS];
    int n_eos;
    int64_t pad_token_id;  // -1 when none
    char *torch_dtype;     // as written in config.json ("bfloat16"), may be NULL
    // generation_config.json (has_* = the file set it)
    struct {
        int has_temperature, has_top_p, has_top_k, has_repetition_penalty, has_min_p;
        double temperature, top_p, repetition_penalty, min_p;
        int64_t top_k;
        int do_sample;
    } gen;
    // GGUF llama-architecture files permute q/k rows so RoPE rotates adjacent
    // pairs (ggml's "normal" mode); HF files rotate halves ("neox"). 1 = permuted.
    int qk_permuted;
} model_config;

void config_init(model_config *c); // zeroes and sets "none" markers
void config_release(model_config *c);
// Parse dir/config.json and, if present, dir/generation_config.json.
int config_load_hf(model_config *c, const char *dir);
// Parse config.json text (path used in messages).
int config_parse_json(model_config *c, const char *text, size_t len, const char *path);
// Map GGUF architecture metadata into the same config.
int config_from_gguf(model_config *c, const gguf_file *g);
// Consistency checks (positive dims, heads divisible, layer arrays); path for messages.
int config_validate(const model_config *c, const char *path);
// Write config.json (HF layout for c->arch) and generation_config.json into dir.
int config_write_hf(const model_config *c, const char *dir);
// Only generation_config.json (token ids and the sampling defaults c knows).
int config_write_generation(const model_config *c, const char *dir);
// Deep copy.
void config_copy(model_config *dst, const model_config *src);

#endif
