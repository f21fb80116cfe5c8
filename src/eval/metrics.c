// metrics.c — every measure of one answer: loops (repeated sentences and spans,
// distinct-n), formatting counts, length, ROUGE-L, stance, expected content; and
// eval_score_response, which puts them into the per-example JSON object.
//
// The text tokens used for loops and distinct-n do not depend on any model's
// tokenizer, so answers produced by other tools score the same way.
#include "eval_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- UTF-8 helpers ----
// Next code point of s[*i..n); invalid bytes count as U+FFFD, one byte each.
static int32_t next_cp(const char *s, size_t n, size_t *i) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(n - *i), &cp);
    if (k <= 0) {
        (*i)++;
        return 0xFFFD;
    }
    *i += (size_t)k;
    return cp;
}

static int is_word_cp(int32_t cp) {
    if (cp < 128) return isalnum(cp) || cp == '_';
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO);
}

static int is_space_cp(int32_t cp) {
    if (cp < 128) return isspace(cp);
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

static void put_lower(strbuf *sb, int32_t cp) {
    utf8proc_uint8_t b[4];
    utf8proc_ssize_t k = utf8proc_encode_char(utf8proc_tolower(cp), b);
    sb_append(sb, (const char *)b, (size_t)k);
}

int64_t eval_count_chars(const char *text) {
    size_t n = strlen(text), i = 0;
    int64_t c = 0;
    while (i < n) next_cp(text, n, &i), c++;
    return c;
}

int64_t eval_count_words(const char *text) {
    size_t n = strlen(text), i = 0;
    int64_t w = 0;
    int in = 0;
    while (i < n) {
        int sp = is_space_cp(next_cp(text, n, &i));
        if (!sp && !in) w++;
        in = !sp;
    }
    return w;
}

// ---- interning: equal strings -> equal small ids ----
typedef struct {
    char **keys;
    int32_t *ids;
    size_t cap, n;
} intern;

static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t intern_id(intern *t, const char *s, size_t n) {
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        char **k = xcalloc(cap, sizeof *k);
        int32_t *id = xcalloc(cap, sizeof *id);
        for (size_t i = 0; i < t->cap; i++)
            if (t->keys[i]) {
                size_t j = hash_str(t->keys[i], strlen(t->keys[i])) & (cap - 1);
                while (k[j]) j = (j + 1) & (cap - 1);
                k[j] = t->keys[i], id[j] = t->ids[i];
            }
        free(t->keys);
        free(t->ids);
        t->keys = k, t->ids = id, t->cap = cap;
    }
    size_t j = hash_str(s, n) & (t->cap - 1);
    while (t->keys[j]) {
        if (strlen(t->keys[j]) == n && memcmp(t->keys[j], s, n) == 0) return t->ids[j];
        j = (j + 1) & (t->cap - 1);
    }
    t->keys[j] = xstrndup(s, n);
    t->ids[j] = (int32_t)t->n++;
    return t->ids[j];
}

static void intern_release(intern *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->keys[i]);
    free(t->keys);
    free(t->ids);
}

// ---- text tokens ----
typedef struct {
    size_t start, end; // bytes in the text
    int32_t id;        // of the lowercased token
    int word;          // letters/digits (else a single punctuation character)
} ttoken;

// Words: runs of letters/digits/underscore, with an apostrophe (' or U+2019)
// between two word characters kept inside; every other non-space character is a
// token of its own.
static int64_t text_tokens(const char *s, intern *tab, ttoken **out) {
    size_t n = strlen(s), i = 0, cap = 64;
    int64_t k = 0;
    ttoken *t = xmalloc(cap * sizeof *t);
    strbuf low;
    sb_init(&low);
    while (i < n) {
        size_t at = i;
        int32_t cp = next_cp(s, n, &i);
        if (is_space_cp(cp)) continue;
        low.len = 0;
        int word = is_word_cp(cp);
        put_lower(&low, cp);
        while (word && i < n) {
            size_t j = i;
            int32_t c2 = next_cp(s, n, &j);
            if (is_word_cp(c2)) {
                put_lower(&low, c2);
                i = j;
                continue;
            }
            if (c2 == '\'' || c2 == 0x2019) {
                size_t m = j;
                if (m < n && is_word_cp(next_cp(s, n, &m))) {
                    sb_putc(&low, '\'');
                    i = j;
                    continue;
                }
            }
            break;
        }
        if ((size_t)k == cap) t = xrealloc(t, (cap *= 2) * sizeof *t);
        t[k++] = (ttoken){at, i, intern_id(tab, low.buf, low.len), word};
    }
    sb_release(&low);
    *out = t;
    return k;
}

