// backward.c — the training kernels: public entry points, naive references,
// portable C paths, and dispatch to the AVX-512 versions (backward_avx512.c).
//
// References compute in double from the fp32 inputs, so they are closer to
// the exact result than any fp32 path; the optimised kernels differ from them
// by fp32 rounding and summation order (tests/test_backward.c states the
// tolerances). Every backward kernel is also checked against central finite
// differences of its forward.
//
// Determinism: for a given thread count every kernel sums in a fixed order
// (static schedules, partials added in a fixed order), so a training run is
// bitwise reproducible. rmsnorm's dw is reduced over fixed row chunks, so it
// does not depend on the thread count at all.
#include "backward_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../io/quant.h"

// Below this many elements a parallel region costs more than it saves.
#define BWD_PAR_MIN 65536

static int use_avx512(void) { return kernels_isa() >= KERNEL_ISA_AVX512; }

// ---- fp32 GEMM ----
// op(A)(i, k) and op(B)(k, j) of the row-major operands.
static inline float op_a(const float *A, int64_t M, int64_t K, int t, int64_t i, int64_t k) {
    return t ? A[k * M + i] : A[i * K + k];
}
static inline float op_b(const float *B, int64_t K, int64_t N, int t, int64_t k, int64_t j) {
    return t ? B[j * K + k] : B[k * N + j];
}

void gemm_f32_ref(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a, int trans_b,
                  float alpha, float beta) {
    LORAC_ASSERT(M >= 0 && N >= 0 && K >= 0);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)op_a(A, M, K, trans_a, i, k) * op_b(B, K, N, trans_b, k, j);
            double c = beta != 0.0f ? (double)beta * C[i * N + j] : 0.0;
            C[i * N + j] = (float)((double)alpha * s + c);
        }
}

// Portable C: one row of C per task; a row of partial sums when op(B) has
// rows along N, dot products when it is transposed.
static void gemm_portable(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a,
                          int trans_b, float alpha, float beta) {
#pragma omp parallel if (M * N * K >= BWD_PAR_MIN)
    {
        float *acc = xmalloc((size_t)N * sizeof *acc);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < M; i++) {
            if (trans_b) {
                for (int64_t j = 0; j < N; j++) {
                    float s = 0;
                    for (int64_t k = 0; k < K; k++) s += op_a(A, M, K, trans_a, i, k) * B[j * K + k];
                    acc[j] = s;
                }
            } else {
                memset(acc, 0, (size_t)N * sizeof *acc);
                for (int64_t k = 0; k < K; k++) {
                    float a = op_a(A, M, K, trans_a, i, k);
                    const float *b = B + k * N;
                    for (int64_t j = 0; j < N; j++) acc[j] += a * b[j];
                }
            }
            float *c = C + i * N;
            for (int64_t j = 0; j < N; j++) c[j] = alpha * acc[j] + (beta != 0.0f ? beta * c[j] : 0.0f);
        }
        free(acc);
    }
}

void gemm_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a, int trans_b,
              float alpha, float beta) {
    LORAC_ASSERT(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0.0f) { // C = beta·C without reading A or B
        for (int64_t i = 0; i < M * N; i++) C[i] = beta != 0.0f ? beta * C[i] : 0.0f;
        return;
    }
    if (use_avx512()) gemm_avx512(C, A, B, M, N, K, trans_a, trans_b, alpha, beta);
    else gemm_portable(C, A, B, M, N, K, trans_a, trans_b, alpha, beta);
}

// ---- RMSNorm ----
void rmsnorm_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w, int64_t T, int64_t n,
                          float eps) {
    double *dws = dw ? xcalloc((size_t)(n ? n : 1), sizeof *dws) : NULL;
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * n, *gt = dy + t * n;
        double ss = 0, dot = 0;
        for (int64_t i = 0; i < n; i++) {
            ss += (double)xt[i] * xt[i];
            dot += (double)gt[i] * w[i] * xt[i];
        }
        double r = 1.0 / sqrt(ss / (double)n + eps), c = r * r * r * dot / (double)n;
        for (int64_t i = 0; i < n; i++) {
            double g = gt[i], xi = xt[i];
            if (dws) dws[i] += g * xi * r;
            dx[t * n + i] = (float)(r * g * w[i] - xi * c);
        }
    }
    if (dw)
        for (int64_t i = 0; i < n; i++) dw[i] = (float)(dw[i] + dws[i]);
    free(dws);
}

