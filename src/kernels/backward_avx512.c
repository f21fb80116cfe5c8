// backward_avx512.c — AVX-512 versions of the training kernels in backward.c:
// fp32 GEMM, RMSNorm/SiLU backward rows, causal GQA attention backward and
// the log-sum-exp pieces of chunked cross-entropy.
//
// GEMM. Two register-blocked micro-kernels, chosen by shape:
//  - outer product (8 rows × 48 columns, 24 accumulators): per k, 3 vectors of
//    op(B) and 8 broadcasts of op(A). op(A) is packed into 8-row panels,
//    op(B) into 48-column panels (KC × NC blocks) unless only one or two row
//    panels read it, then its rows are used in place (prefetched ahead: they
//    are often pages apart). Tiles go along C's rows (row panel outer, column
//    panel inner: C is touched row by row, which matters when K is small and
//    C's traffic dominates). Threads split the row panels, and the column
//    panels too when there are few rows.
//  - inner product (3 rows × 8 columns of dot products along K, reduced at
//    the end): for op(A) with K contiguous and few columns (N ≤ 64: LoRA's
//    x·A and dy·Bᵀ), where the outer product would waste vector lanes and
//    packing the big operand would cost more than the arithmetic.
// With op(A) transposed and few columns (N ≤ 64: LoRA's xᵀ·dz) the product
// is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by the outer-product kernel, whose rows
// then run along M and read op(A) in place.
// The LoRA shapes are memory-bound (r = 8..64 multiply-adds per element of
// the big operand): these choices make them stream that operand once.
// beta = 0 never reads C (BLAS semantics: NaN in C does not propagate).
//
// Attention backward. One tile = 16 query tokens × the query heads of one kv
// head. Per tile, for all visible keys at once: S = Q·Kᵀ and dP = dO·Vᵀ (keys
// transposed once per call, so a score tile is an outer product), P by an
// exact softmax over the stored row, D = Σ P∘dP, dS = P∘(dP − D)·scale; then
// dQ = dS·K, dV += Pᵀ·dO, dK += dSᵀ·Q. All five products run on one 6 × 64
// register tile (24 accumulators). Per-tile scratch is (rows × T) — never
// T × T. dK/dV go to per-thread partial buffers (tiles are assigned cyclically
// and statically, so the sum order is fixed for a given thread count) that
// are added in thread order at the end.
//
// Compiled for AVX-512 by the pragma below whatever -march says; backward.c
// calls these only when cpu.c found AVX-512.
#include "backward_internal.h"

#define KERNEL_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"
#define KERNEL_NEEDS_AMX 0
#include "simd_target.h"
#if KERNEL_SIMD
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "simd_avx512.h"

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Fewer multiply-adds than this run on one thread (waking a team costs more).
#define GEMM_PAR_MIN (1 << 16)

// ---- GEMM: outer-product kernel ----
#define MR 8           // rows per micro-tile
#define NV 3           // vectors per micro-tile row
#define NR (16 * NV)   // columns per micro-tile
#define KC 256         // depth of a packed block
#define NC (32 * NR)   // columns of a packed block (1536)
#define PF_DIST 16     // rows of an in-place op(B) prefetched ahead (its rows are often pages apart)

// A strided matrix view: element (i, j) at p[i·rs + j·cs].
typedef struct {
    const float *p;
    int64_t rs, cs;
} mview;

// acc = Σ_{k<kc} a[k·MR + i] · b[k·ldb + j] for an 8 × 48 tile, then
// C(i, j) = alpha·acc + beta·C(i, j) for i < mr, j < nr; C(i, j) lives at
// C[i·crs + j·ccs] (crs = 1: the tile is stored transposed).
static void tile_o(float *C, int64_t crs, int64_t ccs, const float *a, const float *b, int64_t ldb, int64_t kc,
                   int64_t mr, int64_t nr, float alpha, float beta) {
    __m512 acc[MR][NV];
    __mmask16 bm[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) bm[v] = tail_mask(nr - 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 bv[NV];
        if (ldb != NR) {
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) _mm_prefetch((const char *)(b + PF_DIST * ldb + 16 * v), _MM_HINT_T0);
        }
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(bm[v], b + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += MR;
        b += ldb;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (ccs == 1) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i >= mr) break;
            float *c = C + i * crs;
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                __m512 r = _mm512_mul_ps(acc[i][v], va);
                if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(bm[v], c + 16 * v), r);
                _mm512_mask_storeu_ps(c + 16 * v, bm[v], r);
            }
        }
    } else {
        float t[MR][NR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++) _mm512_storeu_ps(&t[i][16 * v], _mm512_mul_ps(acc[i][v], va));
        for (int64_t j = 0; j < nr; j++) {
            float *c = C + j * ccs;
            if (beta != 0.0f)
                for (int64_t i = 0; i < mr; i++) c[i * crs] = t[i][j] + beta * c[i * crs];
            else
                for (int64_t i = 0; i < mr; i++) c[i * crs] = t[i][j];
        }
    }
}

