// tensor.h — element types and read-only tensor views shared by every file format.
//
// A tensor_view points into memory owned by someone else (usually an mmap'd
// model file); it never owns its data. Shapes are row-major, outermost first,
// as in safetensors/PyTorch: a linear layer's weight is (out_features, in_features).
// GGUF's reversed `ne` order is converted to this order by the reader.
#ifndef LORAC_TENSOR_H
#define LORAC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DTYPE_F32,
    DTYPE_F16,
    DTYPE_BF16,
    DTYPE_F64,
    DTYPE_I8,
    DTYPE_U8,
    DTYPE_I16,
    DTYPE_I32,
    DTYPE_I64,
    DTYPE_BOOL,
    // GGUF block-quantized types: the innermost dimension is split into blocks.
    DTYPE_Q8_0, // 32 values: f16 d, 32 x int8
    DTYPE_Q4_0, // 32 values: f16 d, 16 bytes of nibbles
    DTYPE_Q4_1, // 32 values: f16 d, f16 m, 16 bytes of nibbles
    DTYPE_Q4_K, // 256 values: f16 d, f16 dmin, 12 bytes scales, 128 bytes nibbles
    DTYPE_Q6_K, // 256 values: 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d
    DTYPE_COUNT
} dtype;

const char *dtype_name(dtype t);          // "F32", "BF16", "Q4_K", ...
int dtype_from_name(const char *name);    // safetensors names ("F32", "BF16"); -1 if unknown
int dtype_block_size(dtype t);            // values per block (1 for plain types)
size_t dtype_block_bytes(dtype t);        // bytes per block (element size for plain types)
int dtype_is_quantized(dtype t);
// Bytes for n values (n must be a multiple of the block size; returns 0 otherwise).
size_t dtype_row_bytes(dtype t, int64_t n);

#define TENSOR_MAX_DIMS 4

typedef struct {
    const char *name;           // owned by the file object
    dtype type;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS]; // outermost first
    const void *data;           // into the mapped file
    size_t nbytes;
} tensor_view;

int64_t tensor_numel(const tensor_view *t);
// "(576, 49152)" into buf.
const char *shape_str(char *buf, size_t bufsz, int ndim, const int64_t *shape);

#endif
