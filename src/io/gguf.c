// gguf.c — GGUF v2/v3 reader over an mmap and an atomic, streaming GGUF v3 writer.
//
// Reader: the whole file is mapped read-only; a cursor walks the header, the
// KV pairs and the tensor infos, checking every length and count against the
// bytes left before it reads or allocates anything, so a truncated or hostile
// file fails with "path: what was being read" instead of reading past the map.
// String values and numeric arrays stay in the map; keys and tensor names are
// copied (NUL-terminated). v2 and v3 share the layout (v3 only added big-endian
// files, which lorac does not read); v1 used 32-bit counts and is refused.
//
// Writer: KVs and tensor infos are collected in memory, the header is written
// on open, tensor data is streamed in declaration order and padded per tensor,
// and commit renames the temp file into place only when every byte arrived.
#include "gguf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 64 // ggml's GGML_MAX_NAME: names must be shorter

// Smallest encodings, used to bound counts read from the file: a KV is at least
// a u64 key length, a u32 type and a 1-byte value; a tensor info at least a u64
// name length, u32 n_dims, u32 type and u64 offset.
#define MIN_KV_BYTES 13
#define MIN_TENSOR_INFO_BYTES 24

// ---- type tables ----
static const struct {
    const char *name;
    size_t size; // bytes of one value; 0 for STRING and ARRAY
} kv_types[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = {"UINT8", 1},     [GGUF_TYPE_INT8] = {"INT8", 1},
    [GGUF_TYPE_UINT16] = {"UINT16", 2},   [GGUF_TYPE_INT16] = {"INT16", 2},
    [GGUF_TYPE_UINT32] = {"UINT32", 4},   [GGUF_TYPE_INT32] = {"INT32", 4},
    [GGUF_TYPE_FLOAT32] = {"FLOAT32", 4}, [GGUF_TYPE_BOOL] = {"BOOL", 1},
    [GGUF_TYPE_STRING] = {"STRING", 0},   [GGUF_TYPE_ARRAY] = {"ARRAY", 0},
    [GGUF_TYPE_UINT64] = {"UINT64", 8},   [GGUF_TYPE_INT64] = {"INT64", 8},
    [GGUF_TYPE_FLOAT64] = {"FLOAT64", 8},
};

const char *gguf_type_name(gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? kv_types[t].name : "?";
}

