// quant.c — reference (de)quantization of the GGUF block formats lorac reads.
//
// Each block type follows ggml's reference C (ggml-quants.c dequantize_row_*,
// quantize_row_q8_0_ref) with the same float operations in the same order, so
// results are bit-exact with ggml and gguf-py (checked against gguf-py goldens
// in tests/test_quant.c). Blocks are decoded one at a time from raw bytes
// (little-endian, no alignment assumed): callers dequantize a row or a tile,
// never a whole model.
//
// Bit-exactness wants every multiply and add rounded separately, as numpy
// does. For these formats the products before an add (f16 scale x small
// integer) are exact, so a fused multiply-add could not change a bit today;
// contraction is still switched off so the reference never depends on that.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "quant.h"

#include <math.h>
#include <string.h>

#include "../core/core.h"

#define QK 32   // values per Q8_0 / Q4_0 / Q4_1 block
#define QK_K 256 // values per K-quant super-block

static float f16_at(const uint8_t *p) { return f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

static void put_f16(uint8_t *p, float f) {
    uint16_t h = f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

// ---- plain float types ----
static void dequant_f32(const uint8_t *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }

static void dequant_f16(const uint8_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = f16_at(x + 2 * i);
}

static void dequant_bf16(const uint8_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = bf16_to_f32((uint16_t)(x[2 * i] | (x[2 * i + 1] << 8)));
}

// ---- 32-value blocks ----
// Q8_0 (34 bytes): f16 d, int8 qs[32].      y[j] = qs[j]*d
static void dequant_q8_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 34, y += QK) {
        const float d = f16_at(x);
        const int8_t *qs = (const int8_t *)(x + 2);
        for (int j = 0; j < QK; j++) y[j] = qs[j] * d;
    }
}

// Q4_0 (18 bytes): f16 d, qs[16]; value j in the low nibble of qs[j], value
// j+16 in the high nibble.                  y = (nibble - 8)*d
static void dequant_q4_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 18, y += QK) {
        const float d = f16_at(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < QK / 2; j++) {
            const int x0 = (qs[j] & 0x0F) - 8;
            const int x1 = (qs[j] >> 4) - 8;
            y[j] = x0 * d;
            y[j + QK / 2] = x1 * d;
        }
    }
}

// Q4_1 (20 bytes): f16 d, f16 m, qs[16] as Q4_0.   y = nibble*d + m
static void dequant_q4_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 20, y += QK) {
        const float d = f16_at(x);
        const float m = f16_at(x + 2);
        const uint8_t *qs = x + 4;
        for (int j = 0; j < QK / 2; j++) {
            const int x0 = qs[j] & 0x0F;
            const int x1 = qs[j] >> 4;
            y[j] = x0 * d + m;
            y[j + QK / 2] = x1 * d + m;
        }
    }
}

// ---- 256-value K-quant super-blocks ----
// Q4_K scale/min j (0..7) of the 12 packed bytes: 6 bits each. j < 4: low six
// bits of bytes j (scale) and j+4 (min); j >= 4: a nibble of byte j+4 plus the
// top two bits of bytes j-4 (scale) and j (min).
static void q4_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K (144 bytes): f16 d, f16 dmin, scales[12], qs[128]. Each 64 values use 32
// bytes of qs: low nibbles with sub-block 2k, high nibbles with sub-block 2k+1.
//                                           y = (d*sc)*nibble - dmin*m
static void dequant_q4_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 144) {
        const float d = f16_at(x);
        const float min = f16_at(x + 2);
        const uint8_t *scales = x + 4, *q = x + 16;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            q4_k_scale_min(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            q4_k_scale_min(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

// Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16]
// (one per 16 values), f16 d. Per 128 values: 64 ql, 32 qh, 8 scales.
//                                           y = (d*scale)*(q6 - 32)
static void dequant_q6_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 210) {
        const float d = f16_at(x + 208);
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

// ---- public: dequantize ----
static int check_count(const char *fn, dtype t, int64_t n) {
    int b = dtype_block_size(t);
    if (n < 0 || n % b)
        return err_set("%s: %lld %s values is not a multiple of the block size %d", fn, (long long)n,
                       dtype_name(t), b);
    return 0;
}

int dequantize_row(dtype t, const void *src, float *dst, int64_t n) {
    if ((unsigned)t >= DTYPE_COUNT) return err_set("dequantize_row: bad type %d", (int)t);
    if (check_count("dequantize_row", t, n)) return -1;
    const uint8_t *x = src;
    int64_t nb = n / dtype_block_size(t);
    switch (t) {
    case DTYPE_F32: dequant_f32(x, dst, n); return 0;
    case DTYPE_F16: dequant_f16(x, dst, n); return 0;
    case DTYPE_BF16: dequant_bf16(x, dst, n); return 0;
    case DTYPE_Q8_0: dequant_q8_0(x, dst, nb); return 0;
    case DTYPE_Q4_0: dequant_q4_0(x, dst, nb); return 0;
    case DTYPE_Q4_1: dequant_q4_1(x, dst, nb); return 0;
    case DTYPE_Q4_K: dequant_q4_k(x, dst, nb); return 0;
    case DTYPE_Q6_K: dequant_q6_k(x, dst, nb); return 0;
    default: return err_set("dequantize_row: %s has no float dequantization", dtype_name(t));
    }
}

// ---- quantize ----
// Q8_0, ggml's quantize_row_q8_0_ref: d = amax/127 (stored as f16),
// q = roundf(x/d) computed as x*(1/d), rounding halves away from zero.
static void quant_q8_0(const float *x, uint8_t *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, y += 34) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]); // ggml's MAX
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        put_f16(y, d);
        for (int j = 0; j < QK; j++) y[2 + j] = (uint8_t)(int8_t)(int)roundf(x[j] * id);
    }
}

int quantize_row(dtype t, const float *src, void *dst, int64_t n) {
    if ((unsigned)t >= DTYPE_COUNT) return err_set("quantize_row: bad type %d", (int)t);
    if (check_count("quantize_row", t, n)) return -1;
    uint8_t *y = dst;
    switch (t) {
    case DTYPE_F32: memcpy(y, src, (size_t)n * 4); return 0;
    case DTYPE_F16:
        for (int64_t i = 0; i < n; i++) put_f16(y + 2 * i, src[i]);
        return 0;
    case DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = f32_to_bf16(src[i]);
            y[2 * i] = (uint8_t)h;
            y[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    case DTYPE_Q8_0: quant_q8_0(src, y, n / QK); return 0;
    default: return err_set("quantize_row: lorac cannot quantize to %s (it writes F32, F16, BF16 "
                            "and Q8_0)", dtype_name(t));
    }
}
