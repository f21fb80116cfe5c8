// test_safetensors.c — reader, sharded sets and writer of src/io/safetensors.c.
//
// Round trips every plain dtype through the writer and reader, streams writes in
// pieces, feeds hand-crafted broken files (each error must name the file and the
// problem), builds sharded directories, and compares against a golden file made
// by the reference implementation (tests/ref/make_safetensors_golden.py).
// Set LORAC_ST_WRITE_OUT=path to keep a lorac-written file for
// `python3 tests/ref/make_safetensors_golden.py --check path`.
#include "io/safetensors.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>

// ---- helpers ----
static char *tmp_path(const char *name) { return path_join(test_tmpdir(), name); }

// Write "len prefix + header + n_data bytes of pattern" verbatim.
static void write_raw_len(const char *path, uint64_t hlen, const char *header, size_t n_data) {
    FILE *f = fopen(path, "wb");
    uint8_t pre[8];
    for (int i = 0; i < 8; i++) pre[i] = (uint8_t)(hlen >> (8 * i));
    fwrite(pre, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < n_data; i++) fputc((int)(i * 7 + 1) & 0xff, f);
    fclose(f);
}
static void write_raw(const char *path, const char *header, size_t n_data) {
    write_raw_len(path, strlen(header), header, n_data);
}

// st_open(path) must fail with a message that starts with the path and contains needle.
static void check_bad_at(const char *path, const char *needle, int line) {
    st_file f;
    err_clear();
    int rc = st_open(&f, path);
    const char *m = err_msg();
    int ok = rc < 0 && strncmp(m, path, strlen(path)) == 0 && strstr(m, needle) && f.n_tensors == 0 &&
             f.tensors == NULL && f.map.data == NULL;
    CHECK_MSG(ok, "line %d: rc=%d, error '%s' should start with '%s' and contain '%s'", line, rc, m, path,
              needle);
    st_close(&f);
}
#define check_bad(path, needle) check_bad_at(path, needle, __LINE__)

static void check_bad_json(const char *name, const char *header, size_t n_data, const char *needle, int line) {
    char *p = tmp_path(name);
    write_raw(p, header, n_data);
    check_bad_at(p, needle, line);
    free(p);
}
#define BAD(name, header, n_data, needle) check_bad_json(name, header, n_data, needle, __LINE__)

// No "*.tmp.*" leftovers in dir.
static int no_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp.")) n++;
    closedir(d);
    return n == 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 131 + seed * 17 + 5) ^ (i >> 3));
}

