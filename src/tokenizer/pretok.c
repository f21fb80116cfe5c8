// pretok.c — normalizers and pre-tokenizers: the text-to-words half of encoding.
//
// Regexes come from tokenizer.json (HF runs them with Oniguruma) or from the
// llama.cpp pre-tokenizer table; lorac runs them with PCRE2 (UTF + UCP, JIT).
// The two engines differ on a few escapes, so patterns are rewritten first:
// Oniguruma's \s is exactly Unicode White_Space while PCRE2's also takes
// U+180E, and Oniguruma's \h is a hex digit, not horizontal space.
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- UTF-8 ----
// Strict validation, as Rust's str: no overlongs, surrogates or > U+10FFFF.
int tok_utf8_valid(const char *str, size_t n, size_t *bad_at) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            if (bad_at) *bad_at = i;
            return 0;
        }
        if (i + (size_t)need >= n) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        for (int k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) {
                if (bad_at) *bad_at = i;
                return 0;
            }
        i += (size_t)need + 1;
    }
    return 1;
}

static size_t utf8_char_len(uint8_t c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

// ---- regex compilation ----
// Unicode White_Space, the set Oniguruma's \s matches.
#define WS_ITEMS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static char *rewrite_onig(const char *p) {
    strbuf o;
    sb_init(&o);
    size_t n = strlen(p);
    int in_class = 0;
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 's') sb_puts(&o, in_class ? WS_ITEMS : "[" WS_ITEMS "]");
            else if (d == 'S' && !in_class) sb_puts(&o, "[^" WS_ITEMS "]");
            else if (d == 'h') sb_puts(&o, in_class ? "0-9a-fA-F" : "[0-9a-fA-F]");
            else if (d == 'H' && !in_class) sb_puts(&o, "[^0-9a-fA-F]");
            else if (d == 'Q') { // quoted run: copy through \E untouched
                const char *e = strstr(p + i + 2, "\\E");
                size_t stop = e ? (size_t)(e - p) + 2 : n;
                sb_append(&o, p + i, stop - i);
                i = stop;
                continue;
            } else sb_append(&o, p + i, 2);
            i += 2;
            continue;
        }
        if (in_class) {
            if (c == '[' && i + 1 < n && p[i + 1] == ':') { // POSIX class [:alpha:]
                const char *e = strstr(p + i + 2, ":]");
                size_t stop = e ? (size_t)(e - p) + 2 : i + 1;
                sb_append(&o, p + i, stop - i);
                i = stop;
                continue;
            }
            if (c == ']') in_class = 0;
            sb_putc(&o, c);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            sb_putc(&o, c);
            i++;
            if (i < n && p[i] == '^') sb_putc(&o, p[i++]);
            if (i < n && p[i] == ']') sb_putc(&o, p[i++]); // a leading ']' is literal
            continue;
        }
        sb_putc(&o, c);
        i++;
    }
    return sb_detach(&o);
}

int tok_compile_regex(tokenizer *t, pre_step *s, const char *pattern, int literal, const char *where) {
    char *pat = literal ? xstrdup(pattern) : rewrite_onig(pattern);
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP); // LITERAL refuses UCP
    s->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
    free(pat);
    if (!s->re && !literal) { // report the error at its offset in the pattern as written
        pcre2_code *orig = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
        pcre2_code_free(orig);
    }
    if (!s->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return err_set("%s: %s: invalid regex '%s': %s at offset %zu", t->source, where, pattern,
                       (const char *)msg, (size_t)erroff);
    }
    s->jit = pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE) == 0;
    if (!t->md) {
        t->md = pcre2_match_data_create(1, NULL);
        t->mctx = pcre2_match_context_create(NULL);
        t->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (!t->md || !t->mctx || !t->jit_stack) return err_set("%s: out of memory for PCRE2", t->source);
        pcre2_jit_stack_assign(t->mctx, NULL, t->jit_stack);
    }
    return 0;
}

void tok_pre_release(tokenizer *t) {
    for (int i = 0; i < t->n_pre; i++) pcre2_code_free(t->pre[i].re);
    free(t->pre);
    t->pre = NULL;
    t->n_pre = 0;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    pcre2_jit_stack_free(t->jit_stack);
    t->md = NULL;
    t->mctx = NULL;
    t->jit_stack = NULL;
}

