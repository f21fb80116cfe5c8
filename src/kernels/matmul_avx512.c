// matmul_avx512.c — matmul paths for AVX-512 CPUs: fused dequantize-and-dot
// for few tokens (decode), and the fallback for many tokens when there is no
// AMX.
//
// Weights are read 32 values (a "chunk") at a time and turned into two fp32
// vectors exactly equal to what dequantize_row gives (same operations, same
// rounding; no fused multiply-add inside a dequantization), then multiplied
// with fp32 activations by FMA. BF16 chunks come out as (even, odd) elements —
// a shift and a mask, no shuffles — so the activations are permuted the same
// way once per call.
//
// Forward: rows go in groups of 4 and tokens in groups of up to 4, 16
// accumulators, so each weight chunk is converted once per 4 tokens and each
// activation vector loaded once per 4 rows; threads split the rows, and the
// next row group is prefetched (decode streams the weights from DRAM). Q4_0 and
// Q4_1 have their own one-token kernel (see below). Backward
// (dx = dy·W): threads split the columns; a token group's dx columns stay in
// registers while the rows stream past.
//
// Compiled for AVX-512 whatever -march says (simd_target.h); cpu.c decides at
// run time whether it may be called.
#include "kernels_internal.h"

#define KERNEL_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"
#define KERNEL_NEEDS_AMX 0
#include "simd_target.h"
#if KERNEL_SIMD
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "simd_avx512.h"

#include "wchunk_avx512.h"

// ---- dequantize (bit-identical to dequantize_row) ----
void dequant_avx512(dtype t, const uint8_t *src, float *dst, int64_t n) {
    if (t == DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int64_t nc = (n + 31) / 32;
    for (int64_t c = 0; c < nc; c++) {
        __m512 a, b;
        wchunk_natural(t, src, c, n, &a, &b);
        int64_t left = n - 32 * c;
        if (left >= 32) {
            _mm512_storeu_ps(dst + 32 * c, a);
            _mm512_storeu_ps(dst + 32 * c + 16, b);
        } else {
            __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            _mm512_mask_storeu_ps(dst + 32 * c, m0, a);
            _mm512_mask_storeu_ps(dst + 32 * c + 16, m1, b);
        }
    }
}

// ---- activations ----
// x (T, K) into xp (T, Kp), Kp = K rounded up to 32, zero padded; for BF16
// weights each chunk of 32 is reordered to (evens, odds) to match wchunk.
static void permute_x(float *xp, const float *x, int64_t T, int64_t K, int64_t Kp, int bf16) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int64_t t = 0; t < T; t++) {
        const float *s = x + t * K;
        float *d = xp + t * Kp;
        for (int64_t k = 0; k < Kp; k += 32) {
            int64_t left = K - k;
            __mmask16 m0 = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512 a = _mm512_maskz_loadu_ps(m0, s + k), b = _mm512_maskz_loadu_ps(m1, s + k + 16);
            if (bf16) {
                __m512 e = _mm512_permutex2var_ps(a, ev, b), o = _mm512_permutex2var_ps(a, od, b);
                a = e, b = o;
            }
            _mm512_storeu_ps(d + k, a);
            _mm512_storeu_ps(d + k + 16, b);
        }
    }
}

// ---- forward: R rows × TG tokens ----

// Bytes of one 32-value chunk (a K-quant super-block holds 8 chunks).
AI size_t chunk_bytes(dtype t) {
    switch (t) {
    case DTYPE_F32: return 128;
    case DTYPE_F16: case DTYPE_BF16: return 64;
    case DTYPE_Q8_0: return 34;
    case DTYPE_Q4_0: return 18;
    case DTYPE_Q4_1: return 20;
    case DTYPE_Q4_K: return 18;
    default: return 26; // Q6_K: 210 / 8
    }
}