static void rmsnorm_backward_row(float *dx, float *dwacc, const float *dy, const float *x, const float *w, int64_t n,
                                 float eps) {
    float ss = 0, dot = 0;
    for (int64_t i = 0; i < n; i++) {
        ss += x[i] * x[i];
        dot += dy[i] * w[i] * x[i];
    }
    float r = 1.0f / sqrtf(ss / (float)n + eps), c = r * r * r * dot / (float)n;
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i];
        if (dwacc) dwacc[i] += g * x[i] * r;
        dx[i] = r * g * w[i] - x[i] * c;
    }
}

// dw is summed per chunk of RMS_ROWS rows, then the chunks in order: the
// result does not depend on the thread count.
#define RMS_ROWS 32

void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int64_t T, int64_t n,
                      float eps) {
    LORAC_ASSERT(T >= 0 && n >= 0);
    if (T == 0 || n == 0) return;
    int avx = use_avx512();
    int64_t nch = (T + RMS_ROWS - 1) / RMS_ROWS;
    float *part = dw ? xcalloc((size_t)(nch * n), sizeof *part) : NULL;
#pragma omp parallel if (T * n >= BWD_PAR_MIN && T > 1)
    {
#pragma omp for schedule(static)
        for (int64_t c = 0; c < nch; c++) {
            float *acc = part ? part + c * n : NULL;
            for (int64_t t = c * RMS_ROWS; t < T && t < (c + 1) * RMS_ROWS; t++) {
                if (avx) rmsnorm_backward_row_avx512(dx + t * n, acc, dy + t * n, x + t * n, w, n, eps);
                else rmsnorm_backward_row(dx + t * n, acc, dy + t * n, x + t * n, w, n, eps);
            }
        }
        if (part) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++) {
                float s = 0;
                for (int64_t c = 0; c < nch; c++) s += part[c * n + i];
                dw[i] += s;
            }
        }
    }
    free(part);
}

// ---- RoPE ----
// rope_forward computes y = s·R(θ)·x per pair with s = attn_scale (cos and
// sin are both scaled); the gradient is dx = s·R(θ)ᵀ·dy = s·R(−θ)·dy. The
// angles are computed exactly as rope_forward computes them.
static void rotate_head_back(float *x, const float *c, const float *s, int64_t half, rope_mode mode) {
    int64_t st = mode == ROPE_NEOX ? 1 : 2, off = mode == ROPE_NEOX ? half : 1;
    for (int64_t i = 0; i < half; i++) {
        float *p0 = x + i * st, *p1 = p0 + off;
        float y0 = *p0, y1 = *p1;
        *p0 = y0 * c[i] + y1 * s[i];
        *p1 = y1 * c[i] - y0 * s[i];
    }
}

void rope_backward(float *dx, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r) {
    int64_t hd = r->head_dim, half = hd / 2;
#pragma omp parallel if (T * n_heads * hd >= BWD_PAR_MIN)
    {
        float *cs = xmalloc((size_t)(hd ? hd : 1) * sizeof *cs);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t i = 0; i < half; i++) {
                float a = (float)pos[t] * r->inv_freq[i];
                cs[i] = cosf(a) * r->attn_scale;
                cs[half + i] = sinf(a) * r->attn_scale;
            }
            for (int64_t h = 0; h < n_heads; h++) rotate_head_back(dx + (t * n_heads + h) * hd, cs, cs + half, half, r->mode);
        }
        free(cs);
    }
}

