// sampler.c — penalties, filters and the draw of sampler.h, in mlx-lm's order.
//
// Per step the work is a few linear passes over the vocabulary: the max, the
// shift x = logit - max, e^x for top-p, and the final weights over the
// survivors. Top-p and top-k need the value at a rank (by mass or by count), not
// a sorted vocabulary: select_rank finds it with one histogram pass over coarse
// buckets of x, then three over the order-preserving 32-bit keys of the few
// candidates left in the chosen bucket (11 + 11 + 10 bits). The survivors' x, weight
// and id sit at the same position in three arrays, compacted in place by each
// filter, so they stay in increasing id order.
//
// Bitwise reproducibility: the exponential is our own (Cephes' expf polynomial
// on GCC/clang vector extensions), every lane and the padded tail run the same
// IEEE operations, sums use a fixed association, and contraction into fused
// multiply-adds is off — so the result does not depend on the instruction set.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"

struct sampler {
    sampler_params p;
    int64_t vocab;
    rng_state rng;
    // penalty window: ring of the last ctx tokens and each token's count in it
    int32_t *window; // (ctx)
    int64_t win_len, win_head; // entries held, index of the oldest
    int32_t *count;  // (vocab) occurrences in the window
    // per-step scratch; position j holds one survivor
    float *x;      // (vocab) logit - max
    float *w;      // (vocab) weight
    int32_t *id;   // (vocab) token id, increasing in j
    int32_t *sel;  // (vocab) positions, select_rank's working set
    double hist[4096]; // select_rank's histograms
};

// ---- parameters ----
void sampler_params_init(sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temp = 0.0f;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->repetition_penalty = 1.0f;
    p->top_k = 0;
    p->repetition_context_size = 20;
}

int sampler_params_validate(const sampler_params *p) {
    // comparisons are written so that NaN fails them
    if (!(p->temp >= 0.0f) || isinf(p->temp)) return err_set("--temp must be >= 0, got %g", p->temp);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return err_set("--top-p must be in (0, 1], got %g", p->top_p);
    if (p->top_k < 0) return err_set("--top-k must be >= 0, got %d", p->top_k);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return err_set("--min-p must be in [0, 1], got %g", p->min_p);
    if (!(p->repetition_penalty > 0.0f) || isinf(p->repetition_penalty))
        return err_set("--repetition-penalty must be > 0, got %g", p->repetition_penalty);
    if (p->repetition_context_size < 0)
        return err_set("--repetition-context-size must be >= 0, got %d", p->repetition_context_size);
    if (!isfinite(p->presence_penalty))
        return err_set("--presence-penalty must be a finite number, got %g", p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return err_set("--frequency-penalty must be a finite number, got %g", p->frequency_penalty);
    return 0;
}

// ---- lifecycle ----
sampler *sampler_new(const sampler_params *p, int64_t vocab) {
    if (sampler_params_validate(p)) return NULL;
    if (vocab < 1 || vocab > INT32_MAX) {
        err_set("sampler: vocabulary size %lld out of range", (long long)vocab);
        return NULL;
    }
    sampler *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->vocab = vocab;
    rng_seed(&s->rng, p->seed);
    s->window = xmalloc(sizeof(int32_t) * (size_t)(p->repetition_context_size > 0 ? p->repetition_context_size : 1));
    s->count = xcalloc((size_t)vocab, sizeof(int32_t));
    s->x = xmalloc(sizeof(float) * (size_t)vocab);
    s->w = xmalloc(sizeof(float) * (size_t)vocab);
    s->id = xmalloc(sizeof(int32_t) * (size_t)vocab);
    s->sel = xmalloc(sizeof(int32_t) * (size_t)vocab);
    return s;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->window);
    free(s->count);
    free(s->x);
    free(s->w);
    free(s->id);
    free(s->sel);
    free(s);
}

// ---- penalty window ----
void sampler_accept(sampler *s, int32_t token) {
    LORAC_ASSERT(token >= 0 && token < s->vocab);
    int64_t ctx = s->p.repetition_context_size;
    if (ctx == 0) return;
    if (s->win_len == ctx) { // full: the oldest leaves, the new one takes its slot
        s->count[s->window[s->win_head]]--;
        s->window[s->win_head] = token;
        s->win_head = (s->win_head + 1) % ctx;
    } else {
        s->window[(s->win_head + s->win_len) % ctx] = token;
        s->win_len++;
    }
    s->count[token]++;
}

