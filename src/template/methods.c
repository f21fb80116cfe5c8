// methods.c — Python methods templates call on values (str, dict, list), the
// attributes of jinja2's `loop` object, and Python's two string formatting
// mini-languages ("%s" % x and "{}".format(x)).
//
// Methods that would modify a list or dict are refused like the sandbox HF uses
// refuses them: the attribute is an undefined that fails with a security message.
#include "tpl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- arguments ----
void bind_args(rctx *c, cargs *a, const char *fname, int np, const char *const *names, val *out) {
    for (int i = 0; i < np; i++) out[i] = v_missing();
    if (a->n > np) r_fail(c, a->at, "%s() takes at most %d argument(s) (%d given)", fname, np, a->n);
    for (int i = 0; i < a->n; i++) out[i] = a->v[i];
    for (int k = 0; k < a->nk; k++) {
        int j = 0;
        while (j < np && strcmp(names[j], a->kn[k]) != 0) j++;
        if (j == np) r_fail(c, a->at, "%s() got an unexpected keyword argument '%s'", fname, a->kn[k]);
        if (out[j].t != V_MISSING) r_fail(c, a->at, "%s() got multiple values for argument '%s'", fname, a->kn[k]);
        out[j] = a->kv[k];
    }
}

int64_t arg_int(rctx *c, cargs *a, val v, const char *what) {
    if (v.t == V_INT || v.t == V_BOOL) return v.u.i;
    if (v.t == V_UNDEF) r_fail_undef(c, a->at, v);
    r_fail(c, a->at, "%s must be an integer, not '%s'", what, v_typename(v));
}

static vstr *arg_str(rctx *c, cargs *a, val v, const char *what) {
    if (v.t == V_STR) return v.u.s;
    if (v.t == V_UNDEF) r_fail_undef(c, a->at, v);
    r_fail(c, a->at, "%s must be str, not %s", what, v_typename(v));
}

static val bound(rctx *c, val self, const char *name, builtin_fn fn) {
    vfunc *f = ta_alloc(c->a, sizeof *f);
    f->kind = FN_BUILTIN;
    f->name = name;
    f->fn = fn;
    f->self = self;
    val v = {0};
    v.t = V_FUNC, v.u.fn = f;
    return v;
}

static val unsafe_attr(rctx *c, val self, const char *name) {
    char *h = ta_alloc(c->a, strlen(name) + 64);
    sprintf(h, "access to attribute '%s' of '%s' object is unsafe.", name, v_typename(self));
    val u = v_undef_hint(c->a, h);
    u.u.u->security = 1;
    return u;
}

// ---- code points ----
typedef struct {
    int32_t *cp;
    int64_t n;
} cps;

static cps to_cps(rctx *c, vstr *s) {
    cps r;
    r.cp = ta_alloc(c->a, (s->len + 1) * sizeof(int32_t));
    r.n = 0;
    size_t i = 0;
    while (i < s->len) r.cp[r.n++] = utf8_next(s->s, s->len, &i);
    return r;
}

// byte offset -> code point index
static int64_t cp_index(const vstr *s, size_t off) {
    int64_t n = 0;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)s->s[i] & 0xc0) != 0x80) n++;
    return n;
}

// code point index -> byte offset (clamped)
static size_t byte_off(vstr *s, int64_t idx) {
    if (vs_ncp(s) == (int64_t)s->len) return (size_t)(idx < 0 ? 0 : idx > (int64_t)s->len ? (int64_t)s->len : idx);
    size_t pos = 0;
    for (int64_t k = 0; k < idx && pos < s->len; k++) utf8_next(s->s, s->len, &pos);
    return pos;
}