static int kv_type_is_unsigned(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64;
}
static int kv_type_is_signed(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}
static int kv_type_is_float(gguf_type t) {
    return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

// Every ggml type id GGUF files use (gguf-py's GGMLQuantizationType), so that an
// unsupported tensor is named ("Q5_K") rather than just numbered.
static const char *const ggml_type_names[] = {
    [0] = "F32",      [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",     [6] = "Q5_0",
    [7] = "Q5_1",     [8] = "Q8_0",    [9] = "Q8_1",    [10] = "Q2_K",    [11] = "Q3_K",
    [12] = "Q4_K",    [13] = "Q5_K",   [14] = "Q6_K",   [15] = "Q8_K",    [16] = "IQ2_XXS",
    [17] = "IQ2_XS",  [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL",  [21] = "IQ3_S",
    [22] = "IQ2_S",   [23] = "IQ4_XS", [24] = "I8",     [25] = "I16",     [26] = "I32",
    [27] = "I64",     [28] = "F64",    [29] = "IQ1_M",  [30] = "BF16",    [34] = "TQ1_0",
    [35] = "TQ2_0",   [39] = "MXFP4",  [40] = "NVFP4",  [41] = "Q1_0",
};

const char *gguf_ggml_type_name(uint32_t ggml_type) {
    size_t n = sizeof ggml_type_names / sizeof ggml_type_names[0];
    return ggml_type < n && ggml_type_names[ggml_type] ? ggml_type_names[ggml_type] : "unknown";
}

int gguf_dtype_from_ggml(uint32_t ggml_type) {
    switch (ggml_type) {
    case GGML_TYPE_F32: return DTYPE_F32;
    case GGML_TYPE_F16: return DTYPE_F16;
    case GGML_TYPE_BF16: return DTYPE_BF16;
    case GGML_TYPE_Q4_0: return DTYPE_Q4_0;
    case GGML_TYPE_Q4_1: return DTYPE_Q4_1;
    case GGML_TYPE_Q8_0: return DTYPE_Q8_0;
    case GGML_TYPE_Q4_K: return DTYPE_Q4_K;
    case GGML_TYPE_Q6_K: return DTYPE_Q6_K;
    case GGML_TYPE_I8: return DTYPE_I8;
    case GGML_TYPE_I16: return DTYPE_I16;
    case GGML_TYPE_I32: return DTYPE_I32;
    case GGML_TYPE_I64: return DTYPE_I64;
    case GGML_TYPE_F64: return DTYPE_F64;
    default: return -1;
    }
}

int gguf_ggml_from_dtype(dtype t) {
    switch (t) {
    case DTYPE_F32: return GGML_TYPE_F32;
    case DTYPE_F16: return GGML_TYPE_F16;
    case DTYPE_BF16: return GGML_TYPE_BF16;
    case DTYPE_Q4_0: return GGML_TYPE_Q4_0;
    case DTYPE_Q4_1: return GGML_TYPE_Q4_1;
    case DTYPE_Q8_0: return GGML_TYPE_Q8_0;
    case DTYPE_Q4_K: return GGML_TYPE_Q4_K;
    case DTYPE_Q6_K: return GGML_TYPE_Q6_K;
    case DTYPE_I8: return GGML_TYPE_I8;
    case DTYPE_I16: return GGML_TYPE_I16;
    case DTYPE_I32: return GGML_TYPE_I32;
    case DTYPE_I64: return GGML_TYPE_I64;
    case DTYPE_F64: return GGML_TYPE_F64;
    default: return -1;
    }
}

// ---- little-endian helpers ----
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// ---- reader: a bounds-checked cursor ----
typedef struct {
    const uint8_t *data;
    size_t size; // file size
    size_t off;  // next byte to read
    const char *path;
} cursor;

static size_t cur_left(const cursor *c) { return c->size - c->off; }

// Fails unless n more bytes exist; `what` names what was being read.
static int cur_need(cursor *c, uint64_t n, const char *what) {
    if (n > cur_left(c))
        return err_set("%s: truncated while reading %s (needs %" PRIu64 " bytes at offset %zu, "
                       "file is %zu bytes)",
                       c->path, what, n, c->off, c->size);
    return 0;
}

static int cur_u32(cursor *c, uint32_t *v, const char *what) {
    if (cur_need(c, 4, what)) return -1;
    *v = le32(c->data + c->off);
    c->off += 4;
    return 0;
}

static int cur_u64(cursor *c, uint64_t *v, const char *what) {
    if (cur_need(c, 8, what)) return -1;
    *v = le64(c->data + c->off);
    c->off += 8;
    return 0;
}

// A gguf string (u64 length + bytes), left pointing into the map.
static int cur_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    if (cur_u64(c, &len, what)) return -1;
    if (len > cur_left(c))
        return err_set("%s: truncated while reading %s: a string of %" PRIu64 " bytes at offset "
                       "%zu runs past the end of the file (%zu bytes)",
                       c->path, what, len, c->off, c->size);
    s->ptr = (const char *)c->data + c->off;
    s->len = len;
    c->off += (size_t)len;
    return 0;
}

// ---- reader: KV values ----
static void scalar_from_bytes(gguf_kv *kv, gguf_type t, const uint8_t *p) {
    switch (t) {
    case GGUF_TYPE_UINT8: kv->v.u64 = p[0]; break;
    case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)p[0]; break;
    case GGUF_TYPE_UINT16: kv->v.u64 = le16(p); break;
    case GGUF_TYPE_INT16: kv->v.i64 = (int16_t)le16(p); break;
    case GGUF_TYPE_UINT32: kv->v.u64 = le32(p); break;
    case GGUF_TYPE_INT32: kv->v.i64 = (int32_t)le32(p); break;
    case GGUF_TYPE_UINT64: kv->v.u64 = le64(p); break;
    case GGUF_TYPE_INT64: kv->v.i64 = (int64_t)le64(p); break;
    case GGUF_TYPE_BOOL: kv->v.b = p[0] != 0; break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t u = le32(p);
        float f;
        memcpy(&f, &u, 4);
        kv->v.f64 = f;
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t u = le64(p);
        memcpy(&kv->v.f64, &u, 8);
        break;
    }
    default: LORAC_ASSERT(0 && "not a scalar type");
    }
}

