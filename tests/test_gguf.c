// test_gguf.c — GGUF writer -> reader round trips and the reader's errors on
// hand-crafted bad files.
//
// Round trips cover every KV type (numeric and string arrays included), tensors
// of every dtype GGUF holds with odd shapes, streamed data, the default and a
// custom alignment, and copying KVs through gguf_set_kv. Bad inputs are built
// byte by byte; each must fail with a message that starts with the path and
// names what was wrong.
#include "core/core.h"
#include "core/tensor.h"
#include "io/gguf.h"
#include "test.h"

#include <dirent.h>
#include <stdint.h>

// ---- byte builder ----
typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u8(bytes *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(bytes *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b_u8(b, (uint8_t)(v >> (8 * i)));
}
static void b_u64(bytes *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b_u8(b, (uint8_t)(v >> (8 * i)));
}
static void b_str(bytes *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}
static void b_pad(bytes *b, size_t align) {
    while (b->n % align) b_u8(b, 0);
}
static void b_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    b_put(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
// Tensor info with ne given innermost first, as in the file.
static void b_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) b_u64(b, ne[i]);
    b_u32(b, type);
    b_u64(b, offset);
}

static char *tmp_path(const char *name) { return path_join(test_tmpdir(), name); }

static const char *write_tmp(const char *name, const void *d, size_t n) {
    static char path[512];
    char *p = tmp_path(name);
    snprintf(path, sizeof path, "%s", p);
    free(p);
    if (file_write_atomic(path, d, n)) {
        fprintf(stderr, "cannot write %s: %s\n", path, err_msg());
        exit(2);
    }
    return path;
}

// gguf_open on these bytes must fail, leave g zeroed, and say `needle` after the path.
static void expect_fail(const char *file, int line, const bytes *b, const char *needle) {
    const char *path = write_tmp("bad.gguf", b->p, b->n);
    gguf_file g;
    err_clear();
    int rc = gguf_open(&g, path);
    const char *m = err_msg();
    int ok = rc < 0 && strncmp(m, path, strlen(path)) == 0 && strstr(m, needle) && !g.kvs &&
             !g.tensors && !g.map.data;
    if (ok) test_passed++;
    else {
        test_failed++;
        fprintf(stderr, "FAIL %s:%d: rc=%d, error '%s' lacks '%s' (or the path)\n", file, line, rc, m,
                needle);
    }
    if (rc == 0) gguf_close(&g);
}
#define EXPECT_FAIL(b, needle) expect_fail(__FILE__, __LINE__, b, needle)

// ---- round trip ----
typedef struct {
    const char *name;
    dtype type;
    int ndim;
    int64_t shape[4];
} tspec;

static const tspec tensors[] = {
    {"f32.odd", DTYPE_F32, 2, {3, 5}},        {"f16.vec", DTYPE_F16, 1, {7}},
    {"bf16.3d", DTYPE_BF16, 3, {2, 3, 5}},    {"q8_0", DTYPE_Q8_0, 2, {3, 64}},
    {"q4_0", DTYPE_Q4_0, 2, {1, 32}},         {"empty", DTYPE_F32, 2, {0, 4}},
    {"q4_1", DTYPE_Q4_1, 2, {5, 32}},         {"q4_k", DTYPE_Q4_K, 2, {2, 256}},
    {"q6_k", DTYPE_Q6_K, 1, {256}},           {"f32.4d", DTYPE_F32, 4, {2, 1, 3, 1}},
    {"i32", DTYPE_I32, 1, {3}},               {"f64", DTYPE_F64, 1, {1}},
};
#define N_TENSORS ((int)(sizeof tensors / sizeof tensors[0]))

static size_t spec_bytes(const tspec *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return dtype_row_bytes(t->type, n);
}
static uint8_t pattern(int i, size_t k) { return (uint8_t)(i * 31 + k * 7 + (k >> 8)); }

static const char *const arr_strs[] = {"a", "", "\xc3\xbcn\xc3\xaf\x63ode", "tokens with spaces"};
static const int32_t arr_i32[] = {1, -2, 2147483647, -2147483647 - 1};
static const float arr_f32[] = {0.5f, -1e-3f, 3.4e38f};
static const uint8_t arr_u8[] = {1, 2, 255};
static const int64_t arr_i64[] = {-1, (int64_t)1 << 50};
static const double arr_f64[] = {0.1, -2.5e300};
static const uint8_t arr_bool[] = {1, 0, 1};

