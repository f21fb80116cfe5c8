// adapter_io.h — LoRA/DoRA adapter directories in the two layouts people use,
// read into and written from one in-memory form that needs no model:
//
//   mlx-lm  adapters.safetensors: model.layers.N.<proj>.lora_a (in, r),
//           .lora_b (r, out), DoRA .m (out); adapter_config.json: fine_tune_type,
//           num_layers, lora_parameters {rank, scale, dropout, keys}
//   PEFT    adapter_model.safetensors: base_model.model.model.layers.N.<proj>.
//           lora_A.weight (r, in), .lora_B.weight (out, r), DoRA
//           .lora_magnitude_vector (out); adapter_config.json: peft_type LORA, r,
//           lora_alpha, target_modules, use_dora, use_rslora, layers_to_transform
//
// <proj> is one of proj_names (self_attn.q_proj ... mlp.down_proj). The scale on
// (x·A)·B is mlx-lm's `scale`, or PEFT's lora_alpha / r (lora_alpha / √r with
// rsLoRA). In memory the matrices are in mlx-lm's orientation and the model's HF
// row order (a GGUF llama base permutes q/k rows; adapter_to_lora handles that).
// Full fine-tuning directories (fine_tune_type: full) hold weights, not adapters:
// lora_load_dir reads them, adapter_read refuses them.
//
// Ownership: an adapter owns its modules, their values (one slab) and strings.
#ifndef LORAC_ADAPTER_IO_H
#define LORAC_ADAPTER_IO_H

#include "lora.h"

typedef enum { ADAPTER_MLX, ADAPTER_PEFT } adapter_layout;
const char *adapter_layout_name(adapter_layout l); // "mlx", "peft"
int adapter_layout_from_name(const char *name);    // -1 if unknown

typedef struct {
    int64_t layer;
    proj_kind proj;
    int64_t in, out;
    float *A; // (in, rank)
    float *B; // (rank, out)
    float *m; // (out) DoRA magnitude, or NULL
} adapter_module;

typedef struct {
    adapter_layout layout; // the layout it was read from
    int64_t rank;
    double scale;          // multiplier on (x·A)·B
    double alpha;          // PEFT lora_alpha as given or implied (scale·r, scale·√r with rsLoRA)
    int rslora, dora;
    double dropout;
    int64_t num_layers;    // mlx-lm num_layers (-1 = every layer); PEFT: -1 without layers_to_transform, else 0
    char *base_model;      // mlx-lm "model" / PEFT base_model_name_or_path; NULL when absent
    adapter_module *mods;  // sorted by layer, then projection
    int64_t n_mods;
    float *slab;
    char *weights_path;    // the file read, for messages
} adapter;

// The layout of an adapter directory from its adapter_config.json ("peft_type"
// present: PEFT). -1 with "dir: no adapter_config.json (...)" when there is none.
int adapter_detect(const char *dir, adapter_layout *out);
// Read either layout. file: the weights file in dir (NULL: adapters.safetensors
// for mlx-lm, adapter_model.safetensors for PEFT). Every tensor must be one this
// layout defines, shapes consistent with the rank, values F32/F16/BF16.
int adapter_read(adapter *a, const char *dir, const char *file);
void adapter_release(adapter *a); // NULL-safe

// Write a's weights and adapter_config.json into dir (which must exist), each
// file atomically. n_model_layers (0 = unknown) makes mlx-lm's num_layers cover
// exactly the adapted layers; unknown, it is taken from the source (-1 when the
// adapter covers every layer) — an error when it cannot be known.
int adapter_write(const adapter *a, const char *dir, adapter_layout layout, int64_t n_model_layers);

// Check a against model m (layer indices, each projection's shape) and build the
// lora_set that applies it (q/k reordered for GGUF llama bases, DoRA norms computed).
// Errors name the tensor, the adapter's and the model's shapes and the architecture.
int adapter_to_lora(const adapter *a, const model *m, lora_set *s);
// A LoRA/DoRA set (not full fine-tuning) as an adapter in HF row order.
int adapter_from_lora(adapter *a, const lora_set *s, const model *m);

#endif
