// fuse.h — merge adapters into a base model and move models between formats:
// the HF directory (safetensors, config.json, tokenizer files) that transformers
// and mlx-lm load, and the GGUF file llama.cpp / Ollama / LM Studio load.
//
//   fuse_model     base (HF dir, ORG/NAME or GGUF) + adapter (mlx-lm or PEFT layout)
//                  -> HF directory (+ optionally a GGUF): W' = W + scale·(A·B)ᵀ in fp32,
//                  DoRA rows rescaled by m / ‖W'‖_row, stored in the base's dtype
//                  (bf16 for quantized GGUF bases).
//   convert_model  any model lorac loads -> HF directory or GGUF file (by the output
//                  name: *.gguf is a GGUF), in a chosen dtype.
//
// Every output is written under a temporary name and renamed into place, so a
// failure (a bad adapter, a full disk) leaves nothing behind; an existing output
// is refused unless force. Library calls: they return 0, or -1 with the message in
// err_msg() (core.h); progress goes to opts.log when set.
//
// Ownership: options are borrowed; a fuse_report owns its strings
// (fuse_report_release).
#ifndef LORAC_FUSE_H
#define LORAC_FUSE_H

#include "../core/core.h"
#include "../core/tensor.h"

#define FUSE_MIN_KEPT_DEFAULT 0.9

typedef struct {
    const char *model;        // base: HF directory, ORG/NAME in the HF cache, or a GGUF file
    const char *adapter_path; // adapter directory, mlx-lm or PEFT layout (NULL: none, a plain re-save)
    const char *adapter_file; // weights file inside it (NULL: the layout's default)
    const char *save_path;    // HF directory to write
    int dtype;                // HF weights: DTYPE_F32/F16/BF16; -1 = the base's (BF16 for quantized bases)
    int dequantize;           // mlx-lm's --dequantize: quantized bases are always written dequantized
    int export_gguf;          // also write a GGUF
    const char *gguf_path;    // a file name inside save_path, or a path with a '/'; NULL = ggml-model-<type>.gguf
    int gguf_type;            // DTYPE_F16 (default when -1), DTYPE_BF16, DTYPE_Q8_0, DTYPE_F32
    int force;                // replace existing outputs
    double min_kept;          // a quantized output must keep this fraction of ΔW (0 = FUSE_MIN_KEPT_DEFAULT)
    FILE *log;                // progress and the summary (NULL = quiet)
} fuse_opts;

// What the adapter changed and how much of it the outputs keep: over the changed
// tensors, kept = Σ⟨R(W') − R(W), ΔW⟩ / Σ‖ΔW‖² with R the round trip through the
// output dtype (1 = all of it), err = ‖R(W') − R(W) − ΔW‖ / ‖ΔW‖.
typedef struct {
    int64_t n_changed;         // tensors the adapter changes
    dtype hf_dtype;
    double hf_kept, hf_err;
    char hf_worst[96];         // tensor keeping the least, and how much
    double hf_worst_kept;
    int have_gguf;
    dtype gguf_dtype;
    double gguf_kept, gguf_err;
    char *gguf_path;           // where the GGUF went (owned)
} fuse_report;

void fuse_opts_init(fuse_opts *o); // every field to its default
int fuse_model(const fuse_opts *o, fuse_report *r); // r may be NULL
void fuse_report_release(fuse_report *r);

typedef struct {
    const char *model; // input: HF directory, ORG/NAME, or a GGUF file
    const char *out;   // ends in ".gguf": a GGUF file; otherwise an HF directory
    int dtype;         // DTYPE_F32/F16/BF16 (HF or GGUF), DTYPE_Q8_0 (GGUF); -1 = the source's (BF16 for quantized)
    int force;
    FILE *log;
} convert_opts;

void convert_opts_init(convert_opts *o);
int convert_model(const convert_opts *o);

// "f32", "f16", "bf16", "q8_0" -> dtype; -1 if none of them.
int fuse_dtype_from_name(const char *name);
const char *fuse_dtype_name(dtype t); // "f32", ...

#endif