// ---- normalizer ----
int tok_normalize(const tokenizer *t, const char *text, size_t len, const char **out, size_t *out_len,
                  char **owned) {
    *out = text;
    *out_len = len;
    *owned = NULL;
    if (!t->n_norm) return 0;
    // ASCII is invariant under every normalization form; below U+0300 NFC is too.
    int nfc_only = 1;
    for (int i = 0; i < t->n_norm; i++)
        if (t->norm[i] != NORM_NFC) nfc_only = 0;
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    uint8_t limit = nfc_only ? 0xCC : 0x80; // bytes below 0xCC: ASCII, continuations, U+0080..U+02FF
    while (i < len && s[i] < limit) i++;
    if (i == len) return 0;

    char *cur = NULL;
    size_t cur_len = len;
    for (int k = 0; k < t->n_norm; k++) {
        utf8proc_option_t o = UTF8PROC_STABLE;
        switch (t->norm[k]) {
        case NORM_NFC: o |= UTF8PROC_COMPOSE; break;
        case NORM_NFD: o |= UTF8PROC_DECOMPOSE; break;
        case NORM_NFKC: o |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
        case NORM_NFKD: o |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r =
            utf8proc_map((const utf8proc_uint8_t *)(cur ? cur : text), (utf8proc_ssize_t)cur_len, &dst, o);
        free(cur);
        if (r < 0) return err_set("normalizer: %s", utf8proc_errmsg(r));
        cur = (char *)dst;
        cur_len = (size_t)r;
    }
    *out = cur;
    *out_len = cur_len;
    *owned = cur;
    return 0;
}

// ---- pre-tokenizer ----
static tok_piece *grow_pieces(tok_piece *p, size_t *cap, size_t need) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    *cap = c;
    return xrealloc(p, c * sizeof *p);
}

static void push_piece(tok_piece **v, size_t *n, size_t *cap, const char *p, size_t len) {
    if (!len) return; // HF drops empty splits
    *v = grow_pieces(*v, cap, *n + 1);
    (*v)[(*n)++] = (tok_piece){p, len};
}

static void mv_push(tokenizer *t, size_t *n, size_t s, size_t e, size_t m) {
    if (*n + 3 > t->mv_cap) {
        t->mv_cap = t->mv_cap ? t->mv_cap * 2 : 192;
        t->mv = xrealloc(t->mv, t->mv_cap * sizeof *t->mv);
    }
    t->mv[(*n)++] = s;
    t->mv[(*n)++] = e;
    t->mv[(*n)++] = m;
}