// Rows [i0, i0 + MR) × columns [k0, k0 + kc) of a into a panel (k-major, zero
// rows past m).
static void pack_a(float *dst, mview a, int64_t i0, int64_t m, int64_t k0, int64_t kc) {
    int64_t mr = min64(MR, m - i0);
    if (a.rs == 1) {
        for (int64_t k = 0; k < kc; k++) {
            const float *s = a.p + (k0 + k) * a.cs + i0;
            float *d = dst + k * MR;
            int64_t i = 0;
            for (; i < mr; i++) d[i] = s[i];
            for (; i < MR; i++) d[i] = 0.0f;
        }
    } else {
        for (int64_t i = 0; i < MR; i++) {
            if (i < mr) {
                const float *s = a.p + (i0 + i) * a.rs + k0 * a.cs;
                for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = s[k * a.cs];
            } else
                for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = 0.0f;
        }
    }
}

// Rows [k0, k0 + kc) × columns [j0, j0 + NR) of b into a panel (row-major,
// zero columns past n).
static void pack_b(float *dst, mview b, int64_t k0, int64_t kc, int64_t j0, int64_t n) {
    int64_t nr = min64(NR, n - j0);
    if (b.cs == 1) {
        for (int64_t k = 0; k < kc; k++) {
            const float *s = b.p + (k0 + k) * b.rs + j0;
            float *d = dst + k * NR;
            memcpy(d, s, (size_t)nr * sizeof *d);
            for (int64_t j = nr; j < NR; j++) d[j] = 0.0f;
        }
    } else {
        for (int64_t k = 0; k < kc; k++) {
            const float *s = b.p + (k0 + k) * b.rs + j0 * b.cs;
            float *d = dst + k * NR;
            int64_t j = 0;
            for (; j < nr; j++) d[j] = s[j * b.cs];
            for (; j < NR; j++) d[j] = 0.0f;
        }
    }
}

// C(i, j) = alpha · Σ_k a(i, k) b(k, j) + beta · C(i, j), C(i, j) at
// C[i·crs + j·ccs], for i < M, j < N.
static void gemm_outer(float *C, int64_t crs, int64_t ccs, mview a, mview b, int64_t M, int64_t N, int64_t K,
                       float alpha, float beta) {
    int64_t nmp = (M + MR - 1) / MR;
    int direct_b = b.cs == 1 && nmp <= 2; // B read in place: each element is used by at most two row panels
    int nth = omp_get_max_threads();
    float *ap = xmalloc_aligned(64, (size_t)(nmp * MR * KC) * sizeof *ap);
    float *bp = direct_b ? NULL : xmalloc_aligned(64, (size_t)(KC * NC) * sizeof *bp);
#pragma omp parallel num_threads(nth) if (M * N * K >= GEMM_PAR_MIN)
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = min64(NC, N - jc), njr = (nc + NR - 1) / NR;
        // tasks: row-panel blocks × column-panel groups, rows first (C is
        // then written along its rows); columns split too when rows are few
        int64_t nib = min64(nmp, 4 * nth), njg = min64(njr, (4 * nth + nib - 1) / nib);
        int64_t ibs = (nmp + nib - 1) / nib, jgs = (njr + njg - 1) / njg;
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            float be = pc == 0 ? beta : 1.0f;
#pragma omp for schedule(static)
            for (int64_t ip = 0; ip < nmp; ip++) pack_a(ap + ip * MR * kc, a, ip * MR, M, pc, kc);
            if (!direct_b) {
#pragma omp for schedule(static)
                for (int64_t jp = 0; jp < njr; jp++) pack_b(bp + jp * NR * kc, b, pc, kc, jc + jp * NR, N);
            }
#pragma omp for schedule(static)
            for (int64_t t = 0; t < nib * njg; t++) {
                int64_t ib = t / njg, jg = t % njg;
                for (int64_t ip = ib * ibs; ip < min64(nmp, (ib + 1) * ibs); ip++)
                    for (int64_t jp = jg * jgs; jp < min64(njr, (jg + 1) * jgs); jp++) {
                        int64_t i0 = ip * MR, j0 = jc + jp * NR;
                        const float *bpan = direct_b ? b.p + pc * b.rs + j0 : bp + jp * NR * kc;
                        tile_o(C + i0 * crs + j0 * ccs, crs, ccs, ap + ip * MR * kc, bpan, direct_b ? b.rs : NR, kc,
                               min64(MR, M - i0), min64(NR, N - j0), alpha, be);
                    }
            }
        }
    }
    free(ap);
    free(bp);
}

