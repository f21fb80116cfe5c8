// bench_kernels.c — matmul and attention kernels on the real layer shapes of
// SmolLM2-135M and SmolLM3-3B, per weight dtype: prefill (T = 512, compute-
// bound, GFLOP/s) and decode (T = 1, memory-bound, GB/s of weights streamed).
//
// Every case is first checked against its _ref twin (a few token rows of the
// same call), then timed. The machine's peaks are measured in the same run
// (fp32 FMA, AVX-512 BF16 dot, AMX bf16 tiles, streaming read) and results are
// given as fractions of them and of DESIGN.md's figures.
//
// usage: bench_kernels [--quick] [--model smollm2|smollm3] [--type F16,...] [--isa scalar|avx512|amx]
//                      [--precision fp32|bf16|fast]  (the many-token matmuls' mode; see kernels.h)
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/quant.h"
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) { return omp_get_wtime(); }

// ---- peaks ----
#ifdef __AVX512F__
static double peak_fma(void) {
    long it = 20000000;
    double t0 = now();
#pragma omp parallel
    {
        __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
        for (long i = 0; i < it; i++)
#pragma GCC unroll 12
            for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
        __m512 s = a[0];
        for (int j = 1; j < 12; j++) s = _mm512_add_ps(s, a[j]);
        if (_mm512_reduce_add_ps(s) == 1234.5f) printf(" ");
    }
    return (double)it * 12 * 32 * omp_get_max_threads() / (now() - t0) / 1e9;
}
#endif

#ifdef __AVX512BF16__
static double peak_bf16(void) {
    long it = 20000000;
    double t0 = now();
#pragma omp parallel
    {
        __m512 a[12];
        __m512bh m = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3380);
        for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
        for (long i = 0; i < it; i++)
#pragma GCC unroll 12
            for (int j = 0; j < 12; j++) a[j] = _mm512_dpbf16_ps(a[j], m, c);
        __m512 s = a[0];
        for (int j = 1; j < 12; j++) s = _mm512_add_ps(s, a[j]);
        if (_mm512_reduce_add_ps(s) == 1234.5f) printf(" ");
    }
    return (double)it * 12 * 64 * omp_get_max_threads() / (now() - t0) / 1e9;
}
#endif

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <sys/syscall.h>
#include <unistd.h>
static double peak_amx(void) {
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return 0; // ARCH_REQ_XCOMP_PERM, XTILEDATA
    long it = 2000000;
    double t0 = now();
#pragma omp parallel
    {
        struct {
            uint8_t palette, start, rsv[14];
            uint16_t colsb[16];
            uint8_t rows[16];
        } cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.palette = 1;
        for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
        __asm__ volatile("" ::: "memory");
        _tile_loadconfig(&cfg);
        static __thread uint16_t a[512] __attribute__((aligned(64)));
        for (int i = 0; i < 512; i++) a[i] = 0x3f80;
        __asm__ volatile("" ::: "memory");
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a, 64);
        _tile_loadd(6, a, 64);
        _tile_loadd(7, a, 64);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (long i = 0; i < it; i++) {
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_release();
    }
    return (double)it * 4 * 16 * 16 * 32 * 2 * omp_get_max_threads() / (now() - t0) / 1e9;
}
#else
static double peak_amx(void) { return 0; }
#endif

// Streaming read of `bytes` (best of 5 passes).
static double peak_stream(size_t bytes) {
    size_t n = bytes / sizeof(float);
    float *a = xmalloc_aligned(64, n * sizeof *a);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now(), s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i += 64) {
#ifdef __AVX512F__
            __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_load_ps(a + i), _mm512_load_ps(a + i + 16)),
                                     _mm512_add_ps(_mm512_load_ps(a + i + 32), _mm512_load_ps(a + i + 48)));
            s += _mm512_reduce_add_ps(v);
#else
            for (int j = 0; j < 64; j++) s += a[i + j];