static void set_all_kvs(gguf_writer *w) {
    gguf_set_str(w, "general.replaced", "first, then replaced");
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -5000000000000;
    double f64 = 2.718281828459045;
    gguf_set_raw(w, "t.u8", GGUF_TYPE_UINT8, 0, &u8, 1);
    gguf_set_raw(w, "t.i8", GGUF_TYPE_INT8, 0, &i8, 1);
    gguf_set_raw(w, "t.u16", GGUF_TYPE_UINT16, 0, &u16, 1);
    gguf_set_raw(w, "t.i16", GGUF_TYPE_INT16, 0, &i16, 1);
    gguf_set_u32(w, "t.u32", 4000000000u);
    gguf_set_i32(w, "t.i32", -2000000000);
    gguf_set_f32(w, "t.f32", 1.5f);
    gguf_set_bool(w, "t.bool", 1);
    gguf_set_bool(w, "t.false", 0);
    gguf_set_str(w, "t.str", "h\xc3\xa9llo");
    gguf_set_str(w, "t.empty", "");
    gguf_set_u64(w, "t.u64", ((uint64_t)1 << 40) + 3);
    gguf_set_raw(w, "t.i64", GGUF_TYPE_INT64, 0, &i64, 1);
    gguf_set_raw(w, "t.f64", GGUF_TYPE_FLOAT64, 0, &f64, 1);
    gguf_set_raw(w, "t.rawstr", GGUF_TYPE_STRING, 0, "abc\0def", 7); // embedded NUL in a value
    gguf_set_arr_str(w, "t.arr.str", arr_strs, 4);
    gguf_set_arr_i32(w, "t.arr.i32", arr_i32, 4);
    gguf_set_arr_f32(w, "t.arr.f32", arr_f32, 3);
    gguf_set_arr_i32(w, "t.arr.empty", NULL, 0);
    gguf_set_raw(w, "t.arr.u8", GGUF_TYPE_ARRAY, GGUF_TYPE_UINT8, arr_u8, 3);
    gguf_set_raw(w, "t.arr.i64", GGUF_TYPE_ARRAY, GGUF_TYPE_INT64, arr_i64, 2);
    gguf_set_raw(w, "t.arr.f64", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT64, arr_f64, 2);
    gguf_set_raw(w, "t.arr.bool", GGUF_TYPE_ARRAY, GGUF_TYPE_BOOL, arr_bool, 3);
    gguf_set_u32(w, "general.replaced", 7); // replaces the string, keeps position 0
}

static int str_eq(gguf_str s, const char *want, size_t n) {
    return s.len == n && memcmp(s.ptr, want, n) == 0;
}

static void check_all_kvs(const gguf_file *g) {
    CHECK(g->n_kv >= 23);
    CHECK(strcmp(g->kvs[0].key, "general.replaced") == 0 && g->kvs[0].type == GGUF_TYPE_UINT32 &&
          g->kvs[0].v.u64 == 7);
    const gguf_kv *kv;
    CHECK((kv = gguf_find_kv(g, "t.u8")) && kv->type == GGUF_TYPE_UINT8 && kv->v.u64 == 200);
    CHECK((kv = gguf_find_kv(g, "t.i8")) && kv->type == GGUF_TYPE_INT8 && kv->v.i64 == -100);
    CHECK((kv = gguf_find_kv(g, "t.u16")) && kv->type == GGUF_TYPE_UINT16 && kv->v.u64 == 60000);
    CHECK((kv = gguf_find_kv(g, "t.i16")) && kv->type == GGUF_TYPE_INT16 && kv->v.i64 == -30000);
    CHECK((kv = gguf_find_kv(g, "t.u32")) && kv->type == GGUF_TYPE_UINT32 && kv->v.u64 == 4000000000u);
    CHECK((kv = gguf_find_kv(g, "t.i32")) && kv->type == GGUF_TYPE_INT32 && kv->v.i64 == -2000000000);
    CHECK((kv = gguf_find_kv(g, "t.f32")) && kv->type == GGUF_TYPE_FLOAT32 && kv->v.f64 == 1.5);
    CHECK((kv = gguf_find_kv(g, "t.bool")) && kv->type == GGUF_TYPE_BOOL && kv->v.b == 1);
    CHECK((kv = gguf_find_kv(g, "t.false")) && kv->type == GGUF_TYPE_BOOL && kv->v.b == 0);
    CHECK((kv = gguf_find_kv(g, "t.str")) && kv->type == GGUF_TYPE_STRING &&
          str_eq(kv->str, "h\xc3\xa9llo", 6));
    CHECK((kv = gguf_find_kv(g, "t.empty")) && kv->type == GGUF_TYPE_STRING && kv->str.len == 0);
    CHECK((kv = gguf_find_kv(g, "t.rawstr")) && str_eq(kv->str, "abc\0def", 7));
    CHECK((kv = gguf_find_kv(g, "t.u64")) && kv->type == GGUF_TYPE_UINT64 &&
          kv->v.u64 == ((uint64_t)1 << 40) + 3);
    CHECK((kv = gguf_find_kv(g, "t.i64")) && kv->type == GGUF_TYPE_INT64 && kv->v.i64 == -5000000000000);
    CHECK((kv = gguf_find_kv(g, "t.f64")) && kv->type == GGUF_TYPE_FLOAT64 &&
          kv->v.f64 == 2.718281828459045);

    kv = gguf_find_kv(g, "t.arr.str");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING && kv->arr_len == 4);
    if (kv && kv->arr_strs && kv->arr_len == 4)
        for (int i = 0; i < 4; i++) CHECK(str_eq(kv->arr_strs[i], arr_strs[i], strlen(arr_strs[i])));
    kv = gguf_find_kv(g, "t.arr.i32");
    CHECK(kv && kv->arr_type == GGUF_TYPE_INT32 && kv->arr_len == 4);
    if (kv && kv->arr_len == 4)
        for (int i = 0; i < 4; i++) CHECK(gguf_arr_i64(kv, (uint64_t)i) == arr_i32[i]);
    kv = gguf_find_kv(g, "t.arr.f32");
    CHECK(kv && kv->arr_type == GGUF_TYPE_FLOAT32 && kv->arr_len == 3);
    if (kv && kv->arr_len == 3)
        for (int i = 0; i < 3; i++) CHECK(gguf_arr_f64(kv, (uint64_t)i) == (double)arr_f32[i]);
    kv = gguf_find_kv(g, "t.arr.empty");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_INT32 && kv->arr_len == 0);
    kv = gguf_find_kv(g, "t.arr.u8");
    CHECK(kv && kv->arr_type == GGUF_TYPE_UINT8 && kv->arr_len == 3 && gguf_arr_i64(kv, 2) == 255);
    kv = gguf_find_kv(g, "t.arr.i64");
    CHECK(kv && kv->arr_type == GGUF_TYPE_INT64 && kv->arr_len == 2 && gguf_arr_i64(kv, 0) == -1 &&
          gguf_arr_i64(kv, 1) == (int64_t)1 << 50);
    kv = gguf_find_kv(g, "t.arr.f64");
    CHECK(kv && kv->arr_type == GGUF_TYPE_FLOAT64 && kv->arr_len == 2 && gguf_arr_f64(kv, 0) == 0.1 &&
          gguf_arr_f64(kv, 1) == -2.5e300);
    kv = gguf_find_kv(g, "t.arr.bool");
    CHECK(kv && kv->arr_type == GGUF_TYPE_BOOL && kv->arr_len == 3 && gguf_arr_i64(kv, 0) == 1 &&
          gguf_arr_i64(kv, 1) == 0);
    CHECK(gguf_find_kv(g, "t.missing") == NULL);
}

