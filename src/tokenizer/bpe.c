// bpe.c — the BPE model: vocabulary hashes, merge table, word cache, merge loop.
//
// Words arrive as raw bytes (the ByteLevel byte->char mapping is folded into
// the vocabulary at load time, so "Ġthe" is stored as " the"). The merge loop
// gives exactly HF's result: repeatedly merge the adjacent pair with the
// lowest rank, leftmost first. Short words use a linear scan; long ones use
// HF's priority queue (same order: rank, then position).
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

// ---- ByteLevel byte <-> char map (GPT-2's bytes_to_unicode) ----
// Printable bytes map to themselves; the other 68 to U+0100..U+0143 in byte order.
const uint16_t tok_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E, 0x10F,
    0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117, 0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F,
    0x120, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B, 0x03C, 0x03D, 0x03E, 0x03F,
    0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047, 0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F,
    0x050, 0x051, 0x052, 0x053, 0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x06B, 0x06C, 0x06D, 0x06E, 0x06F,
    0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077, 0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121,
    0x122, 0x123, 0x124, 0x125, 0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140, 0x141,
    0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7, 0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF,
    0x0B0, 0x0B1, 0x0B2, 0x0B3, 0x0B4, 0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB, 0x0CC, 0x0CD, 0x0CE, 0x0CF,
    0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7, 0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF,
    0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) {
        if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
            return (int)cp;
        return -1;
    }
    if (cp > 0x143) return -1;
    // the unprintable bytes in order: 0x00-0x20, 0x7F-0xA0, 0xAD
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + k - 33);
    return 0xAD;
}

// ---- hashing ----
uint32_t tok_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x243F6A8885A308D3ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t k = 0;
        memcpy(&k, s, n);
        h = (h ^ k) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

