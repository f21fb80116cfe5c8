// tokenizer.c — load a byte-level BPE tokenizer (tokenizer.json or GGUF), encode, decode.
//
// Encoding follows HF tokenizers' TokenizerImpl::encode: added tokens with
// normalized=false are split out of the raw text; each remaining piece is
// normalized, then added tokens with normalized=true are split out of it; the
// rest is pre-tokenized into words and each word goes through BPE. Decoding
// concatenates each token's bytes (ByteLevel decoder) and repairs invalid UTF-8
// like Rust's from_utf8_lossy.
#include "tok_internal.h"

#include "../io/model_path.h"

#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- small vectors ----
void tok_ids_init(tok_ids *v) { memset(v, 0, sizeof *v); }
void tok_ids_release(tok_ids *v) {
    free(v->ids);
    memset(v, 0, sizeof *v);
}
void tok_ids_push(tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->ids = xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->n++] = id;
}

// ---- lifecycle ----
tokenizer *tok_alloc(const char *source) {
    tokenizer *t = xcalloc(1, sizeof *t);
    t->source = xstrdup(source);
    t->unk_id = -1;
    t->bos_id = t->eos_id = t->pad_id = t->unk_tok_id = -1;
    t->heap_min = 64;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->trie_raw.empty = t->trie_norm.empty = 1;
    return t;
}

void tok_free(tokenizer *t) {
    if (!t) return;
    free(t->source);
    free(t->str_blob);
    free(t->str_off);
    free(t->str_len);
    free(t->byte_blob);
    free(t->byte_off);
    free(t->byte_len);
    free(t->special);
    idhash_release(&t->by_str);
    idhash_release(&t->by_bytes);
    bpe_merges_release(&t->merges);
    free(t->cache);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->trie_raw.nodes);
    free(t->trie_norm.nodes);
    free(t->norm);
    tok_pre_release(t);
    free(t->prefix_ids);
    free(t->suffix_ids);
    free(t->bos_str);
    free(t->eos_str);
    free(t->pad_str);
    free(t->unk_str);
    free(t->pa);
    free(t->pb);
    free(t->mv);
    free(t->owned);
    free(t);
}

// ---- vocabulary ----
typedef struct {
    int32_t id;
    const char *s;
    size_t n;
    int model; // part of the BPE model's vocabulary
} vent;

typedef struct {
    vent *v;
    size_t n, cap;
} ventvec;

static void vent_push(ventvec *vv, int32_t id, const char *s, size_t n, int model) {
    if (vv->n == vv->cap) {
        vv->cap = vv->cap ? vv->cap * 2 : 1024;
        vv->v = xrealloc(vv->v, vv->cap * sizeof *vv->v);
    }
    vv->v[vv->n++] = (vent){id, s, n, model};
}

// Decode a vocabulary string with the ByteLevel rule: every char maps back to
// a byte, or (when any char does not) the token's own UTF-8 bytes are used.
// Returns 1 when the token is byte-level.
static int bytelevel_decode(const char *s, size_t n, uint8_t *out, size_t *out_n) {
    size_t k = 0;
    utf8proc_ssize_t i = 0;
    while ((size_t)i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)n - i, &cp);
        int b = r > 0 ? tok_cp_to_byte((uint32_t)cp) : -1;
        if (b < 0) {
            memcpy(out, s, n);
            *out_n = n;
            return 0;
        }
        out[k++] = (uint8_t)b;
        i += r;
    }
    *out_n = k;
    return 1;
}

// Lay out the vocabulary: ids, strings, decoded bytes and both hashes. Later
// entries for an id replace earlier ones (added tokens after the model).
static int build_vocab(tokenizer *t, const ventvec *vv) {
    int64_t max_id = -1;
    size_t total = 0;
    for (size_t i = 0; i < vv->n; i++) {
        if (vv->v[i].id < 0) return err_set("%s: token '%s' has negative id %d", t->source, vv->v[i].s, vv->v[i].id);
        if (vv->v[i].id > max_id) max_id = vv->v[i].id;
        total += vv->v[i].n + 1;
    }
    if (max_id < 0) return err_set("%s: the vocabulary is empty", t->source);
    if (total >= UINT32_MAX) return err_set("%s: vocabulary strings too large", t->source);
    int32_t nv = (int32_t)(max_id + 1);
    t->n_vocab = nv;
    t->str_blob = xmalloc(total ? total : 1);
    t->str_off = xmalloc((size_t)nv * sizeof(uint32_t));
    t->str_len = xcalloc((size_t)nv, sizeof(uint32_t));
    memset(t->str_off, 0xFF, (size_t)nv * sizeof(uint32_t));
    uint8_t *in_model = xcalloc((size_t)nv, 1);
    size_t at = 0;
    for (size_t i = 0; i < vv->n; i++) {
        const vent *e = &vv->v[i];
        memcpy(t->str_blob + at, e->s, e->n);
        t->str_blob[at + e->n] = 0;
        t->str_off[e->id] = (uint32_t)at;
        t->str_len[e->id] = (uint32_t)e->n;
        if (e->model) in_model[e->id] = 1;
        at += e->n + 1;
    }
    t->byte_blob = xmalloc(at ? at : 1);
    t->byte_off = xmalloc((size_t)nv * sizeof(uint32_t));
    t->byte_len = xcalloc((size_t)nv, sizeof(uint32_t));
    t->special = xcalloc((size_t)nv, 1);
    uint8_t *is_bl = xcalloc((size_t)nv, 1);
    size_t bat = 0, n_bl = 0, n_str = 0;
    for (int32_t id = 0; id < nv; id++) {
        t->byte_off[id] = (uint32_t)bat;
        if (t->str_off[id] == UINT32_MAX) continue;
        size_t bn;
        is_bl[id] = (uint8_t)bytelevel_decode(t->str_blob + t->str_off[id], t->str_len[id], t->byte_blob + bat, &bn);
        t->byte_len[id] = (uint32_t)bn;
        bat += bn;
        n_str++;
        n_bl += is_bl[id] && in_model[id];
    }
    idhash_init(&t->by_str, n_str);
    idhash_init(&t->by_bytes, n_bl);
    for (int32_t id = 0; id < nv; id++) {
        if (t->str_off[id] == UINT32_MAX) continue;
        idhash_put(&t->by_str, (const uint8_t *)t->str_blob, t->str_off, t->str_len,
                   t->str_blob + t->str_off[id], t->str_len[id], id);
        if (is_bl[id] && in_model[id])
            idhash_put(&t->by_bytes, t->byte_blob, t->byte_off, t->byte_len, t->byte_blob + t->byte_off[id],
                       t->byte_len[id], id);
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = idhash_get(&t->by_bytes, t->byte_blob, t->byte_off, t->byte_len, &c, 1);
    }
    free(in_model);
    free(is_bl);
    return 0;
}

