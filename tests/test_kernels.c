// test_kernels.c — every optimised kernel against its naive reference twin,
// on random inputs of awkward sizes, on every instruction-set path this
// machine has (scalar, AVX-512, AMX); RoPE tables against transformers.
//
// Tolerances:
//  - matmul (all dtypes, all paths): |y - y_ref| <= 2e-6 · Σ_k |x_k·w_k| per
//    element (observed max 3.4e-7; VERBOSE=1 prints each case). Every path
//    uses the weights exactly as dequantize_row gives them and fp32
//    activations (AMX splits both into bf16 parts, dropping only pieces of
//    ~2^-24 relative), so the only difference from the double-
//    accumulating reference is fp32 summation order. Dropping one bf16 part
//    would cost up to 2^-16 = 1.5e-5 and fail. KERNEL_PREC_FAST (AMX, opt-in)
//    drops parts on purpose: per product at most ~3·2^-16 = 4.6e-5 (observed
//    1.3e-5), checked at 5e-5, and checked to be coarser than the default.
//  - rmsnorm, silu·up, softmax: 4e-6 relative (exp512 is within 2 ulp of expf).
//  - attention: 1e-5 absolute on outputs of size ~1 (fp32 dot products,
//    exp512 softmax, different summation order).
//  - rope: the optimised rotation equals the reference bit for bit; the
//    inverse-frequency tables equal transformers' fp32 tables bit for bit.
#include "core/core.h"
#include "core/tensor.h"
#include "io/quant.h"
#include "kernels/kernels.h"
#include "test.h"

#include <stdint.h>

static rng_state rng;
static double matmul_rtol = 2e-6; // see the header; KERNEL_PREC_FAST: 5e-5

// ---- helpers ----
static float *randn(int64_t n, float sd) {
    float *x = xmalloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * sd;
    return x;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// A random (out, in) weight of type t: float types and Q8_0 through
// quantize_row, the other block types as random bits with sane scales.
static uint8_t *rand_weight(dtype t, int64_t out, int64_t in, tensor_view *w) {
    size_t rb = dtype_row_bytes(t, in), nb = (size_t)out * rb;
    uint8_t *data = xmalloc(nb ? nb : 1);
    if (t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16 || t == DTYPE_Q8_0) {
        float *f = randn(in, 1.0f);
        for (int64_t r = 0; r < out; r++) {
            for (int64_t i = 0; i < in; i++) f[i] = rng_normal(&rng);
            LORAC_ASSERT(quantize_row(t, f, data + r * rb, in) == 0);
        }
        free(f);
    } else {
        for (size_t i = 0; i < nb; i++) data[i] = (uint8_t)rng_next(&rng);
        size_t bb = dtype_block_bytes(t);
        for (size_t b = 0; b < nb / bb; b++) {
            uint8_t *blk = data + b * bb;
            float d = 0.05f + 0.1f * rng_uniform(&rng);
            switch (t) {
            case DTYPE_Q4_0: put16(blk, f32_to_f16(d)); break;
            case DTYPE_Q4_1:
                put16(blk, f32_to_f16(d));
                put16(blk + 2, f32_to_f16(-8 * d * rng_uniform(&rng)));
                break;
            case DTYPE_Q4_K:
                put16(blk, f32_to_f16(d / 16));
                put16(blk + 2, f32_to_f16(d / 4));
                break;
            case DTYPE_Q6_K:
                for (int i = 0; i < 16; i++) blk[192 + i] = (uint8_t)(int8_t)((int)(rng_next(&rng) % 64) - 32);
                put16(blk + 208, f32_to_f16(d / 100));
                break;
            default: break;
            }
        }
    }
    *w = (tensor_view){.name = "w", .type = t, .ndim = 2, .shape = {out, in}, .data = data, .nbytes = nb};
    return data;
}

// Max over elements of |got - want| / (Σ_k |a_k·b_k| + |bias|), against rtol.
static void check_scaled(const char *what, const float *got, const float *want, const float *scale, int64_t n,
                         double rtol) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / (scale[i] > 1e-30 ? scale[i] : 1e-30);
        if (d > worst || d != d) worst = d, at = i;
    }
    CHECK_MSG(worst <= rtol, "%s: max scaled diff %.3g at %lld (%g vs %g) > %.3g", what, worst, (long long)at,
              got[at], want[at], rtol);
    if (getenv("VERBOSE")) fprintf(stderr, "  %-46s max scaled diff %.3g\n", what, worst);
}

