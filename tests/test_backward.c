// test_backward.c — the training kernels (kernels/backward.h).
//
// Two kinds of evidence:
//  1. Each optimised kernel against its naive _ref twin (double precision),
//     on awkward sizes, on every instruction-set path this machine has.
//  2. Each backward kernel against central finite differences of the forward
//     it differentiates, with L = Σ c∘y for random c:
//     - "fd64": the forward re-implemented here in double (checked first to
//       agree with the library's forward kernel to 2e-6), perturbed by
//       h = 1e-5 in double: truncation and rounding both below 1e-9, so the
//       tolerance measures the fp32 backward kernel itself;
//     - "fd32": the library's own fp32 forward kernel, perturbed by h = 1e-2,
//       L summed in double: catches any convention mismatch between forward
//       and backward (layout, scales, masks) with a looser tolerance
//       (fp32 rounding of y divided by 2h, plus h² truncation).
//
// Tolerances (errors are max |got − want| / max |want| over the tensor unless
// stated; VERBOSE=1 prints every observed value):
//  - gemm_f32 vs ref: |C − C_ref| ≤ 2e-6 · (|alpha|·Σ_k |a_ik·b_kj| + |beta·c_ij|)
//    per element (observed ≤ 1.5e-7), beta = 0 with C full of NaN.
//  - rmsnorm_backward vs ref: dx 1e-5 of its largest term |r·dy·w| (dx cancels
//    to ~0 when n = 1), dw 1e-5; in place (dx = dy) bit-identical.
//  - silu_mul_backward vs ref: 1e-5. rope_backward vs ref: bit-exact.
//  - attention_backward vs ref: 5e-6 (observed ≤ 5e-7).
//  - cross_entropy_chunked vs ref: total loss 1e-5 relative, dh 5e-6 (every
//    weight dtype; both use the same dequantized W); ref vs a direct double
//    log-softmax: 1e-12; per-row losses vs the direct one: 1e-5.
//  - fd64: 2e-5 (rope: 1e-6, it is linear; observed ≤ 4e-7). fd32: 3e-3
//    (observed ≤ 7e-5).
#include "core/core.h"
#include "io/quant.h"
#include "kernels/backward.h"
#include "test.h"

#include <omp.h>
#include <stdint.h>

static rng_state rng;
static int verbose;

// ---- helpers ----
static float *randn(int64_t n, float sd) {
    float *x = xmalloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * sd;
    return x;
}

static float *fdup(const float *x, int64_t n) {
    float *y = xmalloc((size_t)(n ? n : 1) * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

static double *to_double(const float *x, int64_t n) {
    double *y = xmalloc((size_t)(n ? n : 1) * sizeof *y);
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

// max |got − want| / max |want| against rtol; want given as double.
static void check_rel_d(const char *what, const float *got, const double *want, int64_t n, double rtol) {
    double maxd = 0, maxw = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > maxd || d != d) maxd = d, at = i;
        if (fabs(want[i]) > maxw) maxw = fabs(want[i]);
    }
    double e = maxw > 0 ? maxd / maxw : maxd;
    if (verbose) fprintf(stderr, "  %-60s rel err %.3g (tol %.3g)\n", what, e, rtol);
    CHECK_MSG(e <= rtol, "%s: rel err %.3g at %lld (%g vs %g) > %.3g", what, e, (long long)at, n ? got[at] : 0.0,
              n ? want[at] : 0.0, rtol);
}

static void check_rel(const char *what, const float *got, const float *want, int64_t n, double rtol) {
    double *w = to_double(want, n);
    check_rel_d(what, got, w, n, rtol);
    free(w);
}

// ---- finite differences ----
// g[i] = (f(x + h e_i) − f(x − h e_i)) / (actual step), x restored after.
typedef double (*loss_fn)(void *ctx);

static void fd_float(double *g, float *x, int64_t n, float h, loss_fn f, void *ctx) {
    for (int64_t i = 0; i < n; i++) {
        float s = x[i], xp = s + h, xm = s - h;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = s;
        g[i] = (lp - lm) / ((double)xp - (double)xm);
    }
}

static void fd_double(double *g, double *x, int64_t n, double h, loss_fn f, void *ctx) {
    for (int64_t i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + h;
        double lp = f(ctx);
        x[i] = s - h;
        double lm = f(ctx);
        x[i] = s;
        g[i] = (lp - lm) / (2 * h);
    }
}

static double dot_fd(const float *c, const float *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)c[i] * y[i];
    return s;
}

static double dot_dd(const float *c, const double *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)c[i] * y[i];
    return s;
}