// ---- GEMM: inner-product kernel ----
#define MI 3 // rows per tile
#define NI 8 // columns per tile

// Eight vectors to their eight horizontal sums.
static inline __m256 hsum8(const __m512 v[8]) {
    __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
    __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
    __m512 t2 = _mm512_add_ps(_mm512_unpacklo_ps(v[4], v[5]), _mm512_unpackhi_ps(v[4], v[5]));
    __m512 t3 = _mm512_add_ps(_mm512_unpacklo_ps(v[6], v[7]), _mm512_unpackhi_ps(v[6], v[7]));
    // t0 lane l: [v0 0+2, v1 0+2, v0 1+3, v1 1+3]
    __m512 u0 = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44), _mm512_shuffle_ps(t0, t1, 0xee));
    __m512 u1 = _mm512_add_ps(_mm512_shuffle_ps(t2, t3, 0x44), _mm512_shuffle_ps(t2, t3, 0xee));
    // u0 lane l: [s0, s1, s2, s3] partial over lane l (of v0..v3), u1 the same for v4..v7
    __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0x88), _mm512_shuffle_f32x4(u0, u1, 0xdd));
    // w lanes: [u0 0+1, u0 2+3, u1 0+1, u1 2+3]
    __m512 x = _mm512_add_ps(w, _mm512_shuffle_f32x4(w, w, 0xb1));
    // x lanes: [u0 total, u0 total, u1 total, u1 total]
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm512_castps512_ps128(x)), _mm512_extractf32x4_ps(x, 2), 1);
}