// Reads the value of kv (kv->key and kv->type already set). `where` is
// "key 3 of 24" for messages.
static int read_value(cursor *c, gguf_kv *kv, const char *where) {
    char what[512];
    snprintf(what, sizeof what, "the value of key '%s' (%s)", kv->key, where);
    if ((unsigned)kv->type >= GGUF_TYPE_COUNT)
        return err_set("%s: key '%s' (%s) has unknown value type %u", c->path, kv->key, where,
                       (unsigned)kv->type);
    if (kv->type == GGUF_TYPE_STRING) return cur_str(c, &kv->str, what);
    if (kv->type != GGUF_TYPE_ARRAY) {
        if (cur_need(c, kv_types[kv->type].size, what)) return -1;
        scalar_from_bytes(kv, kv->type, c->data + c->off);
        c->off += kv_types[kv->type].size;
        return 0;
    }
    // array: u32 element type, u64 count, elements
    uint32_t et;
    if (cur_u32(c, &et, what) || cur_u64(c, &kv->arr_len, what)) return -1;
    kv->arr_type = (gguf_type)et;
    if (et >= GGUF_TYPE_COUNT)
        return err_set("%s: key '%s' (%s) is an array of unknown value type %u", c->path, kv->key,
                       where, et);
    if (et == GGUF_TYPE_ARRAY)
        return err_set("%s: key '%s' (%s) is an array of arrays; nested arrays are not supported",
                       c->path, kv->key, where);
    kv->arr_data = c->data + c->off;
    if (et == GGUF_TYPE_STRING) {
        // every entry needs at least its u64 length: bound the count before allocating
        if (kv->arr_len > cur_left(c) / 8)
            return err_set("%s: truncated while reading %s: an array of %" PRIu64 " strings "
                           "cannot fit in the %zu bytes left",
                           c->path, what, kv->arr_len, cur_left(c));
        if (kv->arr_len) kv->arr_strs = xmalloc((size_t)kv->arr_len * sizeof(gguf_str));
        for (uint64_t i = 0; i < kv->arr_len; i++) {
            char ewhat[600];
            snprintf(ewhat, sizeof ewhat, "string %" PRIu64 " of %" PRIu64 " in %s", i + 1,
                     kv->arr_len, what);
            if (cur_str(c, &kv->arr_strs[i], ewhat)) return -1;
        }
        return 0;
    }
    size_t esz = kv_types[et].size;
    if (kv->arr_len > cur_left(c) / esz)
        return err_set("%s: truncated while reading %s: an array of %" PRIu64 " %s values "
                       "(%zu bytes each) needs more than the %zu bytes left",
                       c->path, what, kv->arr_len, kv_types[et].name, esz, cur_left(c));
    c->off += (size_t)kv->arr_len * esz;
    return 0;
}

// ---- reader: duplicate detection ----
// Sorting keeps the check O(n log n) for files with many tensors.
static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// A name that occurs twice among n, or NULL. Sorts `names` in place.
static const char *find_duplicate(const char **names, int64_t n) {
    if (n < 2) return NULL;
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

// ---- reader: header, KVs, tensor infos ----
static void describe_magic(char *buf, size_t bufsz, const uint8_t *m) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, bufsz - off, "'");
    for (int i = 0; i < 4 && off < bufsz; i++)
        off += (size_t)snprintf(buf + off, bufsz - off, m[i] >= 0x20 && m[i] < 0x7f ? "%c" : "\\x%02x",
                                m[i]);
    if (off < bufsz) snprintf(buf + off, bufsz - off, "'");
}

static int read_alignment(gguf_file *g) {
    const gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv) return 0;
    uint64_t a;
    if (kv_type_is_unsigned(kv->type)) a = kv->v.u64;
    else if (kv_type_is_signed(kv->type) && kv->v.i64 > 0) a = (uint64_t)kv->v.i64;
    else if (kv_type_is_signed(kv->type)) a = 0;
    else
        return err_set("%s: key 'general.alignment' has type %s, expected UINT32", g->map.path,
                       gguf_type_name(kv->type));
    if (a == 0 || (a & (a - 1)) || a > (1u << 30))
        return err_set("%s: general.alignment is %" PRId64 ", must be a power of two (at most 2^30)",
                       g->map.path, kv_type_is_signed(kv->type) ? kv->v.i64 : (int64_t)a);
    g->alignment = (uint32_t)a;
    return 0;
}

static int read_kvs(gguf_file *g, cursor *c) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kvs[i];
        char where[64];
        snprintf(where, sizeof where, "key %" PRId64 " of %" PRId64, i + 1, g->n_kv);
        gguf_str key;
        uint32_t type;
        if (cur_str(c, &key, where)) return -1;
        kv->key = xstrndup(key.ptr, (size_t)key.len);
        if (strlen(kv->key) != key.len)
            return err_set("%s: key %" PRId64 " of %" PRId64 " ('%s') contains a NUL byte", c->path,
                           i + 1, g->n_kv, kv->key);
        if (cur_u32(c, &type, where)) return -1;
        kv->type = (gguf_type)type;
        if (read_value(c, kv, where)) return -1;
    }
    const char **names = xmalloc((size_t)(g->n_kv ? g->n_kv : 1) * sizeof *names);
    for (int64_t i = 0; i < g->n_kv; i++) names[i] = g->kvs[i].key;
    const char *dup = find_duplicate(names, g->n_kv);
    if (dup) err_set("%s: duplicate key '%s'", c->path, dup);
    free(names);
    return dup ? -1 : 0;
}

