// filters.c — jinja2's builtin filters and tests, and the globals HF adds
// (raise_exception, strftime_now) next to jinja2's (range, namespace, dict,
// joiner). A filter gets its operand as argument 0. tojson is HF's version:
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False),
// with no HTML escaping.
#include "tpl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_RANGE 100000 // jinja2's sandbox limit

#define ARGS(...)                                                                                  \
    static const char *const names[] = {__VA_ARGS__};                                              \
    enum { NP = sizeof names / sizeof names[0] };                                                  \
    val v[NP];                                                                                     \
    bind_args(c, a, f->name, NP, names, v)

static int given(val v) { return v.t != V_MISSING; }

static val soft_str(rctx *c, val v) { return v_tostr(c, v); }

static vstr *need_str(rctx *c, cargs *a, val v, const char *fname) {
    if (v.t == V_STR) return v.u.s;
    if (v.t == V_UNDEF) r_fail_undef(c, a->at, v);
    r_fail(c, a->at, "%s: expected a string, got %s", fname, v_typename(v));
}

// ---- attribute paths (make_attrgetter) ----
static val get_path(rctx *c, val item, val attribute, val dflt, const tnode *at) {
    if (attribute.t == V_INT) return r_getitem(c, item, attribute, at);
    if (attribute.t != V_STR) return item;
    vstr *s = attribute.u.s;
    size_t i = 0;
    while (i <= s->len) {
        size_t j = i;
        while (j < s->len && s->s[j] != '.') j++;
        int digits = j > i;
        for (size_t k = i; k < j; k++) digits &= s->s[k] >= '0' && s->s[k] <= '9';
        val key = digits ? v_int(strtoll(s->s + i, NULL, 10)) : v_str(c->a, s->s + i, j - i);
        item = r_getitem(c, item, key, at);
        if (given(dflt) && dflt.t != V_NONE && item.t == V_UNDEF) item = dflt;
        i = j + 1;
    }
    return item;
}

static val ignore_case(rctx *c, val v) { return v.t == V_STR ? str_case(c, v.u.s, CASE_LOWER) : v; }

// Sort key per item: attribute path(s) (comma-separated), lower-cased unless case_sensitive.
static val sort_key(rctx *c, val item, val attribute, int case_sensitive, int multi, const tnode *at) {
    if (multi && attribute.t == V_STR && memchr(attribute.u.s->s, ',', attribute.u.s->len)) {
        val parts = v_list(c->a, 0, LK_LIST);
        vstr *s = attribute.u.s;
        size_t i = 0;
        while (i <= s->len) {
            size_t j = i;
            while (j < s->len && s->s[j] != ',') j++;
            val k = get_path(c, item, v_str(c->a, s->s + i, j - i), v_missing(), at);
            vl_push(c->a, parts.u.l, case_sensitive ? k : ignore_case(c, k));
            i = j + 1;
        }
        return parts;
    }
    val k = given(attribute) && attribute.t != V_NONE ? get_path(c, item, attribute, v_missing(), at) : item;
    return case_sensitive ? k : ignore_case(c, k);
}

// Stable merge sort of items by keys (Python's sorted; reverse keeps ties in order).
static void merge_sort(rctx *c, val *items, val *keys, int64_t n, int reverse, const tnode *at) {
    if (n < 2) return;
    val *ti = ta_alloc(c->a, (size_t)n * sizeof(val)), *tk = ta_alloc(c->a, (size_t)n * sizeof(val));
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int take_right = reverse ? r_lt(c, keys[i], keys[j], at) : r_lt(c, keys[j], keys[i], at);
                if (take_right) ti[o] = items[j], tk[o++] = keys[j++];
                else ti[o] = items[i], tk[o++] = keys[i++];
            }
            while (i < mid) ti[o] = items[i], tk[o++] = keys[i++];
            while (j < hi) ti[o] = items[j], tk[o++] = keys[j++];
        }
        memcpy(items, ti, (size_t)n * sizeof(val));
        memcpy(keys, tk, (size_t)n * sizeof(val));
    }
}

static val list_of(rctx *c, vlist *src) {
    val r = v_list(c->a, src->n, LK_LIST);
    if (src->n) memcpy(r.u.l->v, src->v, (size_t)src->n * sizeof(val));
    r.u.l->n = src->n;
    return r;
}

// ---- filters: strings ----
static val f_upper(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    return str_case(c, soft_str(c, v[0]).u.s, CASE_UPPER);
}
static val f_lower(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    return str_case(c, soft_str(c, v[0]).u.s, CASE_LOWER);
}
static val f_capitalize(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    return str_case(c, soft_str(c, v[0]).u.s, CASE_CAPITALIZE);
}

// jinja2's title: split before runs of [-\s({[<], then item[0].upper() + item[1:].lower()
static int title_sep(int32_t cp) { return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_isspace(cp); }
static val f_title(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    vstr *s = soft_str(c, v[0]).u.s;
    abuf b;
    ab_init(&b, c->a);
    size_t i = 0;
    int at_start = 1;
    while (i < s->len) {
        int32_t cp = utf8_next(s->s, s->len, &i);
        if (title_sep(cp)) {
            utf8_put(&b, cp);
            at_start = 1;
        } else if (at_start) {
            if (cp == 0xdf) ab_adds(&b, "SS");
            else utf8_put(&b, utf8proc_toupper(cp));
            at_start = 0;
        } else utf8_put(&b, utf8proc_tolower(cp));
    }
    return ab_val(&b);
}

static val f_trim(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "chars");
    vstr *chars = given(v[1]) && v[1].t != V_NONE ? need_str(c, a, v[1], "trim") : NULL;
    return str_strip(c, soft_str(c, v[0]).u.s, chars, 3);
}

static val f_replace(rctx *c, vfunc *f, cargs *a) {
    ARGS("s", "old", "new", "count");
    if (!given(v[1]) || !given(v[2])) r_fail(c, a->at, "replace filter needs old and new strings");
    vstr *s = soft_str(c, v[0]).u.s;
    vstr *old = soft_str(c, v[1]).u.s, *rep = soft_str(c, v[2]).u.s;
    int64_t count = given(v[3]) && v[3].t != V_NONE ? arg_int(c, a, v[3], "count") : -1;
    return str_replace(c, s, old, rep, count);
}