static int is_cased_upper(int32_t cp) { return utf8proc_category(cp) == UTF8PROC_CATEGORY_LU; }
static int is_cased_lower(int32_t cp) { return utf8proc_category(cp) == UTF8PROC_CATEGORY_LL; }
static int is_cased(int32_t cp) {
    int k = utf8proc_category(cp);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static int is_alpha(int32_t cp) {
    int k = utf8proc_category(cp);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int is_numeric(int32_t cp) {
    int k = utf8proc_category(cp);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

static void put_upper(abuf *b, int32_t cp) {
    if (cp == 0xdf) ab_adds(b, "SS");
    else utf8_put(b, utf8proc_toupper(cp));
}

// Case conversions on whole strings (Python str.upper/lower/title/capitalize/swapcase).
val str_case(rctx *c, vstr *s, int mode) {
    abuf b;
    ab_init(&b, c->a);
    size_t i = 0;
    int prev_cased = 0, first = 1;
    while (i < s->len) {
        int32_t cp = utf8_next(s->s, s->len, &i);
        switch (mode) {
        case CASE_UPPER: put_upper(&b, cp); break;
        case CASE_LOWER: utf8_put(&b, utf8proc_tolower(cp)); break;
        case CASE_CAPITALIZE:
            if (first) utf8_put(&b, utf8proc_totitle(cp));
            else utf8_put(&b, utf8proc_tolower(cp));
            break;
        case CASE_TITLE:
            if (prev_cased) utf8_put(&b, utf8proc_tolower(cp));
            else utf8_put(&b, utf8proc_totitle(cp));
            prev_cased = is_cased(cp);
            break;
        case CASE_SWAP:
            if (is_cased_upper(cp)) utf8_put(&b, utf8proc_tolower(cp));
            else if (is_cased_lower(cp)) put_upper(&b, cp);
            else utf8_put(&b, cp);
            break;
        }
        first = 0;
    }
    return ab_val(&b);
}

// ---- strip / split ----
static int in_set(const cps *set, int32_t cp) {
    if (!set) return py_isspace(cp);
    for (int64_t i = 0; i < set->n; i++)
        if (set->cp[i] == cp) return 1;
    return 0;
}

// Python str.strip/lstrip/rstrip(chars=None). which: 1 left, 2 right, 3 both.
val str_strip(rctx *c, vstr *s, vstr *chars, int which) {
    cps set, *sp = NULL;
    if (chars) set = to_cps(c, chars), sp = &set;
    size_t start = 0, end = s->len;
    if (which & 1)
        while (start < end) {
            size_t k = start;
            int32_t cp = utf8_next(s->s, end, &k);
            if (!in_set(sp, cp)) break;
            start = k;
        }
    if (which & 2)
        while (end > start) {
            size_t k = end - 1;
            while (k > start && ((unsigned char)s->s[k] & 0xc0) == 0x80) k--;
            size_t kk = k;
            int32_t cp = utf8_next(s->s, end, &kk);
            if (!in_set(sp, cp)) break;
            end = k;
        }
    if (start == 0 && end == s->len) {
        val v = {0};
        v.t = V_STR, v.u.s = s;
        return v;
    }
    return v_str(c->a, s->s + start, end - start);
}

static size_t ws_at(const vstr *s, size_t i) { // whitespace code point length at i, or 0
    size_t k = i;
    int32_t cp = utf8_next(s->s, s->len, &k);
    return py_isspace(cp) ? k - i : 0;
}

static val str_split(rctx *c, vstr *s, vstr *sep, int64_t maxsplit, int from_right) {
    val out = v_list(c->a, 0, LK_LIST);
    vlist *l = out.u.l;
    if (sep && sep->len == 0) r_fail(c, NULL, "empty separator");
    if (!from_right) {
        size_t i = 0, n = s->len;
        if (!sep) {
            for (;;) {
                size_t w;
                while (i < n && (w = ws_at(s, i))) i += w;
                if (i >= n) break;
                if (maxsplit >= 0 && l->n == maxsplit) {
                    vl_push(c->a, l, v_str(c->a, s->s + i, n - i));
                    break;
                }
                size_t st = i;
                while (i < n && !ws_at(s, i)) utf8_next(s->s, n, &i);
                vl_push(c->a, l, v_str(c->a, s->s + st, i - st));
            }
            return out;
        }
        for (;;) {
            const char *hit = maxsplit >= 0 && l->n == maxsplit ? NULL : memmem(s->s + i, n - i, sep->s, sep->len);
            if (!hit) {
                vl_push(c->a, l, v_str(c->a, s->s + i, n - i));
                return out;
            }
            vl_push(c->a, l, v_str(c->a, s->s + i, (size_t)(hit - (s->s + i))));
            i = (size_t)(hit - s->s) + sep->len;
        }
    }
    // from the right: collect reversed, then flip
    size_t end = s->len;
    if (!sep) {
        for (;;) {
            while (end > 0) { // skip trailing whitespace
                size_t k = end - 1;
                while (k > 0 && ((unsigned char)s->s[k] & 0xc0) == 0x80) k--;
                if (!ws_at(s, k)) break;
                end = k;
            }
            if (end == 0) break;
            if (maxsplit >= 0 && l->n == maxsplit) {
                vl_push(c->a, l, v_str(c->a, s->s, end));
                break;
            }
            size_t st = end;
            while (st > 0) {
                size_t k = st - 1;
                while (k > 0 && ((unsigned char)s->s[k] & 0xc0) == 0x80) k--;
                if (ws_at(s, k)) break;
                st = k;
            }
            vl_push(c->a, l, v_str(c->a, s->s + st, end - st));
            end = st;
        }
    } else {
        for (;;) {
            const char *hit = NULL;
            if (!(maxsplit >= 0 && l->n == maxsplit) && end >= sep->len)
                for (size_t k = end - sep->len + 1; k-- > 0;)
                    if (memcmp(s->s + k, sep->s, sep->len) == 0) {
                        hit = s->s + k;
                        break;
                    }
            if (!hit) {
                vl_push(c->a, l, v_str(c->a, s->s, end));
                break;
            }
            size_t after = (size_t)(hit - s->s) + sep->len;
            vl_push(c->a, l, v_str(c->a, s->s + after, end - after));
            end = (size_t)(hit - s->s);
        }
    }
    for (int64_t i = 0, j = l->n - 1; i < j; i++, j--) {
        val t = l->v[i];
        l->v[i] = l->v[j];
        l->v[j] = t;
    }
    return out;
}

static int is_line_break(int32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

val str_splitlines(rctx *c, vstr *s, int keepends) {
    val out = v_list(c->a, 0, LK_LIST);
    size_t i = 0, st = 0;
    while (i < s->len) {
        size_t k = i;
        int32_t cp = utf8_next(s->s, s->len, &k);
        if (!is_line_break(cp)) {
            i = k;
            continue;
        }
        size_t eol = k;
        if (cp == '\r' && eol < s->len && s->s[eol] == '\n') eol++;
        vl_push(c->a, out.u.l, v_str(c->a, s->s + st, (keepends ? eol : i) - st));
        i = st = eol;
    }
    if (st < s->len) vl_push(c->a, out.u.l, v_str(c->a, s->s + st, s->len - st));
    return out;
}

val str_replace(rctx *c, vstr *s, vstr *old, vstr *rep, int64_t count) {
    abuf b;
    ab_init(&b, c->a);
    if (old->len == 0) { // insert between every character
        size_t i = 0;
        int64_t done = 0;
        if (count != 0) ab_add(&b, rep->s, rep->len), done++;
        while (i < s->len) {
            size_t st = i;
            utf8_next(s->s, s->len, &i);
            ab_add(&b, s->s + st, i - st);
            if (count < 0 || done < count) ab_add(&b, rep->s, rep->len), done++;
        }
        return ab_val(&b);
    }
    size_t i = 0;
    int64_t done = 0;
    while (i <= s->len) {
        const char *hit = count >= 0 && done >= count ? NULL : memmem(s->s + i, s->len - i, old->s, old->len);
        if (!hit) break;
        ab_add(&b, s->s + i, (size_t)(hit - (s->s + i)));
        ab_add(&b, rep->s, rep->len);
        i = (size_t)(hit - s->s) + old->len;
        done++;
    }
    ab_add(&b, s->s + i, s->len - i);
    return ab_val(&b);
}

// ---- str methods ----
#define SELF (f->self.u.s)

// start/end arguments (code point indices, Python slice clamping) as byte offsets.
static void range_args(rctx *c, cargs *a, vstr *s, val vs, val ve, size_t *from, size_t *to) {
    int64_t n = vs_ncp(s), st = 0, en = n;
    if (vs.t != V_MISSING && vs.t != V_NONE) st = arg_int(c, a, vs, "start");
    if (ve.t != V_MISSING && ve.t != V_NONE) en = arg_int(c, a, ve, "end");
    if (st < 0) st += n;
    if (en < 0) en += n;
    if (st < 0) st = 0;
    if (en > n) en = n;
    if (en < st) en = st;
    *from = byte_off(s, st), *to = byte_off(s, en);
}

static val m_upper(rctx *c, vfunc *f, cargs *a) { (void)a; return str_case(c, SELF, CASE_UPPER); }
static val m_lower(rctx *c, vfunc *f, cargs *a) { (void)a; return str_case(c, SELF, CASE_LOWER); }
static val m_title(rctx *c, vfunc *f, cargs *a) { (void)a; return str_case(c, SELF, CASE_TITLE); }
static val m_capitalize(rctx *c, vfunc *f, cargs *a) { (void)a; return str_case(c, SELF, CASE_CAPITALIZE); }
static val m_swapcase(rctx *c, vfunc *f, cargs *a) { (void)a; return str_case(c, SELF, CASE_SWAP); }

static val strip_common(rctx *c, vfunc *f, cargs *a, int which) {
    static const char *const names[] = {"chars"};
    val v[1];
    bind_args(c, a, f->name, 1, names, v);
    vstr *chars = v[0].t == V_MISSING || v[0].t == V_NONE ? NULL : arg_str(c, a, v[0], "strip arg");
    return str_strip(c, SELF, chars, which);
}
static val m_strip(rctx *c, vfunc *f, cargs *a) { return strip_common(c, f, a, 3); }
static val m_lstrip(rctx *c, vfunc *f, cargs *a) { return strip_common(c, f, a, 1); }
static val m_rstrip(rctx *c, vfunc *f, cargs *a) { return strip_common(c, f, a, 2); }

static val split_common(rctx *c, vfunc *f, cargs *a, int right) {
    static const char *const names[] = {"sep", "maxsplit"};
    val v[2];
    bind_args(c, a, f->name, 2, names, v);
    vstr *sep = v[0].t == V_MISSING || v[0].t == V_NONE ? NULL : arg_str(c, a, v[0], "separator");
    int64_t maxsplit = v[1].t == V_MISSING ? -1 : arg_int(c, a, v[1], "maxsplit");
    return str_split(c, SELF, sep, maxsplit, right);
}
static val m_split(rctx *c, vfunc *f, cargs *a) { return split_common(c, f, a, 0); }
static val m_rsplit(rctx *c, vfunc *f, cargs *a) { return split_common(c, f, a, 1); }

static val m_splitlines(rctx *c, vfunc *f, cargs *a) {
    static const char *const names[] = {"keepends"};
    val v[1];
    bind_args(c, a, f->name, 1, names, v);
    return str_splitlines(c, SELF, v_truthy(v[0]));
}

static val affix_common(rctx *c, vfunc *f, cargs *a, int end) {
    static const char *const names[] = {"prefix", "start", "end"};
    val v[3];
    bind_args(c, a, f->name, 3, names, v);
    if (v[0].t == V_MISSING) r_fail(c, a->at, "%s() takes at least 1 argument (0 given)", f->name);
    size_t from, to;
    range_args(c, a, SELF, v[1], v[2], &from, &to);
    const char *s = SELF->s + from;
    size_t n = to - from;
    vlist one = {.n = 1, .cap = 1, .v = &v[0]}, *cands = &one;
    if (v[0].t == V_LIST && v[0].k == LK_TUPLE) cands = v[0].u.l;
    for (int64_t i = 0; i < cands->n; i++) {
        val p = cands->v[i];
        if (p.t != V_STR)
            r_fail(c, a->at, "%s first arg must be str or a tuple of str, not %s", f->name, v_typename(p));
        size_t pl = p.u.s->len;
        if (pl <= n && memcmp(end ? s + n - pl : s, p.u.s->s, pl) == 0) return v_bool(1);
    }
    return v_bool(0);
}
static val m_startswith(rctx *c, vfunc *f, cargs *a) { return affix_common(c, f, a, 0); }
static val m_endswith(rctx *c, vfunc *f, cargs *a) { return affix_common(c, f, a, 1); }

static val m_replace(rctx *c, vfunc *f, cargs *a) {
    static const char *const names[] = {"old", "new", "count"};
    val v[3];
    bind_args(c, a, f->name, 3, names, v);
    if (v[1].t == V_MISSING) r_fail(c, a->at, "replace() takes at least 2 arguments");
    vstr *old = arg_str(c, a, v[0], "replace() argument 1"), *rep = arg_str(c, a, v[1], "replace() argument 2");
    int64_t count = v[2].t == V_MISSING ? -1 : arg_int(c, a, v[2], "count");
    return str_replace(c, SELF, old, rep, count);
}

// find/rfind/index/rindex/count share argument handling
static int64_t find_common(rctx *c, vfunc *f, cargs *a, int right, int64_t *count_out) {
    static const char *const names[] = {"sub", "start", "end"};
    val v[3];
    bind_args(c, a, f->name, 3, names, v);
    if (v[0].t == V_MISSING) r_fail(c, a->at, "%s() takes at least 1 argument (0 given)", f->name);
    vstr *sub = arg_str(c, a, v[0], "substring");
    size_t from, to;
    range_args(c, a, SELF, v[1], v[2], &from, &to);
    const char *s = SELF->s;
    if (count_out) {
        int64_t n = 0;
        if (sub->len == 0) n = cp_index(SELF, to) - cp_index(SELF, from) + 1;
        else
            for (size_t i = from; i + sub->len <= to;) {
                const char *h = memmem(s + i, to - i, sub->s, sub->len);
                if (!h) break;
                n++;
                i = (size_t)(h - s) + sub->len;
            }
        *count_out = n;
        return 0;
    }
    if (sub->len > to - from) return -1;
    if (!right) {
        const char *h = memmem(s + from, to - from, sub->s, sub->len);
        return h ? cp_index(SELF, (size_t)(h - s)) : -1;
    }
    for (size_t k = to - sub->len + 1; k-- > from;)
        if (memcmp(s + k, sub->s, sub->len) == 0) return cp_index(SELF, k);
    return -1;
}
static val m_find(rctx *c, vfunc *f, cargs *a) { return v_int(find_common(c, f, a, 0, NULL)); }
static val m_rfind(rctx *c, vfunc *f, cargs *a) { return v_int(find_common(c, f, a, 1, NULL)); }
static val m_index(rctx *c, vfunc *f, cargs *a) {
    int64_t i = find_common(c, f, a, 0, NULL);
    if (i < 0) r_fail(c, a->at, "substring not found");
    return v_int(i);
}
static val m_rindex(rctx *c, vfunc *f, cargs *a) {
    int64_t i = find_common(c, f, a, 1, NULL);
    if (i < 0) r_fail(c, a->at, "substring not found");
    return v_int(i);
}
static val m_count(rctx *c, vfunc *f, cargs *a) {
    int64_t n;
    find_common(c, f, a, 0, &n);
    return v_int(n);
}

static val m_join(rctx *c, vfunc *f, cargs *a) {
    if (a->n != 1 || a->nk) r_fail(c, a->at, "join() takes exactly one argument");
    vlist *items = r_iterate(c, a->v[0], a->at);
    abuf b;
    ab_init(&b, c->a);
    for (int64_t i = 0; i < items->n; i++) {
        val x = items->v[i];
        if (x.t != V_STR)
            r_fail(c, a->at, "sequence item %lld: expected str instance, %s found", (long long)i, v_typename(x));
        if (i) ab_add(&b, SELF->s, SELF->len);
        ab_add(&b, x.u.s->s, x.u.s->len);
    }
    return ab_val(&b);
}

static val pred_common(rctx *c, vfunc *f, cargs *a, int kind) {
    (void)a, (void)c;
    vstr *s = SELF;
    size_t i = 0;
    int any = 0, cased_upper = 0, cased_lower = 0;
    if (s->len == 0) return v_bool(0);
    while (i < s->len) {
        int32_t cp = utf8_next(s->s, s->len, &i);
        switch (kind) {
        case 0: if (utf8proc_category(cp) != UTF8PROC_CATEGORY_ND) return v_bool(0); break; // isdigit/isdecimal
        case 1: if (!is_alpha(cp)) return v_bool(0); break;
        case 2: if (!is_alpha(cp) && !is_numeric(cp)) return v_bool(0); break;
        case 3: if (!py_isspace(cp)) return v_bool(0); break;
        case 4: case 5:
            if (is_cased_upper(cp) || utf8proc_category(cp) == UTF8PROC_CATEGORY_LT) cased_upper = 1;
            if (is_cased_lower(cp)) cased_lower = 1;
            any |= is_cased(cp);
            break;
        case 6: if (!is_numeric(cp)) return v_bool(0); break;
        }
    }
    if (kind == 4) return v_bool(any && !cased_lower); // isupper
    if (kind == 5) return v_bool(any && !cased_upper); // islower
    return v_bool(1);
}
static val m_isdigit(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 0); }
static val m_isalpha(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 1); }
static val m_isalnum(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 2); }
static val m_isspace(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 3); }
static val m_isupper(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 4); }
static val m_islower(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 5); }
static val m_isnumeric(rctx *c, vfunc *f, cargs *a) { return pred_common(c, f, a, 6); }