// scale[t][n] = Σ_k |x[t][k] W[n][k]| (+ |bias[n]|).
static float *forward_scale(const float *x, const tensor_view *w, const float *bias, int64_t T) {
    int64_t out = w->shape[0], in = w->shape[1];
    float *row = xmalloc((size_t)(in ? in : 1) * sizeof *row), *s = xmalloc((size_t)(T * out > 0 ? T * out : 1) * sizeof *s);
    for (int64_t n = 0; n < out; n++) {
        tensor_row_f32(row, w, n);
        for (int64_t t = 0; t < T; t++) {
            double a = bias ? fabs(bias[n]) : 0;
            for (int64_t k = 0; k < in; k++) a += fabs((double)x[t * in + k] * row[k]);
            s[t * out + n] = (float)a;
        }
    }
    free(row);
    return s;
}

// scale[t][k] = Σ_n |dy[t][n] W[n][k]| (+ |dx_before|).
static float *backward_scale(const float *dy, const tensor_view *w, const float *dx0, int64_t T) {
    int64_t out = w->shape[0], in = w->shape[1];
    float *row = xmalloc((size_t)(in ? in : 1) * sizeof *row), *s = xcalloc((size_t)(T * in > 0 ? T * in : 1), sizeof *s);
    for (int64_t n = 0; n < out; n++) {
        tensor_row_f32(row, w, n);
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k < in; k++) s[t * in + k] += fabsf(dy[t * out + n] * row[k]);
    }
    if (dx0)
        for (int64_t i = 0; i < T * in; i++) s[i] += fabsf(dx0[i]);
    free(row);
    return s;
}

// ---- matmul ----
// KERNEL_PREC_BF16: the many-token matmuls (T >= 16) must equal the
// reference on bf16-rounded operands, up to fp32 summation order.
static int matmul_bf16_mode = 0;

static float *round_bf16(const float *x, int64_t n) {
    float *r = xmalloc((size_t)(n ? n : 1) * sizeof *r);
    for (int64_t i = 0; i < n; i++) r[i] = bf16_to_f32(f32_to_bf16(x[i]));
    return r;
}

// The weight as F32 with every dequantized value rounded to bf16.
static float *weight_bf16(const tensor_view *w, tensor_view *wr) {
    int64_t out = w->shape[0], in = w->shape[1];
    float *f = xmalloc((size_t)(out * in > 0 ? out * in : 1) * sizeof *f);
    for (int64_t n = 0; n < out; n++) {
        tensor_row_f32(f + n * in, w, n);
        for (int64_t k = 0; k < in; k++) f[n * in + k] = bf16_to_f32(f32_to_bf16(f[n * in + k]));
    }
    *wr = (tensor_view){.name = "w_bf16", .type = DTYPE_F32, .ndim = 2, .shape = {out, in}, .data = f,
                        .nbytes = (size_t)(out * in) * sizeof *f};
    return f;
}