static val f_indent(rctx *c, vfunc *f, cargs *a) {
    ARGS("s", "width", "first", "blank");
    if (v[0].t == V_UNDEF) r_fail_undef(c, a->at, v[0]);
    vstr *s = need_str(c, a, v[0], "indent");
    abuf ind;
    ab_init(&ind, c->a);
    if (given(v[1]) && v[1].t == V_STR) ab_add(&ind, v[1].u.s->s, v[1].u.s->len);
    else {
        int64_t w = given(v[1]) ? arg_int(c, a, v[1], "width") : 4;
        if (w > 4096) r_fail(c, a->at, "indent width %lld is too large", (long long)w);
        for (int64_t i = 0; i < w; i++) ab_addc(&ind, ' ');
    }
    if (!ind.p) ab_add(&ind, "", 0);
    abuf tmp;
    ab_init(&tmp, c->a);
    ab_add(&tmp, s->s, s->len);
    ab_addc(&tmp, '\n');
    vlist *lines = str_splitlines(c, ab_val(&tmp).u.s, 0).u.l;
    abuf b;
    ab_init(&b, c->a);
    if (v_truthy(v[3])) {
        for (int64_t i = 0; i < lines->n; i++) {
            if (i) ab_addc(&b, '\n'), ab_add(&b, ind.p, ind.len);
            ab_add(&b, lines->v[i].u.s->s, lines->v[i].u.s->len);
        }
    } else {
        for (int64_t i = 0; i < lines->n; i++) {
            vstr *l = lines->v[i].u.s;
            if (i) {
                ab_addc(&b, '\n');
                if (l->len) ab_add(&b, ind.p, ind.len);
            }
            ab_add(&b, l->s, l->len);
        }
    }
    if (!v_truthy(v[2])) return ab_val(&b);
    abuf r;
    ab_init(&r, c->a);
    ab_add(&r, ind.p, ind.len);
    if (b.len) ab_add(&r, b.p, b.len);
    return ab_val(&r);
}

static val f_center(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "width");
    int64_t w = given(v[1]) ? arg_int(c, a, v[1], "width") : 80;
    return str_pad(c, soft_str(c, v[0]).u.s, w, NULL, 0);
}

