// matmul_amx.c — the many-token matmuls (prefill, training) on AMX tiles,
// faithful to fp32.
//
// An AMX tile product multiplies bf16 pairs exactly and accumulates in fp32.
// To keep fp32 accuracy each fp32 operand is split into bf16 parts,
// v = v0 + v1 + v2 exactly (v0 = bf16(v), v1 = bf16(v - v0), v2 = the rest,
// which fits a bf16 too; each part is within 2^-8 of what is left), and C
// accumulates every product wi·xj with i + j <= 2; the ones left out are
// about 2^-24 of |w·x|, fp32's own rounding. Weights need fewer
// parts when their values are short: BF16 is one part, F16 and Q4_0 two (at
// most 15 significant bits); F32, Q8_0, Q4_1, Q4_K, Q6_K three. So a BF16
// matmul costs 3 tile products per block, F16 5, the rest 6.
// KERNEL_PREC_FAST keeps i + j <= 1 only (two activation parts, at most two
// weight parts): 2 products for BF16, 3 for the rest; each dropped piece is
// ~2^-16 of |w·x|, at most ~3·2^-16 = 4.6e-5 per product.
// KERNEL_PREC_BF16 keeps (0,0) only: both operands rounded to bf16, as
// PyTorch's bf16 autocast computes. On CPUs with AVX-512 BF16 but no AMX the
// same packed operands feed vdpbf16ps register products instead of tiles
// (dot_block): twice the multiply-adds per instruction of fp32 FMA.
//
// Layout (GotoBLAS blocking): A = activations (tokens × reduction), packed per
// chunk of MC tokens and KC reduction values into 16×32 bf16 tiles, three
// parts, shared by the threads. B = the weight, converted per block of 32
// output columns × KC into VNNI tiles (pairs of reduction values side by
// side), per thread (backward packs up to 4 such blocks per call: its rows are
// read across). C = 2×2 tiles of 16×16 fp32 that load from and store to the
// output matrix itself between reduction blocks. Threads split the output
// columns. On this VM both vCPUs share one core's AMX unit: one thread already
// reaches ~95% of the tile peak, the second overlaps packing with products.
//
// forward:  y (T, out) = x (T, in) · Wᵀ — B is W transposed in 32-bit pairs
// backward: dx (T, in) = dy (T, out) · W — B is pairs of W rows interleaved
#include "kernels_internal.h"

#define KERNEL_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,amx-tile,amx-bf16"
#define KERNEL_NEEDS_AMX 1
#include "simd_target.h"
#if KERNEL_SIMD
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "wchunk_avx512.h"

// Blocking: MC tokens × KC reduction values of A (three parts, MC·KC·6 =
// 1.5 MB) stay in L2 while B blocks stream past. C goes back to memory once
// per KC, so KC wants to be large (C traffic dominated at KC = 256); B is
// converted once per MC tokens. Measured best of MC 128-512 × KC 256-2048 on
// the SmolLM2/SmolLM3 shapes for BF16, F16 and Q8_0 alike.
#define MC 256
#define KC 1024
#define NC 32  // output columns per B block: two tiles
#define TILE_ELEMS 512 // bf16 values in one 16×32 tile (1 KB)

// ---- tiles ----
// GCC's tile intrinsics are asm statements that do not tell the compiler
// they read memory: a barrier makes sure what was just written is there.
#define MEMORY_BARRIER() __asm__ volatile("" ::: "memory")

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

// Eight 16-row × 64-byte tiles: 0-3 C, 4-5 A, 6-7 B.
static void tiles_on(void) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
#pragma GCC unroll 16
    for (int i = 0; i < 8; i++) {
        c.rows[i] = 16;
        c.colsb[i] = 64;
    }
    MEMORY_BARRIER();
    _tile_loadconfig(&c);
}

// Parts a weight type needs to be exact (see the header comment).
static int weight_parts(dtype t) {
    switch (t) {
    case DTYPE_BF16: return 1;
    case DTYPE_F16: case DTYPE_Q4_0: return 2;
    default: return 3;
    }
}