static void matmul_case(dtype t, int64_t out, int64_t in, int64_t T, int with_bias) {
    tensor_view w0, w;
    uint8_t *data = rand_weight(t, out, in, &w0);
    float *x = randn(T * in, 1.0f), *bias = with_bias ? randn(out, 1.0f) : NULL;
    float *y = randn(T * out, 1.0f), *yr = randn(T * out, 1.0f);
    // the reference's operands: as given, or rounded to bf16 in bf16 mode
    int rounded = matmul_bf16_mode && T >= 16;
    float *wr_data = rounded ? weight_bf16(&w0, &w) : NULL, *xr = rounded ? round_bf16(x, T * in) : NULL;
    if (!rounded) w = w0;
    const float *xref = rounded ? xr : x;
    matmul_forward_ref(yr, xref, &w, bias, T);
    matmul_forward(y, x, &w0, bias, T);
    float *s = forward_scale(xref, &w, bias, T);
    char what[128];
    snprintf(what, sizeof what, "%s%s fwd %s out=%lld in=%lld T=%lld%s", kernel_isa_name(kernels_isa()),
             rounded ? " bf16" : "", dtype_name(t), (long long)out, (long long)in, (long long)T, bias ? " +bias" : "");
    check_scaled(what, y, yr, s, T * out, matmul_rtol);
    free(s);

    // backward, overwriting and accumulating
    float *dy = randn(T * out, 1.0f), *dx = randn(T * in, 1.0f), *dxr = randn(T * in, 1.0f);
    float *dyr = rounded ? round_bf16(dy, T * out) : NULL;
    const float *dyref = rounded ? dyr : dy;
    matmul_backward_input_ref(dxr, dyref, &w, T, 0);
    matmul_backward_input(dx, dy, &w0, T, 0);
    s = backward_scale(dyref, &w, NULL, T);
    snprintf(what, sizeof what, "%s%s bwd %s out=%lld in=%lld T=%lld", kernel_isa_name(kernels_isa()),
             rounded ? " bf16" : "", dtype_name(t), (long long)out, (long long)in, (long long)T);
    check_scaled(what, dx, dxr, s, T * in, matmul_rtol);
    free(s);
    float *dx0 = randn(T * in, 1.0f);
    memcpy(dx, dx0, (size_t)(T * in) * sizeof *dx);
    memcpy(dxr, dx0, (size_t)(T * in) * sizeof *dx);
    matmul_backward_input_ref(dxr, dyref, &w, T, 1);
    matmul_backward_input(dx, dy, &w0, T, 1);
    s = backward_scale(dyref, &w, dx0, T);
    snprintf(what, sizeof what, "%s%s bwd+= %s out=%lld in=%lld T=%lld", kernel_isa_name(kernels_isa()),
             rounded ? " bf16" : "", dtype_name(t), (long long)out, (long long)in, (long long)T);
    check_scaled(what, dx, dxr, s, T * in, matmul_rtol);
    free(s);
    free(dx0), free(dy), free(dx), free(dxr), free(x), free(bias), free(y), free(yr), free(data);
    free(wr_data), free(xr), free(dyr);
}

static void test_matmul(void) {
    static const dtype types[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0,
                                  DTYPE_Q4_0, DTYPE_Q4_1, DTYPE_Q4_K, DTYPE_Q6_K};
    // T: decode (1), small batches (3, 5), the tile path with edge tiles (17, 45)
    static const int64_t Ts[] = {1, 3, 5, 17, 45};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        dtype t = types[i];
        int bs = dtype_block_size(t);
        // `in` not a multiple of 16/32 where the type allows; > 256 for two reduction blocks
        int64_t ins[2] = {bs == 1 ? 37 : bs == 32 ? 96 : 256, bs == 1 ? 300 : bs == 32 ? 288 : 512};
        for (int a = 0; a < 2; a++)
            for (size_t j = 0; j < sizeof Ts / sizeof *Ts; j++)
                matmul_case(t, a ? 45 : 19, ins[a], Ts[j], (int)((i + j) & 1));
    }
    // more tokens than one AMX chunk (256) and a 1-wide output
    matmul_case(DTYPE_BF16, 35, 64, 530, 1);
    // wide inputs: the backward AMX packer takes several column blocks per call
    matmul_case(DTYPE_BF16, 40, 1040, 20, 0);
    matmul_case(DTYPE_F16, 19, 1040, 18, 1);
    matmul_case(DTYPE_Q4_K, 33, 1280, 17, 0);
    matmul_case(DTYPE_Q8_0, 1, 64, 33, 0);
    matmul_case(DTYPE_F16, 33, 1, 20, 1);
    // more than 2 MB of bf16 activations (T · reduction · 2): the AVX-512 BF16
    // path's blocked loop instead of packing all of A at once
    matmul_case(DTYPE_BF16, 35, 2112, 530, 1);
    matmul_case(DTYPE_Q8_0, 2112, 64, 530, 0);
}