static val f_wordcount(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    vstr *s = soft_str(c, v[0]).u.s;
    int64_t n = 0;
    int in_word = 0;
    size_t i = 0;
    while (i < s->len) {
        int32_t cp = utf8_next(s->s, s->len, &i);
        int k = utf8proc_category(cp);
        int w = cp == '_' || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
                (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
        if (w && !in_word) n++;
        in_word = w;
    }
    return v_int(n);
}

static val f_truncate(rctx *c, vfunc *f, cargs *a) {
    ARGS("s", "length", "killwords", "end", "leeway");
    int64_t length = given(v[1]) ? arg_int(c, a, v[1], "length") : 255;
    vstr *end = given(v[3]) ? soft_str(c, v[3]).u.s : v_cstr(c->a, "...").u.s;
    int64_t leeway = given(v[4]) && v[4].t != V_NONE ? arg_int(c, a, v[4], "leeway") : 5;
    int64_t endn = vs_ncp(end);
    if (length < endn) r_fail(c, a->at, "expected length >= %lld, got %lld", (long long)endn, (long long)length);
    if (leeway < 0) r_fail(c, a->at, "expected leeway >= 0, got %lld", (long long)leeway);
    int64_t len; // Python len(s): short enough values come back as they are, whatever their type
    switch (v[0].t) {
    case V_STR: len = vs_ncp(v[0].u.s); break;
    case V_LIST: len = v[0].k == LK_GEN ? -1 : v[0].u.l->n; break;
    case V_DICT: len = v[0].u.d->n; break;
    case V_UNDEF: len = 0; break;
    default: len = -1;
    }
    if (len < 0) r_fail(c, a->at, "object of type '%s' has no len()", v_typename(v[0]));
    if (len <= length + leeway) return v[0];
    if (v[0].t != V_STR) r_fail(c, a->at, "truncate: cannot shorten a %s", v_typename(v[0]));
    vstr *s = v[0].u.s;
    int64_t keep = length - endn;
    size_t pos = 0;
    for (int64_t k = 0; k < keep && pos < s->len; k++) utf8_next(s->s, s->len, &pos);
    size_t cut = pos;
    if (!v_truthy(v[2])) { // rsplit(" ", 1)[0]
        for (size_t k = pos; k-- > 0;)
            if (s->s[k] == ' ') {
                cut = k;
                break;
            }
    }
    abuf b;
    ab_init(&b, c->a);
    ab_add(&b, s->s, cut);
    ab_add(&b, end->s, end->len);
    return ab_val(&b);
}

static void html_escape(abuf *b, vstr *s) {
    for (size_t i = 0; i < s->len; i++) {
        switch (s->s[i]) {
        case '&': ab_adds(b, "&amp;"); break;
        case '<': ab_adds(b, "&lt;"); break;
        case '>': ab_adds(b, "&gt;"); break;
        case '"': ab_adds(b, "&#34;"); break;
        case '\'': ab_adds(b, "&#39;"); break;
        default: ab_addc(b, s->s[i]);
        }
    }
}

val r_html_escape(rctx *c, val x) {
    if (x.t == V_STR && x.k) return x;
    vstr *s = soft_str(c, x).u.s;
    abuf b;
    ab_init(&b, c->a);
    html_escape(&b, s);
    val r = ab_val(&b);
    r.k = 1;
    return r;
}

static val escape_val(rctx *c, val x, int force) {
    if (x.t == V_STR && x.k && !force) return x;
    vstr *s = soft_str(c, x).u.s;
    abuf b;
    ab_init(&b, c->a);
    html_escape(&b, s);
    val r = ab_val(&b);
    r.k = 1;
    return r;
}
static val f_escape(rctx *c, vfunc *f, cargs *a) {
    ARGS("s");
    return escape_val(c, v[0], 0);
}
static val f_forceescape(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    return escape_val(c, v[0], 1);
}
static val f_safe(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    val r = soft_str(c, v[0]);
    if (r.u.s == (v[0].t == V_STR ? v[0].u.s : NULL)) r = v_str(c->a, r.u.s->s, r.u.s->len);
    r.k = 1;
    return r;
}

static val f_string(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    return soft_str(c, v[0]);
}

static val f_format(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    if (a->n < 1) r_fail(c, a->at, "format filter needs a value");
    vstr *fmt = soft_str(c, a->v[0]).u.s;
    val fv = {0};
    fv.t = V_STR, fv.u.s = fmt;
    if (a->nk && a->n > 1) r_fail(c, a->at, "can't handle positional and keyword arguments at the same time");
    if (a->nk) {
        val d = v_dict(c->a, a->nk);
        for (int i = 0; i < a->nk; i++) vd_set(c->a, d.u.d, v_cstr(c->a, a->kn[i]), a->kv[i]);
        return r_printf_format(c, fv, d, a->at);
    }
    val t = v_list(c->a, a->n - 1, LK_TUPLE);
    for (int i = 1; i < a->n; i++) t.u.l->v[i - 1] = a->v[i];
    t.u.l->n = a->n - 1;
    return r_printf_format(c, fv, t, a->at);
}

// ---- filters: JSON ----
static val f_tojson(rctx *c, vfunc *f, cargs *a) {
    ARGS("x", "ensure_ascii", "indent", "separators", "sort_keys");
    json_opts o = {.ensure_ascii = v_truthy(v[1]), .indent = NULL, .item_sep = ", ", .key_sep = ": ",
                   .sort_keys = v_truthy(v[4])};
    if (given(v[2]) && v[2].t != V_NONE) {
        if (v[2].t == V_STR) o.indent = v[2].u.s->s;
        else {
            int64_t w = arg_int(c, a, v[2], "indent");
            if (w > 4096) r_fail(c, a->at, "indent %lld is too large", (long long)w);
            char *ind = ta_alloc(c->a, (size_t)(w > 0 ? w : 0) + 1);
            for (int64_t i = 0; i < w; i++) ind[i] = ' ';
            o.indent = ind;
        }
        o.item_sep = ",";
    }
    if (given(v[3]) && v[3].t != V_NONE) {
        if (v[3].t != V_LIST || v[3].u.l->n != 2 || v[3].u.l->v[0].t != V_STR || v[3].u.l->v[1].t != V_STR)
            r_fail(c, a->at, "tojson: separators must be a pair of strings");
        o.item_sep = v[3].u.l->v[0].u.s->s;
        o.key_sep = v[3].u.l->v[1].u.s->s;
    }
    abuf b;
    ab_init(&b, c->a);
    v_to_json(c, &b, v[0], &o, 0);
    return ab_val(&b);
}

// ---- filters: sequences ----
static val f_length(rctx *c, vfunc *f, cargs *a) {
    ARGS("obj");
    switch (v[0].t) {
    case V_UNDEF: return v_int(0);
    case V_STR: return v_int(vs_ncp(v[0].u.s));
    case V_LIST:
        if (v[0].k != LK_GEN) return v_int(v[0].u.l->n);
        break;
    case V_DICT: return v_int(v[0].u.d->n);
    default: break;
    }
    r_fail(c, a->at, "object of type '%s' has no len()", v_typename(v[0]));
}

static val f_first(rctx *c, vfunc *f, cargs *a) {
    ARGS("seq");
    vlist *l = r_iterate(c, v[0], a->at);
    if (!l->n) return v_undef_hint(c->a, "No first item, sequence was empty.");
    return l->v[0];
}

static val f_last(rctx *c, vfunc *f, cargs *a) {
    ARGS("seq");
    if ((v[0].t != V_UNDEF && v[0].t != V_LIST && v[0].t != V_STR && v[0].t != V_DICT) ||
        (v[0].t == V_LIST && v[0].k == LK_GEN))
        r_fail(c, a->at, "'%s' object is not reversible", v_typename(v[0]));
    vlist *l = r_iterate(c, v[0], a->at);
    if (!l->n) return v_undef_hint(c->a, "No last item, sequence was empty.");
    return l->v[l->n - 1];
}

static val f_list(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    return list_of(c, r_iterate(c, v[0], a->at));
}

static val f_reverse(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    if (v[0].t == V_STR) {
        vstr *s = v[0].u.s;
        abuf b;
        ab_init(&b, c->a);
        size_t end = s->len;
        while (end > 0) {
            size_t k = end - 1;
            while (k > 0 && ((unsigned char)s->s[k] & 0xc0) == 0x80) k--;
            ab_add(&b, s->s + k, end - k);
            end = k;
        }
        return ab_val(&b);
    }
    int was_gen = v[0].t == V_LIST && v[0].k == LK_GEN; // reversed() fails; jinja2 reverses a list copy
    vlist *l = r_iterate(c, v[0], a->at);
    val r = v_list(c->a, l->n, was_gen ? LK_LIST : LK_GEN);
    for (int64_t i = 0; i < l->n; i++) r.u.l->v[i] = l->v[l->n - 1 - i];
    r.u.l->n = l->n;
    return r;
}

static val f_join(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "d", "attribute");
    vlist *l = r_iterate(c, v[0], a->at);
    val sep = given(v[1]) ? soft_str(c, v[1]) : v_str(c->a, "", 0);
    abuf b;
    ab_init(&b, c->a);
    for (int64_t i = 0; i < l->n; i++) {
        if (i) ab_add(&b, sep.u.s->s, sep.u.s->len);
        val x = given(v[2]) && v[2].t != V_NONE ? get_path(c, l->v[i], v[2], v_missing(), a->at) : l->v[i];
        v_str_into(c, &b, x);
    }
    return ab_val(&b);
}

static val f_default(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "default_value", "boolean");
    if (v[0].t == V_UNDEF || (v_truthy(v[2]) && !v_truthy(v[0])))
        return given(v[1]) ? v[1] : v_str(c->a, "", 0);
    return v[0];
}

static val f_items(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    if (v[0].t == V_UNDEF) return v_list(c->a, 0, LK_LIST);
    if (v[0].t != V_DICT) r_fail(c, a->at, "Can only get item pairs from a mapping.");
    val r = r_dict_items(c, v[0].u.d);
    r.k = LK_LIST;
    return r;
}

static val f_dictsort(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "case_sensitive", "by", "reverse");
    if (v[0].t != V_DICT) r_fail(c, a->at, "dictsort expects a mapping, got %s", v_typename(v[0]));
    int pos = 0;
    if (given(v[2])) {
        vstr *by = need_str(c, a, v[2], "dictsort");
        if (!strcmp(by->s, "value")) pos = 1;
        else if (strcmp(by->s, "key") != 0) r_fail(c, a->at, "You can only sort by either \"key\" or \"value\"");
    }
    val items = r_dict_items(c, v[0].u.d);
    items.k = LK_LIST;
    vlist *l = items.u.l;
    val *keys = ta_alloc(c->a, (size_t)(l->n + 1) * sizeof(val));
    for (int64_t i = 0; i < l->n; i++) {
        val k = l->v[i].u.l->v[pos];
        keys[i] = v_truthy(v[1]) ? k : ignore_case(c, k);
    }
    merge_sort(c, l->v, keys, l->n, v_truthy(v[3]), a->at);
    return items;
}