// Tensor info i: name, n_dims, ne (innermost first), ggml type, offset. Fills
// the view (data pointer later, once the data section start is known).
static int read_tensor_info(gguf_file *g, cursor *c, int64_t i, uint64_t *offset) {
    tensor_view *t = &g->tensors[i];
    char where[64];
    snprintf(where, sizeof where, "tensor info %" PRId64 " of %" PRId64, i + 1, g->n_tensors);
    gguf_str name;
    if (cur_str(c, &name, where)) return -1;
    char *nm = xstrndup(name.ptr, (size_t)name.len);
    t->name = nm;
    if (strlen(nm) != name.len)
        return err_set("%s: %s: tensor name '%s' contains a NUL byte", c->path, where, nm);
    char what[512];
    snprintf(what, sizeof what, "%s ('%s')", where, nm);
    uint32_t n_dims, type;
    if (cur_u32(c, &n_dims, what)) return -1;
    if (n_dims > TENSOR_MAX_DIMS)
        return err_set("%s: tensor '%s' has %u dims (GGUF allows at most %d)", c->path, nm, n_dims,
                       TENSOR_MAX_DIMS);
    uint64_t ne[TENSOR_MAX_DIMS];
    for (uint32_t d = 0; d < n_dims; d++)
        if (cur_u64(c, &ne[d], what)) return -1;
    if (cur_u32(c, &type, what) || cur_u64(c, offset, what)) return -1;

    int dt = gguf_dtype_from_ggml(type);
    if (dt < 0) {
        err_set("%s: tensor '%s' has ggml type %u (%s), which lorac cannot read", c->path, nm, type,
                gguf_ggml_type_name(type));
        err_hint("lorac reads GGUF tensors of type F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K");
        return -1;
    }
    t->type = (dtype)dt;
    t->ndim = (int)n_dims;
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] > (uint64_t)INT64_MAX)
            return err_set("%s: tensor '%s' has dimension %u of %" PRIu64, c->path, nm, d, ne[d]);
        int64_t n = (int64_t)ne[d];
        if (n && numel > INT64_MAX / n)
            return err_set("%s: tensor '%s' has more than 2^63 elements", c->path, nm);
        numel *= n;
        t->shape[n_dims - 1 - d] = n; // ne is innermost first; shape outermost first
    }
    int block = dtype_block_size(t->type);
    int64_t row = n_dims ? (int64_t)ne[0] : 1;
    if (row % block)
        return err_set("%s: tensor '%s' of type %s has rows of %" PRId64 " values, not a multiple "
                       "of the block size %d",
                       c->path, nm, dtype_name(t->type), row, block);
    if (*offset % g->alignment)
        return err_set("%s: tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %u",
                       c->path, nm, *offset, g->alignment);
    // bytes, saturating at SIZE_MAX (the bounds check below then fails)
    uint64_t blocks = (uint64_t)(numel / block);
    size_t bb = dtype_block_bytes(t->type);
    t->nbytes = blocks > SIZE_MAX / bb ? SIZE_MAX : (size_t)blocks * bb;
    return 0;
}

static int check_tensor_bounds(gguf_file *g, int64_t i, uint64_t offset) {
    tensor_view *t = &g->tensors[i];
    size_t size = g->map.size;
    if (g->data_offset <= size && offset <= size - g->data_offset &&
        t->nbytes <= size - g->data_offset - (size_t)offset) {
        t->data = g->map.data + g->data_offset + offset;
        return 0;
    }
    char end[64], shape[96];
    uint64_t e = (uint64_t)g->data_offset + offset;
    if (e < offset || e + t->nbytes < e) snprintf(end, sizeof end, "beyond 2^64");
    else snprintf(end, sizeof end, "%" PRIu64, e + t->nbytes);
    err_set("%s: tensor '%s' %s %s (%zu bytes at data offset %" PRIu64 ") ends at byte %s, past the "
            "end of the file (%zu bytes)",
            g->map.path, t->name, dtype_name(t->type), shape_str(shape, sizeof shape, t->ndim, t->shape),
            t->nbytes, offset, end, size);
    err_hint("the file looks truncated (an interrupted download or copy?)");
    return -1;
}