// Python str.center/ljust/rjust(width, fillchar=' ').
val str_pad(rctx *c, vstr *s, int64_t width, vstr *fill, int mode) {
    int64_t n = vs_ncp(s);
    val self = {0};
    self.t = V_STR, self.u.s = s;
    if (width <= n) return self;
    if (width > (int64_t)1 << 28) r_fail(c, NULL, "width %lld is too large", (long long)width);
    int64_t marg = width - n, left;
    if (mode == 0) left = marg / 2 + (marg & width & 1); // center
    else if (mode == 1) left = 0;                        // ljust
    else left = marg;                                    // rjust
    const char *fc = fill ? fill->s : " ";
    size_t fl = fill ? fill->len : 1;
    abuf b;
    ab_init(&b, c->a);
    for (int64_t i = 0; i < left; i++) ab_add(&b, fc, fl);
    ab_add(&b, s->s, s->len);
    for (int64_t i = 0; i < marg - left; i++) ab_add(&b, fc, fl);
    return ab_val(&b);
}

static val pad_common(rctx *c, vfunc *f, cargs *a, int mode) {
    static const char *const names[] = {"width", "fillchar"};
    val v[2];
    bind_args(c, a, f->name, 2, names, v);
    if (v[0].t == V_MISSING) r_fail(c, a->at, "%s() takes at least 1 argument (0 given)", f->name);
    vstr *fill = NULL;
    if (v[1].t != V_MISSING) {
        fill = arg_str(c, a, v[1], "fill character");
        if (vs_ncp(fill) != 1) r_fail(c, a->at, "The fill character must be exactly one character long");
    }
    return str_pad(c, SELF, arg_int(c, a, v[0], "width"), fill, mode);
}
static val m_center(rctx *c, vfunc *f, cargs *a) { return pad_common(c, f, a, 0); }
static val m_ljust(rctx *c, vfunc *f, cargs *a) { return pad_common(c, f, a, 1); }
static val m_rjust(rctx *c, vfunc *f, cargs *a) { return pad_common(c, f, a, 2); }