// ---- loops ----
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// distinct-n over the word tokens: unique n-grams / n-grams.
static void distinct_n(const ttoken *t, int64_t n, double out[3]) {
    int32_t *w = xmalloc((size_t)(n + 1) * sizeof *w);
    int64_t nw = 0;
    for (int64_t i = 0; i < n; i++)
        if (t[i].word) w[nw++] = t[i].id;
    uint64_t *keys = xmalloc((size_t)(nw + 1) * sizeof *keys);
    for (int g = 1; g <= 3; g++) {
        int64_t m = nw - g + 1;
        if (m <= 0) {
            out[g - 1] = NAN;
            continue;
        }
        for (int64_t i = 0; i < m; i++) {
            uint64_t k = 0;
            for (int j = 0; j < g; j++) k = k << 21 | (uint64_t)(w[i + j] & 0x1fffff);
            keys[i] = k;
        }
        qsort(keys, (size_t)m, sizeof *keys, cmp_u64);
        int64_t u = 1;
        for (int64_t i = 1; i < m; i++) u += keys[i] != keys[i - 1];
        out[g - 1] = (double)u / (double)m;
    }
    free(keys);
    free(w);
}

// A span of >= min_len tokens followed at once by a copy of itself: for each
// length L, the longest run of positions j with t[j] == t[j+L]; a run >= L is a
// repeat. The reported span has the smallest L among those covering the most tokens.
static void repeated_span(const ttoken *t, int64_t n, int64_t min_len, int64_t *best_L, int64_t *best_start,
                          int64_t *best_cover) {
    *best_L = 0, *best_start = 0, *best_cover = 0;
    for (int64_t L = min_len; 2 * L <= n; L++) {
        int64_t run = 0;
        for (int64_t j = 0; j + L < n; j++) {
            run = t[j].id == t[j + L].id ? run + 1 : 0;
            if (run >= L && run + L > *best_cover) *best_cover = run + L, *best_L = L, *best_start = j - run + 1;
        }
    }
}

// Sentences and lines, normalised: lowercased, markdown markers and outer
// punctuation dropped, whitespace collapsed.
static void normalise_unit(const char *s, size_t n, strbuf *out) {
    out->len = 0;
    out->buf[0] = 0;
    size_t i = 0;
    int space = 0;
    while (i < n) {
        int32_t cp = next_cp(s, n, &i);
        if (cp == '*' || cp == '_' || cp == '`' || cp == '#') continue;
        if (is_space_cp(cp)) {
            space = out->len > 0;
            continue;
        }
        if (space) sb_putc(out, ' ');
        space = 0;
        put_lower(out, cp);
    }
    // outer punctuation
    size_t a = 0, b = out->len;
    while (a < b && ispunct((unsigned char)out->buf[a])) a++;
    while (b > a && (ispunct((unsigned char)out->buf[b - 1]) || out->buf[b - 1] == ' ')) b--;
    memmove(out->buf, out->buf + a, b - a);
    out->len = b - a;
    out->buf[out->len] = 0;
}

// Length of a list marker ("- ", "* ", "+ ", "• ", "12. ", "3) ") at s, after
// leading blanks; 0 when none. *numbered tells which kind.
static size_t list_marker(const char *s, size_t n, int *numbered) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    *numbered = 0;
    if (i + 1 < n && (s[i] == '-' || s[i] == '*' || s[i] == '+') && (s[i + 1] == ' ' || s[i + 1] == '\t')) return i + 2;
    if (i + 3 < n && memcmp(s + i, "\xe2\x80\xa2", 3) == 0 && s[i + 3] == ' ') return i + 4;
    size_t d = i;
    while (d < n && d - i < 3 && isdigit((unsigned char)s[d])) d++;
    if (d > i && d + 1 < n && (s[d] == '.' || s[d] == ')') && (s[d + 1] == ' ' || s[d + 1] == '\t')) {
        *numbered = 1;
        return d + 2;
    }
    return 0;
}