// ---- writer + reader round trip ----
static void test_roundtrip(void) {
    // every plain dtype, with scalar, empty and 4-d shapes in the mix
    st_tensor_spec specs[] = {
        {"f32", DTYPE_F32, 2, {3, 5}},      {"f16", DTYPE_F16, 1, {7}},
        {"bf16", DTYPE_BF16, 3, {2, 3, 4}}, {"f64", DTYPE_F64, 0, {0}},
        {"i8", DTYPE_I8, 1, {9}},           {"u8", DTYPE_U8, 2, {1, 3}},
        {"i16", DTYPE_I16, 1, {5}},         {"i32", DTYPE_I32, 4, {1, 2, 1, 3}},
        {"i64", DTYPE_I64, 1, {4}},         {"bool", DTYPE_BOOL, 1, {6}},
        {"empty", DTYPE_F32, 2, {0, 8}},    {"model.layers.0.ünï", DTYPE_BF16, 1, {3}},
    };
    int64_t n = sizeof specs / sizeof specs[0];
    uint8_t *bufs[16];
    const void *data[16];
    size_t sizes[16];
    for (int64_t i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < specs[i].ndim; d++) numel *= specs[i].shape[d];
        sizes[i] = dtype_row_bytes(specs[i].type, numel);
        bufs[i] = xmalloc(sizes[i] + 1);
        fill(bufs[i], sizes[i], (unsigned)i);
        if (specs[i].type == DTYPE_BOOL)
            for (size_t k = 0; k < sizes[i]; k++) bufs[i][k] &= 1;
        data[i] = bufs[i];
    }
    st_meta meta[] = {{"format", "pt"}, {"lorac_version", LORAC_VERSION}, {"quote\"d", "va\\lue\n"}};
    char *p = tmp_path("rt.safetensors");
    CHECK(st_write_file(p, specs, data, n, meta, 3) == 0);
    CHECK(no_temp_files(test_tmpdir()));

    // header length padded so the data buffer starts 8-byte aligned, padding is spaces
    char *raw;
    size_t rawlen;
    CHECK(file_read_all(p, &raw, &rawlen) == 0);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)raw[i];
    CHECK(hlen % 8 == 0 && 8 + hlen <= rawlen);
    CHECK(raw[8] == '{');
    size_t last = 8 + hlen - 1;
    while (raw[last] == ' ') last--;
    CHECK(raw[last] == '}');
    free(raw);

    st_file f;
    CHECK(st_open(&f, p) == 0);
    CHECK(f.n_tensors == n);
    CHECK(f.n_meta == 3);
    CHECK(st_meta_get(&f, "format") && strcmp(st_meta_get(&f, "format"), "pt") == 0);
    CHECK(st_meta_get(&f, "quote\"d") && strcmp(st_meta_get(&f, "quote\"d"), "va\\lue\n") == 0);
    CHECK(st_meta_get(&f, "absent") == NULL);
    CHECK(st_find(&f, "absent") == NULL);
    CHECK((((uintptr_t)f.map.data + 8 + hlen) & 7) == 0);
    for (int64_t i = 0; i < n; i++) {
        const tensor_view *t = st_find(&f, specs[i].name);
        CHECK_MSG(t != NULL, "tensor %s", specs[i].name);
        if (!t) continue;
        CHECK_MSG(t == &f.tensors[i], "declaration order kept for %s", specs[i].name); // file order
        CHECK(t->type == specs[i].type && t->ndim == specs[i].ndim);
        CHECK(memcmp(t->shape, specs[i].shape, sizeof(int64_t) * (size_t)t->ndim) == 0);
        CHECK(t->nbytes == sizes[i]);
        CHECK_MSG(sizes[i] == 0 || memcmp(t->data, bufs[i], sizes[i]) == 0, "bytes of %s", specs[i].name);
    }
    st_close(&f);
    st_close(&f); // idempotent
    st_close(NULL);

    // a copy for the Python cross-check
    const char *keep = getenv("LORAC_ST_WRITE_OUT");
    if (keep) CHECK(file_copy(p, keep) == 0);

    // numbers survive: F32/BF16/F16 values through the writer and the half-float helpers
    float vals[4] = {1.5f, -2.25f, 1e-3f, 3.0e38f};
    uint16_t b16[4], h16[4];
    for (int i = 0; i < 4; i++) b16[i] = f32_to_bf16(vals[i]), h16[i] = f32_to_f16(vals[i] / 1e34f);
    st_tensor_spec s2[] = {{"x", DTYPE_F32, 1, {4}}, {"b", DTYPE_BF16, 2, {2, 2}}, {"h", DTYPE_F16, 1, {4}}};
    const void *d2[] = {vals, b16, h16};
    CHECK(st_write_file(p, s2, d2, 3, NULL, 0) == 0);
    CHECK(st_open(&f, p) == 0);
    CHECK(f.n_meta == 0);
    float back[4];
    const tensor_view *t = st_find(&f, "b");
    for (int i = 0; t && i < 4; i++) back[i] = bf16_to_f32(((const uint16_t *)t->data)[i]);
    CHECK_CLOSE("bf16 round trip", back, vals, 4, 0.01 * 3.0e38);
    CHECK(t && bf16_to_f32(((const uint16_t *)t->data)[0]) == 1.5f);
    t = st_find(&f, "x");
    CHECK(t && memcmp(t->data, vals, sizeof vals) == 0);
    st_close(&f);

    for (int64_t i = 0; i < n; i++) free(bufs[i]);
    free(p);
}