static void test_rows(void) {
    tensor_view w;
    const dtype types[] = {DTYPE_F16, DTYPE_BF16, DTYPE_Q4_1, DTYPE_Q6_K};
    for (size_t i = 0; i < 4; i++) {
        int64_t in = dtype_block_size(types[i]) == 1 ? 45 : 512;
        uint8_t *data = rand_weight(types[i], 7, in, &w);
        float *a = xmalloc((size_t)in * sizeof *a), *b = xmalloc((size_t)in * sizeof *b);
        tensor_row_f32(a, &w, 5);
        LORAC_ASSERT(dequantize_row(types[i], data + 5 * dtype_row_bytes(types[i], in), b, in) == 0);
        CHECK_CLOSE("tensor_row_f32 == dequantize_row", a, b, in, 0.0);
        tensor_view v = tensor_rows(&w, 3, 4);
        CHECK(v.shape[0] == 4 && v.shape[1] == in);
        tensor_row_f32(b, &v, 2);
        CHECK_CLOSE("tensor_rows view row", a, b, in, 0.0);
        free(a), free(b), free(data);
    }
}

// The fast mode really drops parts: on a T = 64 BF16 matmul its error is
// well above the default mode's.
static void test_fast_is_coarser(void) {
    tensor_view w;
    uint8_t *data = rand_weight(DTYPE_BF16, 64, 512, &w);
    float *x = randn(64 * 512, 1.0f), *y = xmalloc(64 * 64 * 4), *yf = xmalloc(64 * 64 * 4), *yr = xmalloc(64 * 64 * 4);
    matmul_forward_ref(yr, x, &w, NULL, 64);
    matmul_forward(y, x, &w, NULL, 64);
    kernels_set_precision(KERNEL_PREC_FAST);
    CHECK(kernels_precision() == KERNEL_PREC_FAST);
    matmul_forward(yf, x, &w, NULL, 64);
    kernels_set_precision(KERNEL_PREC_FP32);
    double e = 0, ef = 0;
    for (int i = 0; i < 64 * 64; i++) e = fmax(e, fabs(y[i] - yr[i])), ef = fmax(ef, fabs(yf[i] - yr[i]));
    CHECK_MSG(ef > 4 * e, "fast mode error %g not above default %g", ef, e);
    free(x), free(y), free(yf), free(yr), free(data);
}

// ---- elementwise ----
// Max of |got - want| / max(|want|, floor) against rtol.
static void check_rel(const char *what, const float *got, const float *want, int64_t n, double rtol, double floor) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / (fabs(want[i]) > floor ? fabs(want[i]) : floor);
        if (d > worst || d != d) worst = d, at = i;
    }
    CHECK_MSG(worst <= rtol, "%s: max rel diff %.3g at %lld (%g vs %g) > %.3g", what, worst, (long long)at, got[at],
              want[at], rtol);
}