int eval_loops_detect(const eval_rules *r, const char *text, eval_loops *out) {
    memset(out, 0, sizeof *out);
    intern tab = {0};
    ttoken *t;
    int64_t n = text_tokens(text, &tab, &t);
    distinct_n(t, n, out->distinct);
    int64_t L, start, cover;
    repeated_span(t, n, r->loop_min_span_tokens, &L, &start, &cover);
    if (L > 0) {
        out->span_tokens = L;
        out->span_repeats = cover / L;
        out->span_offset = (int64_t)t[start].start;
        out->span = xstrndup(text + t[start].start, t[start + L - 1].end - t[start].start);
    }
    free(t);
    intern_release(&tab);
    // sentences and lines
    intern units = {0};
    int64_t cap = 64, nu = 0;
    int32_t *ids = xmalloc((size_t)cap * sizeof *ids);
    size_t *ustart = xmalloc((size_t)cap * sizeof *ustart), *ulen = xmalloc((size_t)cap * sizeof *ulen);
    strbuf norm;
    sb_init(&norm);
    size_t len = strlen(text);
    for (size_t ls = 0; ls < len;) {
        const char *nl = memchr(text + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - text) : len;
        int numbered;
        size_t p = ls + list_marker(text + ls, le - ls, &numbered);
        while (p < le) {
            // a sentence ends at . ! ? followed by a blank or the end of the line
            size_t e = p;
            while (e < le && !((text[e] == '.' || text[e] == '!' || text[e] == '?') &&
                               (e + 1 == le || text[e + 1] == ' ' || text[e + 1] == '\t')))
                e++;
            size_t end = e < le ? e + 1 : le;
            normalise_unit(text + p, end - p, &norm);
            if (norm.len && eval_count_words(norm.buf) >= r->loop_min_sentence_words) {
                if (nu == cap) {
                    cap *= 2;
                    ids = xrealloc(ids, (size_t)cap * sizeof *ids);
                    ustart = xrealloc(ustart, (size_t)cap * sizeof *ustart);
                    ulen = xrealloc(ulen, (size_t)cap * sizeof *ulen);
                }
                size_t a = p;
                while (a < end && (text[a] == ' ' || text[a] == '\t')) a++;
                ids[nu] = intern_id(&units, norm.buf, norm.len), ustart[nu] = a, ulen[nu] = end - a, nu++;
            }
            p = end;
        }
        ls = le + 1;
    }
    int64_t *count = xcalloc(units.n + 1, sizeof *count), best = -1;
    for (int64_t i = 0; i < nu; i++) count[ids[i]]++;
    for (int64_t i = 0; i < nu; i++)
        if (count[ids[i]] >= r->loop_min_repeats && (best < 0 || count[ids[i]] > count[ids[best]])) best = i;
    if (best >= 0) {
        out->sentence = xstrndup(text + ustart[best], ulen[best]);
        out->sentence_count = count[ids[best]];
    }
    out->loop = out->sentence || out->span;
    free(count);
    free(ids);
    free(ustart);
    free(ulen);
    sb_release(&norm);
    intern_release(&units);
    return 0;
}

void eval_loops_release(eval_loops *l) {
    if (!l) return;
    free(l->sentence);
    free(l->span);
    memset(l, 0, sizeof *l);
}

// ---- formatting ----
// Emphasis pairs "**x**" / "__x__" on one line, x not empty and not starting with a blank.
static int64_t count_bold(const char *s, size_t n, const char *mark) {
    int64_t c = 0;
    for (size_t i = 0; i + 1 < n;) {
        if (s[i] == mark[0] && s[i + 1] == mark[1] && i + 2 < n && s[i + 2] != ' ' && s[i + 2] != mark[0]) {
            size_t j = i + 2;
            while (j + 1 < n && !(s[j] == mark[0] && s[j + 1] == mark[1])) j++;
            if (j + 1 < n) {
                c++;
                i = j + 2;
                continue;
            }
            break;
        }
        i++;
    }
    return c;
}