// ---- splitting fp32 into bf16 parts ----
static inline __m512 bf16_widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline void split3(__m512 x, __m256i p[3]) {
    __m256i h0 = (__m256i)_mm512_cvtneps_pbh(x);
    __m512 r = _mm512_sub_ps(x, bf16_widen(h0));
    __m256i h1 = (__m256i)_mm512_cvtneps_pbh(r);
    r = _mm512_sub_ps(r, bf16_widen(h1));
    p[0] = h0;
    p[1] = h1;
    p[2] = (__m256i)_mm512_cvtneps_pbh(r);
}

static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __mmask16 mask16(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

// r[i] (16 × 32-bit) becomes column i of the 16×16 matrix whose rows were r.
static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // now r[4i + m], 128-bit lane L = column 4L + m of rows 4i..4i+3; two
    // rounds of 128-bit lane shuffles gather each column's four lanes
#pragma GCC unroll 16
    for (int m = 0; m < 4; m++) {
        t[m] = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x88);
        t[4 + m] = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xdd);
        t[8 + m] = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x88);
        t[12 + m] = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xdd);
    }
#pragma GCC unroll 16
    for (int m = 0; m < 4; m++) {
        r[m] = _mm512_shuffle_i32x4(t[m], t[8 + m], 0x88);
        r[8 + m] = _mm512_shuffle_i32x4(t[m], t[8 + m], 0xdd);
        r[4 + m] = _mm512_shuffle_i32x4(t[4 + m], t[12 + m], 0x88);
        r[12 + m] = _mm512_shuffle_i32x4(t[4 + m], t[12 + m], 0xdd);
    }
}

// ---- A: activations into tiles ----
// Tile (p, tt, ks) of a chunk: part p of rows 16tt..16tt+15, reduction
// values 32ks..32ks+31 of the block; rows past `rows` and values past Kred are 0.
static inline uint16_t *a_tile(uint16_t *Ap, int p, int64_t tt, int64_t ks, int64_t mtp, int64_t nks) {
    return Ap + ((p * mtp + tt) * nks + ks) * TILE_ELEMS;
}

static void pack_a_rows(uint16_t *Ap, const float *a, int64_t lda, int64_t rows, int64_t Kred, int64_t k0, int64_t tt,
                        int64_t mtp, int64_t nks, int xparts) {
    for (int64_t ks = 0; ks < nks; ks++) {
        // only the parts the buffer holds
        uint16_t *d0 = a_tile(Ap, 0, tt, ks, mtp, nks), *d1 = xparts > 1 ? a_tile(Ap, 1, tt, ks, mtp, nks) : NULL,
                 *d2 = xparts > 2 ? a_tile(Ap, 2, tt, ks, mtp, nks) : NULL;
        int64_t k = k0 + 32 * ks, left = Kred - k;
        for (int r = 0; r < 16; r++) {
            int64_t t = 16 * tt + r;
            __m512i o0 = _mm512_setzero_si512(), o1 = o0, o2 = o0;
            if (t < rows) {
                const float *src = a + t * lda + k;
                __m512 v0 = _mm512_maskz_loadu_ps(mask16(left), src), v1 = _mm512_maskz_loadu_ps(mask16(left - 16), src + 16);
                if (xparts == 1) {
                    o0 = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
                } else {
                    __m256i lo[3], hi[3];
                    split3(v0, lo);
                    split3(v1, hi);
                    o0 = join(lo[0], hi[0]);
                    o1 = join(lo[1], hi[1]);
                    o2 = join(lo[2], hi[2]);
                }
            }
            _mm512_store_si512(d0 + 32 * r, o0);
            if (xparts > 1) _mm512_store_si512(d1 + 32 * r, o1);
            if (xparts > 2) _mm512_store_si512(d2 + 32 * r, o2);
        }
    }
}

// ---- B: weights into VNNI tiles ----
// Tile (p, nt, ks): part p, output columns 16nt..16nt+15 of the block,
// reduction pairs; row kp holds 16 (even, odd) bf16 pairs, one per column.
static inline uint16_t *b_tile(uint16_t *Bp, int p, int nt, int64_t ks, int64_t nks) {
    return Bp + ((p * 2 + nt) * nks + ks) * TILE_ELEMS;
}