void sampler_reset(sampler *s) {
    for (int64_t i = 0; i < s->win_len; i++) s->count[s->window[i]] = 0;
    s->win_len = s->win_head = 0;
}

// ---- step 1: logits processors ----
void sampler_process(sampler *s, float *logits) {
    const float rep = s->p.repetition_penalty, pres = s->p.presence_penalty,
                freq = s->p.frequency_penalty;
    if (s->win_len == 0 || (rep == 1.0f && pres == 0.0f && freq == 0.0f)) return;
    // Visit each distinct token once: its count is negated once it has been
    // penalised, then restored in a second pass.
    for (int64_t i = 0; i < s->win_len; i++) {
        int32_t t = s->window[i];
        int32_t c = s->count[t];
        if (c <= 0) continue;
        float l = logits[t];
        if (rep != 1.0f) l = l < 0.0f ? l * rep : l / rep;
        if (pres != 0.0f) l -= pres;
        if (freq != 0.0f)
            for (int32_t k = 0; k < c; k++) l -= freq;
        logits[t] = l;
        s->count[t] = -c;
    }
    for (int64_t i = 0; i < s->win_len; i++) {
        int32_t t = s->window[i];
        if (s->count[t] < 0) s->count[t] = -s->count[t];
    }
}

// ---- vector helpers ----
// 8-float blocks with GCC/clang vector extensions; loads and stores go through
// memcpy (no alignment assumed) and no vector crosses a function boundary.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

// y[i] = e^(x[i] * s) for x[i] * s <= 0 (x may be -inf), n values. Cephes expf:
// n = round(v log2 e), r = v - n ln2 in two parts, e^r by a degree-7 polynomial,
// times 2^n as two factors so results below FLT_MIN underflow gradually; below
// -104 (where e^v < the smallest subnormal) the result is 0. Within ~1 ulp of expf.
static void exp_block(float *y, const float *x, float s) {
    v8f v;
    memcpy(&v, x, sizeof v);
    v = v * s;
    v8i in_range = v > -104.0f;
    v = (v8f)((in_range & (v8i)v) | (~in_range & (v8i)((v8f){0} - 104.0f)));
    v8f t = v * 1.44269504088896341f + 12582912.0f; // 1.5 * 2^23: rounds to an integer
    v8f n = t - 12582912.0f;
    v8f r = v - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v8f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    v8f e = p * (r * r) + r + 1.0f;
    v8i ni = __builtin_convertvector(n, v8i);
    v8i n1 = ni >> 1, n2 = ni - n1; // each in [-75, 0]: 2^n1, 2^n2 are normal
    e = e * (v8f)((n1 + 127) << 23);
    e = e * (v8f)((n2 + 127) << 23);
    e = (v8f)(in_range & (v8i)e);
    memcpy(y, &e, sizeof e);
}

static void exp_scaled(float *y, const float *x, float s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) exp_block(y + i, x + i, s);
    if (i < n) {
        float tx[8], ty[8];
        for (int k = 0; k < 8; k++) tx[k] = i + k < n ? x[i + k] : -INFINITY;
        exp_block(ty, tx, s);
        for (int k = 0; i + k < n; k++) y[i + k] = ty[k];
    }
}

// Sum in double with eight interleaved partial sums (a fixed association).
static double sum_f64(const float *w, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)w[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += (double)w[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Largest value of l (n) ignoring NaN; *nan set when one is present.
static float max_f32(const float *l, int64_t n, int *nan) {
    v8f vm = (v8f){0} - INFINITY;
    v8i bad = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, l + i, sizeof v);
        v8i gt = v > vm;
        vm = (v8f)((gt & (v8i)v) | (~gt & (v8i)vm));
        bad |= v != v;
    }
    float m = -INFINITY;
    int any = 0;
    for (int k = 0; k < 8; k++) {
        if (vm[k] > m) m = vm[k];
        any |= bad[k] != 0;
    }
    for (; i < n; i++) {
        if (l[i] > m) m = l[i];
        any |= isnan(l[i]);
    }
    *nan = any;
    return m;
}

