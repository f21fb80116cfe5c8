// test_core.c — half-float conversion, suggestions, strbuf, RNG, atomic files.
#include "core/core.h"
#include "core/tensor.h"
#include "test.h"

#include <unistd.h>

// ---- half precision ----
static void test_half(void) {
    // exact values from the IEEE tables
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0xc000) == -2.0f);
    CHECK(f16_to_f32(0x7bff) == 65504.0f);
    CHECK(f16_to_f32(0x0001) == 5.9604644775390625e-08f); // smallest subnormal
    CHECK(f16_to_f32(0x0400) == 6.103515625e-05f);        // smallest normal
    CHECK(f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(isinf(f16_to_f32(0x7c00)) && isnan(f16_to_f32(0x7e00)));
    CHECK(f32_to_f16(1.0f) == 0x3c00);
    CHECK(f32_to_f16(65504.0f) == 0x7bff);
    CHECK(f32_to_f16(65520.0f) == 0x7c00);           // rounds to inf
    CHECK(f32_to_f16(1.0f / 3.0f) == 0x3555);
    CHECK(f32_to_f16(5.9604644775390625e-08f) == 0x0001);
    CHECK(f32_to_f16(2.98023223876953125e-08f) == 0x0000); // half the smallest subnormal: ties to even (0)
    CHECK(f32_to_f16(1.0009765625f + 0.00048828125f) == 0x3c02); // tie between 0x3c01 and 0x3c02 -> even
    // every f16 bit pattern survives f16 -> f32 -> f16 (NaNs stay NaN)
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        uint16_t back = f32_to_f16(f);
        if (isnan(f) ? !isnan(f16_to_f32(back)) : back != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d f16 patterns do not round-trip", bad);
    // bf16: truncation of the top half with round-to-nearest-even
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80);  // exact tie -> even
    CHECK(f32_to_bf16(1.01171875f) == 0x3f82);  // tie -> even (up)
    CHECK(f32_to_bf16(-3.0f) == 0xc040);
    CHECK(isnan(bf16_to_f32(f32_to_bf16(NAN))));
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (!isnan(f) && f32_to_bf16(f) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d bf16 patterns do not round-trip", bad);
}

// ---- suggestions ----
static void test_suggest(void) {
    CHECK(edit_distance("kitten", "sitting") == 3);
    CHECK(edit_distance("", "abc") == 3);
    CHECK(edit_distance("same", "same") == 0);
    const char *c[] = {"--max-seq-length", "--num-layers", "--lora-rank", "--json"};
    CHECK(strcmp(closest_match("--max-seq-len", c, 4), "--max-seq-length") == 0);
    CHECK(strcmp(closest_match("--jsno", c, 4), "--json") == 0);
    CHECK(closest_match("--completely-different", c, 4) == NULL);
}

// ---- strbuf and numbers ----
static void test_strbuf(void) {
    strbuf sb;
    sb_init(&sb);
    for (int i = 0; i < 1000; i++) sb_printf(&sb, "%d,", i);
    sb_puts(&sb, "end");
    CHECK(sb.len == strlen(sb.buf));
    CHECK(strncmp(sb.buf, "0,1,2,", 6) == 0 && strcmp(sb.buf + sb.len - 3, "end") == 0);
    char *s = sb_detach(&sb);
    CHECK(sb.buf == NULL);
    free(s);
    int64_t v;
    double d;
    CHECK(parse_int64("42", &v, "n") == 0 && v == 42);
    CHECK_ERR(parse_int64("4x2", &v, "--seed"), "--seed: expected an integer, got '4x2'");
    CHECK_ERR(parse_int64("", &v, "--seed"), "expected an integer");
    CHECK(parse_double("1e-5", &d, "x") == 0 && d == 1e-5);
    CHECK_ERR(parse_double("nan", &d, "--temp"), "--temp: expected a number");
    char b[32];
    CHECK(strcmp(fmt_count(b, sizeof b, 3075098624.0), "3.08B") == 0);
    CHECK(strcmp(fmt_count(b, sizeof b, 134515008.0), "134.5M") == 0);
    CHECK(strcmp(fmt_bytes(b, sizeof b, 6150197248.0), "6.15 GB") == 0);
}

// ---- RNG ----
static void test_rng(void) {
    rng_state a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= rng_next(&a) == rng_next(&b);
    CHECK(same);
    rng_seed(&b, 8);
    CHECK(rng_next(&a) != rng_next(&b));
    double sum = 0, sq = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        float x = rng_normal(&a);
        sum += x, sq += (double)x * x;
    }
    CHECK_MSG(fabs(sum / n) < 0.01 && fabs(sq / n - 1) < 0.02, "normal mean %g var %g", sum / n, sq / n);
    float u = rng_uniform(&a);
    CHECK(u >= 0 && u < 1);
}

// ---- files ----
static void test_files(void) {
    const char *dir = test_tmpdir();
    char *p = path_join(dir, "a/b/c");
    CHECK(mkdir_p(p) == 0 && dir_exists(p));
    char *f = path_join(p, "x.txt");
    CHECK(file_write_atomic(f, "hello", 5) == 0);
    char *text;
    size_t len;
    CHECK(file_read_all(f, &text, &len) == 0 && len == 5 && strcmp(text, "hello") == 0);
    free(text);
    // an aborted atomic write leaves the old file and no temp file behind
    atomic_file af;
    CHECK(af_open(&af, f) == 0);
    af_write(&af, "partial", 7);
    char *tmp = xstrdup(af.tmp);
    af_abort(&af);
    CHECK(!file_exists(tmp));
    CHECK(file_read_all(f, &text, &len) == 0 && strcmp(text, "hello") == 0);
    free(text);
    free(tmp);
    mapped_file mf;
    CHECK(mf_open(&mf, f) == 0 && mf.size == 5 && memcmp(mf.data, "hello", 5) == 0);
    mf_release(&mf);
    char *missing = path_join(dir, "nope.bin");
    CHECK_ERR(mf_open(&mf, missing), "nope.bin: cannot open");
    CHECK_ERR(file_read_all(missing, &text, &len), "nope.bin: cannot open");
    char *top = path_join(dir, "a");
    CHECK(rm_rf(top) == 0 && !dir_exists(top));
    free(top);
    free(missing);
    free(f);
    free(p);
    rm_rf(dir);
}

// ---- dtypes ----
static void test_dtypes(void) {
    CHECK(dtype_from_name("BF16") == DTYPE_BF16 && dtype_from_name("Q8_0") == -1 && dtype_from_name("F8") == -1);
    CHECK(dtype_row_bytes(DTYPE_Q4_K, 512) == 288 && dtype_row_bytes(DTYPE_Q4_K, 100) == 0);
    CHECK(dtype_row_bytes(DTYPE_Q8_0, 64) == 68 && dtype_row_bytes(DTYPE_BF16, 3) == 6);
    char b[64];
    int64_t s[2] = {49152, 576};
    CHECK(strcmp(shape_str(b, sizeof b, 2, s), "(49152, 576)") == 0);
    CHECK(strcmp(shape_str(b, sizeof b, 1, s), "(49152,)") == 0);
}

int main(void) {
    test_half();
    test_suggest();
    test_strbuf();
    test_rng();
    test_files();
    test_dtypes();
    TEST_MAIN_END();
}