// C (mi × ni, row stride ldc) = alpha · A·Btᵀ + beta·C, A rows at stride lda,
// Bt rows at stride ldb, both K long; mi ≤ MI, ni ≤ NI.
static void tile_i(float *C, int64_t ldc, const float *A, int64_t lda, const float *Bt, int64_t ldb, int64_t mi,
                   int64_t ni, int64_t K, float alpha, float beta) {
    const float *a[MI], *b[NI];
#pragma GCC unroll 8
    for (int i = 0; i < MI; i++) a[i] = A + (i < mi ? i : mi - 1) * lda;
#pragma GCC unroll 8
    for (int j = 0; j < NI; j++) b[j] = Bt + (j < ni ? j : ni - 1) * ldb;
    __m512 acc[MI][NI];
#pragma GCC unroll 8
    for (int i = 0; i < MI; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NI; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 m = tail_mask(K - k);
        __m512 av[MI];
#pragma GCC unroll 8
        for (int i = 0; i < MI; i++) av[i] = _mm512_maskz_loadu_ps(m, a[i] + k);
#pragma GCC unroll 8
        for (int j = 0; j < NI; j++) {
            __m512 bv = _mm512_maskz_loadu_ps(m, b[j] + k);
#pragma GCC unroll 8
            for (int i = 0; i < MI; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    __mmask8 cm = (__mmask8)((1u << ni) - 1);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < MI; i++) {
        if (i >= mi) break;
        __m256 r = _mm256_mul_ps(hsum8(acc[i]), va);
        float *c = C + i * ldc;
        if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_maskz_loadu_ps(cm, c), r);
        _mm256_mask_storeu_ps(c, cm, r);
    }
}

// C (M, N) = alpha · A·Btᵀ + beta·C with A (M, K) and Bt (N, K) row-major.
static void gemm_inner(float *C, const float *A, const float *Bt, int64_t M, int64_t N, int64_t K, float alpha,
                       float beta) {
    int64_t nmb = (M + MI - 1) / MI;
#pragma omp parallel for schedule(static) if (M * N * K >= GEMM_PAR_MIN)
    for (int64_t ib = 0; ib < nmb; ib++) {
        int64_t i0 = ib * MI, mi = min64(MI, M - i0);
        for (int64_t j0 = 0; j0 < N; j0 += NI)
            tile_i(C + i0 * N + j0, N, A + i0 * K, K, Bt + j0 * K, K, mi, min64(NI, N - j0), K, alpha, beta);
    }
}

// ---- GEMM: dispatch ----
#define INNER_MAX_N 64 // op(A) not transposed: inner-product kernel up to this many columns
#define SWAP_MAX_N 64  // op(A) transposed: Cᵀ by the outer-product kernel up to this many columns

void gemm_avx512(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a,
                 int trans_b, float alpha, float beta) {
    // op(A)(i, k) and op(B)(k, j) as strided views
    mview a = trans_a ? (mview){A, 1, M} : (mview){A, K, 1};
    mview b = trans_b ? (mview){B, 1, K} : (mview){B, N, 1};
    if (!trans_a && N <= INNER_MAX_N) {
        if (trans_b) {
            gemm_inner(C, A, B, M, N, K, alpha, beta);
        } else {
            float *bt = xmalloc_aligned(64, (size_t)(N * K) * sizeof *bt); // op(B)ᵀ (N, K)
#pragma omp parallel for schedule(static) if (N * K >= 65536)
            for (int64_t j = 0; j < N; j++)
                for (int64_t k = 0; k < K; k++) bt[j * K + k] = B[k * N + j];
            gemm_inner(C, A, bt, M, N, K, alpha, beta);
            free(bt);
        }
    } else if (trans_a && N <= SWAP_MAX_N && M > N) {
        // Cᵀ (N, M) = op(B)ᵀ · op(A)ᵀ: op(A)ᵀ(k, i) = A[k·M + i] has rows along M
        mview at = {b.p, b.cs, b.rs}, bt = {a.p, a.cs, a.rs};
        gemm_outer(C, 1, N, at, bt, N, M, K, alpha, beta);
    } else {
        gemm_outer(C, N, 1, a, b, M, N, K, alpha, beta);
    }
}

// ---- RMSNorm, SiLU ----
void rmsnorm_backward_row_avx512(float *dx, float *dwacc, const float *dy, const float *x, const float *w, int64_t n,
                                 float eps) {
    __m512 ss = _mm512_setzero_ps(), dot = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        __m512 gw = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), _mm512_maskz_loadu_ps(m, w + i));
        ss = _mm512_fmadd_ps(xv, xv, ss);
        dot = _mm512_fmadd_ps(gw, xv, dot);
    }
    float r = 1.0f / sqrtf(hsum512(ss) / (float)n + eps);
    float c = r * r * r * hsum512(dot) / (float)n;
    __m512 vr = _mm512_set1_ps(r), vc = _mm512_set1_ps(c);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i), g = _mm512_maskz_loadu_ps(m, dy + i);
        if (dwacc) {
            __m512 xr = _mm512_mul_ps(xv, vr);
            _mm512_mask_storeu_ps(dwacc + i, m, _mm512_fmadd_ps(g, xr, _mm512_maskz_loadu_ps(m, dwacc + i)));
        }
        __m512 gw = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(dx + i, m, _mm512_fnmadd_ps(xv, vc, _mm512_mul_ps(gw, vr)));
    }
}

void silu_mul_backward_avx512(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i), uv = _mm512_maskz_loadu_ps(m, u + i);
        __m512 d = _mm512_maskz_loadu_ps(m, dy + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        __m512 silu = _mm512_mul_ps(gv, s);
        // σ(1 + g(1 − σ)) = σ + silu·(1 − σ)
        __m512 ds = _mm512_fmadd_ps(silu, _mm512_sub_ps(one, s), s);
        _mm512_mask_storeu_ps(du + i, m, _mm512_mul_ps(d, silu));
        _mm512_mask_storeu_ps(dg + i, m, _mm512_mul_ps(_mm512_mul_ps(d, uv), ds));
    }
}

// ---- cross-entropy pieces ----
float row_max_avx512(const float *x, int64_t n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
    return _mm512_reduce_max_ps(mx);
}

float row_sumexp_avx512(const float *x, int64_t n, float m) {
    __m512 vm = _mm512_set1_ps(m), s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_add_ps(s0, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
        s1 = _mm512_add_ps(s1, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm)));
    }
    for (; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        s0 = _mm512_add_ps(s0, _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm))));
    }
    return hsum512(_mm512_add_ps(s0, s1));
}