static void test_elementwise(void) {
    static const int64_t ns[] = {1, 15, 17, 100, 576, 2049};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int64_t n = ns[i], T = 3;
        float *x = randn(T * n, 2.0f), *w = randn(n, 1.0f), *a = xmalloc((size_t)(T * n) * 4), *b = xmalloc((size_t)(T * n) * 4);
        rmsnorm_forward_ref(b, x, w, T, n, 1e-5f);
        memcpy(a, x, (size_t)(T * n) * 4);
        rmsnorm_forward(a, a, w, T, n, 1e-5f); // in place
        check_rel("rmsnorm (in place)", a, b, T * n, 4e-6, 1e-3);

        float *g = randn(n, 4.0f), *u = randn(n, 1.0f);
        g[0] = -120.0f; // exp overflow side
        if (n > 1) g[1] = 90.0f;
        silu_mul_forward_ref(b, g, u, n);
        silu_mul_forward(g, g, u, n); // out aliases gate
        check_rel("silu_mul (aliasing gate)", g, b, n, 4e-6, 1e-3);

        float *s = randn(n, 5.0f);
        memcpy(a, s, (size_t)n * 4);
        softmax_forward_ref(s, n);
        softmax_forward(a, n);
        CHECK_CLOSE("softmax", a, s, n, 4e-6);
        double sum = 0;
        for (int64_t k = 0; k < n; k++) sum += a[k];
        CHECK_MSG(fabs(sum - 1) < 1e-5, "softmax sums to %g", sum);
        free(x), free(w), free(a), free(b), free(g), free(u), free(s);
    }
    // the HF formula on one hand-worked row: x = (1, 2, 3), w = (1, 1, 2), eps 0
    float x[3] = {1, 2, 3}, w[3] = {1, 1, 2}, o[3];
    rmsnorm_forward(o, x, w, 1, 3, 0.0f);
    float r = 1.0f / sqrtf(14.0f / 3.0f), want[3] = {1 * r, 2 * r, 2 * (3 * r)};
    CHECK_CLOSE("rmsnorm by hand", o, want, 3, 1e-7);
}

// ---- rope ----
// inv_freq (head_dim 64) from transformers 5.x, bits of the fp32 values:
//   LlamaConfig(hidden_size=1024, num_attention_heads=16, head_dim=64,
//               max_position_embeddings=131072, rope_theta=θ, rope_parameters=...)
//   ROPE_INIT_FUNCTIONS[type](cfg, "cpu")  (default: compute_default_rope_parameters)
static const uint32_t golden_none[32] = {
    0x3f800000, 0x3f3ff911, 0x3f0ff59a, 0x3ed7e89b, 0x3ea1e89b, 0x3e72d423, 0x3e361887, 0x3e088d77,
    0x3dcccccd, 0x3d99940d, 0x3d6655c2, 0x3d2cba15, 0x3d0186e3, 0x3cc2434f, 0x3c91ad39, 0x3c5a7bf2,
    0x3c23d70a, 0x3bf5b9b0, 0x3bb8449c, 0x3b8a2e77, 0x3b4f3e38, 0x3b1b690d, 0x3ae91528, 0x3aaec98e,
    0x3a83126f, 0x3a44948c, 0x3a136a16, 0x39dd1725, 0x39a5cb60, 0x3978a815, 0x393a7753, 0x390bd472};
static const uint32_t golden_linear[32] = { // θ 1e4, factor 4
    0x3e800000, 0x3e3ff911, 0x3e0ff59a, 0x3dd7e89b, 0x3da1e89b, 0x3d72d423, 0x3d361887, 0x3d088d77,
    0x3ccccccd, 0x3c99940d, 0x3c6655c2, 0x3c2cba15, 0x3c0186e3, 0x3bc2434f, 0x3b91ad39, 0x3b5a7bf2,
    0x3b23d70a, 0x3af5b9b0, 0x3ab8449c, 0x3a8a2e77, 0x3a4f3e38, 0x3a1b690d, 0x39e91528, 0x39aec98e,
    0x3983126f, 0x3944948c, 0x39136a16, 0x38dd1725, 0x38a5cb60, 0x3878a815, 0x383a7753, 0x380bd472};
static const uint32_t golden_llama3[32] = { // θ 5e5, factor 8, low 1, high 4, original 8192
    0x3f800000, 0x3f29e1c6, 0x3ee177bc, 0x3e959ee3, 0x3e4693b0, 0x3e03c6a0, 0x3daee4ad, 0x3d681e67,
    0x3d1a08c8, 0x3ccc6f49, 0x3c87a9c3, 0x3c340d6d, 0x3beef74f, 0x3b9e9402, 0x3b527720, 0x3ab3d11d,
    0x3a0995d2, 0x393b2dd2, 0x38a3418d, 0x3858ac81, 0x380fc8f8, 0x37bed4f4, 0x377d45c3, 0x3728126b,
    0x36df10c4, 0x369406cb, 0x36447610, 0x36025f34, 0x35ad07a7, 0x3565a54d, 0x351864a7, 0x34ca41b0};