// ---- streaming writer ----
static void test_streaming(void) {
    st_tensor_spec specs[] = {
        {"a", DTYPE_F32, 2, {4, 8}}, {"z", DTYPE_F16, 1, {0}}, {"b", DTYPE_I64, 1, {5}}, {"c", DTYPE_U8, 1, {3}}};
    uint8_t a[128], b[40], c[3];
    fill(a, sizeof a, 1), fill(b, sizeof b, 2), fill(c, sizeof c, 3);
    char *p = tmp_path("stream.safetensors"), *q = tmp_path("whole.safetensors");
    st_meta meta[] = {{"k", "v"}};

    st_writer w;
    CHECK(st_writer_open(&w, p, specs, 4, meta, 1) == 0);
    CHECK(st_writer_write(&w, a, 1) == 0);
    CHECK(st_writer_write(&w, a + 1, 63) == 0);
    CHECK(st_writer_write(&w, NULL, 0) == 0);
    CHECK(st_writer_write(&w, a + 64, 64) == 0); // completes a, skips the empty z
    CHECK(st_writer_write(&w, b, 39) == 0);
    CHECK(st_writer_write(&w, b + 39, 1) == 0);
    CHECK(st_writer_write(&w, c, 3) == 0);
    CHECK(!file_exists(p)); // nothing visible before commit
    CHECK(st_writer_commit(&w) == 0);
    CHECK(file_exists(p));
    st_writer_abort(&w); // harmless after commit

    const void *data[] = {a, NULL, b, c};
    CHECK(st_write_file(q, specs, data, 4, meta, 1) == 0);
    char *x, *y;
    size_t nx, ny;
    CHECK(file_read_all(p, &x, &nx) == 0 && file_read_all(q, &y, &ny) == 0);
    CHECK(nx == ny && memcmp(x, y, nx) == 0); // streaming == one-shot, byte for byte
    free(x), free(y);

    st_file f;
    CHECK(st_open(&f, p) == 0);
    const tensor_view *t = st_find(&f, "b");
    CHECK(t && t->nbytes == 40 && memcmp(t->data, b, 40) == 0);
    t = st_find(&f, "z");
    CHECK(t && t->nbytes == 0 && t->ndim == 1 && t->shape[0] == 0);
    st_close(&f);

    // no tensors at all: a valid, empty file
    CHECK(st_write_file(q, NULL, NULL, 0, NULL, 0) == 0);
    CHECK(st_open(&f, q) == 0 && f.n_tensors == 0);
    st_close(&f);
    free(p), free(q);
}

// ---- writer refusals ----
static void test_writer_errors(void) {
    char *p = tmp_path("w.safetensors");
    st_tensor_spec specs[] = {{"a", DTYPE_F32, 1, {2}}, {"b", DTYPE_F32, 2, {2, 3}}};
    uint8_t buf[64] = {0};
    st_writer w;

    // short: commit refuses, nothing at path, temp file gone
    CHECK(st_writer_open(&w, p, specs, 2, NULL, 0) == 0);
    CHECK(st_writer_write(&w, buf, 8) == 0);
    CHECK(st_writer_write(&w, buf, 10) == 0);
    CHECK_ERR(st_writer_commit(&w), "tensor 'b' got 10 of 24 bytes");
    CHECK(strstr(err_msg(), p) == err_msg());
    CHECK(!file_exists(p));
    CHECK(no_temp_files(test_tmpdir()));
    st_writer_abort(&w);

    // nothing written at all
    CHECK(st_writer_open(&w, p, specs, 2, NULL, 0) == 0);
    CHECK_ERR(st_writer_commit(&w), "tensor 'a' got 0 of 8 bytes");

    // long: a write crossing the end of the current tensor
    CHECK(st_writer_open(&w, p, specs, 2, NULL, 0) == 0);
    CHECK(st_writer_write(&w, buf, 4) == 0);
    CHECK_ERR(st_writer_write(&w, buf, 8), "tensor 'a': write of 8 bytes exceeds its remaining 4 of 8 bytes");
    CHECK_ERR(st_writer_write(&w, buf, 4), "earlier error");
    CHECK_ERR(st_writer_commit(&w), "an earlier write failed");
    CHECK(!file_exists(p));
    CHECK(no_temp_files(test_tmpdir()));

    // long: bytes after the last tensor
    CHECK(st_writer_open(&w, p, specs, 2, NULL, 0) == 0);
    CHECK(st_writer_write(&w, buf, 8) == 0 && st_writer_write(&w, buf, 24) == 0);
    CHECK_ERR(st_writer_write(&w, buf, 1), "1 bytes written after all 2 tensors were complete");
    st_writer_abort(&w);
    CHECK(!file_exists(p));
    CHECK(no_temp_files(test_tmpdir()));
    st_writer_abort(&w);  // twice
    st_writer_abort(NULL);
    CHECK_ERR(st_writer_write(&w, buf, 1), "not open");
    CHECK_ERR(st_writer_commit(&w), "not open");

    // a failed write leaves an existing file untouched
    const void *d[] = {buf, buf};
    CHECK(st_write_file(p, specs, d, 2, NULL, 0) == 0);
    CHECK(st_writer_open(&w, p, specs, 1, NULL, 0) == 0);
    st_writer_abort(&w);
    st_file f;
    CHECK(st_open(&f, p) == 0 && f.n_tensors == 2);
    st_close(&f);

    // bad declarations
    st_tensor_spec q[] = {{"q", DTYPE_Q4_K, 2, {2, 256}}};
    CHECK_ERR(st_writer_open(&w, p, q, 1, NULL, 0), "tensor 'q': quantized dtype Q4_K cannot be stored");
    st_tensor_spec dup[] = {{"a", DTYPE_F32, 1, {2}}, {"a", DTYPE_F16, 1, {2}}};
    CHECK_ERR(st_writer_open(&w, p, dup, 2, NULL, 0), "tensor 'a' declared twice");
    st_tensor_spec neg[] = {{"n", DTYPE_F32, 2, {2, -1}}};
    CHECK_ERR(st_writer_open(&w, p, neg, 1, NULL, 0), "tensor 'n': shape[1] is -1");
    st_tensor_spec big[] = {{"big", DTYPE_F64, 3, {1LL << 40, 1LL << 20, 1LL << 10}}};
    CHECK_ERR(st_writer_open(&w, p, big, 1, NULL, 0), "too large");
    st_tensor_spec dims[] = {{"d", DTYPE_F32, 5, {1, 1, 1, 1}}};
    CHECK_ERR(st_writer_open(&w, p, dims, 1, NULL, 0), "5 dims");
    st_tensor_spec res[] = {{"__metadata__", DTYPE_F32, 1, {1}}};
    CHECK_ERR(st_writer_open(&w, p, res, 1, NULL, 0), "reserved");
    st_tensor_spec utf[] = {{"bad\xff", DTYPE_F32, 1, {1}}};
    CHECK_ERR(st_writer_open(&w, p, utf, 1, NULL, 0), "not valid UTF-8");
    st_meta mdup[] = {{"k", "1"}, {"k", "2"}};
    CHECK_ERR(st_writer_open(&w, p, specs, 2, mdup, 2), "__metadata__ key 'k' given twice");
    CHECK(no_temp_files(test_tmpdir()));
    char *nodir = tmp_path("no/such/dir/x.safetensors");
    CHECK_ERR(st_writer_open(&w, nodir, specs, 2, NULL, 0), "cannot create");
    free(nodir);
    free(p);
}