// y[t][n] = Σ_k x[t][k] W[n][k] for rows n0..n0+R-1, tokens t0..t0+TG-1.
AI void rows_kernel(dtype t, int R, int TG, float *y, int64_t ldy, const float *xp, int64_t Kp, const uint8_t *w,
                    size_t row_bytes, int64_t K) {
    __m512 acc[4][4];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int j = 0; j < TG; j++) acc[r][j] = _mm512_setzero_ps();
    int64_t nc = Kp / 32;
    for (int64_t c = 0; c < nc; c++) {
        __m512 wa[4], wb[4];
        {
            // the same chunk of the next row group: keeps enough misses in
            // flight for DRAM (hardware prefetch alone reached ~2/3 of it)
            const char *nx = (const char *)w + (size_t)R * row_bytes + (size_t)c * chunk_bytes(t);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) _mm_prefetch(nx + (size_t)r * row_bytes, _MM_HINT_T0);
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) wchunk(t, w + (size_t)r * row_bytes, c, K, &wa[r], &wb[r]);
#pragma GCC unroll 16
        for (int j = 0; j < TG; j++) {
            __m512 xa = _mm512_loadu_ps(xp + j * Kp + 32 * c), xb = _mm512_loadu_ps(xp + j * Kp + 32 * c + 16);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                acc[r][j] = _mm512_fmadd_ps(wa[r], xa, acc[r][j]);
                acc[r][j] = _mm512_fmadd_ps(wb[r], xb, acc[r][j]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int j = 0; j < TG; j++) y[j * ldy + r] = hsum512(acc[r][j]);
}

// ---- forward, one token, Q4_0/Q4_1: scales applied 16 blocks at a time ----
// Per block only the unscaled partial Σ q·x is formed (16 lanes); 16 such
// partials fold into one vector of block sums with a transpose-add tree, and
// the 16 scales (gathered, f16 → fp32 in one instruction) multiply them at
// once. Q4_0 subtracts its 8 in integers; Q4_1's min multiplies the block
// sums of x (xs, computed once per call): Σ (q·d + m)·x = d·Σ q·x + m·Σ x.
// 1.45x the generic kernel for Q4_1 at K = 2048; for Q8_0 it gains nothing
// (int8 → fp32 conversion, not the scales, is the cost), so Q8_0 stays generic.

// r[b] = Σ lanes of p[b], b = 0..15.
AI __m512 reduce16(__m512 p[16]) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) // lanes: pairs of rows interleaved
        p[i] = _mm512_add_ps(_mm512_unpacklo_ps(p[2 * i], p[2 * i + 1]), _mm512_unpackhi_ps(p[2 * i], p[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(p[2 * i]), b = _mm512_castps_pd(p[2 * i + 1]);
        p[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    // p[i] (i < 4): each 128-bit lane holds partial sums of rows 4i..4i+3
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        p[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(p[0], p[1], 0x88), _mm512_shuffle_f32x4(p[0], p[1], 0xdd));
}

AI void q_partial(dtype t, const uint8_t *blk, const float *x, __m512 *p) {
    __m512i q = u8x16i(blk + (t == DTYPE_Q4_1 ? 4 : 2));
    __m512i lo = _mm512_and_si512(q, _mm512_set1_epi32(15)), hi = _mm512_srli_epi32(q, 4);
    if (t == DTYPE_Q4_0) {
        lo = _mm512_sub_epi32(lo, _mm512_set1_epi32(8));
        hi = _mm512_sub_epi32(hi, _mm512_set1_epi32(8));
    }
    __m512 a = _mm512_cvtepi32_ps(lo), b = _mm512_cvtepi32_ps(hi);
    *p = _mm512_fmadd_ps(b, _mm512_loadu_ps(x + 16), _mm512_mul_ps(a, _mm512_loadu_ps(x)));
}

// y = Σ over the row of one token, row of nb blocks of `bb` bytes.
AI float q_row_dot(dtype t, const uint8_t *row, int64_t nb, size_t bb, const float *x, const float *xs,
                   const uint8_t *next) {
    __m512 acc = _mm512_setzero_ps();
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)bb));
    for (int64_t g = 0; g < nb; g += 16) {
        int n = nb - g < 16 ? (int)(nb - g) : 16;
        const uint8_t *base = row + (size_t)g * bb;
        for (size_t o = 0; o < 16 * bb; o += 64) _mm_prefetch((const char *)next + (size_t)g * bb + o, _MM_HINT_T0);
        __m512 p[16];
#pragma GCC unroll 16
        for (int b = 0; b < 16; b++) {
            if (b < n) q_partial(t, base + b * bb, x + 32 * (g + b), &p[b]);
            else p[b] = _mm512_setzero_ps();
        }
        __m512 s = reduce16(p);
        __mmask16 m = n == 16 ? 0xffff : (__mmask16)((1u << n) - 1);
        __m512i dm = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, base, 1); // d | m << 16
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
        acc = _mm512_fmadd_ps(s, d, acc);
        if (t == DTYPE_Q4_1) {
            __m512 mn = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16)));
            acc = _mm512_fmadd_ps(mn, _mm512_maskz_loadu_ps(m, xs + g), acc);
        }
    }
    return hsum512(acc);
}

