// lexer.c — template source to tokens, following jinja2's lexer rule for rule:
// text until the next "{{", "{%" or "{#"; whitespace control ("{%-" strips all
// whitespace before, "-%}" all after; "+" turns trimming off); trim_blocks (a
// block or comment tag eats one newline after it); lstrip_blocks (whitespace
// between a line start and a block or comment tag goes); raw blocks; inside tags:
// names, string/integer/float literals and operators, with brackets balanced
// before an end delimiter counts.
#include "tpl_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    tpl_template *t;
    jmp_buf *jb;
    const char *s;
    size_t n;
    token *toks;
    int ntok, cap;
} lexer;

_Noreturn static void lx_fail(lexer *lx, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lx_fail(lexer *lx, size_t pos, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    tpl_linecol(lx->t, (uint32_t)pos, &line, &col);
    err_set("%s:%d:%d: %s", lx->t->name, line, col, msg);
    longjmp(*lx->jb, 1);
}

static token *lx_push(lexer *lx, int type, size_t pos, size_t len) {
    if (lx->ntok == lx->cap) {
        int nc = lx->cap ? lx->cap * 2 : 256;
        lx->toks = ta_grow(&lx->t->arena, lx->toks, (size_t)lx->cap * sizeof(token), (size_t)nc * sizeof(token));
        lx->cap = nc;
    }
    token *k = &lx->toks[lx->ntok++];
    memset(k, 0, sizeof *k);
    k->type = (uint8_t)type;
    k->pos = (uint32_t)pos;
    k->len = (uint32_t)len;
    return k;
}

// Length of the whitespace run (Python \s) at i.
static size_t ws_len(const char *s, size_t n, size_t i) {
    size_t j = i;
    while (j < n) {
        size_t k = j;
        int32_t cp = utf8_next(s, n, &k);
        if (!py_isspace(cp)) break;
        j = k;
    }
    return j - i;
}

static int is_all_space(const char *s, size_t from, size_t to) {
    return from < to && from + ws_len(s, to, from) == to;
}

// Python str.rstrip(): length of text without trailing whitespace.
static size_t rstrip_len(const char *s, size_t from, size_t to) {
    size_t end = to;
    while (end > from) {
        size_t k = end - 1;
        while (k > from && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
        size_t kk = k;
        int32_t cp = utf8_next(s, to, &kk);
        if (!py_isspace(cp)) break;
        end = k;
    }
    return end;
}

// Emit text [from, to) as data after the whitespace rules for a tag with the
// given sign ('-', '+' or 0); lstrip applies to block, comment and raw tags.
static void emit_data(lexer *lx, size_t from, size_t to, char sign, int lstrip, int line_starting) {
    if (sign == '-') to = rstrip_len(lx->s, from, to);
    else if (sign != '+' && lstrip) {
        size_t l = to;
        while (l > from && lx->s[l - 1] != '\n') l--;
        if ((l > from || line_starting) && is_all_space(lx->s, l, to)) to = l;
    }
    if (to > from) {
        token *k = lx_push(lx, T_DATA, from, to - from);
        k->s = lx->s + from;
        k->n = to - from;
    }
}

// ---- literals ----
// Does s[i..] start with lit?
static int at(const char *s, size_t n, size_t i, const char *lit) {
    size_t l = strlen(lit);
    return i + l <= n && memcmp(s + i, lit, l) == 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Python "unicode-escape" decoding of a string literal's body.
static val unescape(lexer *lx, size_t pos, const char *s, size_t n) {
    abuf b;
    ab_init(&b, &lx->t->arena);
    for (size_t i = 0; i < n;) {
        char ch = s[i];
        if (ch != '\\' || i + 1 >= n) {
            ab_addc(&b, ch);
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '\n': break;
        case '\\': ab_addc(&b, '\\'); break;
        case '\'': ab_addc(&b, '\''); break;
        case '"': ab_addc(&b, '"'); break;
        case 'a': ab_addc(&b, 7); break;
        case 'b': ab_addc(&b, 8); break;
        case 'f': ab_addc(&b, 12); break;
        case 'n': ab_addc(&b, '\n'); break;
        case 'r': ab_addc(&b, '\r'); break;
        case 't': ab_addc(&b, '\t'); break;
        case 'v': ab_addc(&b, 11); break;
        case 'x': case 'u': case 'U': {
            int want = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            int32_t cp = 0;
            for (int k = 0; k < want; k++) {
                int h = i + (size_t)k < n ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0)
                    lx_fail(lx, pos, "truncated \\%c escape in string literal (expected %d hex digits)", e, want);
                cp = cp * 16 + h;
            }
            if (cp > 0x10ffff) lx_fail(lx, pos, "illegal Unicode character \\U%08x in string literal", (unsigned)cp);
            i += (size_t)want;
            utf8_put(&b, cp);
            break;
        }
        case 'N':
            lx_fail(lx, pos, "\\N{...} escapes are not supported in string literals; write the character itself");
        default:
            if (e >= '0' && e <= '7') {
                int32_t cp = e - '0';
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++) cp = cp * 8 + (s[i++] - '0');
                utf8_put(&b, cp);
            } else { // unknown escape: kept as written
                ab_addc(&b, '\\');
                ab_addc(&b, e);
            }
        }
    }
    return ab_val(&b);
}

// jinja2's float_re at i (not after a '.'): returns match length or 0.
static size_t match_digits(const char *s, size_t n, size_t i) { // (\d+_)*\d+
    size_t j = i;
    if (j >= n || s[j] < '0' || s[j] > '9') return 0;
    while (j < n) {
        if (s[j] >= '0' && s[j] <= '9') j++;
        else if (s[j] == '_' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9') j++;
        else break;
    }
    return j - i;
}

static size_t match_float(const char *s, size_t n, size_t i) {
    if (i > 0 && s[i - 1] == '.') return 0;
    size_t j = i + match_digits(s, n, i);
    if (j == i) return 0;
    size_t frac = 0;
    if (j < n && s[j] == '.') frac = match_digits(s, n, j + 1);
    size_t k = frac ? j + 1 + frac : j;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        size_t m = k + 1;
        if (m < n && (s[m] == '+' || s[m] == '-')) m++;
        size_t ed = match_digits(s, n, m);
        if (ed) return m + ed - i;
    }
    return frac ? k - i : 0;
}

static size_t match_int(const char *s, size_t n, size_t i, int *base) {
    *base = 10;
    if (s[i] == '0' && i + 1 < n && s[i + 1] && strchr("bBoOxX", s[i + 1])) {
        char p = (char)(s[i + 1] | 0x20);
        *base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
        size_t j = i + 2;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_') k++;
            if (k < n && hexval(s[k]) >= 0 && hexval(s[k]) < *base) j = k + 1;
            else break;
        }
        if (j > i + 2) return j - i;
        *base = 10;
        return 1; // just "0"
    }
    if (s[i] >= '1' && s[i] <= '9') return match_digits(s, n, i);
    if (s[i] == '0') { // 0(_?0)*
        size_t j = i + 1;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_') k++;
            if (k < n && s[k] == '0') j = k + 1;
            else break;
        }
        return j - i;
    }
    return 0;
}

