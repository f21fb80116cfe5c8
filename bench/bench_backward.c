// bench_backward.c — the training kernels on the real shapes of SmolLM2-135M
// and SmolLM3-3B: fp32 GEMM on LoRA shapes (and large squares, against the
// fp32 FMA peak measured in the same run), causal GQA attention backward
// (against attention_forward of the same shape), and chunked cross-entropy
// (against the matmul_forward cost of the same logits: it should be ≈ 3×,
// one logits matmul per pass plus the dh product).
//
// Every case is first checked against its _ref twin (sampled elements or a
// smaller instance of the same shape), then timed (best of several runs: the
// host is shared).
//
// usage: bench_backward [--quick] [--only gemm|attn|ce] [--chunk N] [--cpu]
// --cpu times by process CPU time (use with OMP_NUM_THREADS=1 on a busy host).
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "io/quant.h"
#include "kernels/backward.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int quick, cpu_clock;
// Wall time, or with --cpu this process's CPU time: with OMP_NUM_THREADS=1
// that is immune to other load on a shared host (with more threads it would
// count their spinning).
static double now(void) {
    if (!cpu_clock) return omp_get_wtime();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static rng_state rng;

// ---- peak ----
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
#else
static double peak_fma(void) { return 0; }
#endif

// ---- helpers ----
static float *randn(int64_t n, float sd) {
    float *x = xmalloc_aligned(64, (size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * sd;
    return x;
}

// Best seconds per call of fn over runs of at least min_s (after one warm-up call).
typedef void (*bench_fn)(void *ctx);
static int min_runs = 3;
static double best_time(bench_fn fn, void *ctx, double min_s) {
    fn(ctx);
    double best = 1e30, total = 0;
    int runs = 0;
    while (total < min_s || runs < min_runs) {
        double t0 = now();
        fn(ctx);
        double dt = now() - t0;
        total += dt;
        runs++;
        if (dt < best) best = dt;
        if (runs >= 200) break;
    }
    return best;
}

// ---- gemm ----
typedef struct {
    float *C;
    const float *A, *B;
    int64_t M, N, K;
    int ta, tb;
    float beta;
} gemm_ctx;

static void run_gemm(void *p) {
    gemm_ctx *g = p;
    gemm_f32(g->C, g->A, g->B, g->M, g->N, g->K, g->ta, g->tb, 1.0f, g->beta);
}

// Largest |C − C_ref| / Σ|a·b| over 64 sampled elements (C computed with beta = 0).
static double gemm_check(const gemm_ctx *g) {
    double worst = 0;
    for (int s = 0; s < 64; s++) {
        int64_t i = (int64_t)(rng_next(&rng) % (uint64_t)g->M), j = (int64_t)(rng_next(&rng) % (uint64_t)g->N);
        double acc = 0, mag = 0;
        for (int64_t k = 0; k < g->K; k++) {
            double a = g->ta ? g->A[k * g->M + i] : g->A[i * g->K + k];
            double b = g->tb ? g->B[j * g->K + k] : g->B[k * g->N + j];
            acc += a * b, mag += fabs(a * b);
        }
        double e = fabs(g->C[i * g->N + j] - acc) / (mag + 1e-30);
        if (e > worst) worst = e;
    }
    return worst;
}

static void bench_gemm_case(const char *what, int64_t M, int64_t N, int64_t K, int ta, int tb, float beta, double peak) {
    gemm_ctx g = {.M = M, .N = N, .K = K, .ta = ta, .tb = tb, .beta = 0.0f};
    float *A = randn(M * K, 1.0f), *B = randn(K * N, 1.0f), *C = randn(M * N, 1.0f);
    g.A = A, g.B = B, g.C = C;
    run_gemm(&g);
    double chk = gemm_check(&g);
    g.beta = beta;
    double t = best_time(run_gemm, &g, quick ? 0.1 : 0.4);
    double gf = 2.0 * M * N * K / t / 1e9;
    printf("  %-22s %5lld %6lld %6lld  %c%c %4s | %8.3f ms %7.1f GFLOP/s %4.0f%% | %.1e%s\n", what, (long long)M,
           (long long)N, (long long)K, ta ? 'T' : 'N', tb ? 'T' : 'N', beta != 0.0f ? "+=" : "=", t * 1e3, gf,
           peak ? 100 * gf / peak : 0, chk, chk > 2e-6 ? "  CHECK FAILED" : "");
    fflush(stdout);
    free(A), free(B), free(C);
}

static void bench_gemm(double peak) {
    printf("\ngemm_f32 (C = op(A)·op(B) [+ C]); %% of the measured fp32 FMA peak; check = max |C − ref| / Σ|a·b|\n");
    printf("  %-22s %5s %6s %6s  %-7s | %11s %15s %5s | %s\n", "case", "M", "N", "K", "op", "time", "", "peak",
           "check");
    struct {
        const char *model;
        int64_t T, d, ff, r;
    } lora[] = {{"SmolLM2", 512, 576, 1536, 8}, {"SmolLM3", 1024, 2048, 11008, 8}, {"SmolLM3", 1024, 2048, 2048, 16},
                {"SmolLM3", 1024, 2048, 2048, 64}};
    for (size_t i = 0; i < sizeof lora / sizeof *lora; i++) {
        int64_t T = lora[i].T, in = lora[i].d, out = lora[i].ff, r = lora[i].r;
        if (quick && i > 1) break;
        printf(" %s LoRA r=%lld on a (%lld -> %lld) linear, T=%lld:\n", lora[i].model, (long long)r, (long long)in,
               (long long)out, (long long)T);
        bench_gemm_case("u = x·A", T, r, in, 0, 0, 0.0f, peak);
        bench_gemm_case("y += u·B", T, out, r, 0, 0, 1.0f, peak);
        bench_gemm_case("du = dy·Bᵀ", T, r, out, 0, 1, 0.0f, peak);
        bench_gemm_case("dB += uᵀ·dy", r, out, T, 1, 0, 1.0f, peak);
        bench_gemm_case("dA += xᵀ·du", in, r, T, 1, 0, 1.0f, peak);
        bench_gemm_case("dx += du·Aᵀ", T, in, r, 0, 1, 1.0f, peak);
    }
    printf(" large:\n");
    int64_t n = quick ? 1024 : 2048;
    for (int t = 0; t < 4; t++) bench_gemm_case("square", n, n, n, t & 1, t >> 1, 0.0f, peak);
    bench_gemm_case("tall-skinny", 4096, 64, 4096, 0, 0, 0.0f, peak);
}

// ---- attention ----
typedef struct {
    float *dq, *dk, *dv, *o;
    const float *dout, *q, *k, *v;
    int64_t T, H, KV, hd;
} attn_ctx;

static void run_attn_bwd(void *p) {
    attn_ctx *a = p;
    attention_backward(a->dq, a->dk, a->dv, a->dout, a->q, a->k, a->v, a->T, a->H, a->KV, a->hd,
                       1.0f / sqrtf((float)a->hd));
}
static void run_attn_fwd(void *p) {
    attn_ctx *a = p;
    attention_forward(a->o, a->q, a->k, a->v, a->T, 0, a->H, a->KV, a->hd, 1.0f / sqrtf((float)a->hd));
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), m = fmax(m, fabs(b[i]));
    return m > 0 ? d / m : d;
}

static attn_ctx attn_new(int64_t T, int64_t H, int64_t KV, int64_t hd) {
    attn_ctx a = {.T = T, .H = H, .KV = KV, .hd = hd};
    int64_t nq = T * H * hd, nk = T * KV * hd;
    a.q = randn(nq, 1.0f), a.k = randn(nk, 1.0f), a.v = randn(nk, 1.0f), a.dout = randn(nq, 1.0f);
    a.dq = randn(nq, 1.0f), a.o = randn(nq, 1.0f), a.dk = randn(nk, 1.0f), a.dv = randn(nk, 1.0f);
    return a;
}
static void attn_free(attn_ctx *a) {
    free((void *)a->q), free((void *)a->k), free((void *)a->v), free((void *)a->dout);
    free(a->dq), free(a->dk), free(a->dv), free(a->o);
}

static void bench_attention(double peak) {
    printf("\nattention_backward (causal GQA); useful FLOPs: backward 5·2·hd·H·T(T+1)/2 (QKᵀ, dO·Vᵀ, dS·K, dSᵀ·Q, "
           "Pᵀ·dO),\nforward 2·2·hd·H·T(T+1)/2; check = max rel diff vs attention_backward_ref at T=100, same heads\n");
    printf("  %-10s %5s | %10s %9s %5s | %10s %9s | %6s | %s\n", "model", "T", "backward", "GFLOP/s", "peak", "forward",
           "GFLOP/s", "b/f", "check");
    struct {
        const char *name;
        int64_t H, KV, hd;
    } m[] = {{"SmolLM2", 9, 3, 64}, {"SmolLM3", 16, 4, 128}};
    for (size_t i = 0; i < 2; i++) {
        attn_ctx s = attn_new(100, m[i].H, m[i].KV, m[i].hd);
        run_attn_bwd(&s);
        int64_t nq = 100 * m[i].H * m[i].hd, nk = 100 * m[i].KV * m[i].hd;
        float *rq = xmalloc((size_t)nq * 4), *rk = xmalloc((size_t)nk * 4), *rv = xmalloc((size_t)nk * 4);
        attention_backward_ref(rq, rk, rv, s.dout, s.q, s.k, s.v, 100, m[i].H, m[i].KV, m[i].hd,
                               1.0f / sqrtf((float)m[i].hd));
        double chk = fmax(max_rel(s.dq, rq, nq), fmax(max_rel(s.dk, rk, nk), max_rel(s.dv, rv, nk)));
        free(rq), free(rk), free(rv);
        attn_free(&s);
        for (int64_t T = 512; T <= 1024; T *= 2) {
            if (quick && T > 512) break;
            attn_ctx a = attn_new(T, m[i].H, m[i].KV, m[i].hd);
            double tb = best_time(run_attn_bwd, &a, quick ? 0.2 : 0.5), tf = best_time(run_attn_fwd, &a, 0.3);
            double f1 = 2.0 * m[i].hd * m[i].H * (double)T * (T + 1) / 2;
            double gb = 5 * f1 / tb / 1e9, gfw = 2 * f1 / tf / 1e9;
            printf("  %-10s %5lld | %7.2f ms %9.1f %4.0f%% | %7.2f ms %9.1f | %6.2f | %.1e%s\n", m[i].name, (long long)T,
                   tb * 1e3, gb, peak ? 100 * gb / peak : 0, tf * 1e3, gfw, tb / tf, chk,
                   chk > 2e-5 ? "  CHECK FAILED" : "");
            fflush(stdout);
            attn_free(&a);
        }
    }
}

// ---- cross-entropy ----
typedef struct {
    float *dh, *z;
    const float *h;
    const tensor_view *w;
    const int32_t *tg;
    int64_t T, d, V, chunk;
} ce_ctx;

static void run_ce(void *p) {
    ce_ctx *c = p;
    cross_entropy_chunked(c->dh, NULL, c->h, c->w, c->tg, c->T, c->d, c->V, c->chunk, 1.0f / (float)c->T);
}
static void run_ce_loss(void *p) {
    ce_ctx *c = p;
    cross_entropy_chunked(NULL, NULL, c->h, c->w, c->tg, c->T, c->d, c->V, c->chunk, 1.0f / (float)c->T);
}
// One logits matmul, chunk by chunk (the same calls pass 1 makes, without the softmax).
static void run_logits(void *p) {
    ce_ctx *c = p;
    for (int64_t v0 = 0; v0 < c->V; v0 += c->chunk) {
        int64_t cn = c->V - v0 < c->chunk ? c->V - v0 : c->chunk;
        tensor_view wc = tensor_rows(c->w, v0, cn);
        matmul_forward(c->z, c->h, &wc, NULL, c->T);
    }
}
// The dh products of pass 2 alone: dh += g·W_chunk per chunk.
static void run_dh(void *p) {
    ce_ctx *c = p;
    for (int64_t v0 = 0; v0 < c->V; v0 += c->chunk) {
        int64_t cn = c->V - v0 < c->chunk ? c->V - v0 : c->chunk;
        tensor_view wc = tensor_rows(c->w, v0, cn);
        matmul_backward_input(c->dh, c->z, &wc, c->T, 1);
    }
}

static void bench_ce(int64_t chunk_arg) {
    printf("\ncross_entropy_chunked, BF16 lm_head, every row a target; ratio = time / one logits matmul_forward\n"
           "(same chunks; pass 1 ≈ 1, pass 2 ≈ 1 + the dh product matmul_backward_input). check: two rows' loss and dh vs cross_entropy_chunked_ref\n");
    printf("  %-8s %5s %7s %5s %6s | %10s | %10s %5s | %10s %5s | %10s %5s | %s\n", "model", "T", "V", "d", "chunk",
           "logits mm", "dh mm", "ratio", "loss only", "ratio", "loss+dh", "ratio", "check");
    struct {
        const char *name;
        int64_t T, V, d;
    } m[] = {{"SmolLM2", 512, 49152, 576}, {"SmolLM3", 1024, 128256, 2048}};
    for (size_t i = 0; i < 2; i++) {
        if (quick && i > 0) break;
        int64_t T = m[i].T, V = m[i].V, d = m[i].d;
        size_t rb = dtype_row_bytes(DTYPE_BF16, d);
        uint8_t *wd = xmalloc((size_t)V * rb);
        float *row = randn(d, 1.0f);
        for (int64_t r = 0; r < V; r++) {
            for (int64_t k = 0; k < d; k++) row[k] = rng_normal(&rng) * 0.02f;
            quantize_row(DTYPE_BF16, row, wd + (size_t)r * rb, d);
        }
        free(row);
        tensor_view w = {.name = "lm_head", .type = DTYPE_BF16, .ndim = 2, .shape = {V, d}, .data = wd,
                         .nbytes = (size_t)V * rb};
        float *h = randn(T * d, 1.0f), *dh = xcalloc((size_t)(T * d), sizeof *dh);
        int32_t *tg = xmalloc((size_t)T * sizeof *tg);
        for (int64_t t = 0; t < T; t++) tg[t] = (int32_t)(rng_next(&rng) % (uint64_t)V);
        // check two rows of a full run against the reference on those rows alone
        int64_t chunks[] = {4096, 2048, 8192};
        ce_ctx c = {.dh = dh, .h = h, .w = &w, .tg = tg, .T = T, .d = d, .V = V, .chunk = 4096};
        float *ls = xmalloc((size_t)T * sizeof *ls);
        cross_entropy_chunked(dh, ls, h, &w, tg, T, d, V, c.chunk, 1.0f / (float)T);
        int32_t *tr = xmalloc((size_t)T * sizeof *tr);
        for (int64_t t = 0; t < T; t++) tr[t] = t == 1 || t == T - 2 ? tg[t] : -1;
        float *dr = xcalloc((size_t)(T * d), sizeof *dr), *lr = xmalloc((size_t)T * sizeof *lr);
        cross_entropy_chunked_ref(dr, lr, h, &w, tr, T, d, V, 1.0f / (float)T);
        double chk = 0;
        for (int64_t t = 1; t < T; t += T - 3) {
            chk = fmax(chk, fabs(ls[t] - lr[t]) / fabs(lr[t]));
            chk = fmax(chk, max_rel(dh + t * d, dr + t * d, d));
        }
        free(tr), free(dr), free(lr), free(ls);
        for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++) {
            c.chunk = chunk_arg > 0 ? chunk_arg : chunks[ci];
            c.z = xmalloc_aligned(64, (size_t)(T * c.chunk) * sizeof *c.z);
            double ml = quick ? 0.3 : 1.0;
            min_runs = T * V * d > ((int64_t)1 << 36) ? 2 : 3; // SmolLM3's logits take seconds
            for (int64_t j = 0; j < T * c.chunk; j++) c.z[j] = 1e-4f * (float)(j % 7); // a plausible gradient
            double tl = best_time(run_logits, &c, ml), td = best_time(run_dh, &c, ml);
            double t1 = best_time(run_ce_loss, &c, ml), t2 = best_time(run_ce, &c, ml);
            printf("  %-8s %5lld %7lld %5lld %6lld | %7.1f ms | %7.1f ms %5.2f | %7.1f ms %5.2f | %7.1f ms %5.2f | "
                   "%.1e%s\n", m[i].name, (long long)T, (long long)V, (long long)d, (long long)c.chunk, tl * 1e3,
                   td * 1e3, td / tl, t1 * 1e3, t1 / tl, t2 * 1e3, t2 / tl, chk, chk > 1e-4 ? "  CHECK FAILED" : "");
            fflush(stdout);
            free(c.z);
            min_runs = 3;
            if (chunk_arg > 0 || (T * V * d > ((int64_t)1 << 36) && !quick)) break; // one chunk size for the big one
        }
        free(wd), free(h), free(dh), free(tg);
    }
}

int main(int argc, char **argv) {
    const char *only = NULL;
    int64_t chunk = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--chunk") && i + 1 < argc) chunk = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cpu")) cpu_clock = 1;
        else {
            fprintf(stderr, "usage: %s [--quick] [--only gemm|attn|ce] [--chunk N] [--cpu]\n", argv[0]);
            return 2;
        }
    }
    rng_seed(&rng, 7);
    double peak = 0;
    for (int r = 0; r < 3; r++) peak = fmax(peak, peak_fma()); // best of three: the host is shared
    printf("backward bench: %d threads, path %s, %s; measured fp32 FMA peak %.0f GFLOP/s (DESIGN.md: 125)\n",
           omp_get_max_threads(), kernel_isa_name(kernels_isa()), cpu_clock ? "CPU time" : "wall time", peak);
    if (!only || !strcmp(only, "gemm")) bench_gemm(peak);
    if (!only || !strcmp(only, "attn")) bench_attention(peak);
    if (!only || !strcmp(only, "ce")) bench_ce(chunk);
    return 0;
}
