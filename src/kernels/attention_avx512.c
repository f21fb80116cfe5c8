// attention_avx512.c — causal GQA attention with AVX-512 (see attention.c for
// the semantics).
//
// Prefill (many query rows per kv head) runs flash-attention style: the query
// rows of one kv head and a block of tokens form a tile; keys go by in blocks
// of 64 with an online softmax, so scores never exist for more than one block.
// Keys are transposed once per call so a score tile is an outer product
// (broadcast q, vector of 16 keys). Decode (few rows) walks each row's keys
// directly. Everything is fp32; exp is exp512 (≤ 2 ulp).
#include "kernels_internal.h"

#define KERNEL_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"
#define KERNEL_NEEDS_AMX 0
#include "simd_target.h"
#if KERNEL_SIMD
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "simd_avx512.h"

#define KB 64 // keys per block
#define TQ 16 // query tokens per tile

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

// ---- decode: one query row at a time ----
static void attend_row(float *o, const float *qh, const float *k, const float *v, int64_t pos, int64_t ld,
                       int64_t hd, float scale, float *buf) {
    int64_t nk = pos + 1;
    float mx = -INFINITY;
    for (int64_t j = 0; j < nk; j++) {
        const float *kj = k + j * ld;
        __m512 a = _mm512_setzero_ps();
        for (int64_t d = 0; d < hd; d += 16) {
            __mmask16 m = tail_mask(hd - d);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qh + d), _mm512_maskz_loadu_ps(m, kj + d), a);
        }
        float s = hsum512(a) * scale;
        buf[j] = s;
        mx = s > mx ? s : mx;
    }
    __m512 vmx = _mm512_set1_ps(mx), sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; j += 16) {
        __mmask16 m = tail_mask(nk - j);
        __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, buf + j), vmx)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(buf + j, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / hsum512(sum));
    for (int64_t d = 0; d < hd; d += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __mmask16 m0 = tail_mask(hd - d), m1 = tail_mask(hd - d - 16), m2 = tail_mask(hd - d - 32),
                  m3 = tail_mask(hd - d - 48);
        for (int64_t j = 0; j < nk; j++) {
            const float *vj = v + j * ld + d;
            __m512 p = _mm512_set1_ps(buf[j]);
            a0 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m0, vj), a0);
            a1 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m1, vj + 16), a1);
            a2 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m2, vj + 32), a2);
            a3 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m3, vj + 48), a3);
        }
        _mm512_mask_storeu_ps(o + d, m0, _mm512_mul_ps(a0, inv));
        _mm512_mask_storeu_ps(o + d + 16, m1, _mm512_mul_ps(a1, inv));
        _mm512_mask_storeu_ps(o + d + 32, m2, _mm512_mul_ps(a2, inv));
        _mm512_mask_storeu_ps(o + d + 48, m3, _mm512_mul_ps(a3, inv));
    }
}

static void attention_rows(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                           int64_t H, int64_t KV, int64_t hd, float scale) {
    int64_t grp = H / KV, ld = KV * hd;
#pragma omp parallel if (T * H > 1)
    {
        float *buf = xmalloc_aligned(64, (size_t)(pos0 + T + 16) * sizeof *buf);
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < T * H; u++) {
            int64_t t = u / H, h = u % H;
            attend_row(out + u * hd, q + u * hd, k + (h / grp) * hd, v + (h / grp) * hd, pos0 + t, ld, hd, scale, buf);
        }
        free(buf);
    }
}

