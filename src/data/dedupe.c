// dedupe.c — exact and near-duplicate examples: identical word sequences by
// hash, similar ones by MinHash LSH over word shingles, every candidate verified
// with the exact Jaccard similarity.
//
// Questions are compared as word sets (they are short: a reworded question keeps
// most of its words but few of its 3-word shingles); answers as word 3-shingle
// sets (an answer with minor edits keeps most of its shingles, two answers on the
// same topic share almost none).
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *dup_kind_name(dup_kind k) {
    static const char *const names[] = {"exact", "near_duplicate", "same_question"};
    return names[k];
}

// ---- per-item features ----
typedef struct {
    uint64_t qhash, ahash;   // word-sequence hashes
    size_t qwords;           // 0: no question (text records)
    uint64_t *qset, *aset;   // sorted unique: question words, answer 3-shingles
    size_t nq, na;
} feat;

// ---- candidate pairs: a << 32 | b, a < b ----
typedef struct {
    uint64_t *v;
    int64_t n, cap;
} pairvec;

static void pv_push(pairvec *p, int64_t a, int64_t b) {
    if (a == b) return;
    if (a > b) {
        int64_t t = a;
        a = b, b = t;
    }
    if (p->n == p->cap) p->v = xrealloc(p->v, (size_t)(p->cap = p->cap ? 2 * p->cap : 256) * sizeof *p->v);
    p->v[p->n++] = (uint64_t)a << 32 | (uint64_t)b;
}