void eval_format_count(const eval_rules *r, const char *text, eval_format *f) {
    memset(f, 0, sizeof *f);
    size_t len = strlen(text);
    int in_block = 0;
    for (size_t ls = 0; ls <= len;) {
        const char *nl = memchr(text + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - text) : len;
        const char *s = text + ls;
        size_t n = le - ls, i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i == n) {
            in_block = 0;
        } else {
            if (!in_block) f->paragraphs++;
            in_block = 1;
            f->bold += count_bold(s, n, "**") + count_bold(s, n, "__");
            int numbered;
            size_t h = i;
            while (h < n && s[h] == '#') h++;
            if (i <= 3 && h > i && h - i <= 6 && h < n && s[h] == ' ') f->headings++;
            else if (list_marker(s, n, &numbered)) numbered ? f->numbered_items++ : f->bullet_items++;
        }
        if (!nl) break;
        ls = le + 1;
    }
    f->has_bold = f->bold > 0;
    f->has_list = f->bullet_items + f->numbered_items >= r->min_list_items;
    f->has_paragraphs = f->paragraphs >= r->min_paragraphs;
    f->has_headings = f->headings > 0;
    f->score = f->has_bold + f->has_list + f->has_paragraphs;
    f->well_formatted = f->score >= r->well_formatted_min;
}

// ---- ROUGE-L ----
// rouge-score's tokenizer: lowercase (as Python's str.lower), every run of [a-z0-9] is a token.
static int64_t rouge_tokens(const char *s, intern *tab, int32_t **out) {
    size_t n = strlen(s), i = 0;
    int64_t k = 0, cap = 64;
    int32_t *ids = xmalloc((size_t)cap * sizeof *ids);
    strbuf cur;
    sb_init(&cur);
    for (;;) {
        int32_t raw = i < n ? next_cp(s, n, &i) : -1, cp = raw < 0 ? -1 : utf8proc_tolower(raw);
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
            sb_putc(&cur, (char)cp);
            if (raw != 0x130) continue; // Python lowercases U+0130 to "i" + U+0307, which ends the token
        }
        if (cur.len) {
            if (k == cap) ids = xrealloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            ids[k++] = intern_id(tab, cur.buf, cur.len);
            cur.len = 0;
        }
        if (cp < 0) break;
    }
    sb_release(&cur);
    *out = ids;
    return k;
}