static const uint32_t golden_yarn[32] = { // θ 1e6, factor 4, original 32768; attention factor 1.138629436
    0x3f800000, 0x3f263de0, 0x3ed7e89b, 0x3e8c3504, 0x3e361887, 0x3dec7fd6, 0x3d99940d, 0x3d47763f,
    0x3d0186e3, 0x3ca8398b, 0x3c5a7bf2, 0x3c0de12d, 0x3ba8e98f, 0x3b476f0b, 0x3ae91d93, 0x3a868f93,
    0x3a18ead7, 0x39aa3b44, 0x39383df4, 0x38bf6ded, 0x383a7753, 0x37f22ce2, 0x379d43a4, 0x374c3fbe,
    0x3704a2b2, 0x36ac431d, 0x365fba4f, 0x361148e3, 0x35bcb0c1, 0x35751070, 0x351f23e4, 0x34ceaf79};

static void check_table(const char *what, const rope_table *r, const uint32_t *golden) {
    float g[32];
    memcpy(g, golden, sizeof g);
    CHECK_CLOSE(what, r->inv_freq, g, 32, 0.0);
}

static void test_rope_tables(void) {
    rope_table r;
    rope_table_init(&r, 64, 1e4, ROPE_SCALE_NONE, 0, 0, 0, 0, 0, 0, 0, ROPE_NEOX);
    check_table("rope inv_freq none == transformers", &r, golden_none);
    CHECK(r.attn_scale == 1.0f);
    // by hand: θ^(-2i/d)
    float want[32];
    for (int i = 0; i < 32; i++) want[i] = (float)pow(1e4, -2.0 * i / 64);
    check_rel("rope inv_freq none by hand", r.inv_freq, want, 32, 2e-7, 0);
    rope_table_release(&r);

    rope_table_init(&r, 64, 1e4, ROPE_SCALE_LINEAR, 4, 0, 0, 0, 0, 0, 0, ROPE_NEOX);
    check_table("rope inv_freq linear == transformers", &r, golden_linear);
    for (int i = 0; i < 32; i++) want[i] = (float)(pow(1e4, -2.0 * i / 64) / 4);
    check_rel("rope inv_freq linear by hand", r.inv_freq, want, 32, 2e-7, 0);
    rope_table_release(&r);

    rope_table_init(&r, 64, 5e5, ROPE_SCALE_LLAMA3, 8, 1, 4, 8192, 0, 0, 0, ROPE_NEOX);
    check_table("rope inv_freq llama3 == transformers", &r, golden_llama3);
    // by hand in double: wavelength < 8192/4 kept, > 8192/1 divided by 8, smooth between
    for (int i = 0; i < 32; i++) {
        double f = pow(5e5, -2.0 * i / 64), wl = 2 * M_PI / f;
        if (wl < 2048) want[i] = (float)f;
        else if (wl > 8192) want[i] = (float)(f / 8);
        else {
            double s = (8192 / wl - 1) / (4 - 1);
            want[i] = (float)((1 - s) * f / 8 + s * f);
        }
    }
    check_rel("rope inv_freq llama3 by hand", r.inv_freq, want, 32, 2e-6, 0);
    rope_table_release(&r);

    rope_table_init(&r, 64, 1e6, ROPE_SCALE_YARN, 4, 0, 0, 32768, 0, 0, 0, ROPE_NEOX);
    check_table("rope inv_freq yarn == transformers", &r, golden_yarn);
    CHECK_MSG(fabsf(r.attn_scale - (float)(0.1 * log(4.0) + 1)) == 0, "yarn attn_scale %g", r.attn_scale);
    // by hand: dims below low extrapolate (unscaled), above high interpolate (/4)
    {
        double lo = floor(64 * log(32768 / (32 * 2 * M_PI)) / (2 * log(1e6)));
        double hi = ceil(64 * log(32768 / (1 * 2 * M_PI)) / (2 * log(1e6)));
        for (int i = 0; i < 32; i++) {
            double f = pow(1e6, -2.0 * i / 64), ramp = (i - lo) / (hi - lo);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            want[i] = (float)(f / 4 * ramp + f * (1 - ramp));
        }
        check_rel("rope inv_freq yarn by hand", r.inv_freq, want, 32, 2e-6, 0);
    }
    rope_table_release(&r);
    rope_table_init(&r, 64, 1e6, ROPE_SCALE_YARN, 4, 0, 0, 32768, 0, 0, 1.5, ROPE_NEOX);
    CHECK(r.attn_scale == 1.5f);
    rope_table_release(&r);
}