static val m_zfill(rctx *c, vfunc *f, cargs *a) {
    if (a->n != 1) r_fail(c, a->at, "zfill() takes exactly one argument");
    int64_t w = arg_int(c, a, a->v[0], "width"), n = vs_ncp(SELF);
    if (w <= n) return f->self;
    if (w > (int64_t)1 << 28) r_fail(c, a->at, "width %lld is too large", (long long)w);
    abuf b;
    ab_init(&b, c->a);
    size_t st = 0;
    if (SELF->len && (SELF->s[0] == '+' || SELF->s[0] == '-')) ab_addc(&b, SELF->s[0]), st = 1;
    for (int64_t i = 0; i < w - n; i++) ab_addc(&b, '0');
    ab_add(&b, SELF->s + st, SELF->len - st);
    return ab_val(&b);
}

static val partition_common(rctx *c, vfunc *f, cargs *a, int right) {
    if (a->n != 1) r_fail(c, a->at, "%s() takes exactly one argument", f->name);
    vstr *sep = arg_str(c, a, a->v[0], "separator");
    if (!sep->len) r_fail(c, a->at, "empty separator");
    vstr *s = SELF;
    const char *h = NULL;
    if (!right) h = memmem(s->s, s->len, sep->s, sep->len);
    else if (s->len >= sep->len)
        for (size_t k = s->len - sep->len + 1; k-- > 0;)
            if (memcmp(s->s + k, sep->s, sep->len) == 0) {
                h = s->s + k;
                break;
            }
    val r = v_list(c->a, 3, LK_TUPLE);
    val empty = v_str(c->a, "", 0), sepv = a->v[0];
    if (!h) {
        r.u.l->v[0] = right ? empty : f->self, r.u.l->v[1] = empty, r.u.l->v[2] = right ? f->self : empty;
    } else {
        size_t at = (size_t)(h - s->s);
        r.u.l->v[0] = v_str(c->a, s->s, at);
        r.u.l->v[1] = sepv;
        r.u.l->v[2] = v_str(c->a, s->s + at + sep->len, s->len - at - sep->len);
    }
    r.u.l->n = 3;
    return r;
}
static val m_partition(rctx *c, vfunc *f, cargs *a) { return partition_common(c, f, a, 0); }
static val m_rpartition(rctx *c, vfunc *f, cargs *a) { return partition_common(c, f, a, 1); }

static val affix_remove(rctx *c, vfunc *f, cargs *a, int suffix) {
    if (a->n != 1) r_fail(c, a->at, "%s() takes exactly one argument", f->name);
    vstr *p = arg_str(c, a, a->v[0], f->name);
    vstr *s = SELF;
    if (p->len > s->len) return f->self;
    if (!suffix && memcmp(s->s, p->s, p->len) == 0) return v_str(c->a, s->s + p->len, s->len - p->len);
    if (suffix && p->len && memcmp(s->s + s->len - p->len, p->s, p->len) == 0) return v_str(c->a, s->s, s->len - p->len);
    return f->self;
}
static val m_removeprefix(rctx *c, vfunc *f, cargs *a) { return affix_remove(c, f, a, 0); }
static val m_removesuffix(rctx *c, vfunc *f, cargs *a) { return affix_remove(c, f, a, 1); }