// Both finite-difference checks of one input: fd32 perturbs xf through the
// fp32 loss, fd64 perturbs xd through the double loss.
static void check_fd(const char *what, const float *grad, float *xf, double *xd, int64_t n, loss_fn f32, loss_fn f64,
                     void *ctx, double tol64) {
    double *g = xmalloc((size_t)n * sizeof *g);
    char buf[160];
    fd_double(g, xd, n, 1e-5, f64, ctx);
    snprintf(buf, sizeof buf, "%s fd64", what);
    check_rel_d(buf, grad, g, n, tol64);
    fd_float(g, xf, n, 1e-2f, f32, ctx);
    snprintf(buf, sizeof buf, "%s fd32", what);
    check_rel_d(buf, grad, g, n, 3e-3);
    free(g);
}

// ---- gemm ----
static void gemm_case(int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta) {
    float *A = randn(M * K, 1.0f), *B = randn(K * N, 1.0f), *C = randn(M * N, 1.0f);
    float *Cr = fdup(C, M * N), *C0 = fdup(C, M * N);
    if (beta == 0.0f) // beta = 0 must not read C
        for (int64_t i = 0; i < M * N; i++) C[i] = NAN;
    gemm_f32(C, A, B, M, N, K, ta, tb, alpha, beta);
    gemm_f32_ref(Cr, A, B, M, N, K, ta, tb, alpha, beta);
    // bound per element: 2e-6 · (|alpha| Σ|a b| + |beta c|)
    double worst = 0;
    int nan = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = ta ? A[k * M + i] : A[i * K + k], b = tb ? B[j * K + k] : B[k * N + j];
                s += fabs((double)a * b);
            }
            double scale = fabs(alpha) * s + fabs((double)beta * C0[i * N + j]) + 1e-30;
            double e = fabs((double)C[i * N + j] - Cr[i * N + j]) / scale;
            if (C[i * N + j] != C[i * N + j]) nan = 1;
            if (e > worst) worst = e;
        }
    char what[160];
    snprintf(what, sizeof what, "%s gemm M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g",
             kernel_isa_name(kernels_isa()), (long long)M, (long long)N, (long long)K, ta, tb, alpha, beta);
    if (verbose) fprintf(stderr, "  %-60s rel err %.3g\n", what, worst);
    CHECK_MSG(!nan && worst <= 2e-6, "%s: rel err %.3g%s", what, worst, nan ? " (NaN)" : "");
    free(A), free(B), free(C), free(Cr), free(C0);
}

static void test_gemm(void) {
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {2, 3, 1},     {5, 7, 3},      {9, 17, 33},    {13, 47, 50},  {8, 49, 300},
        {17, 97, 257}, {100, 8, 130}, {130, 8, 100},  {64, 16, 64},   {33, 31, 40},  {40, 33, 20},
        {20, 1600, 5}, {50, 100, 300}, {200, 8, 64},  {200, 3, 17},   {17, 15, 300}, {3, 200, 70},
        {300, 64, 70}, {90, 65, 33},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) gemm_case(shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1, 1.0f, 0.0f);
    for (int t = 0; t < 4; t++) {
        gemm_case(37, 50, 70, t & 1, t >> 1, 0.7f, 1.3f);
        gemm_case(90, 8, 45, t & 1, t >> 1, -0.5f, 1.0f);
    }
    // empty shapes and K = 0 (C = beta·C)
    float c[6] = {1, 2, 3, 4, 5, 6}, want[6] = {2, 4, 6, 8, 10, 12};
    gemm_f32(c, NULL, NULL, 2, 3, 0, 0, 0, 1.0f, 2.0f);
    CHECK_CLOSE("gemm K=0 scales C", c, want, 6, 0.0);
    gemm_f32(c, NULL, NULL, 0, 3, 5, 0, 0, 1.0f, 0.0f);
    CHECK_CLOSE("gemm M=0 leaves C", c, want, 6, 0.0);
    // by hand: [1 2; 3 4]·[5 6; 7 8] = [19 22; 43 50]
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, o[4], w4[4] = {19, 22, 43, 50};
    gemm_f32(o, a, b, 2, 2, 2, 0, 0, 1.0f, 0.0f);
    CHECK_CLOSE("gemm 2x2 by hand", o, w4, 4, 0.0);
}

// ---- rmsnorm ----
typedef struct {
    float *x, *w, *c;
    double *xd, *wd;
    int64_t T, n;
    float eps;
} rms_ctx;

static double rms_loss32(void *p) {
    rms_ctx *k = p;
    float *y = xmalloc((size_t)(k->T * k->n) * sizeof *y);
    rmsnorm_forward(y, k->x, k->w, k->T, k->n, k->eps);
    double l = dot_fd(k->c, y, k->T * k->n);
    free(y);
    return l;
}