double eval_rouge_l(const char *reference, const char *candidate, double *precision, double *recall) {
    intern tab = {0};
    int32_t *a, *b;
    int64_t na = rouge_tokens(reference, &tab, &a), nb = rouge_tokens(candidate, &tab, &b);
    double p = 0, r = 0, f = 0;
    if (na && nb) {
        int32_t *prev = xcalloc((size_t)nb + 1, sizeof *prev), *row = xcalloc((size_t)nb + 1, sizeof *row);
        for (int64_t i = 1; i <= na; i++) {
            for (int64_t j = 1; j <= nb; j++)
                row[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : (prev[j] > row[j - 1] ? prev[j] : row[j - 1]);
            int32_t *t = prev;
            prev = row, row = t;
        }
        double lcs = prev[nb];
        p = lcs / (double)nb, r = lcs / (double)na;
        f = p + r > 0 ? 2 * p * r / (p + r) : 0;
        free(prev);
        free(row);
    }
    free(a);
    free(b);
    intern_release(&tab);
    if (precision) *precision = p;
    if (recall) *recall = r;
    return f;
}

// ---- stance ----
static int is_clause_end(char c) { return c == '.' || c == '!' || c == '?' || c == ';' || c == ':' || c == ',' || c == '\n'; }

// Start of the window: up to `words` words before pos, not past a clause boundary.
static size_t window_before(const char *s, size_t pos, int64_t words) {
    size_t i = pos;
    for (int64_t w = 0; w < words; w++) {
        size_t j = i;
        while (j > 0 && (s[j - 1] == ' ' || s[j - 1] == '\t')) j--;
        if (j == 0 || is_clause_end(s[j - 1])) break;
        while (j > 0 && s[j - 1] != ' ' && s[j - 1] != '\t' && !is_clause_end(s[j - 1])) j--;
        i = j;
    }
    return i;
}

static size_t window_after(const char *s, size_t n, size_t pos, int64_t words) {
    size_t i = pos;
    for (int64_t w = 0; w < words; w++) {
        size_t j = i;
        while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
        if (j == n || is_clause_end(s[j])) break;
        while (j < n && s[j] != ' ' && s[j] != '\t' && !is_clause_end(s[j])) j++;
        i = j;
    }
    return i;
}

static int count_matches(const pcre2_code *re, const char *s, size_t n, pcre2_match_data *md) {
    int c = 0;
    for (size_t off = 0; off <= n;) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, 0, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        c++;
        off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    return c;
}

int eval_stance_score(const eval_rules *r, const char *text, eval_stance *s, json_t **matches) {
    memset(s, 0, sizeof *s);
    if (matches) *matches = json_array();
    if (!r->stance) {
        s->label = "none";
        return 0;
    }
    const eval_stance_rules *st = r->stance;
    size_t n = strlen(text);
    pcre2_match_data *md = pcre2_match_data_create(16, NULL), *md2 = pcre2_match_data_create(4, NULL);
    int rc = 0;
    for (int p = 0; p < st->n && rc == 0; p++) {
        for (size_t off = 0; off <= n;) {
            int m = pcre2_match(st->pat[p].re, (PCRE2_SPTR)text, n, off, 0, md, NULL);
            if (m == PCRE2_ERROR_NOMATCH) break;
            if (m < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(m, msg, sizeof msg);
                rc = err_set("stance pattern '%s': %s", st->pat[p].source, (const char *)msg);
                break;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1];
            off = b > a ? b : b + 1;
            if (b == a) continue; // an empty match says nothing
            size_t wa = window_before(text, a, st->before), wb = window_after(text, n, b, st->after);
            int cues = 0;
            for (int c = 0; c < st->n_cue && st->pat[p].negate; c++) cues += count_matches(st->cue[c], text + wa, wb - wa, md2);
            int negated = cues % 2, side = st->pat[p].side ^ negated;
            s->weight[side] += st->pat[p].weight;
            if (matches)
                json_array_append_new(*matches, json_pack("{s:s,s:s%,s:f,s:b,s:s%,s:s}", "side", r->side[side], "text",
                                                          text + a, b - a, "weight", st->pat[p].weight, "negated",
                                                          negated, "context", text + wa, wb - wa, "pattern",
                                                          st->pat[p].source));
        }
    }
    pcre2_match_data_free(md);
    pcre2_match_data_free(md2);
    double tot = s->weight[0] + s->weight[1];
    s->score = tot > 0 ? (s->weight[0] - s->weight[1]) / tot : 0;
    if (tot > 0 && s->score >= r->stance_margin) s->label = r->side[0];
    else if (tot > 0 && s->score <= -r->stance_margin) s->label = r->side[1];
    else if (s->weight[0] > 0 && s->weight[1] > 0) s->label = "mixed";
    else s->label = "neutral";
    return rc;
}

// ---- expected content ----
static char *casefold(const char *s) {
    utf8proc_uint8_t *out = NULL;
    if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &out, UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                                              UTF8PROC_CASEFOLD) < 0)
        return xstrdup(s);
    char *r = xstrdup((char *)out);
    free(out);
    return r;
}