static val m_format(rctx *c, vfunc *f, cargs *a) { return str_format(c, SELF, a); }

typedef struct {
    const char *name;
    builtin_fn fn;
} method_entry;

static const method_entry str_methods[] = {
    {"capitalize", m_capitalize}, {"center", m_center}, {"count", m_count}, {"endswith", m_endswith},
    {"find", m_find}, {"format", m_format}, {"index", m_index}, {"isalnum", m_isalnum},
    {"isalpha", m_isalpha}, {"isdecimal", m_isdigit}, {"isdigit", m_isdigit}, {"islower", m_islower},
    {"isnumeric", m_isnumeric}, {"isspace", m_isspace}, {"isupper", m_isupper}, {"join", m_join},
    {"ljust", m_ljust}, {"lower", m_lower}, {"lstrip", m_lstrip}, {"partition", m_partition},
    {"removeprefix", m_removeprefix}, {"removesuffix", m_removesuffix}, {"replace", m_replace},
    {"rfind", m_rfind}, {"rindex", m_rindex}, {"rjust", m_rjust}, {"rpartition", m_rpartition},
    {"rsplit", m_rsplit}, {"rstrip", m_rstrip}, {"split", m_split}, {"splitlines", m_splitlines},
    {"startswith", m_startswith}, {"strip", m_strip}, {"swapcase", m_swapcase}, {"title", m_title},
    {"upper", m_upper}, {"zfill", m_zfill}, {"casefold", m_lower},
};

static builtin_fn find_method(const method_entry *t, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && memcmp(t[i].name, name, len) == 0) return t[i].fn;
    return NULL;
}

static const char *persist_name(rctx *c, const char *name, size_t n) { return ta_strndup(c->a, name, n); }

val r_str_method(rctx *c, val self, const char *name, size_t n) {
    builtin_fn fn = find_method(str_methods, sizeof str_methods / sizeof str_methods[0], name, n);
    if (!fn) return v_missing();
    return bound(c, self, persist_name(c, name, n), fn);
}

// ---- dict methods ----
#define DSELF (f->self.u.d)

static val m_get(rctx *c, vfunc *f, cargs *a) {
    if (a->nk || a->n < 1 || a->n > 2) r_fail(c, a->at, "get() takes 1 or 2 positional arguments");
    val k = a->v[0];
    if ((k.t == V_LIST && k.k != LK_TUPLE) || k.t == V_DICT) r_fail(c, a->at, "unhashable type: '%s'", v_typename(k));
    val *x = vd_get(DSELF, k);
    if (x) return *x;
    return a->n == 2 ? a->v[1] : v_none();
}

static val dict_view(rctx *c, vdict *d, int kind) {
    val l = v_list(c->a, d->n, kind);
    for (int64_t i = 0; i < d->n; i++) {
        if (kind == LK_KEYS) l.u.l->v[i] = d->k[i];
        else if (kind == LK_VALUES) l.u.l->v[i] = d->v[i];
        else {
            val t = v_list(c->a, 2, LK_TUPLE);
            t.u.l->v[0] = d->k[i], t.u.l->v[1] = d->v[i], t.u.l->n = 2;
            l.u.l->v[i] = t;
        }
    }
    l.u.l->n = d->n;
    return l;
}
val r_dict_items(rctx *c, vdict *d) { return dict_view(c, d, LK_ITEMS); }

static val m_items(rctx *c, vfunc *f, cargs *a) {
    if (a->n || a->nk) r_fail(c, a->at, "items() takes no arguments");
    return dict_view(c, DSELF, LK_ITEMS);
}
static val m_keys(rctx *c, vfunc *f, cargs *a) {
    if (a->n || a->nk) r_fail(c, a->at, "keys() takes no arguments");
    return dict_view(c, DSELF, LK_KEYS);
}
static val m_values(rctx *c, vfunc *f, cargs *a) {
    if (a->n || a->nk) r_fail(c, a->at, "values() takes no arguments");
    return dict_view(c, DSELF, LK_VALUES);
}
static val m_dcopy(rctx *c, vfunc *f, cargs *a) {
    (void)a;
    val d = v_dict(c->a, DSELF->n);
    for (int64_t i = 0; i < DSELF->n; i++) vd_set(c->a, d.u.d, DSELF->k[i], DSELF->v[i]);
    return d;
}

static const method_entry dict_methods[] = {
    {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"copy", m_dcopy},
};
static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};

val r_dict_method(rctx *c, val self, const char *name, size_t n) {
    builtin_fn fn = find_method(dict_methods, sizeof dict_methods / sizeof dict_methods[0], name, n);
    if (fn) return bound(c, self, persist_name(c, name, n), fn);
    for (size_t i = 0; i < sizeof dict_unsafe / sizeof dict_unsafe[0]; i++)
        if (strlen(dict_unsafe[i]) == n && memcmp(dict_unsafe[i], name, n) == 0) return unsafe_attr(c, self, dict_unsafe[i]);
    return v_missing();
}

// ---- list methods ----
static val m_lindex(rctx *c, vfunc *f, cargs *a) {
    if (a->n < 1 || a->nk) r_fail(c, a->at, "index expected at least 1 argument");
    vlist *l = f->self.u.l;
    for (int64_t i = 0; i < l->n; i++)
        if (v_eq(l->v[i], a->v[0])) return v_int(i);
    abuf b;
    ab_init(&b, c->a);
    v_repr_into(c, &b, a->v[0]);
    r_fail(c, a->at, "%s is not in list", b.p);
}
static val m_lcount(rctx *c, vfunc *f, cargs *a) {
    if (a->n != 1 || a->nk) r_fail(c, a->at, "count() takes exactly one argument");
    vlist *l = f->self.u.l;
    int64_t n = 0;
    for (int64_t i = 0; i < l->n; i++) n += v_eq(l->v[i], a->v[0]);
    return v_int(n);
}
static val m_lcopy(rctx *c, vfunc *f, cargs *a) {
    (void)a;
    vlist *l = f->self.u.l;
    val r = v_list(c->a, l->n, LK_LIST);
    if (l->n) memcpy(r.u.l->v, l->v, (size_t)l->n * sizeof(val));
    r.u.l->n = l->n;
    return r;
}

static const method_entry list_methods[] = {{"index", m_lindex}, {"count", m_lcount}, {"copy", m_lcopy}};
static const char *const list_unsafe[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};