float row_exp_sum_avx512(float *x, int64_t n, float m) {
    // the same sums in the same order as row_sumexp_avx512
    __m512 vm = _mm512_set1_ps(m), s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm));
        _mm512_storeu_ps(x + i, e0);
        _mm512_storeu_ps(x + i + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm)));
        _mm512_mask_storeu_ps(x + i, k, e);
        s0 = _mm512_add_ps(s0, e);
    }
    return hsum512(_mm512_add_ps(s0, s1));
}

// ---- attention backward ----
#define AKB 64 // keys per score block
#define ATQ 16 // query tokens per tile
#define AM 6   // rows per register tile (6 × 64: 24 accumulators)

// C (mi × 64, row stride ldc, columns masked by m) = Σ_{k<kn} a(i, k)·B[k·ldb + c]
// (+ C when accumulate), a(i, k) = A[i·ars + k·acs]; rows i ≥ mi are not
// stored (they read row mi − 1). Inlined with ars or acs a literal 1.
static inline __attribute__((always_inline)) void tile64(float *C, int64_t ldc, const float *A, int64_t ars,
                                                         int64_t acs, const float *B, int64_t ldb, int64_t kn,
                                                         int64_t mi, const __mmask16 m[4], int accumulate) {
    const float *ar[AM];
    __m512 acc[AM][4];
#pragma GCC unroll 16
    for (int i = 0; i < AM; i++) {
        ar[i] = A + (i < mi ? i : mi - 1) * ars;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) acc[i][c] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kn; k++) {
        const float *bk = B + k * ldb;
        __m512 b0 = _mm512_maskz_loadu_ps(m[0], bk), b1 = _mm512_maskz_loadu_ps(m[1], bk + 16),
               b2 = _mm512_maskz_loadu_ps(m[2], bk + 32), b3 = _mm512_maskz_loadu_ps(m[3], bk + 48);
#pragma GCC unroll 16
        for (int i = 0; i < AM; i++) {
            __m512 av = _mm512_set1_ps(ar[i][k * acs]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(av, b2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(av, b3, acc[i][3]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < AM; i++) {
        if (i >= mi) break;
        float *c = C + i * ldc;
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m512 r = acc[i][q];
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[q], c + 16 * q));
            _mm512_mask_storeu_ps(c + 16 * q, m[q], r);
        }
    }
}

// A rows along k (a(i, k) = A[i·lda + k]) or columns (a(i, k) = A[k·lda + i]).
static void tile64_rows(float *C, int64_t ldc, const float *A, int64_t lda, const float *B, int64_t ldb, int64_t kn,
                        int64_t mi, const __mmask16 m[4], int accumulate) {
    tile64(C, ldc, A, lda, 1, B, ldb, kn, mi, m, accumulate);
}
static void tile64_cols(float *C, int64_t ldc, const float *A, int64_t lda, const float *B, int64_t ldb, int64_t kn,
                        int64_t mi, const __mmask16 m[4], int accumulate) {
    tile64(C, ldc, A, 1, lda, B, ldb, kn, mi, m, accumulate);
}

// One row's softmax and its gradient: on entry s = q·k (unscaled) and
// dp = dO·v for keys [0, nkp); keys ≥ valid are masked. On exit s = P and
// dp = dS = P∘(dP − Σ P∘dP)·scale, both zero for keys ≥ valid.
static void softmax_grad_row(float *s, float *dp, int64_t valid, int64_t nkp, float scale) {
    __m512 sc = _mm512_set1_ps(scale), mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < valid; j += 16) {
        __mmask16 m = tail_mask(valid - j);
        mx = _mm512_max_ps(mx, _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), m, _mm512_loadu_ps(s + j), sc));
    }
    __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nkp; j += 16) {
        __mmask16 m = tail_mask(valid - j);
        __m512 p = _mm512_maskz_mov_ps(m, exp512(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), sc, vm)));
        sum = _mm512_add_ps(sum, p);
        _mm512_storeu_ps(s + j, p);
    }
    __m512 inv = _mm512_set1_ps(1.0f / hsum512(sum)), dd = _mm512_setzero_ps();
    for (int64_t j = 0; j < nkp; j += 16) {
        __m512 p = _mm512_mul_ps(_mm512_loadu_ps(s + j), inv);
        _mm512_storeu_ps(s + j, p);
        dd = _mm512_fmadd_ps(p, _mm512_loadu_ps(dp + j), dd);
    }
    __m512 D = _mm512_set1_ps(hsum512(dd));
    for (int64_t j = 0; j < nkp; j += 16) {
        __m512 p = _mm512_loadu_ps(s + j);
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp + j), D)), sc);
        _mm512_storeu_ps(dp + j, g);
    }
}