// ---- selection by rank ----
// Order-preserving key: a < b (floats, no NaN) <=> fkey(a) < fkey(b).
static inline uint32_t fkey(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Coarse bucket of x <= 0, non-increasing in x: 1/64 wide from 0 down to -64,
// everything lower (-inf included) in the last one.
#define N_COARSE 4096
static inline int coarse(float x) { return x > -64.0f ? (int)(x * -64.0f) : N_COARSE - 1; }

// Among the survivors x[0..n), the key T of the last group of equal x (walking
// down from the largest) whose "weight above" — the total weight of survivors
// with a strictly larger x — is < target. Weights are w[j], or 1 each when w is
// NULL (then "weight above" is a count). *above gets T's weight above. When
// rounding leaves target out of reach, T is the smallest key (everything stays).
//
// A histogram of the weight over coarse buckets finds the bucket B that holds T;
// three more over the keys of B's members (11 + 11 + 10 bits) find T itself.
static uint32_t select_rank(sampler *s, int64_t n, const float *w, double target, double *above) {
    const float *x = s->x;
    int32_t *sel = s->sel;
    double *h = s->hist;
    memset(h, 0, sizeof(double) * N_COARSE);
    if (w)
        for (int64_t j = 0; j < n; j++) h[coarse(x[j])] += (double)w[j];
    else
        for (int64_t j = 0; j < n; j++) h[coarse(x[j])] += 1.0;
    double cum = 0.0; // weight above the current bucket
    int B = -1, lowest = -1;
    // Buckets of zero weight (e^x underflow) can never be B and are skipped.
    for (int b = 0; b < N_COARSE; b++) {
        if (h[b] == 0.0) continue;
        lowest = b;
        if (cum + h[b] >= target) {
            B = b;
            break;
        }
        cum += h[b];
    }
    LORAC_ASSERT(lowest >= 0); // the maximum (x = 0, weight 1) is always a survivor
    if (B < 0) {               // target out of reach (rounding): into the lowest bucket
        B = lowest;
        cum -= h[B];
    }
    int64_t m = 0;
    for (int64_t j = 0; j < n; j++) {
        sel[m] = (int32_t)j;
        m += coarse(x[j]) == B;
    }

    static const int shift[3] = {21, 10, 0}, bits[3] = {11, 11, 10};
    uint32_t prefix = 0; // key bits fixed so far
    for (int lvl = 0; lvl < 3; lvl++) {
        int nb = 1 << bits[lvl];
        uint32_t mask = (uint32_t)nb - 1;
        memset(h, 0, sizeof(double) * (size_t)nb);
        for (int64_t i = 0; i < m; i++) h[(fkey(x[sel[i]]) >> shift[lvl]) & mask] += w ? (double)w[sel[i]] : 1.0;
        int Bk = -1;
        lowest = -1;
        for (int b = nb - 1; b >= 0; b--) { // keys descend as x does
            if (h[b] == 0.0) continue;
            lowest = b;
            if (cum + h[b] >= target) {
                Bk = b;
                break;
            }
            cum += h[b];
        }
        LORAC_ASSERT(lowest >= 0);
        if (Bk < 0) {
            Bk = lowest;
            cum -= h[Bk];
        }
        prefix |= (uint32_t)Bk << shift[lvl];
        int64_t k = 0; // keep the working set inside bucket Bk (writes trail reads)
        for (int64_t i = 0; i < m; i++) {
            sel[k] = sel[i];
            k += ((fkey(x[sel[i]]) >> shift[lvl]) & mask) == (uint32_t)Bk;
        }
        m = k;
    }
    *above = cum;
    return prefix;
}

// ---- steps 2-3: greedy or the filter chain ----
// Survivor j moves to position k (k <= j), keeping x, w and id together; k
// advances only when `keep` (branch-free: the moves are cheaper than mispredicts).
// While no filter has run, ids are implicit (id[j] == j).
#define MOVE(k, j, keep)                                                           \
    do {                                                                           \
        x[k] = x[j];                                                               \
        w[k] = w[j];                                                               \
        id[k] = ident ? (int32_t)(j) : id[j];                                      \
        k += (keep);                                                               \
    } while (0)

// Runs steps 1-3 up to the draw. Returns the number of survivors n (x, w, id at
// positions [0, n), weights summing to *total), or 0 for greedy with the argmax
// in *argmax, or -1 on bad logits. *ident says whether id[] is implicit.
static int64_t prepare(sampler *s, float *logits, int32_t *argmax, double *total, int *ident_out) {
    const int64_t V = s->vocab;
    sampler_process(s, logits);

    int nan;
    const float m = max_f32(logits, V, &nan);
    if (nan) {
        for (int64_t i = 0; i < V; i++)
            if (isnan(logits[i])) return err_set("sampler: logit %lld is NaN", (long long)i);
    }
    if (!isfinite(m)) return err_set("sampler: the largest logit is %g; expected a finite value", m);
    if (s->p.temp == 0.0f) { // the first maximum, as mx.argmax
        int64_t am = 0;
        while (logits[am] != m) am++;
        *argmax = (int32_t)am;
        return 0;
    }

    float *x = s->x, *w = s->w;
    int32_t *id = s->id;
    int64_t i = 0;
    for (; i + 8 <= V; i += 8) {
        v8f v;
        memcpy(&v, logits + i, sizeof v);
        v = v - m;
        memcpy(x + i, &v, sizeof v);
    }
    for (; i < V; i++) x[i] = logits[i] - m;
    int64_t n = V;
    int ident = 1;    // id[j] == j, not stored yet
    int w_is_exp = 0; // w[j] == e^x[j]

    // top-p: on probabilities at temperature 1
    const float top_p = s->p.top_p;
    if (top_p > 0.0f && top_p < 1.0f) {
        exp_scaled(w, x, 1.0f, n);
        w_is_exp = 1;
        double above;
        uint32_t T = select_rank(s, n, w, (double)top_p * sum_f64(w, n), &above);
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++) MOVE(k, j, fkey(x[j]) >= T);
        n = k, ident = 0;
    }

    // min-p: logprob < max logprob + log(min_p)  <=>  x < log(min_p)
    if (s->p.min_p > 0.0f) {
        const float thr = (float)log((double)s->p.min_p);
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++) MOVE(k, j, !(x[j] < thr));
        n = k, ident = 0;
    }

    // top-k: exactly k survivors, ties at the k-th value by lowest id
    if (s->p.top_k > 0 && s->p.top_k < n) {
        const int64_t K = s->p.top_k;
        double above;
        uint32_t T = select_rank(s, n, NULL, (double)K, &above);
        int64_t room = K - (int64_t)above; // how many of the ties at T fit
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++) {
            uint32_t key = fkey(x[j]);
            int keep = key > T || (key == T && room > 0);
            room -= key == T && keep;
            MOVE(k, j, keep);
        }
        n = k, ident = 0;
    }

    // final weights: softmax(logprobs * (1/temp)) over the survivors
    const float inv_t = (float)(1.0 / (double)s->p.temp);
    if (!(inv_t == 1.0f && w_is_exp)) exp_scaled(w, x, inv_t, n);
    *total = sum_f64(w, n);
    *ident_out = ident;
    return n;
}