static val f_sort(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "reverse", "case_sensitive", "attribute");
    val r = list_of(c, r_iterate(c, v[0], a->at));
    vlist *l = r.u.l;
    val *keys = ta_alloc(c->a, (size_t)(l->n + 1) * sizeof(val));
    for (int64_t i = 0; i < l->n; i++) keys[i] = sort_key(c, l->v[i], v[3], v_truthy(v[2]), 1, a->at);
    merge_sort(c, l->v, keys, l->n, v_truthy(v[1]), a->at);
    return r;
}

static val f_unique(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "case_sensitive", "attribute");
    vlist *l = r_iterate(c, v[0], a->at);
    val r = v_list(c->a, 0, LK_LIST), seen = v_list(c->a, 0, LK_LIST);
    for (int64_t i = 0; i < l->n; i++) {
        val k = sort_key(c, l->v[i], v[2], v_truthy(v[1]), 0, a->at);
        if ((k.t == V_LIST && k.k != LK_TUPLE) || k.t == V_DICT) r_fail(c, a->at, "unhashable type: '%s'", v_typename(k));
        int dup = 0;
        for (int64_t j = 0; j < seen.u.l->n && !dup; j++) dup = v_eq(seen.u.l->v[j], k);
        if (dup) continue;
        vl_push(c->a, seen.u.l, k);
        vl_push(c->a, r.u.l, l->v[i]);
    }
    return r;
}

static val min_max(rctx *c, vfunc *f, cargs *a, int want_max) {
    ARGS("value", "case_sensitive", "attribute");
    vlist *l = r_iterate(c, v[0], a->at);
    if (!l->n) return v_undef_hint(c->a, "No aggregated item, sequence was empty.");
    int64_t best = 0;
    val bk = sort_key(c, l->v[0], v[2], v_truthy(v[1]), 0, a->at);
    for (int64_t i = 1; i < l->n; i++) {
        val k = sort_key(c, l->v[i], v[2], v_truthy(v[1]), 0, a->at);
        if (want_max ? r_lt(c, bk, k, a->at) : r_lt(c, k, bk, a->at)) best = i, bk = k;
    }
    return l->v[best];
}
static val f_min(rctx *c, vfunc *f, cargs *a) { return min_max(c, f, a, 0); }
static val f_max(rctx *c, vfunc *f, cargs *a) { return min_max(c, f, a, 1); }

static val f_sum(rctx *c, vfunc *f, cargs *a) {
    ARGS("iterable", "attribute", "start");
    vlist *l = r_iterate(c, v[0], a->at);
    val acc = given(v[2]) ? v[2] : v_int(0);
    for (int64_t i = 0; i < l->n; i++) {
        val x = given(v[1]) && v[1].t != V_NONE ? get_path(c, l->v[i], v[1], v_missing(), a->at) : l->v[i];
        acc = r_binop(c, OP_ADD, acc, x, a->at);
    }
    return acc;
}

static val f_batch(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "linecount", "fill_with");
    int64_t n = arg_int(c, a, v[1], "linecount");
    vlist *l = r_iterate(c, v[0], a->at);
    val r = v_list(c->a, 0, LK_LIST), cur = v_missing();
    for (int64_t i = 0; i < l->n; i++) {
        if (cur.t == V_MISSING || cur.u.l->n == n) {
            if (cur.t != V_MISSING || n <= 0) {
                if (cur.t != V_MISSING) vl_push(c->a, r.u.l, cur);
            }
            cur = v_list(c->a, 0, LK_LIST);
        }
        vl_push(c->a, cur.u.l, l->v[i]);
    }
    if (cur.t != V_MISSING && cur.u.l->n) {
        if (given(v[2]) && v[2].t != V_NONE)
            while (cur.u.l->n < n) vl_push(c->a, cur.u.l, v[2]);
        vl_push(c->a, r.u.l, cur);
    }
    return r;
}

static val f_slice(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "slices", "fill_with");
    int64_t slices = arg_int(c, a, v[1], "slices");
    if (slices <= 0) r_fail(c, a->at, "slices must be positive");
    vlist *l = r_iterate(c, v[0], a->at);
    int64_t per = l->n / slices, extra = l->n % slices, offset = 0;
    val r = v_list(c->a, slices, LK_LIST);
    for (int64_t k = 0; k < slices; k++) {
        int64_t start = offset + k * per;
        if (k < extra) offset++;
        int64_t end = offset + (k + 1) * per;
        val part = v_list(c->a, 0, LK_LIST);
        for (int64_t i = start; i < end; i++) vl_push(c->a, part.u.l, l->v[i]);
        if (given(v[2]) && v[2].t != V_NONE && k >= extra) vl_push(c->a, part.u.l, v[2]);
        vl_push(c->a, r.u.l, part);
    }
    return r;
}

// Call a filter or test by name on x with extra arguments (map, select, ...).
static val call_named(rctx *c, cargs *a, const builtin_entry *e, val x, int from, const char *what) {
    if (!e) r_fail(c, a->at, "no %s named '%s'", what, a->v[from - 1].u.s->s);
    cargs b = *a;
    b.n = a->n - from + 1;
    b.v = ta_alloc(c->a, (size_t)(b.n + 1) * sizeof(val));
    b.v[0] = x;
    for (int i = from; i < a->n; i++) b.v[i - from + 1] = a->v[i];
    vfunc g = {.kind = FN_BUILTIN, .name = e->name, .fn = e->fn};
    return e->fn(c, &g, &b);
}

static val f_map(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    if (a->n < 1) r_fail(c, a->at, "map needs a sequence");
    if (!v_truthy(a->v[0])) return v_list(c->a, 0, LK_LIST); // jinja2: `if value:` before anything
    vlist *l = r_iterate(c, a->v[0], a->at);
    val r = v_list(c->a, l->n, LK_LIST);
    if (a->n == 1) { // map(attribute=..., default=...)
        val attr = v_missing(), dflt = v_missing();
        for (int k = 0; k < a->nk; k++) {
            if (!strcmp(a->kn[k], "attribute")) attr = a->kv[k];
            else if (!strcmp(a->kn[k], "default")) dflt = a->kv[k];
            else r_fail(c, a->at, "Unexpected keyword argument '%s'", a->kn[k]);
        }
        if (!given(attr)) r_fail(c, a->at, "map requires a filter argument");
        for (int64_t i = 0; i < l->n; i++) vl_push(c->a, r.u.l, get_path(c, l->v[i], attr, dflt, a->at));
        return r;
    }
    if (a->v[1].t != V_STR) r_fail(c, a->at, "map: the filter name must be a string");
    const builtin_entry *e = tpl_find_filter(a->v[1].u.s->s);
    for (int64_t i = 0; i < l->n; i++) vl_push(c->a, r.u.l, call_named(c, a, e, l->v[i], 2, "filter"));
    return r;
}

