// gguf.h — read GGUF v2/v3 files (mmap) and write GGUF v3 files (atomic).
//
// Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
// KV pairs (gguf string key, u32 type, value), tensor infos (name, u32 n_dims,
// u64 ne[n_dims] innermost first, u32 ggml type, u64 offset), padding to
// `general.alignment` (default 32), tensor data. Every count and offset read is
// checked against the file size before use.
//
// Ownership: a gguf_file owns its mapping and everything it parsed; views and
// strings it returns live until gguf_close. Tensor views use lorac's shape
// order (outermost first): ne = [in, out] becomes shape (out, in).
#ifndef LORAC_GGUF_H
#define LORAC_GGUF_H

#include "../core/core.h"
#include "../core/tensor.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

// ggml tensor type ids used in GGUF tensor infos
enum {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_BF16 = 30,
};
int gguf_dtype_from_ggml(uint32_t ggml_type); // lorac dtype or -1
int gguf_ggml_from_dtype(dtype t);            // ggml type id or -1
const char *gguf_type_name(gguf_type t);      // "UINT32", "STRING", ...; "?" if unknown
const char *gguf_ggml_type_name(uint32_t ggml_type); // "Q5_K", ...; "unknown" if unknown

typedef struct {
    const char *ptr; // not NUL-terminated when it points into the map; use len
    uint64_t len;
} gguf_str;

typedef struct {
    char *key;      // NUL-terminated copy
    gguf_type type;
    // scalar value (type != ARRAY), widened
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        int b;
    } v;
    gguf_str str;      // type == STRING
    gguf_type arr_type; // type == ARRAY: element type
    uint64_t arr_len;
    const uint8_t *arr_data; // raw elements in the map (string arrays: the serialized
                             // u64 length + bytes entries, as gguf_set_raw takes them)
    gguf_str *arr_strs;      // string arrays: arr_len entries (pointing into the map), owned
} gguf_kv;

typedef struct {
    mapped_file map;
    uint32_t version;
    gguf_kv *kvs;
    int64_t n_kv;
    tensor_view *tensors; // names owned (NUL-terminated copies)
    int64_t n_tensors;
    uint32_t alignment;
    size_t data_offset; // start of the tensor data section
} gguf_file;

int gguf_open(gguf_file *g, const char *path); // -1 with "path: problem"
void gguf_close(gguf_file *g);                 // NULL-safe, idempotent
int gguf_is_gguf(const char *path);            // 1 if the file starts with "GGUF"

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
const tensor_view *gguf_find_tensor(const gguf_file *g, const char *name);
// Typed getters: return 0 and fill *out, or -1 with an error naming the key
// (missing, or of a type that cannot be converted without loss).
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out);
int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out);
int gguf_get_f64(const gguf_file *g, const char *key, double *out);
int gguf_get_bool(const gguf_file *g, const char *key, int *out);
// String value as a new NUL-terminated heap string (caller frees).
char *gguf_get_str(const gguf_file *g, const char *key);
// Element i of a numeric array as int64 / double.
int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i);
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);

// ---- writer ----
// KVs and tensor infos are collected first; tensor data is streamed in order.
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w); // NULL-safe
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_bool(gguf_writer *w, const char *key, int v);
void gguf_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void gguf_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
// Setting a key that is already set replaces its value (keeping its position).
// `general.alignment` (u32, a power of two) sets the data alignment (default 32).
// Raw KV of any type, little-endian: scalars read their size from data (n ignored);
// STRING takes n bytes; ARRAY takes n elements of elem_type (for strings: n
// serialized entries, u64 length + bytes each, as gguf_kv.arr_data holds them).
void gguf_set_raw(gguf_writer *w, const char *key, gguf_type type, gguf_type elem_type,
                  const void *data, uint64_t n);
// Copy a KV read by gguf_open through unchanged (export keeps the source's metadata).
void gguf_set_kv(gguf_writer *w, const gguf_kv *kv);
// Declare a tensor with lorac shape order (outermost first).
// -1 (error set) for a duplicate name, a name of 64+ bytes (ggml's limit), a type
// GGUF cannot hold, or an innermost dimension that is not a multiple of the block.
int gguf_add_tensor(gguf_writer *w, const char *name, dtype t, int ndim, const int64_t *shape);
int gguf_writer_open(gguf_writer *w, const char *path);  // writes header + infos
// Tensor data in declaration order, in chunks of any size (a chunk may span
// tensors); each tensor is padded to the alignment as its last byte arrives.
int gguf_writer_write(gguf_writer *w, const void *data, size_t n);
// Checks every tensor got exactly its bytes, then renames into place; on any
// failure the temp file is removed and nothing appears at path.
int gguf_writer_commit(gguf_writer *w);

#endif