// The transposed rotation one element at a time, angles recomputed per head.
void rope_backward_ref(float *dx, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r) {
    int64_t hd = r->head_dim, half = hd / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++) {
            float *g = dx + (t * n_heads + h) * hd;
            for (int64_t i = 0; i < half; i++) {
                float a = (float)pos[t] * r->inv_freq[i];
                float c = cosf(a) * r->attn_scale, s = sinf(a) * r->attn_scale;
                int64_t i0 = r->mode == ROPE_NEOX ? i : 2 * i, i1 = r->mode == ROPE_NEOX ? i + half : 2 * i + 1;
                float y0 = g[i0], y1 = g[i1];
                g[i0] = y0 * c + y1 * s;
                g[i1] = y1 * c - y0 * s;
            }
        }
}

// ---- SiLU · up ----
void silu_mul_backward_ref(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i], d = dy[i], s = 1.0 / (1.0 + exp(-gi));
        du[i] = (float)(d * gi * s);
        dg[i] = (float)(d * u[i] * s * (1.0 + gi * (1.0 - s)));
    }
}

static void silu_mul_backward_portable(float *dg, float *du, const float *dy, const float *g, const float *u,
                                       int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i], d = dy[i], s = 1.0f / (1.0f + expf(-gi)), silu = gi * s;
        du[i] = d * silu;
        dg[i] = d * u[i] * (s + silu * (1.0f - s));
    }
}

void silu_mul_backward(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n) {
    const int64_t CH = 16384;
    int avx = use_avx512();
#pragma omp parallel for schedule(static) if (n >= BWD_PAR_MIN)
    for (int64_t c = 0; c < n; c += CH) {
        int64_t m = n - c < CH ? n - c : CH;
        if (avx) silu_mul_backward_avx512(dg + c, du + c, dy + c, g + c, u + c, m);
        else silu_mul_backward_portable(dg + c, du + c, dy + c, g + c, u + c, m);
    }
}

// ---- attention ----
static void check_attention(int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd) {
    LORAC_ASSERT(T >= 0 && n_heads > 0 && n_kv > 0 && hd > 0 && n_heads % n_kv == 0);
}

// Row by row in double: P from the scores, dP = dO·v, D = Σ P∘dP,
// dS = P∘(dP − D); dq = scale·dS·K, dk += scale·dSᵀ·q, dv += Pᵀ·dO.
void attention_backward_ref(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                            const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    check_attention(T, n_heads, n_kv, hd);
    int64_t grp = n_heads / n_kv, ld = n_kv * hd, ldq = n_heads * hd;
    double *gk = xcalloc((size_t)(T * ld + 1), sizeof *gk), *gv = xcalloc((size_t)(T * ld + 1), sizeof *gv);
    double *p = xmalloc((size_t)(T + 1) * sizeof *p), *dp = xmalloc((size_t)(T + 1) * sizeof *dp);
    double *gq = xmalloc((size_t)hd * sizeof *gq);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++) {
            const float *qh = q + t * ldq + h * hd, *oh = dout + t * ldq + h * hd;
            int64_t g = h / grp;
            double mx = -INFINITY;
            for (int64_t j = 0; j <= t; j++) {
                const float *kj = k + j * ld + g * hd, *vj = v + j * ld + g * hd;
                double s = 0, e = 0;
                for (int64_t i = 0; i < hd; i++) s += (double)qh[i] * kj[i], e += (double)oh[i] * vj[i];
                p[j] = s * scale;
                dp[j] = e;
                mx = p[j] > mx ? p[j] : mx;
            }
            double sum = 0, D = 0;
            for (int64_t j = 0; j <= t; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t j = 0; j <= t; j++) D += (p[j] /= sum) * dp[j];
            for (int64_t i = 0; i < hd; i++) gq[i] = 0;
            for (int64_t j = 0; j <= t; j++) {
                double ds = p[j] * (dp[j] - D) * scale;
                const float *kj = k + j * ld + g * hd;
                double *gkj = gk + j * ld + g * hd, *gvj = gv + j * ld + g * hd;
                for (int64_t i = 0; i < hd; i++) {
                    gq[i] += ds * kj[i];
                    gkj[i] += ds * qh[i];
                    gvj[i] += p[j] * oh[i];
                }
            }
            for (int64_t i = 0; i < hd; i++) dq[t * ldq + h * hd + i] = (float)gq[i];
        }
    for (int64_t i = 0; i < T * ld; i++) dk[i] = (float)gk[i], dv[i] = (float)gv[i];
    free(gk), free(gv), free(p), free(dp), free(gq);
}