// Forward: columns are W rows n0..n0+31, the reduction runs along them.
// Each W row segment is split into parts (row-major, `scratch`), then 16×16
// blocks of 32-bit pairs are transposed into tiles. BF16 is transposed
// straight from the weight.
static void pack_b_forward_one(uint16_t *Bp, const weight_info *w, int64_t n0, int64_t k0, int64_t nks, int P,
                               uint16_t *scratch) {
    int64_t K = w->in, N = w->out, ld = 32 * nks; // scratch row length (u16)
    if (w->type != DTYPE_BF16) {
        for (int i = 0; i < NC; i++) {
            int64_t n = n0 + i;
            const uint8_t *row = w->data + (size_t)n * w->row_bytes;
            for (int64_t ks = 0; ks < nks; ks++) {
                __m512i o[3] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
                if (n < N && k0 + 32 * ks < K) {
                    __m512 a, b;
                    __m256i lo[3], hi[3];
                    wchunk_natural(w->type, row, k0 / 32 + ks, K, &a, &b);
                    split3(a, lo);
                    split3(b, hi);
#pragma GCC unroll 16
                    for (int p = 0; p < P; p++) o[p] = join(lo[p], hi[p]);
                }
#pragma GCC unroll 16
                for (int p = 0; p < P; p++) _mm512_storeu_si512(scratch + (p * NC + i) * ld + 32 * ks, o[p]);
            }
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 16
        for (int nt = 0; nt < 2; nt++)
            for (int64_t ks = 0; ks < nks; ks++) {
                __m512i r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) {
                    int64_t n = n0 + 16 * nt + i;
                    if (w->type == DTYPE_BF16) {
                        int64_t k = k0 + 32 * ks, left = K - k;
                        const uint16_t *src = (const uint16_t *)(w->data + (size_t)n * w->row_bytes) + k;
                        r[i] = n >= N || left <= 0 ? _mm512_setzero_si512()
                               : left >= 32        ? _mm512_loadu_si512(src)
                                                   : _mm512_maskz_loadu_epi16((__mmask32)((1ull << left) - 1), src);
                    } else r[i] = _mm512_loadu_si512(scratch + (p * NC + 16 * nt + i) * ld + 32 * ks);
                }
                transpose16(r);
                uint16_t *dst = b_tile(Bp, p, nt, ks, nks);
#pragma GCC unroll 16
                for (int kp = 0; kp < 16; kp++) _mm512_store_si512(dst + 32 * kp, r[kp]);
            }
}

// Bytes of 32 values (a K-quant super-block holds 8 groups of 32).
static inline size_t bytes_per_32(dtype t) {
    return t == DTYPE_Q4_K || t == DTYPE_Q6_K ? dtype_block_bytes(t) / 8 : dtype_row_bytes(t, 32);
}

static void pack_b_forward(uint16_t *Bp, const weight_info *w, int64_t n0, int G, int64_t k0, int64_t nks, int P,
                           uint16_t *scratch) {
    for (int g = 0; g < G; g++)
        pack_b_forward_one(Bp + (size_t)(g * P * 2 * nks) * TILE_ELEMS, w, n0 + NC * g, k0, nks, P, scratch);
}

// Backward: columns are W columns c0..c0+32·G-1 (G blocks of 32, block g at
// Bp + g·sub), the reduction runs down W's rows r0..r0+32·nks-1. Row pairs
// (2kp, 2kp+1) are interleaved value by value. Each row is read as one run of
// 32·G values: rows are far apart, so short reads per row would be
// latency-bound.
static void pack_b_backward(uint16_t *Bp, const weight_info *w, int64_t c0, int G, int64_t r0, int64_t nks, int P,
                            uint16_t *scratch) {
    (void)scratch;
    int64_t K = w->in, N = w->out;
    size_t sub = (size_t)(P * 2 * nks) * TILE_ELEMS;
    size_t colbytes = bytes_per_32(w->type) * (size_t)G;
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t ks = 0; ks < nks; ks++)
        for (int kp = 0; kp < 16; kp++) {
            int64_t n = r0 + 32 * ks + 2 * kp;
            for (int e = 0; e < 2; e++) // fetch ahead: 16 rows on
                if (n + e + 16 < N) {
                    const char *ahead = (const char *)(w->data + (size_t)(n + e + 16) * w->row_bytes) +
                                        (size_t)(c0 / 32) * bytes_per_32(w->type);
                    for (size_t o = 0; o < colbytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
                }
            for (int g = 0; g < G; g++) {
                int64_t c = c0 + 32 * g;
                __m256i part[2][3][2]; // [row of the pair][part][columns 0-15, 16-31]
#pragma GCC unroll 2
                for (int e = 0; e < 2; e++) {
                    const uint8_t *row = w->data + (size_t)(n + e) * w->row_bytes;
#pragma GCC unroll 3
                    for (int p = 0; p < 3; p++) part[e][p][0] = part[e][p][1] = _mm256_setzero_si256();
                    if (n + e >= N || c >= K) continue;
                    if (w->type == DTYPE_BF16) {
                        const uint16_t *src = (const uint16_t *)row + c;
                        part[e][0][0] = _mm256_maskz_loadu_epi16(mask16(K - c), src);
                        part[e][0][1] = _mm256_maskz_loadu_epi16(mask16(K - c - 16), src + 16);
                    } else {
                        __m512 a, b;
                        wchunk_natural(w->type, row, c / 32, K, &a, &b);
                        __m256i lo[3], hi[3];
                        split3(a, lo);
                        split3(b, hi);
#pragma GCC unroll 3
                        for (int p = 0; p < P; p++) {
                            part[e][p][0] = lo[p];
                            part[e][p][1] = hi[p];
                        }
                    }
                }
#pragma GCC unroll 3
                for (int p = 0; p < P; p++) {
                    uint16_t *bp = Bp + g * sub;
                    _mm512_store_si512(b_tile(bp, p, 0, ks, nks) + 32 * kp,
                                       _mm512_permutexvar_epi16(ilv, join(part[0][p][0], part[1][p][0])));
                    _mm512_store_si512(b_tile(bp, p, 1, ks, nks) + 32 * kp,
                                       _mm512_permutexvar_epi16(ilv, join(part[0][p][1], part[1][p][1])));
                }
            }
        }
}

typedef void (*pack_b_fn)(uint16_t *Bp, const weight_info *w, int64_t col0, int G, int64_t red0, int64_t nks,
                          int P, uint16_t *scratch);

// B blocks packed per call: backward reads G·64 contiguous bytes per weight
// row (one line per row is latency-bound); G small enough that each thread
// still gets several groups. Forward packs one.
static int b_blocks_per_pack(pack_b_fn pack_b, int64_t nnb) {
    int G = pack_b == pack_b_backward ? (int)(nnb / (4 * omp_get_max_threads())) : 1;
    return G < 1 ? 1 : G > 4 ? 4 : G;
}

// ---- C: the output, 2×2 tiles ----
typedef struct {
    float *c;       // (M, ldc) output
    int64_t ldc, M, N;
    const float *bias; // (N) or NULL: C starts from it
    float *tmp;        // 16×16 scratch for edge tiles
} c_desc;

// Load tile `reg` for rows m..m+15, columns n..n+15: from C (from > 0), from
// the bias (from < 0), or zero (from == 0, no bias).
#define C_LOAD(reg, cd, m, n, from)                                                                            \
    do {                                                                                                       \
        int64_t vr_ = (cd)->M - (m), vc_ = (cd)->N - (n);                                                      \
        if ((from) > 0 && vr_ >= 16 && vc_ >= 16) {                                                            \
            _tile_loadd(reg, (cd)->c + (m) * (cd)->ldc + (n), (cd)->ldc * 4);                                  \
        } else if ((from) == 0 && !(cd)->bias) {                                                               \
            _tile_zero(reg);                                                                                   \
        } else {                                                                                               \
            __mmask16 cm_ = mask16(vc_);                                                                       \
            for (int r_ = 0; r_ < 16; r_++) {                                                                  \
                __m512 v_ = _mm512_setzero_ps();                                                               \
                if (r_ < vr_)                                                                                  \
                    v_ = (from) > 0 ? _mm512_maskz_loadu_ps(cm_, (cd)->c + ((m) + r_) * (cd)->ldc + (n))       \
                                    : _mm512_maskz_loadu_ps(cm_, (cd)->bias + (n));                            \
                _mm512_store_ps((cd)->tmp + 16 * r_, v_);                                                      \
            }                                                                                                  \
            MEMORY_BARRIER();                                                                                  \
            _tile_loadd(reg, (cd)->tmp, 64);                                                                   \
        }                                                                                                      \
    } while (0)

#define C_STORE(reg, cd, m, n)                                                                                 \
    do {                                                                                                       \
        int64_t vr_ = (cd)->M - (m), vc_ = (cd)->N - (n);                                                      \
        if (vr_ >= 16 && vc_ >= 16) {                                                                          \
            _tile_stored(reg, (cd)->c + (m) * (cd)->ldc + (n), (cd)->ldc * 4);                                 \
        } else if (vr_ > 0 && vc_ > 0) {                                                                       \
            _tile_stored(reg, (cd)->tmp, 64);                                                                  \
            __mmask16 cm_ = mask16(vc_);                                                                       \
            for (int r_ = 0; r_ < 16 && r_ < vr_; r_++)                                                        \
                _mm512_mask_storeu_ps((cd)->c + ((m) + r_) * (cd)->ldc + (n), cm_,                             \
                                      _mm512_load_ps((cd)->tmp + 16 * r_));                                    \
        }                                                                                                      \
    } while (0)

// ---- the block product ----
// C tiles 0-3 (rows 2 tiles × columns 2 tiles) += Σ parts over nks steps.
// Tile registers are not renamed: a load into a tile waits for the products
// reading it. So every part change reloads one tile while the products on the
// other run (R0/R1: the products of row tile 0/1, C0/C1: of column tile 0/1).
// Pairs (weight part i, activation part j) with i + j <= 2, ordered so each
// step changes one side only; small terms go first.
static void block_product(const uint16_t *Ap, const uint16_t *Bp, int64_t tp, int64_t mtp, int64_t nks, int P,
                          int xparts) {
#define LA0(p) _tile_loadd(4, Ap + (((p) * mtp + 2 * tp) * nks + ks) * TILE_ELEMS, 64)
#define LA1(p) _tile_loadd(5, Ap + (((p) * mtp + 2 * tp + 1) * nks + ks) * TILE_ELEMS, 64)
#define LB0(p) _tile_loadd(6, Bp + (((p) * 2 + 0) * nks + ks) * TILE_ELEMS, 64)
#define LB1(p) _tile_loadd(7, Bp + (((p) * 2 + 1) * nks + ks) * TILE_ELEMS, 64)
#define R0 _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7)
#define R1 _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7)
#define C0 _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(2, 5, 6)
#define C1 _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(3, 5, 7)
    if (xparts == 1) { // KERNEL_PREC_BF16: (0,0), one part each
        for (int64_t ks = 0; ks < nks; ks++) {
            LB0(0); LB1(0); LA0(0); LA1(0);
            R0; R1;
        }
        return;
    }
    if (xparts == 2) { // KERNEL_PREC_FAST: i + j <= 1
        if (P == 1) // (0,0) (0,1)
            for (int64_t ks = 0; ks < nks; ks++) {
                LB0(0); LB1(0); LA0(0); LA1(0);
                R0; LA0(1); R1; LA1(1);
                R0; R1;
            }
        else // (1,0) (0,0) (0,1)
            for (int64_t ks = 0; ks < nks; ks++) {
                LA0(0); LA1(0); LB0(1); LB1(1);
                C0; LB0(0); C1; LB1(0);
                R0; LA0(1); R1; LA1(1);
                R0; R1;
            }
        return;
    }
    switch (P) {
    case 1: // (0,0) (0,1) (0,2)
        for (int64_t ks = 0; ks < nks; ks++) {
            LB0(0); LB1(0); LA0(0); LA1(0);
            R0; LA0(1); R1; LA1(1);
            R0; LA0(2); R1; LA1(2);
            R0; R1;
        }
        break;
    case 2: // (0,0) (1,0) (1,1) (0,1) (0,2)
        for (int64_t ks = 0; ks < nks; ks++) {
            LA0(0); LA1(0); LB0(0); LB1(0);
            C0; LB0(1); C1; LB1(1);
            R0; LA0(1); R1; LA1(1);
            C0; LB0(0); C1; LB1(0);
            R0; LA0(2); R1; LA1(2);
            R0; R1;
        }
        break;
    default: // (2,0) (1,0) (1,1) (0,1) (0,0) (0,2)
        for (int64_t ks = 0; ks < nks; ks++) {
            LA0(0); LA1(0); LB0(2); LB1(2);
            C0; LB0(1); C1; LB1(1);
            R0; LA0(1); R1; LA1(1);
            C0; LB0(0); C1; LB1(0);
            R0; LA0(0); R1; LA1(0);
            R0; LA0(2); R1; LA1(2);
            R0; R1;
        }
        break;
    }
#undef LA0
#undef LA1
#undef LB0
#undef LB1
#undef R0
#undef R1
#undef C0
#undef C1
}

// ---- the block product on AVX-512 BF16 registers (no AMX) ----
// The same packed A and B, one part each (KERNEL_PREC_BF16): rows m..m+7 ×
// the 32 columns of a B block in 16 accumulators. Per reduction pair, two
// B rows (16 columns × one pair each) and eight broadcast A pairs make 16
// vdpbf16ps. C is read once and written once per reduction block.
#define DOT_ROWS 8

// A holds the whole reduction (nks_a 32-value steps); this block's run
// starts at step ks0 and takes nks.
static void dot_block(const uint16_t *Ap, const uint16_t *Bp, int64_t m, int64_t mtp, int64_t nks_a, int64_t ks0,
                      int64_t nks, const c_desc *cd, int64_t n, int from) {
    int64_t tt = m / 16, r0 = m % 16, vr = cd->M - m;
    __mmask16 cm0 = mask16(cd->N - n), cm1 = mask16(cd->N - n - 16);
    __m512 acc[DOT_ROWS][2];
#pragma GCC unroll 8
    for (int i = 0; i < DOT_ROWS; i++) {
        __m512 c0 = _mm512_setzero_ps(), c1 = c0;
        if (i < vr) {
            if (from > 0) {
                const float *src = cd->c + (m + i) * cd->ldc + n;
                c0 = _mm512_maskz_loadu_ps(cm0, src);
                c1 = _mm512_maskz_loadu_ps(cm1, src + 16);
            } else if (cd->bias) {
                c0 = _mm512_maskz_loadu_ps(cm0, cd->bias + n);
                c1 = _mm512_maskz_loadu_ps(cm1, cd->bias + n + 16);
            }
        }
        acc[i][0] = c0;
        acc[i][1] = c1;
    }
    for (int64_t ks = 0; ks < nks; ks++) {
        const uint16_t *a = a_tile((uint16_t *)Ap, 0, tt, ks0 + ks, mtp, nks_a) + 32 * r0;
        const uint16_t *b0 = b_tile((uint16_t *)Bp, 0, 0, ks, nks), *b1 = b_tile((uint16_t *)Bp, 0, 1, ks, nks);
#pragma GCC unroll 4
        for (int kp = 0; kp < 16; kp++) {
            __m512bh w0 = (__m512bh)_mm512_load_si512(b0 + 32 * kp), w1 = (__m512bh)_mm512_load_si512(b1 + 32 * kp);
#pragma GCC unroll 8
            for (int i = 0; i < DOT_ROWS; i++) {
                uint32_t pair;
                memcpy(&pair, a + 32 * i + 2 * kp, sizeof pair);
                __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], x, w0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], x, w1);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < DOT_ROWS; i++)
        if (i < vr) {
            float *dst = cd->c + (m + i) * cd->ldc + n;
            _mm512_mask_storeu_ps(dst, cm0, acc[i][0]);
            _mm512_mask_storeu_ps(dst + 16, cm1, acc[i][1]);
        }
}