static int parse(gguf_file *g) {
    cursor c = {g->map.data, g->map.size, 0, g->map.path};
    const char *path = g->map.path;
    if (c.size < 4) return err_set("%s: not a GGUF file (only %zu bytes)", path, c.size);
    if (memcmp(c.data, GGUF_MAGIC, 4) != 0) {
        char m[32];
        describe_magic(m, sizeof m, c.data);
        return err_set("%s: not a GGUF file (magic %s, expected 'GGUF')", path, m);
    }
    c.off = 4;
    uint64_t n_tensors, n_kv;
    if (cur_u32(&c, &g->version, "the header")) return -1;
    if (g->version != 2 && g->version != 3) {
        err_set("%s: unsupported GGUF version %u (lorac reads 2 and 3)", path, g->version);
        uint32_t swapped = __builtin_bswap32(g->version);
        if (swapped == 2 || swapped == 3) err_hint("this looks like a big-endian GGUF file");
        return -1;
    }
    if (cur_u64(&c, &n_tensors, "the header") || cur_u64(&c, &n_kv, "the header")) return -1;
    size_t left = cur_left(&c);
    if (n_kv > left / MIN_KV_BYTES)
        return err_set("%s: header claims %" PRIu64 " KV pairs, more than could fit in the file "
                       "(%zu bytes)",
                       path, n_kv, c.size);
    if (n_tensors > left / MIN_TENSOR_INFO_BYTES)
        return err_set("%s: header claims %" PRIu64 " tensors, more than could fit in the file "
                       "(%zu bytes)",
                       path, n_tensors, c.size);
    if (n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_INFO_BYTES > left)
        return err_set("%s: header claims %" PRIu64 " KV pairs and %" PRIu64 " tensors, more than "
                       "could fit in the file (%zu bytes)",
                       path, n_kv, n_tensors, c.size);

    g->n_kv = (int64_t)n_kv;
    g->kvs = xcalloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    if (read_kvs(g, &c) || read_alignment(g)) return -1;

    g->n_tensors = (int64_t)n_tensors;
    g->tensors = xcalloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    uint64_t *offsets = xmalloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *offsets);
    int rc = 0;
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) rc = read_tensor_info(g, &c, i, &offsets[i]);
    if (!rc) {
        const char **names = xmalloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *names);
        for (int64_t i = 0; i < g->n_tensors; i++) names[i] = g->tensors[i].name;
        const char *dup = find_duplicate(names, g->n_tensors);
        if (dup) rc = err_set("%s: duplicate tensor name '%s'", path, dup);
        free(names);
    }
    g->data_offset = (size_t)align_up(c.off, g->alignment); // c.off <= size < 2^63: no overflow
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) rc = check_tensor_bounds(g, i, offsets[i]);
    free(offsets);
    return rc;
}

// ---- reader: public API ----
int gguf_open(gguf_file *g, const char *path) {
    memset(g, 0, sizeof *g);
    if (mf_open(&g->map, path)) return -1;
    if (parse(g)) {
        gguf_close(g);
        return -1;
    }
    return 0;
}

void gguf_close(gguf_file *g) {
    if (!g) return;
    for (int64_t i = 0; g->kvs && i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].arr_strs);
    }
    free(g->kvs);
    for (int64_t i = 0; g->tensors && i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    mf_release(&g->map);
    memset(g, 0, sizeof *g);
}

int gguf_is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && memcmp(m, GGUF_MAGIC, 4) == 0;
    fclose(f);
    return ok;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kvs[i].key, key) == 0) return &g->kvs[i];
    return NULL;
}

const tensor_view *gguf_find_tensor(const gguf_file *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

// ---- reader: typed getters ----
static const gguf_kv *need_kv(const gguf_file *g, const char *key) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (kv) return kv;
    err_set("%s: missing key '%s'", g->map.path, key);
    const char **keys = xmalloc((size_t)(g->n_kv ? g->n_kv : 1) * sizeof *keys);
    for (int64_t i = 0; i < g->n_kv; i++) keys[i] = g->kvs[i].key;
    const char *near = closest_match(key, keys, (size_t)g->n_kv);
    if (near) err_hint("did you mean '%s'?", near);
    free(keys);
    return NULL;
}

static int wrong_type(const gguf_file *g, const gguf_kv *kv, const char *expected) {
    return err_set("%s: key '%s' has type %s, expected %s", g->map.path, kv->key,
                   gguf_type_name(kv->type), expected);
}

int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out) {
    const gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv_type_is_unsigned(kv->type)) *out = kv->v.u64;
    else if (kv_type_is_signed(kv->type)) {
        if (kv->v.i64 < 0)
            return err_set("%s: key '%s' is %" PRId64 ", expected a non-negative integer", g->map.path,
                           key, kv->v.i64);
        *out = (uint64_t)kv->v.i64;
    } else return wrong_type(g, kv, "an unsigned integer");
    return 0;
}

int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out) {
    const gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv_type_is_signed(kv->type)) *out = kv->v.i64;
    else if (kv_type_is_unsigned(kv->type)) {
        if (kv->v.u64 > (uint64_t)INT64_MAX)
            return err_set("%s: key '%s' is %" PRIu64 ", too large for a signed 64-bit integer",
                           g->map.path, key, kv->v.u64);
        *out = (int64_t)kv->v.u64;
    } else return wrong_type(g, kv, "an integer");
    return 0;
}