static int32_t str_id(const tokenizer *t, const char *s, size_t n) {
    return idhash_get(&t->by_str, (const uint8_t *)t->str_blob, t->str_off, t->str_len, s, n);
}

// One merge rule "a" + "b" at rank; both and their concatenation must exist.
static int add_merge(tokenizer *t, const char *a, size_t an, const char *b, size_t bn, uint32_t rank,
                     strbuf *tmp) {
    int32_t ia = str_id(t, a, an), ib = str_id(t, b, bn);
    tmp->len = 0;
    sb_append(tmp, a, an);
    sb_append(tmp, b, bn);
    int32_t im = str_id(t, tmp->buf, tmp->len);
    if (ia < 0 || ib < 0 || im < 0) {
        const char *which = ia < 0 ? "left part" : ib < 0 ? "right part" : "merged token";
        return err_set("%s: merges[%u] '%.*s %.*s': %s is not in the vocabulary", t->source, rank, (int)an, a,
                       (int)bn, b, which);
    }
    bpe_merges_put(&t->merges, ia, ib, rank, im);
    return 0;
}

// ---- added tokens ----
static int32_t trie_node_new(added_trie *tr, uint8_t byte) {
    if (tr->n == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 256;
        tr->nodes = xrealloc(tr->nodes, (size_t)tr->cap * sizeof *tr->nodes);
    }
    tr->nodes[tr->n] = (trie_node){-1, -1, -1, byte};
    return tr->n++;
}

static void trie_insert(added_trie *tr, const char *s, size_t n, int32_t tok) {
    if (!tr->n) trie_node_new(tr, 0);
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t ch = tr->nodes[cur].child, found = -1;
        for (; ch >= 0; ch = tr->nodes[ch].sibling)
            if (tr->nodes[ch].byte == c) {
                found = ch;
                break;
            }
        if (found < 0) {
            found = trie_node_new(tr, c);
            tr->nodes[found].sibling = tr->nodes[cur].child;
            tr->nodes[cur].child = found;
        }
        cur = found;
    }
    tr->nodes[cur].tok = tok; // duplicate contents: the later token wins
    tr->first[(uint8_t)s[0]] = 1;
    tr->empty = 0;
}

// Leftmost-longest match starting at or after `from`.
static int trie_find(const added_trie *tr, const char *s, size_t n, size_t from, size_t *ms, size_t *me,
                     int32_t *tok) {
    for (size_t p = from; p < n; p++) {
        if (!tr->first[(uint8_t)s[p]]) continue;
        int32_t cur = 0, best = -1;
        size_t best_end = 0;
        for (size_t i = p; i < n; i++) {
            int32_t ch = tr->nodes[cur].child;
            while (ch >= 0 && tr->nodes[ch].byte != (uint8_t)s[i]) ch = tr->nodes[ch].sibling;
            if (ch < 0) break;
            cur = ch;
            if (tr->nodes[cur].tok >= 0) best = tr->nodes[cur].tok, best_end = i + 1;
        }
        if (best >= 0) {
            *ms = p;
            *me = best_end;
            *tok = best;
            return 1;
        }
    }
    return 0;
}

static void add_added(tokenizer *t, int32_t id, const char *content, size_t len, int special, int lstrip,
                      int rstrip, int single_word, int normalized) {
    t->added = xrealloc(t->added, (size_t)(t->n_added + 1) * sizeof *t->added);
    added_token *a = &t->added[t->n_added++];
    a->content = xstrndup(content, len);
    a->len = len;
    a->id = id;
    a->special = (uint8_t)special;
    a->lstrip = (uint8_t)lstrip;
    a->rstrip = (uint8_t)rstrip;
    a->single_word = (uint8_t)single_word;
    a->normalized = (uint8_t)normalized;
}

// Tries need the normalizer: normalized tokens are matched in normalized form.
static int build_tries(tokenizer *t) {
    for (int i = 0; i < t->n_added; i++) {
        added_token *a = &t->added[i];
        if (a->len == 0) continue;
        if (a->id >= 0 && a->id < t->n_vocab && a->special) t->special[a->id] = 1;
        if (a->normalized) {
            const char *ns;
            size_t nn;
            char *owned;
            if (tok_normalize(t, a->content, a->len, &ns, &nn, &owned) < 0) return -1;
            if (nn) trie_insert(&t->trie_norm, ns, nn, i);
            free(owned);
        } else {
            trie_insert(&t->trie_raw, a->content, a->len, i);
        }
    }
    return 0;
}

