// tpl_internal.h — the Jinja engine's private types: arena, values, tokens, syntax
// tree, render context. Only src/template/*.c include this; the API is template.h.
//
// Ownership: a parsed template owns one arena holding its source, tokens and tree;
// a render owns another arena holding every value it creates (inputs converted
// from JSON included) and drops it whole when it returns. Values are never freed
// one by one, so they need no reference counts, and an error anywhere inside the
// engine unwinds with longjmp to the API function that started the work: nothing
// between that function and the error owns heap memory outside an arena.
#ifndef LORAC_TPL_INTERNAL_H
#define LORAC_TPL_INTERNAL_H

#include "../core/core.h"
#include "template.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>

// ---- arena ----
typedef struct ta_chunk ta_chunk;
typedef struct {
    ta_chunk *head;  // newest chunk first
    size_t total;    // bytes reserved
    jmp_buf *jb;     // when set: past TPL_ARENA_LIMIT bytes, fail with an error and unwind here
} tpl_arena;
#define TPL_ARENA_LIMIT ((size_t)1 << 30)

void ta_init(tpl_arena *a);
void ta_release(tpl_arena *a);
void *ta_alloc(tpl_arena *a, size_t n); // zeroed, 16-byte aligned
// Grow the block p (old bytes) to n bytes; in place when p is the newest block.
void *ta_grow(tpl_arena *a, void *p, size_t old, size_t n);
char *ta_strndup(tpl_arena *a, const char *s, size_t n);

// ---- values ----
typedef enum {
    V_MISSING = 0, // internal: "no argument given"; never visible to templates
    V_UNDEF,
    V_NONE,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_LIST,
    V_DICT,
    V_NS,   // namespace(): a dict with attribute access, mutable via {% set ns.x %}
    V_FUNC, // builtin, bound method, macro, caller
    V_LOOP, // the `loop` object of a for loop
} vtype;

// List kinds (how a list prints and compares): Python list, tuple, dict views, and
// the generators jinja2's map/select/... filters return (always true, no len(),
// not subscriptable, exhausted by the first iteration; an error raised while
// computing one surfaces only when it is iterated, as jinja2's laziness has it).
enum { LK_LIST, LK_TUPLE, LK_ITEMS, LK_KEYS, LK_VALUES, LK_GEN };

typedef struct vstr vstr;
typedef struct vlist vlist;
typedef struct vdict vdict;
typedef struct vfunc vfunc;
typedef struct vundef vundef;
typedef struct vloop vloop;

typedef struct val {
    uint8_t t;    // vtype
    uint8_t k;    // V_LIST: LK_*; V_STR: 1 = Markup (marked safe)
    union {
        int64_t i; // V_BOOL (0/1), V_INT
        double f;
        vstr *s;
        vlist *l;
        vdict *d; // V_DICT, V_NS
        vfunc *fn;
        vundef *u; // NULL for a plain undefined
        vloop *lp;
    } u;
} val;

struct vstr {
    size_t len;    // bytes
    int64_t ncp;   // code points; -1 until counted
    char s[];      // NUL-terminated UTF-8
};

struct vlist {
    int64_t n, cap;
    val *v;
    int consumed;     // LK_GEN: already iterated
    const char *err;  // LK_GEN: the error its computation raised (formatted)
};

struct vdict {
    int64_t n, cap; // insertion order preserved
    val *k, *v;
};

// Why a value is undefined; formatted only when something fails on it.
struct vundef {
    const char *name;   // "'x' is undefined"
    const char *hint;   // custom message, wins over the rest
    const char *objtype;// "'dict object' has no attribute 'x'" / "list object has no element 5"
    val key;
    int security;       // 1: unsafe attribute access in the sandbox (SecurityError)
};

typedef struct rctx rctx;
typedef struct tnode tnode;
typedef struct scope scope;

// Call arguments: positional then keyword.
typedef struct {
    int n;
    val *v;
    int nk;
    const char **kn;
    val *kv;
    const tnode *at; // node for error positions
} cargs;

typedef val (*builtin_fn)(rctx *c, vfunc *f, cargs *a);

enum { FN_BUILTIN, FN_MACRO, FN_CALLER };
struct vfunc {
    int kind;
    const char *name;
    builtin_fn fn;    // FN_BUILTIN
    val self;         // bound receiver (methods), or V_MISSING
    void *data;       // builtin private state
    const tnode *node;// FN_MACRO / FN_CALLER: the macro or call-block node
    scope *closure;   // scope the macro was defined in
};

struct vloop {
    vlist *items;
    int64_t i;        // index0
    int depth0;
    val last_changed; // loop.changed() memory (V_MISSING before the first call)
};