#endif
        }
        double gbs = (double)n * 4 / (now() - t0) / 1e9;
        if (s == 1.5) printf(" ");
        if (gbs > best) best = gbs;
    }
    free(a);
    return best;
}

// ---- weights ----
static rng_state rng;

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint8_t *make_weight(dtype t, int64_t out, int64_t in, tensor_view *w) {
    size_t rb = dtype_row_bytes(t, in), nb = (size_t)out * rb;
    uint8_t *data = xmalloc_aligned(64, nb);
    if (t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16 || t == DTYPE_Q8_0) {
#pragma omp parallel
        {
            float *f = xmalloc((size_t)in * sizeof *f);
            rng_state r;
            rng_seed(&r, rng_next(&rng) ^ (uint64_t)omp_get_thread_num());
#pragma omp for schedule(static)
            for (int64_t i = 0; i < out; i++) {
                for (int64_t k = 0; k < in; k++) f[k] = (rng_uniform(&r) - 0.5f) * 0.1f;
                quantize_row(t, f, data + i * rb, in);
            }
            free(f);
        }
    } else {
        for (size_t i = 0; i < nb; i++) data[i] = (uint8_t)rng_next(&rng);
        size_t bb = dtype_block_bytes(t);
        for (size_t b = 0; b < nb / bb; b++) {
            uint8_t *blk = data + b * bb;
            switch (t) {
            case DTYPE_Q4_0: put16(blk, f32_to_f16(0.01f)); break;
            case DTYPE_Q4_1: put16(blk, f32_to_f16(0.01f)), put16(blk + 2, f32_to_f16(-0.08f)); break;
            case DTYPE_Q4_K: put16(blk, f32_to_f16(0.001f)), put16(blk + 2, f32_to_f16(0.002f)); break;
            case DTYPE_Q6_K:
                for (int i = 0; i < 16; i++) blk[192 + i] = (uint8_t)(int8_t)((int)(rng_next(&rng) % 64) - 32);
                put16(blk + 208, f32_to_f16(0.0001f));
                break;
            default: break;
            }
        }
    }
    *w = (tensor_view){.name = "w", .type = t, .ndim = 2, .shape = {out, in}, .data = data, .nbytes = nb};
    return data;
}

// ---- shapes ----
typedef struct {
    const char *name;
    int64_t d, ff, n_heads, n_kv, hd, vocab;
} model_shape;
static const model_shape models[] = {
    {"SmolLM2-135M", 576, 1536, 9, 3, 64, 49152},
    {"SmolLM3-3B", 2048, 11008, 16, 4, 128, 128256},
};

// The seven matmuls of one layer as (out, in).
static void layer_mats(const model_shape *m, int64_t mats[7][2]) {
    int64_t q = m->n_heads * m->hd, kv = m->n_kv * m->hd;
    int64_t s[7][2] = {{q, m->d}, {kv, m->d}, {kv, m->d}, {m->d, q}, {m->ff, m->d}, {m->ff, m->d}, {m->d, m->ff}};
    memcpy(mats, s, sizeof s);
}

// ---- checks ----
// Rows `rows` of y (T, out) against matmul_forward_ref one token at a time;
// returns the max over those rows of |y - y_ref| / Σ|x·w|.
static double check_rows(const float *y, const float *x, const tensor_view *w, int64_t T) {
    int64_t out = w->shape[0], in = w->shape[1];
    int64_t rows[3] = {0, T / 2, T - 1};
    float *yr = xmalloc((size_t)out * sizeof *yr), *row = xmalloc((size_t)in * sizeof *row);
    double *scale = xcalloc((size_t)out, sizeof *scale), worst = 0;
    for (int i = 0; i < 3; i++) {
        const float *xt = x + rows[i] * in;
        matmul_forward_ref(yr, xt, w, NULL, 1);
        for (int64_t n = 0; n < out; n++) {
            tensor_row_f32(row, w, n);
            double s = 0;
            for (int64_t k = 0; k < in; k++) s += fabs((double)xt[k] * row[k]);
            double d = fabs((double)y[rows[i] * out + n] - yr[n]) / (s > 0 ? s : 1);
            if (d > worst || d != d) worst = d;
        }
    }
    free(yr), free(row), free(scale);
    return worst;
}