static void test_rope_rotation(void) {
    const int64_t T = 5, H = 3, hd = 64;
    const int64_t pos[5] = {0, 1, 7, 300, 4095};
    for (int mode = 0; mode < 2; mode++)
        for (int sc = 0; sc < 2; sc++) {
            rope_table r;
            if (sc) rope_table_init(&r, hd, 1e6, ROPE_SCALE_YARN, 4, 0, 0, 32768, 0, 0, 0, (rope_mode)mode);
            else rope_table_init(&r, hd, 1e4, ROPE_SCALE_NONE, 0, 0, 0, 0, 0, 0, 0, (rope_mode)mode);
            float *a = randn(T * H * hd, 1.0f), *b = xmalloc((size_t)(T * H * hd) * 4);
            memcpy(b, a, (size_t)(T * H * hd) * 4);
            rope_forward(a, pos, T, H, &r);
            rope_forward_ref(b, pos, T, H, &r);
            CHECK_CLOSE(mode ? "rope interleaved == ref" : "rope neox == ref", a, b, T * H * hd, 0.0);
            free(a), free(b);
            rope_table_release(&r);
        }
    // by hand: x = e_i at position 3 rotates into (cos 3f_i, sin 3f_i) on its pair
    rope_table r;
    rope_table_init(&r, 8, 1e4, ROPE_SCALE_NONE, 0, 0, 0, 0, 0, 0, 0, ROPE_NEOX);
    float x[8] = {1, 0, 0, 0, 0, 0, 0, 0}, want[8] = {0};
    int64_t p = 3;
    rope_forward(x, &p, 1, 1, &r);
    want[0] = cosf(3.0f), want[4] = sinf(3.0f); // i = 0: f = 1, partner at i + hd/2
    CHECK_CLOSE("rope neox by hand", x, want, 8, 1e-7);
    rope_table_release(&r);
    rope_table_init(&r, 8, 1e4, ROPE_SCALE_NONE, 0, 0, 0, 0, 0, 0, 0, ROPE_INTERLEAVED);
    float y[8] = {0, 0, 1, 0, 0, 0, 0, 0}, want2[8] = {0};
    float f1 = (float)pow(1e4, -2.0 / 8);
    rope_forward(y, &p, 1, 1, &r);
    want2[2] = cosf(3 * f1), want2[3] = sinf(3 * f1); // pair (2, 3) has frequency index 1
    CHECK_CLOSE("rope interleaved by hand", y, want2, 8, 1e-6);
    rope_table_release(&r);
}

// ---- attention ----
static void attention_case(int64_t T, int64_t pos0, int64_t H, int64_t KV, int64_t hd) {
    int64_t S = pos0 + T;
    float *q = randn(T * H * hd, 1.0f), *k = randn(S * KV * hd, 1.0f), *v = randn(S * KV * hd, 1.0f);
    float *o = randn(T * H * hd, 1.0f), *orf = randn(T * H * hd, 1.0f);
    float scale = 1.0f / sqrtf((float)hd);
    attention_forward(o, q, k, v, T, pos0, H, KV, hd, scale);
    attention_forward_ref(orf, q, k, v, T, pos0, H, KV, hd, scale);
    char what[128];
    snprintf(what, sizeof what, "%s attention T=%lld pos0=%lld H=%lld KV=%lld hd=%lld", kernel_isa_name(kernels_isa()),
             (long long)T, (long long)pos0, (long long)H, (long long)KV, (long long)hd);
    CHECK_CLOSE(what, o, orf, T * H * hd, 1e-5);
    free(q), free(k), free(v), free(o), free(orf);
}