static void rms_fwd64(double *y, const double *x, const double *w, int64_t T, int64_t n, double eps) {
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += x[t * n + i] * x[t * n + i];
        double r = 1.0 / sqrt(ss / (double)n + eps);
        for (int64_t i = 0; i < n; i++) y[t * n + i] = w[i] * x[t * n + i] * r;
    }
}

static double rms_loss64(void *p) {
    rms_ctx *k = p;
    double *y = xmalloc((size_t)(k->T * k->n) * sizeof *y);
    rms_fwd64(y, k->xd, k->wd, k->T, k->n, k->eps);
    double l = dot_dd(k->c, y, k->T * k->n);
    free(y);
    return l;
}

static void test_rmsnorm_fd(int64_t T, int64_t n) {
    rms_ctx k = {.x = randn(T * n, 1.0f), .w = randn(n, 1.0f), .c = randn(T * n, 1.0f), .T = T, .n = n, .eps = 1e-5f};
    k.xd = to_double(k.x, T * n), k.wd = to_double(k.w, n);
    float *y = xmalloc((size_t)(T * n) * sizeof *y);
    double *yd = xmalloc((size_t)(T * n) * sizeof *yd);
    rmsnorm_forward(y, k.x, k.w, T, n, k.eps);
    rms_fwd64(yd, k.xd, k.wd, T, n, k.eps);
    char what[96];
    snprintf(what, sizeof what, "rmsnorm T=%lld n=%lld forward64 == kernel", (long long)T, (long long)n);
    check_rel_d(what, y, yd, T * n, 2e-6);
    float *dx = xmalloc((size_t)(T * n) * sizeof *dx), *dw = xcalloc((size_t)n, sizeof *dw);
    rmsnorm_backward(dx, dw, k.c, k.x, k.w, T, n, k.eps);
    snprintf(what, sizeof what, "rmsnorm T=%lld n=%lld dx", (long long)T, (long long)n);
    check_fd(what, dx, k.x, k.xd, T * n, rms_loss32, rms_loss64, &k, 2e-5);
    snprintf(what, sizeof what, "rmsnorm T=%lld n=%lld dw", (long long)T, (long long)n);
    check_fd(what, dw, k.w, k.wd, n, rms_loss32, rms_loss64, &k, 2e-5);
    free(k.x), free(k.w), free(k.c), free(k.xd), free(k.wd), free(y), free(yd), free(dx), free(dw);
}

static void rmsnorm_case(int64_t T, int64_t n) {
    float *x = randn(T * n, 1.0f), *w = randn(n, 1.0f), *dy = randn(T * n, 1.0f);
    float *dx = xmalloc((size_t)(T * n) * sizeof *dx), *dxr = xmalloc((size_t)(T * n) * sizeof *dxr);
    float *dw = randn(n, 1.0f), *dwr = fdup(dw, n); // dw accumulates
    rmsnorm_backward(dx, dw, dy, x, w, T, n, 1e-6f);
    rmsnorm_backward_ref(dxr, dwr, dy, x, w, T, n, 1e-6f);
    char what[96];
    snprintf(what, sizeof what, "%s rmsnorm_backward T=%lld n=%lld dx", kernel_isa_name(kernels_isa()), (long long)T,
             (long long)n);
    // relative to the largest term r·dy·w (dx cancels to ~0 when n = 1)
    double big = 0;
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[t * n + i] * x[t * n + i];
        for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(dy[t * n + i] * w[i]) / sqrt(ss / n + 1e-6));
    }
    CHECK_CLOSE(what, dx, dxr, T * n, 1e-5 * big);
    snprintf(what, sizeof what, "%s rmsnorm_backward T=%lld n=%lld dw+=", kernel_isa_name(kernels_isa()),
             (long long)T, (long long)n);
    check_rel(what, dw, dwr, n, 1e-5);
    // dx may alias dy; dw may be NULL
    float *g = fdup(dy, T * n);
    rmsnorm_backward(g, NULL, g, x, w, T, n, 1e-6f);
    snprintf(what, sizeof what, "%s rmsnorm_backward in place T=%lld n=%lld", kernel_isa_name(kernels_isa()),
             (long long)T, (long long)n);
    CHECK_CLOSE(what, g, dx, T * n, 0.0);
    free(x), free(w), free(dy), free(dx), free(dxr), free(dw), free(dwr), free(g);
}

// ---- rope ----
typedef struct {
    float *x, *c;
    double *xd;
    const int64_t *pos;
    int64_t T, H;
    const rope_table *r;
} rope_ctx;

static double rope_loss32(void *p) {
    rope_ctx *k = p;
    int64_t n = k->T * k->H * k->r->head_dim;
    float *y = fdup(k->x, n);
    rope_forward(y, k->pos, k->T, k->H, k->r);
    double l = dot_fd(k->c, y, n);
    free(y);
    return l;
}

