// render.c — evaluate a parsed template: scopes, statements, expressions, calls,
// attribute and item access, operators, with jinja2's semantics in the sandbox
// HF uses (ImmutableSandboxedEnvironment: lists and dicts cannot be modified;
// namespace() attributes can).
//
// Scopes follow jinja2's frames: the template's top level is one scope; every for
// iteration, macro call, caller() call, {% with %}, {% set %}…{% endset %} and
// {% filter %} body gets a child scope, so assignments inside them do not leak
// out (namespace() exists for that). Macros see the scope they were defined in.
#include "tpl_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALL_DEPTH 400
#define MAX_OUTPUT_BYTES ((size_t)1 << 30)

// ---- errors ----
void r_fail(rctx *c, const tnode *at, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!at) at = c->cur;
    if (at) {
        int line, col;
        tpl_linecol(c->t, at->pos, &line, &col);
        err_set("%s:%d:%d: %s", c->t->name, line, col, msg);
    } else err_set("%s: %s", c->t->name, msg);
    longjmp(*c->jb, 1);
}

void r_fail_raw(rctx *c, const char *formatted) {
    err_set("%s", formatted);
    longjmp(*c->jb, 1);
}

void r_fail_undef(rctx *c, const tnode *at, val u) {
    vundef *d = u.u.u;
    if (!d) r_fail(c, at, "value is undefined");
    if (d->hint) r_fail(c, at, "%s", d->hint);
    if (d->name) r_fail(c, at, "'%s' is undefined", d->name);
    abuf b;
    ab_init(&b, c->a);
    if (d->key.t == V_STR) {
        ab_printf(&b, "'%s' has no attribute ", d->objtype);
        v_repr_into(c, &b, d->key);
    } else {
        ab_printf(&b, "%s has no element ", d->objtype);
        v_repr_into(c, &b, d->key);
    }
    r_fail(c, at, "%s", b.p);
}

// ---- scopes ----
static scope *scope_new(rctx *c, scope *parent) {
    scope *s = ta_alloc(c->a, sizeof *s);
    s->parent = parent;
    return s;
}

static val *scope_find(scope *s, const char *name) {
    for (; s; s = s->parent)
        for (int i = 0; i < s->n; i++)
            if (s->names[i] == name || strcmp(s->names[i], name) == 0) return &s->vals[i];
    return NULL;
}