// ---- reader: hand-crafted bad files ----
static void test_bad_files(void) {
    char *p = tmp_path("short.safetensors");
    FILE *fp = fopen(p, "wb");
    fwrite("\x05\0\0\0\0", 1, 5, fp);
    fclose(fp);
    check_bad(p, "file is 5 bytes, too short");
    free(p);

    p = tmp_path("missing.safetensors");
    check_bad(p, "cannot open");
    free(p);

    // header length lying: beyond the file, beyond the limit
    p = tmp_path("hlen.safetensors");
    write_raw_len(p, 1000, "{}", 40);
    check_bad(p, "header length 1000 exceeds the file (42 bytes after the length prefix)");
    write_raw_len(p, (uint64_t)ST_MAX_HEADER + 1, "{}", 0);
    check_bad(p, "exceeds the limit of");
    write_raw_len(p, ~0ull, "{}", 0);
    check_bad(p, "header length 18446744073709551615 exceeds the limit");
    write_raw_len(p, 0, "", 0);
    check_bad(p, "header JSON malformed at line");
    free(p);

    // JSON
    BAD("garbled.st", "{\"a\": {\"dtype\": \"F32\",, }}", 0, "header JSON malformed at line 1 column 23");
    BAD("garbled2.st", "{\n \"a\": {\"dtype\": \"F32\"\n", 0, "malformed at line 3");
    BAD("notobj.st", "[1, 2]", 0, "header is not a JSON object");
    BAD("dupkey.st", "{\"a\": {}, \"a\": {}}", 0, "duplicate");
    BAD("trailing.st", "{} x", 0, "malformed");

    // entries
    BAD("entry.st", "{\"w\": 5}", 0, "tensor 'w': entry is not an object");
    BAD("nodtype.st", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing \"dtype\"");
    BAD("noshape.st", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing \"shape\"");
    BAD("nooffs.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "tensor 'w': missing \"data_offsets\"");
    BAD("dtypenum.st", "{\"w\": {\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"dtype\" is not a string");
    BAD("unkdtype.st", "{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
        "tensor 'w': unknown dtype 'F8_E4M3'");
    BAD("q4.st", "{\"w\": {\"dtype\": \"Q4_K\", \"shape\": [256], \"data_offsets\": [0, 144]}}", 144,
        "unknown dtype 'Q4_K'");
    BAD("shapeobj.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16,
        "\"shape\" is not an array");
    BAD("negdim.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 4]}}", 4,
        "tensor 'w': shape[1] is -3, expected a non-negative integer");
    BAD("fracdim.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 4]}}", 4,
        "tensor 'w': shape[0] is not an integer");
    BAD("strdim.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8,
        "shape[0] is not an integer");
    BAD("5d.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
        "shape has 5 dims, at most 4 supported");
    BAD("hugedim.st",
        "{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4611686018427387904], \"data_offsets\": [0, 4]}}",
        4, "overflows 64 bits");

    // offsets
    const char *offs_msg = "tensor 'w': data_offsets must be [begin, end] with 0 <= begin <= end";
    BAD("offs1.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8, offs_msg);
    BAD("offs2.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 8, offs_msg);
    BAD("offs3.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, offs_msg);
    BAD("offs4.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", 4]}}", 4, offs_msg);
    BAD("offs5.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, offs_msg);
    BAD("offs6.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"a\": 1}}}", 4, offs_msg);
    BAD("beyond.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [100], \"data_offsets\": [0, 400]}}", 16,
        "tensor 'w': data_offsets [0, 400] end beyond the data buffer (16 bytes)");
    BAD("size.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 20,
        "tensor 'w': data_offsets [0, 20] hold 20 bytes but shape (2, 3) F32 needs 24");
    BAD("size2.st", "{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 20,
        "tensor 'w': data_offsets [0, 20] hold 20 bytes but shape (2, 3) BF16 needs 12");
    BAD("overlap.st",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
        24, "tensor 'b': data_offsets [8, 24] overlap tensor 'a' [0, 16]");
    BAD("overlap0.st",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
        16, "tensor 'e': data_offsets [4, 4] overlap tensor 'a' [0, 16]");
    BAD("same.st",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        " \"b\": {\"dtype\": \"I32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
        16, "overlap tensor 'a' [0, 16]");
    BAD("gap.st",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [20, 36]}}",
        36, "tensor 'b': data_offsets [20, 36] leave a gap of 4 bytes after tensor 'a' (ends at 16)");
    BAD("gapstart.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24,
        "tensor 'a': data_offsets [8, 24] leave a gap of 8 bytes at the start of the data buffer");
    BAD("gapend.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 20,
        "gap of 4 unused bytes at the end of the data buffer (tensors end at 16, buffer is 20 bytes)");
    BAD("gapempty.st", "{}", 3, "gap of 3 unused bytes at the end");

    // metadata
    BAD("meta1.st", "{\"__metadata__\": {\"k\": 1}}", 0, "__metadata__ key 'k': value is not a string");
    BAD("meta2.st", "{\"__metadata__\": [\"k\"]}", 0, "__metadata__ is not an object");
    BAD("meta3.st", "{\"__metadata__\": {\"a\": \"x\", \"k\": {\"n\": \"v\"}}}", 0,
        "__metadata__ key 'k': value is not a string");

    // accepted edge cases: out-of-order entries, null metadata, trailing spaces, unaligned start
    p = tmp_path("ok.safetensors");
    write_raw(p,
              "{\"__metadata__\": null, \"b\": {\"dtype\": \"I16\", \"shape\": [3], \"data_offsets\": [4, 10]},"
              " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 2], \"data_offsets\": [4, 4]},"
              " \"a\": {\"dtype\": \"U8\", \"shape\": [2, 2], \"data_offsets\": [0, 4]}}   ",
              10);
    st_file f;
    CHECK(st_open(&f, p) == 0);
    CHECK(f.n_tensors == 3 && f.n_meta == 0);
    if (f.n_tensors == 3) { // views come in data order
        CHECK(strcmp(f.tensors[0].name, "a") == 0 && strcmp(f.tensors[2].name, "b") == 0);
        CHECK((const uint8_t *)f.tensors[2].data - (const uint8_t *)f.tensors[0].data == 4);
        CHECK(((const uint8_t *)f.tensors[0].data)[1] == 8); // write_raw's pattern: i*7+1
    }
    st_close(&f);
    free(p);
}