static int is_name_start(unsigned char c) { return c == '_' || (unsigned)((c | 0x20) - 'a') < 26u || c >= 0x80; }
static int is_name_char(unsigned char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

static const struct {
    const char *s;
    int op;
} ops[] = {
    {"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GTEQ},
    {"<=", OP_LTEQ}, {"+", OP_ADD}, {"-", OP_SUB}, {"/", OP_DIV}, {"*", OP_MUL},
    {"%", OP_MOD}, {"~", OP_TILDE}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET},
    {"(", OP_LPAREN}, {")", OP_RPAREN}, {"{", OP_LBRACE}, {"}", OP_RBRACE},
    {">", OP_GT}, {"<", OP_LT}, {"=", OP_ASSIGN}, {".", OP_DOT}, {":", OP_COLON},
    {"|", OP_PIPE}, {",", OP_COMMA}, {";", OP_SEMICOLON},
};

// Tokens inside {{ }} or {% %} from i; returns the position after the end
// delimiter (and the whitespace it eats). *line_starting is set like jinja2's.
static size_t lex_tag(lexer *lx, size_t i, int is_block, int *line_starting) {
    const char *s = lx->s;
    size_t n = lx->n;
    char bal[256];
    size_t bal_pos[256];
    int nbal = 0;
    for (;;) {
        if (i >= n) {
            lx_push(lx, T_EOF, n, 0); // the parser names what was missing
            *line_starting = 0;
            return n;
        }
        if (nbal == 0) { // end delimiter?
            const char *end = is_block ? "%}" : "}}";
            size_t e = 0, after = 0;
            if (is_block && s[i] == '+' && at(s, n, i + 1, end)) e = 1, after = i + 3;
            else if (s[i] == '-' && at(s, n, i + 1, end)) {
                e = 1, after = i + 3;
                after += ws_len(s, n, after);
            } else if (at(s, n, i, end)) {
                e = 1, after = i + 2;
                if (is_block && after < n && s[after] == '\n') after++;
            }
            if (e) {
                lx_push(lx, is_block ? T_BLOCK_END : T_VAR_END, i, after - i);
                *line_starting = after > 0 && s[after - 1] == '\n';
                return after;
            }
        }
        size_t w = ws_len(s, n, i);
        if (w) {
            i += w;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        size_t m;
        int base;
        if ((m = match_float(s, n, i))) {
            char tmp[128];
            size_t k = 0;
            for (size_t j = i; j < i + m && k < sizeof tmp - 1; j++)
                if (s[j] != '_') tmp[k++] = s[j];
            tmp[k] = 0;
            token *t = lx_push(lx, T_FLOAT, i, m);
            t->v = v_float(strtod(tmp, NULL));
            i += m;
        } else if (ch >= '0' && ch <= '9' && (m = match_int(s, n, i, &base))) {
            token *t = lx_push(lx, T_INT, i, m);
            size_t j = i + (base != 10 ? 2 : 0);
            uint64_t v = 0;
            for (; j < i + m; j++) {
                if (s[j] == '_') continue;
                uint64_t d = (uint64_t)hexval(s[j]);
                if (v > (UINT64_C(0x7fffffffffffffff) - d) / (uint64_t)base)
                    lx_fail(lx, i, "integer literal too large (the engine uses 64-bit integers)");
                v = v * (uint64_t)base + d;
            }
            t->v = v_int((int64_t)v);
            i += m;
        } else if (is_name_start(ch)) {
            size_t j = i + 1;
            while (j < n && is_name_char((unsigned char)s[j])) j++;
            token *t = lx_push(lx, T_NAME, i, j - i);
            t->s = ta_strndup(&lx->t->arena, s + i, j - i);
            t->n = j - i;
            i = j;
        } else if (ch == '\'' || ch == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != (char)ch) j += s[j] == '\\' ? 2 : 1;
            if (j >= n) lx_fail(lx, i, "unterminated string literal (missing closing %c)", ch);
            token *t = lx_push(lx, T_STRING, i, j + 1 - i);
            t->v = unescape(lx, i, s + i + 1, j - i - 1);
            i = j + 1;
        } else {
            int op = 0;
            size_t ol = 0;
            for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
                size_t l = strlen(ops[k].s);
                if (i + l <= n && strncmp(s + i, ops[k].s, l) == 0) {
                    op = ops[k].op, ol = l;
                    break;
                }
            }
            if (!op) {
                size_t k = i;
                int32_t cp = utf8_next(s, n, &k);
                if (cp < 0x80) lx_fail(lx, i, "unexpected character '%c' in %s", (char)cp, is_block ? "tag" : "expression");
                lx_fail(lx, i, "unexpected character U+%04X in %s", (unsigned)cp, is_block ? "tag" : "expression");
            }
            if (op == OP_LBRACE || op == OP_LPAREN || op == OP_LBRACKET) {
                if (nbal == (int)sizeof bal) lx_fail(lx, i, "brackets nested too deeply");
                bal[nbal] = op == OP_LBRACE ? '}' : op == OP_LPAREN ? ')' : ']';
                bal_pos[nbal++] = i;
            } else if (op == OP_RBRACE || op == OP_RPAREN || op == OP_RBRACKET) {
                if (!nbal) lx_fail(lx, i, "unexpected '%c'", s[i]);
                char want = bal[--nbal];
                if (want != s[i]) {
                    int l, c;
                    tpl_linecol(lx->t, (uint32_t)bal_pos[nbal], &l, &c);
                    lx_fail(lx, i, "unexpected '%c', expected '%c' to close the bracket at %d:%d", s[i], want, l, c);
                }
            }
            token *t = lx_push(lx, T_OP, i, ol);
            t->op = (uint8_t)op;
            i += ol;
        }
    }
}