// The same angles as rope_forward (fp32 product pos·inv_freq), cos/sin in double.
static double rope_loss64(void *p) {
    rope_ctx *k = p;
    int64_t hd = k->r->head_dim, half = hd / 2;
    double l = 0;
    for (int64_t t = 0; t < k->T; t++)
        for (int64_t h = 0; h < k->H; h++) {
            const double *x = k->xd + (t * k->H + h) * hd;
            const float *c = k->c + (t * k->H + h) * hd;
            for (int64_t i = 0; i < half; i++) {
                double a = (float)k->pos[t] * k->r->inv_freq[i], cs = cos(a) * k->r->attn_scale,
                       sn = sin(a) * k->r->attn_scale;
                int64_t i0 = k->r->mode == ROPE_NEOX ? i : 2 * i, i1 = k->r->mode == ROPE_NEOX ? i + half : 2 * i + 1;
                l += c[i0] * (x[i0] * cs - x[i1] * sn) + c[i1] * (x[i1] * cs + x[i0] * sn);
            }
        }
    return l;
}

static void test_rope(void) {
    const int64_t T = 5, H = 3;
    const int64_t pos[5] = {0, 3, 17, 1000, 5};
    for (int mode = 0; mode < 2; mode++)
        for (int sc = 0; sc < 2; sc++) {
            int64_t hd = sc ? 16 : 8, n = T * H * hd;
            rope_table r;
            if (sc) rope_table_init(&r, hd, 1e6, ROPE_SCALE_YARN, 4, 0, 0, 32768, 0, 0, 0, (rope_mode)mode);
            else rope_table_init(&r, hd, 1e4, ROPE_SCALE_NONE, 0, 0, 0, 0, 0, 0, 0, (rope_mode)mode);
            if (sc) CHECK(r.attn_scale > 1.1f); // yarn's mscale is on
            rope_ctx k = {.x = randn(n, 1.0f), .c = randn(n, 1.0f), .pos = pos, .T = T, .H = H, .r = &r};
            k.xd = to_double(k.x, n);
            char what[96];
            snprintf(what, sizeof what, "rope %s%s", mode ? "interleaved" : "neox", sc ? " yarn" : "");
            float *g = fdup(k.c, n), *gr = fdup(k.c, n);
            rope_backward(g, pos, T, H, &r);
            rope_backward_ref(gr, pos, T, H, &r);
            char w2[128];
            snprintf(w2, sizeof w2, "%s backward == ref", what);
            CHECK_CLOSE(w2, g, gr, n, 0.0);
            check_fd(what, g, k.x, k.xd, n, rope_loss32, rope_loss64, &k, 1e-6);
            // backward ∘ forward = attn_scale² · identity (R is orthogonal)
            float *y = fdup(k.x, n);
            rope_forward(y, pos, T, H, &r);
            rope_backward(y, pos, T, H, &r);
            for (int64_t i = 0; i < n; i++) y[i] /= r.attn_scale * r.attn_scale;
            snprintf(w2, sizeof w2, "%s backward(forward(x)) = s²x", what);
            check_rel(w2, y, k.x, n, 1e-6);
            free(k.x), free(k.c), free(k.xd), free(g), free(gr), free(y);
            rope_table_release(&r);
        }
}

// ---- silu · up ----
typedef struct {
    float *g, *u, *c;
    double *gd, *ud;
    int64_t n;
} silu_ctx;

static double silu_loss32(void *p) {
    silu_ctx *k = p;
    float *y = xmalloc((size_t)k->n * sizeof *y);
    silu_mul_forward(y, k->g, k->u, k->n);
    double l = dot_fd(k->c, y, k->n);
    free(y);
    return l;
}

static double silu_loss64(void *p) {
    silu_ctx *k = p;
    double l = 0;
    for (int64_t i = 0; i < k->n; i++) l += k->c[i] * (k->gd[i] / (1.0 + exp(-k->gd[i])) * k->ud[i]);
    return l;
}

static void test_silu_fd(void) {
    int64_t n = 37;
    silu_ctx k = {.g = randn(n, 2.0f), .u = randn(n, 1.0f), .c = randn(n, 1.0f), .n = n};
    k.gd = to_double(k.g, n), k.ud = to_double(k.u, n);
    float *dg = xmalloc((size_t)n * sizeof *dg), *du = xmalloc((size_t)n * sizeof *du);
    silu_mul_backward(dg, du, k.c, k.g, k.u, n);
    check_fd("silu_mul dgate", dg, k.g, k.gd, n, silu_loss32, silu_loss64, &k, 2e-5);
    check_fd("silu_mul dup", du, k.u, k.ud, n, silu_loss32, silu_loss64, &k, 2e-5);
    free(k.g), free(k.u), free(k.c), free(k.gd), free(k.ud), free(dg), free(du);
}