// ---- one answer ----
void eval_item_opts_init(eval_item_opts *o, const eval_rules *r) {
    o->min_chars = r->min_chars, o->max_chars = r->max_chars;
    o->stance = 1, o->formatting = 1;
    o->expect = NULL;
}

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *eval_score_response(const eval_rules *r, const char *response, const char *reference, tokenizer *tok,
                            const eval_item_opts *opts) {
    eval_item_opts def;
    if (!opts) eval_item_opts_init(&def, r), opts = &def;
    json_t *o = json_object();
    // length
    int64_t chars = eval_count_chars(response), words = eval_count_words(response);
    json_t *len = json_pack("{s:I,s:I}", "chars", (json_int_t)chars, "words", (json_int_t)words);
    if (tok) {
        tok_ids ids;
        tok_ids_init(&ids);
        if (tok_encode(tok, response, strlen(response), 0, &ids) == 0) json_object_set_new(len, "tokens", json_integer((json_int_t)ids.n));
        else err_clear();
        tok_ids_release(&ids);
    }
    json_object_set_new(len, "band", json_pack("[I,I]", (json_int_t)opts->min_chars, (json_int_t)opts->max_chars));
    json_object_set_new(len, "in_band", json_boolean(chars >= opts->min_chars && chars <= opts->max_chars));
    json_object_set_new(o, "response_length", json_integer((json_int_t)chars));
    // formatting
    eval_format f;
    eval_format_count(r, response, &f);
    json_object_set_new(o, "formatting_score", json_integer(f.score));
    json_object_set_new(o, "formatting_checks", json_pack("{s:b,s:b,s:b,s:b}", "has_bold", f.has_bold, "has_lists",
                                                          f.has_list, "has_paragraphs", f.has_paragraphs,
                                                          "has_headings", f.has_headings));
    json_object_set_new(o, "length", len);
    // loops
    eval_loops l;
    eval_loops_detect(r, response, &l);
    json_t *lo = json_pack("{s:b,s:o,s:o,s:o}", "loop", l.loop, "distinct_1", num_or_null(l.distinct[0]), "distinct_2",
                           num_or_null(l.distinct[1]), "distinct_3", num_or_null(l.distinct[2]));
    if (l.sentence)
        json_object_set_new(lo, "repeated_sentence", json_pack("{s:s,s:I}", "text", l.sentence, "count", (json_int_t)l.sentence_count));
    if (l.span)
        json_object_set_new(lo, "repeated_span", json_pack("{s:s,s:I,s:I,s:I}", "text", l.span, "tokens", (json_int_t)l.span_tokens,
                                                           "repeats", (json_int_t)l.span_repeats, "offset", (json_int_t)l.span_offset));
    eval_loops_release(&l);
    json_object_set_new(o, "loops", lo);
    // stance
    eval_stance s;
    json_t *matches;
    eval_stance_score(r, response, &s, &matches);
    err_clear();
    json_object_set_new(o, "stance", json_pack("{s:f,s:s,s:b,s:f,s:f,s:o}", "score", s.score, "label", s.label, "counted",
                                               opts->stance && r->stance, "domain_weight", s.weight[0], "other_weight",
                                               s.weight[1], "matches", matches));
    json_object_set_new(o, "formatting", json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:b,s:b}", "bold", (json_int_t)f.bold,
                                                   "bullet_items", (json_int_t)f.bullet_items, "numbered_items",
                                                   (json_int_t)f.numbered_items, "paragraphs", (json_int_t)f.paragraphs,
                                                   "headings", (json_int_t)f.headings, "score", f.score, "well_formatted",
                                                   f.well_formatted, "counted", opts->formatting));
    // expected content
    if (json_is_array(opts->expect) && json_array_size(opts->expect)) {
        char *fr = casefold(response);
        json_t *missing = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(opts->expect, i, e) {
            char *fe = casefold(json_string_value(e));
            if (!strstr(fr, fe)) json_array_append(missing, e);
            free(fe);
        }
        free(fr);
        json_object_set_new(o, "expected", json_pack("{s:O,s:b,s:o}", "strings", opts->expect, "found",
                                                     json_array_size(missing) == 0, "missing", missing));
    }
    // ground truth
    if (reference) {
        double p, rc, f1 = eval_rouge_l(reference, response, &p, &rc);
        int64_t rchars = eval_count_chars(reference);
        json_object_set_new(o, "ground_truth", json_pack("{s:I,s:o,s:{s:f,s:f,s:f}}", "reference_chars", (json_int_t)rchars,
                                                         "length_ratio", rchars ? json_real((double)chars / (double)rchars) : json_null(),
                                                         "rouge_l", "precision", p, "recall", rc, "f1", f1));
    }
    return o;
}