// ---- prefill: tiles of rows × key blocks ----
// Scores of 4 rows × 64 keys: S[r][j] = q_r · Kt[:, j], Kt (hd, ldt) holding
// this block's keys at column 0.
static inline void scores_4x64(float *S, const float *const *qr, const float *Kt, int64_t ldt, int64_t hd) {
    __m512 a[4][4];
#pragma GCC unroll 16
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        const float *kt = Kt + d * ldt;
        __m512 k0 = _mm512_loadu_ps(kt), k1 = _mm512_loadu_ps(kt + 16), k2 = _mm512_loadu_ps(kt + 32),
               k3 = _mm512_loadu_ps(kt + 48);
#pragma GCC unroll 16
        for (int r = 0; r < 4; r++) {
            __m512 qv = _mm512_set1_ps(qr[r][d]);
            a[r][0] = _mm512_fmadd_ps(qv, k0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(qv, k1, a[r][1]);
            a[r][2] = _mm512_fmadd_ps(qv, k2, a[r][2]);
            a[r][3] = _mm512_fmadd_ps(qv, k3, a[r][3]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(S + r * KB + 16 * c, a[r][c]);
}

// O[r] = O[r]·alpha[r] + Σ_j P[r][j] V[j] for 4 rows and 64 columns of hd.
static inline void pv_4x64(float *O, int64_t ldo, const float *P, const float *alpha, const float *V, int64_t ldv,
                           int64_t nk) {
    __m512 a[4][4];
#pragma GCC unroll 16
    for (int r = 0; r < 4; r++) {
        __m512 al = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 16
        for (int c = 0; c < 4; c++) a[r][c] = _mm512_mul_ps(_mm512_loadu_ps(O + r * ldo + 16 * c), al);
    }
    for (int64_t j = 0; j < nk; j++) {
        const float *vj = V + j * ldv;
        __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16), v2 = _mm512_loadu_ps(vj + 32),
               v3 = _mm512_loadu_ps(vj + 48);
#pragma GCC unroll 16
        for (int r = 0; r < 4; r++) {
            __m512 p = _mm512_set1_ps(P[r * KB + j]);
            a[r][0] = _mm512_fmadd_ps(p, v0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(p, v1, a[r][1]);
            a[r][2] = _mm512_fmadd_ps(p, v2, a[r][2]);
            a[r][3] = _mm512_fmadd_ps(p, v3, a[r][3]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(O + r * ldo + 16 * c, a[r][c]);
}

// hd a multiple of 64 (the tile kernels' width).
static void attention_tiles(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                            int64_t H, int64_t KV, int64_t hd, float scale) {
    int64_t grp = H / KV, ld = KV * hd, S = pos0 + T;
    // Kt row length: whole blocks plus one line, so the hd rows read together
    // do not all fall in the same few L1 sets (a power-of-two stride would)
    int64_t ldt = (S + KB - 1) / KB * KB + 16;
    int64_t R = grp * TQ, Rp = (R + 3) / 4 * 4;    // rows per tile, padded to 4
    int64_t nq = (T + TQ - 1) / TQ;
    float *Kt = xmalloc_aligned(64, (size_t)(KV * hd * ldt) * sizeof *Kt);
    float *Vc = xmalloc_aligned(64, (size_t)(KV * S * hd) * sizeof *Vc);
#pragma omp parallel
    {
        // Kt[g][d][j] = k[j][g·hd + d]; padding keys are zero (and masked).
#pragma omp for schedule(static)
        for (int64_t gd = 0; gd < KV * hd; gd++) {
            float *row = Kt + gd * ldt;
            const float *src = k + gd;
            for (int64_t j = 0; j < S; j++) row[j] = src[j * ld];
            for (int64_t j = S; j < ldt; j++) row[j] = 0.0f;
        }
        // Vc[g][j] = v[j][g·hd ...]: one head's values contiguous (the cache
        // rows are n_kv·hd apart, often a power of two).
#pragma omp for schedule(static)
        for (int64_t gj = 0; gj < KV * S; gj++)
            memcpy(Vc + gj * hd, v + (gj % S) * ld + (gj / S) * hd, (size_t)hd * sizeof *Vc);
        float *O = xmalloc_aligned(64, (size_t)(Rp * hd) * sizeof *O);
        float *P = xmalloc_aligned(64, (size_t)(Rp * KB) * sizeof *P);
        float *m = xmalloc((size_t)Rp * sizeof *m), *l = xmalloc((size_t)Rp * sizeof *l);
        float *alpha = xmalloc((size_t)Rp * sizeof *alpha);
        int64_t *rpos = xmalloc((size_t)Rp * sizeof *rpos);
        const float **qr = xmalloc((size_t)Rp * sizeof *qr);
        float *zero = xcalloc((size_t)hd, sizeof *zero);
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < KV * nq; u++) {
            int64_t g = u % KV, t0 = (u / KV) * TQ, nt = T - t0 < TQ ? T - t0 : TQ, nr = nt * grp;
            // row r: token t0 + r / grp, head g·grp + r % grp; padding rows read zeros
            for (int64_t r = 0; r < Rp; r++) {
                if (r < nr) {
                    qr[r] = q + ((t0 + r / grp) * H + g * grp + r % grp) * hd;
                    rpos[r] = pos0 + t0 + r / grp;
                } else {
                    qr[r] = zero;
                    rpos[r] = -1;
                }
                m[r] = -INFINITY;
                l[r] = 0;
            }
            memset(O, 0, (size_t)(Rp * hd) * sizeof *O);
            int64_t last = pos0 + t0 + nt - 1; // highest position in the tile
            for (int64_t j0 = 0; j0 <= last; j0 += KB) {
                int64_t nk = last + 1 - j0 < KB ? last + 1 - j0 : KB;
                const float *Ktb = Kt + g * hd * ldt + j0;
                for (int64_t r = 0; r < Rp; r += 4) scores_4x64(P + r * KB, qr + r, Ktb, ldt, hd);
                for (int64_t r = 0; r < Rp; r++) {
                    float *pr = P + r * KB;
                    int64_t valid = rpos[r] - j0 + 1; // keys j0..rpos visible
                    if (valid > nk) valid = nk;
                    if (valid <= 0) { // nothing visible in this block (or a padding row)
                        memset(pr, 0, KB * sizeof *pr);
                        alpha[r] = 1.0f;
                        continue;
                    }
                    __m512 sc = _mm512_set1_ps(scale), mx = _mm512_set1_ps(-INFINITY);
                    for (int64_t j = 0; j < KB; j += 16) {
                        __mmask16 mk = tail_mask(valid - j);
                        __m512 s = _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), mk, _mm512_loadu_ps(pr + j), sc);
                        _mm512_storeu_ps(pr + j, s);
                        mx = _mm512_max_ps(mx, s);
                    }
                    float mnew = _mm512_reduce_max_ps(mx);
                    if (m[r] > mnew) mnew = m[r];
                    alpha[r] = expf(m[r] - mnew); // 0 on the first block (m = -inf)
                    m[r] = mnew;
                    __m512 vm = _mm512_set1_ps(mnew), sum = _mm512_setzero_ps();
                    for (int64_t j = 0; j < KB; j += 16) {
                        __mmask16 mk = tail_mask(valid - j);
                        __m512 p = _mm512_maskz_mov_ps(mk, exp512(_mm512_sub_ps(_mm512_loadu_ps(pr + j), vm)));
                        sum = _mm512_add_ps(sum, p);
                        _mm512_storeu_ps(pr + j, p);
                    }
                    l[r] = l[r] * alpha[r] + hsum512(sum);
                }
                const float *Vb = Vc + (g * S + j0) * hd;
                for (int64_t r = 0; r < Rp; r += 4)
                    for (int64_t d = 0; d < hd; d += 64)
                        pv_4x64(O + r * hd + d, hd, P + r * KB, alpha + r, Vb + d, hd, nk);
            }
            for (int64_t r = 0; r < nr; r++) {
                float *o = out + ((t0 + r / grp) * H + g * grp + r % grp) * hd;
                __m512 inv = _mm512_set1_ps(1.0f / l[r]);
                for (int64_t d = 0; d < hd; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(O + r * hd + d), inv));
            }
        }
        free(O), free(P), free(m), free(l), free(alpha), free(rpos), free(qr), free(zero);
    }
    free(Kt);
    free(Vc);
}

void attention_avx512(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                      int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    if (hd % 64 == 0 && T * (n_heads / n_kv) >= 16)
        attention_tiles(out, q, k, v, T, pos0, n_heads, n_kv, hd, scale);
    else attention_rows(out, q, k, v, T, pos0, n_heads, n_kv, hd, scale);
}

#include "simd_target_end.h"
#else
#include <stdlib.h>
void attention_avx512(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                      int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    (void)out, (void)q, (void)k, (void)v, (void)T, (void)pos0, (void)n_heads, (void)n_kv, (void)hd, (void)scale;
    abort();
}
#endif