// ---- idhash ----
static uint32_t pow2_at_least(size_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

void idhash_init(idhash *h, size_t expected) {
    uint32_t cap = pow2_at_least(expected * 2 + 1);
    h->slots = xcalloc(cap, sizeof *h->slots);
    h->mask = cap - 1;
    h->n = 0;
}

void idhash_release(idhash *h) {
    free(h->slots);
    memset(h, 0, sizeof *h);
}

static int64_t idhash_find_slot(const idhash *h, const uint8_t *blob, const uint32_t *off,
                                const uint32_t *len, const void *key, size_t n, uint32_t hv) {
    uint32_t i = hv & h->mask;
    for (;;) {
        uint64_t s = h->slots[i];
        if (!s) return -(int64_t)i - 1;
        if ((uint32_t)(s >> 32) == hv) {
            int32_t id = (int32_t)(uint32_t)s - 1;
            if (len[id] == n && memcmp(blob + off[id], key, n) == 0) return i;
        }
        i = (i + 1) & h->mask;
    }
}

void idhash_put(idhash *h, const uint8_t *blob, const uint32_t *off, const uint32_t *len,
                const void *key, size_t n, int32_t id) {
    uint32_t hv = tok_hash_bytes(key, n);
    int64_t at = idhash_find_slot(h, blob, off, len, key, n, hv);
    uint64_t v = ((uint64_t)hv << 32) | (uint32_t)(id + 1);
    if (at >= 0) {
        h->slots[at] = v;
        return;
    }
    LORAC_ASSERT(h->n < h->mask); // sized by the caller for every key
    h->slots[-at - 1] = v;
    h->n++;
}

int32_t idhash_get(const idhash *h, const uint8_t *blob, const uint32_t *off, const uint32_t *len,
                   const void *key, size_t n) {
    if (!h->slots) return -1;
    int64_t at = idhash_find_slot(h, blob, off, len, key, n, tok_hash_bytes(key, n));
    return at >= 0 ? (int32_t)(uint32_t)h->slots[at] - 1 : -1;
}

// ---- merges ----
void bpe_merges_init(bpe_merges *m, size_t expected) {
    uint32_t cap = pow2_at_least(expected * 2 + 1);
    m->keys = xmalloc(cap * sizeof *m->keys);
    memset(m->keys, 0xFF, cap * sizeof *m->keys);
    m->rank = xmalloc(cap * sizeof *m->rank);
    m->merged = xmalloc(cap * sizeof *m->merged);
    m->mask = cap - 1;
    m->n = 0;
}

void bpe_merges_release(bpe_merges *m) {
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

// A pair listed twice keeps the later rank (HF collects the list into a map).
void bpe_merges_put(bpe_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX) {
        LORAC_ASSERT(m->n < m->mask);
        m->n++;
    }
    m->keys[i] = key;
    m->rank[i] = rank;
    m->merged[i] = merged;
}

// ---- symbols of one word ----
typedef struct {
    int32_t id;
    int32_t prev, next; // -1 = none
} sym;

typedef struct {
    sym *s; // starts as a caller's stack array, moves to the heap when it grows
    int n, cap;
    int on_heap;
} symbuf;

static void sym_push(symbuf *b, int32_t id) {
    if (b->n == b->cap) {
        int cap = b->cap * 2;
        if (b->on_heap) {
            b->s = xrealloc(b->s, (size_t)cap * sizeof *b->s);
        } else {
            sym *s = xmalloc((size_t)cap * sizeof *s);
            memcpy(s, b->s, (size_t)b->n * sizeof *s);
            b->s = s;
            b->on_heap = 1;
        }
        b->cap = cap;
    }
    b->s[b->n].id = id;
    b->s[b->n].prev = b->n - 1;
    b->s[b->n].next = -1;
    if (b->n) b->s[b->n - 1].next = b->n;
    b->n++;
}

// Initial symbols, HF merge_word: one per byte-level char (= per byte), with
// byte_fallback ("<0xC4>" tokens of the char's UTF-8) and unk (fused or not)
// for chars missing from the vocabulary; without either they are dropped.
static void initial_symbols(tokenizer *t, const uint8_t *w, size_t n, symbuf *b) {
    int32_t unk = -1; // pending unk
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id >= 0) {
            if (unk >= 0) sym_push(b, unk), unk = -1;
            sym_push(b, id);
            continue;
        }
        if (t->byte_fallback) {
            // UTF-8 of the byte-level char, each byte as "<0xXX>"
            uint32_t cp = tok_byte_to_cp[w[i]];
            uint8_t u[2] = {(uint8_t)(0xC0 | (cp >> 6)), (uint8_t)(0x80 | (cp & 0x3F))};
            int nu = cp < 0x80 ? 1 : 2;
            if (nu == 1) u[0] = (uint8_t)cp;
            int32_t fb[2];
            int ok = 1;
            for (int k = 0; k < nu && ok; k++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", u[k]);
                fb[k] = idhash_get(&t->by_str, (const uint8_t *)t->str_blob, t->str_off, t->str_len,
                                   code, 6);
                ok = fb[k] >= 0;
            }
            if (ok) {
                // HF pushes the fallback bytes without flushing a pending unk first
                for (int k = 0; k < nu; k++) sym_push(b, fb[k]);
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (unk >= 0 && !t->fuse_unk) sym_push(b, unk);
            unk = t->unk_id;
        }
    }
    if (unk >= 0) sym_push(b, unk);
}

// Linear-scan merge: lowest rank, leftmost on ties. O(n^2) but tiny constants.
static void merge_scan(const tokenizer *t, sym *s, int n) {
    uint32_t rank[256];
    int32_t newid[256];
    LORAC_ASSERT(n <= 256);
    if (n < 2) return;
    for (int i = 0; i + 1 < n; i++)
        if (!bpe_merges_get(&t->merges, s[i].id, s[i + 1].id, &rank[i], &newid[i])) rank[i] = UINT32_MAX;
    rank[n - 1] = UINT32_MAX;
    for (;;) {
        uint32_t best = UINT32_MAX;
        int at = -1;
        for (int i = 0; i >= 0; i = s[i].next)
            if (rank[i] < best) best = rank[i], at = i;
        if (at < 0) break;
        int j = s[at].next;
        s[at].id = newid[at];
        s[at].next = s[j].next;
        if (s[j].next >= 0) s[s[j].next].prev = at;
        s[j].id = -1;
        if (s[at].next < 0 ||
            !bpe_merges_get(&t->merges, s[at].id, s[s[at].next].id, &rank[at], &newid[at]))
            rank[at] = UINT32_MAX;
        int p = s[at].prev;
        if (p >= 0 && !bpe_merges_get(&t->merges, s[p].id, s[at].id, &rank[p], &newid[p]))
            rank[p] = UINT32_MAX;
    }
}