// ---- JSON helpers ----
static int jbool(const json_t *o, const char *k, int def) {
    const json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

// A special token in tokenizer_config.json: "<s>" or {"content": "<s>", ...}.
static char *token_content(const json_t *v) {
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) return xstrdup(jstr(v, "content"));
    return NULL;
}

// ---- tokenizer.json sections ----
static int parse_normalizer(tokenizer *t, const json_t *n) {
    if (!n || json_is_null(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return err_set("%s: normalizer: missing \"type\"", t->source);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *arr = json_object_get(n, "normalizers");
        if (!json_is_array(arr)) return err_set("%s: normalizer Sequence: missing \"normalizers\" list", t->source);
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (parse_normalizer(t, json_array_get(arr, i)) < 0) return -1;
        return 0;
    }
    norm_kind k;
    if (strcmp(type, "NFC") == 0) k = NORM_NFC;
    else if (strcmp(type, "NFD") == 0) k = NORM_NFD;
    else if (strcmp(type, "NFKC") == 0) k = NORM_NFKC;
    else if (strcmp(type, "NFKD") == 0) k = NORM_NFKD;
    else {
        err_set("%s: normalizer type '%s' is not supported", t->source, type);
        err_hint("lorac supports NFC, NFD, NFKC, NFKD and Sequence of them (byte-level BPE models)");
        return -1;
    }
    t->norm = xrealloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *t->norm);
    t->norm[t->n_norm++] = k;
    return 0;
}

static pre_step *pre_push(tokenizer *t) {
    t->pre = xrealloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *t->pre);
    pre_step *s = &t->pre[t->n_pre++];
    memset(s, 0, sizeof *s);
    return s;
}

static const char *RE_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_split(tokenizer *t, const char *pattern, int literal, split_behavior b, int invert,
                     const char *where) {
    pre_step *s = pre_push(t);
    s->kind = PRE_SPLIT;
    s->behavior = b;
    s->invert = invert;
    if (tok_compile_regex(t, s, pattern, literal, where) < 0) {
        t->n_pre--; // nothing compiled to free
        return -1;
    }
    return 0;
}

static int parse_pre(tokenizer *t, const json_t *p, int *saw_bytelevel) {
    if (!p || json_is_null(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) return err_set("%s: pre_tokenizer: missing \"type\"", t->source);
    if (*saw_bytelevel)
        return err_set("%s: pre_tokenizer: '%s' after ByteLevel is not supported (ByteLevel must be the last step)",
                       t->source, type);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *arr = json_object_get(p, "pretokenizers");
        if (!json_is_array(arr))
            return err_set("%s: pre_tokenizer Sequence: missing \"pretokenizers\" list", t->source);
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (parse_pre(t, json_array_get(arr, i), saw_bytelevel) < 0) return -1;
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        const json_t *pat = json_object_get(p, "pattern");
        const char *re = jstr(pat, "Regex"), *lit = jstr(pat, "String");
        if (!re && !lit)
            return err_set("%s: pre_tokenizer Split: \"pattern\" must be {\"Regex\": ...} or {\"String\": ...}",
                           t->source);
        const char *beh = jstr(p, "behavior");
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        int b = -1;
        for (int i = 0; beh && i < 5; i++)
            if (strcmp(beh, names[i]) == 0) b = i;
        if (b < 0)
            return err_set("%s: pre_tokenizer Split: behavior '%s' is not one of Removed, Isolated, "
                           "MergedWithPrevious, MergedWithNext, Contiguous",
                           t->source, beh ? beh : "(missing)");
        return add_split(t, re ? re : lit, !re, (split_behavior)b, jbool(p, "invert", 0), "pre_tokenizer Split");
    }
    if (strcmp(type, "Digits") == 0) {
        int individual = jbool(p, "individual_digits", 0);
        return add_split(t, individual ? "\\p{N}" : "\\p{N}+", 0, SPLIT_ISOLATED, 0, "pre_tokenizer Digits");
    }
    if (strcmp(type, "ByteLevel") == 0) {
        *saw_bytelevel = 1;
        if (jbool(p, "add_prefix_space", 1)) pre_push(t)->kind = PRE_PREFIX_SPACE;
        if (jbool(p, "use_regex", 1))
            return add_split(t, RE_GPT2, 0, SPLIT_ISOLATED, 0, "pre_tokenizer ByteLevel");
        return 0;
    }
    err_set("%s: pre_tokenizer type '%s' is not supported", t->source, type);
    err_hint("lorac supports byte-level BPE: Sequence, Split, Digits and ByteLevel pre-tokenizers");
    return -1;
}