int gguf_get_f64(const gguf_file *g, const char *key, double *out) {
    const gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    const double exact = 9007199254740992.0; // 2^53: integers beyond lose bits as doubles
    if (kv_type_is_float(kv->type)) *out = kv->v.f64;
    else if (kv_type_is_signed(kv->type) && (double)kv->v.i64 <= exact && (double)kv->v.i64 >= -exact)
        *out = (double)kv->v.i64;
    else if (kv_type_is_unsigned(kv->type) && kv->v.u64 <= (uint64_t)exact) *out = (double)kv->v.u64;
    else return wrong_type(g, kv, "a number");
    return 0;
}

int gguf_get_bool(const gguf_file *g, const char *key, int *out) {
    const gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(g, kv, "BOOL");
    *out = kv->v.b;
    return 0;
}

char *gguf_get_str(const gguf_file *g, const char *key) {
    const gguf_kv *kv = need_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != GGUF_TYPE_STRING) {
        wrong_type(g, kv, "STRING");
        return NULL;
    }
    return xstrndup(kv->str.ptr, (size_t)kv->str.len);
}

static gguf_kv arr_elem(const gguf_kv *kv, uint64_t i) {
    LORAC_ASSERT(kv->type == GGUF_TYPE_ARRAY && i < kv->arr_len);
    LORAC_ASSERT(kv->arr_type != GGUF_TYPE_STRING && kv->arr_type != GGUF_TYPE_ARRAY);
    gguf_kv e = {0};
    scalar_from_bytes(&e, kv->arr_type, kv->arr_data + i * kv_types[kv->arr_type].size);
    return e;
}

int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i) {
    gguf_kv e = arr_elem(kv, i);
    if (kv_type_is_unsigned(kv->arr_type)) return (int64_t)e.v.u64;
    if (kv_type_is_signed(kv->arr_type)) return e.v.i64;
    if (kv->arr_type == GGUF_TYPE_BOOL) return e.v.b;
    return (int64_t)e.v.f64;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i) {
    gguf_kv e = arr_elem(kv, i);
    if (kv_type_is_unsigned(kv->arr_type)) return (double)e.v.u64;
    if (kv_type_is_signed(kv->arr_type)) return (double)e.v.i64;
    if (kv->arr_type == GGUF_TYPE_BOOL) return e.v.b;
    return e.v.f64;
}

// ---- writer: collected KVs and tensor infos ----
typedef struct {
    char *key;
    gguf_type type;
    strbuf val; // serialized value (what follows the u32 type in the file)
} wkv;

typedef struct {
    char *name;
    uint32_t ggml_type;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS]; // outermost first
    size_t nbytes;
    uint64_t offset; // in the data section; set by gguf_writer_open
} wtensor;

struct gguf_writer {
    wkv *kvs;
    int64_t n_kv, cap_kv;
    wtensor *ts;
    int64_t n_ts, cap_ts;
    uint32_t alignment;
    // streaming state (after gguf_writer_open)
    atomic_file af;
    int opened, failed;
    int64_t cur;     // tensor receiving data
    size_t cur_done; // bytes of it written so far
};

static void put_u32(strbuf *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    sb_append(b, (const char *)p, 4);
}
static void put_u64(strbuf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_str(strbuf *b, const char *s, uint64_t n) {
    put_u64(b, n);
    if (n) sb_append(b, s, (size_t)n);
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = xcalloc(1, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->opened) af_abort(&w->af);
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        sb_release(&w->kvs[i].val);
    }
    free(w->kvs);
    for (int64_t i = 0; i < w->n_ts; i++) free(w->ts[i].name);
    free(w->ts);
    free(w);
}

// The entry for key with an emptied value buffer: a new one at the end, or the
// existing one (a repeated set replaces the value and keeps the position).
static strbuf *kv_slot(gguf_writer *w, const char *key, gguf_type type) {
    LORAC_ASSERT(w && key && !w->opened);
    wkv *kv = NULL;
    for (int64_t i = 0; i < w->n_kv && !kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0) kv = &w->kvs[i];
    if (!kv) {
        if (w->n_kv == w->cap_kv) {
            w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
            w->kvs = xrealloc(w->kvs, (size_t)w->cap_kv * sizeof *w->kvs);
        }
        kv = &w->kvs[w->n_kv++];
        kv->key = xstrdup(key);
        sb_init(&kv->val);
    }
    kv->type = type;
    kv->val.len = 0;
    return &kv->val;
}