// KERNEL_PREC_BF16 without AMX: C (M, N) (+)= A (M, Kred) · B on registers.
// All of A is packed first (one part, M × Kred bf16), then each thread takes
// whole groups of B columns and runs down the reduction in blocks of DOT_KC
// (a 16 KB B block stays in L1) over every row of A: one barrier per call,
// and each weight panel is converted once.
#define DOT_KC 256

static void dot_gemm(float *c, const float *a, int64_t M, int64_t N, int64_t Kred, const weight_info *w,
                     pack_b_fn pack_b, const float *bias, int accumulate) {
    int64_t nks_a = (Kred + 31) / 32, mtp = (M + 31) / 32 * 2, nks_max = (Kred < DOT_KC ? nks_a : DOT_KC / 32);
    int64_t nnb = (N + NC - 1) / NC;
    int G = b_blocks_per_pack(pack_b, nnb);
    int64_t ngroups = (nnb + G - 1) / G;
    uint16_t *Ap = xmalloc_aligned(64, (size_t)(mtp * nks_a * TILE_ELEMS) * sizeof *Ap);
#pragma omp parallel
    {
        uint16_t *Bp = xmalloc_aligned(64, (size_t)(G * 2 * nks_max * TILE_ELEMS) * sizeof *Bp);
        uint16_t *scratch = xmalloc_aligned(64, (size_t)(NC * 32 * nks_max) * sizeof *scratch);
#pragma omp for schedule(static)
        for (int64_t tt = 0; tt < mtp; tt++) pack_a_rows(Ap, a, Kred, M, Kred, 0, tt, mtp, nks_a, 1);
        c_desc cd = {.c = c, .ldc = N, .M = M, .N = N, .bias = NULL, .tmp = NULL};
#pragma omp for schedule(static)
        for (int64_t gi = 0; gi < ngroups; gi++) {
            int gn = nnb - gi * G < G ? (int)(nnb - gi * G) : G;
            for (int64_t k0 = 0; k0 < Kred; k0 += DOT_KC) {
                int64_t nks = ((Kred - k0 < DOT_KC ? Kred - k0 : DOT_KC) + 31) / 32;
                int from = k0 > 0 || accumulate; // C starts from itself, else from bias or zero
                cd.bias = from ? NULL : bias;
                pack_b(Bp, w, gi * G * NC, gn, k0, nks, 1, scratch);
                for (int g = 0; g < gn; g++) {
                    int64_t n = (gi * G + g) * NC;
                    const uint16_t *Bg = Bp + (size_t)(g * 2 * nks) * TILE_ELEMS;
                    for (int64_t m = 0; m < M; m += DOT_ROWS) dot_block(Ap, Bg, m, mtp, nks_a, k0 / 32, nks, &cd, n, from);
                }
            }
        }
        free(Bp);
        free(scratch);
    }
    free(Ap);
}