static void rows_q_one(dtype t, float *y, const float *xp, const float *xs, const uint8_t *w, size_t row_bytes,
                       int64_t K, int64_t n0, int64_t n1, int64_t N) {
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = w + (size_t)n * row_bytes;
        const uint8_t *next = n + 2 < N ? row + 2 * row_bytes : row;
        if (t == DTYPE_Q4_0) y[n] = q_row_dot(DTYPE_Q4_0, row, K / 32, 18, xp, xs, next);
        else y[n] = q_row_dot(DTYPE_Q4_1, row, K / 32, 20, xp, xs, next);
    }
}

typedef void (*rows_fn)(float *y, int64_t ldy, const float *xp, int64_t Kp, const uint8_t *w, size_t row_bytes,
                        int64_t K);

#define ROWS_FN(T, R, TG)                                                                          \
    static void rows_##T##_##R##_##TG(float *y, int64_t ldy, const float *xp, int64_t Kp,          \
                                      const uint8_t *w, size_t rb, int64_t K) {                    \
        rows_kernel(DTYPE_##T, R, TG, y, ldy, xp, Kp, w, rb, K);                                   \
    }
#define ROWS_FNS(T) ROWS_FN(T, 1, 1) ROWS_FN(T, 1, 2) ROWS_FN(T, 1, 3) ROWS_FN(T, 1, 4) \
                    ROWS_FN(T, 4, 1) ROWS_FN(T, 4, 2) ROWS_FN(T, 4, 3) ROWS_FN(T, 4, 4)
ROWS_FNS(F32)
ROWS_FNS(F16)
ROWS_FNS(BF16)
ROWS_FNS(Q8_0)
ROWS_FNS(Q4_0)
ROWS_FNS(Q4_1)
ROWS_FNS(Q4_K)
ROWS_FNS(Q6_K)
#define ROWS_ROW(T) {{rows_##T##_1_1, rows_##T##_1_2, rows_##T##_1_3, rows_##T##_1_4}, \
                     {rows_##T##_4_1, rows_##T##_4_2, rows_##T##_4_3, rows_##T##_4_4}}

// [type][R == 4][TG - 1]
static rows_fn rows_table(dtype t, int r4, int tg) {
    static const rows_fn tab[][2][4] = {
        [DTYPE_F32] = ROWS_ROW(F32),   [DTYPE_F16] = ROWS_ROW(F16),   [DTYPE_BF16] = ROWS_ROW(BF16),
        [DTYPE_Q8_0] = ROWS_ROW(Q8_0), [DTYPE_Q4_0] = ROWS_ROW(Q4_0), [DTYPE_Q4_1] = ROWS_ROW(Q4_1),
        [DTYPE_Q4_K] = ROWS_ROW(Q4_K), [DTYPE_Q6_K] = ROWS_ROW(Q6_K),
    };
    return tab[t][r4][tg - 1];
}

// Rows in blocks of 64 per task; inside a block, token groups outer so the
// block's weights (≤ 64 rows) are reread from cache, not memory, when T > 4.
#define FWD_ROWS 64

void matmul_avx512_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    int64_t K = w->in, N = w->out, Kp = (K + 31) / 32 * 32;
    float *xp = xmalloc_aligned(64, (size_t)(T * Kp) * sizeof *xp);
    permute_x(xp, x, T, K, Kp, w->type == DTYPE_BF16);
    int64_t nblk = (N + FWD_ROWS - 1) / FWD_ROWS;
    if (T == 1 && (w->type == DTYPE_Q4_0 || w->type == DTYPE_Q4_1)) {
        float *xs = xmalloc((size_t)(K / 32 + 16) * sizeof *xs); // block sums of x (Q4_1's mins)
        for (int64_t b = 0; b < K / 32; b++)
            xs[b] = hsum512(_mm512_add_ps(_mm512_loadu_ps(xp + 32 * b), _mm512_loadu_ps(xp + 32 * b + 16)));
#pragma omp parallel for schedule(static) if (N * K >= 32768)
        for (int64_t bi = 0; bi < nblk; bi++) {
            int64_t n0 = bi * FWD_ROWS, n1 = n0 + FWD_ROWS < N ? n0 + FWD_ROWS : N;
            rows_q_one(w->type, y, xp, xs, w->data, w->row_bytes, K, n0, n1, N);
            if (bias)
                for (int64_t n = n0; n < n1; n++) y[n] += bias[n];
        }
        free(xs);
        free(xp);
        return;
    }
#pragma omp parallel for schedule(static) if (N * K * T >= 32768)
    for (int64_t bi = 0; bi < nblk; bi++) {
        int64_t n0 = bi * FWD_ROWS, n1 = n0 + FWD_ROWS < N ? n0 + FWD_ROWS : N;
        for (int64_t t0 = 0; t0 < T; t0 += 4) {
            int tg = T - t0 < 4 ? (int)(T - t0) : 4;
            for (int64_t n = n0; n < n1;) {
                int r4 = n1 - n >= 4;
                rows_table(w->type, r4, tg)(y + t0 * N + n, N, xp + t0 * Kp, Kp, w->data + (size_t)n * w->row_bytes,
                                            w->row_bytes, K);
                n += r4 ? 4 : 1;
            }
        }
        if (bias)
            for (int64_t t = 0; t < T; t++)
                for (int64_t n = n0; n < n1; n++) y[t * N + n] += bias[n];
    }
    free(xp);
}

// ---- backward: dx[t][k] = Σ_n dy[t][n] W[n][k] ----
// Columns [32c, 32c + 64) of TG tokens accumulate over all rows. BF16 chunks
// come as (evens, odds) and are put back in order when stored.
AI void cols_kernel(dtype t, int TG, float *dx, int64_t K, const float *dy, int64_t N, const uint8_t *w,
                    size_t row_bytes, int64_t c, int nch, int accumulate) {
    __m512 acc[4][4];
#pragma GCC unroll 16
    for (int j = 0; j < TG; j++)
#pragma GCC unroll 16
        for (int i = 0; i < 4; i++) acc[j][i] = _mm512_setzero_ps();
    for (int64_t n = 0; n < N; n++) {
        const uint8_t *row = w + (size_t)n * row_bytes;
        __m512 wv[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        wchunk(t, row, c, K, &wv[0], &wv[1]);
        if (nch > 1) wchunk(t, row, c + 1, K, &wv[2], &wv[3]);
#pragma GCC unroll 16
        for (int j = 0; j < TG; j++) {
            __m512 g = _mm512_set1_ps(dy[j * N + n]);
#pragma GCC unroll 16
            for (int i = 0; i < 2 * nch; i++) acc[j][i] = _mm512_fmadd_ps(g, wv[i], acc[j][i]);
        }
    }
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
#pragma GCC unroll 16
    for (int j = 0; j < TG; j++) {
        float *d = dx + j * K + 32 * c;
#pragma GCC unroll 16
        for (int h = 0; h < nch; h++) {
            __m512 a = acc[j][2 * h], b = acc[j][2 * h + 1];
            if (t == DTYPE_BF16) {
                __m512 e = _mm512_permutex2var_ps(a, lo, b), o = _mm512_permutex2var_ps(a, hi, b);
                a = e, b = o;
            }
            int64_t left = K - 32 * (c + h);
            __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            if (accumulate) {
                a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m0, d + 32 * h));
                b = _mm512_add_ps(b, _mm512_maskz_loadu_ps(m1, d + 32 * h + 16));
            }
            _mm512_mask_storeu_ps(d + 32 * h, m0, a);
            _mm512_mask_storeu_ps(d + 32 * h + 16, m1, b);
        }
    }
}

