// value.c — the template engine's values: arena, strings, lists, dicts, and their
// Python semantics (truthiness, ==, str(), repr(), json.dumps as HF's tojson does).
//
// Everything lives in an arena (see tpl_internal.h); nothing here frees a value.
#include "tpl_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- arena ----
struct ta_chunk {
    ta_chunk *next;
    size_t cap, used;
    _Alignas(16) char data[];
};

#define TA_CHUNK (64 * 1024)

void ta_init(tpl_arena *a) { a->head = NULL, a->total = 0, a->jb = NULL; }

void ta_release(tpl_arena *a) {
    ta_chunk *c = a->head;
    while (c) {
        ta_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL, a->total = 0;
}

static ta_chunk *ta_new_chunk(tpl_arena *a, size_t need) {
    size_t cap = need > TA_CHUNK / 4 ? need : TA_CHUNK;
    if (a->jb && (cap > TPL_ARENA_LIMIT || a->total > TPL_ARENA_LIMIT - cap)) {
        // a runaway template (say, a string doubled in a loop) fails instead of exhausting memory
        err_set("template needs more than %zu MiB of memory to render; giving up", TPL_ARENA_LIMIT >> 20);
        longjmp(*a->jb, 1);
    }
    ta_chunk *c = xmalloc(sizeof(ta_chunk) + cap);
    c->cap = cap, c->used = 0;
    a->total += cap;
    if (cap == need && a->head) { // a big block: keep the current chunk for small ones
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    return c;
}

void *ta_alloc(tpl_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    ta_chunk *c = a->head;
    if (!c || c->cap - c->used < n) c = ta_new_chunk(a, n);
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *ta_grow(tpl_arena *a, void *p, size_t old, size_t n) {
    if (n <= old) return p;
    ta_chunk *c = a->head;
    size_t olda = (old + 15) & ~(size_t)15, na = (n + 15) & ~(size_t)15;
    if (p && c && (char *)p + olda == c->data + c->used && c->data + c->cap - (char *)p >= (ptrdiff_t)na) {
        memset((char *)p + olda, 0, na - olda);
        c->used += na - olda;
        return p;
    }
    void *q = ta_alloc(a, n);
    if (old) memcpy(q, p, old);
    return q;
}

char *ta_strndup(tpl_arena *a, const char *s, size_t n) {
    char *p = ta_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

// ---- stack guard ----
uintptr_t tpl_stack_floor(void) {
    char here;
    uintptr_t sp = (uintptr_t)&here;
    size_t room = 1 << 20; // when the stack cannot be asked: assume 1 MiB below here
    // a thread's stack does not move: ask once per thread (for the main thread
    // pthread_getattr_np reads /proc/self/maps, which dominated rendering many prompts)
    static _Thread_local uintptr_t stack_lo;
    static _Thread_local int asked;
    if (!asked) {
        asked = 1;
        pthread_attr_t at;
        if (pthread_getattr_np(pthread_self(), &at) == 0) {
            void *lo;
            size_t size;
            if (pthread_attr_getstack(&at, &lo, &size) == 0) stack_lo = (uintptr_t)lo;
            pthread_attr_destroy(&at);
        }
    }
    if (stack_lo && sp > stack_lo) room = sp - stack_lo;
    size_t keep = room / 4 > (512u << 10) ? (512u << 10) : room / 4; // margin for libc and sanitizers
    return sp - (room - keep);
}

// ---- growable buffer ----
void ab_init(abuf *b, tpl_arena *a) { b->a = a, b->p = NULL, b->len = b->cap = 0; }

static void ab_reserve(abuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t ncap = b->cap ? b->cap * 2 : 64;
    while (ncap < b->len + extra + 1) ncap *= 2;
    // the vstr header sits in front of the text so ab_val needs no copy
    size_t hdr = sizeof(vstr);
    char *base = b->p ? b->p - hdr : NULL;
    base = ta_grow(b->a, base, b->cap ? hdr + b->cap : 0, hdr + ncap);
    b->p = base + hdr;
    b->cap = ncap;
}

void ab_add(abuf *b, const char *s, size_t n) {
    ab_reserve(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
void ab_adds(abuf *b, const char *s) { ab_add(b, s, strlen(s)); }
void ab_addc(abuf *b, char ch) { ab_add(b, &ch, 1); }

void ab_printf(abuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        ab_add(b, tmp, (size_t)n);
        return;
    }
    ab_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

val ab_val(abuf *b) {
    if (!b->p) return v_str(b->a, "", 0);
    vstr *s = (vstr *)(b->p - sizeof(vstr));
    s->len = b->len, s->ncp = -1;
    val v = {0};
    v.t = V_STR, v.u.s = s;
    b->p = NULL, b->len = b->cap = 0; // the buffer now belongs to the value
    return v;
}

// ---- constructors ----
val v_str(tpl_arena *a, const char *s, size_t n) {
    vstr *p = ta_alloc(a, sizeof(vstr) + n + 1);
    p->len = n, p->ncp = -1;
    if (n) memcpy(p->s, s, n);
    p->s[n] = 0;
    val v = {0};
    v.t = V_STR, v.u.s = p;
    return v;
}
val v_cstr(tpl_arena *a, const char *s) { return v_str(a, s, strlen(s)); }

val v_list(tpl_arena *a, int64_t cap, int kind) {
    vlist *l = ta_alloc(a, sizeof *l);
    if (cap > 0) l->v = ta_alloc(a, (size_t)cap * sizeof(val)), l->cap = cap;
    val v = {0};
    v.t = V_LIST, v.k = (uint8_t)kind, v.u.l = l;
    return v;
}

val v_dict(tpl_arena *a, int64_t cap) {
    vdict *d = ta_alloc(a, sizeof *d);
    if (cap > 0) {
        d->k = ta_alloc(a, (size_t)cap * sizeof(val));
        d->v = ta_alloc(a, (size_t)cap * sizeof(val));
        d->cap = cap;
    }
    val v = {0};
    v.t = V_DICT, v.u.d = d;
    return v;
}

val v_undef_name(tpl_arena *a, const char *name) {
    val v = v_undef();
    v.u.u = ta_alloc(a, sizeof(vundef));
    v.u.u->name = name;
    return v;
}

val v_undef_hint(tpl_arena *a, const char *hint) {
    val v = v_undef();
    v.u.u = ta_alloc(a, sizeof(vundef));
    v.u.u->hint = hint;
    return v;
}

// jinja2's object_type_repr: "None", "dict object", ...
static const char *obj_type_repr(tpl_arena *a, val obj) {
    if (obj.t == V_NONE) return "None";
    if (obj.t == V_NS) return "jinja2.utils.Namespace object";
    if (obj.t == V_LOOP) return "jinja2.runtime.LoopContext object";
    const char *tn = v_typename(obj);
    size_t n = strlen(tn);
    char *s = ta_alloc(a, n + 8);
    memcpy(s, tn, n);
    memcpy(s + n, " object", 8);
    return s;
}

val v_undef_attr(tpl_arena *a, val obj, val key) {
    val v = v_undef();
    v.u.u = ta_alloc(a, sizeof(vundef));
    v.u.u->objtype = obj_type_repr(a, obj);
    v.u.u->key = key;
    return v;
}

void vl_push(tpl_arena *a, vlist *l, val x) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 4;
        l->v = ta_grow(a, l->v, (size_t)l->cap * sizeof(val), (size_t)nc * sizeof(val));
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

static int key_eq(val a, val b) {
    if (a.t == V_STR && b.t == V_STR)
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    return v_eq(a, b);
}

val *vd_get(const vdict *d, val key) {
    for (int64_t i = 0; i < d->n; i++)
        if (key_eq(d->k[i], key)) return &d->v[i];
    return NULL;
}

val *vd_gets(const vdict *d, const char *key, size_t n) {
    for (int64_t i = 0; i < d->n; i++) {
        val k = d->k[i];
        if (k.t == V_STR && k.u.s->len == n && memcmp(k.u.s->s, key, n) == 0) return &d->v[i];
    }
    return NULL;
}

void vd_set(tpl_arena *a, vdict *d, val key, val x) {
    val *slot = vd_get(d, key);
    if (slot) {
        *slot = x;
        return;
    }
    if (d->n == d->cap) {
        int64_t nc = d->cap ? d->cap * 2 : 4;
        d->k = ta_grow(a, d->k, (size_t)d->cap * sizeof(val), (size_t)nc * sizeof(val));
        d->v = ta_grow(a, d->v, (size_t)d->cap * sizeof(val), (size_t)nc * sizeof(val));
        d->cap = nc;
    }
    d->k[d->n] = key;
    d->v[d->n] = x;
    d->n++;
}

// ---- UTF-8 ----
int32_t utf8_next(const char *s, size_t n, size_t *i) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(n - *i), &cp);
    if (k <= 0) { // invalid byte: pass it through as itself
        cp = (unsigned char)s[*i];
        k = 1;
    }
    *i += (size_t)k;
    return cp;
}

void utf8_put(abuf *b, int32_t cp) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, tmp);
    if (k <= 0) tmp[0] = (utf8proc_uint8_t)cp, k = 1;
    ab_add(b, (const char *)tmp, (size_t)k);
}

// Python's str.isspace() (also what \s and str.strip() use).
int py_isspace(int32_t cp) {
    if (cp < 128) return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x1f);
    switch (cp) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

int64_t vs_ncp(vstr *s) {
    if (s->ncp >= 0) return s->ncp;
    int64_t n = 0;
    for (size_t i = 0; i < s->len; i++)
        if (((unsigned char)s->s[i] & 0xc0) != 0x80) n++;
    s->ncp = n;
    return n;
}

// ---- Python semantics ----
int v_truthy(val v) {
    switch (v.t) {
    case V_MISSING: case V_UNDEF: case V_NONE: return 0;
    case V_BOOL: case V_INT: return v.u.i != 0;
    case V_FLOAT: return v.u.f != 0.0;
    case V_STR: return v.u.s->len != 0;
    case V_LIST: return v.k == LK_GEN || v.u.l->n != 0;
    case V_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

int v_is_number(val v) { return v.t == V_BOOL || v.t == V_INT || v.t == V_FLOAT; }
double v_num(val v) { return v.t == V_FLOAT ? v.u.f : (double)v.u.i; }

int v_eq(val a, val b) {
    if (v_is_number(a) && v_is_number(b)) {
        if (a.t != V_FLOAT && b.t != V_FLOAT) return a.u.i == b.u.i;
        return v_num(a) == v_num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case V_MISSING: case V_UNDEF: case V_NONE: return 1;
    case V_STR:
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    case V_LIST: {
        if (a.k == LK_GEN || b.k == LK_GEN) return a.u.l == b.u.l;
        int ka = a.k == LK_TUPLE, kb = b.k == LK_TUPLE;
        if (ka != kb || a.u.l->n != b.u.l->n) return 0;
        for (int64_t i = 0; i < a.u.l->n; i++)
            if (!v_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    }
    case V_DICT: {
        if (a.u.d->n != b.u.d->n) return 0;
        for (int64_t i = 0; i < a.u.d->n; i++) {
            val *o = vd_get(b.u.d, a.u.d->k[i]);
            if (!o || !v_eq(a.u.d->v[i], *o)) return 0;
        }
        return 1;
    }
    case V_NS: return a.u.d == b.u.d;
    case V_FUNC: return a.u.fn == b.u.fn;
    case V_LOOP: return a.u.lp == b.u.lp;
    default: return 0;
    }
}

const char *v_typename(val v) {
    switch (v.t) {
    case V_MISSING: case V_UNDEF: return "Undefined";
    case V_NONE: return "NoneType";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    case V_STR: return v.k ? "Markup" : "str";
    case V_LIST:
        switch (v.k) {
        case LK_TUPLE: return "tuple";
        case LK_ITEMS: return "dict_items";
        case LK_KEYS: return "dict_keys";
        case LK_VALUES: return "dict_values";
        case LK_GEN: return "generator";
        default: return "list";
        }
    case V_DICT: return "dict";
    case V_NS: return "Namespace";
    case V_FUNC: return v.u.fn->kind == FN_BUILTIN ? "builtin_function_or_method" : "Macro";
    case V_LOOP: return "LoopContext";
    }
    return "object";
}

// ---- float repr (Python's shortest round-trip form) ----
void fmt_float(char *buf, size_t n, double f) {
    if (isnan(f)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, n, f < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    // tmp = [-]d[.ddd]e[+-]XX
    char digits[24];
    int nd = 0, neg = 0;
    const char *s = tmp;
    if (*s == '-') neg = 1, s++;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (decpt <= -4 || decpt > 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        out[o++] = '0', out[o++] = '.';
        for (int i = 0; i < -decpt; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
    } else if (decpt >= nd) {
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
        for (int i = nd; i < decpt; i++) out[o++] = '0';
        out[o++] = '.', out[o++] = '0';
    } else {
        for (int i = 0; i < decpt; i++) out[o++] = digits[i];
        out[o++] = '.';
        for (int i = decpt; i < nd; i++) out[o++] = digits[i];
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
}

// ---- str() and repr() ----
static int py_isprintable(int32_t cp) {
    if (cp < 0x7f) return cp >= 0x20;
    if (cp == 0x7f) return 0;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return 0;
    default:
        return 1;
    }
}

static void repr_str(abuf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    ab_addc(b, q);
    size_t i = 0;
    while (i < n) {
        int32_t cp = utf8_next(s, n, &i);
        if (cp == q || cp == '\\') ab_addc(b, '\\'), ab_addc(b, (char)cp);
        else if (cp == '\n') ab_adds(b, "\\n");
        else if (cp == '\r') ab_adds(b, "\\r");
        else if (cp == '\t') ab_adds(b, "\\t");
        else if (py_isprintable(cp)) utf8_put(b, cp);
        else if (cp <= 0xff) ab_printf(b, "\\x%02x", cp);
        else if (cp <= 0xffff) ab_printf(b, "\\u%04x", cp);
        else ab_printf(b, "\\U%08x", cp);
    }
    ab_addc(b, q);
}

static void repr_rec(rctx *c, abuf *b, val v, int depth);

static void str_rec(rctx *c, abuf *b, val v, int depth) {
    char tmp[64];
    switch (v.t) {
    case V_MISSING: case V_UNDEF: return;
    case V_NONE: ab_adds(b, "None"); return;
    case V_BOOL: ab_adds(b, v.u.i ? "True" : "False"); return;
    case V_INT: ab_printf(b, "%lld", (long long)v.u.i); return;
    case V_FLOAT: fmt_float(tmp, sizeof tmp, v.u.f); ab_adds(b, tmp); return;
    case V_STR: ab_add(b, v.u.s->s, v.u.s->len); return;
    default: repr_rec(c, b, v, depth); return;
    }
}

static void repr_items(rctx *c, abuf *b, vlist *l, int depth) {
    for (int64_t i = 0; i < l->n; i++) {
        if (i) ab_adds(b, ", ");
        repr_rec(c, b, l->v[i], depth + 1);
    }
}

static void repr_dict(rctx *c, abuf *b, vdict *d, int depth) {
    ab_addc(b, '{');
    for (int64_t i = 0; i < d->n; i++) {
        if (i) ab_adds(b, ", ");
        repr_rec(c, b, d->k[i], depth + 1);
        ab_adds(b, ": ");
        repr_rec(c, b, d->v[i], depth + 1);
    }
    ab_addc(b, '}');
}

static void repr_rec(rctx *c, abuf *b, val v, int depth) {
    if (depth > 1000 || tpl_stack_low(c->stack_floor)) r_fail(c, NULL, "maximum recursion depth exceeded while printing a value");
    switch (v.t) {
    case V_MISSING: case V_UNDEF: ab_adds(b, "Undefined"); return;
    case V_STR:
        if (v.k) ab_adds(b, "Markup(");
        repr_str(b, v.u.s->s, v.u.s->len);
        if (v.k) ab_addc(b, ')');
        return;
    case V_LIST:
        switch (v.k) {
        case LK_TUPLE:
            ab_addc(b, '(');
            repr_items(c, b, v.u.l, depth);
            if (v.u.l->n == 1) ab_addc(b, ',');
            ab_addc(b, ')');
            return;
        case LK_ITEMS: ab_adds(b, "dict_items(["); break;
        case LK_KEYS: ab_adds(b, "dict_keys(["); break;
        case LK_VALUES: ab_adds(b, "dict_values(["); break;
        case LK_GEN: ab_adds(b, "<generator object>"); return;
        default: ab_addc(b, '['); break;
        }
        repr_items(c, b, v.u.l, depth);
        ab_adds(b, v.k == LK_LIST ? "]" : "])");
        return;
    case V_DICT: repr_dict(c, b, v.u.d, depth); return;
    case V_NS:
        ab_adds(b, "<Namespace ");
        repr_dict(c, b, v.u.d, depth);
        ab_addc(b, '>');
        return;
    case V_FUNC:
        if (v.u.fn->kind == FN_BUILTIN) {
            if (v.u.fn->self.t != V_MISSING)
                ab_printf(b, "<built-in method %s of %s object>", v.u.fn->name, v_typename(v.u.fn->self));
            else ab_printf(b, "<function %s>", v.u.fn->name);
        } else ab_printf(b, "<Macro '%s'>", v.u.fn->name);
        return;
    case V_LOOP:
        ab_printf(b, "<LoopContext %lld/%lld>", (long long)v.u.lp->i + 1, (long long)v.u.lp->items->n);
        return;
    default: str_rec(c, b, v, depth); return;
    }
}

void v_str_into(rctx *c, abuf *b, val v) { str_rec(c, b, v, 0); }
void v_repr_into(rctx *c, abuf *b, val v) { repr_rec(c, b, v, 0); }

val v_tostr(rctx *c, val v) {
    if (v.t == V_STR) return v;
    abuf b;
    ab_init(&b, c->a);
    v_str_into(c, &b, v);
    return ab_val(&b);
}

// ---- JSON in ----
val v_from_json(tpl_arena *a, const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        val d = v_dict(a, (int64_t)json_object_size(j));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) {
            vd_set(a, d.u.d, v_cstr(a, k), v_from_json(a, x));
        }
        return d;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        val l = v_list(a, (int64_t)n, LK_LIST);
        for (size_t i = 0; i < n; i++) l.u.l->v[i] = v_from_json(a, json_array_get(j, i));
        l.u.l->n = (int64_t)n;
        return l;
    }
    case JSON_STRING: return v_str(a, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return v_int((int64_t)json_integer_value(j));
    case JSON_REAL: return v_float(json_real_value(j));
    case JSON_TRUE: return v_bool(1);
    case JSON_FALSE: return v_bool(0);
    default: return v_none();
    }
}

// ---- JSON out: Python's json.dumps ----
static void json_str(abuf *b, const char *s, size_t n, int ensure_ascii) {
    ab_addc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        int32_t cp = utf8_next(s, n, &i);
        switch (cp) {
        case '"': ab_adds(b, "\\\""); continue;
        case '\\': ab_adds(b, "\\\\"); continue;
        case '\n': ab_adds(b, "\\n"); continue;
        case '\r': ab_adds(b, "\\r"); continue;
        case '\t': ab_adds(b, "\\t"); continue;
        case '\b': ab_adds(b, "\\b"); continue;
        case '\f': ab_adds(b, "\\f"); continue;
        default: break;
        }
        if (cp < 0x20) ab_printf(b, "\\u%04x", cp);
        else if (cp < 0x7f || !ensure_ascii) ab_add(b, s + start, i - start);
        else if (cp == 0x7f) ab_addc(b, 0x7f);
        else if (cp <= 0xffff) ab_printf(b, "\\u%04x", cp);
        else {
            int32_t v = cp - 0x10000;
            ab_printf(b, "\\u%04x\\u%04x", 0xd800 | (v >> 10), 0xdc00 | (v & 0x3ff));
        }
    }
    ab_addc(b, '"');
}

static void json_float(abuf *b, double f) {
    if (isnan(f)) ab_adds(b, "NaN");
    else if (isinf(f)) ab_adds(b, f < 0 ? "-Infinity" : "Infinity");
    else {
        char tmp[64];
        fmt_float(tmp, sizeof tmp, f);
        ab_adds(b, tmp);
    }
}

static void json_newline(abuf *b, const json_opts *o, int level) {
    ab_addc(b, '\n');
    for (int i = 0; i < level; i++) ab_adds(b, o->indent);
}

static void json_key(rctx *c, abuf *b, val k, const json_opts *o) {
    switch (k.t) {
    case V_STR: json_str(b, k.u.s->s, k.u.s->len, o->ensure_ascii); return;
    case V_INT: ab_printf(b, "\"%lld\"", (long long)k.u.i); return;
    case V_BOOL: ab_adds(b, k.u.i ? "\"true\"" : "\"false\""); return;
    case V_NONE: ab_adds(b, "\"null\""); return;
    case V_FLOAT:
        ab_addc(b, '"');
        json_float(b, k.u.f);
        ab_addc(b, '"');
        return;
    default:
        r_fail(c, NULL, "keys must be str, int, float, bool or None, not %s", v_typename(k));
    }
}

void v_to_json(rctx *c, abuf *b, val v, const json_opts *o, int level) {
    if (level > 1000 || tpl_stack_low(c->stack_floor))
        r_fail(c, NULL, "maximum recursion depth exceeded while encoding a JSON object");
    switch (v.t) {
    case V_NONE: ab_adds(b, "null"); return;
    case V_BOOL: ab_adds(b, v.u.i ? "true" : "false"); return;
    case V_INT: ab_printf(b, "%lld", (long long)v.u.i); return;
    case V_FLOAT: json_float(b, v.u.f); return;
    case V_STR: json_str(b, v.u.s->s, v.u.s->len, o->ensure_ascii); return;
    case V_LIST: {
        vlist *l = v.u.l;
        if (v.k > LK_TUPLE) r_fail(c, NULL, "Object of type %s is not JSON serializable", v_typename(v));
        if (l->n == 0) {
            ab_adds(b, "[]");
            return;
        }
        ab_addc(b, '[');
        for (int64_t i = 0; i < l->n; i++) {
            if (i) ab_adds(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            v_to_json(c, b, l->v[i], o, level + 1);
        }
        if (o->indent) json_newline(b, o, level);
        ab_addc(b, ']');
        return;
    }
    case V_DICT: {
        vdict *d = v.u.d;
        if (d->n == 0) {
            ab_adds(b, "{}");
            return;
        }
        int64_t *order = ta_alloc(c->a, (size_t)d->n * sizeof(int64_t));
        for (int64_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) { // stable insertion sort by key (Python's sorted())
            for (int64_t i = 1; i < d->n; i++) {
                int64_t x = order[i], j = i;
                while (j > 0 && r_lt(c, d->k[x], d->k[order[j - 1]], NULL)) order[j] = order[j - 1], j--;
                order[j] = x;
            }
        }
        ab_addc(b, '{');
        for (int64_t i = 0; i < d->n; i++) {
            if (i) ab_adds(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            json_key(c, b, d->k[order[i]], o);
            ab_adds(b, o->key_sep);
            v_to_json(c, b, d->v[order[i]], o, level + 1);
        }
        if (o->indent) json_newline(b, o, level);
        ab_addc(b, '}');
        return;
    }
    default:
        r_fail(c, NULL, "Object of type %s is not JSON serializable", v_typename(v));
    }
}