static val select_common(rctx *c, cargs *a, int attr, int keep_if) {
    if (a->n < 1) r_fail(c, a->at, "select needs a sequence");
    if (!v_truthy(a->v[0])) return v_list(c->a, 0, LK_LIST); // jinja2: `if value:` before anything
    if (a->n < 1 + attr) r_fail(c, a->at, "%s needs an attribute name", keep_if ? "selectattr" : "rejectattr");
    vlist *l = r_iterate(c, a->v[0], a->at);
    val r = v_list(c->a, 0, LK_LIST);
    int off = 1 + attr;
    const builtin_entry *e = NULL;
    if (a->n > off) {
        if (a->v[off].t != V_STR) r_fail(c, a->at, "the test name must be a string");
        e = tpl_find_test(a->v[off].u.s->s);
        if (!e) r_fail(c, a->at, "no test named '%s'", a->v[off].u.s->s);
    }
    for (int64_t i = 0; i < l->n; i++) {
        val x = attr ? get_path(c, l->v[i], a->v[1], v_missing(), a->at) : l->v[i];
        int t = e ? v_truthy(call_named(c, a, e, x, off + 1, "test")) : v_truthy(x);
        if (t == keep_if) vl_push(c->a, r.u.l, l->v[i]);
    }
    return r;
}
static val f_select(rctx *c, vfunc *f, cargs *a) { (void)f; return select_common(c, a, 0, 1); }
static val f_reject(rctx *c, vfunc *f, cargs *a) { (void)f; return select_common(c, a, 0, 0); }
static val f_selectattr(rctx *c, vfunc *f, cargs *a) { (void)f; return select_common(c, a, 1, 1); }
static val f_rejectattr(rctx *c, vfunc *f, cargs *a) { (void)f; return select_common(c, a, 1, 0); }

static val f_attr(rctx *c, vfunc *f, cargs *a) {
    ARGS("obj", "name");
    vstr *name = need_str(c, a, v[1], "attr");
    val obj = v[0];
    val m = v_missing();
    switch (obj.t) {
    case V_UNDEF: r_fail_undef(c, a->at, obj);
    case V_STR: m = r_str_method(c, obj, name->s, name->len); break;
    case V_DICT: m = r_dict_method(c, obj, name->s, name->len); break;
    case V_LIST: m = r_list_method(c, obj, name->s, name->len); break;
    case V_NS: {
        val *x = vd_gets(obj.u.d, name->s, name->len);
        if (x) m = *x;
        break;
    }
    case V_LOOP: return r_loop_attr(c, obj, name->s, name->len);
    default: break;
    }
    return given(m) ? m : v_undef_attr(c->a, obj, v[1]);
}

// ---- filters: numbers ----
static int parse_py_int(const char *s, int base, int64_t *out) {
    while (py_isspace((unsigned char)*s)) s++;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (s[0] == '0' && s[1]) {
            char p = (char)(s[1] | 0x20);
            int b = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
            if (b && (base == 0 || base == b)) base = b, s += 2;
        }
        if (base == 0) base = 10;
    }
    if (base < 2 || base > 36) return -1;
    uint64_t v = 0;
    int nd = 0, last_us = 1;
    for (; *s; s++) {
        if (*s == '_') {
            if (last_us) return -1;
            last_us = 1;
            continue;
        }
        int d = *s >= '0' && *s <= '9' ? *s - '0' : (*s | 0x20) >= 'a' && (*s | 0x20) <= 'z' ? (*s | 0x20) - 'a' + 10 : 99;
        if (d >= base) break;
        if (v > (UINT64_C(1) << 62)) return -1;
        v = v * (uint64_t)base + (uint64_t)d;
        nd++, last_us = 0;
    }
    while (py_isspace((unsigned char)*s)) s++;
    if (*s || !nd || last_us) return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_py_float(const char *s, double *out) {
    while (py_isspace((unsigned char)*s)) s++;
    char tmp[512];
    size_t k = 0;
    for (const char *p = s; *p && k < sizeof tmp - 1; p++)
        if (*p != '_') tmp[k++] = *p;
    tmp[k] = 0;
    while (k && py_isspace((unsigned char)tmp[k - 1])) tmp[--k] = 0;
    if (!k) return -1;
    const char *t = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity") || !strcasecmp(t, "nan")) {
        double x = strcasecmp(t, "nan") == 0 ? NAN : INFINITY;
        *out = tmp[0] == '-' ? -x : x;
        return 0;
    }
    for (const char *p = t; *p; p++)
        if (!strchr("0123456789.eE+-", *p)) return -1;
    char *end;
    *out = strtod(tmp, &end);
    return *end ? -1 : 0;
}

static val f_int(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "default", "base");
    val x = v[0], dflt = given(v[1]) ? v[1] : v_int(0);
    int64_t base = given(v[2]) ? arg_int(c, a, v[2], "base") : 10;
    if (x.t == V_UNDEF) r_fail_undef(c, a->at, x);
    int64_t r;
    double d;
    switch (x.t) {
    case V_INT: case V_BOOL: return v_int(x.u.i);
    case V_FLOAT:
        if (!isfinite(x.u.f) || fabs(x.u.f) >= 9.2e18) return dflt;
        return v_int((int64_t)x.u.f);
    case V_STR:
        if (parse_py_int(x.u.s->s, (int)base, &r) == 0) return v_int(r);
        if (parse_py_float(x.u.s->s, &d) == 0 && isfinite(d) && fabs(d) < 9.2e18) return v_int((int64_t)d);
        return dflt;
    default: return dflt;
    }
}

static val f_float(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "default");
    val x = v[0], dflt = given(v[1]) ? v[1] : v_float(0.0);
    double d;
    switch (x.t) {
    case V_UNDEF: r_fail_undef(c, a->at, x);
    case V_INT: case V_BOOL: return v_float((double)x.u.i);
    case V_FLOAT: return x;
    case V_STR: return parse_py_float(x.u.s->s, &d) == 0 ? v_float(d) : dflt;
    default: return dflt;
    }
}

