// test_quant.c — reference (de)quantization against hand-built blocks and
// gguf-py goldens (tests/golden/quant, made by tests/ref/make_quant_goldens.py).
//
// Hand-built blocks check the layouts with values worked out by hand; goldens
// check bit-exactness with gguf-py (itself bit-exact with ggml-quants.c).
#include "core/core.h"
#include "core/tensor.h"
#include "io/quant.h"
#include "test.h"

#include <stdint.h>

// ---- helpers ----
static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// Golden file tests/golden/quant/<name> into a heap buffer; NULL (and a FAIL) if missing.
static uint8_t *golden(const char *name, size_t *len) {
    const char *dir = getenv("TESTS_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/golden/quant/%s", dir ? dir : "tests", name);
    char *buf = NULL;
    if (file_read_all(path, &buf, len)) {
        CHECK_MSG(0, "cannot read golden %s: %s (run tests/ref/make_quant_goldens.py)", path, err_msg());
        return NULL;
    }
    return (uint8_t *)buf;
}

// Bit-exact float comparison: max abs diff (printed on failure; finite rows
// only, inf - inf being NaN), then the bits themselves.
static void check_bits(const char *what, const float *got, const float *want, int64_t n) {
    int finite = 1;
    for (int64_t i = 0; i < n; i++) finite &= isfinite(got[i]) && isfinite(want[i]);
    if (finite) CHECK_CLOSE(what, got, want, n, 0.0);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&got[i], &want[i], 4) != 0) bad = i;
    CHECK_MSG(bad < 0, "%s: bits differ at %lld (%a vs %a)", what, (long long)bad,
              bad < 0 ? 0.0 : got[bad], bad < 0 ? 0.0 : want[bad]);
}

// ---- hand-built blocks ----
static void test_f16_bf16(void) {
    const uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555, 0x0400, 0x03ff};
    const float hf[] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, -0.0f, INFINITY, 0x1.554p-2f, 0x1p-14f, 0x1.ff8p-15f};
    uint8_t raw[2 * 9];
    float y[9];
    for (int i = 0; i < 9; i++) put16(raw + 2 * i, h[i]);
    CHECK(dequantize_row(DTYPE_F16, raw, y, 9) == 0);
    check_bits("F16 dequant", y, hf, 9);

    const uint16_t b[] = {0x3f80, 0xc0a0, 0x7f80, 0x0001, 0x8000, 0x4049};
    const float bf[] = {1.0f, -5.0f, INFINITY, 0x1p-133f, -0.0f, 0x1.92p+1f};
    for (int i = 0; i < 6; i++) put16(raw + 2 * i, b[i]);
    CHECK(dequantize_row(DTYPE_BF16, raw, y, 6) == 0);
    check_bits("BF16 dequant", y, bf, 6);

    const float f[] = {1.5f, -0.0f, 3e38f};
    CHECK(dequantize_row(DTYPE_F32, f, y, 3) == 0);
    check_bits("F32 dequant", y, f, 3);
}

static void test_q8_0_hand(void) {
    uint8_t blk[2 * 34];
    float want[64], y[64];
    put16(blk, 0x3800);       // d = 0.5
    put16(blk + 34, 0xbc00);  // d = -1
    for (int j = 0; j < 32; j++) {
        int8_t q0 = (int8_t)(j * 8 - 128), q1 = (int8_t)(127 - j);
        blk[2 + j] = (uint8_t)q0;
        blk[36 + j] = (uint8_t)q1;
        want[j] = q0 * 0.5f;
        want[32 + j] = -(float)q1;
    }
    CHECK(dequantize_row(DTYPE_Q8_0, blk, y, 64) == 0);
    check_bits("Q8_0 hand-built", y, want, 64);
}

static void test_q4_hand(void) {
    // Q4_0: d = 2, qs[j] = low j, high 15-j: value j -> (j-8)*2, value j+16 -> (7-j)*2
    uint8_t b0[18];
    float y[32], want[32];
    put16(b0, 0x4000);
    for (int j = 0; j < 16; j++) {
        b0[2 + j] = (uint8_t)(j | ((15 - j) << 4));
        want[j] = (float)((j - 8) * 2);
        want[j + 16] = (float)((7 - j) * 2);
    }
    CHECK(dequantize_row(DTYPE_Q4_0, b0, y, 32) == 0);
    check_bits("Q4_0 hand-built", y, want, 32);

    // Q4_1: d = 0.25, m = -1: value = nibble*0.25 - 1
    uint8_t b1[20];
    put16(b1, 0x3400);
    put16(b1 + 2, 0xbc00);
    for (int j = 0; j < 16; j++) {
        b1[4 + j] = (uint8_t)(j | ((15 - j) << 4));
        want[j] = j * 0.25f - 1.0f;
        want[j + 16] = (15 - j) * 0.25f - 1.0f;
    }
    CHECK(dequantize_row(DTYPE_Q4_1, b1, y, 32) == 0);
    check_bits("Q4_1 hand-built", y, want, 32);
}