// HF Word::merge_all with a binary min-heap on (rank, pos).
typedef struct {
    uint32_t rank;
    int32_t pos;
    int32_t newid;
} hmerge;

static int hless(const hmerge *a, const hmerge *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}
static void hpush(hmerge *h, int *n, hmerge m) {
    int i = (*n)++;
    h[i] = m;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!hless(&h[i], &h[p])) break;
        hmerge x = h[i];
        h[i] = h[p];
        h[p] = x;
        i = p;
    }
}
static hmerge hpop(hmerge *h, int *n) {
    hmerge top = h[0];
    h[0] = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && hless(&h[l], &h[m])) m = l;
        if (r < *n && hless(&h[r], &h[m])) m = r;
        if (m == i) break;
        hmerge x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
    return top;
}

static void merge_heap(const tokenizer *t, sym *s, int n) {
    // every merge pushes at most 2 entries
    hmerge *h = xmalloc((size_t)(3 * n + 1) * sizeof *h);
    int nh = 0;
    uint32_t r;
    int32_t nid;
    for (int i = 0; i + 1 < n; i++)
        if (bpe_merges_get(&t->merges, s[i].id, s[i + 1].id, &r, &nid))
            hpush(h, &nh, (hmerge){r, i, nid});
    while (nh) {
        hmerge top = hpop(h, &nh);
        sym *cur = &s[top.pos];
        if (cur->id < 0 || cur->next < 0) continue;
        int j = cur->next;
        // skip expired entries: the pair at pos no longer merges into newid
        if (!bpe_merges_get(&t->merges, cur->id, s[j].id, &r, &nid) || nid != top.newid) continue;
        cur->id = top.newid;
        cur->next = s[j].next;
        if (s[j].next >= 0) s[s[j].next].prev = top.pos;
        s[j].id = -1;
        if (cur->prev >= 0 && bpe_merges_get(&t->merges, s[cur->prev].id, cur->id, &r, &nid))
            hpush(h, &nh, (hmerge){r, cur->prev, nid});
        if (cur->next >= 0 && bpe_merges_get(&t->merges, cur->id, s[cur->next].id, &r, &nid))
            hpush(h, &nh, (hmerge){r, top.pos, nid});
    }
    free(h);
}

// ---- one word ----
void bpe_encode_word(tokenizer *t, const uint8_t *w, size_t n, tok_ids *out) {
    if (n == 0) return;
    if (t->ignore_merges) {
        int32_t id = idhash_get(&t->by_bytes, t->byte_blob, t->byte_off, t->byte_len, w, n);
        if (id >= 0) {
            tok_ids_push(out, id);
            return;
        }
    }
    uint32_t hv = 0;
    bpe_cache_entry *ce = NULL;
    if (!t->cache_off && n <= BPE_CACHE_KEY) {
        if (!t->cache) t->cache = xcalloc(BPE_CACHE_SLOTS, sizeof *t->cache);
        hv = tok_hash_bytes(w, n);
        ce = &t->cache[hv & (BPE_CACHE_SLOTS - 1)];
        if (ce->klen == n && ce->hash == hv && memcmp(ce->key, w, n) == 0) {
            for (int i = 0; i < ce->nids; i++) tok_ids_push(out, ce->ids[i]);
            return;
        }
    }

    sym local[64];
    symbuf b = {local, 0, 64, 0};
    initial_symbols(t, w, n, &b);
    if (b.n < t->heap_min && b.n <= 256) merge_scan(t, b.s, b.n);
    else merge_heap(t, b.s, b.n);

    size_t first = out->n;
    for (int i = 0; b.n && i >= 0; i = b.s[i].next) tok_ids_push(out, b.s[i].id);
    size_t produced = out->n - first;
    if (ce && produced <= BPE_CACHE_IDS) {
        ce->hash = hv;
        ce->klen = (uint8_t)n;
        ce->nids = (uint8_t)produced;
        memcpy(ce->key, w, n);
        memcpy(ce->ids, out->ids + first, produced * sizeof(int32_t));
    }
    if (b.on_heap) free(b.s);
}