static void silu_case(int64_t n) {
    float *g = randn(n, 3.0f), *u = randn(n, 1.0f), *dy = randn(n, 1.0f);
    float *dg = xmalloc((size_t)n * sizeof *dg), *du = xmalloc((size_t)n * sizeof *du);
    float *dgr = xmalloc((size_t)n * sizeof *dgr), *dur = xmalloc((size_t)n * sizeof *dur);
    if (n > 2) g[0] = -100.0f, g[1] = 100.0f, g[2] = 0.0f; // saturated both ways
    silu_mul_backward(dg, du, dy, g, u, n);
    silu_mul_backward_ref(dgr, dur, dy, g, u, n);
    char what[96];
    snprintf(what, sizeof what, "%s silu_mul_backward n=%lld dgate", kernel_isa_name(kernels_isa()), (long long)n);
    check_rel(what, dg, dgr, n, 1e-5);
    snprintf(what, sizeof what, "%s silu_mul_backward n=%lld dup", kernel_isa_name(kernels_isa()), (long long)n);
    check_rel(what, du, dur, n, 1e-5);
    float *a = fdup(dy, n); // dg may alias dy
    silu_mul_backward(a, du, a, g, u, n);
    CHECK_CLOSE("silu_mul_backward in place", a, dg, n, 0.0);
    free(g), free(u), free(dy), free(dg), free(du), free(dgr), free(dur), free(a);
}

// ---- attention ----
typedef struct {
    float *q, *k, *v, *c;
    double *qd, *kd, *vd;
    int64_t T, H, KV, hd;
    float scale;
} attn_ctx;

static double attn_loss32(void *p) {
    attn_ctx *a = p;
    int64_t n = a->T * a->H * a->hd;
    float *o = xmalloc((size_t)n * sizeof *o);
    attention_forward(o, a->q, a->k, a->v, a->T, 0, a->H, a->KV, a->hd, a->scale);
    double l = dot_fd(a->c, o, n);
    free(o);
    return l;
}

static void attn_fwd64(double *o, const attn_ctx *a) {
    int64_t grp = a->H / a->KV, ld = a->KV * a->hd, ldq = a->H * a->hd, hd = a->hd;
    double *p = xmalloc((size_t)a->T * sizeof *p);
    for (int64_t t = 0; t < a->T; t++)
        for (int64_t h = 0; h < a->H; h++) {
            const double *q = a->qd + t * ldq + h * hd;
            int64_t g = h / grp;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j <= t; j++) {
                double s = 0;
                for (int64_t i = 0; i < hd; i++) s += q[i] * a->kd[j * ld + g * hd + i];
                p[j] = s * a->scale;
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int64_t j = 0; j <= t; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t i = 0; i < hd; i++) {
                double s = 0;
                for (int64_t j = 0; j <= t; j++) s += p[j] * a->vd[j * ld + g * hd + i];
                o[t * ldq + h * hd + i] = s / sum;
            }
        }
    free(p);
}

static double attn_loss64(void *p) {
    attn_ctx *a = p;
    int64_t n = a->T * a->H * a->hd;
    double *o = xmalloc((size_t)n * sizeof *o);
    attn_fwd64(o, a);
    double l = dot_dd(a->c, o, n);
    free(o);
    return l;
}

static void attention_fd(int64_t T, int64_t H, int64_t KV, int64_t hd) {
    int64_t nq = T * H * hd, nk = T * KV * hd;
    attn_ctx a = {.q = randn(nq, 1.0f), .k = randn(nk, 1.0f), .v = randn(nk, 1.0f), .c = randn(nq, 1.0f),
                  .T = T, .H = H, .KV = KV, .hd = hd, .scale = 1.0f / sqrtf((float)hd)};
    a.qd = to_double(a.q, nq), a.kd = to_double(a.k, nk), a.vd = to_double(a.v, nk);
    float *o = xmalloc((size_t)nq * sizeof *o);
    double *od = xmalloc((size_t)nq * sizeof *od);
    attention_forward(o, a.q, a.k, a.v, T, 0, H, KV, hd, a.scale);
    attn_fwd64(od, &a);
    char what[96];
    snprintf(what, sizeof what, "attention T=%lld H=%lld KV=%lld hd=%lld", (long long)T, (long long)H, (long long)KV,
             (long long)hd);
    char w2[128];
    snprintf(w2, sizeof w2, "%s forward64 == kernel", what);
    check_rel_d(w2, o, od, nq, 2e-6);
    float *dq = xmalloc((size_t)nq * sizeof *dq), *dk = xmalloc((size_t)nk * sizeof *dk),
          *dv = xmalloc((size_t)nk * sizeof *dv);
    attention_backward(dq, dk, dv, a.c, a.q, a.k, a.v, T, H, KV, hd, a.scale);
    snprintf(w2, sizeof w2, "%s dq", what);
    check_fd(w2, dq, a.q, a.qd, nq, attn_loss32, attn_loss64, &a, 2e-5);
    snprintf(w2, sizeof w2, "%s dk", what);
    check_fd(w2, dk, a.k, a.kd, nk, attn_loss32, attn_loss64, &a, 2e-5);
    snprintf(w2, sizeof w2, "%s dv", what);
    check_fd(w2, dv, a.v, a.vd, nk, attn_loss32, attn_loss64, &a, 2e-5);
    free(a.q), free(a.k), free(a.v), free(a.c), free(a.qd), free(a.kd), free(a.vd);
    free(o), free(od), free(dq), free(dk), free(dv);
}