val r_list_method(rctx *c, val self, const char *name, size_t n) {
    size_t nm = self.k == LK_LIST ? 3 : self.k == LK_TUPLE ? 2 : 0;
    builtin_fn fn = find_method(list_methods, nm, name, n);
    if (fn) return bound(c, self, persist_name(c, name, n), fn);
    if (self.k == LK_LIST)
        for (size_t i = 0; i < sizeof list_unsafe / sizeof list_unsafe[0]; i++)
            if (strlen(list_unsafe[i]) == n && memcmp(list_unsafe[i], name, n) == 0)
                return unsafe_attr(c, self, list_unsafe[i]);
    return v_missing();
}

// ---- loop ----
static val m_cycle(rctx *c, vfunc *f, cargs *a) {
    if (!a->n) r_fail(c, a->at, "no items for cycling given");
    return a->v[f->self.u.lp->i % a->n];
}

static val m_changed(rctx *c, vfunc *f, cargs *a) {
    val t = v_list(c->a, a->n, LK_TUPLE);
    for (int i = 0; i < a->n; i++) t.u.l->v[i] = a->v[i];
    t.u.l->n = a->n;
    vloop *lp = f->self.u.lp;
    if (lp->last_changed.t == V_MISSING || !v_eq(lp->last_changed, t)) {
        lp->last_changed = t;
        return v_bool(1);
    }
    return v_bool(0);
}

val r_loop_attr(rctx *c, val loop, const char *name, size_t n) {
    vloop *lp = loop.u.lp;
    int64_t i = lp->i, len = lp->items->n;
    char key[16];
    if (n >= sizeof key) return v_undef_attr(c->a, loop, v_str(c->a, name, n));
    memcpy(key, name, n);
    key[n] = 0;
    if (!strcmp(key, "index")) return v_int(i + 1);
    if (!strcmp(key, "index0")) return v_int(i);
    if (!strcmp(key, "revindex")) return v_int(len - i);
    if (!strcmp(key, "revindex0")) return v_int(len - i - 1);
    if (!strcmp(key, "first")) return v_bool(i == 0);
    if (!strcmp(key, "last")) return v_bool(i == len - 1);
    if (!strcmp(key, "length")) return v_int(len);
    if (!strcmp(key, "depth")) return v_int(lp->depth0 + 1);
    if (!strcmp(key, "depth0")) return v_int(lp->depth0);
    if (!strcmp(key, "previtem"))
        return i > 0 ? lp->items->v[i - 1] : v_undef_hint(c->a, "there is no previous item");
    if (!strcmp(key, "nextitem"))
        return i + 1 < len ? lp->items->v[i + 1] : v_undef_hint(c->a, "there is no next item");
    if (!strcmp(key, "cycle")) return bound(c, loop, "cycle", m_cycle);
    if (!strcmp(key, "changed")) return bound(c, loop, "changed", m_changed);
    return v_undef_attr(c->a, loop, v_str(c->a, name, n));
}

// ---- format specs shared by "%" and str.format ----
typedef struct {
    char fill[8]; // UTF-8 of one code point
    char align;   // '<' '>' '^' '=' or 0
    char sign;    // '+' '-' ' ' or 0
    int alt, zero, grouping;
    int64_t width, prec; // -1 = not given
    char type;           // 0 = default
} fspec;

static void pad_out(abuf *b, const char *body, size_t blen, int64_t bcp, const fspec *sp, char default_align) {
    int64_t pad = sp->width > bcp ? sp->width - bcp : 0;
    char al = sp->align ? sp->align : default_align;
    const char *fill = sp->fill[0] ? sp->fill : " ";
    int64_t left = al == '>' ? pad : al == '^' ? pad / 2 : 0, right = pad - left;
    if (al == '=') { // padding after the sign
        size_t sl = blen && (body[0] == '+' || body[0] == '-' || body[0] == ' ') ? 1 : 0;
        ab_add(b, body, sl);
        for (int64_t i = 0; i < pad; i++) ab_adds(b, fill);
        ab_add(b, body + sl, blen - sl);
        return;
    }
    for (int64_t i = 0; i < left; i++) ab_adds(b, fill);
    ab_add(b, body, blen);
    for (int64_t i = 0; i < right; i++) ab_adds(b, fill);
}

static void group_thousands(char *digits, size_t cap) {
    char *dot = strchr(digits, '.');
    size_t intlen = dot ? (size_t)(dot - digits) : strlen(digits);
    size_t st = digits[0] == '-' ? 1 : 0;
    size_t nd = intlen - st;
    if (nd <= 3) return;
    char tmp[2800];
    size_t o = 0;
    for (size_t i = 0; i < st; i++) tmp[o++] = digits[i];
    for (size_t i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) tmp[o++] = ',';
        tmp[o++] = digits[st + i];
    }
    snprintf(tmp + o, sizeof tmp - o, "%s", digits + intlen);
    snprintf(digits, cap, "%s", tmp);
}

static void format_number(rctx *c, abuf *b, val v, const fspec *sp, const tnode *at) {
    char body[2800];
    char type = sp->type;
    if (v.t == V_BOOL && !type) { // format(True, '') is 'True'
        pad_out(b, v.u.i ? "True" : "False", v.u.i ? 4 : 5, v.u.i ? 4 : 5, sp, '<');
        return;
    }
    int is_int = v.t != V_FLOAT;
    if (is_int && (type == 0 || type == 'd' || type == 'n')) {
        snprintf(body, sizeof body, "%lld", (long long)v.u.i);
    } else if (is_int && (type == 'x' || type == 'X' || type == 'o' || type == 'b')) {
        uint64_t m = v.u.i < 0 ? (uint64_t)0 - (uint64_t)v.u.i : (uint64_t)v.u.i;
        char digs[80];
        int nd = 0;
        unsigned base = type == 'o' ? 8 : type == 'b' ? 2 : 16;
        const char *al = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        do digs[nd++] = al[m % base], m /= base;
        while (m);
        size_t o = 0;
        if (v.u.i < 0) body[o++] = '-';
        if (sp->alt) body[o++] = '0', body[o++] = type == 'o' ? 'o' : type == 'b' ? 'b' : type;
        while (nd) body[o++] = digs[--nd];
        body[o] = 0;
    } else if (is_int && type == 'c') {
        abuf t;
        ab_init(&t, c->a);
        utf8_put(&t, (int32_t)v.u.i);
        pad_out(b, t.p, t.len, 1, sp, '<');
        return;
    } else {
        double x = v_num(v);
        int prec = sp->prec >= 0 ? (int)sp->prec : 6;
        switch (type) {
        case 'f': case 'F': snprintf(body, sizeof body, type == 'f' ? "%.*f" : "%.*F", prec, x); break;
        case 'e': case 'E': snprintf(body, sizeof body, type == 'e' ? "%.*e" : "%.*E", prec, x); break;
        case 'g': case 'G':
            snprintf(body, sizeof body, sp->alt ? (type == 'g' ? "%#.*g" : "%#.*G") : (type == 'g' ? "%.*g" : "%.*G"),
                     prec ? prec : 1, x);
            break;
        case '%': snprintf(body, sizeof body, "%.*f%%", prec, x * 100); break;
        case 0:
        case 'n':
            if (sp->prec < 0) fmt_float(body, sizeof body, x);
            else { // like 'g' but keeps at least one digit after the point
                snprintf(body, sizeof body, "%.*g", prec ? prec : 1, x);
                if (!strpbrk(body, ".eninf")) strncat(body, ".0", sizeof body - strlen(body) - 1);
            }
            break;
        default: r_fail(c, at, "Unknown format code '%c' for object of type '%s'", type, v_typename(v));
        }
    }
    if (sp->grouping) group_thousands(body, sizeof body);
    char signed_body[2808];
    const char *bb = body;
    if (body[0] != '-' && (sp->sign == '+' || sp->sign == ' ')) {
        snprintf(signed_body, sizeof signed_body, "%c%s", sp->sign, body);
        bb = signed_body;
    }
    fspec s2 = *sp;
    if (sp->zero && !sp->align) {
        s2.align = '=';
        if (!s2.fill[0]) strcpy(s2.fill, "0");
    }
    pad_out(b, bb, strlen(bb), (int64_t)strlen(bb), &s2, '>');
}