static void scope_set(rctx *c, scope *s, const char *name, val v) {
    for (int i = 0; i < s->n; i++)
        if (s->names[i] == name || strcmp(s->names[i], name) == 0) {
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 8;
        s->names = ta_grow(c->a, s->names, (size_t)s->cap * sizeof(char *), (size_t)nc * sizeof(char *));
        s->vals = ta_grow(c->a, s->vals, (size_t)s->cap * sizeof(val), (size_t)nc * sizeof(val));
        s->cap = nc;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
}

// ---- iteration ----
// Characters of a string as one-character strings.
static vlist *str_chars(rctx *c, vstr *s) {
    val l = v_list(c->a, vs_ncp(s), LK_LIST);
    size_t i = 0;
    while (i < s->len) {
        size_t st = i;
        utf8_next(s->s, s->len, &i);
        vl_push(c->a, l.u.l, v_str(c->a, s->s + st, i - st));
    }
    return l.u.l;
}

vlist *r_iterate(rctx *c, val v, const tnode *at) {
    switch (v.t) {
    case V_MISSING: case V_UNDEF: return v_list(c->a, 0, LK_LIST).u.l;
    case V_LIST:
        if (v.k == LK_GEN) { // one pass only
            if (v.u.l->err) r_fail_raw(c, v.u.l->err);
            if (v.u.l->consumed) return v_list(c->a, 0, LK_LIST).u.l;
            v.u.l->consumed = 1;
        }
        return v.u.l;
    case V_DICT: {
        val l = v_list(c->a, v.u.d->n, LK_LIST);
        for (int64_t i = 0; i < v.u.d->n; i++) l.u.l->v[i] = v.u.d->k[i];
        l.u.l->n = v.u.d->n;
        return l.u.l;
    }
    case V_STR: return str_chars(c, v.u.s);
    default: r_fail(c, at, "'%s' object is not iterable", v_typename(v));
    }
}

// ---- attribute and item access ----
val r_getattr(rctx *c, val obj, const char *name, size_t n, const tnode *at) {
    val m;
    switch (obj.t) {
    case V_MISSING: case V_UNDEF: r_fail_undef(c, at, obj);
    case V_DICT:
        m = r_dict_method(c, obj, name, n);
        if (m.t != V_MISSING) return m;
        {
            val *x = vd_gets(obj.u.d, name, n);
            if (x) return *x;
        }
        break;
    case V_NS: {
        val *x = vd_gets(obj.u.d, name, n);
        if (x) return *x;
        break;
    }
    case V_STR:
        m = r_str_method(c, obj, name, n);
        if (m.t != V_MISSING) return m;
        break;
    case V_LIST:
        m = r_list_method(c, obj, name, n);
        if (m.t != V_MISSING) return m;
        break;
    case V_LOOP: return r_loop_attr(c, obj, name, n);
    case V_BOOL: case V_INT: case V_FLOAT: { // the numeric attributes Python has
        int is_f = obj.t == V_FLOAT;
        if (n == 4 && !memcmp(name, "real", 4)) return is_f ? obj : v_int(obj.u.i);
        if (n == 4 && !memcmp(name, "imag", 4)) return is_f ? v_float(0.0) : v_int(0);
        if (!is_f && n == 9 && !memcmp(name, "numerator", 9)) return v_int(obj.u.i);
        if (!is_f && n == 11 && !memcmp(name, "denominator", 11)) return v_int(1);
        break;
    }
    default: break;
    }
    return v_undef_attr(c->a, obj, v_str(c->a, name, n));
}

static int64_t as_index(val k) { return k.u.i; } // V_INT or V_BOOL

val r_getitem(rctx *c, val obj, val key, const tnode *at) {
    if (obj.t == V_UNDEF || obj.t == V_MISSING) r_fail_undef(c, at, obj);
    int intkey = key.t == V_INT || key.t == V_BOOL;
    switch (obj.t) {
    case V_DICT: {
        if (key.t != V_LIST || key.k == LK_TUPLE) { // lists and dicts are unhashable
            if (key.t != V_DICT && key.t != V_NS) {
                val *x = vd_get(obj.u.d, key);
                if (x) return *x;
            }
        }
        break;
    }
    case V_LIST:
        if (intkey && obj.k != LK_GEN) {
            int64_t i = as_index(key), n = obj.u.l->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) return obj.u.l->v[i];
        }
        break;
    case V_STR:
        if (intkey) {
            vstr *s = obj.u.s;
            int64_t n = vs_ncp(s), i = as_index(key);
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                if (n == (int64_t)s->len) return v_str(c->a, s->s + i, 1);
                size_t pos = 0;
                for (int64_t k = 0; k < i; k++) utf8_next(s->s, s->len, &pos);
                size_t st = pos;
                utf8_next(s->s, s->len, &pos);
                return v_str(c->a, s->s + st, pos - st);
            }
        }
        break;
    default: break;
    }
    if (key.t == V_STR && obj.t != V_DICT) return r_getattr(c, obj, key.u.s->s, key.u.s->len, at);
    if (key.t == V_STR && obj.t == V_DICT) {
        val m = r_dict_method(c, obj, key.u.s->s, key.u.s->len);
        if (m.t != V_MISSING) return m;
    }
    return v_undef_attr(c->a, obj, key);
}

// Python slice semantics; bad bounds make the item undefined like jinja2's getitem.
static int slice_bound(rctx *c, scope *s, tnode *e, int64_t *out, int *given);
static val eval(rctx *c, tnode *n, scope *s);

static val do_slice(rctx *c, val obj, tnode *sl, scope *s) {
    int64_t start = 0, stop = 0, step = 1;
    int has_start, has_stop, has_step;
    int ok = slice_bound(c, s, sl->a, &start, &has_start);
    ok &= slice_bound(c, s, sl->b, &stop, &has_stop);
    ok &= slice_bound(c, s, sl->c, &step, &has_step);
    if (obj.t == V_UNDEF || obj.t == V_MISSING) r_fail_undef(c, sl, obj);
    if (!ok || (obj.t != V_LIST && obj.t != V_STR) || (obj.t == V_LIST && obj.k == LK_GEN))
        return v_undef_attr(c->a, obj, v_none());
    if (!has_step) step = 1;
    if (step == 0) r_fail(c, sl, "slice step cannot be zero");
    int is_str = obj.t == V_STR;
    int64_t len = is_str ? vs_ncp(obj.u.s) : obj.u.l->n;
    int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? len : len - 1;
    if (!has_start) start = step > 0 ? lower : upper;
    else {
        if (start < 0) start += len;
        if (start < lower) start = lower;
        else if (start > upper) start = upper;
    }
    if (!has_stop) stop = step > 0 ? upper : lower;
    else {
        if (stop < 0) stop += len;
        if (stop < lower) stop = lower;
        else if (stop > upper) stop = upper;
    }
    if (!is_str) {
        val r = v_list(c->a, 0, obj.k == LK_TUPLE ? LK_TUPLE : LK_LIST);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) vl_push(c->a, r.u.l, obj.u.l->v[i]);
        return r;
    }
    vstr *str = obj.u.s;
    size_t *offs = NULL;
    if (len != (int64_t)str->len) { // code point offsets
        offs = ta_alloc(c->a, (size_t)(len + 1) * sizeof(size_t));
        size_t pos = 0;
        for (int64_t i = 0; i < len; i++) {
            offs[i] = pos;
            utf8_next(str->s, str->len, &pos);
        }
        offs[len] = str->len;
    }
    abuf b;
    ab_init(&b, c->a);
    if (step == 1 && start < stop) {
        size_t a0 = offs ? offs[start] : (size_t)start, a1 = offs ? offs[stop] : (size_t)stop;
        ab_add(&b, str->s + a0, a1 - a0);
    } else
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            size_t a0 = offs ? offs[i] : (size_t)i, a1 = offs ? offs[i + 1] : (size_t)i + 1;
            ab_add(&b, str->s + a0, a1 - a0);
        }
    return ab_val(&b);
}