static void attention_case(int64_t T, int64_t H, int64_t KV, int64_t hd) {
    int64_t nq = T * H * hd, nk = T * KV * hd;
    float *q = randn(nq, 1.0f), *k = randn(nk, 1.0f), *v = randn(nk, 1.0f), *dO = randn(nq, 1.0f);
    float *dq = randn(nq, 1.0f), *dk = randn(nk, 1.0f), *dv = randn(nk, 1.0f); // overwritten
    float *dqr = xmalloc((size_t)nq * sizeof *dqr), *dkr = xmalloc((size_t)nk * sizeof *dkr),
          *dvr = xmalloc((size_t)nk * sizeof *dvr);
    float scale = 1.0f / sqrtf((float)hd);
    attention_backward(dq, dk, dv, dO, q, k, v, T, H, KV, hd, scale);
    attention_backward_ref(dqr, dkr, dvr, dO, q, k, v, T, H, KV, hd, scale);
    char what[128];
    const char *isa = kernel_isa_name(kernels_isa());
    snprintf(what, sizeof what, "%s attention_backward T=%lld H=%lld KV=%lld hd=%lld dq", isa, (long long)T,
             (long long)H, (long long)KV, (long long)hd);
    check_rel(what, dq, dqr, nq, 5e-6);
    what[strlen(what) - 1] = 'k';
    check_rel(what, dk, dkr, nk, 5e-6);
    what[strlen(what) - 2] = 'd', what[strlen(what) - 1] = 'v';
    check_rel(what, dv, dvr, nk, 5e-6);
    free(q), free(k), free(v), free(dO), free(dq), free(dk), free(dv), free(dqr), free(dkr), free(dvr);
}

static void test_attention(void) {
    attention_case(1, 1, 1, 8);     // one token: dq = dk = 0, dv = dO
    attention_case(7, 4, 2, 8);     // the finite-difference shape
    attention_case(37, 9, 3, 64);   // SmolLM2 heads, partial tile
    attention_case(70, 4, 1, 128);  // crosses a key block; grp 4
    attention_case(33, 4, 4, 128);  // no grouping
    attention_case(50, 6, 2, 40);   // head_dim not a multiple of 16
    attention_case(130, 2, 1, 64);  // several tiles per head, keys past 128
    // one token: P = 1, so dv = dO and dq = dk = 0
    float q[4] = {1, 2, 3, 4}, k[4] = {4, 3, 2, 1}, v[4] = {0.5f, -1, 2, 7}, dO[4] = {1, -2, 3, 0.5f};
    float dq[4], dk[4], dv[4], z[4] = {0};
    attention_backward(dq, dk, dv, dO, q, k, v, 1, 1, 1, 4, 0.5f);
    CHECK_CLOSE("attention_backward one key: dv = dO", dv, dO, 4, 0.0);
    CHECK_CLOSE("attention_backward one key: dq = 0", dq, z, 4, 0.0);
    CHECK_CLOSE("attention_backward one key: dk = 0", dk, z, 4, 0.0);
}

// ---- cross-entropy ----
// A (V, d) weight of dtype t from random values; f gets the values it holds.
static uint8_t *make_weight(tensor_view *w, dtype t, int64_t V, int64_t d, float sd) {
    size_t rb = dtype_row_bytes(t, d);
    uint8_t *data = xmalloc((size_t)V * rb);
    float *row = xmalloc((size_t)d * sizeof *row);
    for (int64_t r = 0; r < V; r++) {
        for (int64_t i = 0; i < d; i++) row[i] = rng_normal(&rng) * sd;
        LORAC_ASSERT(quantize_row(t, row, data + (size_t)r * rb, d) == 0);
    }
    free(row);
    *w = (tensor_view){.name = "lm_head", .type = t, .ndim = 2, .shape = {V, d}, .data = data, .nbytes = (size_t)V * rb};
    return data;
}