static int parse_model(tokenizer *t, const json_t *m, ventvec *vv, const json_t **merges) {
    if (!json_is_object(m)) return err_set("%s: missing \"model\"", t->source);
    const char *type = jstr(m, "type");
    if (type && strcmp(type, "BPE") != 0) {
        err_set("%s: model type '%s' is not supported", t->source, type);
        err_hint("lorac supports byte-level BPE tokenizers (Llama 3, Qwen, SmolLM, GPT-2 style)");
        return -1;
    }
    const json_t *vocab = json_object_get(m, "vocab");
    if (!json_is_object(vocab)) return err_set("%s: model: missing \"vocab\" object", t->source);
    *merges = json_object_get(m, "merges");
    if (!json_is_array(*merges)) return err_set("%s: model: missing \"merges\" list", t->source);
    const json_t *dropout = json_object_get(m, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return err_set("%s: model: BPE dropout %g is not supported (encoding must be deterministic)", t->source,
                       json_number_value(dropout));
    const char *pre = jstr(m, "continuing_subword_prefix"), *suf = jstr(m, "end_of_word_suffix");
    if ((pre && *pre) || (suf && *suf))
        return err_set("%s: model: continuing_subword_prefix/end_of_word_suffix are not supported", t->source);
    t->ignore_merges = jbool(m, "ignore_merges", 0);
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    t->fuse_unk = jbool(m, "fuse_unk", 0);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > INT32_MAX)
            return err_set("%s: model.vocab['%s']: id must be a non-negative integer", t->source, key);
        vent_push(vv, (int32_t)json_integer_value(val), key, strlen(key), 1);
    }
    return 0;
}

static int parse_merges(tokenizer *t, const json_t *merges) {
    size_t n = json_array_size(merges);
    bpe_merges_init(&t->merges, n);
    strbuf tmp;
    sb_init(&tmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *e = json_array_get(merges, i);
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                rc = err_set("%s: merges[%zu] '%s': expected two tokens separated by one space", t->source, i, s);
            else rc = add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), (uint32_t)i, &tmp);
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            const json_t *a = json_array_get(e, 0), *b = json_array_get(e, 1);
            rc = add_merge(t, json_string_value(a), json_string_length(a), json_string_value(b),
                           json_string_length(b), (uint32_t)i, &tmp);
        } else {
            rc = err_set("%s: merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", t->source, i);
        }
    }
    sb_release(&tmp);
    return rc;
}

static void ids_append(int32_t **v, int *n, int32_t id) {
    *v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = id;
}