static int slice_bound(rctx *c, scope *s, tnode *e, int64_t *out, int *given) {
    *given = 0;
    if (!e) return 1;
    val v = eval(c, e, s);
    if (v.t == V_NONE) return 1;
    if (v.t != V_INT && v.t != V_BOOL) return 0;
    *out = v.u.i;
    *given = 1;
    return 1;
}

// ---- operators ----
static void need_defined(rctx *c, val v, const tnode *at) {
    if (v.t == V_UNDEF || v.t == V_MISSING) r_fail_undef(c, at, v);
}

_Noreturn static void unsupported(rctx *c, const tnode *at, const char *op, val a, val b) {
    r_fail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", op, v_typename(a), v_typename(b));
}

static int64_t int_checked(rctx *c, const tnode *at, int ok) {
    if (!ok) r_fail(c, at, "integer overflow (the template engine uses 64-bit integers)");
    return 0;
}

static val concat_lists(rctx *c, val a, val b) {
    val r = v_list(c->a, a.u.l->n + b.u.l->n, a.k == LK_TUPLE ? LK_TUPLE : LK_LIST);
    for (int64_t i = 0; i < a.u.l->n; i++) r.u.l->v[r.u.l->n++] = a.u.l->v[i];
    for (int64_t i = 0; i < b.u.l->n; i++) r.u.l->v[r.u.l->n++] = b.u.l->v[i];
    return r;
}

static val repeat(rctx *c, val seq, int64_t times, const tnode *at) {
    if (times < 0) times = 0;
    if (seq.t == V_STR) {
        size_t len = seq.u.s->len;
        if (len && (size_t)times > MAX_OUTPUT_BYTES / len) r_fail(c, at, "string repetition too large");
        abuf b;
        ab_init(&b, c->a);
        for (int64_t i = 0; i < times; i++) ab_add(&b, seq.u.s->s, len);
        return ab_val(&b);
    }
    int64_t n = seq.u.l->n;
    if (n && times > (int64_t)(MAX_OUTPUT_BYTES / sizeof(val)) / n) r_fail(c, at, "list repetition too large");
    val r = v_list(c->a, n * times, seq.k == LK_TUPLE ? LK_TUPLE : LK_LIST);
    for (int64_t t = 0; t < times; t++)
        for (int64_t i = 0; i < n; i++) r.u.l->v[r.u.l->n++] = seq.u.l->v[i];
    return r;
}

static int is_seq(val v) { return v.t == V_STR || (v.t == V_LIST && (v.k == LK_LIST || v.k == LK_TUPLE)); }

// Python's float divmod.
static void float_divmod(double vx, double wx, double *floordiv, double *modout) {
    double mod = fmod(vx, wx), div = (vx - mod) / wx, fd;
    if (mod) {
        if ((wx < 0) != (mod < 0)) {
            mod += wx;
            div -= 1.0;
        }
    } else mod = copysign(0.0, wx);
    if (div) {
        fd = floor(div);
        if (div - fd > 0.5) fd += 1.0;
    } else fd = copysign(0.0, vx / wx);
    *floordiv = fd, *modout = mod;
}