// ---- sets: sharded directories ----
static void write_spec(const char *dir, const char *name, const char *const *tnames, int n, int seed) {
    st_tensor_spec specs[8];
    float vals[8][6];
    const void *data[8];
    for (int i = 0; i < n; i++) {
        specs[i] = (st_tensor_spec){tnames[i], DTYPE_F32, 2, {2, 3}};
        for (int k = 0; k < 6; k++) vals[i][k] = (float)(seed * 100 + i * 10 + k);
        data[i] = vals[i];
    }
    char *p = path_join(dir, name);
    CHECK(st_write_file(p, specs, data, n, NULL, 0) == 0);
    free(p);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *p = path_join(dir, name);
    CHECK(file_write_atomic(p, text, strlen(text)) == 0);
    free(p);
}

static char *make_dir(const char *name) {
    char *d = tmp_path(name);
    CHECK(mkdir_p(d) == 0);
    return d;
}

// set must fail opening dir; message contains both needles
static void check_set_bad_at(const char *dir, const char *n1, const char *n2, int line) {
    st_set s;
    err_clear();
    int rc = st_set_open_dir(&s, dir);
    const char *m = err_msg();
    CHECK_MSG(rc < 0 && strstr(m, n1) && strstr(m, n2) && s.n_files == 0 && s.index == NULL,
              "line %d: rc=%d, error '%s' lacks '%s' / '%s'", line, rc, m, n1, n2);
    st_set_close(&s);
}
#define check_set_bad(dir, n1, n2) check_set_bad_at(dir, n1, n2, __LINE__)