// Without AVX-512 the reference is the portable path (single-threaded).
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    check_attention(T, n_heads, n_kv, hd);
    if (T == 0) return;
    if (use_avx512()) attention_backward_avx512(dq, dk, dv, dout, q, k, v, T, n_heads, n_kv, hd, scale);
    else attention_backward_ref(dq, dk, dv, dout, q, k, v, T, n_heads, n_kv, hd, scale);
}

// ---- cross-entropy ----
static void check_ce(const tensor_view *w, const int32_t *targets, int64_t T, int64_t d, int64_t V) {
    LORAC_ASSERT(w->ndim == 2 && w->shape[0] == V && w->shape[1] == d && T >= 0 && V > 0);
    for (int64_t t = 0; t < T; t++) LORAC_ASSERT(targets[t] < V);
}

// Row by row in double: logits from W as dequantize_row gives it, log-sum-exp,
// and dh_t += grad_scale · Σ_v (softmax_v − onehot_v) · W_v.
double cross_entropy_chunked_ref(float *dh, float *losses, const float *h, const tensor_view *w,
                                 const int32_t *targets, int64_t T, int64_t d, int64_t V, float grad_scale) {
    check_ce(w, targets, T, d, V);
    size_t rb = dtype_row_bytes(w->type, d);
    float *row = xmalloc((size_t)(d ? d : 1) * sizeof *row);
    double *z = xmalloc((size_t)V * sizeof *z), *g = xmalloc((size_t)(d ? d : 1) * sizeof *g);
    double total = 0;
    for (int64_t t = 0; t < T; t++) {
        if (losses) losses[t] = 0;
        if (targets[t] < 0) continue;
        const float *ht = h + t * d;
        double mx = -INFINITY, s = 0;
        for (int64_t v = 0; v < V; v++) {
            LORAC_ASSERT(dequantize_row(w->type, (const uint8_t *)w->data + (size_t)v * rb, row, d) == 0);
            double a = 0;
            for (int64_t i = 0; i < d; i++) a += (double)ht[i] * row[i];
            z[v] = a;
            mx = a > mx ? a : mx;
        }
        for (int64_t v = 0; v < V; v++) s += exp(z[v] - mx);
        double lse = mx + log(s), loss = lse - z[targets[t]];
        total += loss;
        if (losses) losses[t] = (float)loss;
        if (!dh) continue;
        for (int64_t i = 0; i < d; i++) g[i] = 0;
        for (int64_t v = 0; v < V; v++) {
            double gv = grad_scale * (exp(z[v] - lse) - (v == targets[t]));
            LORAC_ASSERT(dequantize_row(w->type, (const uint8_t *)w->data + (size_t)v * rb, row, d) == 0);
            for (int64_t i = 0; i < d; i++) g[i] += gv * row[i];
        }
        for (int64_t i = 0; i < d; i++) dh[t * d + i] = (float)(dh[t * d + i] + g[i]);
    }
    free(row), free(z), free(g);
    return total;
}

static float row_max(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
static float row_sumexp(const float *x, int64_t n, float m) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += expf(x[i] - m);
    return s;
}
static float row_exp_sum(float *x, int64_t n, float m) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