// Per-row losses by a direct log-softmax in double over the full logits.
static double ce_direct(double *losses, const float *h, const tensor_view *w, const int32_t *tg, int64_t T,
                        int64_t d, int64_t V) {
    float *row = xmalloc((size_t)d * sizeof *row);
    double *z = xmalloc((size_t)V * sizeof *z), total = 0;
    for (int64_t t = 0; t < T; t++) {
        losses[t] = 0;
        if (tg[t] < 0) continue;
        double mx = -INFINITY, s = 0;
        for (int64_t v = 0; v < V; v++) {
            tensor_row_f32(row, w, v);
            double a = 0;
            for (int64_t i = 0; i < d; i++) a += (double)h[t * d + i] * row[i];
            z[v] = a;
            mx = a > mx ? a : mx;
        }
        for (int64_t v = 0; v < V; v++) s += exp(z[v] - mx);
        losses[t] = -(z[tg[t]] - mx - log(s));
        total += losses[t];
    }
    free(row), free(z);
    return total;
}

typedef struct {
    float *h;
    double *hd;
    const tensor_view *w;
    const float *wf; // W as fp32 (V, d)
    const int32_t *tg;
    int64_t T, d, V, chunk;
    float gs;
} ce_ctx;

static double ce_loss32(void *p) {
    ce_ctx *c = p;
    return c->gs * cross_entropy_chunked(NULL, NULL, c->h, c->w, c->tg, c->T, c->d, c->V, c->chunk, c->gs);
}

static double ce_loss64(void *p) {
    ce_ctx *c = p;
    double total = 0, *z = xmalloc((size_t)c->V * sizeof *z);
    for (int64_t t = 0; t < c->T; t++) {
        if (c->tg[t] < 0) continue;
        double mx = -INFINITY, s = 0;
        for (int64_t v = 0; v < c->V; v++) {
            double a = 0;
            for (int64_t i = 0; i < c->d; i++) a += c->hd[t * c->d + i] * c->wf[v * c->d + i];
            z[v] = a;
            mx = a > mx ? a : mx;
        }
        for (int64_t v = 0; v < c->V; v++) s += exp(z[v] - mx);
        total += mx + log(s) - z[c->tg[t]];
    }
    free(z);
    return c->gs * total;
}

static void test_ce_fd(void) {
    const int64_t T = 6, d = 12, V = 37;
    const int32_t tg[6] = {3, -1, 36, 0, -1, 17};
    tensor_view w;
    uint8_t *wdata = make_weight(&w, DTYPE_F32, V, d, 1.0f);
    ce_ctx c = {.h = randn(T * d, 1.0f), .w = &w, .wf = (const float *)wdata, .tg = tg, .T = T, .d = d, .V = V,
                .chunk = 8, .gs = 0.37f};
    c.hd = to_double(c.h, T * d);
    float *dh = xcalloc((size_t)(T * d), sizeof *dh);
    cross_entropy_chunked(dh, NULL, c.h, &w, tg, T, d, V, c.chunk, c.gs);
    check_fd("cross_entropy_chunked dh (V=37, chunk=8, 2 rows masked)", dh, c.h, c.hd, T * d, ce_loss32, ce_loss64,
             &c, 2e-5);
    free(c.h), free(c.hd), free(dh), free(wdata);
}