void gguf_set_raw(gguf_writer *w, const char *key, gguf_type type, gguf_type elem_type,
                  const void *data, uint64_t n) {
    LORAC_ASSERT((unsigned)type < GGUF_TYPE_COUNT);
    strbuf *b = kv_slot(w, key, type);
    if (type == GGUF_TYPE_STRING) {
        put_str(b, data, n);
    } else if (type != GGUF_TYPE_ARRAY) {
        sb_append(b, data, kv_types[type].size);
    } else {
        LORAC_ASSERT((unsigned)elem_type < GGUF_TYPE_COUNT && elem_type != GGUF_TYPE_ARRAY);
        put_u32(b, elem_type);
        put_u64(b, n);
        size_t bytes = 0;
        if (elem_type == GGUF_TYPE_STRING) { // walk the serialized entries to find their length
            const uint8_t *p = data;
            for (uint64_t i = 0; i < n; i++) bytes += 8 + (size_t)le64(p + bytes);
        } else {
            bytes = (size_t)n * kv_types[elem_type].size;
        }
        if (bytes) sb_append(b, data, bytes);
    }
}

void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_UINT32);
    put_u32(b, v);
}
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_INT32);
    put_u32(b, (uint32_t)v);
}
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_UINT64);
    put_u64(b, v);
}
void gguf_set_f32(gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    strbuf *b = kv_slot(w, key, GGUF_TYPE_FLOAT32);
    put_u32(b, u);
}
void gguf_set_bool(gguf_writer *w, const char *key, int v) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_BOOL);
    sb_putc(b, v ? 1 : 0);
}
void gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_STRING);
    put_str(b, v, strlen(v));
}
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, n);
    for (uint64_t i = 0; i < n; i++) put_str(b, v[i], strlen(v[i]));
}
void gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_INT32);
    put_u64(b, n);
    for (uint64_t i = 0; i < n; i++) put_u32(b, (uint32_t)v[i]);
}
void gguf_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    strbuf *b = kv_slot(w, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_FLOAT32);
    put_u64(b, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(b, u);
    }
}

void gguf_set_kv(gguf_writer *w, const gguf_kv *kv) {
    if (kv->type == GGUF_TYPE_STRING) {
        gguf_set_raw(w, kv->key, kv->type, 0, kv->str.ptr, kv->str.len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        gguf_set_raw(w, kv->key, kv->type, kv->arr_type, kv->arr_data, kv->arr_len);
    } else { // re-encode the widened scalar at its own width
        strbuf *b = kv_slot(w, kv->key, kv->type);
        uint64_t u = kv_type_is_signed(kv->type) ? (uint64_t)kv->v.i64 : kv->v.u64;
        if (kv->type == GGUF_TYPE_BOOL) u = kv->v.b ? 1 : 0;
        if (kv->type == GGUF_TYPE_FLOAT32) {
            float f = (float)kv->v.f64;
            uint32_t x;
            memcpy(&x, &f, 4);
            u = x;
        } else if (kv->type == GGUF_TYPE_FLOAT64) {
            memcpy(&u, &kv->v.f64, 8);
        }
        uint8_t p[8];
        for (int i = 0; i < 8; i++) p[i] = (uint8_t)(u >> (8 * i));
        sb_append(b, (const char *)p, kv_types[kv->type].size);
    }
}

int gguf_add_tensor(gguf_writer *w, const char *name, dtype t, int ndim, const int64_t *shape) {
    LORAC_ASSERT(w && name && !w->opened);
    if (strlen(name) >= GGUF_MAX_NAME)
        return err_set("gguf writer: tensor name '%s' is %zu bytes; GGUF readers allow at most %d",
                       name, strlen(name), GGUF_MAX_NAME - 1);
    for (int64_t i = 0; i < w->n_ts; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return err_set("gguf writer: duplicate tensor name '%s'", name);
    int gt = (unsigned)t < DTYPE_COUNT ? gguf_ggml_from_dtype(t) : -1;
    if (gt < 0)
        return err_set("gguf writer: tensor '%s' has type %s, which GGUF cannot store", name,
                       dtype_name(t));
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        return err_set("gguf writer: tensor '%s' has %d dims, expected 1 to %d", name, ndim,
                       TENSOR_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && numel > INT64_MAX / shape[d]))
            return err_set("gguf writer: tensor '%s' has a bad dimension %" PRId64, name, shape[d]);
        numel *= shape[d];
    }
    int block = dtype_block_size(t);
    if (shape[ndim - 1] % block) {
        char sh[96];
        return err_set("gguf writer: tensor '%s' %s of type %s: the innermost dimension is not a "
                       "multiple of the block size %d",
                       name, shape_str(sh, sizeof sh, ndim, shape), dtype_name(t), block);
    }
    if (w->n_ts == w->cap_ts) {
        w->cap_ts = w->cap_ts ? 2 * w->cap_ts : 64;
        w->ts = xrealloc(w->ts, (size_t)w->cap_ts * sizeof *w->ts);
    }
    wtensor *wt = &w->ts[w->n_ts++];
    memset(wt, 0, sizeof *wt);
    wt->name = xstrdup(name);
    wt->ggml_type = (uint32_t)gt;
    wt->ndim = ndim;
    memcpy(wt->shape, shape, (size_t)ndim * sizeof *shape);
    wt->nbytes = (size_t)(numel / block) * dtype_block_bytes(t);
    return 0;
}