static int parse_post(tokenizer *t, const json_t *p) {
    if (!p || json_is_null(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) return err_set("%s: post_processor: missing \"type\"", t->source);
    if (strcmp(type, "ByteLevel") == 0) return 0; // only trims offsets
    if (strcmp(type, "Sequence") == 0) {
        const json_t *arr = json_object_get(p, "processors");
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (parse_post(t, json_array_get(arr, i)) < 0) return -1;
        return 0;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        const json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
        if (!json_is_array(single)) return err_set("%s: post_processor TemplateProcessing: missing \"single\"", t->source);
        int seen_seq = 0;
        for (size_t i = 0; i < json_array_size(single); i++) {
            const json_t *item = json_array_get(single, i);
            if (json_object_get(item, "Sequence")) {
                seen_seq = 1;
                continue;
            }
            const char *name = jstr(json_object_get(item, "SpecialToken"), "id");
            if (!name) return err_set("%s: post_processor: bad item %zu in \"single\"", t->source, i);
            const json_t *ids = json_object_get(json_object_get(specials, name), "ids");
            if (!json_is_array(ids))
                return err_set("%s: post_processor: special token '%s' is not in \"special_tokens\"", t->source, name);
            for (size_t k = 0; k < json_array_size(ids); k++) {
                json_int_t id = json_integer_value(json_array_get(ids, k));
                if (seen_seq) ids_append(&t->suffix_ids, &t->n_suffix, (int32_t)id);
                else ids_append(&t->prefix_ids, &t->n_prefix, (int32_t)id);
            }
        }
        return 0;
    }
    err_set("%s: post_processor type '%s' is not supported", t->source, type);
    err_hint("lorac supports TemplateProcessing, ByteLevel and Sequence post-processors");
    return -1;
}

static int parse_decoder(tokenizer *t, const json_t *d) {
    const char *type = jstr(d, "type");
    if (type && strcmp(type, "ByteLevel") == 0) return 0;
    if (type && strcmp(type, "Sequence") == 0 && json_array_size(json_object_get(d, "decoders")) == 1)
        return parse_decoder(t, json_array_get(json_object_get(d, "decoders"), 0));
    err_set("%s: decoder type '%s' is not supported", t->source, type ? type : "(none)");
    err_hint("lorac decodes byte-level BPE tokenizers (decoder \"ByteLevel\")");
    return -1;
}

// Added tokens get their ids the way HF's AddedVocabulary::add_tokens gives
// them, not from the file's "id": an earlier added token with the same content,
// else the model's id for that content, else the next id after the model's
// vocabulary (in list order). A later token with the same id replaces an
// earlier one.
static int parse_added(tokenizer *t, const json_t *added, const json_t *vocab, size_t n_model, ventvec *vv) {
    json_t *amap = json_object(); // content -> id
    json_int_t next_id = (json_int_t)n_model;
    int rc = 0;
    for (size_t i = 0; i < json_array_size(added) && rc == 0; i++) {
        const json_t *a = json_array_get(added, i);
        const json_t *content = json_object_get(a, "content");
        if (!json_is_string(content)) {
            rc = err_set("%s: added_tokens[%zu]: missing \"content\"", t->source, i);
            break;
        }
        const char *c = json_string_value(content);
        size_t len = json_string_length(content);
        if (len == 0) continue;
        const json_t *known = json_object_get(amap, c), *model = json_object_get(vocab, c);
        json_int_t id = known ? json_integer_value(known) : json_is_integer(model) ? json_integer_value(model) : next_id++;
        if (id > INT32_MAX) {
            rc = err_set("%s: added_tokens[%zu]: id %lld out of range", t->source, i, (long long)id);
            break;
        }
        json_object_set_new(amap, c, json_integer(id));
        int special = jbool(a, "special", 0);
        for (int k = 0; k < t->n_added; k++) // same id: the later token replaces it
            if (t->added[k].id == (int32_t)id) {
                free(t->added[k].content);
                t->added[k] = t->added[--t->n_added];
                break;
            }
        vent_push(vv, (int32_t)id, c, len, 0);
        add_added(t, (int32_t)id, c, len, special, jbool(a, "lstrip", 0), jbool(a, "rstrip", 0),
                  jbool(a, "single_word", 0), jbool(a, "normalized", !special));
    }
    json_decref(amap);
    return rc;
}

// ---- loading tokenizer.json ----
static int load_config(tokenizer *t, const char *config_path) {
    json_error_t je;
    json_t *c = json_load_file(config_path, JSON_DECODE_INT_AS_REAL, &je); // model_max_length can be 1e30
    if (!c) return err_set("%s:%d:%d: %s", config_path, je.line, je.column, je.text);
    if (!json_is_object(c)) {
        json_decref(c);
        return err_set("%s: expected a JSON object", config_path);
    }
    t->bos_str = token_content(json_object_get(c, "bos_token"));
    t->eos_str = token_content(json_object_get(c, "eos_token"));
    t->pad_str = token_content(json_object_get(c, "pad_token"));
    t->unk_str = token_content(json_object_get(c, "unk_token"));
    t->encode_special = jbool(c, "split_special_tokens", 0);
    json_decref(c);
    return 0;
}

static void resolve_specials(tokenizer *t) {
    if (t->bos_str) t->bos_id = tok_token_to_id(t, t->bos_str);
    if (t->eos_str) t->eos_id = tok_token_to_id(t, t->eos_str);
    if (t->pad_str) t->pad_id = tok_token_to_id(t, t->pad_str);
    if (t->unk_str) t->unk_tok_id = tok_token_to_id(t, t->unk_str);
}

tokenizer *tok_load_json(const char *json_path, const char *config_path) {
    json_error_t je;
    json_t *root = json_load_file(json_path, 0, &je);
    if (!root) {
        if (!file_exists(json_path)) err_set("%s: no such file", json_path);
        else err_set("%s:%d:%d: %s", json_path, je.line, je.column, je.text);
        return NULL;
    }
    tokenizer *t = tok_alloc(json_path);
    ventvec vv = {0};
    const json_t *merges = NULL;
    int saw_bytelevel = 0;
    if (!json_is_object(root)) {
        err_set("%s: expected a JSON object", json_path);
        goto fail;
    }
    if (parse_model(t, json_object_get(root, "model"), &vv, &merges) < 0) goto fail;
    if (parse_added(t, json_object_get(root, "added_tokens"), json_object_get(json_object_get(root, "model"), "vocab"),
                    vv.n, &vv) < 0)
        goto fail;
    if (build_vocab(t, &vv) < 0) goto fail;
    if (parse_merges(t, merges) < 0) goto fail;
    const char *unk = jstr(json_object_get(root, "model"), "unk_token");
    if (unk) t->unk_id = tok_token_to_id(t, unk); // HF errors only when an unknown char needs it
    if (parse_normalizer(t, json_object_get(root, "normalizer")) < 0) goto fail;
    if (parse_pre(t, json_object_get(root, "pre_tokenizer"), &saw_bytelevel) < 0) goto fail;
    if (!saw_bytelevel) {
        err_set("%s: pre_tokenizer has no ByteLevel step: not a byte-level BPE tokenizer", json_path);
        err_hint("lorac supports byte-level BPE tokenizers (Llama 3, Qwen, SmolLM, GPT-2 style)");
        goto fail;
    }
    if (parse_post(t, json_object_get(root, "post_processor")) < 0) goto fail;
    if (parse_decoder(t, json_object_get(root, "decoder")) < 0) goto fail;
    if (config_path && file_exists(config_path) && load_config(t, config_path) < 0) goto fail;
    if (build_tries(t) < 0) goto fail;
    resolve_specials(t);
    free(vv.v);
    json_decref(root);
#ifdef __GLIBC__
    // Freeing the parsed JSON leaves ~10^6 small chunks in malloc's fast bins;
    // consolidate them now rather than in the first encode (~20 ms).
    malloc_trim(0);
#endif
    return t;
fail:
    free(vv.v);
    json_decref(root);
    tok_free(t);
    return NULL;
}

tokenizer *tok_load_dir(const char *dir) {
    char *jp = path_join(dir, "tokenizer.json");
    char *cp = path_join(dir, "tokenizer_config.json");
    tokenizer *t = NULL;
    if (!file_exists(jp)) err_set("%s: no tokenizer.json in this directory", dir);
    else t = tok_load_json(jp, cp);
    free(jp);
    free(cp);
    return t;
}

// ---- loading GGUF ----
// llama.cpp's pre-tokenizer table (llama-vocab.cpp) for the byte-level types.
typedef struct {
    const char *names; // '|'-separated tokenizer.ggml.pre values
    const char *re[2];
    int ignore_merges, add_bos;
} gguf_pre;

#define RE_LLAMACPP_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
static const gguf_pre GGUF_PRES[] = {
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|midm-2.0|lfm2",
     {RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL},
     1, 1},
    {"dbrx|smaug-bpe",
     {RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL},
     0, 0},
    {"qwen2|deepseek-r1-qwen|kormo|megrez|stablelm2|hunyuan",
     {RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL},
     0, 0},
    {"smollm|starcoder|refact|command-r|codeshell|exaone|minerva-7b", {"\\p{N}", RE_LLAMACPP_GPT2}, 0, 0},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|jina-v1-en|jina-v2-code|"
     "roberta-bpe|mpt|olmo|jais|trillion|granite-docling|exaone4",
     {RE_LLAMACPP_GPT2, NULL},
     0, 0},
};