static val f_abs(rctx *c, vfunc *f, cargs *a) {
    ARGS("x");
    val x = v[0];
    if (x.t == V_UNDEF) r_fail_undef(c, a->at, x);
    if (x.t == V_FLOAT) return v_float(fabs(x.u.f));
    if (x.t == V_INT || x.t == V_BOOL) {
        if (x.u.i == INT64_MIN) r_fail(c, a->at, "integer overflow");
        return v_int(x.u.i < 0 ? -x.u.i : x.u.i);
    }
    r_fail(c, a->at, "bad operand type for abs(): '%s'", v_typename(x));
}

// Python round(x, ndigits) for floats: correctly rounded, ties to even.
static double py_round(double x, int64_t nd) {
    if (!isfinite(x)) return x;
    if (nd >= 0) {
        if (nd > 300) return x;
        char buf[512];
        snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
        return strtod(buf, NULL);
    }
    if (nd < -308) return copysign(0.0, x);
    double p = pow(10.0, (double)-nd), y = x / p, z = round(y);
    if (fabs(y - z) == 0.5) z = 2.0 * round(y / 2.0);
    return z * p;
}

static val f_round(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "precision", "method");
    val x = v[0];
    int64_t prec = given(v[1]) ? arg_int(c, a, v[1], "precision") : 0;
    const char *method = "common";
    if (given(v[2])) method = need_str(c, a, v[2], "round")->s;
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        r_fail(c, a->at, "method must be common, ceil or floor");
    if (x.t == V_UNDEF) r_fail_undef(c, a->at, x);
    if (!v_is_number(x)) r_fail(c, a->at, "type %s doesn't define __round__ method", v_typename(x));
    if (!strcmp(method, "common")) {
        if (x.t != V_FLOAT) {
            if (prec >= 0) return v_int(x.u.i);
            return v_int((int64_t)py_round((double)x.u.i, prec));
        }
        return v_float(py_round(x.u.f, prec));
    }
    double p = pow(10.0, (double)prec), y = v_num(x) * p;
    y = method[0] == 'c' ? ceil(y) : floor(y);
    return v_float(y / p);
}

// ---- generator filters ----
// jinja2's map/select/reject/selectattr/rejectattr/unique/batch/slice/items return
// generators: computed here at once, but marked so they behave like one, and an
// error raised while computing surfaces only when the generator is iterated.
static val run_lazy(rctx *c, vfunc *f, cargs *a, builtin_fn impl) {
    jmp_buf jb, *saved = c->jb;
    const tnode *cur = c->cur;
    abuf *out = c->out;
    int depth = c->depth, loop_depth = c->loop_depth;
    val fin = c->filter_input;
    if (setjmp(jb) == 0) {
        c->jb = &jb;
        val r = impl(c, f, a);
        c->jb = saved;
        r.k = LK_GEN;
        return r;
    }
    c->jb = saved, c->cur = cur, c->out = out, c->depth = depth, c->loop_depth = loop_depth, c->filter_input = fin;
    val g = v_list(c->a, 0, LK_GEN);
    g.u.l->err = ta_strndup(c->a, err_msg(), strlen(err_msg()));
    err_clear();
    return g;
}

#define LAZY(name, impl)                                                                           \
    static val name(rctx *c, vfunc *f, cargs *a) { return run_lazy(c, f, a, impl); }
LAZY(g_map, f_map)
LAZY(g_select, f_select)
LAZY(g_reject, f_reject)
LAZY(g_selectattr, f_selectattr)
LAZY(g_rejectattr, f_rejectattr)
LAZY(g_unique, f_unique)
LAZY(g_batch, f_batch)
LAZY(g_slice, f_slice)
LAZY(g_items, f_items)

// ---- filters known to jinja2 but not provided here ----
static val f_unsupported(rctx *c, vfunc *f, cargs *a) {
    r_fail(c, a->at, "filter '%s' is not supported by lorac's template engine", f->name);
}

static const builtin_entry filters[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", g_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"filesizeformat", f_unsupported},
    {"first", f_first}, {"float", f_float}, {"forceescape", f_forceescape}, {"format", f_format},
    {"groupby", f_unsupported}, {"indent", f_indent}, {"int", f_int}, {"items", g_items},
    {"join", f_join}, {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower},
    {"map", g_map}, {"max", f_max}, {"min", f_min}, {"pprint", f_unsupported}, {"random", f_unsupported},
    {"reject", g_reject}, {"rejectattr", g_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", g_select}, {"selectattr", g_selectattr},
    {"slice", g_slice}, {"sort", f_sort}, {"string", f_string}, {"striptags", f_unsupported},
    {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim}, {"truncate", f_truncate},
    {"unique", g_unique}, {"upper", f_upper}, {"urlencode", f_unsupported}, {"urlize", f_unsupported},
    {"wordcount", f_wordcount}, {"wordwrap", f_unsupported}, {"xmlattr", f_unsupported},
};

// ---- tests ----
static val t_defined(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t != V_UNDEF); }
static val t_undefined(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_UNDEF); }
static val t_none(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_NONE); }
static val t_boolean(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_BOOL); }
static val t_true(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_BOOL && v[0].u.i); }
static val t_false(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_BOOL && !v[0].u.i); }
static val t_integer(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_INT); }
static val t_float(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_FLOAT); }
static val t_number(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v_is_number(v[0])); }
static val t_string(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_STR); }
static val t_mapping(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_DICT); }
static val t_sequence(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    vtype t = v[0].t;
    return v_bool(t == V_STR || (t == V_LIST && v[0].k != LK_GEN) || t == V_DICT || t == V_UNDEF);
}
static val t_iterable(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    vtype t = v[0].t;
    return v_bool(t == V_STR || t == V_LIST || t == V_DICT || t == V_UNDEF);
}
static val t_callable(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_FUNC); }
static val t_escaped(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return v_bool(v[0].t == V_STR && v[0].k); }

static val t_odd_even(rctx *c, cargs *a, val x, int want) {
    if (x.t == V_UNDEF) r_fail_undef(c, a->at, x);
    if (x.t == V_FLOAT) {
        double m = fmod(x.u.f, 2.0);
        if (m < 0) m += 2.0;
        return v_bool(m == (double)want);
    }
    if (x.t != V_INT && x.t != V_BOOL) r_fail(c, a->at, "unsupported operand type(s) for %%: '%s' and 'int'", v_typename(x));
    int64_t m = x.u.i % 2;
    if (m < 0) m += 2;
    return v_bool(m == want);
}
static val t_odd(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return t_odd_even(c, a, v[0], 1); }
static val t_even(rctx *c, vfunc *f, cargs *a) { ARGS("value"); return t_odd_even(c, a, v[0], 0); }

