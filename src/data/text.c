// text.c — an example as question and answer, its words, word shingles, and
// MinHash signatures: what the audit reads and what duplicate detection compares.
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- question and answer ----
static void join_role(strbuf *sb, json_t *msgs, const char *role) {
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *c = json_string_value(json_object_get(m, "content"));
        if (!c || strcmp(json_string_value(json_object_get(m, "role")), role)) continue;
        if (sb->len) sb_puts(sb, "\n\n");
        sb_puts(sb, c);
    }
}

void example_text_init(example_text *t, const record *r) {
    strbuf q, a;
    sb_init(&q);
    sb_init(&a);
    const char *shown = "";
    if (r->kind == REC_MESSAGES) {
        json_t *msgs = json_object_get(r->obj, "messages");
        join_role(&q, msgs, "user");
        join_role(&a, msgs, "assistant");
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m) {
            const char *c = json_string_value(json_object_get(m, "content"));
            if (c && !strcmp(json_string_value(json_object_get(m, "role")), "user")) shown = c;
        }
    } else if (r->kind == REC_COMPLETION) {
        sb_puts(&q, json_string_value(json_object_get(r->obj, "prompt")));
        sb_puts(&a, json_string_value(json_object_get(r->obj, "completion")));
        shown = q.buf;
    } else {
        sb_puts(&a, json_string_value(json_object_get(r->obj, "text")));
        shown = a.buf;
    }
    // listings show one line: the first line of the shown text
    size_t n = strcspn(shown, "\n");
    t->shown = xstrndup(shown, n);
    t->question = sb_detach(&q);
    t->answer = sb_detach(&a);
}

void example_text_release(example_text *t) {
    if (!t) return;
    free(t->question);
    free(t->answer);
    free(t->shown);
    memset(t, 0, sizeof *t);
}

// ---- reports ----
int data_write_json(const char *path, const json_t *report) {
    char *s = json_dumps(report, JSON_INDENT(2));
    if (!s) return err_set("%s: could not serialize the report", path);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n++] = '\n';
    int rc = file_write_atomic(path, s, n);
    free(s);
    return rc;
}

void data_print_json(FILE *f, const json_t *report) {
    json_dumpf(report, f, JSON_INDENT(2));
    fputc('\n', f);
}

// ---- words ----
static inline uint64_t mix64(uint64_t x) { // splitmix64's finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int word_cp(utf8proc_int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO);
}

// Hashes of the words of text, in order (FNV-1a over the lowercased UTF-8). Caller frees.
static size_t text_words(const char *text, uint64_t **out) {
    size_t n = 0, cap = 64;
    uint64_t *w = xmalloc(cap * sizeof *w);
    const uint8_t *s = (const uint8_t *)text;
    size_t len = strlen(text), i = 0;
    uint64_t h = 0;
    int in_word = 0;
    while (i <= len) {
        int is_word = 0;
        size_t step = 1;
        uint8_t buf[4];
        utf8proc_ssize_t nb = 1;
        if (i < len && s[i] < 0x80) {
            uint8_t c = s[i];
            is_word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            buf[0] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
        } else if (i < len) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
            if (k <= 0) cp = 0xFFFD, k = 1; // invalid byte: a separator
            step = (size_t)k;
            is_word = word_cp(cp);
            if (is_word) nb = utf8proc_encode_char(utf8proc_tolower(cp), buf);
        }
        if (is_word) {
            if (!in_word) h = 0xcbf29ce484222325ull, in_word = 1;
            for (utf8proc_ssize_t b = 0; b < nb; b++) h = (h ^ buf[b]) * 0x100000001b3ull;
        } else if (in_word) {
            if (n == cap) w = xrealloc(w, (cap *= 2) * sizeof *w);
            w[n++] = mix64(h);
            in_word = 0;
        }
        i += step;
    }
    *out = w;
    return n;
}