static const gguf_pre *find_gguf_pre(const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < sizeof GGUF_PRES / sizeof GGUF_PRES[0]; i++) {
        const char *p = GGUF_PRES[i].names;
        while (*p) {
            const char *e = strchr(p, '|');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == nl && memcmp(p, name, l) == 0) return &GGUF_PRES[i];
            p += l + (e ? 1 : 0);
        }
    }
    return NULL;
}

static const gguf_kv *gguf_str_array(const gguf_file *g, const char *key, const char *path) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) {
        err_set("%s: missing %s", path, key);
        return NULL;
    }
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING) {
        err_set("%s: %s must be an array of strings", path, key);
        return NULL;
    }
    return kv;
}

static int32_t gguf_opt_id(const gguf_file *g, const char *key, int32_t n_vocab) {
    if (!gguf_find_kv(g, key)) return -1;
    int64_t v;
    if (gguf_get_i64(g, key, &v) < 0 || v < 0 || v >= n_vocab) {
        err_clear();
        return -1;
    }
    return (int32_t)v;
}

static int gguf_opt_bool(const gguf_file *g, const char *key, int def) {
    if (!gguf_find_kv(g, key)) return def;
    int b;
    if (gguf_get_bool(g, key, &b) < 0) {
        err_clear();
        return def;
    }
    return b;
}