// C (M, N) (+)= A (M, Kred) · B, B given by its packer over the weight, in
// blocks of mc rows × kc reduction values of A shared by the threads: on AMX
// tiles (amx = 1), or on AVX-512 BF16 registers (amx = 0, KERNEL_PREC_BF16
// only) when all of A would not stay in cache (see matmul_bf16dot_*).
static void blocked_gemm(float *c, const float *a, int64_t M, int64_t N, int64_t Kred, const weight_info *w,
                         pack_b_fn pack_b, const float *bias, int accumulate, int amx) {
    kernel_precision prec = kernels_precision();
    int P = weight_parts(w->type), xparts = prec == KERNEL_PREC_FAST ? 2 : prec == KERNEL_PREC_BF16 ? 1 : 3;
    if (xparts == 2 && P > 2) P = 2; // the third weight part only meets products fast mode drops
    if (xparts == 1) P = 1;
    LORAC_ASSERT(amx || xparts == 1);
    // registers: a B block of DOT_KC (16 KB) stays in L1; the A block (up to
    // 1024 rows × DOT_KC, 512 KB) in L2, so B is packed once per 1024 tokens
    int64_t kc = amx ? KC : DOT_KC, mc = amx ? MC : 1024;
    int64_t mtp_max = ((M < mc ? M : mc) + 31) / 32 * 2; // tile rows per chunk, even
    int64_t nks_max = (Kred < kc ? (Kred + 31) / 32 : kc / 32);
    int64_t nnb = (N + NC - 1) / NC;
    int G = b_blocks_per_pack(pack_b, nnb);
    int64_t ngroups = (nnb + G - 1) / G;
    uint16_t *Ap = xmalloc_aligned(64, (size_t)(xparts * mtp_max * nks_max * TILE_ELEMS) * sizeof *Ap);
#pragma omp parallel
    {
        if (amx) tiles_on();
        uint16_t *Bp = xmalloc_aligned(64, (size_t)(G * P * 2 * nks_max * TILE_ELEMS) * sizeof *Bp);
        uint16_t *scratch = xmalloc_aligned(64, (size_t)(P * NC * 32 * nks_max) * sizeof *scratch);
        float *tmp = xmalloc_aligned(64, 256 * sizeof *tmp);
        for (int64_t m0 = 0; m0 < M; m0 += mc) {
            int64_t rows = M - m0 < mc ? M - m0 : mc, mtp = (rows + 31) / 32 * 2;
            c_desc cd = {.c = c + m0 * N, .ldc = N, .M = rows, .N = N, .bias = bias, .tmp = tmp};
            for (int64_t k0 = 0; k0 < Kred; k0 += kc) {
                int64_t nks = ((Kred - k0 < kc ? Kred - k0 : kc) + 31) / 32;
                int from = k0 > 0 || accumulate; // C starts from itself, else from bias or zero
                if (k0 > 0 || accumulate || !bias) cd.bias = NULL;
                else cd.bias = bias;
#pragma omp for schedule(static)
                for (int64_t tt = 0; tt < mtp; tt++) pack_a_rows(Ap, a + m0 * Kred, Kred, rows, Kred, k0, tt, mtp, nks, xparts);
#pragma omp for schedule(static) nowait
                for (int64_t gi = 0; gi < ngroups; gi++) {
                    int gn = nnb - gi * G < G ? (int)(nnb - gi * G) : G;
                    pack_b(Bp, w, gi * G * NC, gn, k0, nks, P, scratch);
                    MEMORY_BARRIER();
                    for (int g = 0; g < gn; g++) {
                        int64_t n = (gi * G + g) * NC;
                        const uint16_t *Bg = Bp + (size_t)(g * P * 2 * nks) * TILE_ELEMS;
                        if (!amx) {
                            for (int64_t m = 0; m < rows; m += DOT_ROWS) dot_block(Ap, Bg, m, mtp, nks, 0, nks, &cd, n, from);
                            continue;
                        }
                        for (int64_t tp = 0; tp < mtp / 2; tp++) {
                            int64_t m = 32 * tp;
                            C_LOAD(0, &cd, m, n, from);
                            C_LOAD(1, &cd, m, n + 16, from);
                            C_LOAD(2, &cd, m + 16, n, from);
                            C_LOAD(3, &cd, m + 16, n + 16, from);
                            block_product(Ap, Bg, tp, mtp, nks, P, xparts);
                            C_STORE(0, &cd, m, n);
                            C_STORE(1, &cd, m, n + 16);
                            C_STORE(2, &cd, m + 16, n);
                            C_STORE(3, &cd, m + 16, n + 16);
                        }
                    }
                }
#pragma omp barrier
            }
        }
        if (amx) _tile_release();
        free(Bp);
        free(scratch);
        free(tmp);
    }
    free(Ap);
}

