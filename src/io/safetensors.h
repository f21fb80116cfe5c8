// safetensors.h — read (mmap) and write (atomic) safetensors files.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative to
// the start of the data buffer. The reader validates everything before handing
// out views: header length bound, JSON well-formed, known dtypes, offsets inside
// the file, no overlap, end - begin == numel * element size.
//
// Ownership: an st_file owns its mapping, tensor names and metadata strings;
// tensor_views it returns are valid until st_close/st_set_close.
#ifndef LORAC_SAFETENSORS_H
#define LORAC_SAFETENSORS_H

#include "../core/core.h"
#include "../core/tensor.h"

#define ST_MAX_HEADER (100u * 1024u * 1024u) // 100 MB, as the reference implementation

typedef struct {
    char *key;
    char *value;
} st_meta;

typedef struct {
    mapped_file map;
    tensor_view *tensors; // in file order
    int64_t n_tensors;
    st_meta *meta;        // __metadata__ entries
    int64_t n_meta;
} st_file;

// Open and validate one file. On error returns -1, message "path: problem".
int st_open(st_file *f, const char *path);
void st_close(st_file *f); // NULL-safe, idempotent
const tensor_view *st_find(const st_file *f, const char *name); // NULL if absent
const char *st_meta_get(const st_file *f, const char *key);      // NULL if absent

// A model's weights: one file, or shards listed by model.safetensors.index.json.
typedef struct {
    st_file *files;
    int n_files;
    // every tensor of every shard, sorted by name for lookup
    const tensor_view **index;
    int64_t n_tensors;
} st_set;

// Open a directory's weights: model.safetensors.index.json (all shards it names,
// every tensor it lists must be in the shard it names), else model.safetensors,
// else the single *.safetensors file. Duplicate names across shards are an error.
int st_set_open_dir(st_set *s, const char *dir);
// Open explicit files (used by adapters and tests).
int st_set_open_files(st_set *s, const char *const *paths, int n);
void st_set_close(st_set *s);
const tensor_view *st_set_find(const st_set *s, const char *name);

// ---- writer ----
// Tensors are declared first (names, dtypes, shapes), then their bytes are
// streamed in declaration order, so a multi-GB file never sits in memory.
// The header is padded with spaces so the data buffer starts 8-byte aligned.
typedef struct {
    atomic_file af;
    int64_t n_tensors;
    char **names;
    size_t *nbytes;
    int64_t next;        // index of the tensor whose bytes come next
    size_t written;      // bytes of the current tensor written so far
    int failed;
} st_writer;

typedef struct {
    const char *name;
    dtype type; // F32/F16/BF16/F64/I8/U8/I16/I32/I64/BOOL
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
} st_tensor_spec;

int st_writer_open(st_writer *w, const char *path, const st_tensor_spec *specs, int64_t n,
                   const st_meta *meta, int64_t n_meta);
// Append bytes of the current tensor (may be called several times per tensor).
int st_writer_write(st_writer *w, const void *data, size_t n);
int st_writer_commit(st_writer *w); // checks every byte arrived, renames into place
void st_writer_abort(st_writer *w); // NULL-safe

// Convenience: write whole in-memory tensors in one call.
int st_write_file(const char *path, const st_tensor_spec *specs, const void *const *data,
                  int64_t n, const st_meta *meta, int64_t n_meta);

#endif