// constructors
static inline val v_missing(void) { val v = {0}; return v; }
static inline val v_undef(void) { val v = {0}; v.t = V_UNDEF; return v; }
static inline val v_none(void) { val v = {0}; v.t = V_NONE; return v; }
static inline val v_bool(int b) { val v = {0}; v.t = V_BOOL; v.u.i = b != 0; return v; }
static inline val v_int(int64_t i) { val v = {0}; v.t = V_INT; v.u.i = i; return v; }
static inline val v_float(double f) { val v = {0}; v.t = V_FLOAT; v.u.f = f; return v; }
val v_str(tpl_arena *a, const char *s, size_t n);
val v_cstr(tpl_arena *a, const char *s);
val v_list(tpl_arena *a, int64_t cap, int kind);
val v_dict(tpl_arena *a, int64_t cap);
val v_undef_name(tpl_arena *a, const char *name);
val v_undef_hint(tpl_arena *a, const char *hint);
val v_undef_attr(tpl_arena *a, val obj, val key);
void vl_push(tpl_arena *a, vlist *l, val x);
void vd_set(tpl_arena *a, vdict *d, val key, val x); // insert or replace
val *vd_get(const vdict *d, val key);               // NULL when absent
val *vd_gets(const vdict *d, const char *key, size_t n);

