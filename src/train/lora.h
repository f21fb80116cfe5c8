// lora.h — LoRA / DoRA adapters on a model's linear layers: parameters in one
// fp32 slab (gradients in a twin slab), initialisation, application in the
// forward pass, and the mlx-lm file layout (adapters.safetensors +
// adapter_config.json).
//
// Per adapted linear W (out, in): y = x·Wᵀ + scale · (drop(x)·A)·B, with
// A (in, r) ~ U(±1/√in) and B (r, out) = 0 (mlx-lm's lora_a / lora_b layout).
// DoRA (PEFT / mlx-lm): y = (m / ‖W + scale·(A·B)ᵀ‖_row) ∘ (x·Wᵀ + scale·(drop(x)·A)·B),
// the norm treated as a constant in backward; m (out) starts at ‖W‖_row.
//
// Ownership: a lora_set owns its slabs; lora_module pointers point into them.
#ifndef LORAC_LORA_H
#define LORAC_LORA_H

#include "../model/forward.h"
#include "../model/model.h"

// Targets are the block's projections (model.h proj_kind, names proj_names).

typedef struct {
    int64_t in, out;
    // full fine-tuning (fine_tune_type: full): the weight itself is trained
    float *W, *gW;       // (out, in) fp32 copy of the base weight and its gradient
    float *b, *gb;       // (out) bias and its gradient, or NULL
    tensor_view Wv;      // F32 view over W for the matmul kernels
    float *A, *B, *m;    // (in, r), (r, out), (out) or NULL — into the parameter slab
    float *gA, *gB, *gm; // same shapes, into the gradient slab
    float *wnorm;        // (out) DoRA: ‖W + scale·(A·B)ᵀ‖ per row, refreshed by lora_refresh
} lora_module;

// Trainable norm weights of one block under full fine-tuning (fp32, into the slabs).
typedef struct {
    float *w[4], *g[4]; // attention norm (d), MLP norm (d), q_norm (hd), k_norm (hd); NULL when absent
} lora_norms;

typedef struct {
    int full;             // fine_tune_type full: projections, biases and norms of the last blocks
    lora_norms *norms;    // (n_layers - first_layer), full only
    int64_t rank;
    float scale;          // effective multiplier on (x·A)·B
    float dropout;
    int dora;
    int64_t n_layers;     // model layers
    int64_t first_layer;  // adapted layers are first_layer .. n_layers-1
    uint32_t targets;     // bit t set = target t adapted
    lora_module *mods;    // ((n_layers - first_layer) * PROJ_COUNT); in/out = 0 when not adapted
    float *params, *grads;
    int64_t n_params;
} lora_set;

// Adapt the last num_layers layers (-1 = all) on the targets in mask.
// Parameters initialised from seed (A uniform, B zero, m = ‖W‖_row).
int lora_init(lora_set *s, const model *m, int64_t num_layers, uint32_t targets, int64_t rank, float scale,
              float dropout, int dora, uint64_t seed);
// Full fine-tuning of the last num_layers layers: fp32 copies of every projection
// (with bias) and norm weight of those blocks, in the parameter slab.
int lora_init_full(lora_set *s, const model *m, int64_t num_layers);
void lora_release(lora_set *s);
lora_module *lora_get(const lora_set *s, int64_t layer, proj_kind t); // NULL when not adapted
// Recompute the DoRA row norms from the current parameters (after each update).
void lora_refresh(lora_set *s, const model *m);

// Parse "self_attn.q_proj"-style names (or short q,k,v,o,gate,up,down) into a mask.
int lora_targets_from_names(const char *const *names, int n, uint32_t *mask);

// ---- files (mlx-lm layout) ----
// Write params as adapters.safetensors: model.layers.N.<target>.lora_a (in, r),
// .lora_b (r, out), DoRA .m (out); full fine-tuning: the blocks' own tensor names
// (model.layers.N.self_attn.q_proj.weight, ...). Atomic. Files always hold HF's
// q/k row order: for a GGUF llama base (cfg.qk_permuted) q/k outputs are
// reordered on save and back on load, so adapters move between a model's GGUF
// and HF forms.
int lora_save(const lora_set *s, const model *m, const char *path);
// Load an adapters.safetensors into s (shapes must match s exactly).
int lora_load_into(lora_set *s, const model *m, const char *path);
// Read an adapter directory in either layout (adapter_io.h: mlx-lm's
// adapters.safetensors, PEFT's adapter_model.safetensors, or the file named, with
// adapter_config.json) into a new set for model m (for --adapter-path); checks
// layers and shapes against m.
int lora_load_dir(lora_set *s, const model *m, const char *dir, const char *file);

// ---- inference ----
// y (T, out) += LoRA/DoRA contribution for input x (T, in) of layer/target, where y
// already holds x·Wᵀ (+ bias): for DoRA y is rescaled by m / wnorm; for full
// fine-tuning y is recomputed with the trained weight. No dropout.
void lora_apply(const lora_module *mod, const lora_set *s, float *y, const float *x, int64_t T, const float *bias);
// Make st (after infer_init, on the model s was built for) apply s unfused in
// every forward (NULL: the base model); full fine-tuning also swaps in the
// trained norm weights. s must outlive st's use.
void lora_attach(const lora_set *s, infer_state *st);

#endif