// "{%" sign? \s* "raw" \s* ("-%}" \s* | "%}") at i: returns the end, or 0.
static size_t match_raw_begin(const char *s, size_t n, size_t i, const char *word) {
    size_t j = i + 2;
    if (j < n && (s[j] == '-' || s[j] == '+')) j++;
    j += ws_len(s, n, j);
    size_t wl = strlen(word);
    if (j + wl > n || strncmp(s + j, word, wl) != 0) return 0;
    j += wl;
    j += ws_len(s, n, j);
    return j;
}

void tpl_lex(tpl_template *t, jmp_buf *jb, token **out, int *nout) {
    lexer lx = {.t = t, .jb = jb, .s = t->src, .n = t->src_len};
    const char *s = lx.s;
    size_t n = lx.n, pos = 0;
    int line_starting = 1;
    while (pos < n) {
        // the next tag start
        size_t q = pos;
        const char *hit = NULL;
        while ((hit = memchr(s + q, '{', n - q)) != NULL) {
            q = (size_t)(hit - s);
            if (q + 1 < n && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#')) break;
            q++;
            hit = NULL;
            if (q >= n) break;
        }
        if (!hit) {
            token *k = lx_push(&lx, T_DATA, pos, n - pos);
            k->s = s + pos;
            k->n = n - pos;
            break;
        }
        char kind = s[q + 1];
        char sign = q + 2 < n && (s[q + 2] == '-' || s[q + 2] == '+') ? s[q + 2] : 0;
        if (kind == '%') { // a raw block?
            size_t j = match_raw_begin(s, n, q, "raw");
            size_t after = 0;
            if (j && at(s, n, j, "-%}")) after = j + 3 + ws_len(s, n, j + 3);
            else if (j && at(s, n, j, "%}")) after = j + 2;
            if (after) {
                emit_data(&lx, pos, q, sign, 1, line_starting);
                line_starting = s[after - 1] == '\n';
                // the matching endraw
                size_t r = after, end_after = 0, end_at = 0;
                char esign = 0;
                for (; r < n; r++) {
                    if (s[r] != '{' || r + 1 >= n || s[r + 1] != '%') continue;
                    size_t e = match_raw_begin(s, n, r, "endraw");
                    if (!e) continue;
                    if (at(s, n, e, "+%}")) end_after = e + 3;
                    else if (at(s, n, e, "-%}")) end_after = e + 3 + ws_len(s, n, e + 3);
                    else if (at(s, n, e, "%}")) {
                        end_after = e + 2;
                        if (end_after < n && s[end_after] == '\n') end_after++;
                    }
                    if (end_after) {
                        end_at = r;
                        esign = r + 2 < n && (s[r + 2] == '-' || s[r + 2] == '+') ? s[r + 2] : 0;
                        break;
                    }
                }
                if (!end_after) lx_fail(&lx, q, "missing {%% endraw %%} for the raw block opened here");
                emit_data(&lx, after, end_at, esign, 1, line_starting);
                line_starting = s[end_after - 1] == '\n';
                pos = end_after;
                continue;
            }
        }
        emit_data(&lx, pos, q, sign, kind != '{', line_starting);
        size_t body = q + 2 + (sign ? 1 : 0);
        if (kind == '#') { // comment: lazily up to "+#}", "-#}\s*" or "#}\n?"
            size_t r = body, after = 0;
            for (; r < n; r++) {
                if ((s[r] == '+' || s[r] == '-') && at(s, n, r + 1, "#}")) {
                    after = r + 3;
                    if (s[r] == '-') after += ws_len(s, n, after);
                    break;
                }
                if (at(s, n, r, "#}")) {
                    after = r + 2;
                    if (after < n && s[after] == '\n') after++;
                    break;
                }
            }
            if (!after) lx_fail(&lx, q, "unclosed comment: missing '#}'");
            line_starting = s[after - 1] == '\n';
            pos = after;
            continue;
        }
        lx_push(&lx, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, q, body - q);
        line_starting = 0;
        pos = lex_tag(&lx, body, kind == '%', &line_starting);
        if (lx.toks[lx.ntok - 1].type == T_EOF) {
            *out = lx.toks, *nout = lx.ntok;
            return;
        }
    }
    lx_push(&lx, T_EOF, n, 0);
    *out = lx.toks, *nout = lx.ntok;
}