static val t_divisibleby(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "num");
    val m = r_binop(c, OP_MOD, v[0], v[1], a->at);
    return v_bool(v_num(m) == 0);
}

static val t_lower(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    vstr *s = v_tostr(c, v[0]).u.s;
    val low = str_case(c, s, CASE_LOWER), up = str_case(c, s, CASE_UPPER);
    return v_bool(v_eq(low, v_tostr(c, v[0])) && !v_eq(up, low)); // has cased chars, none upper
}
static val t_upper(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    vstr *s = v_tostr(c, v[0]).u.s;
    val low = str_case(c, s, CASE_LOWER), up = str_case(c, s, CASE_UPPER);
    return v_bool(v_eq(up, v_tostr(c, v[0])) && !v_eq(up, low));
}

static val t_sameas(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "other");
    val x = v[0], y = v[1];
    if (x.t != y.t) return v_bool(0);
    switch (x.t) {
    case V_NONE: case V_UNDEF: return v_bool(x.t == V_NONE);
    case V_BOOL: return v_bool(x.u.i == y.u.i);
    case V_INT: return v_bool(x.u.i == y.u.i && x.u.i >= -5 && x.u.i <= 256); // CPython's small ints
    case V_STR: return v_bool(x.u.s == y.u.s);
    case V_LIST: return v_bool(x.u.l == y.u.l);
    case V_DICT: case V_NS: return v_bool(x.u.d == y.u.d);
    case V_FUNC: return v_bool(x.u.fn == y.u.fn);
    default: return v_bool(0);
    }
}

static val t_in(rctx *c, vfunc *f, cargs *a) {
    ARGS("value", "seq");
    return v_bool(r_compare(c, OP_IN, v[0], v[1], a->at));
}

static val cmp_test(rctx *c, vfunc *f, cargs *a, int op) {
    ARGS("a", "b");
    return v_bool(r_compare(c, op, v[0], v[1], a->at));
}
static val t_eq(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_EQ); }
static val t_ne(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_NE); }
static val t_lt(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_LT); }
static val t_le(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_LTEQ); }
static val t_gt(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_GT); }
static val t_ge(rctx *c, vfunc *f, cargs *a) { return cmp_test(c, f, a, OP_GTEQ); }

static val t_filter(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    return v_bool(v[0].t == V_STR && tpl_find_filter(v[0].u.s->s) != NULL);
}
static val t_test(rctx *c, vfunc *f, cargs *a) {
    ARGS("value");
    return v_bool(v[0].t == V_STR && tpl_find_test(v[0].u.s->s) != NULL);
}

static const builtin_entry tests[] = {
    {"!=", t_ne}, {"<", t_lt}, {"<=", t_le}, {"==", t_eq}, {">", t_gt}, {">=", t_ge},
    {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},
    {"divisibleby", t_divisibleby}, {"eq", t_eq}, {"equalto", t_eq}, {"escaped", t_escaped},
    {"even", t_even}, {"false", t_false}, {"filter", t_filter}, {"float", t_float}, {"ge", t_ge},
    {"greaterthan", t_gt}, {"gt", t_gt}, {"in", t_in}, {"integer", t_integer}, {"iterable", t_iterable},
    {"le", t_le}, {"lessthan", t_lt}, {"lower", t_lower}, {"lt", t_lt}, {"mapping", t_mapping},
    {"ne", t_ne}, {"none", t_none}, {"number", t_number}, {"odd", t_odd}, {"sameas", t_sameas},
    {"sequence", t_sequence}, {"string", t_string}, {"test", t_test}, {"true", t_true},
    {"undefined", t_undefined}, {"upper", t_upper},
};

