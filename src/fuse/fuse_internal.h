// fuse_internal.h — what the pieces of src/fuse share: a weight source that
// yields a model's tensors as fp32 rows with an adapter merged in, the
// statistics of how much of the adapter's change survives the output dtype,
// and the two writers (HF directory, GGUF file) with their tokenizer halves.
//
// Ownership: a wsource borrows its model and adapter set; every buffer passed
// in is the caller's.
#ifndef LORAC_FUSE_INTERNAL_H
#define LORAC_FUSE_INTERNAL_H

#include "../train/lora.h"
#include "fuse.h"

// ---- weight source ----
typedef struct {
    const model *m;
    const lora_set *lora; // NULL: the base weights as they are
} wsource;

// One tensor of the model's list and what changes it.
typedef struct {
    const model_tensor_spec *spec;
    const tensor_view *v;      // the base tensor (NULL for an optional one that is absent)
    const lora_module *mod;    // 2-D projection the adapter changes (LoRA/DoRA or a fully trained weight), or NULL
    const float *full_vec;     // fully trained replacement of a 1-D tensor (bias, norm), or NULL
    int qk;                    // a q/k weight or bias: its rows differ between HF and GGUF llama order
    int64_t rows, cols;        // 2-D: (out, in); 1-D: (1, n)
} wtensor;

void wsrc_tensor(const wsource *s, const model_tensor_spec *t, wtensor *wt);
// Rows [r0, r0 + n) of wt as fp32, out (n, cols): in GGUF llama order when
// permuted (q/k only), else HF order; the adapter merged in fp32 (W + scale·(A·B)ᵀ,
// DoRA rows rescaled by m / ‖W + scale·(A·B)ᵀ‖). base (may be NULL) gets the same
// rows without the adapter. A 1-D tensor is one row.
void wsrc_rows(const wsource *s, const wtensor *wt, int64_t r0, int64_t n, int permuted, float *out, float *base);

// ---- what survives the output dtype ----
// Over the tensors an adapter changes: ΔW = W' − W (fp32); kept = Σ⟨R(W') − R(W), ΔW⟩ / Σ‖ΔW‖²
// with R the round trip through the output dtype; err = ‖R(W') − R(W) − ΔW‖ / ‖ΔW‖.
typedef struct {
    double dot, dd, ee;
    int64_t n_tensors;
    double worst;          // lowest per-tensor kept
    char worst_name[96];
} kept_stats;
// Add rows (n, cols) of one tensor; type is the dtype the rows are written in.
void kept_add_rows(kept_stats *k, const float *fused, const float *base, int64_t n, int64_t cols, dtype type,
                   double *t_dot, double *t_dd);
void kept_end_tensor(kept_stats *k, const char *name, double t_dot, double t_dd);
double kept_fraction(const kept_stats *k); // 1 when nothing changed
double kept_error(const kept_stats *k);

// fp32 rows (n, cols) into type's bytes (F32/F16/BF16/Q8_0); dst holds dtype_row_bytes(type, cols) · n.
void rows_encode(void *dst, const float *src, int64_t n, int64_t cols, dtype type);

// Every tensor of ms (n of them) streamed to write(ctx, bytes, len) in order, in
// chunks of rows: merged (wsrc_rows, q/k permuted when asked), encoded in
// types[i]; what each changed matrix keeps goes into ks (may be NULL), named by
// its GGUF name when gguf_names. Progress on log after a few seconds.
typedef int (*wsrc_write_fn)(void *ctx, const void *data, size_t n);
int wsrc_stream(const wsource *s, const model_tensor_spec *ms, int64_t n, const dtype *types, int permuted,
                int gguf_names, kept_stats *ks, wsrc_write_fn write, void *ctx, FILE *log);

// ---- writers ----
// The model's weights (adapter merged) as HF safetensors in dir (shards ≤ 5 GB).
int hf_write_weights(const wsource *s, const char *dir, dtype type, kept_stats *ks, FILE *log);
// config.json + generation_config.json (HF source: copied, torch_dtype set; GGUF: from the config)
// and the tokenizer files (HF source: copied; GGUF: rebuilt from its tokenizer metadata).
int hf_write_side_files(const model *m, const char *dir, dtype type);
// The model (adapter merged) as a GGUF file at path: llama.cpp's metadata and
// tensor names for the architecture, tokenizer metadata, weights in type (1-D F32).
int gguf_write_model(const wsource *s, const char *path, dtype type, const char *name, kept_stats *ks, FILE *log);

// ---- tokenizer ----
// tokenizer.* metadata from an HF directory's tokenizer.json / tokenizer_config.json /
// chat template, for vocab_size ids (llama.cpp's converter's conventions).
int tok_meta_from_hf(gguf_writer *w, const char *dir, const model_config *c);
// HF tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json)
// rebuilt from a GGUF's tokenizer metadata.
int tok_files_from_gguf(const gguf_file *g, const model_config *c, const char *dir);

#endif