// ---- benchmarks ----
typedef struct {
    double prefill_gflops, decode_dram_gbs, decode_l3_gbs, check;
} result;

static int quick;

// Best (shortest) time of `reps` runs of the layer's matmuls over `copies`
// sets of weights, after one warm-up run.
static double time_layers(float *y, const float *x, const tensor_view *w, int copies, int64_t T, int reps) {
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        for (int c = 0; c < copies; c++)
            for (int i = 0; i < 7; i++) matmul_forward(y, x, &w[c * 7 + i], NULL, T);
        double dt = now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    return best;
}

static result bench_dtype(const model_shape *m, dtype t) {
    int64_t mats[7][2];
    layer_mats(m, mats);
    result res = {0, 0, 0, 0};
    const int64_t T = 512;
    size_t layer_bytes = 0;
    int64_t maxin = 0, maxout = 0;
    // decode uses a ring of weight copies: `l3` copies stay in the last-level
    // cache (≤ 32 MB), `copies` (≥ 1 GB) cannot
    tensor_view w0[7];
    uint8_t *d0[7];
    for (int i = 0; i < 7; i++) {
        d0[i] = make_weight(t, mats[i][0], mats[i][1], &w0[i]);
        layer_bytes += w0[i].nbytes;
        maxin = mats[i][1] > maxin ? mats[i][1] : maxin;
        maxout = mats[i][0] > maxout ? mats[i][0] : maxout;
    }
    size_t big = quick ? ((size_t)512 << 20) : ((size_t)1 << 30);
    int copies = (int)((big + layer_bytes - 1) / layer_bytes), l3 = (int)(((size_t)32 << 20) / layer_bytes);
    if (copies < 2) copies = 2;
    tensor_view *w = xmalloc((size_t)copies * 7 * sizeof *w);
    uint8_t **dc = xmalloc((size_t)copies * 7 * sizeof *dc);
    for (int c = 0; c < copies; c++)
        for (int i = 0; i < 7; i++) {
            w[c * 7 + i] = w0[i];
            dc[c * 7 + i] = c ? xmalloc_aligned(64, w0[i].nbytes) : d0[i];
            if (c) memcpy(dc[c * 7 + i], d0[i], w0[i].nbytes);
            w[c * 7 + i].data = dc[c * 7 + i];
        }
    float *x = xmalloc_aligned(64, (size_t)(T * maxin) * sizeof *x), *y = xmalloc_aligned(64, (size_t)(T * maxout) * sizeof *y);
    for (int64_t i = 0; i < T * maxin; i++) x[i] = rng_normal(&rng);

    // check first: rows of a T = 512 call (the GEMM path) and a T = 1 call
    // (the decode path) against matmul_forward_ref
    for (int i = 0; i < 7; i++) {
        if (i == 2) continue; // v has k's shape
        matmul_forward(y, x, &w[i], NULL, T);
        double c = check_rows(y, x, &w[i], T);
        matmul_forward(y, x, &w[i], NULL, 1);
        double c1 = check_rows(y, x, &w[i], 1);
        res.check = fmax(res.check, fmax(c, c1));
    }
    double flops = 0;
    for (int i = 0; i < 7; i++) flops += 2.0 * T * mats[i][0] * mats[i][1];
    int big_model = m->d > 1000;
    res.prefill_gflops = flops / time_layers(y, x, w, 1, T, quick ? 2 : big_model ? 4 : 10) / 1e9;
    res.decode_dram_gbs = (double)layer_bytes * copies / time_layers(y, x, w, copies, 1, quick ? 3 : 8) / 1e9;
    if (l3 >= 1) res.decode_l3_gbs = (double)layer_bytes * l3 / time_layers(y, x, w, l3, 1, quick ? 20 : 100) / 1e9;
    for (int c = 0; c < copies * 7; c++) free(dc[c]);
    free(w), free(dc), free(x), free(y);
    return res;
}