static const builtin_entry *find_entry(const builtin_entry *t, size_t n, const char *name) {
    size_t lo = 0, hi = n; // tables are sorted by name
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(t[mid].name, name);
        if (!r) return &t[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const builtin_entry *tpl_find_filter(const char *name) {
    return find_entry(filters, sizeof filters / sizeof filters[0], name);
}
const builtin_entry *tpl_find_test(const char *name) { return find_entry(tests, sizeof tests / sizeof tests[0], name); }

static const char *const *names_of(const builtin_entry *t, size_t n, const char **store) {
    for (size_t i = 0; i < n; i++) store[i] = t[i].name;
    return store;
}
const char *const *tpl_filter_names(size_t *n) {
    static const char *store[sizeof filters / sizeof filters[0]];
    *n = sizeof filters / sizeof filters[0];
    return names_of(filters, *n, store);
}
const char *const *tpl_test_names(size_t *n) {
    static const char *store[sizeof tests / sizeof tests[0]];
    *n = sizeof tests / sizeof tests[0];
    return names_of(tests, *n, store);
}

// ---- globals ----
static val g_range(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    if (a->nk) r_fail(c, a->at, "range() takes no keyword arguments");
    if (a->n < 1 || a->n > 3) r_fail(c, a->at, "range expected 1 to 3 arguments, got %d", a->n);
    int64_t start = 0, stop, step = 1;
    if (a->n == 1) stop = arg_int(c, a, a->v[0], "range() argument");
    else {
        start = arg_int(c, a, a->v[0], "range() argument");
        stop = arg_int(c, a, a->v[1], "range() argument");
        if (a->n == 3) step = arg_int(c, a, a->v[2], "range() argument");
    }
    if (step == 0) r_fail(c, a->at, "range() arg 3 must not be zero");
    int64_t n = 0;
    if (step > 0 && start < stop) n = (stop - start - 1) / step + 1;
    else if (step < 0 && start > stop) n = (start - stop - 1) / (-step) + 1;
    if (n > MAX_RANGE)
        r_fail(c, a->at, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    val r = v_list(c->a, n, LK_LIST);
    for (int64_t i = 0; i < n; i++) r.u.l->v[i] = v_int(start + i * step);
    r.u.l->n = n;
    return r;
}

// dict(*args, **kwargs) into d: a mapping or an iterable of pairs, then keywords.
static void dict_fill(rctx *c, cargs *a, vdict *d, const char *what) {
    if (a->n > 1) r_fail(c, a->at, "%s expected at most 1 argument, got %d", what, a->n);
    if (a->n == 1) {
        val src = a->v[0];
        if (src.t == V_DICT || src.t == V_NS)
            for (int64_t i = 0; i < src.u.d->n; i++) vd_set(c->a, d, src.u.d->k[i], src.u.d->v[i]);
        else {
            vlist *l = r_iterate(c, src, a->at);
            for (int64_t i = 0; i < l->n; i++) {
                vlist *p = r_iterate(c, l->v[i], a->at);
                if (p->n != 2)
                    r_fail(c, a->at, "dictionary update sequence element #%lld has length %lld; 2 is required",
                           (long long)i, (long long)p->n);
                vd_set(c->a, d, p->v[0], p->v[1]);
            }
        }
    }
    for (int k = 0; k < a->nk; k++) vd_set(c->a, d, v_cstr(c->a, a->kn[k]), a->kv[k]);
}

static val g_dict(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    val d = v_dict(c->a, a->nk);
    dict_fill(c, a, d.u.d, "dict");
    return d;
}

static val g_namespace(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    val d = v_dict(c->a, a->nk);
    dict_fill(c, a, d.u.d, "namespace");
    d.t = V_NS;
    return d;
}

static val g_raise_exception(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    val msg = a->n ? v_tostr(c, a->v[0]) : v_cstr(c->a, "");
    r_fail(c, a->at, "%s", msg.u.s->s);
}

static val g_strftime_now(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    if (a->n != 1 || a->v[0].t != V_STR) r_fail(c, a->at, "strftime_now() takes one format string");
    vstr *fmt = a->v[0].u.s;
    if (!fmt->len) return a->v[0];
    // Python handles %f itself (microseconds; always 0 here); the rest is C strftime
    abuf pf;
    ab_init(&pf, c->a);
    for (size_t i = 0; i < fmt->len; i++) {
        if (fmt->s[i] == '%' && i + 1 < fmt->len && fmt->s[i + 1] == 'f') {
            ab_adds(&pf, "000000");
            i++;
        } else if (fmt->s[i] == '%' && i + 1 < fmt->len) {
            ab_add(&pf, fmt->s + i, 2);
            i++;
        } else ab_addc(&pf, fmt->s[i]);
    }
    size_t cap = 256 + fmt->len * 16;
    char *buf = ta_alloc(c->a, cap);
    size_t n = strftime(buf, cap, pf.p, &c->now);
    return v_str(c->a, buf, n);
}

static val m_joiner_call(rctx *c, vfunc *f, cargs *a) {
    (void)c, (void)a;
    int *used = f->data;
    if (!*used) {
        *used = 1;
        return v_str(c->a, "", 0);
    }
    return f->self;
}

static val g_joiner(rctx *c, vfunc *f, cargs *a) {
    static const char *const names[] = {"sep"};
    val v[1];
    bind_args(c, a, f->name, 1, names, v);
    vfunc *j = ta_alloc(c->a, sizeof *j);
    j->kind = FN_BUILTIN;
    j->name = "joiner";
    j->fn = m_joiner_call;
    j->self = given(v[0]) ? v_tostr(c, v[0]) : v_cstr(c->a, ", ");
    j->data = ta_alloc(c->a, sizeof(int));
    val r = {0};
    r.t = V_FUNC, r.u.fn = j;
    return r;
}

// cycler(*items): an object with next(), reset() and current; kept as a namespace
// whose "current" entry next() and reset() update.
static val cycler_bound(rctx *c, val self, const char *name, builtin_fn fn) {
    vfunc *f = ta_alloc(c->a, sizeof *f);
    f->kind = FN_BUILTIN;
    f->name = name;
    f->fn = fn;
    f->self = self;
    val v = {0};
    v.t = V_FUNC, v.u.fn = f;
    return v;
}

static val m_cycler_next(rctx *c, vfunc *f, cargs *a) {
    (void)a;
    vdict *d = f->self.u.d;
    val *items = vd_gets(d, "_items", 6), *pos = vd_gets(d, "_pos", 4);
    val r = items->u.l->v[pos->u.i];
    pos->u.i = (pos->u.i + 1) % items->u.l->n;
    vd_set(c->a, d, v_cstr(c->a, "current"), items->u.l->v[pos->u.i]);
    return r;
}

static val m_cycler_reset(rctx *c, vfunc *f, cargs *a) {
    (void)a;
    vdict *d = f->self.u.d;
    val *items = vd_gets(d, "_items", 6), *pos = vd_gets(d, "_pos", 4);
    pos->u.i = 0;
    vd_set(c->a, d, v_cstr(c->a, "current"), items->u.l->v[0]);
    return v_none();
}

static val g_cycler(rctx *c, vfunc *f, cargs *a) {
    (void)f;
    if (a->n < 1) r_fail(c, a->at, "at least one item has to be provided");
    val d = v_dict(c->a, 5);
    d.t = V_NS;
    val items = v_list(c->a, a->n, LK_TUPLE);
    for (int i = 0; i < a->n; i++) items.u.l->v[i] = a->v[i];
    items.u.l->n = a->n;
    vd_set(c->a, d.u.d, v_cstr(c->a, "_items"), items);
    vd_set(c->a, d.u.d, v_cstr(c->a, "_pos"), v_int(0));
    vd_set(c->a, d.u.d, v_cstr(c->a, "current"), a->v[0]);
    vd_set(c->a, d.u.d, v_cstr(c->a, "next"), cycler_bound(c, d, "next", m_cycler_next));
    vd_set(c->a, d.u.d, v_cstr(c->a, "reset"), cycler_bound(c, d, "reset", m_cycler_reset));
    return d;
}

static void add_global(rctx *c, scope *s, const char *name, builtin_fn fn) {
    vfunc *f = ta_alloc(c->a, sizeof *f);
    f->kind = FN_BUILTIN;
    f->name = name;
    f->fn = fn;
    val v = {0};
    v.t = V_FUNC, v.u.fn = f;
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 8;
        s->names = ta_grow(c->a, s->names, (size_t)s->cap * sizeof(char *), (size_t)nc * sizeof(char *));
        s->vals = ta_grow(c->a, s->vals, (size_t)s->cap * sizeof(val), (size_t)nc * sizeof(val));
        s->cap = nc;
    }
    s->names[s->n] = name;
    s->vals[s->n++] = v;
}

void tpl_add_globals(rctx *c, scope *s) {
    add_global(c, s, "range", g_range);
    add_global(c, s, "dict", g_dict);
    add_global(c, s, "namespace", g_namespace);
    add_global(c, s, "joiner", g_joiner);
    add_global(c, s, "cycler", g_cycler);
    add_global(c, s, "raise_exception", g_raise_exception);
    add_global(c, s, "strftime_now", g_strftime_now);
}