// Only target rows enter the matmuls: they are gathered into a compact
// (Tt, d) block first (prompt tokens cost nothing).
double cross_entropy_chunked(float *dh, float *losses, const float *h, const tensor_view *w, const int32_t *targets,
                             int64_t T, int64_t d, int64_t V, int64_t chunk, float grad_scale) {
    check_ce(w, targets, T, d, V);
    LORAC_ASSERT(chunk > 0);
    if (losses) memset(losses, 0, (size_t)T * sizeof *losses);
    int64_t Tt = 0;
    for (int64_t t = 0; t < T; t++) Tt += targets[t] >= 0;
    if (Tt == 0) return 0.0;
    int avx = use_avx512();
    if (chunk > V) chunk = V;
    int64_t *rows = xmalloc((size_t)Tt * sizeof *rows);
    for (int64_t t = 0, n = 0; t < T; t++)
        if (targets[t] >= 0) rows[n++] = t;
    const float *hc = h;
    float *hbuf = NULL;
    if (Tt < T) {
        hbuf = xmalloc((size_t)(Tt * d) * sizeof *hbuf);
        for (int64_t i = 0; i < Tt; i++) memcpy(hbuf + i * d, h + rows[i] * d, (size_t)d * sizeof *hbuf);
        hc = hbuf;
    }
    float *z = xmalloc((size_t)(Tt * chunk) * sizeof *z); // one chunk of logits (Tt, cn)
    float *mx = xmalloc((size_t)Tt * sizeof *mx), *zt = xmalloc((size_t)Tt * sizeof *zt);
    double *se = xmalloc((size_t)Tt * sizeof *se);
    for (int64_t i = 0; i < Tt; i++) mx[i] = -INFINITY, se[i] = 0, zt[i] = 0;
    // with a gradient: acc (Tt, d) = Σ_v exp(z_v − mx)·W_v against the running
    // max, rescaled when the max grows (as flash attention does), so one pass
    // of logits serves the loss and the gradient
    float *acc = dh ? xcalloc((size_t)(Tt * d), sizeof *acc) : NULL;

    for (int64_t v0 = 0; v0 < V; v0 += chunk) {
        int64_t cn = V - v0 < chunk ? V - v0 : chunk;
        tensor_view wc = tensor_rows(w, v0, cn);
        matmul_forward(z, hc, &wc, NULL, Tt);
#pragma omp parallel for schedule(static) if (Tt * cn >= BWD_PAR_MIN)
        for (int64_t i = 0; i < Tt; i++) {
            float *zi = z + i * cn;
            float cm = avx ? row_max_avx512(zi, cn) : row_max(zi, cn);
            if (cm > mx[i]) {
                double f = exp((double)mx[i] - cm); // 0 on the first chunk
                se[i] *= f;
                if (acc && mx[i] > -INFINITY)
                    for (int64_t j = 0; j < d; j++) acc[i * d + j] *= (float)f;
                mx[i] = cm;
            }
            int64_t tg = targets[rows[i]];
            if (tg >= v0 && tg < v0 + cn) zt[i] = zi[tg - v0];
            if (acc) // exp(z − mx) in place: the rows of the next product
                se[i] += avx ? row_exp_sum_avx512(zi, cn, mx[i]) : row_exp_sum(zi, cn, mx[i]);
            else se[i] += avx ? row_sumexp_avx512(zi, cn, mx[i]) : row_sumexp(zi, cn, mx[i]);
        }
        if (acc) matmul_backward_input(acc, z, &wc, Tt, 1);
    }
    double total = 0;
    for (int64_t i = 0; i < Tt; i++) {
        double loss = (double)mx[i] + log(se[i]) - zt[i];
        total += loss;
        if (losses) losses[rows[i]] = (float)loss;
    }

    // dh += grad_scale·(softmax − onehot)·W = grad_scale·(acc / Σexp − W_target)
    if (dh) {
        float *wt = xmalloc((size_t)d * sizeof *wt);
        for (int64_t i = 0; i < Tt; i++) {
            float *o = dh + rows[i] * d;
            const float *ai = acc + i * d;
            float sc = (float)(grad_scale / se[i]);
            tensor_row_f32(wt, w, targets[rows[i]]);
            for (int64_t j = 0; j < d; j++) o[j] += sc * ai[j] - grad_scale * wt[j];
        }
        free(wt), free(acc);
    }
    free(rows), free(hbuf), free(z), free(mx), free(zt), free(se);
    return total;
}