static void check_getters(const gguf_file *g) {
    uint64_t u;
    int64_t i;
    double f;
    int b;
    CHECK(gguf_get_u64(g, "t.u32", &u) == 0 && u == 4000000000u);
    CHECK(gguf_get_u64(g, "t.i16", &u) < 0); // negative
    CHECK(gguf_get_i64(g, "t.i32", &i) == 0 && i == -2000000000);
    CHECK(gguf_get_i64(g, "t.u8", &i) == 0 && i == 200);
    CHECK(gguf_get_f64(g, "t.f32", &f) == 0 && f == 1.5);
    CHECK(gguf_get_f64(g, "t.u16", &f) == 0 && f == 60000.0);
    CHECK(gguf_get_bool(g, "t.bool", &b) == 0 && b == 1);
    char *s = gguf_get_str(g, "t.str");
    CHECK(s && strcmp(s, "h\xc3\xa9llo") == 0);
    free(s);
    CHECK_ERR(gguf_get_u64(g, "t.i16", &u), "is -30000, expected a non-negative integer");
    CHECK_ERR(gguf_get_u64(g, "t.str", &u), "key 't.str' has type STRING, expected an unsigned integer");
    CHECK_ERR(gguf_get_bool(g, "t.u8", &b), "expected BOOL");
    CHECK_ERR(gguf_get_f64(g, "t.str", &f), "expected a number");
    CHECK_ERR(gguf_get_i64(g, "t.nope", &i), "missing key 't.nope'");
    err_clear();
    CHECK(gguf_get_bool(g, "t.bol", &b) < 0 && strstr(err_hint_msg(), "did you mean 't.bool'?"));
    CHECK(strncmp(err_msg(), g->map.path, strlen(g->map.path)) == 0);
    err_clear();
    CHECK(gguf_get_str(g, "t.u8") == NULL && strstr(err_msg(), "expected STRING"));
}