void matmul_amx_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    blocked_gemm(y, x, T, w->out, w->in, w, pack_b_forward, bias, 0, 1);
}

void matmul_amx_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    blocked_gemm(dx, dy, T, w->in, w->out, w, pack_b_backward, NULL, accumulate, 1);
}

// AVX-512 BF16 registers: all of A packed at once (one barrier a call) while
// it fits in about 2 MB — L2 and the near L3, re-read once per column group —
// else the blocked loop, whose A block stays in L2 at the price of a barrier
// per reduction block. Measured on the SmolLM2/SmolLM3 shapes: the one-barrier
// form wins up to ~1.5 MB of A, the blocked one from ~8 MB (K = 8192, 11008).
#define DOT_WHOLE_A_MAX (2 << 20)

void matmul_bf16dot_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    if (T * w->in * 2 <= DOT_WHOLE_A_MAX) dot_gemm(y, x, T, w->out, w->in, w, pack_b_forward, bias, 0);
    else blocked_gemm(y, x, T, w->out, w->in, w, pack_b_forward, bias, 0, 0);
}

void matmul_bf16dot_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    if (T * w->out * 2 <= DOT_WHOLE_A_MAX) dot_gemm(dx, dy, T, w->in, w->out, w, pack_b_backward, NULL, accumulate);
    else blocked_gemm(dx, dy, T, w->in, w->out, w, pack_b_backward, NULL, accumulate, 0);
}

const int kernel_amx_built = 1;

#include "simd_target_end.h"
#else
const int kernel_amx_built = 0;
#include <stdlib.h>
void matmul_amx_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    (void)y, (void)x, (void)w, (void)bias, (void)T;
    abort();
}
void matmul_amx_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    (void)dx, (void)dy, (void)w, (void)T, (void)accumulate;
    abort();
}
void matmul_bf16dot_forward(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
    (void)y, (void)x, (void)w, (void)bias, (void)T;
    abort();
}
void matmul_bf16dot_backward_input(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    (void)dx, (void)dy, (void)w, (void)T, (void)accumulate;
    abort();
}
#endif