static const char *SH1 = "model-00001-of-00002.safetensors", *SH2 = "model-00002-of-00002.safetensors";

static void test_sets(void) {
    const char *t1[] = {"model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.norm.weight"};
    const char *t2[] = {"model.layers.1.mlp.up_proj.weight", "lm_head.weight"};
    char idx[1024];
    snprintf(idx, sizeof idx,
             "{\"metadata\": {\"total_size\": 120},\n \"weight_map\": {"
             "\"model.embed_tokens.weight\": \"%s\", \"model.layers.0.mlp.up_proj.weight\": \"%s\","
             " \"model.norm.weight\": \"%s\", \"model.layers.1.mlp.up_proj.weight\": \"%s\","
             " \"lm_head.weight\": \"%s\"}}",
             SH1, SH1, SH1, SH2, SH2);

    // good sharded directory
    char *d = make_dir("sharded");
    write_spec(d, SH1, t1, 3, 1);
    write_spec(d, SH2, t2, 2, 2);
    write_text(d, "model.safetensors.index.json", idx);
    st_set s;
    CHECK(st_set_open_dir(&s, d) == 0);
    CHECK(s.n_files == 2 && s.n_tensors == 5);
    const tensor_view *t = st_set_find(&s, "lm_head.weight");
    CHECK(t && t->type == DTYPE_F32 && t->shape[1] == 3 && ((const float *)t->data)[4] == 214.0f);
    t = st_set_find(&s, "model.embed_tokens.weight");
    CHECK(t && ((const float *)t->data)[0] == 100.0f);
    CHECK(st_set_find(&s, "model.norm.weight") != NULL);
    CHECK(st_set_find(&s, "model.layers.1.mlp.up_proj.weight") != NULL);
    CHECK(st_set_find(&s, "model.layers.2.mlp.up_proj.weight") == NULL);
    CHECK(st_set_find(&s, "") == NULL);
    for (int64_t i = 1; i < s.n_tensors; i++) CHECK(strcmp(s.index[i - 1]->name, s.index[i]->name) < 0);
    st_set_close(&s);
    st_set_close(&s);
    st_set_close(NULL);
    free(d);

    // index lists a tensor its shard lacks
    d = make_dir("missing_tensor");
    write_spec(d, SH1, t1, 2, 1); // no model.norm.weight
    write_spec(d, SH2, t2, 2, 2);
    write_text(d, "model.safetensors.index.json", idx);
    check_set_bad(d, "model.safetensors.index.json: tensor 'model.norm.weight' is listed in shard",
                  "does not contain it");
    free(d);

    // index names a shard that is not there
    d = make_dir("missing_shard");
    write_spec(d, SH1, t1, 3, 1);
    write_text(d, "model.safetensors.index.json", idx);
    check_set_bad(d, "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors'", "cannot open");
    free(d);

    // a tensor in two shards
    d = make_dir("dup");
    const char *t2dup[] = {"model.layers.1.mlp.up_proj.weight", "lm_head.weight", "model.norm.weight"};
    write_spec(d, SH1, t1, 3, 1);
    write_spec(d, SH2, t2dup, 3, 2);
    write_text(d, "model.safetensors.index.json", idx);
    check_set_bad(d, "model-00002-of-00002.safetensors: duplicate tensor 'model.norm.weight'",
                  "(also in ");
    free(d);

    // a shard tensor the index does not list
    d = make_dir("unlisted");
    const char *t2x[] = {"model.layers.1.mlp.up_proj.weight", "lm_head.weight", "extra.weight"};
    write_spec(d, SH1, t1, 3, 1);
    write_spec(d, SH2, t2x, 3, 2);
    write_text(d, "model.safetensors.index.json", idx);
    check_set_bad(d, "tensor 'extra.weight' of ", "is not listed in the weight_map");
    free(d);

    // broken index files
    d = make_dir("badindex");
    write_spec(d, SH1, t1, 3, 1);
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\n\"a\": }");
    check_set_bad(d, "model.safetensors.index.json: JSON malformed at line 2", "column");
    write_text(d, "model.safetensors.index.json", "{\"metadata\": {}}");
    check_set_bad(d, "model.safetensors.index.json", "missing \"weight_map\"");
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"a\": 3}}");
    check_set_bad(d, "model.safetensors.index.json", "weight_map['a'] is not a string");
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
    check_set_bad(d, "model.safetensors.index.json", "must be a relative file name");
    write_text(d, "model.safetensors.index.json", "{\"weight_map\": {}}");
    check_set_bad(d, "model.safetensors.index.json", "is empty");
    // a broken shard names the shard file and its problem
    char idx1[256];
    snprintf(idx1, sizeof idx1, "{\"weight_map\": {\"w\": \"%s\"}}", SH2);
    write_text(d, "model.safetensors.index.json", idx1);
    char *p2 = path_join(d, SH2);
    write_raw(p2, "{]", 0);
    free(p2);
    check_set_bad(d, "model-00002-of-00002.safetensors: header JSON malformed", "shard '");
    free(d);

    // model.safetensors wins over other files; else the single *.safetensors
    d = make_dir("single");
    write_spec(d, "model.safetensors", t1, 3, 1);
    write_spec(d, "other.safetensors", t2, 2, 2);
    CHECK(st_set_open_dir(&s, d) == 0);
    CHECK(s.n_files == 1 && s.n_tensors == 3 && st_set_find(&s, "model.norm.weight"));
    st_set_close(&s);
    free(d);

    d = make_dir("onefile");
    write_spec(d, "weights.safetensors", t2, 2, 2);
    write_text(d, "config.json", "{}");
    CHECK(st_set_open_dir(&s, d) == 0);
    CHECK(s.n_files == 1 && s.n_tensors == 2 && st_set_find(&s, "lm_head.weight"));
    st_set_close(&s);
    write_spec(d, "a.safetensors", t1, 1, 1);
    check_set_bad(d, "2 .safetensors files and no model.safetensors.index.json", "a.safetensors, weights.safetensors");
    free(d);

    d = make_dir("empty");
    char want[512];
    snprintf(want, sizeof want, "no model.safetensors or model.safetensors.index.json in %s", d);
    check_set_bad(d, want, "");
    free(d);
    char *nd = tmp_path("does-not-exist");
    check_set_bad(nd, nd, "not a directory");
    free(nd);

    // explicit file lists
    d = make_dir("files");
    write_spec(d, "a.safetensors", t1, 3, 1);
    write_spec(d, "b.safetensors", t2dup, 3, 2);
    write_spec(d, "c.safetensors", t2, 2, 2);
    char *pa = path_join(d, "a.safetensors"), *pb = path_join(d, "b.safetensors"), *pc = path_join(d, "c.safetensors");
    const char *ab[] = {pa, pb}, *ac[] = {pa, pc}, *ax[] = {pa, "/nonexistent/x.safetensors"};
    err_clear();
    CHECK(st_set_open_files(&s, ab, 2) < 0);
    char dupmsg[512];
    snprintf(dupmsg, sizeof dupmsg, "%s: duplicate tensor 'model.norm.weight' (also in %s)", pb, pa);
    CHECK_MSG(strcmp(err_msg(), dupmsg) == 0, "'%s' != '%s'", err_msg(), dupmsg);
    CHECK(s.n_files == 0 && s.files == NULL);
    CHECK_ERR(st_set_open_files(&s, ax, 2), "/nonexistent/x.safetensors: cannot open");
    CHECK(st_set_open_files(&s, ac, 2) == 0);
    CHECK(s.n_tensors == 5 && st_set_find(&s, "model.layers.1.mlp.up_proj.weight"));
    st_set_close(&s);
    CHECK(st_set_open_files(&s, NULL, 0) == 0 && s.n_tensors == 0 && st_set_find(&s, "x") == NULL);
    st_set_close(&s);
    free(pa), free(pb), free(pc), free(d);
}