static void test_attention(void) {
    attention_case(37, 0, 9, 3, 64);    // prefill, SmolLM2 heads, edge tile
    attention_case(20, 70, 4, 2, 128);  // prefill after a cached prefix (crosses key blocks)
    attention_case(1, 150, 9, 3, 64);   // decode with a cache
    attention_case(1, 0, 4, 4, 128);    // first token, no grouping
    attention_case(3, 10, 6, 2, 40);    // head_dim not a multiple of 16
    attention_case(130, 0, 2, 1, 64);   // several query tiles, one kv head
    // one key: the output is that key's value
    float q[4] = {1, 2, 3, 4}, k[4] = {4, 3, 2, 1}, v[4] = {0.5f, -1, 2, 7}, o[4];
    attention_forward(o, q, k, v, 1, 0, 1, 1, 4, 0.5f);
    CHECK_CLOSE("attention with one key returns v", o, v, 4, 0.0);
}

// ---- isa selection ----
static void test_isa(void) {
    kernel_isa best = kernels_isa_detected();
    kernels_set_isa(KERNEL_ISA_AMX);
    CHECK(kernels_isa() == best);
    kernels_set_isa(KERNEL_ISA_SCALAR);
    CHECK(kernels_isa() == KERNEL_ISA_SCALAR);
    CHECK(strcmp(kernel_isa_name(KERNEL_ISA_AVX512), "avx512") == 0);
    kernels_set_isa(best);
}

int main(void) {
    rng_seed(&rng, 1234);
    test_isa();
    kernel_isa best = kernels_isa_detected();
    fprintf(stderr, "kernels: this machine supports %s\n", kernel_isa_name(best));
    for (int isa = KERNEL_ISA_SCALAR; isa <= (int)best; isa++) {
        kernels_set_isa((kernel_isa)isa);
        test_matmul();
        test_rows();
        test_elementwise();
        test_attention();
    }
    kernels_set_isa(best);
    if (best >= KERNEL_ISA_AMX) { // the reduced-precision AMX mode
        kernels_set_precision(KERNEL_PREC_FAST);
        matmul_rtol = 5e-5;
        test_matmul();
        kernels_set_precision(KERNEL_PREC_FP32);
        matmul_rtol = 2e-6;
        test_fast_is_coarser();
    }
    // bf16 mode on every path that computes it (AVX-512 BF16 registers, AMX
    // tiles); elsewhere it must fall back to fp32 and say so
    for (int isa = KERNEL_ISA_AVX512; isa <= (int)best; isa++) {
        kernels_set_isa((kernel_isa)isa);
        if (kernels_precision_effective(KERNEL_PREC_BF16) != KERNEL_PREC_BF16) {
            fprintf(stderr, "kernels: bf16 matmul not available on %s here\n", kernel_isa_name((kernel_isa)isa));
            continue;
        }
        kernels_set_precision(KERNEL_PREC_BF16);
        matmul_bf16_mode = 1;
        test_matmul();
        matmul_bf16_mode = 0;
        kernels_set_precision(KERNEL_PREC_FP32);
    }
    kernels_set_isa(KERNEL_ISA_SCALAR);
    CHECK(kernels_precision_effective(KERNEL_PREC_BF16) == KERNEL_PREC_FP32);
    CHECK(kernels_precision_effective(KERNEL_PREC_FAST) == KERNEL_PREC_FP32);
    kernels_set_isa(best);
    CHECK(kernel_precision_parse("bf16") == KERNEL_PREC_BF16 && kernel_precision_parse("fp32") == KERNEL_PREC_FP32 &&
          kernel_precision_parse("fast") == KERNEL_PREC_FAST && kernel_precision_parse("fp16") == -1);
    test_rope_tables();
    test_rope_rotation();
    TEST_MAIN_END();
}