tokenizer *tok_load_gguf_file(const gguf_file *g, const char *path) {
    char *model = gguf_get_str(g, "tokenizer.ggml.model");
    if (!model) {
        err_set("%s: missing tokenizer.ggml.model: this GGUF has no tokenizer", path);
        return NULL;
    }
    if (strcmp(model, "gpt2") != 0) {
        err_set("%s: tokenizer.ggml.model '%s' is not supported", path, model);
        err_hint("lorac supports byte-level BPE tokenizers (tokenizer.ggml.model \"gpt2\")");
        free(model);
        return NULL;
    }
    free(model);
    tokenizer *t = tok_alloc(path);
    ventvec vv = {0};
    char *pre = NULL;
    const gguf_kv *toks = gguf_str_array(g, "tokenizer.ggml.tokens", path);
    const gguf_kv *merges = toks ? gguf_str_array(g, "tokenizer.ggml.merges", path) : NULL;
    if (!toks || !merges) goto fail;
    if (toks->arr_len == 0 || toks->arr_len > INT32_MAX) {
        err_set("%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)toks->arr_len);
        goto fail;
    }
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (types && (types->type != GGUF_TYPE_ARRAY || types->arr_len != toks->arr_len)) {
        err_set("%s: tokenizer.ggml.token_type must be an array of %llu ints", path,
                (unsigned long long)toks->arr_len);
        goto fail;
    }
    int32_t n = (int32_t)toks->arr_len;
    for (int32_t i = 0; i < n; i++) vent_push(&vv, i, toks->arr_strs[i].ptr, toks->arr_strs[i].len, 1);
    if (build_vocab(t, &vv) < 0) goto fail;
    // control (3) and unknown (2) tokens are special; user-defined (4) are plain added tokens
    for (int32_t i = 0; types && i < n; i++) {
        int64_t ty = gguf_arr_i64(types, (uint64_t)i);
        if (ty == 2 || ty == 3 || ty == 4)
            add_added(t, i, toks->arr_strs[i].ptr, toks->arr_strs[i].len, ty != 4, 0, 0, 0, 0);
    }
    bpe_merges_init(&t->merges, merges->arr_len);
    strbuf tmp;
    sb_init(&tmp);
    for (uint64_t i = 0; i < merges->arr_len; i++) {
        const gguf_str *m = &merges->arr_strs[i];
        const char *sp = m->len > 1 ? memchr(m->ptr + 1, ' ', m->len - 1) : NULL; // llama.cpp: find(' ', 1)
        if (!sp) {
            err_set("%s: tokenizer.ggml.merges[%llu] '%.*s': expected two tokens separated by a space", path,
                    (unsigned long long)i, (int)m->len, m->ptr);
            sb_release(&tmp);
            goto fail;
        }
        size_t an = (size_t)(sp - m->ptr);
        if (add_merge(t, m->ptr, an, sp + 1, m->len - an - 1, (uint32_t)i, &tmp) < 0) {
            sb_release(&tmp);
            goto fail;
        }
    }
    sb_release(&tmp);

    pre = gguf_find_kv(g, "tokenizer.ggml.pre") ? gguf_get_str(g, "tokenizer.ggml.pre") : xstrdup("gpt-2");
    if (!pre) goto fail;
    const gguf_pre *gp = find_gguf_pre(pre);
    if (!gp) {
        err_set("%s: tokenizer.ggml.pre '%s' is not supported", path, pre);
        err_hint("supported: llama-bpe (Llama 3), qwen2, smollm, gpt-2 and their aliases in llama.cpp");
        goto fail;
    }
    for (int i = 0; i < 2 && gp->re[i]; i++)
        if (add_split(t, gp->re[i], 0, SPLIT_ISOLATED, 0, "tokenizer.ggml.pre") < 0) goto fail;
    t->ignore_merges = gp->ignore_merges;

    t->bos_id = gguf_opt_id(g, "tokenizer.ggml.bos_token_id", n);
    t->eos_id = gguf_opt_id(g, "tokenizer.ggml.eos_token_id", n);
    t->pad_id = gguf_opt_id(g, "tokenizer.ggml.padding_token_id", n);
    t->unk_tok_id = gguf_opt_id(g, "tokenizer.ggml.unknown_token_id", n);
    if (t->bos_id >= 0) t->bos_str = xstrdup(tok_id_to_token(t, t->bos_id));
    if (t->eos_id >= 0) t->eos_str = xstrdup(tok_id_to_token(t, t->eos_id));
    if (t->pad_id >= 0) t->pad_str = xstrdup(tok_id_to_token(t, t->pad_id));
    if (t->unk_tok_id >= 0) t->unk_str = xstrdup(tok_id_to_token(t, t->unk_tok_id));
    if (gguf_opt_bool(g, "tokenizer.ggml.add_bos_token", gp->add_bos) && t->bos_id >= 0)
        ids_append(&t->prefix_ids, &t->n_prefix, t->bos_id);
    if (gguf_opt_bool(g, "tokenizer.ggml.add_eos_token", 0) && t->eos_id >= 0)
        ids_append(&t->suffix_ids, &t->n_suffix, t->eos_id);
    if (build_tries(t) < 0) goto fail;
    free(pre);
    free(vv.v);
    return t;
fail:
    free(pre);
    free(vv.v);
    tok_free(t);
    return NULL;
}

tokenizer *tok_load_gguf(const char *path) {
    gguf_file g;
    memset(&g, 0, sizeof g);
    if (gguf_open(&g, path) < 0) return NULL;
    tokenizer *t = tok_load_gguf_file(&g, path);
    gguf_close(&g);
    return t;
}

tokenizer *tok_load(const char *spec) {
    char *jp = path_join(spec, "tokenizer.json");
    int has_json = dir_exists(spec) && file_exists(jp);
    free(jp);
    if (has_json) return tok_load_dir(spec);
    if (file_exists(spec) && !dir_exists(spec)) {
        size_t n = strlen(spec);
        if (n >= 5 && strcmp(spec + n - 5, ".json") == 0) {
            char *slash = strrchr(spec, '/');
            char *dir = slash ? xstrndup(spec, (size_t)(slash - spec)) : xstrdup(".");
            char *cp = path_join(dir, "tokenizer_config.json");
            tokenizer *t = tok_load_json(spec, cp);
            free(dir);
            free(cp);
            return t;
        }
        if (gguf_is_gguf(spec)) return tok_load_gguf(spec);
    }
    model_src src;
    memset(&src, 0, sizeof src);
    if (model_path_resolve(spec, &src) < 0) return NULL;
    tokenizer *t = src.kind == MODEL_SRC_GGUF ? tok_load_gguf(src.path) : tok_load_dir(src.path);
    model_src_release(&src);
    return t;
}

// ---- encoding ----
typedef int (*seg_fn)(tokenizer *t, const char *s, size_t n, tok_ids *out);

// Rust regex \w: alphabetic, marks, decimal digits, connector punctuation.
static int is_word_cp(utf8proc_int32_t cp) {
    if (cp == 0x200C || cp == 0x200D) return 1;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

static int is_space_cp(utf8proc_int32_t c) { // Unicode White_Space
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Code point ending just before s[end] (s valid UTF-8, end > 0).
static utf8proc_int32_t cp_before(const char *s, size_t end, size_t *start) {
    size_t i = end - 1;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    utf8proc_int32_t cp;
    utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(end - i), &cp);
    *start = i;
    return cp;
}

static utf8proc_int32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    *len = r > 0 ? (size_t)r : 1;
    return cp;
}

// HF AddedVocabulary::find_matches + split_with_indices.
static int split_added(tokenizer *t, const added_trie *tr, const char *s, size_t n, tok_ids *out, seg_fn fn) {
    if (tr->empty) return n ? fn(t, s, n, out) : 0;
    size_t start_off = 0, i = 0, ms, me;
    int32_t k;
    while (i < n && trie_find(tr, s, n, i, &ms, &me, &k)) {
        const added_token *a = &t->added[k];
        i = me;
        if (t->encode_special && a->special) continue;
        if (a->single_word) {
            size_t st, l;
            int start_ok = ms == 0 || !is_word_cp(cp_before(s, ms, &st));
            int stop_ok = me == n || !is_word_cp(cp_at(s, n, me, &l));
            if (!start_ok || !stop_ok) continue;
        }
        size_t start = ms, stop = me;
        if (a->lstrip) {
            size_t p = ms, st;
            while (p > 0 && is_space_cp(cp_before(s, p, &st))) p = st;
            start = p > start_off ? p : start_off;
        }
        if (a->rstrip) {
            size_t l;
            while (stop < n && is_space_cp(cp_at(s, n, stop, &l))) stop += l;
        }
        if (start_off < start && fn(t, s + start_off, start - start_off, out) < 0) return -1;
        tok_ids_push(out, a->id);
        start_off = stop;
    }
    if (start_off < n) return fn(t, s + start_off, n - start_off, out);
    return 0;
}

static int seg_model(tokenizer *t, const char *s, size_t n, tok_ids *out) {
    tok_piece *pc;
    size_t np;
    int rc = tok_pretokenize(t, s, n, &pc, &np);
    if (rc == 0)
        for (size_t i = 0; i < np; i++) bpe_encode_word(t, (const uint8_t *)pc[i].p, pc[i].n, out);
    for (size_t i = 0; i < t->n_owned; i++) free(t->owned[i]);
    t->n_owned = 0;
    return rc;
}

static int seg_normalized(tokenizer *t, const char *s, size_t n, tok_ids *out) {
    const char *ns;
    size_t nn;
    char *owned;
    if (tok_normalize(t, s, n, &ns, &nn, &owned) < 0) return -1;
    int rc = split_added(t, &t->trie_norm, ns, nn, out, seg_model);
    free(owned);
    return rc;
}

int tok_encode(tokenizer *t, const char *text, size_t len, int add_special, tok_ids *out) {
    size_t bad;
    if (!tok_utf8_valid(text, len, &bad)) return err_set("tokenize: text is not valid UTF-8 (byte %zu)", bad);
    if (add_special)
        for (int i = 0; i < t->n_prefix; i++) tok_ids_push(out, t->prefix_ids[i]);
    if (split_added(t, &t->trie_raw, text, len, out, seg_normalized) < 0) return -1;
    if (add_special)
        for (int i = 0; i < t->n_suffix; i++) tok_ids_push(out, t->suffix_ids[i]);
    return 0;
}

// ---- decoding ----
static void put_fffd(strbuf *out) { sb_append(out, "\xEF\xBF\xBD", 3); }

// Feed bytes through an incremental UTF-8 repair: complete sequences go to
// out, a maximal invalid subpart becomes one U+FFFD, a partial tail waits.
static void utf8_feed(tok_decoder *d, const uint8_t *b, size_t n, strbuf *out) {
    size_t i = 0;
    while (i < n) {
        if (d->npend == 0) {
            size_t j = i;
            while (j < n && b[j] < 0x80) j++;
            if (j > i) sb_append(out, (const char *)b + i, j - i);
            i = j;
            if (i == n) break;
            uint8_t c = b[i++];
            if (c >= 0xC2 && c <= 0xDF) d->need = 2;
            else if (c >= 0xE0 && c <= 0xEF) d->need = 3;
            else if (c >= 0xF0 && c <= 0xF4) d->need = 4;
            else {
                put_fffd(out);
                continue;
            }
            d->pend[0] = c;
            d->npend = 1;
            continue;
        }
        uint8_t c = b[i], lo = 0x80, hi = 0xBF;
        if (d->npend == 1) {
            uint8_t l = d->pend[0];
            if (l == 0xE0) lo = 0xA0;
            else if (l == 0xED) hi = 0x9F;
            else if (l == 0xF0) lo = 0x90;
            else if (l == 0xF4) hi = 0x8F;
        }
        if (c < lo || c > hi) { // the pending prefix is invalid; c starts afresh
            put_fffd(out);
            d->npend = 0;
            continue;
        }
        d->pend[d->npend++] = c;
        i++;
        if (d->npend == d->need) {
            sb_append(out, (const char *)d->pend, (size_t)d->npend);
            d->npend = 0;
        }
    }
}

void tok_decoder_init(tok_decoder *d, const tokenizer *t, int flags) {
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->flags = flags;
}

int tok_decoder_push(tok_decoder *d, int32_t id, strbuf *out) {
    const tokenizer *t = d->tok;
    if (id < 0 || id >= t->n_vocab || t->str_off[id] == UINT32_MAX)
        return err_set("decode: token id %d is not in the vocabulary (size %d)", id, t->n_vocab);
    if ((d->flags & TOK_SKIP_SPECIAL) && t->special[id]) return 0;
    utf8_feed(d, t->byte_blob + t->byte_off[id], t->byte_len[id], out);
    return 0;
}

void tok_decoder_flush(tok_decoder *d, strbuf *out) {
    if (d->npend) put_fffd(out);
    d->npend = 0;
}

int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int flags, strbuf *out) {
    tok_decoder d;
    tok_decoder_init(&d, t, flags);
    for (size_t i = 0; i < n; i++)
        if (tok_decoder_push(&d, ids[i], out) < 0) return -1;
    tok_decoder_flush(&d, out);
    return 0;
}

