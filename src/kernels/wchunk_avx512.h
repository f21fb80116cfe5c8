// wchunk_avx512.h — 32 weights of any supported type as two fp32 vectors,
// exactly as dequantize_row gives them. Shared by the AVX-512 and AMX matmul
// files; include after their target pragma (and with fp contraction off, so
// a dequantization never fuses a multiply and an add that the reference
// rounds separately).
#ifndef LORAC_WCHUNK_AVX512_H
#define LORAC_WCHUNK_AVX512_H

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../core/tensor.h"

#define AI static inline __attribute__((always_inline))

// ---- scalars in blocks ----
AI float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AI __m512i u8x16i(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }

// Q4_K scale and min of sub-block j (see quant.c).
AI void q4k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// ---- one chunk of 32 weights as two fp32 vectors ----
// Chunk c of a row covers values [32c, 32c + 32); K is the row length (only
// the plain types can end inside a chunk; the rest is zero). BF16 gives
// (evens, odds); every other type (values 0..15, 16..31).
AI void wchunk(dtype t, const uint8_t *row, int64_t c, int64_t K, __m512 *a, __m512 *b) {
    switch (t) {
    case DTYPE_F32: {
        const float *p = (const float *)row + 32 * c;
        int64_t left = K - 32 * c;
        if (left >= 32) {
            *a = _mm512_loadu_ps(p);
            *b = _mm512_loadu_ps(p + 16);
        } else {
            __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            *a = _mm512_maskz_loadu_ps(m0, p);
            *b = _mm512_maskz_loadu_ps(m1, p + 16);
        }
        return;
    }
    case DTYPE_F16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        int64_t left = K - 32 * c;
        if (left >= 32) {
            *a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            *b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 16)));
        } else {
            __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 m1 = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            *a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, p));
            *b = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, p + 16));
        }
        return;
    }
    case DTYPE_BF16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        int64_t left = K - 32 * c;
        __m512i v = left >= 32 ? _mm512_loadu_si512(p)
                               : _mm512_maskz_loadu_epi16((__mmask32)((1ull << left) - 1), p);
        *a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        *b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
        return;
    }
    case DTYPE_Q8_0: {
        const uint8_t *blk = row + 34 * c;
        __m512 d = _mm512_set1_ps(half_at(blk));
        *a = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)))), d);
        *b = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)))), d);
        return;
    }
    case DTYPE_Q4_0: {
        const uint8_t *blk = row + 18 * c;
        __m512 d = _mm512_set1_ps(half_at(blk));
        __m512i q = u8x16i(blk + 2), eight = _mm512_set1_epi32(8);
        __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight);
        __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        *a = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d);
        *b = _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d);
        return;
    }
    case DTYPE_Q4_1: {
        const uint8_t *blk = row + 20 * c;
        __m512 d = _mm512_set1_ps(half_at(blk)), m = _mm512_set1_ps(half_at(blk + 2));
        __m512i q = u8x16i(blk + 4);
        __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(15)));
        __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(q, 4));
        *a = _mm512_add_ps(_mm512_mul_ps(lo, d), m);
        *b = _mm512_add_ps(_mm512_mul_ps(hi, d), m);
        return;
    }
    case DTYPE_Q4_K: {
        const uint8_t *sb = row + 144 * (c / 8);
        int j = (int)(c % 8), sc, mn;
        q4k_scale_min(j, sb + 4, &sc, &mn);
        __m512 d1 = _mm512_set1_ps(half_at(sb) * (float)sc), m1 = _mm512_set1_ps(half_at(sb + 2) * (float)mn);
        const uint8_t *q = sb + 16 + 32 * (j / 2);
        __m512i q0 = u8x16i(q), q1 = u8x16i(q + 16);
        if (j & 1) {
            q0 = _mm512_srli_epi32(q0, 4);
            q1 = _mm512_srli_epi32(q1, 4);
        } else {
            q0 = _mm512_and_si512(q0, _mm512_set1_epi32(15));
            q1 = _mm512_and_si512(q1, _mm512_set1_epi32(15));
        }
        *a = _mm512_sub_ps(_mm512_mul_ps(d1, _mm512_cvtepi32_ps(q0)), m1);
        *b = _mm512_sub_ps(_mm512_mul_ps(d1, _mm512_cvtepi32_ps(q1)), m1);
        return;
    }
    case DTYPE_Q6_K: {
        const uint8_t *sb = row + 210 * (c / 8);
        int j = (int)(c % 8), h = j / 4, qq = j % 4;
        const uint8_t *ql = sb + 64 * h + 32 * (qq & 1), *qh = sb + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(sb + 192) + 8 * h + 2 * qq;
        float d = half_at(sb + 208);
        __m512i l0 = u8x16i(ql), l1 = u8x16i(ql + 16);
        if (qq >= 2) {
            l0 = _mm512_srli_epi32(l0, 4);
            l1 = _mm512_srli_epi32(l1, 4);
        } else {
            l0 = _mm512_and_si512(l0, _mm512_set1_epi32(15));
            l1 = _mm512_and_si512(l1, _mm512_set1_epi32(15));
        }
        __m512i three = _mm512_set1_epi32(3), k32 = _mm512_set1_epi32(32);
        __m512i h0 = _mm512_and_si512(_mm512_srli_epi32(u8x16i(qh), (unsigned)(2 * qq)), three);
        __m512i h1 = _mm512_and_si512(_mm512_srli_epi32(u8x16i(qh + 16), (unsigned)(2 * qq)), three);
        __m512i v0 = _mm512_sub_epi32(_mm512_or_si512(l0, _mm512_slli_epi32(h0, 4)), k32);
        __m512i v1 = _mm512_sub_epi32(_mm512_or_si512(l1, _mm512_slli_epi32(h1, 4)), k32);
        *a = _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[0]), _mm512_cvtepi32_ps(v0));
        *b = _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[1]), _mm512_cvtepi32_ps(v1));
        return;
    }
    default: abort();
    }
}

// The same chunk with BF16's (evens, odds) put back in order: values
// 0..15 in *a, 16..31 in *b for every type.
AI void wchunk_natural(dtype t, const uint8_t *row, int64_t c, int64_t K, __m512 *a, __m512 *b) {
    wchunk(t, row, c, K, a, b);
    if (t == DTYPE_BF16) {
        __m512i ia = _mm512_castps_si512(*a), ib = _mm512_castps_si512(*b);
        const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        *a = _mm512_castsi512_ps(_mm512_permutex2var_epi32(ia, lo, ib));
        *b = _mm512_castsi512_ps(_mm512_permutex2var_epi32(ia, hi, ib));
    }
}

#endif
