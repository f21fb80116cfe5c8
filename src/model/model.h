// model.h — a loaded base model: config + read-only weight views into the
// mmap'd safetensors shards or GGUF file, validated against the architecture.
//
// Ownership: a model owns its config, its open files and its arrays; every
// tensor_view pointer in it points into those files and lives until model_release.
#ifndef LORAC_MODEL_H
#define LORAC_MODEL_H

#include "../io/gguf.h"
#include "../io/model_path.h"
#include "../io/safetensors.h"
#include "config.h"

// One transformer block's weights (NULL where the architecture has none).
typedef struct {
    const tensor_view *attn_norm; // (d)
    const tensor_view *q, *k, *v; // (n_heads*hd, d), (n_kv*hd, d), (n_kv*hd, d)
    const tensor_view *q_bias, *k_bias, *v_bias; // (n_heads*hd), (n_kv*hd), (n_kv*hd)
    const tensor_view *o;         // (d, n_heads*hd)
    const tensor_view *o_bias;    // (d)
    const tensor_view *q_norm, *k_norm; // (hd) qwen3
    const tensor_view *mlp_norm;  // (d)
    const tensor_view *gate, *up; // (ff, d)
    const tensor_view *down;      // (d, ff)
    const tensor_view *gate_bias, *up_bias, *down_bias; // (ff), (ff), (d)
} layer_weights;

// The seven linear projections of a block, in this order everywhere (LoRA keys,
// adapter hooks): q, k, v, o, gate, up, down.
typedef enum { PROJ_Q, PROJ_K, PROJ_V, PROJ_O, PROJ_GATE, PROJ_UP, PROJ_DOWN, PROJ_COUNT } proj_kind;
extern const char *const proj_names[PROJ_COUNT]; // "self_attn.q_proj", ... "mlp.down_proj"
const tensor_view *layer_proj(const layer_weights *L, proj_kind p);

typedef struct {
    model_config cfg;
    model_src src;
    st_set st;        // MODEL_SRC_HF_DIR
    gguf_file gguf;   // MODEL_SRC_GGUF
    const tensor_view *embed;      // (vocab, d)
    const tensor_view *final_norm; // (d)
    const tensor_view *lm_head;    // (vocab, d); == embed when tied
    layer_weights *layers;         // (n_layers)
    int64_t file_bytes;            // total size of the weight files
} model;

// ---- the architecture's tensor list ----
// One expected tensor: its HF and GGUF names, its shape, and where it goes.
typedef struct {
    char hf_name[96];
    char gguf_name[64];
    int ndim;
    int64_t shape[2];
    int layer;                   // -1 for non-layer tensors
    size_t slot;                 // offsetof into layer_weights, or into model for globals
    int optional;                // tolerated when absent (never for arch-required tensors)
} model_tensor_spec;

// Every tensor cfg's architecture needs, in HF file order (embed, layers, norm, lm_head).
// Returns the count; *out is heap-allocated (caller frees).
int64_t model_tensor_specs(const model_config *cfg, model_tensor_spec **out);
// Parameter count implied by cfg (tied embeddings counted once).
int64_t model_param_count(const model_config *cfg);
// The loaded view a spec names (NULL for an optional tensor the file lacks).
const tensor_view *model_tensor(const model *m, const model_tensor_spec *t);

// ---- q/k row order ----
// GGUF llama-family files (cfg.qk_permuted) store each head's q/k rows with the
// rotation pairs interleaved (ggml's "normal" RoPE): GGUF row 2i + h of a head
// holds HF row h·hd/2 + i (HF rotates halves, "neox"). Within-head indices; the
// head offset carries over. hd = head_dim.
int64_t qk_row_hf_of_gguf(int64_t gguf_row, int64_t hd);
int64_t qk_row_gguf_of_hf(int64_t hf_row, int64_t hd);
// x (rows, cols) reordered in place between the two orders (to_hf: GGUF -> HF),
// along its rows (by_rows: an (out, in) weight) or its columns (a (r, out) LoRA B,
// an (out) vector as one row); the permuted dimension is a multiple of hd.
void qk_reorder_f32(float *x, int64_t rows, int64_t cols, int by_rows, int64_t hd, int to_hf);

// Resolve spec (dir / GGUF / ORG/NAME), read the config, map the weights and
// check every expected tensor is present with the right shape.
int model_load(model *m, const char *spec);
void model_release(model *m);

#endif