// Matches of s->re in p as (start, end, is_match) triples covering all of p,
// like HF's Pattern::find_matches for a regex (Oniguruma find_iter).
static int find_matches(tokenizer *t, const pre_step *s, const char *p, size_t n, size_t *nmv) {
    size_t k = 0, prev = 0, off = 0;
    int have_last = 0;
    size_t last_end = 0;
    while (off <= n) {
        int rc = s->jit ? pcre2_jit_match(s->re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK, t->md, t->mctx)
                        : pcre2_match(s->re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK, t->md, t->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set("pre-tokenizer regex: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == me) {
            // an empty match right after the previous match is skipped
            if (!(have_last && last_end == me)) {
                if (ms != prev) mv_push(t, &k, prev, ms, 0);
                mv_push(t, &k, ms, me, 1);
                prev = me;
            }
            have_last = 1;
            last_end = me;
            if (ms >= n) break;
            off = ms + utf8_char_len((uint8_t)p[ms]);
            continue;
        }
        if (ms != prev) mv_push(t, &k, prev, ms, 0);
        mv_push(t, &k, ms, me, 1);
        prev = me;
        have_last = 1;
        last_end = me;
        off = me;
    }
    if (prev != n) mv_push(t, &k, prev, n, 0);
    if (s->invert)
        for (size_t i = 0; i < k; i += 3) t->mv[i + 2] = !t->mv[i + 2];
    *nmv = k;
    return 0;
}

// HF NormalizedString::split with a SplitDelimiterBehavior.
static int split_piece(tokenizer *t, const pre_step *s, const char *p, size_t n, tok_piece **out,
                       size_t *nout, size_t *cap) {
    size_t k;
    if (find_matches(t, s, p, n, &k) < 0) return -1;
    size_t *m = t->mv;
    switch (s->behavior) {
    case SPLIT_REMOVED:
        for (size_t i = 0; i < k; i += 3)
            if (!m[i + 2]) push_piece(out, nout, cap, p + m[i], m[i + 1] - m[i]);
        break;
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < k; i += 3) push_piece(out, nout, cap, p + m[i], m[i + 1] - m[i]);
        break;
    case SPLIT_CONTIGUOUS:
    case SPLIT_MERGED_PREV: {
        // fold in place over (start, end): extend the last span when allowed
        size_t w = 0; // spans written (as pairs at m[0..2w))
        int prev_match = 0;
        for (size_t i = 0; i < k; i += 3) {
            size_t a = m[i], b = m[i + 1];
            int is_match = (int)m[i + 2];
            int extend = s->behavior == SPLIT_CONTIGUOUS ? is_match == prev_match : is_match && !prev_match;
            if (extend && w) m[2 * w - 1] = b;
            else {
                m[2 * w] = a;
                m[2 * w + 1] = b;
                w++;
            }
            prev_match = is_match;
        }
        for (size_t i = 0; i < w; i++) push_piece(out, nout, cap, p + m[2 * i], m[2 * i + 1] - m[2 * i]);
        break;
    }
    case SPLIT_MERGED_NEXT: {
        // fold from the right: a match joins the span after it
        size_t cnt = k / 3, w = 0;
        int prev_match = 0;
        // spans written from the right end of a temporary region after the triples
        size_t need = k + 2 * cnt + 2;
        if (need > t->mv_cap) {
            t->mv_cap = need;
            t->mv = xrealloc(t->mv, need * sizeof *t->mv);
            m = t->mv;
        }
        size_t *sp = m + k;
        for (size_t j = cnt; j-- > 0;) {
            size_t a = m[3 * j], b = m[3 * j + 1];
            int is_match = (int)m[3 * j + 2];
            if (is_match && !prev_match && w) sp[2 * w - 2] = a;
            else {
                sp[2 * w] = a;
                sp[2 * w + 1] = b;
                w++;
            }
            prev_match = is_match;
        }
        for (size_t i = w; i-- > 0;) push_piece(out, nout, cap, p + sp[2 * i], sp[2 * i + 1] - sp[2 * i]);
        break;
    }
    }
    return 0;
}

int tok_pretokenize(tokenizer *t, const char *text, size_t len, tok_piece **out, size_t *n_out) {
    size_t na = 0, nb = 0;
    push_piece(&t->pa, &na, &t->pa_cap, text, len);
    for (int si = 0; si < t->n_pre; si++) {
        const pre_step *s = &t->pre[si];
        nb = 0;
        for (size_t i = 0; i < na; i++) {
            tok_piece pc = t->pa[i];
            if (s->kind == PRE_PREFIX_SPACE) {
                if (pc.p[0] == ' ') {
                    push_piece(&t->pb, &nb, &t->pb_cap, pc.p, pc.n);
                } else {
                    char *c = xmalloc(pc.n + 2);
                    c[0] = ' ';
                    memcpy(c + 1, pc.p, pc.n);
                    c[pc.n + 1] = 0;
                    if (t->n_owned == t->owned_cap) {
                        t->owned_cap = t->owned_cap ? t->owned_cap * 2 : 16;
                        t->owned = xrealloc(t->owned, t->owned_cap * sizeof *t->owned);
                    }
                    t->owned[t->n_owned++] = c;
                    push_piece(&t->pb, &nb, &t->pb_cap, c, pc.n + 1);
                }
            } else if (split_piece(t, s, pc.p, pc.n, &t->pb, &nb, &t->pb_cap) < 0) {
                return -1;
            }
        }
        tok_piece *tp = t->pa;
        t->pa = t->pb;
        t->pb = tp;
        size_t tc = t->pa_cap;
        t->pa_cap = t->pb_cap;
        t->pb_cap = tc;
        na = nb;
    }
    *out = t->pa;
    *n_out = na;
    return 0;
}