void attention_backward_avx512(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, int64_t T, int64_t H, int64_t KV, int64_t hd, float scale) {
    int64_t grp = H / KV, ld = KV * hd, ldq = H * hd;
    int64_t ldt = (T + AKB - 1) / AKB * AKB + 16; // +16: rows read together avoid the same L1 sets
    int64_t lds = ldt;                            // score rows, same padding
    int64_t R = grp * ATQ;                        // rows per tile
    int64_t nq = (T + ATQ - 1) / ATQ;
    int64_t hdp = (hd + 63) / 64 * 64;
    int nth = omp_get_max_threads();
    size_t pn = (size_t)(KV * T * hd); // one thread's dK (or dV) partial: (KV, T, hd)
    float *Kt = xmalloc_aligned(64, (size_t)(KV * hd * ldt) * sizeof *Kt);
    float *Vt = xmalloc_aligned(64, (size_t)(KV * hd * ldt) * sizeof *Vt);
    float *Kc = xmalloc_aligned(64, (size_t)(KV * T * hd) * sizeof *Kc);
    float *part = xcalloc((size_t)nth * 2 * pn, sizeof *part);
#pragma omp parallel num_threads(nth) if (T * T * H * hd >= (1 << 18))
    {
        // Kt[g][d][j] = k[j][g·hd + d], Vt likewise; padding keys are zero.
#pragma omp for schedule(static)
        for (int64_t gd = 0; gd < KV * hd; gd++) {
            float *kr = Kt + gd * ldt, *vr = Vt + gd * ldt;
            for (int64_t j = 0; j < T; j++) kr[j] = k[j * ld + gd], vr[j] = v[j * ld + gd];
            for (int64_t j = T; j < ldt; j++) kr[j] = 0.0f, vr[j] = 0.0f;
        }
        // Kc[g][j] = k[j][g·hd ...]: one head's keys contiguous.
#pragma omp for schedule(static)
        for (int64_t gj = 0; gj < KV * T; gj++)
            memcpy(Kc + gj * hd, k + (gj % T) * ld + (gj / T) * hd, (size_t)hd * sizeof *Kc);
        int tid = omp_get_thread_num();
        float *pdk = part + (size_t)tid * 2 * pn, *pdv = pdk + pn;
        float *Sb = xmalloc_aligned(64, (size_t)(R * lds) * sizeof *Sb);   // S, then P
        float *dPb = xmalloc_aligned(64, (size_t)(R * lds) * sizeof *dPb); // dP, then dS
        float *dQb = xmalloc_aligned(64, (size_t)(R * hdp) * sizeof *dQb);
        float *Qb = xmalloc_aligned(64, (size_t)(R * hd) * sizeof *Qb), *dOb = xmalloc_aligned(64, (size_t)(R * hd) * sizeof *dOb);
        const __mmask16 full[4] = {0xffff, 0xffff, 0xffff, 0xffff};
#pragma omp for schedule(static, 1)
        for (int64_t u = 0; u < KV * nq; u++) {
            // row r: token t0 + r / grp, query head g·grp + r % grp
            int64_t g = u % KV, t0 = (u / KV) * ATQ, nt = min64(ATQ, T - t0), nr = nt * grp;
            for (int64_t r = 0; r < nr; r++) {
                int64_t off = (t0 + r / grp) * ldq + (g * grp + r % grp) * hd;
                memcpy(Qb + r * hd, q + off, (size_t)hd * sizeof *Qb);
                memcpy(dOb + r * hd, dout + off, (size_t)hd * sizeof *dOb);
            }
            int64_t nk = t0 + nt, nkp = (nk + AKB - 1) / AKB * AKB; // keys visible to the tile, padded
            const float *Ktg = Kt + g * hd * ldt, *Vtg = Vt + g * hd * ldt, *Kcg = Kc + g * T * hd;
            // S = Q·Kᵀ, dP = dO·Vᵀ
            for (int64_t j0 = 0; j0 < nk; j0 += AKB)
                for (int64_t i0 = 0; i0 < nr; i0 += AM) {
                    int64_t mi = min64(AM, nr - i0);
                    tile64_rows(Sb + i0 * lds + j0, lds, Qb + i0 * hd, hd, Ktg + j0, ldt, hd, mi, full, 0);
                    tile64_rows(dPb + i0 * lds + j0, lds, dOb + i0 * hd, hd, Vtg + j0, ldt, hd, mi, full, 0);
                }
            // P and dS (zero past each row's last visible key)
            for (int64_t r = 0; r < nr; r++)
                softmax_grad_row(Sb + r * lds, dPb + r * lds, t0 + r / grp + 1, nkp, scale);
            for (int64_t d = 0; d < hd; d += 64) {
                __mmask16 m[4] = {tail_mask(hd - d), tail_mask(hd - d - 16), tail_mask(hd - d - 32),
                                  tail_mask(hd - d - 48)};
                // dQ = dS·K
                for (int64_t i0 = 0; i0 < nr; i0 += AM)
                    tile64_rows(dQb + i0 * hdp + d, hdp, dPb + i0 * lds, lds, Kcg + d, hd, nk, min64(AM, nr - i0), m, 0);
                // dV += Pᵀ·dO, dK += dSᵀ·Q
                float *gv = pdv + g * T * hd + d, *gk = pdk + g * T * hd + d;
                for (int64_t j0 = 0; j0 < nk; j0 += AM) {
                    int64_t mj = min64(AM, nk - j0);
                    tile64_cols(gv + j0 * hd, hd, Sb + j0, lds, dOb + d, hd, nr, mj, m, 1);
                    tile64_cols(gk + j0 * hd, hd, dPb + j0, lds, Qb + d, hd, nr, mj, m, 1);
                }
            }
            for (int64_t r = 0; r < nr; r++)
                memcpy(dq + (t0 + r / grp) * ldq + (g * grp + r % grp) * hd, dQb + r * hdp, (size_t)hd * sizeof *dq);
        }
        free(Sb), free(dPb), free(dQb), free(Qb), free(dOb);
        // dK, dV = Σ over threads of the partials, in thread order
#pragma omp for schedule(static)
        for (int64_t tg = 0; tg < T * KV; tg++) {
            int64_t t = tg / KV, g = tg % KV;
            float *ok = dk + t * ld + g * hd, *ov = dv + t * ld + g * hd;
            for (int64_t i = 0; i < hd; i++) ok[i] = 0.0f, ov[i] = 0.0f;
            for (int th = 0; th < nth; th++) {
                const float *sk = part + (size_t)th * 2 * pn + (g * T + t) * hd, *sv = sk + pn;
                for (int64_t i = 0; i < hd; i++) ok[i] += sk[i], ov[i] += sv[i];
            }
        }
    }
    free(Kt), free(Vt), free(Kc), free(part);
}