// Writes the round-trip file; chunk > 0 streams all data in chunks of that size.
static int write_roundtrip(const char *path, uint32_t alignment, size_t chunk) {
    gguf_writer *w = gguf_writer_new();
    set_all_kvs(w);
    if (alignment) gguf_set_u32(w, "general.alignment", alignment);
    for (int i = 0; i < N_TENSORS; i++)
        if (gguf_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].ndim, tensors[i].shape)) {
            fprintf(stderr, "add_tensor: %s\n", err_msg());
            gguf_writer_free(w);
            return -1;
        }
    int rc = gguf_writer_open(w, path);
    bytes all = {0};
    for (int i = 0; i < N_TENSORS && !rc; i++) {
        size_t n = spec_bytes(&tensors[i]);
        uint8_t *d = xmalloc(n + 1);
        for (size_t k = 0; k < n; k++) d[k] = pattern(i, k);
        if (chunk) b_put(&all, d, n);
        else rc = gguf_writer_write(w, d, n);
        free(d);
    }
    for (size_t off = 0; chunk && !rc && off < all.n; off += chunk)
        rc = gguf_writer_write(w, all.p + off, all.n - off < chunk ? all.n - off : chunk);
    free(all.p);
    if (!rc) rc = gguf_writer_commit(w);
    if (rc) fprintf(stderr, "writer: %s\n", err_msg());
    gguf_writer_free(w);
    return rc;
}

static void check_tensors(const gguf_file *g, uint32_t alignment) {
    CHECK(g->alignment == alignment);
    CHECK(g->data_offset % alignment == 0);
    CHECK(g->n_tensors == N_TENSORS);
    for (int i = 0; i < N_TENSORS && i < g->n_tensors; i++) {
        const tspec *s = &tensors[i];
        const tensor_view *t = gguf_find_tensor(g, s->name);
        CHECK_MSG(t == &g->tensors[i], "tensor %s missing or out of order", s->name);
        if (!t) continue;
        int same = t->type == s->type && t->ndim == s->ndim;
        for (int d = 0; same && d < s->ndim; d++) same = t->shape[d] == s->shape[d];
        CHECK_MSG(same, "tensor %s: type/shape differ", s->name);
        CHECK(t->nbytes == spec_bytes(s));
        CHECK((size_t)((const uint8_t *)t->data - g->map.data) % alignment == 0);
        int data_ok = 1;
        for (size_t k = 0; k < t->nbytes; k++) data_ok &= ((const uint8_t *)t->data)[k] == pattern(i, k);
        CHECK_MSG(data_ok, "tensor %s: data differ", s->name);
    }
    CHECK(gguf_find_tensor(g, "nope") == NULL);
}

static void test_roundtrip(void) {
    char *path = tmp_path("rt.gguf");
    CHECK(write_roundtrip(path, 0, 7) == 0); // default alignment, data streamed in 7-byte chunks
    CHECK(gguf_is_gguf(path) == 1);
    gguf_file g;
    CHECK(gguf_open(&g, path) == 0);
    if (g.map.data) {
        CHECK(g.version == 3);
        check_all_kvs(&g);
        check_getters(&g);
        check_tensors(&g, 32);
        // the file ends with the last tensor's padding
        CHECK(g.map.size % 32 == 0);
        gguf_close(&g);
        gguf_close(&g); // idempotent
    }
    gguf_close(NULL);
    free(path);

    path = tmp_path("rt64.gguf");
    CHECK(write_roundtrip(path, 64, 0) == 0); // custom alignment, one write per tensor
    if (gguf_open(&g, path) == 0) {
        check_all_kvs(&g);
        check_tensors(&g, 64);
        for (int64_t i = 0; i < g.n_tensors; i++)
            CHECK((size_t)((const uint8_t *)g.tensors[i].data - g.map.data) % 64 == 0);
        gguf_close(&g);
    } else CHECK_MSG(0, "open: %s", err_msg());
    free(path);

    path = tmp_path("rt1.gguf");
    CHECK(write_roundtrip(path, 1, 5) == 0); // alignment 1: no padding at all
    if (gguf_open(&g, path) == 0) {
        check_tensors(&g, 1);
        gguf_close(&g);
    } else CHECK_MSG(0, "open: %s", err_msg());
    free(path);
}

static int kv_equal(const gguf_kv *a, const gguf_kv *b) {
    if (strcmp(a->key, b->key) || a->type != b->type) return 0;
    switch (a->type) {
    case GGUF_TYPE_STRING: return a->str.len == b->str.len && !memcmp(a->str.ptr, b->str.ptr, a->str.len);
    case GGUF_TYPE_ARRAY:
        if (a->arr_type != b->arr_type || a->arr_len != b->arr_len) return 0;
        for (uint64_t i = 0; i < a->arr_len; i++) {
            if (a->arr_type == GGUF_TYPE_STRING) {
                if (a->arr_strs[i].len != b->arr_strs[i].len ||
                    memcmp(a->arr_strs[i].ptr, b->arr_strs[i].ptr, a->arr_strs[i].len))
                    return 0;
            } else if (gguf_arr_f64(a, i) != gguf_arr_f64(b, i) || gguf_arr_i64(a, i) != gguf_arr_i64(b, i)) {
                return 0;
            }
        }
        return 1;
    case GGUF_TYPE_BOOL: return a->v.b == b->v.b;
    default: return memcmp(&a->v, &b->v, sizeof a->v) == 0;
    }
}