typedef void (*cols_fn)(float *dx, int64_t K, const float *dy, int64_t N, const uint8_t *w, size_t rb, int64_t c,
                        int nch, int accumulate);
#define COLS_FN(T, TG)                                                                             \
    static void cols_##T##_##TG(float *dx, int64_t K, const float *dy, int64_t N, const uint8_t *w, \
                                size_t rb, int64_t c, int nch, int acc) {                          \
        cols_kernel(DTYPE_##T, TG, dx, K, dy, N, w, rb, c, nch, acc);                              \
    }
#define COLS_FNS(T) COLS_FN(T, 1) COLS_FN(T, 2) COLS_FN(T, 3) COLS_FN(T, 4)
COLS_FNS(F32)
COLS_FNS(F16)
COLS_FNS(BF16)
COLS_FNS(Q8_0)
COLS_FNS(Q4_0)
COLS_FNS(Q4_1)
COLS_FNS(Q4_K)
COLS_FNS(Q6_K)
#define COLS_ROW(T) {cols_##T##_1, cols_##T##_2, cols_##T##_3, cols_##T##_4}

static cols_fn cols_table(dtype t, int tg) {
    static const cols_fn tab[][4] = {
        [DTYPE_F32] = COLS_ROW(F32),   [DTYPE_F16] = COLS_ROW(F16),   [DTYPE_BF16] = COLS_ROW(BF16),
        [DTYPE_Q8_0] = COLS_ROW(Q8_0), [DTYPE_Q4_0] = COLS_ROW(Q4_0), [DTYPE_Q4_1] = COLS_ROW(Q4_1),
        [DTYPE_Q4_K] = COLS_ROW(Q4_K), [DTYPE_Q6_K] = COLS_ROW(Q6_K),
    };
    return tab[t][tg - 1];
}

void matmul_avx512_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    int64_t K = w->in, N = w->out;
    int64_t nchunk = (K + 31) / 32, npair = (nchunk + 1) / 2;
#pragma omp parallel for schedule(static) collapse(2) if (N * K * T >= 32768)
    for (int64_t p = 0; p < npair; p++)
        for (int64_t t0 = 0; t0 < T; t0 += 4) {
            int tg = T - t0 < 4 ? (int)(T - t0) : 4;
            int nch = 2 * p + 1 < nchunk ? 2 : 1;
            cols_table(w->type, tg)(dx + t0 * K, K, dy + t0 * N, N, w->data, w->row_bytes, 2 * p, nch, accumulate);
        }
}

const int kernel_avx512_built = 1;

#include "simd_target_end.h"
#else
const int kernel_avx512_built = 0;
#include <stdlib.h>
void matmul_avx512_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    (void)y, (void)x, (void)w, (void)bias, (void)T;
    abort();
}
void matmul_avx512_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    (void)dx, (void)dy, (void)w, (void)T, (void)accumulate;
    abort();
}
void dequant_avx512(dtype t, const uint8_t *src, float *dst, int64_t n) {
    (void)t, (void)src, (void)dst, (void)n;
    abort();
}
#endif