#include "simd_target_end.h"
#else
#include <stdlib.h>
void gemm_avx512(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int trans_a,
                 int trans_b, float alpha, float beta) {
    (void)C, (void)A, (void)B, (void)M, (void)N, (void)K, (void)trans_a, (void)trans_b, (void)alpha, (void)beta;
    abort();
}
void rmsnorm_backward_row_avx512(float *dx, float *dwacc, const float *dy, const float *x, const float *w, int64_t n,
                                 float eps) {
    (void)dx, (void)dwacc, (void)dy, (void)x, (void)w, (void)n, (void)eps;
    abort();
}
void silu_mul_backward_avx512(float *dg, float *du, const float *dy, const float *g, const float *u, int64_t n) {
    (void)dg, (void)du, (void)dy, (void)g, (void)u, (void)n;
    abort();
}
void attention_backward_avx512(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    (void)dq, (void)dk, (void)dv, (void)dout, (void)q, (void)k, (void)v, (void)T, (void)n_heads, (void)n_kv, (void)hd;
    (void)scale;
    abort();
}
float row_max_avx512(const float *x, int64_t n) {
    (void)x, (void)n;
    abort();
}
float row_sumexp_avx512(const float *x, int64_t n, float m) {
    (void)x, (void)n, (void)m;
    abort();
}
float row_exp_sum_avx512(float *x, int64_t n, float m) {
    (void)x, (void)n, (void)m;
    abort();
}
#endif
