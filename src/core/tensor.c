// tensor.c — element type table and shape helpers.
#include "tensor.h"

#include <stdio.h>
#include <string.h>

// ---- dtype table ----
static const struct {
    const char *name;
    int block;
    size_t bytes;
} dtype_info[DTYPE_COUNT] = {
    [DTYPE_F32] = {"F32", 1, 4},     [DTYPE_F16] = {"F16", 1, 2},
    [DTYPE_BF16] = {"BF16", 1, 2},   [DTYPE_F64] = {"F64", 1, 8},
    [DTYPE_I8] = {"I8", 1, 1},       [DTYPE_U8] = {"U8", 1, 1},
    [DTYPE_I16] = {"I16", 1, 2},     [DTYPE_I32] = {"I32", 1, 4},
    [DTYPE_I64] = {"I64", 1, 8},     [DTYPE_BOOL] = {"BOOL", 1, 1},
    [DTYPE_Q8_0] = {"Q8_0", 32, 34}, [DTYPE_Q4_0] = {"Q4_0", 32, 18},
    [DTYPE_Q4_1] = {"Q4_1", 32, 20}, [DTYPE_Q4_K] = {"Q4_K", 256, 144},
    [DTYPE_Q6_K] = {"Q6_K", 256, 210},
};

const char *dtype_name(dtype t) {
    return (unsigned)t < DTYPE_COUNT ? dtype_info[t].name : "?";
}

int dtype_from_name(const char *name) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (!dtype_is_quantized((dtype)i) && strcmp(dtype_info[i].name, name) == 0) return i;
    return -1;
}

int dtype_block_size(dtype t) { return dtype_info[t].block; }
size_t dtype_block_bytes(dtype t) { return dtype_info[t].bytes; }
int dtype_is_quantized(dtype t) { return t >= DTYPE_Q8_0 && t < DTYPE_COUNT; }

size_t dtype_row_bytes(dtype t, int64_t n) {
    int b = dtype_info[t].block;
    if (n < 0 || n % b) return 0;
    return (size_t)(n / b) * dtype_info[t].bytes;
}

// ---- shapes ----
int64_t tensor_numel(const tensor_view *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

const char *shape_str(char *buf, size_t bufsz, int ndim, const int64_t *shape) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, bufsz - off, "(");
    for (int i = 0; i < ndim && off < bufsz; i++)
        off += (size_t)snprintf(buf + off, bufsz - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < bufsz) snprintf(buf + off, bufsz - off, ndim == 1 ? ",)" : ")");
    return buf;
}
