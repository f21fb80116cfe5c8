// hf_write.h — write a model's weights into an HF directory as safetensors:
// one `model.safetensors`, or `model-0000K-of-0000N.safetensors` shards of at
// most max_shard_bytes plus `model.safetensors.index.json` (HF's layout).
//
// Tensors are declared up front and their bytes streamed in declaration order,
// so no shard is ever held in memory. Every file goes through a temp name.
#ifndef LORAC_HF_WRITE_H
#define LORAC_HF_WRITE_H

#include "../io/safetensors.h"
#include "config.h"

#define HF_MAX_SHARD_BYTES 5000000000ull // transformers' default max_shard_size "5GB"

typedef struct {
    char *dir;
    st_tensor_spec *specs; // copies (names owned)
    int64_t n;
    int *shard_of;         // (n) shard index of each tensor
    int n_shards;
    int cur_shard;
    int64_t next;          // next tensor whose bytes are expected
    size_t done_bytes;     // bytes of tensor `next` already written
    st_writer w;
    int open;
} hf_writer;

int hfw_open(hf_writer *h, const char *dir, const st_tensor_spec *specs, int64_t n, uint64_t max_shard_bytes);
// Every tensor of c's architecture (model_tensor_specs order, HF names) in dtype t,
// shards of at most HF_MAX_SHARD_BYTES.
int hfw_open_model(hf_writer *h, const char *dir, const model_config *c, dtype t);
int hfw_write(hf_writer *h, const void *data, size_t n); // may span tensors and shards
int hfw_commit(hf_writer *h);  // last shard + index; releases h
void hfw_abort(hf_writer *h);  // removes temp files; releases h; NULL-safe

#endif