// ---- writer: header and streamed data ----
static int writer_alignment(gguf_writer *w, const char *path) {
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") != 0) continue;
        if (w->kvs[i].type != GGUF_TYPE_UINT32)
            return err_set("%s: general.alignment has type %s, expected UINT32", path,
                           gguf_type_name(w->kvs[i].type));
        uint32_t a = le32((const uint8_t *)w->kvs[i].val.buf);
        if (a == 0 || (a & (a - 1)) || a > (1u << 30))
            return err_set("%s: general.alignment is %u, must be a power of two (at most 2^30)", path,
                           a);
        w->alignment = a;
    }
    return 0;
}

int gguf_writer_open(gguf_writer *w, const char *path) {
    LORAC_ASSERT(w && !w->opened);
    if (writer_alignment(w, path)) return -1;
    strbuf h;
    sb_init(&h);
    sb_append(&h, GGUF_MAGIC, 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_ts);
    put_u64(&h, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kvs[i].key, strlen(w->kvs[i].key));
        put_u32(&h, w->kvs[i].type);
        sb_append(&h, w->kvs[i].val.buf, w->kvs[i].val.len);
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_ts; i++) {
        wtensor *t = &w->ts[i];
        t->offset = off;
        off = align_up(off + t->nbytes, w->alignment);
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) put_u64(&h, (uint64_t)t->shape[d]); // ne: innermost first
        put_u32(&h, t->ggml_type);
        put_u64(&h, t->offset);
    }
    while (h.len % w->alignment) sb_putc(&h, 0);
    int rc = af_open(&w->af, path);
    if (!rc) {
        w->opened = 1;
        rc = af_write(&w->af, h.buf, h.len);
        if (rc) w->failed = 1;
    }
    sb_release(&h);
    w->cur = 0;
    w->cur_done = 0;
    return rc;
}

static int write_zeros(gguf_writer *w, size_t n) {
    static const char zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (af_write(&w->af, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

// Pads and moves past every complete tensor at the cursor (zero-byte ones included).
static int advance_full(gguf_writer *w) {
    while (w->cur < w->n_ts && w->cur_done == w->ts[w->cur].nbytes) {
        size_t n = w->ts[w->cur].nbytes;
        if (write_zeros(w, (size_t)(align_up(n, w->alignment) - n))) return -1;
        w->cur++;
        w->cur_done = 0;
    }
    return 0;
}

int gguf_writer_write(gguf_writer *w, const void *data, size_t n) {
    LORAC_ASSERT(w);
    if (!w->opened) return err_set("gguf writer: write before gguf_writer_open");
    if (w->failed) return err_set("%s: an earlier write failed", w->af.path);
    const char *p = data;
    while (n) {
        if (advance_full(w)) goto fail;
        if (w->cur == w->n_ts) {
            err_set("%s: %zu bytes of data beyond the %" PRId64 " declared tensors", w->af.path, n,
                    w->n_ts);
            goto fail;
        }
        size_t room = w->ts[w->cur].nbytes - w->cur_done, k = n < room ? n : room;
        if (af_write(&w->af, p, k)) goto fail;
        w->cur_done += k;
        p += k;
        n -= k;
    }
    if (advance_full(w)) goto fail;
    return 0;
fail:
    w->failed = 1;
    return -1;
}

int gguf_writer_commit(gguf_writer *w) {
    LORAC_ASSERT(w);
    if (!w->opened) return err_set("gguf writer: commit before gguf_writer_open");
    int rc = w->failed ? err_set("%s: an earlier write failed", w->af.path) : advance_full(w);
    if (!rc && w->cur < w->n_ts) {
        const wtensor *t = &w->ts[w->cur];
        rc = err_set("%s: tensor '%s' got %zu of its %zu bytes (tensor %" PRId64 " of %" PRId64 ")",
                     w->af.path, t->name, w->cur_done, t->nbytes, w->cur + 1, w->n_ts);
    }
    w->opened = 0;
    if (rc) {
        af_abort(&w->af);
        return -1;
    }
    return af_commit(&w->af);
}