// value semantics (Python's)
int v_truthy(val v);
int v_eq(val a, val b);
int v_is_number(val v); // bool, int, float
double v_num(val v);    // as double (bool/int/float)
const char *v_typename(val v); // Python type name: "int", "str", "NoneType", ...
int64_t vs_ncp(vstr *s); // code point count
// Python str() / repr() into a growable buffer.
typedef struct {
    tpl_arena *a;
    char *p;
    size_t len, cap;
} abuf;
void ab_init(abuf *b, tpl_arena *a);
void ab_add(abuf *b, const char *s, size_t n);
void ab_adds(abuf *b, const char *s);
void ab_addc(abuf *b, char ch);
void ab_printf(abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
val ab_val(abuf *b); // the buffer as a string value (no copy)
void v_str_into(rctx *c, abuf *b, val v);
void v_repr_into(rctx *c, abuf *b, val v);
val v_tostr(rctx *c, val v);   // str(v) as a value (strings returned as is)
void fmt_float(char *buf, size_t n, double f); // Python float repr
// JSON conversion
val v_from_json(tpl_arena *a, const json_t *j);
typedef struct {
    int ensure_ascii;
    const char *indent; // NULL = compact one-line form
    const char *item_sep, *key_sep;
    int sort_keys;
} json_opts;
void v_to_json(rctx *c, abuf *b, val v, const json_opts *o, int level);

// ---- stack guard ----
// The engine recurses over the syntax tree and over values; adversarial input can
// nest them deeply. tpl_stack_floor() returns an address a safe margin above the end
// of the current thread's stack; recursion stops with an error below it.
uintptr_t tpl_stack_floor(void);
static inline int tpl_stack_low(uintptr_t floor) {
    char probe;
    return (uintptr_t)&probe < floor;
}

// ---- UTF-8 helpers ----
int32_t utf8_next(const char *s, size_t n, size_t *i); // decode at *i, advance; bad byte -> itself
void utf8_put(abuf *b, int32_t cp);
int py_isspace(int32_t cp);

// ---- lexer ----
enum {
    T_EOF,
    T_DATA,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP,
};
enum { // operators
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
    OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
    OP_EQ, OP_NE, OP_GT, OP_GTEQ, OP_LT, OP_LTEQ, OP_ASSIGN, OP_DOT, OP_COLON,
    OP_PIPE, OP_COMMA, OP_SEMICOLON,
    // compare-only pseudo operators
    OP_IN, OP_NOTIN,
};
typedef struct {
    uint8_t type, op;
    uint32_t pos, len; // byte range in the (newline-normalized) source
    const char *s;     // T_NAME: interned name; T_DATA: text (s, n)
    size_t n;
    val v;             // T_STRING, T_INT, T_FLOAT
} token;

// ---- syntax tree ----
enum {
    // expressions
    N_CONST, N_NAME, N_GETATTR, N_GETITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NOT, N_NEG, N_POS, N_BIN, N_AND, N_OR, N_CONCAT, N_COMPARE, N_COND,
    N_LIST, N_TUPLE, N_DICT, N_NSREF,
    // statements
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_CALLBLOCK,
    N_FILTERBLOCK, N_BREAK, N_CONTINUE, N_WITH, N_BODY,
};
// Macro flags: which special names the body uses.
enum { MF_VARARGS = 1, MF_KWARGS = 2, MF_CALLER = 4 };

struct tnode {
    uint8_t kind;
    uint8_t op;        // N_BIN: OP_*; N_COMPARE: unused (ops[] below)
    uint32_t pos;      // byte offset of the node in the source
    const char *name;  // N_NAME, N_GETATTR attr, N_FILTER/N_TEST name, N_MACRO, N_NSREF
    const char *attr;  // N_NSREF attribute
    tnode *a, *b, *c, *d;
    tnode **kids; int nk;   // items / args / body / operands
    tnode **kids2; int nk2; // kwarg values / else-body / defaults / dict values
    tnode **kids3; int nk3; // N_WITH targets / values pairs
    const char **names; int nnames; // kwarg names / macro parameter names
    uint8_t *ops;      // N_COMPARE operators, nk entries
    int flags;         // N_MACRO / N_CALLBLOCK: MF_*
    int depth;         // expressions: height of the subtree (bounded by the parser)
    const void *impl;  // N_FILTER / N_TEST: builtin table entry (NULL: unknown, fails at run time)
    val v;             // N_CONST, N_TEXT
};

struct tpl_template {
    tpl_arena arena;
    char *name;
    char *src;     // newline-normalized source (positions point here)
    size_t src_len;
    tnode *root;   // N_BODY
};

// ---- render context ----
struct scope {
    scope *parent;
    int n, cap;
    const char **names; // interned (pointer-equal) or compared by strcmp
    val *vals;
};

struct rctx {
    tpl_arena *a;
    const tpl_template *t;
    jmp_buf *jb;
    abuf *out;
    scope *globals;
    struct tm now;
    int depth;        // macro call depth
    int loop_depth;
    val filter_input; // the body text of {% filter %} / {% set x | f %}
    const tnode *cur; // node being evaluated, for errors raised without one
    uintptr_t stack_floor;
};

// Errors: format "<name>:<line>:<col>: <message>" with err_set and unwind.
_Noreturn void r_fail(rctx *c, const tnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void r_fail_undef(rctx *c, const tnode *at, val u);
_Noreturn void r_fail_raw(rctx *c, const char *formatted); // message already has its position
void tpl_linecol(const tpl_template *t, uint32_t pos, int *line, int *col);

// ---- render helpers shared by builtins ----
val r_getattr(rctx *c, val obj, const char *name, size_t n, const tnode *at);
val r_getitem(rctx *c, val obj, val key, const tnode *at);
val r_call(rctx *c, val fn, cargs *a, const tnode *at);
vlist *r_iterate(rctx *c, val v, const tnode *at); // list of items (dict: keys, str: chars)
val r_binop(rctx *c, int op, val a, val b, const tnode *at);
int r_compare(rctx *c, int op, val a, val b, const tnode *at);
int r_lt(rctx *c, val a, val b, const tnode *at); // Python a < b (TypeError when unordered)
val r_str_method(rctx *c, val self, const char *name, size_t n);
val r_dict_method(rctx *c, val self, const char *name, size_t n);
val r_list_method(rctx *c, val self, const char *name, size_t n);
val r_loop_attr(rctx *c, val loop, const char *name, size_t n);
val r_printf_format(rctx *c, val fmt, val args, const tnode *at); // Python "fmt % args"
// Python str methods shared with filters (methods.c)
enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_SWAP };
val str_case(rctx *c, vstr *s, int mode);
val str_strip(rctx *c, vstr *s, vstr *chars, int which); // which: 1 left, 2 right, 3 both
val str_replace(rctx *c, vstr *s, vstr *old, vstr *rep, int64_t count);
val str_splitlines(rctx *c, vstr *s, int keepends);
val str_pad(rctx *c, vstr *s, int64_t width, vstr *fill, int mode); // 0 center, 1 ljust, 2 rjust
val str_format(rctx *c, vstr *fmt, cargs *a);
val r_dict_items(rctx *c, vdict *d);
val r_html_escape(rctx *c, val v); // markupsafe.escape: a Markup string

// ---- builtins (filters, tests, globals) ----
typedef struct {
    const char *name;
    builtin_fn fn;
} builtin_entry;
const builtin_entry *tpl_find_filter(const char *name);
const builtin_entry *tpl_find_test(const char *name);
const char *const *tpl_filter_names(size_t *n); // for did-you-mean
const char *const *tpl_test_names(size_t *n);
void tpl_add_globals(rctx *c, scope *s);
// Argument binding: fill out[0..np) from positional and keyword arguments by
// parameter name; unknown keywords and surplus positionals are errors.
void bind_args(rctx *c, cargs *a, const char *fname, int np, const char *const *names, val *out);
int64_t arg_int(rctx *c, cargs *a, val v, const char *what);

#endif