// ---- golden: a file written by the reference implementation ----
static double view_value(const tensor_view *t, int64_t i) {
    const uint8_t *p = t->data;
    switch (t->type) {
    case DTYPE_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case DTYPE_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return f16_to_f32(h); }
    case DTYPE_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return bf16_to_f32(h); }
    default: return NAN;
    }
}

static void test_golden(void) {
    const char *tdir = getenv("TESTS_DIR");
    char *dir = path_join(tdir ? tdir : "tests", "golden/safetensors");
    char *jp = path_join(dir, "ref.json"), *sp = path_join(dir, "ref.safetensors");
    json_error_t jerr;
    json_t *ref = json_load_file(jp, 0, &jerr);
    CHECK_MSG(ref != NULL, "%s: %s (run tests/ref/make_safetensors_golden.py)", jp, jerr.text);
    st_file f;
    int rc = st_open(&f, sp);
    CHECK_MSG(rc == 0, "%s", err_msg());
    if (!ref || rc) {
        json_decref(ref);
        free(dir), free(jp), free(sp);
        return;
    }
    json_t *tensors = json_object_get(ref, "tensors"), *meta = json_object_get(ref, "metadata");
    CHECK(f.n_tensors == (int64_t)json_array_size(tensors));
    CHECK(f.n_meta == (int64_t)json_object_size(meta));
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        const char *got = st_meta_get(&f, k);
        CHECK_MSG(got && strcmp(got, json_string_value(v)) == 0, "metadata %s", k);
    }
    size_t i;
    json_t *e;
    int64_t n_values = 0;
    double maxd = 0;
    json_array_foreach(tensors, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const tensor_view *t = st_find(&f, name);
        CHECK_MSG(t != NULL, "golden tensor %s", name);
        if (!t) continue;
        CHECK_MSG(strcmp(dtype_name(t->type), json_string_value(json_object_get(e, "dtype"))) == 0, "dtype of %s",
                  name);
        json_t *shape = json_object_get(e, "shape"), *vals = json_object_get(e, "values");
        CHECK((int)json_array_size(shape) == t->ndim);
        for (int d = 0; d < t->ndim; d++) CHECK(json_integer_value(json_array_get(shape, (size_t)d)) == t->shape[d]);
        CHECK((int64_t)json_array_size(vals) == tensor_numel(t));
        for (int64_t j = 0; j < (int64_t)json_array_size(vals) && j < tensor_numel(t); j++) {
            json_t *x = json_array_get(vals, (size_t)j);
            if (t->type == DTYPE_I64) {
                int64_t got;
                memcpy(&got, (const uint8_t *)t->data + 8 * j, 8);
                CHECK_MSG(got == (int64_t)json_integer_value(x), "%s[%lld]", name, (long long)j);
            } else {
                double want = (double)(float)json_number_value(x), got = view_value(t, j);
                double dd = fabs(got - want);
                if (dd > maxd) maxd = dd;
                CHECK_MSG(got == want && signbit(got) == signbit(want), "%s[%lld]: %g vs %g", name, (long long)j,
                          got, want);
            }
            n_values++;
        }
    }
    printf("golden %s: %lld tensors, %lld values, max abs diff %g\n", sp, (long long)f.n_tensors,
           (long long)n_values, maxd);
    st_close(&f);
    json_decref(ref);
    free(dir), free(jp), free(sp);
}

int main(void) {
    test_roundtrip();
    test_streaming();
    test_writer_errors();
    test_bad_files();
    test_sets();
    test_golden();
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}
