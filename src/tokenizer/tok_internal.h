// tok_internal.h — the tokenizer's internals, shared by its .c files and tests.
//
// Not a public interface: everything here may change. The tokenizer owns all of
// it; tok_free releases it.
#ifndef LORAC_TOK_INTERNAL_H
#define LORAC_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

// ---- hash table of byte strings -> id ----
// Keys are not stored: slot = (hash32 << 32) | (id + 1); the key bytes of id
// come from (blob + off[id], len[id]) of the owner.
typedef struct {
    uint64_t *slots; // 0 = empty
    uint32_t mask;
    uint32_t n;
} idhash;

uint32_t tok_hash_bytes(const void *p, size_t n);
void idhash_init(idhash *h, size_t expected);
void idhash_release(idhash *h);
// Insert id under key; an existing equal key is overwritten (last one wins).
void idhash_put(idhash *h, const uint8_t *blob, const uint32_t *off, const uint32_t *len,
                const void *key, size_t n, int32_t id);
int32_t idhash_get(const idhash *h, const uint8_t *blob, const uint32_t *off, const uint32_t *len,
                   const void *key, size_t n); // -1 if absent

// ---- BPE merges: (left id, right id) -> (rank, merged id) ----
typedef struct {
    uint64_t *keys; // UINT64_MAX = empty
    uint32_t *rank;
    int32_t *merged;
    uint32_t mask;
    size_t n;
} bpe_merges;

void bpe_merges_init(bpe_merges *m, size_t expected);
void bpe_merges_release(bpe_merges *m);
void bpe_merges_put(bpe_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);

static inline int bpe_merges_get(const bpe_merges *m, int32_t a, int32_t b, uint32_t *rank,
                                 int32_t *merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return 1;
        }
        if (k == UINT64_MAX) return 0;
        i = (i + 1) & m->mask;
    }
}

// ---- word cache (direct-mapped; a collision replaces the older word) ----
#define BPE_CACHE_KEY 42
#define BPE_CACHE_IDS 12
typedef struct {
    uint32_t hash;
    uint8_t klen; // 0 = empty slot
    uint8_t nids;
    uint8_t key[BPE_CACHE_KEY];
    int32_t ids[BPE_CACHE_IDS];
} bpe_cache_entry;
#define BPE_CACHE_SLOTS (1u << 15)

// ---- added tokens ----
typedef struct {
    char *content; // owned, what is matched in the text
    size_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} added_token;

// Byte trie for leftmost-longest matching of added tokens.
typedef struct {
    int32_t child, sibling; // node indices, -1 = none
    int32_t tok;            // index into tokenizer.added, -1 = not a token end
    uint8_t byte;
} trie_node;
typedef struct {
    trie_node *nodes; // node 0 is the root
    int32_t n, cap;
    uint8_t first[256]; // bytes that start some token
    int empty;          // no tokens at all
} added_trie;

// ---- normalizer and pre-tokenizer ----
typedef enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD } norm_kind;

typedef enum {
    SPLIT_REMOVED,
    SPLIT_ISOLATED,
    SPLIT_MERGED_PREV,
    SPLIT_MERGED_NEXT,
    SPLIT_CONTIGUOUS,
} split_behavior;

typedef enum { PRE_SPLIT, PRE_PREFIX_SPACE } pre_kind;
typedef struct {
    pre_kind kind;
    pcre2_code *re; // PRE_SPLIT
    int jit;        // JIT compiled
    split_behavior behavior;
    int invert;
} pre_step;

typedef struct {
    const char *p;
    size_t n;
} tok_piece;

// ---- the tokenizer ----
struct tokenizer {
    char *source; // file loaded from

    // vocabulary, indexed by id (0 .. n_vocab-1)
    int32_t n_vocab;
    char *str_blob;      // vocab-form strings, NUL-terminated
    uint32_t *str_off;   // UINT32_MAX = unused id
    uint32_t *str_len;
    uint8_t *byte_blob;  // decoded bytes of every id (ByteLevel decoder rule)
    uint32_t *byte_off;
    uint32_t *byte_len;
    uint8_t *special;    // per id: special added token
    idhash by_str;       // vocab-form string -> id (model vocab and added tokens)
    idhash by_bytes;     // raw bytes -> id, byte-level tokens of the model vocab

    // BPE model
    bpe_merges merges;
    int32_t byte_id[256]; // id of each single byte, -1 if absent
    int ignore_merges;
    int byte_fallback;
    int32_t unk_id; // BPE unk token, -1 = none
    int fuse_unk;
    bpe_cache_entry *cache; // BPE_CACHE_SLOTS entries, allocated on first use
    int cache_off;          // tests: disable the word cache
    int heap_min;           // words at least this long use the priority-queue merge

    // added tokens
    added_token *added;
    int n_added;
    added_trie trie_raw;  // tokens with normalized = false
    added_trie trie_norm; // tokens with normalized = true (matched after normalizing)
    int encode_special;   // split_special_tokens: specials are not matched

    // normalizer
    norm_kind *norm;
    int n_norm;

    // pre-tokenizer (ByteLevel's byte mapping is implicit: BPE runs on raw bytes)
    pre_step *pre;
    int n_pre;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;

    // post-processor (add_special)
    int32_t *prefix_ids, *suffix_ids;
    int n_prefix, n_suffix;

    // special tokens from tokenizer_config.json / GGUF
    char *bos_str, *eos_str, *pad_str, *unk_str;
    int32_t bos_id, eos_id, pad_id, unk_tok_id;

    // scratch reused across encode calls
    tok_piece *pa, *pb;
    size_t pa_cap, pb_cap;
    size_t *mv; // match offsets (start, end, is_match) triples
    size_t mv_cap;
    char **owned; // prefix-space copies made during one encode
    size_t n_owned, owned_cap;
};

// ---- internal functions ----
tokenizer *tok_alloc(const char *source);
// pretok.c
int tok_compile_regex(tokenizer *t, pre_step *s, const char *pattern, int literal, const char *where);
void tok_pre_release(tokenizer *t);
int tok_pretokenize(tokenizer *t, const char *text, size_t len, tok_piece **out, size_t *n_out);
// Normalize text; *out is text itself (no change) or a heap copy in *owned.
int tok_normalize(const tokenizer *t, const char *text, size_t len, const char **out, size_t *out_len,
                  char **owned);
// bpe.c
void bpe_encode_word(tokenizer *t, const uint8_t *w, size_t n, tok_ids *out);
// utf-8
int tok_utf8_valid(const char *s, size_t n, size_t *bad_at);
extern const uint16_t tok_byte_to_cp[256]; // ByteLevel: byte -> code point
int tok_cp_to_byte(uint32_t cp);           // -1 if cp is not a ByteLevel char

#endif