static void ce_case(dtype t, int64_t T, int64_t d, int64_t V, int64_t chunk, int mask) {
    tensor_view w;
    uint8_t *wdata = make_weight(&w, t, V, d, 0.5f);
    float *h = randn(T * d, 1.0f);
    int32_t *tg = xmalloc((size_t)T * sizeof *tg);
    for (int64_t i = 0; i < T; i++) tg[i] = mask && i % 3 == 1 ? -1 : (int32_t)(rng_next(&rng) % (uint64_t)V);
    float *dh = randn(T * d, 0.01f), *dhr = fdup(dh, T * d), *dh0 = fdup(dh, T * d); // accumulated into
    float *ls = xmalloc((size_t)T * sizeof *ls), *lsr = xmalloc((size_t)T * sizeof *lsr);
    double *lsd = xmalloc((size_t)T * sizeof *lsd);
    float gs = 1.0f / (float)T;
    double tot = cross_entropy_chunked(dh, ls, h, &w, tg, T, d, V, chunk, gs);
    double totr = cross_entropy_chunked_ref(dhr, lsr, h, &w, tg, T, d, V, gs);
    double totd = ce_direct(lsd, h, &w, tg, T, d, V);
    char what[160];
    snprintf(what, sizeof what, "%s cross_entropy %s T=%lld d=%lld V=%lld chunk=%lld%s", kernel_isa_name(kernels_isa()),
             dtype_name(t), (long long)T, (long long)d, (long long)V, (long long)chunk, mask ? " masked" : "");
    if (verbose)
        fprintf(stderr, "  %-60s loss %.9g ref %.9g direct %.9g\n", what, tot, totr, totd);
    CHECK_MSG(fabs(tot - totr) <= 1e-5 * fabs(totr), "%s: loss %.9g vs ref %.9g", what, tot, totr);
    CHECK_MSG(fabs(totr - totd) <= 1e-12 * fabs(totd), "%s: ref loss %.12g vs direct %.12g", what, totr, totd);
    char w2[200];
    snprintf(w2, sizeof w2, "%s losses", what);
    check_rel_d(w2, ls, lsd, T, 1e-5);
    // dh minus its initial value, compared as gradients
    for (int64_t i = 0; i < T * d; i++) dh[i] -= dh0[i], dhr[i] -= dh0[i];
    snprintf(w2, sizeof w2, "%s dh", what);
    check_rel(w2, dh, dhr, T * d, 5e-6);
    int untouched = 1; // rows that are not targets get no gradient and loss 0
    for (int64_t i = 0; i < T; i++)
        if (tg[i] < 0) {
            untouched &= ls[i] == 0.0f;
            for (int64_t j = 0; j < d; j++) untouched &= dh[i * d + j] == 0.0f;
        }
    snprintf(w2, sizeof w2, "%s non-targets untouched", what);
    CHECK_MSG(untouched, "%s", w2);
    double tl = cross_entropy_chunked(NULL, NULL, h, &w, tg, T, d, V, chunk, gs); // loss only
    CHECK_MSG(tl == tot, "%s: loss without dh %.12g vs %.12g", what, tl, tot);
    free(wdata), free(h), free(tg), free(dh), free(dhr), free(dh0), free(ls), free(lsr), free(lsd);
}

static void test_ce(void) {
    ce_case(DTYPE_F32, 20, 64, 300, 64, 1);   // V not a multiple of the chunk
    ce_case(DTYPE_BF16, 20, 64, 300, 128, 0); // every row a target (no gather)
    ce_case(DTYPE_Q8_0, 9, 64, 130, 1000, 1); // chunk > V; few rows (matrix-vector path)
    ce_case(DTYPE_F16, 33, 32, 77, 7, 1);
    // no targets at all: loss 0, dh untouched
    tensor_view w;
    uint8_t *wd = make_weight(&w, DTYPE_F32, 10, 4, 1.0f);
    float h[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dh[8] = {0}, z[8] = {0};
    int32_t tg[2] = {-1, -1};
    CHECK(cross_entropy_chunked(dh, NULL, h, &w, tg, 2, 4, 10, 4, 1.0f) == 0.0);
    CHECK_CLOSE("cross_entropy no targets: dh untouched", dh, z, 8, 0.0);
    // huge logits stay finite (log-sum-exp is stable)
    float big[4] = {1e3f, -1e3f, 5e2f, 0};
    int32_t t1[1] = {1};
    double l = cross_entropy_chunked(dh, NULL, big, &w, t1, 1, 4, 10, 3, 1.0f);
    double ld[1];
    double lr = ce_direct(ld, big, &w, t1, 1, 4, 10);
    CHECK_MSG(isfinite(l) && fabs(l - lr) <= 1e-5 * fabs(lr), "cross_entropy large logits: %g vs %g", l, lr);
    int fin = 1;
    for (int i = 0; i < 4; i++) fin &= isfinite(dh[i]);
    CHECK_MSG(fin, "cross_entropy large logits: dh finite");
    free(wd);
}

int main(void) {
    rng_seed(&rng, 4321);
    verbose = getenv("VERBOSE") != NULL;
    kernel_isa best = kernels_isa_detected();
    fprintf(stderr, "backward: this machine supports %s\n", kernel_isa_name(best));
    for (int isa = KERNEL_ISA_SCALAR; isa <= (int)best; isa++) {
        kernels_set_isa((kernel_isa)isa);
        test_gemm();
        static const int64_t rs[][2] = {{1, 1}, {5, 7}, {33, 64}, {40, 100}, {3, 2048}};
        for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) rmsnorm_case(rs[i][0], rs[i][1]);
        silu_case(1);
        silu_case(37);
        silu_case(100000);
        test_attention();
        test_ce();
    }
    kernels_set_isa(best);
    // finite differences on the best path, one thread: thousands of tiny
    // forward calls, where waking a team costs more than the work (and spins
    // for long when the machine is busy); threads are covered above
    int nth = omp_get_max_threads();
    omp_set_num_threads(1);
    test_rmsnorm_fd(3, 10);
    test_rmsnorm_fd(2, 37);
    test_rope();
    test_silu_fd();
    attention_fd(7, 4, 2, 8);
    attention_fd(20, 2, 1, 16); // two query tiles
    test_ce_fd();
    omp_set_num_threads(nth);
    TEST_MAIN_END();
}