static void format_value(rctx *c, abuf *b, val v, const fspec *sp, const tnode *at) {
    if (v_is_number(v) && (sp->type == 0 || !strchr("s", sp->type))) {
        format_number(c, b, v, sp, at);
        return;
    }
    if (sp->type && sp->type != 's') r_fail(c, at, "Unknown format code '%c' for object of type '%s'", sp->type, v_typename(v));
    val s = v_tostr(c, v);
    size_t len = s.u.s->len;
    if (sp->prec >= 0) len = byte_off(s.u.s, sp->prec);
    int64_t ncp = sp->prec >= 0 && sp->prec < vs_ncp(s.u.s) ? sp->prec : vs_ncp(s.u.s);
    pad_out(b, s.u.s->s, len, ncp, sp, '<');
}

// Parse a str.format spec: [[fill]align][sign][#][0][width][,][.precision][type]
static void parse_spec(rctx *c, const char *s, size_t n, fspec *sp, const tnode *at) {
    memset(sp, 0, sizeof *sp);
    sp->width = sp->prec = -1;
    size_t i = 0;
    size_t k = 0;
    if (n) {
        utf8_next(s, n, &k);
        if (k < n && strchr("<>^=", s[k])) {
            memcpy(sp->fill, s, k);
            sp->align = s[k];
            i = k + 1;
        } else if (strchr("<>^=", s[0])) {
            sp->align = s[0];
            i = 1;
        }
    }
    if (i < n && strchr("+- ", s[i])) sp->sign = s[i++];
    if (i < n && s[i] == '#') sp->alt = 1, i++;
    if (i < n && s[i] == '0') sp->zero = 1, i++;
    if (i < n && s[i] >= '0' && s[i] <= '9') {
        sp->width = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            if ((sp->width = sp->width * 10 + (s[i++] - '0')) > (int64_t)1 << 28) r_fail(c, at, "Too many decimal digits in format string");
    }
    if (i < n && (s[i] == ',' || s[i] == '_')) sp->grouping = 1, i++;
    if (i < n && s[i] == '.') {
        i++;
        sp->prec = 0;
        if (i >= n || s[i] < '0' || s[i] > '9') r_fail(c, at, "Format specifier missing precision");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            if ((sp->prec = sp->prec * 10 + (s[i++] - '0')) > 1000) r_fail(c, at, "precision too large");
    }
    if (i < n) sp->type = s[i++];
    if (i < n) r_fail(c, at, "Invalid format specifier '%.*s'", (int)n, s);
}

val str_format(rctx *c, vstr *fmt, cargs *a) {
    abuf b;
    ab_init(&b, c->a);
    const char *s = fmt->s;
    size_t n = fmt->len;
    int auto_idx = 0, manual = 0;
    for (size_t i = 0; i < n;) {
        char ch = s[i];
        if (ch == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                ab_addc(&b, '}');
                i += 2;
                continue;
            }
            r_fail(c, a->at, "Single '}' encountered in format string");
        }
        if (ch != '{') {
            ab_addc(&b, ch);
            i++;
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            ab_addc(&b, '{');
            i += 2;
            continue;
        }
        size_t j = i + 1;
        int depth = 1;
        while (j < n && depth) {
            if (s[j] == '{') depth++;
            else if (s[j] == '}') depth--;
            if (depth) j++;
        }
        if (j >= n) r_fail(c, a->at, "expected '}' before end of string");
        const char *field = s + i + 1;
        size_t flen = j - i - 1;
        i = j + 1;
        // field_name[!conv][:spec]
        size_t nameend = 0;
        while (nameend < flen && field[nameend] != '!' && field[nameend] != ':') nameend++;
        char conv = 0;
        const char *spec = "";
        size_t speclen = 0;
        size_t p = nameend;
        if (p < flen && field[p] == '!') {
            if (p + 1 >= flen) r_fail(c, a->at, "end of string while looking for conversion specifier");
            conv = field[p + 1];
            p += 2;
        }
        if (p < flen && field[p] == ':') spec = field + p + 1, speclen = flen - p - 1;
        // the argument: first part up to '.' or '['
        size_t q = 0;
        while (q < nameend && field[q] != '.' && field[q] != '[') q++;
        val arg;
        if (q == 0) {
            if (manual) r_fail(c, a->at, "cannot switch from manual field specification to automatic field numbering");
            if (auto_idx >= a->n) r_fail(c, a->at, "Replacement index %d out of range for positional args tuple", auto_idx);
            arg = a->v[auto_idx++];
        } else if (field[0] >= '0' && field[0] <= '9') {
            if (auto_idx) r_fail(c, a->at, "cannot switch from automatic field numbering to manual field specification");
            manual = 1;
            int idx = atoi(field);
            if (idx >= a->n) r_fail(c, a->at, "Replacement index %d out of range for positional args tuple", idx);
            arg = a->v[idx];
        } else {
            int k = 0;
            while (k < a->nk && (strlen(a->kn[k]) != q || memcmp(a->kn[k], field, q) != 0)) k++;
            if (k == a->nk) r_fail(c, a->at, "KeyError: '%.*s'", (int)q, field);
            arg = a->kv[k];
        }
        while (q < nameend) { // .attr and [key]
            if (field[q] == '.') {
                size_t st = ++q;
                while (q < nameend && field[q] != '.' && field[q] != '[') q++;
                arg = r_getattr(c, arg, field + st, q - st, a->at);
            } else {
                size_t st = ++q;
                while (q < nameend && field[q] != ']') q++;
                val key;
                int digits = q > st;
                for (size_t z = st; z < q; z++) digits &= field[z] >= '0' && field[z] <= '9';
                key = digits ? v_int(strtoll(field + st, NULL, 10)) : v_str(c->a, field + st, q - st);
                arg = r_getitem(c, arg, key, a->at);
                q++;
            }
        }
        if (arg.t == V_UNDEF) r_fail_undef(c, a->at, arg);
        if (conv == 'r' || conv == 'a') {
            abuf t;
            ab_init(&t, c->a);
            v_repr_into(c, &t, arg);
            arg = ab_val(&t);
        } else if (conv == 's') arg = v_tostr(c, arg);
        else if (conv) r_fail(c, a->at, "Unknown conversion specifier %c", conv);
        // nested fields in the spec ("{:{width}}") are expanded first
        if (memchr(spec, '{', speclen)) {
            vstr *inner = v_str(c->a, spec, speclen).u.s;
            val ex = str_format(c, inner, a);
            spec = ex.u.s->s, speclen = ex.u.s->len;
        }
        fspec sp;
        parse_spec(c, spec, speclen, &sp, a->at);
        format_value(c, &b, arg, &sp, a->at);
    }
    return ab_val(&b);
}