// ---- the draw ----
int32_t sampler_sample(sampler *s, float *logits) {
    int32_t am;
    double total;
    int ident;
    int64_t n = prepare(s, logits, &am, &total, &ident);
    if (n < 0) return -1;
    if (n == 0) return am;
    // 53-bit uniform in [0, 1)
    double u = (double)(rng_next(&s->rng) >> 11) * (1.0 / 9007199254740992.0);
    double target = u * total, cum = 0.0;
    int64_t last = 0;
    for (int64_t j = 0; j < n; j++) {
        if (s->w[j] == 0.0f) continue;
        cum += s->w[j];
        last = j;
        if (cum > target) return ident ? (int32_t)j : s->id[j];
    }
    return ident ? (int32_t)last : s->id[last]; // rounding left target at the very top
}

int sampler_probs(sampler *s, float *logits, float *probs) {
    int32_t am;
    double total;
    int ident;
    int64_t n = prepare(s, logits, &am, &total, &ident);
    if (n < 0) return -1;
    memset(probs, 0, sizeof(float) * (size_t)s->vocab);
    if (n == 0) {
        probs[am] = 1.0f;
        return 0;
    }
    for (int64_t j = 0; j < n; j++) probs[ident ? j : s->id[j]] = (float)(s->w[j] / total);
    return 0;
}