// Prefill (T = 512 from 0) and decode (T = 1 at position 512) attention for
// one layer; causal prefill FLOPs are 4·hd per (head, query, visible key).
static void bench_attention(const model_shape *m, double *prefill_gflops, double *decode_gbs, double *check) {
    int64_t T = 512, H = m->n_heads, KV = m->n_kv, hd = m->hd, S = T + 1;
    float *q = xmalloc((size_t)(T * H * hd) * 4), *k = xmalloc((size_t)(S * KV * hd) * 4);
    float *v = xmalloc((size_t)(S * KV * hd) * 4), *o = xmalloc((size_t)(T * H * hd) * 4);
    float *orf = xmalloc((size_t)(T * H * hd) * 4);
    for (int64_t i = 0; i < T * H * hd; i++) q[i] = rng_normal(&rng);
    for (int64_t i = 0; i < S * KV * hd; i++) k[i] = rng_normal(&rng), v[i] = rng_normal(&rng);
    float scale = 1.0f / sqrtf((float)hd);
    attention_forward(o, q, k, v, T, 0, H, KV, hd, scale);
    attention_forward_ref(orf, q, k, v, T, 0, H, KV, hd, scale);
    double worst = 0;
    for (int64_t i = 0; i < T * H * hd; i++) worst = fmax(worst, fabs((double)o[i] - orf[i]));
    attention_forward(o, q, k, v, 1, T, H, KV, hd, scale);
    attention_forward_ref(orf, q, k, v, 1, T, H, KV, hd, scale);
    for (int64_t i = 0; i < H * hd; i++) worst = fmax(worst, fabs((double)o[i] - orf[i]));
    *check = worst;
    double best = 1e30;
    for (int r = 0; r < 11; r++) {
        double t0 = now();
        attention_forward(o, q, k, v, T, 0, H, KV, hd, scale);
        double dt = now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    *prefill_gflops = 4.0 * hd * H * (T * (T + 1) / 2.0) / best / 1e9;
    best = 1e30;
    for (int r = 0; r < 101; r++) {
        double t0 = now();
        attention_forward(o, q, k, v, 1, T, H, KV, hd, scale);
        double dt = now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    *decode_gbs = 2.0 * S * KV * hd * 4 / best / 1e9; // K and V read once
    free(q), free(k), free(v), free(o), free(orf);
}

int main(int argc, char **argv) {
    const char *only_model = NULL, *types_arg = NULL, *isa_arg = NULL, *prec_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) only_model = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) types_arg = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_arg = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && kernel_precision_parse(argv[i + 1]) >= 0)
            prec_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--model smollm2|smollm3] [--type F16,BF16,...] [--isa scalar|avx512|amx] "
                            "[--precision fp32|bf16|fast]\n",
                    argv[0]);
            return 2;
        }
    }
    if (isa_arg)
        for (int i = KERNEL_ISA_SCALAR; i <= KERNEL_ISA_AMX; i++)
            if (!strcmp(isa_arg, kernel_isa_name((kernel_isa)i))) kernels_set_isa((kernel_isa)i);
    if (prec_arg) kernels_set_precision((kernel_precision)kernel_precision_parse(prec_arg));
    rng_seed(&rng, 42);
    const dtype all[] = {DTYPE_BF16, DTYPE_F16, DTYPE_Q8_0, DTYPE_Q4_1, DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q6_K, DTYPE_F32};

    double fma = 0, bf16 = 0, amx = 0;
    for (int r = 0; r < 3; r++) { // best of three: the host is shared
#ifdef __AVX512F__
        fma = fmax(fma, peak_fma());
#endif
#ifdef __AVX512BF16__
        bf16 = fmax(bf16, peak_bf16());
#endif
        amx = fmax(amx, peak_amx());
    }
    double l3 = peak_stream((size_t)32 << 20), dram = peak_stream((size_t)1 << 30);
    printf("kernels bench: %d threads, path %s, many-token matmul precision %s\n", omp_get_max_threads(),
           kernel_isa_name(kernels_isa()), kernel_precision_name(kernels_precision_effective(kernels_precision())));
    printf("measured peaks: fp32 FMA %.0f GFLOP/s, bf16 dot %.0f GFLOP/s, AMX bf16 %.0f GFLOP/s; "
           "stream read %.1f GB/s (32 MB, cached) / %.1f GB/s (1 GB, DRAM)\n", fma, bf16, amx, l3, dram);
    printf("DESIGN.md: fp32 FMA 125, bf16 dot 320-360, stream 52. Prefill GFLOP/s are fp32-equivalent\n"
           "(2·T·out·in per second; the AMX path does 3-6 bf16 tile products per fp32 product).\n");

    // the check's bound per Σ|x·w|: fp32 rounding; bf16 rounds both operands
    // (each within 2^-9, so a product within ~2^-8); fast drops ~3·2^-16
    kernel_precision prec = kernels_precision_effective(kernels_precision());
    double tol = prec == KERNEL_PREC_BF16 ? 4e-3 : prec == KERNEL_PREC_FAST ? 5e-5 : 2e-6;
    for (size_t mi = 0; mi < sizeof models / sizeof *models; mi++) {
        const model_shape *m = &models[mi];
        if (only_model && !strcasestr(m->name, only_model)) continue;
        printf("\n%s layer (d=%lld ff=%lld heads %lld/%lld hd=%lld): prefill T=512, decode T=1\n", m->name,
               (long long)m->d, (long long)m->ff, (long long)m->n_heads, (long long)m->n_kv, (long long)m->hd);
        printf("%-6s %8s | %8s %6s %6s | %8s %6s | %8s %6s %6s\n", "dtype", "check", "prefill", "/FMA", "/125",
               "decode", "/DRAM", "decode", "/32MB", "/52");
        printf("%-6s %8s | %8s %6s %6s | %8s %6s | %8s %6s %6s\n", "", "rel err", "GFLOP/s", "meas", "", "DRAM GB/s",
               "meas", "L3 GB/s", "meas", "");
        for (size_t ti = 0; ti < sizeof all / sizeof *all; ti++) {
            dtype t = all[ti];
            if (types_arg && !strstr(types_arg, dtype_name(t))) continue;
            if (m->d % dtype_block_size(t) || m->ff % dtype_block_size(t)) {
                printf("%-6s   (rows of %lld are not whole %d-value blocks)\n", dtype_name(t), (long long)m->d,
                       dtype_block_size(t));
                continue;
            }
            result r = bench_dtype(m, t);
            char l3s[32] = "       -      -      -";
            if (r.decode_l3_gbs > 0)
                snprintf(l3s, sizeof l3s, "%8.1f %5.0f%% %5.0f%%", r.decode_l3_gbs, 100 * r.decode_l3_gbs / l3,
                         100 * r.decode_l3_gbs / 52);
            printf("%-6s %8.1e | %8.1f %5.0f%% %5.0f%% | %8.1f %5.0f%% | %s%s\n", dtype_name(t), r.check,
                   r.prefill_gflops, fma ? 100 * r.prefill_gflops / fma : 0, 100 * r.prefill_gflops / 125,
                   r.decode_dram_gbs, 100 * r.decode_dram_gbs / dram, l3s, r.check > tol ? "  CHECK FAILED" : "");
            fflush(stdout);
        }
        double pg, dg, chk;
        bench_attention(m, &pg, &dg, &chk);
        printf("%-6s %8.1e | %8.1f %5.0f%% %5.0f%% | %8s %6s | %8.1f %5.0f%% %5.0f%%  (fp32 attention; decode reads "
               "the K/V cache)%s\n", "attn", chk, pg, fma ? 100 * pg / fma : 0, 100 * pg / 125, "-", "-", dg,
               100 * dg / l3, 100 * dg / 52, chk > 1e-4 ? "  CHECK FAILED" : "");
    }
    return 0;
}