// Python's printf-style "fmt % args".
val r_printf_format(rctx *c, val fmtv, val args, const tnode *at) {
    vstr *fmt = fmtv.u.s;
    vlist *pos = NULL, one = {.n = 1, .cap = 1, .v = &args};
    vdict *map = NULL;
    if (args.t == V_LIST && args.k == LK_TUPLE) pos = args.u.l;
    else {
        pos = &one;
        if (args.t == V_DICT) map = args.u.d;
    }
    int64_t ai = 0;
    int used_map = 0;
    abuf b;
    ab_init(&b, c->a);
    const char *s = fmt->s;
    size_t n = fmt->len;
    for (size_t i = 0; i < n;) {
        if (s[i] != '%') {
            ab_addc(&b, s[i++]);
            continue;
        }
        i++;
        if (i >= n) r_fail(c, at, "incomplete format");
        val arg = v_missing();
        if (s[i] == '(') {
            if (!map) r_fail(c, at, "format requires a mapping");
            size_t st = ++i;
            while (i < n && s[i] != ')') i++;
            if (i >= n) r_fail(c, at, "incomplete format key");
            val *x = vd_gets(map, s + st, i - st);
            if (!x) r_fail(c, at, "KeyError: '%.*s'", (int)(i - st), s + st);
            arg = *x;
            used_map = 1;
            i++;
        }
        fspec sp;
        memset(&sp, 0, sizeof sp);
        sp.width = sp.prec = -1;
        int left = 0;
        for (; i < n && strchr("-+ #0", s[i]); i++) {
            if (s[i] == '-') left = 1;
            else if (s[i] == '+') sp.sign = '+';
            else if (s[i] == ' ' && sp.sign != '+') sp.sign = ' ';
            else if (s[i] == '#') sp.alt = 1;
            else sp.zero = 1;
        }
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            sp.width = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                if ((sp.width = sp.width * 10 + (s[i++] - '0')) > (int64_t)1 << 28) r_fail(c, at, "width too big");
        }
        if (i < n && s[i] == '.') {
            i++;
            sp.prec = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                if ((sp.prec = sp.prec * 10 + (s[i++] - '0')) > 1000) r_fail(c, at, "precision too big");
        }
        if (i >= n) r_fail(c, at, "incomplete format");
        char conv = s[i++];
        if (conv == '%') {
            ab_addc(&b, '%');
            continue;
        }
        if (arg.t == V_MISSING) {
            if (ai >= pos->n) r_fail(c, at, "not enough arguments for format string");
            arg = pos->v[ai++];
        }
        if (left) sp.align = '<', sp.zero = 0;
        else sp.align = '>';
        switch (conv) {
        case 's': case 'r': case 'a': {
            val sv;
            if (conv == 's') sv = v_tostr(c, arg);
            else {
                abuf t;
                ab_init(&t, c->a);
                v_repr_into(c, &t, arg);
                sv = ab_val(&t);
            }
            sp.type = 's';
            sp.zero = 0;
            format_value(c, &b, sv, &sp, at);
            break;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c':
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': {
            if (!v_is_number(arg)) {
                if (conv == 'c' && arg.t == V_STR) {
                    sp.type = 's';
                    format_value(c, &b, arg, &sp, at);
                    break;
                }
                r_fail(c, at, "%%%c format: a real number is required, not %s", conv, v_typename(arg));
            }
            val num = arg;
            if (strchr("diuxXoc", conv) && num.t == V_FLOAT) num = v_int((int64_t)num.u.f);
            if (num.t == V_BOOL) num = v_int(num.u.i);
            if (strchr("fFeEgG", conv) && num.t != V_FLOAT) num = v_float(v_num(num));
            sp.type = conv == 'i' || conv == 'u' ? 'd' : conv;
            if (sp.zero && !left) sp.align = 0;
            if (sp.prec >= 0 && strchr("dxXo", sp.type)) { // %.3d pads digits with zeros
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%0*lld", (int)sp.prec, (long long)(num.u.i < 0 ? -num.u.i : num.u.i));
                if (sp.type == 'd') {
                    abuf t;
                    ab_init(&t, c->a);
                    if (num.u.i < 0) ab_addc(&t, '-');
                    else if (sp.sign) ab_addc(&t, sp.sign);
                    ab_adds(&t, tmp);
                    fspec s2 = sp;
                    s2.type = 's';
                    format_value(c, &b, ab_val(&t), &s2, at);
                    break;
                }
            }
            format_number(c, &b, num, &sp, at);
            break;
        }
        default: r_fail(c, at, "unsupported format character '%c' (0x%x)", conv, (unsigned char)conv);
        }
    }
    // Python skips this check when the argument is a mapping-like object (dicts, and lists too)
    int mapping_like = pos == &one && (args.t == V_DICT || (args.t == V_LIST && args.k != LK_TUPLE));
    if (!used_map && ai < pos->n && !mapping_like) r_fail(c, at, "not all arguments converted during string formatting");
    return ab_val(&b);
}