static int cmp_dup_pair(const void *x, const void *y) {
    const dup_pair *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

typedef struct {
    uint64_t key;
    int64_t i;
} keyed;

static int cmp_keyed(const void *x, const void *y) {
    const keyed *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

// Items keyed for grouping: the key's high bits with the item index in the low
// `ibits` bits. Keys that agree in their high bits land in one run: at worst an
// extra candidate, which verification drops.
typedef struct {
    uint64_t *v;
    int64_t n;
    int ibits;
} keyset;

static inline void ks_add(keyset *k, uint64_t key, int64_t i) {
    k->v[k->n++] = (key & ~((1ull << k->ibits) - 1)) | (uint64_t)i;
}

// Pairs within each run of equal keys: every pair for runs up to RUN_ALL, a star
// around the run's first item beyond that (the run stays connected).
#define RUN_ALL 64
static void pairs_in_runs(keyset *k, pairvec *out) {
    sort_u64(k->v, (size_t)k->n);
    uint64_t imask = (1ull << k->ibits) - 1;
    for (int64_t s = 0; s < k->n;) {
        int64_t e = s + 1;
        while (e < k->n && (k->v[e] & ~imask) == (k->v[s] & ~imask)) e++;
        if (e - s <= RUN_ALL) {
            for (int64_t x = s; x < e; x++)
                for (int64_t y = x + 1; y < e; y++) pv_push(out, (int64_t)(k->v[x] & imask), (int64_t)(k->v[y] & imask));
        } else {
            for (int64_t x = s + 1; x < e; x++) pv_push(out, (int64_t)(k->v[s] & imask), (int64_t)(k->v[x] & imask));
        }
        s = e;
    }
    k->n = 0;
}

// Rows per band: the most (fewest candidates) that still make a pair at the
// threshold a candidate with probability >= 0.999.
static int lsh_rows(double t) {
    for (int r = 8; r > 1; r--) {
        int b = MINHASH_PERM / r;
        if (1 - pow(1 - pow(t, r), b) >= 0.999) return r;
    }
    return 1;
}

// LSH candidates among reps for one set per item (sel: 0 question, 1 answer).
// sigs (nr x MINHASH_PERM) receives the signatures, has[i] whether rep i has a set.
static void lsh_candidates(const feat *f, const int64_t *reps, int64_t nr, int sel, double t, int ibits, pairvec *out,
                           uint64_t *sigs, char *has) {
    int r = lsh_rows(t), bands = MINHASH_PERM / r;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < nr; i++) {
        const feat *x = &f[reps[i]];
        const uint64_t *set = sel ? x->aset : x->qset;
        size_t n = sel ? x->na : x->nq;
        if (n == 0 || (sel == 0 && x->qwords == 0)) continue;
        has[i] = 1;
        minhash_sign(set, n, sigs + (size_t)i * MINHASH_PERM);
    }
    keyset k = {xmalloc((size_t)(nr ? nr : 1) * sizeof *k.v), 0, ibits};
    for (int b = 0; b < bands; b++) {
        for (int64_t i = 0; i < nr; i++) {
            if (!has[i]) continue;
            const uint64_t *s = sigs + (size_t)i * MINHASH_PERM + (size_t)b * r;
            uint64_t h = (uint64_t)b * 0x9e3779b97f4a7c15ull;
            for (int j = 0; j < r; j++) h = (h ^ s[j]) * 0xff51afd7ed558ccdull + (uint64_t)j;
            ks_add(&k, h, reps[i]);
        }
        pairs_in_runs(&k, out);
    }
    free(k.v);
}

// The share of equal signature entries: an unbiased estimate of the Jaccard similarity.
static double minhash_estimate(const uint64_t *a, const uint64_t *b) {
    int eq = 0;
#pragma omp simd reduction(+ : eq)
    for (int i = 0; i < MINHASH_PERM; i++) eq += a[i] == b[i];
    return (double)eq / MINHASH_PERM;
}

// ---- the search ----
int dedupe_find(const dup_item *items, int64_t n, double t, dup_pair **pairs, int64_t *n_pairs) {
    *pairs = NULL;
    *n_pairs = 0;
    if (!(t >= 0.5 && t <= 1)) return err_set("near-duplicate threshold %g: expected a value in [0.5, 1]", t);
    if (n >= (1ll << 31)) return err_set("%lld examples: duplicate search handles at most 2^31", (long long)n);
    int ibits = 1;
    while ((1ll << ibits) < n) ibits++;
    feat *f = xcalloc((size_t)(n ? n : 1), sizeof *f);
#pragma omp parallel for schedule(dynamic, 32)
    for (int64_t i = 0; i < n; i++) {
        f[i].nq = text_features(items[i].question, 1, &f[i].qhash, &f[i].qwords, &f[i].qset);
        f[i].na = text_features(items[i].answer, 3, &f[i].ahash, NULL, &f[i].aset);
    }
    // exact groups: the same question and answer; the first item represents the group
    keyed *k = xmalloc((size_t)(n ? n : 1) * sizeof *k);
    for (int64_t i = 0; i < n; i++) k[i] = (keyed){f[i].qhash * 0x9e3779b97f4a7c15ull ^ f[i].ahash, i};
    qsort(k, (size_t)n, sizeof *k, cmp_keyed);
    int64_t *rep_of = xmalloc((size_t)(n ? n : 1) * sizeof *rep_of), *reps = xmalloc((size_t)(n ? n : 1) * sizeof *reps);
    int64_t nr = 0;
    dup_pair *out = NULL;
    int64_t no = 0, co = 0;
#define EMIT(A, B, K, Q, S)                                                                        \
    do {                                                                                           \
        if (no == co) out = xrealloc(out, (size_t)(co = co ? 2 * co : 64) * sizeof *out);         \
        out[no++] = (dup_pair){(A) < (B) ? (A) : (B), (A) < (B) ? (B) : (A), K, Q, S};             \
    } while (0)
    for (int64_t s = 0; s < n;) {
        int64_t e = s + 1;
        while (e < n && k[e].key == k[s].key && f[k[e].i].qhash == f[k[s].i].qhash && f[k[e].i].ahash == f[k[s].i].ahash) e++;
        int64_t first = k[s].i; // the lowest index: keys sort by (key, index)
        for (int64_t x = s; x < e; x++) {
            rep_of[k[x].i] = first;
            if (x > s) EMIT(first, k[x].i, DUP_EXACT, 1.0, 1.0);
        }
        reps[nr++] = first;
        s = e;
    }
    // candidates among representatives: the same question, the same answer, LSH
    free(k);
    pairvec cand = {0};
    keyset ks = {xmalloc((size_t)(nr ? nr : 1) * sizeof *ks.v), 0, ibits};
    for (int64_t i = 0; i < nr; i++)
        if (f[reps[i]].qwords) ks_add(&ks, f[reps[i]].qhash, reps[i]);
    pairs_in_runs(&ks, &cand);
    for (int64_t i = 0; i < nr; i++) ks_add(&ks, f[reps[i]].ahash, reps[i]);
    pairs_in_runs(&ks, &cand);
    free(ks.v);
    uint64_t *sigs = xmalloc((size_t)(nr ? nr : 1) * MINHASH_PERM * sizeof *sigs);
    char *has = xcalloc((size_t)(nr ? nr : 1), 1);
    lsh_candidates(f, reps, nr, 0, t, ibits, &cand, sigs, has);
    memset(has, 0, (size_t)nr);
    lsh_candidates(f, reps, nr, 1, t, ibits, &cand, sigs, has); // sigs now hold the answers'
    int64_t *rep_index = xmalloc((size_t)(n ? n : 1) * sizeof *rep_index); // item -> its row in sigs
    for (int64_t i = 0; i < nr; i++) rep_index[reps[i]] = i;
    sort_u64(cand.v, (size_t)cand.n);
    int64_t u = 0;
    for (int64_t i = 0; i < cand.n; i++)
        if (u == 0 || cand.v[i] != cand.v[u - 1]) cand.v[u++] = cand.v[i];
#define PAIR_A(i) ((int64_t)(cand.v[i] >> 32))
#define PAIR_B(i) ((int64_t)(cand.v[i] & 0xFFFFFFFFu))
    // verify each candidate exactly
    signed char *kind = xmalloc((size_t)(u ? u : 1));
    double *qs = xmalloc((size_t)(u ? u : 1) * sizeof *qs), *as = xmalloc((size_t)(u ? u : 1) * sizeof *as);
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < u; i++) {
        const feat *x = &f[PAIR_A(i)], *y = &f[PAIR_B(i)];
        int both_q = x->qwords && y->qwords;
        double q = both_q ? (x->qhash == y->qhash ? 1.0 : jaccard(x->qset, x->nq, y->qset, y->nq)) : 0;
        // the exact answer similarity where it can decide the kind; far below the
        // threshold (> 4 standard deviations of the estimate) the MinHash estimate
        int64_t ra = rep_index[PAIR_A(i)], rb = rep_index[PAIR_B(i)];
        double a = x->ahash == y->ahash ? 1.0 : -1;
        if (a < 0 && has[ra] && has[rb]) {
            double est = minhash_estimate(sigs + (size_t)ra * MINHASH_PERM, sigs + (size_t)rb * MINHASH_PERM);
            if (est < t - 0.2) a = est;
        }
        if (a < 0) a = jaccard(x->aset, x->na, y->aset, y->na);
        qs[i] = q, as[i] = a;
        kind[i] = a >= t ? DUP_NEAR : (both_q && q >= t) ? DUP_QUESTION : -1;
    }
    // members of each exact group, grouped by representative (counting sort)
    int64_t *mstart = xcalloc((size_t)n + 1, sizeof *mstart), *members = xmalloc((size_t)(n ? n : 1) * sizeof *members);
    for (int64_t x = 0; x < n; x++) mstart[rep_of[x] + 1]++;
    for (int64_t x = 0; x < n; x++) mstart[x + 1] += mstart[x];
    int64_t *fill = xmalloc((size_t)(n ? n : 1) * sizeof *fill);
    memcpy(fill, mstart, (size_t)n * sizeof *fill);
    for (int64_t x = 0; x < n; x++) members[fill[rep_of[x]]++] = x;
    free(fill);
    // report representative pairs, and for leaks also the members of one group
    // that sit in another file than the other group's representative
    for (int64_t i = 0; i < u; i++) {
        if (kind[i] < 0) continue;
        int64_t ra = PAIR_A(i), rb = PAIR_B(i);
        EMIT(ra, rb, (dup_kind)kind[i], qs[i], as[i]);
        for (int side = 0; side < 2; side++) {
            int64_t r = side ? rb : ra, other = side ? ra : rb;
            for (int64_t j = mstart[r]; j < mstart[r + 1]; j++) {
                int64_t x = members[j];
                if (x != r && items[x].group != items[other].group) EMIT(x, other, (dup_kind)kind[i], qs[i], as[i]);
            }
        }
    }
#undef EMIT
#undef PAIR_A
#undef PAIR_B
    free(mstart);
    free(members);
    // sort and drop repeats (a member pair may equal another emitted pair)
    if (no) {
        qsort(out, (size_t)no, sizeof *out, cmp_dup_pair);
        int64_t w = 0;
        for (int64_t i = 0; i < no; i++)
            if (w == 0 || out[i].a != out[w - 1].a || out[i].b != out[w - 1].b) out[w++] = out[i];
        no = w;
    }
    free(kind);
    free(sigs);
    free(has);
    free(rep_index);
    free(qs);
    free(as);
    free(cand.v);
    free(rep_of);
    free(reps);
    for (int64_t i = 0; i < n; i++) free(f[i].qset), free(f[i].aset);
    free(f);
    *pairs = out;
    *n_pairs = no;
    return 0;
}