// A version-2 file (same layout) reads; KVs copy through gguf_set_kv unchanged.
static void test_v2_and_copy(void) {
    char *path = tmp_path("rt.gguf"), *copy = tmp_path("copy.gguf");
    char *buf;
    size_t n;
    CHECK(file_read_all(path, &buf, &n) == 0);
    buf[4] = 2;
    const char *p2 = write_tmp("v2.gguf", buf, n);
    gguf_file g, c;
    CHECK(gguf_open(&g, p2) == 0 && g.version == 2);
    free(buf);
    if (!g.map.data) goto out;
    check_all_kvs(&g);

    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < g.n_kv; i++) gguf_set_kv(w, &g.kvs[i]);
    CHECK(gguf_writer_open(w, copy) == 0 && gguf_writer_commit(w) == 0);
    gguf_writer_free(w);
    CHECK(gguf_open(&c, copy) == 0);
    if (c.map.data) {
        check_all_kvs(&c);
        CHECK(c.n_kv == g.n_kv && c.n_tensors == 0);
        for (int64_t i = 0; i < c.n_kv && i < g.n_kv; i++)
            CHECK_MSG(kv_equal(&g.kvs[i], &c.kvs[i]), "kv '%s' changed in the copy", g.kvs[i].key);
        gguf_close(&c);
    }
    gguf_close(&g);
out:
    free(path);
    free(copy);
}

// ---- truncation sweep ----
// Every prefix of a valid file that cuts before the end of the last tensor's
// data must fail cleanly with the path first; the categories of message met on
// the way are counted.
static void test_truncation_sweep(void) {
    char *path = tmp_path("rt.gguf");
    char *buf;
    size_t n;
    gguf_file g;
    CHECK(file_read_all(path, &buf, &n) == 0 && gguf_open(&g, path) == 0);
    free(path);
    if (!g.map.data) return;
    size_t need = 0;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        size_t end = (size_t)((const uint8_t *)g.tensors[i].data - g.map.data) + g.tensors[i].nbytes;
        if (end > need) need = end;
    }
    gguf_close(&g);
    int failed_ok = 1, opened_ok = 1, hdr = 0, key = 0, val = 0, info = 0, data = 0, str = 0;
    for (size_t len = 0; len <= n; len++) {
        const char *p = write_tmp("trunc.gguf", buf, len);
        err_clear();
        int rc = gguf_open(&g, p);
        const char *m = err_msg();
        if (len < need) {
            failed_ok &= rc < 0 && strncmp(m, p, strlen(p)) == 0;
            if (rc == 0) fprintf(stderr, "prefix %zu of %zu opened\n", len, n);
            hdr += strstr(m, "truncated while reading the header") != NULL;
            key += strstr(m, "truncated while reading key ") != NULL;
            val += strstr(m, "truncated while reading the value of key") != NULL;
            info += strstr(m, "truncated while reading tensor info") != NULL;
            str += strstr(m, "runs past the end of the file") != NULL;
            data += strstr(m, "past the end of the file (") != NULL && strstr(m, "tensor '") != NULL;
        } else {
            opened_ok &= rc == 0;
        }
        if (rc == 0) gguf_close(&g);
    }
    free(buf);
    CHECK_MSG(failed_ok, "a truncated prefix opened or its error lacks the path");
    CHECK_MSG(opened_ok, "a prefix holding all tensor data failed to open");
    CHECK(hdr > 0);
    CHECK(key > 0);
    CHECK(val > 0);
    CHECK(info > 0);
    CHECK(str > 0);
    CHECK(data > 0);
    CHECK_ERR(gguf_open(&g, "/nonexistent/x.gguf"), "/nonexistent/x.gguf: cannot open");
}