static void test_k_hand(void) {
    // Q4_K: d = 1, dmin = 0.5; sub-block scales 1..8, mins 0..7 packed by the
    // 6-bit layout; all nibbles 3. Value in sub-block s = (s+1)*3 - 0.5*s.
    uint8_t b[144] = {0};
    float y[256], want[256];
    put16(b, 0x3c00);
    put16(b + 2, 0x3800);
    uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7, 8}, mn[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    // use a few high bits too: scale 4 -> 36 (0b100100), min 7 -> 50 (0b110010)
    sc[4] = 36;
    mn[7] = 50;
    uint8_t *s = b + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    memset(b + 16, 0x33, 128);
    for (int i = 0; i < 256; i++) want[i] = (float)sc[i / 32] * 3.0f - 0.5f * mn[i / 32];
    CHECK(dequantize_row(DTYPE_Q4_K, b, y, 256) == 0);
    check_bits("Q4_K hand-built", y, want, 256);

    // Q6_K: d = 0.5, scales[k] = k-8; every 6-bit q = 33 (ql nibble 1, qh bits 2)
    // -> q - 32 = 1; value i has scale index i/16.
    uint8_t c[210];
    memset(c, 0x11, 128);
    memset(c + 128, 0xAA, 64);
    for (int k = 0; k < 16; k++) c[192 + k] = (uint8_t)(int8_t)(k - 8);
    put16(c + 208, 0x3800);
    for (int i = 0; i < 256; i++) want[i] = 0.5f * (float)(i / 16 - 8);
    CHECK(dequantize_row(DTYPE_Q6_K, c, y, 256) == 0);
    check_bits("Q6_K hand-built", y, want, 256);
}

// ---- goldens: dequantization ----
static void test_dequant_golden(dtype t) {
    char name[64];
    size_t nb, nf;
    snprintf(name, sizeof name, "%s.bin", dtype_name(t));
    uint8_t *raw = golden(name, &nb);
    snprintf(name, sizeof name, "%s.f32", dtype_name(t));
    float *want = (float *)golden(name, &nf);
    if (raw && want) {
        int64_t n = (int64_t)(nf / 4);
        CHECK(dtype_row_bytes(t, n) == nb);
        float *y = xmalloc(nf);
        CHECK(dequantize_row(t, raw, y, n) == 0);
        snprintf(name, sizeof name, "%s dequant vs gguf-py", dtype_name(t));
        check_bits(name, y, want, n);
        // block by block gives the same bits as the whole row
        size_t bb = dtype_block_bytes(t);
        int bs = dtype_block_size(t);
        int ok = 1;
        for (size_t i = 0; i < nb / bb; i++) {
            float blk[256];
            ok &= dequantize_row(t, raw + i * bb, blk, bs) == 0 && memcmp(blk, y + i * bs, 4 * (size_t)bs) == 0;
        }
        CHECK_MSG(ok, "%s: block-by-block dequantization differs", dtype_name(t));
        free(y);
    }
    free(raw);
    free(want);
}

// ---- goldens: quantization ----
static void test_quant_golden(dtype t, int64_t n_blocks_in) {
    char name[64];
    size_t nx, nq;
    float *x = (float *)golden("quant_in.f32", &nx);
    snprintf(name, sizeof name, "%s_quant.bin", dtype_name(t));
    uint8_t *want = golden(name, &nq);
    if (x && want) {
        int64_t n = n_blocks_in * 32;
        CHECK((size_t)n * 4 <= nx && dtype_row_bytes(t, n) == nq);
        uint8_t *q = xmalloc(nq);
        CHECK(quantize_row(t, x, q, n) == 0);
        size_t bad = nq;
        for (size_t i = 0; i < nq && bad == nq; i++)
            if (q[i] != want[i]) bad = i;
        CHECK_MSG(bad == nq, "%s quantize vs gguf-py: byte %zu differs (%02x vs %02x)", dtype_name(t), bad,
                  bad < nq ? q[bad] : 0, bad < nq ? want[bad] : 0);
        free(q);
    }
    free(x);
    free(want);
}

// Q8_0 round trip: |x - deq(q(x))| <= d/2 per block (plus f16 rounding of d).
static void test_q8_0_roundtrip(void) {
    rng_state r;
    rng_seed(&r, 7);
    float x[256], y[256];
    uint8_t q[8 * 34];
    for (int i = 0; i < 256; i++) x[i] = rng_normal(&r) * (i < 128 ? 1.0f : 0.01f);
    CHECK(quantize_row(DTYPE_Q8_0, x, q, 256) == 0);
    CHECK(dequantize_row(DTYPE_Q8_0, q, y, 256) == 0);
    int ok = 1;
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        for (int j = 0; j < 32; j++) ok &= fabsf(x[b * 32 + j] - y[b * 32 + j]) <= amax / 127 * 0.5f * 1.01f;
    }
    CHECK_MSG(ok, "Q8_0 round trip error above d/2");
}

static void test_errors(void) {
    float y[64];
    uint8_t raw[256] = {0};
    CHECK_ERR(dequantize_row(DTYPE_Q8_0, raw, y, 33), "not a multiple of the block size 32");
    CHECK_ERR(dequantize_row(DTYPE_Q4_K, raw, y, 32), "block size 256");
    CHECK_ERR(dequantize_row(DTYPE_I32, raw, y, 4), "no float dequantization");
    CHECK_ERR(quantize_row(DTYPE_Q4_K, y, raw, 256), "cannot quantize to Q4_K");
    CHECK_ERR(quantize_row(DTYPE_Q8_0, y, raw, 16), "not a multiple");
    CHECK(dequantize_row(DTYPE_Q8_0, raw, y, 0) == 0);
}

int main(void) {
    test_f16_bf16();
    test_q8_0_hand();
    test_q4_hand();
    test_k_hand();
    const dtype golden_types[] = {DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1, DTYPE_Q4_K, DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof golden_types / sizeof *golden_types; i++) test_dequant_golden(golden_types[i]);
    test_quant_golden(DTYPE_Q8_0, 6);
    test_quant_golden(DTYPE_F16, 8);
    test_quant_golden(DTYPE_BF16, 8);
    test_q8_0_roundtrip();
    test_errors();
    TEST_MAIN_END();
}