val r_binop(rctx *c, int op, val a, val b, const tnode *at) {
    need_defined(c, a, at);
    need_defined(c, b, at);
    int na = v_is_number(a), nb = v_is_number(b);
    int ints = na && nb && a.t != V_FLOAT && b.t != V_FLOAT;
    int64_t r;
    switch (op) {
    case OP_ADD:
        if (ints) {
            int_checked(c, at, !__builtin_add_overflow(a.u.i, b.u.i, &r));
            return v_int(r);
        }
        if (na && nb) return v_float(v_num(a) + v_num(b));
        if (a.t == V_STR && b.t == V_STR) {
            if (a.k != b.k) { // Markup + str escapes the str (either side)
                val x = a.k ? b : a;
                val e = r_html_escape(c, x);
                if (a.k) b = e;
                else a = e;
            }
            abuf s;
            ab_init(&s, c->a);
            ab_add(&s, a.u.s->s, a.u.s->len);
            ab_add(&s, b.u.s->s, b.u.s->len);
            val cat = ab_val(&s);
            cat.k = a.k | b.k;
            return cat;
        }
        if (a.t == V_LIST && b.t == V_LIST && (a.k == LK_TUPLE) == (b.k == LK_TUPLE) && a.k <= LK_TUPLE && b.k <= LK_TUPLE)
            return concat_lists(c, a, b);
        if (a.t == V_STR) r_fail(c, at, "can only concatenate str (not \"%s\") to str", v_typename(b));
        if (a.t == V_LIST && a.k <= LK_TUPLE)
            r_fail(c, at, "can only concatenate %s (not \"%s\") to %s", v_typename(a), v_typename(b), v_typename(a));
        unsupported(c, at, "+", a, b);
    case OP_SUB:
        if (ints) {
            int_checked(c, at, !__builtin_sub_overflow(a.u.i, b.u.i, &r));
            return v_int(r);
        }
        if (na && nb) return v_float(v_num(a) - v_num(b));
        unsupported(c, at, "-", a, b);
    case OP_MUL:
        if (ints) {
            int_checked(c, at, !__builtin_mul_overflow(a.u.i, b.u.i, &r));
            return v_int(r);
        }
        if (na && nb) return v_float(v_num(a) * v_num(b));
        if (is_seq(a) && (b.t == V_INT || b.t == V_BOOL)) return repeat(c, a, b.u.i, at);
        if (is_seq(b) && (a.t == V_INT || a.t == V_BOOL)) return repeat(c, b, a.u.i, at);
        if (is_seq(a) || is_seq(b))
            r_fail(c, at, "can't multiply sequence by non-int of type '%s'", v_typename(is_seq(a) ? b : a));
        unsupported(c, at, "*", a, b);
    case OP_DIV:
        if (na && nb) {
            if (v_num(b) == 0) r_fail(c, at, ints ? "division by zero" : "float division by zero");
            return v_float(v_num(a) / v_num(b));
        }
        unsupported(c, at, "/", a, b);
    case OP_FLOORDIV:
    case OP_MOD:
        if (ints) {
            if (b.u.i == 0) r_fail(c, at, op == OP_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
            if (a.u.i == INT64_MIN && b.u.i == -1) int_checked(c, at, 0);
            int64_t q = a.u.i / b.u.i, m = a.u.i % b.u.i;
            if (m != 0 && ((m < 0) != (b.u.i < 0))) q--, m += b.u.i;
            return v_int(op == OP_FLOORDIV ? q : m);
        }
        if (na && nb) {
            double x = v_num(a), y = v_num(b), fd, md;
            if (y == 0) r_fail(c, at, op == OP_MOD ? "float modulo" : "float floor division by zero");
            float_divmod(x, y, &fd, &md);
            return v_float(op == OP_FLOORDIV ? fd : md);
        }
        if (op == OP_MOD && a.t == V_STR) return r_printf_format(c, a, b, at);
        unsupported(c, at, op == OP_MOD ? "%" : "//", a, b);
    case OP_POW:
        if (ints && b.u.i >= 0) {
            int64_t base = a.u.i, e = b.u.i, acc = 1;
            while (e) {
                if (e & 1) int_checked(c, at, !__builtin_mul_overflow(acc, base, &acc));
                e >>= 1;
                if (e) int_checked(c, at, !__builtin_mul_overflow(base, base, &base));
            }
            return v_int(acc);
        }
        if (na && nb) {
            double x = v_num(a), y = v_num(b);
            if (x == 0 && y < 0) r_fail(c, at, "0.0 cannot be raised to a negative power");
            if (x < 0 && y != floor(y)) r_fail(c, at, "complex results are not supported");
            double p = pow(x, y);
            if (isinf(p) && !isinf(x)) r_fail(c, at, "(34, 'Numerical result out of range')");
            return v_float(p);
        }
        unsupported(c, at, "** or pow()", a, b);
    }
    r_fail(c, at, "internal error: unknown operator %d", op);
}

static const char *cmp_text(int op) {
    switch (op) {
    case OP_LT: return "<";
    case OP_LTEQ: return "<=";
    case OP_GT: return ">";
    default: return ">=";
    }
}

// Three-way order of a and b; TypeError when Python cannot order them.
static int order(rctx *c, int op, val a, val b, const tnode *at) {
    need_defined(c, a, at);
    need_defined(c, b, at);
    if (v_is_number(a) && v_is_number(b)) {
        if (a.t != V_FLOAT && b.t != V_FLOAT) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        double x = v_num(a), y = v_num(b);
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2; // 2: unordered (nan)
    }
    if (a.t == V_STR && b.t == V_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int r = memcmp(a.u.s->s, b.u.s->s, n);
        if (r) return r < 0 ? -1 : 1;
        return a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    }
    if (a.t == V_LIST && b.t == V_LIST && a.k <= LK_TUPLE && b.k <= LK_TUPLE && a.k == b.k) {
        int64_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (int64_t i = 0; i < n; i++)
            if (!v_eq(a.u.l->v[i], b.u.l->v[i])) return order(c, op, a.u.l->v[i], b.u.l->v[i], at);
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    r_fail(c, at, "'%s' not supported between instances of '%s' and '%s'", cmp_text(op), v_typename(a), v_typename(b));
}

int r_lt(rctx *c, val a, val b, const tnode *at) { return order(c, OP_LT, a, b, at) == -1; }

static int contains(rctx *c, val container, val item, const tnode *at) {
    switch (container.t) {
    case V_MISSING: case V_UNDEF: return 0;
    case V_STR:
        if (item.t != V_STR)
            r_fail(c, at, "'in <string>' requires string as left operand, not %s", v_typename(item));
        if (!item.u.s->len) return 1;
        return memmem(container.u.s->s, container.u.s->len, item.u.s->s, item.u.s->len) != NULL;
    case V_LIST: {
        vlist *l = r_iterate(c, container, at);
        for (int64_t i = 0; i < l->n; i++)
            if (v_eq(l->v[i], item)) return 1;
        return 0;
    }
    case V_DICT:
        if ((item.t == V_LIST && item.k != LK_TUPLE && item.k != LK_GEN) || item.t == V_DICT)
            r_fail(c, at, "unhashable type: '%s'", v_typename(item));
        return vd_get(container.u.d, item) != NULL;
    default: r_fail(c, at, "argument of type '%s' is not iterable", v_typename(container));
    }
}

int r_compare(rctx *c, int op, val a, val b, const tnode *at) {
    switch (op) {
    case OP_EQ: return v_eq(a, b);
    case OP_NE: return !v_eq(a, b);
    case OP_IN: return contains(c, b, a, at);
    case OP_NOTIN: return !contains(c, b, a, at);
    default: {
        int o = order(c, op, a, b, at);
        if (o == 2) return 0;
        switch (op) {
        case OP_LT: return o < 0;
        case OP_LTEQ: return o <= 0;
        case OP_GT: return o > 0;
        default: return o >= 0;
        }
    }
    }
}

// ---- calls ----
static int exec_body(rctx *c, tnode **kids, int n, scope *s);

static val capture(rctx *c, tnode **kids, int n, scope *s) {
    abuf *saved = c->out, buf;
    ab_init(&buf, c->a);
    c->out = &buf;
    exec_body(c, kids, n, s);
    c->out = saved;
    return ab_val(&buf);
}

// Call a macro or a call block's caller: bind arguments like jinja2's Macro.__call__.
static val call_macro(rctx *c, vfunc *f, cargs *a) {
    const tnode *m = f->node;
    const char *what = f->kind == FN_MACRO ? "macro" : "caller";
    if (c->depth >= MAX_CALL_DEPTH) r_fail(c, a->at, "maximum recursion depth exceeded calling %s '%s'", what, f->name);
    scope *s = scope_new(c, f->closure);
    int np = m->nnames;
    val *bound = ta_alloc(c->a, (size_t)(np + 1) * sizeof(val));
    val varargs = v_list(c->a, 0, LK_TUPLE), kwargs = v_dict(c->a, 0), caller = v_missing();
    for (int i = 0; i < a->n; i++) {
        if (i < np) bound[i] = a->v[i];
        else if (m->flags & MF_VARARGS) vl_push(c->a, varargs.u.l, a->v[i]);
        else r_fail(c, a->at, "%s '%s' takes not more than %d argument(s)", what, f->name, np);
    }
    for (int k = 0; k < a->nk; k++) {
        const char *kn = a->kn[k];
        int j = 0;
        while (j < np && strcmp(m->names[j], kn) != 0) j++;
        if (j < np) {
            if (bound[j].t != V_MISSING) r_fail(c, a->at, "%s '%s' got multiple values for argument '%s'", what, f->name, kn);
            bound[j] = a->kv[k];
        } else if (!strcmp(kn, "caller") && (m->flags & MF_CALLER) && f->kind == FN_MACRO) caller = a->kv[k];
        else if (m->flags & MF_KWARGS) vd_set(c->a, kwargs.u.d, v_cstr(c->a, kn), a->kv[k]);
        else r_fail(c, a->at, "%s '%s' takes no keyword argument '%s'", what, f->name, kn);
    }
    c->depth++;
    int first_default = np - m->nk2;
    for (int i = 0; i < np; i++) {
        val v = bound[i];
        if (v.t == V_MISSING) {
            if (i >= first_default) v = eval(c, m->kids2[i - first_default], s);
            else {
                char *h = ta_alloc(c->a, strlen(m->names[i]) + 40);
                sprintf(h, "parameter '%s' was not provided", m->names[i]);
                v = v_undef_hint(c->a, h);
            }
        }
        scope_set(c, s, m->names[i], v);
    }
    if (m->flags & MF_VARARGS) scope_set(c, s, "varargs", varargs);
    if (m->flags & MF_KWARGS) scope_set(c, s, "kwargs", kwargs);
    if ((m->flags & MF_CALLER) && f->kind == FN_MACRO)
        scope_set(c, s, "caller", caller.t == V_MISSING ? v_undef_hint(c->a, "No caller defined") : caller);
    val out = capture(c, m->kids, m->nk, s);
    c->depth--;
    return out;
}

val r_call(rctx *c, val fn, cargs *a, const tnode *at) {
    if (fn.t == V_UNDEF || fn.t == V_MISSING) r_fail_undef(c, at, fn);
    if (fn.t != V_FUNC) r_fail(c, at, "'%s' object is not callable", v_typename(fn));
    a->at = at;
    const tnode *saved = c->cur;
    c->cur = at;
    val r = fn.u.fn->kind == FN_BUILTIN ? fn.u.fn->fn(c, fn.u.fn, a) : call_macro(c, fn.u.fn, a);
    c->cur = saved;
    return r;
}

// Evaluate a call node's arguments (with *args and **kwargs spread).
static void eval_args(rctx *c, const tnode *n, scope *s, cargs *a, int extra_front) {
    int np = n->nk + extra_front;
    vlist *spread = NULL;
    if (n->c) {
        val d = eval(c, n->c, s);
        spread = r_iterate(c, d, n->c);
        np += (int)spread->n;
    }
    a->v = ta_alloc(c->a, (size_t)(np + 1) * sizeof(val));
    a->n = extra_front;
    for (int i = 0; i < n->nk; i++) a->v[a->n++] = eval(c, n->kids[i], s);
    if (spread)
        for (int64_t i = 0; i < spread->n; i++) a->v[a->n++] = spread->v[i];
    int nk = n->nk2;
    vdict *kw = NULL;
    if (n->d) {
        val d = eval(c, n->d, s);
        if (d.t != V_DICT) r_fail(c, n->d, "argument after ** must be a mapping, not %s", v_typename(d));
        kw = d.u.d;
        nk += (int)kw->n;
    }
    a->kn = ta_alloc(c->a, (size_t)(nk + 2) * sizeof(char *));
    a->kv = ta_alloc(c->a, (size_t)(nk + 2) * sizeof(val));
    a->nk = 0;
    for (int i = 0; i < n->nk2; i++) {
        a->kn[a->nk] = n->names[i];
        a->kv[a->nk++] = eval(c, n->kids2[i], s);
    }
    if (kw)
        for (int64_t i = 0; i < kw->n; i++) {
            if (kw->k[i].t != V_STR) r_fail(c, n->d, "keywords must be strings");
            a->kn[a->nk] = kw->k[i].u.s->s;
            a->kv[a->nk++] = kw->v[i];
        }
    a->at = n;
}

static val apply_filter(rctx *c, const tnode *n, val operand, scope *s) {
    cargs a;
    eval_args(c, n, s, &a, 1);
    a.v[0] = operand;
    const builtin_entry *e = n->impl;
    if (!e) r_fail(c, n, "no %s named '%s'", n->kind == N_FILTER ? "filter" : "test", n->name);
    vfunc f = {.kind = FN_BUILTIN, .name = e->name, .fn = e->fn};
    const tnode *saved = c->cur;
    c->cur = n;
    val r = e->fn(c, &f, &a);
    c->cur = saved;
    return r;
}

// ---- expressions ----
static val eval(rctx *c, tnode *n, scope *s) {
    if (tpl_stack_low(c->stack_floor)) r_fail(c, n, "template nested too deeply to evaluate");
    switch (n->kind) {
    case N_CONST: return n->v;
    case N_NAME: {
        val *v = scope_find(s, n->name);
        if (v) return *v;
        return v_undef_name(c->a, n->name);
    }
    case N_GETATTR: {
        val obj = eval(c, n->a, s);
        return r_getattr(c, obj, n->name, strlen(n->name), n);
    }
    case N_GETITEM: {
        val obj = eval(c, n->a, s);
        if (n->b->kind == N_SLICE) return do_slice(c, obj, n->b, s);
        val key = eval(c, n->b, s);
        return r_getitem(c, obj, key, n);
    }
    case N_CALL: {
        val fn = eval(c, n->a, s);
        cargs a;
        eval_args(c, n, s, &a, 0);
        return r_call(c, fn, &a, n);
    }
    case N_FILTER: return apply_filter(c, n, n->a ? eval(c, n->a, s) : c->filter_input, s);
    case N_TEST: return apply_filter(c, n, eval(c, n->a, s), s);
    case N_NOT: return v_bool(!v_truthy(eval(c, n->a, s)));
    case N_NEG: case N_POS: {
        val v = eval(c, n->a, s);
        need_defined(c, v, n);
        if (v.t == V_FLOAT) return v_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        if (v.t == V_INT || v.t == V_BOOL) {
            if (n->kind == N_POS) return v_int(v.u.i);
            if (v.u.i == INT64_MIN) int_checked(c, n, 0);
            return v_int(-v.u.i);
        }
        r_fail(c, n, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', v_typename(v));
    }
    case N_BIN: {
        val a = eval(c, n->a, s);
        val b = eval(c, n->b, s);
        return r_binop(c, n->op, a, b, n);
    }
    case N_AND: {
        val l = eval(c, n->a, s);
        return v_truthy(l) ? eval(c, n->b, s) : l;
    }
    case N_OR: {
        val l = eval(c, n->a, s);
        return v_truthy(l) ? l : eval(c, n->b, s);
    }
    case N_CONCAT: {
        abuf b;
        ab_init(&b, c->a);
        for (int i = 0; i < n->nk; i++) v_str_into(c, &b, eval(c, n->kids[i], s));
        return ab_val(&b);
    }
    case N_COMPARE: {
        val left = eval(c, n->a, s);
        for (int i = 0; i < n->nk; i++) {
            val right = eval(c, n->kids[i], s);
            if (!r_compare(c, n->ops[i], left, right, n)) return v_bool(0);
            left = right;
        }
        return v_bool(1);
    }
    case N_COND:
        if (v_truthy(eval(c, n->a, s))) return eval(c, n->b, s);
        if (n->c) return eval(c, n->c, s);
        return v_undef_hint(c->a, "the inline if-expression evaluated to false and no else section was defined.");
    case N_LIST: case N_TUPLE: {
        val l = v_list(c->a, n->nk, n->kind == N_TUPLE ? LK_TUPLE : LK_LIST);
        for (int i = 0; i < n->nk; i++) l.u.l->v[i] = eval(c, n->kids[i], s);
        l.u.l->n = n->nk;
        return l;
    }
    case N_DICT: {
        val d = v_dict(c->a, n->nk);
        for (int i = 0; i < n->nk; i++) {
            val k = eval(c, n->kids[i], s);
            if ((k.t == V_LIST && k.k != LK_TUPLE) || k.t == V_DICT || k.t == V_NS)
                r_fail(c, n->kids[i], "unhashable type: '%s'", v_typename(k));
            vd_set(c->a, d.u.d, k, eval(c, n->kids2[i], s));
        }
        return d;
    }
    case N_SLICE: r_fail(c, n, "a slice is only valid inside []");
    default: r_fail(c, n, "internal error: node %d is not an expression", n->kind);
    }
}

// ---- statements ----
enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static void assign(rctx *c, tnode *target, val v, scope *s) {
    switch (target->kind) {
    case N_NAME: scope_set(c, s, target->name, v); return;
    case N_NSREF: {
        val *ns = scope_find(s, target->name);
        if (!ns || ns->t != V_NS) r_fail(c, target, "cannot assign attribute on non-namespace object");
        vd_set(c->a, ns->u.d, v_cstr(c->a, target->attr), v);
        return;
    }
    case N_TUPLE: {
        if (v.t == V_UNDEF) r_fail_undef(c, target, v);
        if (v.t != V_LIST && v.t != V_STR && v.t != V_DICT)
            r_fail(c, target, "cannot unpack non-iterable %s object", v_typename(v));
        vlist *items = r_iterate(c, v, target);
        if (items->n < target->nk)
            r_fail(c, target, "not enough values to unpack (expected %d, got %lld)", target->nk, (long long)items->n);
        if (items->n > target->nk) r_fail(c, target, "too many values to unpack (expected %d)", target->nk);
        for (int i = 0; i < target->nk; i++) assign(c, target->kids[i], items->v[i], s);
        return;
    }
    default: r_fail(c, target, "cannot assign to this expression");
    }
}

static void out_value(rctx *c, val v) {
    v_str_into(c, c->out, v);
    if (c->out->len > MAX_OUTPUT_BYTES) r_fail(c, NULL, "output larger than %zu bytes", MAX_OUTPUT_BYTES);
}

static int exec_for(rctx *c, tnode *n, scope *s) {
    val it = eval(c, n->b, s);
    vlist *items = r_iterate(c, it, n->b);
    if (n->c) { // for x in y if cond
        val kept = v_list(c->a, items->n, LK_LIST);
        for (int64_t i = 0; i < items->n; i++) {
            scope *t = scope_new(c, s);
            assign(c, n->a, items->v[i], t);
            if (v_truthy(eval(c, n->c, t))) vl_push(c->a, kept.u.l, items->v[i]);
        }
        items = kept.u.l;
    } else { // a snapshot, as the body cannot change what it iterates anyway
        val copy = v_list(c->a, items->n, LK_LIST);
        if (items->n) memcpy(copy.u.l->v, items->v, (size_t)items->n * sizeof(val));
        copy.u.l->n = items->n;
        items = copy.u.l;
    }
    if (items->n == 0) {
        if (n->nk2) exec_body(c, n->kids2, n->nk2, scope_new(c, s));
        return FLOW_NORMAL;
    }
    vloop *lp = ta_alloc(c->a, sizeof *lp);
    lp->items = items;
    val loopv = {0};
    loopv.t = V_LOOP, loopv.u.lp = lp;
    c->loop_depth++;
    for (int64_t i = 0; i < items->n; i++) {
        lp->i = i;
        scope *body = scope_new(c, s);
        assign(c, n->a, items->v[i], body);
        scope_set(c, body, "loop", loopv);
        if (exec_body(c, n->kids, n->nk, body) == FLOW_BREAK) break;
    }
    c->loop_depth--;
    return FLOW_NORMAL;
}

static val make_macro(rctx *c, const tnode *n, scope *s, int kind) {
    vfunc *f = ta_alloc(c->a, sizeof *f);
    f->kind = kind;
    f->name = n->name;
    f->node = n;
    f->closure = s;
    val v = {0};
    v.t = V_FUNC, v.u.fn = f;
    return v;
}

static int exec(rctx *c, tnode *n, scope *s) {
    c->cur = n;
    if (tpl_stack_low(c->stack_floor)) r_fail(c, n, "template nested too deeply to render");
    switch (n->kind) {
    case N_TEXT: ab_add(c->out, n->v.u.s->s, n->v.u.s->len); return FLOW_NORMAL;
    case N_OUTPUT: out_value(c, eval(c, n->a, s)); return FLOW_NORMAL;
    case N_IF:
        if (v_truthy(eval(c, n->a, s))) return exec_body(c, n->kids, n->nk, s);
        return exec_body(c, n->kids2, n->nk2, s);
    case N_FOR: return exec_for(c, n, s);
    case N_SET: assign(c, n->a, eval(c, n->b, s), s); return FLOW_NORMAL;
    case N_SETBLOCK: {
        val body = capture(c, n->kids, n->nk, scope_new(c, s));
        if (n->b) {
            val saved = c->filter_input;
            c->filter_input = body;
            body = eval(c, n->b, s);
            c->filter_input = saved;
        }
        assign(c, n->a, body, s);
        return FLOW_NORMAL;
    }
    case N_FILTERBLOCK: {
        val body = capture(c, n->kids, n->nk, scope_new(c, s));
        val saved = c->filter_input;
        c->filter_input = body;
        val r = eval(c, n->b, s);
        c->filter_input = saved;
        out_value(c, r);
        return FLOW_NORMAL;
    }
    case N_MACRO: scope_set(c, s, n->name, make_macro(c, n, s, FN_MACRO)); return FLOW_NORMAL;
    case N_CALLBLOCK: {
        const tnode *call = n->a;
        val fn = eval(c, call->a, s);
        cargs a;
        eval_args(c, call, s, &a, 0);
        a.kn[a.nk] = "caller";
        a.kv[a.nk++] = make_macro(c, n, s, FN_CALLER);
        out_value(c, r_call(c, fn, &a, call));
        return FLOW_NORMAL;
    }
    case N_WITH: {
        scope *w = scope_new(c, s);
        for (int i = 0; i + 1 < n->nk3; i += 2) assign(c, n->kids3[i], eval(c, n->kids3[i + 1], s), w);
        return exec_body(c, n->kids, n->nk, w);
    }
    case N_BODY: return exec_body(c, n->kids, n->nk, s);
    case N_BREAK: return FLOW_BREAK;
    case N_CONTINUE: return FLOW_CONTINUE;
    default: r_fail(c, n, "internal error: node %d is not a statement", n->kind);
    }
}

static int exec_body(rctx *c, tnode **kids, int n, scope *s) {
    for (int i = 0; i < n; i++) {
        int flow = exec(c, kids[i], s);
        if (flow != FLOW_NORMAL) return flow;
    }
    return FLOW_NORMAL;
}

// ---- entry point ----
int tpl_render(const tpl_template *t, const tpl_vars *vars, strbuf *out) {
    // Everything longjmp may leave behind lives behind pointers set before setjmp.
    tpl_arena *arena = xmalloc(sizeof *arena);
    ta_init(arena);
    jmp_buf jb;
    rctx *c = ta_alloc(arena, sizeof *c);
    c->a = arena;
    c->t = t;
    c->jb = &jb;
    c->stack_floor = tpl_stack_floor();
    if (vars && vars->now) c->now = *vars->now;
    else {
        time_t now = time(NULL);
        localtime_r(&now, &c->now);
    }
    abuf *buf = ta_alloc(arena, sizeof *buf);
    ab_init(buf, arena);
    c->out = buf;
    volatile int rc = -1;
    if (setjmp(jb) == 0) {
        arena->jb = &jb;
        c->globals = scope_new(c, NULL);
        tpl_add_globals(c, c->globals);
        scope *top = scope_new(c, c->globals);
        if (vars && vars->vars) {
            if (!json_is_object(vars->vars)) r_fail(c, NULL, "template variables must be a JSON object");
            const char *k;
            json_t *x;
            json_object_foreach((json_t *)vars->vars, k, x) {
                scope_set(c, top, ta_strndup(arena, k, strlen(k)), v_from_json(arena, x));
            }
        }
        exec_body(c, t->root->kids, t->root->nk, top);
        rc = 0;
    }
    if (buf->len) sb_append(out, buf->p, buf->len); // on error: what was rendered before it
    ta_release(arena);
    free(arena);
    return rc;
}