// ---- hand-crafted bad files ----
static void test_bad_header(void) {
    bytes b = {0};
    b_put(&b, "GGUX", 4);
    b_u32(&b, 3);
    b_u64(&b, 0);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "not a GGUF file (magic 'GGUX', expected 'GGUF')");
    b.n = 0;
    b_put(&b, "PK\x03\x04", 4);
    EXPECT_FAIL(&b, "not a GGUF file (magic 'PK\\x03\\x04'");
    b.n = 2;
    EXPECT_FAIL(&b, "not a GGUF file (only 2 bytes)");
    b.n = 0;
    EXPECT_FAIL(&b, "not a GGUF file (only 0 bytes)");

    b_header(&b, 1, 0, 0);
    EXPECT_FAIL(&b, "unsupported GGUF version 1 (lorac reads 2 and 3)");
    b_header(&b, 4, 0, 0);
    EXPECT_FAIL(&b, "unsupported GGUF version 4 (lorac reads 2 and 3)");
    b_header(&b, 0x03000000, 0, 0);
    EXPECT_FAIL(&b, "unsupported GGUF version 50331648");
    CHECK(strstr(err_hint_msg(), "big-endian") != NULL);

    b_header(&b, 3, 0, 0);
    b.n = 14;
    EXPECT_FAIL(&b, "truncated while reading the header");
    b.n = 6;
    EXPECT_FAIL(&b, "truncated while reading the header");

    b_header(&b, 3, 0, (uint64_t)1 << 40);
    EXPECT_FAIL(&b, "header claims 1099511627776 KV pairs, more than could fit in the file (24 bytes)");
    b_header(&b, 3, (uint64_t)-1, 0);
    EXPECT_FAIL(&b, "tensors, more than could fit in the file");
    b_header(&b, 3, 1, 1); // each count alone fits in the 36 bytes left, both together do not
    for (int i = 0; i < 9; i++) b_u32(&b, 0);
    EXPECT_FAIL(&b, "KV pairs and 1 tensors, more than could fit");

    // a valid empty v3 and v2 file
    gguf_file g;
    b_header(&b, 3, 0, 0);
    CHECK(gguf_open(&g, write_tmp("empty.gguf", b.p, b.n)) == 0 && g.n_kv == 0 && g.n_tensors == 0 &&
          g.alignment == 32);
    gguf_close(&g);
    b_header(&b, 2, 0, 0);
    CHECK(gguf_open(&g, write_tmp("empty2.gguf", b.p, b.n)) == 0 && g.version == 2);
    gguf_close(&g);
    CHECK(gguf_is_gguf(write_tmp("notgguf", "GGU", 3)) == 0);
    free(b.p);
}

static void test_bad_kvs(void) {
    bytes b = {0};
    // key string longer than the file
    b_header(&b, 3, 0, 2);
    b_u64(&b, (uint64_t)1 << 50);
    for (int i = 0; i < 30; i++) b_u8(&b, 'k');
    EXPECT_FAIL(&b, "truncated while reading key 1 of 2: a string of 1125899906842624 bytes");

    // truncated inside the second key's length
    {
        bytes c = {0};
        b_header(&c, 3, 0, 2);
        b_str(&c, "a");
        b_u32(&c, GGUF_TYPE_STRING);
        b_u64(&c, 5);
        b_put(&c, "hello", 5);
        b_u32(&c, 0); // 4 of the 8 bytes of key 2's length
        EXPECT_FAIL(&c, "truncated while reading key 2 of 2");
        free(c.p);
    }

    // truncated value
    b_header(&b, 3, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_UINT64);
    b_u32(&b, 0);
    EXPECT_FAIL(&b, "truncated while reading the value of key 'a' (key 1 of 1)");

    // value string past EOF
    b_header(&b, 3, 0, 1);
    b_str(&b, "name");
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, 1000);
    b_put(&b, "short", 5);
    EXPECT_FAIL(&b, "value of key 'name' (key 1 of 1): a string of 1000 bytes");

    // unknown value type
    b_header(&b, 3, 0, 1);
    b_str(&b, "a");
    b_u32(&b, 13);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "key 'a' (key 1 of 1) has unknown value type 13");

    // nested array
    b_header(&b, 3, 0, 1);
    b_str(&b, "nest");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u64(&b, 1);
    b_u32(&b, GGUF_TYPE_UINT8);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "nested arrays are not supported");

    // unknown array element type
    b_header(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "array of unknown value type 77");

    // numeric array count past EOF
    b_header(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u64(&b, (uint64_t)1 << 62);
    b_u32(&b, 1);
    EXPECT_FAIL(&b, "an array of 4611686018427387904 UINT32 values");

    // string array count past EOF (must not allocate 2^60 entries)
    b_header(&b, 3, 0, 1);
    b_str(&b, "toks");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, (uint64_t)1 << 60);
    b_str(&b, "x");
    EXPECT_FAIL(&b, "an array of 1152921504606846976 strings cannot fit");

    // a string inside an array past EOF
    b_header(&b, 3, 0, 1);
    b_str(&b, "toks");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, 2);
    b_str(&b, "x");
    b_u64(&b, 99);
    EXPECT_FAIL(&b, "string 2 of 2 in the value of key 'toks'");

    // duplicate keys
    b_header(&b, 3, 0, 3);
    b_str(&b, "dup");
    b_u32(&b, GGUF_TYPE_UINT8);
    b_u8(&b, 1);
    b_str(&b, "other");
    b_u32(&b, GGUF_TYPE_UINT8);
    b_u8(&b, 1);
    b_str(&b, "dup");
    b_u32(&b, GGUF_TYPE_BOOL);
    b_u8(&b, 0);
    EXPECT_FAIL(&b, "duplicate key 'dup'");

    // alignment not a power of two / of the wrong type
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u32(&b, 48);
    EXPECT_FAIL(&b, "general.alignment is 48, must be a power of two");
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u32(&b, 0);
    EXPECT_FAIL(&b, "general.alignment is 0");
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_STRING);
    b_str(&b, "32");
    EXPECT_FAIL(&b, "key 'general.alignment' has type STRING, expected UINT32");
    free(b.p);
}