// ---- accessors ----
int32_t tok_vocab_size(const tokenizer *t) { return t->n_vocab; }

const char *tok_id_to_token(const tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab || t->str_off[id] == UINT32_MAX) return NULL;
    return t->str_blob + t->str_off[id];
}

int32_t tok_token_to_id(const tokenizer *t, const char *token) { return str_id(t, token, strlen(token)); }

const uint8_t *tok_id_bytes(const tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || t->str_off[id] == UINT32_MAX) return NULL;
    *len = t->byte_len[id];
    return t->byte_blob + t->byte_off[id];
}

int tok_is_special(const tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && t->special[id]; }

int32_t tok_added_id(const tokenizer *t, const char *content) {
    for (int i = t->n_added - 1; i >= 0; i--)
        if (strcmp(t->added[i].content, content) == 0) return t->added[i].id;
    return -1;
}

int32_t tok_bos_id(const tokenizer *t) { return t->bos_id; }
int32_t tok_eos_id(const tokenizer *t) { return t->eos_id; }
int32_t tok_pad_id(const tokenizer *t) { return t->pad_id; }
int32_t tok_unk_id(const tokenizer *t) { return t->unk_tok_id; }
const char *tok_bos_str(const tokenizer *t) { return t->bos_str; }
const char *tok_eos_str(const tokenizer *t) { return t->eos_str; }
const char *tok_pad_str(const tokenizer *t) { return t->pad_str; }

int tok_adds_bos(const tokenizer *t) {
    return t->n_prefix > 0 && (t->bos_id < 0 || t->prefix_ids[0] == t->bos_id);
}
int tok_adds_eos(const tokenizer *t) {
    return t->n_suffix > 0 && (t->eos_id < 0 || t->suffix_ids[t->n_suffix - 1] == t->eos_id);
}

const char *tok_source(const tokenizer *t) { return t->source; }