void sort_u64(uint64_t *v, size_t n) {
    if (n < 2) return;
    uint64_t small[512], *tmp = n <= 512 ? small : xmalloc(n * sizeof *tmp), *src = v, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++) cnt[((src[i] >> shift) & 0xFF) + 1]++;
        if (cnt[((src[0] >> shift) & 0xFF) + 1] == n) continue;
        for (int d = 0; d < 256; d++) cnt[d + 1] += cnt[d];
        for (size_t i = 0; i < n; i++) dst[cnt[(src[i] >> shift) & 0xFF]++] = src[i];
        uint64_t *t = src;
        src = dst, dst = t;
    }
    if (src != v) memcpy(v, src, n * sizeof *v);
    if (tmp != small) free(tmp);
}

static size_t sort_unique(uint64_t *v, size_t n) {
    if (n < 2) return n;
    sort_u64(v, n);
    size_t m = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[m - 1]) v[m++] = v[i];
    return m;
}

size_t text_features(const char *text, int k, uint64_t *seq_hash, size_t *n_words, uint64_t **shingles) {
    uint64_t *w;
    size_t n = text_words(text, &w);
    uint64_t h = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < n; i++) h = mix64(h ^ w[i]) + i;
    if (seq_hash) *seq_hash = h;
    if (n_words) *n_words = n;
    if (!shingles) {
        free(w);
        return 0;
    }
    if (n == 0) {
        *shingles = w;
        return 0;
    }
    size_t m = n >= (size_t)k ? n - (size_t)k + 1 : 1;
    size_t span = n >= (size_t)k ? (size_t)k : n;
    if (span == 1) { // word sets: hash in place
        *shingles = w;
        return sort_unique(w, n);
    }
    uint64_t *sh = xmalloc(m * sizeof *sh);
    for (size_t i = 0; i < m; i++) {
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (size_t j = 0; j < span; j++) x = mix64(x ^ w[i + j]) + j;
        sh[i] = x;
    }
    free(w);
    *shingles = sh;
    return sort_unique(sh, m);
}

size_t text_shingles(const char *text, int k, uint64_t **out) { return text_features(text, k, NULL, NULL, out); }

uint64_t text_words_hash(const char *text, size_t *n_words) {
    uint64_t h;
    text_features(text, 1, &h, n_words, NULL);
    return h;
}

double jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb) {
    if (na == 0 && nb == 0) return 1;
    size_t i = 0, j = 0, both = 0;
    while (i < na && j < nb) { // branch-free merge: sets of a few hundred shingles
        uint64_t x = a[i], y = b[j];
        both += x == y;
        i += x <= y;
        j += y <= x;
    }
    return (double)both / (double)(na + nb - both);
}

// ---- MinHash ----
// Permutation i: x -> mult[i]*x + add[i] (mod 2^64, mult odd): a bijection of
// the already well-mixed 64-bit shingle hashes, cheap enough to vectorize.
static uint64_t perm_mult[MINHASH_PERM], perm_add[MINHASH_PERM];

static void perm_init(void) {
    uint64_t s = 0x6c6f726163ull; // fixed: signatures are reproducible across runs
    for (int i = 0; i < MINHASH_PERM; i++) {
        perm_mult[i] = mix64(s += 0x9e3779b97f4a7c15ull) | 1;
        perm_add[i] = mix64(s += 0x9e3779b97f4a7c15ull);
    }
}

void minhash_sign(const uint64_t *set, size_t n, uint64_t *sig) {
#pragma omp critical(minhash_init)
    if (!perm_mult[0]) perm_init();
    for (int i = 0; i < MINHASH_PERM; i++) sig[i] = UINT64_MAX;
    for (size_t k = 0; k < n; k++) {
        uint64_t x = set[k];
#pragma omp simd
        for (int i = 0; i < MINHASH_PERM; i++) {
            uint64_t h = perm_mult[i] * x + perm_add[i];
            sig[i] = h < sig[i] ? h : sig[i];
        }
    }
}