// One tensor info (ne innermost first) and optionally data bytes after the padding.
static void one_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                       uint64_t offset, size_t data_bytes) {
    b_header(b, 3, 1, 0);
    b_tensor(b, name, n_dims, ne, type, offset);
    b_pad(b, 32);
    for (size_t i = 0; i < data_bytes; i++) b_u8(b, (uint8_t)i);
}

static void test_bad_tensors(void) {
    bytes b = {0};
    uint64_t ne[5] = {8, 2, 1, 1, 1};
    gguf_file g;

    one_tensor(&b, "w", 2, ne, GGML_TYPE_F32, 0, 64);
    const char *ok_path = write_tmp("ok1.gguf", b.p, b.n);
    CHECK(gguf_open(&g, ok_path) == 0 && g.n_tensors == 1 && g.tensors[0].shape[0] == 2 &&
          g.tensors[0].shape[1] == 8 && g.tensors[0].nbytes == 64 && g.data_offset == 96);
    gguf_close(&g);

    one_tensor(&b, "w", 2, ne, GGML_TYPE_F32, 0, 63);
    EXPECT_FAIL(&b, "tensor 'w' F32 (2, 8) (64 bytes at data offset 0) ends at byte 160, past the end "
                    "of the file (159 bytes)");
    one_tensor(&b, "w", 2, ne, GGML_TYPE_F32, 1024, 64);
    EXPECT_FAIL(&b, "tensor 'w' F32 (2, 8) (64 bytes at data offset 1024) ends at byte 1184");
    one_tensor(&b, "w", 2, ne, GGML_TYPE_F32, (uint64_t)-32, 64);
    EXPECT_FAIL(&b, "ends at byte beyond 2^64");
    one_tensor(&b, "w", 2, ne, GGML_TYPE_F32, 4, 128);
    EXPECT_FAIL(&b, "tensor 'w' offset 4 is not a multiple of the alignment 32");

    one_tensor(&b, "w.q5", 2, ne, 13, 0, 64);
    EXPECT_FAIL(&b, "tensor 'w.q5' has ggml type 13 (Q5_K), which lorac cannot read");
    CHECK(strstr(err_hint_msg(), "Q4_K") != NULL);
    one_tensor(&b, "w", 2, ne, 999, 0, 64);
    EXPECT_FAIL(&b, "tensor 'w' has ggml type 999 (unknown)");

    one_tensor(&b, "w5", 5, ne, GGML_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, "tensor 'w5' has 5 dims (GGUF allows at most 4)");

    uint64_t ne_q[2] = {33, 2};
    one_tensor(&b, "wq", 2, ne_q, GGML_TYPE_Q8_0, 0, 128);
    EXPECT_FAIL(&b, "tensor 'wq' of type Q8_0 has rows of 33 values, not a multiple of the block size 32");
    uint64_t ne_k[1] = {128};
    one_tensor(&b, "wk", 1, ne_k, GGML_TYPE_Q4_K, 0, 256);
    EXPECT_FAIL(&b, "not a multiple of the block size 256");

    uint64_t ne_big[3] = {(uint64_t)1 << 40, (uint64_t)1 << 30, 1 << 20};
    one_tensor(&b, "huge", 3, ne_big, GGML_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, "tensor 'huge' has more than 2^63 elements");
    uint64_t ne_neg[1] = {(uint64_t)-8};
    one_tensor(&b, "neg", 1, ne_neg, GGML_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, "tensor 'neg' has dimension 0 of 18446744073709551608");
    uint64_t ne_2g[2] = {(uint64_t)1 << 31, (uint64_t)1 << 31};
    one_tensor(&b, "big", 2, ne_2g, GGML_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, "tensor 'big' F32 (2147483648, 2147483648)");

    // truncated tensor info
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 2, ne, GGML_TYPE_F32, 0);
    b.n -= 6;
    EXPECT_FAIL(&b, "truncated while reading tensor info 1 of 1 ('t')");
    b_header(&b, 3, 1, 0);
    b_u64(&b, 1000);
    for (int i = 0; i < 20; i++) b_u8(&b, 'x');
    EXPECT_FAIL(&b, "truncated while reading tensor info 1 of 1: a string of 1000 bytes");

    // duplicate tensor names
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "w", 1, ne, GGML_TYPE_F32, 0);
    b_tensor(&b, "w", 1, ne, GGML_TYPE_F32, 32);
    b_pad(&b, 32);
    for (int i = 0; i < 64; i++) b_u8(&b, 0);
    EXPECT_FAIL(&b, "duplicate tensor name 'w'");

    // a custom alignment applies to offsets and the data section start
    b_header(&b, 3, 1, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u32(&b, 256);
    b_tensor(&b, "w", 1, ne, GGML_TYPE_F32, 32);
    b_pad(&b, 256);
    for (int i = 0; i < 512; i++) b_u8(&b, 0);
    EXPECT_FAIL(&b, "tensor 'w' offset 32 is not a multiple of the alignment 256");
    b_header(&b, 3, 1, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u32(&b, 256);
    b_tensor(&b, "w", 1, ne, GGML_TYPE_F32, 256);
    b_pad(&b, 256);
    for (int i = 0; i < 512; i++) b_u8(&b, (uint8_t)i);
    CHECK(gguf_open(&g, write_tmp("al256.gguf", b.p, b.n)) == 0 && g.alignment == 256 &&
          g.data_offset == 256 && g.tensors[0].data == g.map.data + 512);
    gguf_close(&g);
    free(b.p);
}

// ---- writer errors ----
static int count_tmp_leftovers(void) {
    DIR *d = opendir(test_tmpdir());
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer_errors(void) {
    gguf_writer *w = gguf_writer_new();
    int64_t s2[2] = {2, 4}, sq[2] = {2, 33}, s1[1] = {8};
    CHECK(gguf_add_tensor(w, "a", DTYPE_F32, 2, s2) == 0);
    CHECK_ERR(gguf_add_tensor(w, "a", DTYPE_F32, 2, s2), "duplicate tensor name 'a'");
    CHECK_ERR(gguf_add_tensor(w, "q", DTYPE_Q8_0, 2, sq), "not a multiple of the block size 32");
    CHECK_ERR(gguf_add_tensor(w, "u", DTYPE_U8, 1, s1), "type U8, which GGUF cannot store");
    CHECK_ERR(gguf_add_tensor(w, "z", DTYPE_F32, 5, s1), "has 5 dims");
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    CHECK_ERR(gguf_add_tensor(w, longname, DTYPE_F32, 1, s1), "GGUF readers allow at most 63");
    CHECK(gguf_add_tensor(w, "b", DTYPE_BF16, 1, s1) == 0);

    // too few bytes: commit fails naming the tensor, nothing appears at path
    char *path = tmp_path("short.gguf");
    float a[8] = {0};
    CHECK(gguf_writer_open(w, path) == 0);
    CHECK(gguf_writer_write(w, a, sizeof a) == 0);
    CHECK(gguf_writer_write(w, a, 3) == 0);
    CHECK_ERR(gguf_writer_commit(w), "tensor 'b' got 3 of its 16 bytes (tensor 2 of 2)");
    CHECK(!file_exists(path));
    CHECK(count_tmp_leftovers() == 0);
    gguf_writer_free(w);
    free(path);

    // too many bytes
    w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, "a", DTYPE_F32, 1, s1) == 0);
    path = tmp_path("long.gguf");
    CHECK(gguf_writer_open(w, path) == 0);
    CHECK_ERR(gguf_writer_write(w, a, sizeof a + 4), "4 bytes of data beyond the 1 declared tensors");
    CHECK_ERR(gguf_writer_commit(w), "an earlier write failed");
    CHECK(!file_exists(path));
    gguf_writer_free(w);
    free(path);

    // freed without commit: temp file removed
    w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, "a", DTYPE_F32, 1, s1) == 0);
    path = tmp_path("abandoned.gguf");
    CHECK(gguf_writer_open(w, path) == 0);
    gguf_writer_free(w);
    CHECK(!file_exists(path) && count_tmp_leftovers() == 0);
    free(path);

    // bad alignment
    w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 48);
    CHECK_ERR(gguf_writer_open(w, "/tmp/never.gguf"), "general.alignment is 48");
    gguf_set_str(w, "general.alignment", "32");
    CHECK_ERR(gguf_writer_open(w, "/tmp/never.gguf"), "general.alignment has type STRING");
    gguf_writer_free(w);
    gguf_writer_free(NULL);

    // unwritable directory
    w = gguf_writer_new();
    CHECK_ERR(gguf_writer_open(w, "/nonexistent/dir/x.gguf"), "cannot create");
    gguf_writer_free(w);

    // no tensors at all: header only, readable
    w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "llama");
    path = tmp_path("kvonly.gguf");
    CHECK(gguf_writer_open(w, path) == 0 && gguf_writer_commit(w) == 0);
    gguf_writer_free(w);
    gguf_file g;
    CHECK(gguf_open(&g, path) == 0 && g.n_tensors == 0 && g.n_kv == 1);
    char *arch = gguf_get_str(&g, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0);
    free(arch);
    gguf_close(&g);
    free(path);
}

int main(void) {
    test_roundtrip();
    test_v2_and_copy();
    test_truncation_sweep();
    test_bad_header();
    test_bad_kvs();
    test_bad_tensors();
    test_writer_errors();
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}
