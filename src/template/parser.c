// parser.c — tokens to a syntax tree, mirroring jinja2's recursive-descent parser
// (same precedence, same tuple/filter/test rules), plus the template lifecycle:
// tpl_parse normalizes newlines like jinja2, lexes, parses, and checks filter and
// test names (unknown ones fail at parse time unless inside an if, where jinja2
// defers them to run time).
#include "tpl_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void tpl_lex(tpl_template *t, jmp_buf *jb, token **out, int *nout);

typedef struct {
    const char *tag;
    uint32_t pos;
    const char *end; // the closing tag ("endif")
} open_block;

typedef struct {
    tpl_template *t;
    jmp_buf *jb;
    token *tk;
    int ntk, i;
    open_block stack[256];
    int nstack;
    int loop_depth; // for break/continue and the 'loop' name check
    int depth;      // expression nesting, bounded so deep input cannot exhaust the stack
    uintptr_t stack_floor;
} parser;

#define MAX_EXPR_DEPTH 200  // parser recursion: parentheses, not, unary minus, inline if
#define MAX_TREE_DEPTH 1000 // height of an expression tree (long operator chains included)

typedef struct {
    tnode **v;
    int n, cap;
} nvec;

// ---- positions and errors ----
void tpl_linecol(const tpl_template *t, uint32_t pos, int *line, int *col) {
    int l = 1, c = 1;
    if (pos > t->src_len) pos = (uint32_t)t->src_len;
    for (uint32_t i = 0; i < pos; i++) {
        unsigned char ch = (unsigned char)t->src[i];
        if (ch == '\n') l++, c = 1;
        else if ((ch & 0xc0) != 0x80) c++;
    }
    *line = l, *col = c;
}

_Noreturn static void p_fail(parser *p, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void p_fail(parser *p, uint32_t pos, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    tpl_linecol(p->t, pos, &line, &col);
    err_set("%s:%d:%d: %s", p->t->name, line, col, msg);
    longjmp(*p->jb, 1);
}

static token *cur(parser *p) { return &p->tk[p->i]; }
static token *look(parser *p) { return &p->tk[p->i + 1 < p->ntk ? p->i + 1 : p->i]; }
static token *advance(parser *p) {
    token *k = &p->tk[p->i];
    if (p->i + 1 < p->ntk) p->i++;
    return k;
}

static const char *op_text(int op) {
    static const char *names[] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_FLOORDIV] = "//",
        [OP_MOD] = "%", [OP_POW] = "**", [OP_TILDE] = "~", [OP_LBRACKET] = "[", [OP_RBRACKET] = "]",
        [OP_LPAREN] = "(", [OP_RPAREN] = ")", [OP_LBRACE] = "{", [OP_RBRACE] = "}", [OP_EQ] = "==",
        [OP_NE] = "!=", [OP_GT] = ">", [OP_GTEQ] = ">=", [OP_LT] = "<", [OP_LTEQ] = "<=",
        [OP_ASSIGN] = "=", [OP_DOT] = ".", [OP_COLON] = ":", [OP_PIPE] = "|", [OP_COMMA] = ",",
        [OP_SEMICOLON] = ";", [OP_IN] = "in", [OP_NOTIN] = "not in",
    };
    return op > 0 && op < (int)(sizeof names / sizeof names[0]) && names[op] ? names[op] : "?";
}

static const char *describe(parser *p, token *k) {
    switch (k->type) {
    case T_EOF: return "end of template";
    case T_DATA: return "template text";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_STRING: return "a string literal";
    case T_INT: case T_FLOAT: {
        char *s = ta_alloc(&p->t->arena, k->len + 3);
        s[0] = '\'';
        memcpy(s + 1, p->t->src + k->pos, k->len);
        s[k->len + 1] = '\'';
        return s;
    }
    case T_NAME: {
        char *s = ta_alloc(&p->t->arena, k->n + 3);
        s[0] = '\'';
        memcpy(s + 1, k->s, k->n);
        s[k->n + 1] = '\'';
        return s;
    }
    case T_OP: {
        const char *o = op_text(k->op);
        char *s = ta_alloc(&p->t->arena, strlen(o) + 3);
        sprintf(s, "'%s'", o);
        return s;
    }
    }
    return "token";
}

static int is_name(token *k, const char *name) { return k->type == T_NAME && strcmp(k->s, name) == 0; }
static int is_op(token *k, int op) { return k->type == T_OP && k->op == op; }

static int skip_name(parser *p, const char *name) {
    if (!is_name(cur(p), name)) return 0;
    advance(p);
    return 1;
}
static int skip_op(parser *p, int op) {
    if (!is_op(cur(p), op)) return 0;
    advance(p);
    return 1;
}

// The innermost open block, as " (the 'if' opened at 3:4 is not closed)".
static const char *open_context(parser *p) {
    if (!p->nstack) return "";
    open_block *b = &p->stack[p->nstack - 1];
    int l, c;
    tpl_linecol(p->t, b->pos, &l, &c);
    char *s = ta_alloc(&p->t->arena, 160);
    snprintf(s, 160, " (the '%s' block opened at %d:%d is not closed)", b->tag, l, c);
    return s;
}

_Noreturn static void fail_expected(parser *p, const char *what) {
    token *k = cur(p);
    if (k->type == T_EOF) p_fail(p, k->pos, "expected %s, got end of template%s", what, open_context(p));
    p_fail(p, k->pos, "expected %s, got %s", what, describe(p, k));
}

static token *expect_op(parser *p, int op) {
    if (!is_op(cur(p), op)) {
        char what[16];
        snprintf(what, sizeof what, "'%s'", op_text(op));
        fail_expected(p, what);
    }
    return advance(p);
}

static token *expect_name(parser *p, const char *name) {
    token *k = cur(p);
    if (name ? !is_name(k, name) : k->type != T_NAME) {
        char what[64];
        if (name) snprintf(what, sizeof what, "'%s'", name);
        else snprintf(what, sizeof what, "a name");
        fail_expected(p, what);
    }
    return advance(p);
}

static void expect_type(parser *p, int type) {
    if (cur(p)->type != type) fail_expected(p, type == T_BLOCK_END ? "'%}'" : type == T_VAR_END ? "'}}'" : "a token");
    advance(p);
}

// ---- nodes ----
static tnode *node(parser *p, int kind, uint32_t pos) {
    tnode *n = ta_alloc(&p->t->arena, sizeof *n);
    n->kind = (uint8_t)kind;
    n->pos = pos;
    return n;
}

// Record a finished expression node's height; refuse trees the evaluator would
// have to recurse through too deeply.
static int max_depth(tnode **v, int n, int d) {
    for (int i = 0; i < n; i++)
        if (v[i] && v[i]->depth > d) d = v[i]->depth;
    return d;
}

static tnode *fin(parser *p, tnode *n) {
    tnode *ch[4] = {n->a, n->b, n->c, n->d};
    int d = max_depth(ch, 4, 0);
    d = max_depth(n->kids, n->nk, d);
    d = max_depth(n->kids2, n->nk2, d);
    n->depth = d + 1;
    if (n->depth > MAX_TREE_DEPTH)
        p_fail(p, n->pos, "expression nested too deeply (more than %d levels)", MAX_TREE_DEPTH);
    return n;
}

static void nv_push(parser *p, nvec *v, tnode *x) {
    if (v->n == v->cap) {
        int nc = v->cap ? v->cap * 2 : 4;
        v->v = ta_grow(&p->t->arena, v->v, (size_t)v->cap * sizeof(tnode *), (size_t)nc * sizeof(tnode *));
        v->cap = nc;
    }
    v->v[v->n++] = x;
}

static tnode *expr(parser *p);
static tnode *expr_nocond(parser *p);
static tnode *parse_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens,
                          int with_namespace);
static tnode *parse_primary(parser *p, int with_namespace);
static tnode *parse_postfix(parser *p, tnode *n);
static tnode *parse_filter(parser *p, tnode *n, int start_inline);
static tnode *subparse(parser *p, const char *const *ends);

// ---- expressions ----
static tnode *parse_or(parser *p);

static void enter(parser *p) {
    if (++p->depth > MAX_EXPR_DEPTH) p_fail(p, cur(p)->pos, "expression nested too deeply (more than %d levels)", MAX_EXPR_DEPTH);
}

static tnode *parse_condexpr(parser *p) {
    enter(p);
    tnode *e1 = parse_or(p);
    while (is_name(cur(p), "if")) {
        uint32_t pos = advance(p)->pos;
        tnode *e2 = parse_or(p);
        tnode *e3 = NULL;
        if (skip_name(p, "else")) e3 = parse_condexpr(p);
        tnode *n = node(p, N_COND, pos);
        n->a = e2, n->b = e1, n->c = e3;
        e1 = fin(p, n);
    }
    p->depth--;
    return e1;
}

static tnode *expr(parser *p) { return parse_condexpr(p); }
static tnode *expr_nocond(parser *p) { return parse_or(p); }

static tnode *parse_not(parser *p);
static tnode *parse_and(parser *p) {
    tnode *l = parse_not(p);
    while (is_name(cur(p), "and")) {
        uint32_t pos = advance(p)->pos;
        tnode *n = node(p, N_AND, pos);
        n->a = l, n->b = parse_not(p);
        l = fin(p, n);
    }
    return l;
}

static tnode *parse_or(parser *p) {
    tnode *l = parse_and(p);
    while (is_name(cur(p), "or")) {
        uint32_t pos = advance(p)->pos;
        tnode *n = node(p, N_OR, pos);
        n->a = l, n->b = parse_and(p);
        l = fin(p, n);
    }
    return l;
}

static tnode *parse_compare(parser *p);
static tnode *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        uint32_t pos = advance(p)->pos;
        tnode *n = node(p, N_NOT, pos);
        enter(p);
        n->a = parse_not(p);
        p->depth--;
        return fin(p, n);
    }
    return parse_compare(p);
}

static tnode *parse_math1(parser *p);
static tnode *parse_compare(parser *p) {
    tnode *first = parse_math1(p);
    nvec operands = {0};
    uint8_t ops[64];
    int nops = 0;
    uint32_t pos = 0;
    for (;;) {
        token *k = cur(p);
        int op = 0;
        if (k->type == T_OP && (k->op == OP_EQ || k->op == OP_NE || k->op == OP_LT || k->op == OP_LTEQ ||
                                k->op == OP_GT || k->op == OP_GTEQ)) {
            op = k->op;
            advance(p);
        } else if (is_name(k, "in")) {
            op = OP_IN;
            advance(p);
        } else if (is_name(k, "not") && is_name(look(p), "in")) {
            op = OP_NOTIN;
            advance(p), advance(p);
        } else break;
        if (!nops) pos = k->pos;
        if (nops == (int)sizeof ops) p_fail(p, k->pos, "too many chained comparisons");
        ops[nops++] = (uint8_t)op;
        nv_push(p, &operands, parse_math1(p));
    }
    if (!nops) return first;
    tnode *n = node(p, N_COMPARE, pos);
    n->a = first;
    n->kids = operands.v, n->nk = operands.n;
    n->ops = ta_alloc(&p->t->arena, (size_t)nops);
    memcpy(n->ops, ops, (size_t)nops);
    return fin(p, n);
}

static tnode *binary(parser *p, int op, uint32_t pos, tnode *a, tnode *b) {
    tnode *n = node(p, N_BIN, pos);
    n->op = (uint8_t)op;
    n->a = a, n->b = b;
    return fin(p, n);
}

static tnode *parse_concat(parser *p);
static tnode *parse_math1(parser *p) {
    tnode *l = parse_concat(p);
    while (is_op(cur(p), OP_ADD) || is_op(cur(p), OP_SUB)) {
        token *k = advance(p);
        l = binary(p, k->op, k->pos, l, parse_concat(p));
    }
    return l;
}

static tnode *parse_math2(parser *p);
static tnode *parse_concat(parser *p) {
    tnode *first = parse_math2(p);
    if (!is_op(cur(p), OP_TILDE)) return first;
    nvec args = {0};
    nv_push(p, &args, first);
    uint32_t pos = cur(p)->pos;
    while (skip_op(p, OP_TILDE)) nv_push(p, &args, parse_math2(p));
    tnode *n = node(p, N_CONCAT, pos);
    n->kids = args.v, n->nk = args.n;
    return fin(p, n);
}

static tnode *parse_pow(parser *p);
static tnode *parse_math2(parser *p) {
    tnode *l = parse_pow(p);
    while (is_op(cur(p), OP_MUL) || is_op(cur(p), OP_DIV) || is_op(cur(p), OP_FLOORDIV) || is_op(cur(p), OP_MOD)) {
        token *k = advance(p);
        l = binary(p, k->op, k->pos, l, parse_pow(p));
    }
    return l;
}

static tnode *parse_unary(parser *p, int with_filter);
static tnode *parse_pow(parser *p) {
    tnode *l = parse_unary(p, 1);
    while (is_op(cur(p), OP_POW)) {
        token *k = advance(p);
        l = binary(p, OP_POW, k->pos, l, parse_unary(p, 1));
    }
    return l;
}

static tnode *parse_filter_expr(parser *p, tnode *n);
static tnode *parse_unary(parser *p, int with_filter) {
    token *k = cur(p);
    tnode *n;
    if (is_op(k, OP_SUB) || is_op(k, OP_ADD)) {
        advance(p);
        n = node(p, k->op == OP_SUB ? N_NEG : N_POS, k->pos);
        enter(p);
        n->a = parse_unary(p, 0);
        p->depth--;
        fin(p, n);
    } else n = parse_primary(p, 0);
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    return n;
}

static tnode *const_node(parser *p, uint32_t pos, val v) {
    tnode *n = node(p, N_CONST, pos);
    n->v = v;
    return n;
}

static tnode *parse_list(parser *p) {
    token *open = expect_op(p, OP_LBRACKET);
    nvec items = {0};
    while (!is_op(cur(p), OP_RBRACKET)) {
        if (items.n) expect_op(p, OP_COMMA);
        if (is_op(cur(p), OP_RBRACKET)) break;
        nv_push(p, &items, expr(p));
    }
    expect_op(p, OP_RBRACKET);
    tnode *n = node(p, N_LIST, open->pos);
    n->kids = items.v, n->nk = items.n;
    return fin(p, n);
}

static tnode *parse_dict(parser *p) {
    token *open = expect_op(p, OP_LBRACE);
    nvec keys = {0}, vals = {0};
    while (!is_op(cur(p), OP_RBRACE)) {
        if (keys.n) expect_op(p, OP_COMMA);
        if (is_op(cur(p), OP_RBRACE)) break;
        nv_push(p, &keys, expr(p));
        expect_op(p, OP_COLON);
        nv_push(p, &vals, expr(p));
    }
    expect_op(p, OP_RBRACE);
    tnode *n = node(p, N_DICT, open->pos);
    n->kids = keys.v, n->nk = keys.n;
    n->kids2 = vals.v, n->nk2 = vals.n;
    return fin(p, n);
}

static tnode *parse_primary(parser *p, int with_namespace) {
    token *k = cur(p);
    if (k->type == T_NAME) {
        advance(p);
        if (!strcmp(k->s, "true") || !strcmp(k->s, "True")) return const_node(p, k->pos, v_bool(1));
        if (!strcmp(k->s, "false") || !strcmp(k->s, "False")) return const_node(p, k->pos, v_bool(0));
        if (!strcmp(k->s, "none") || !strcmp(k->s, "None")) return const_node(p, k->pos, v_none());
        if (with_namespace && is_op(cur(p), OP_DOT)) {
            advance(p);
            token *attr = expect_name(p, NULL);
            tnode *n = node(p, N_NSREF, k->pos);
            n->name = k->s, n->attr = attr->s;
            return n;
        }
        tnode *n = node(p, N_NAME, k->pos);
        n->name = k->s;
        return n;
    }
    if (k->type == T_STRING) {
        advance(p);
        if (cur(p)->type != T_STRING) return const_node(p, k->pos, k->v);
        abuf b;
        ab_init(&b, &p->t->arena);
        ab_add(&b, k->v.u.s->s, k->v.u.s->len);
        while (cur(p)->type == T_STRING) {
            token *s = advance(p);
            ab_add(&b, s->v.u.s->s, s->v.u.s->len);
        }
        return const_node(p, k->pos, ab_val(&b));
    }
    if (k->type == T_INT || k->type == T_FLOAT) {
        advance(p);
        return const_node(p, k->pos, k->v);
    }
    if (is_op(k, OP_LPAREN)) {
        advance(p);
        tnode *n = parse_tuple(p, 0, 1, NULL, 1, 0);
        expect_op(p, OP_RPAREN);
        return n;
    }
    if (is_op(k, OP_LBRACKET)) return parse_list(p);
    if (is_op(k, OP_LBRACE)) return parse_dict(p);
    fail_expected(p, "an expression");
}

static int is_tuple_end(parser *p, const char *extra_end) {
    token *k = cur(p);
    if (k->type == T_VAR_END || k->type == T_BLOCK_END || is_op(k, OP_RPAREN) || k->type == T_EOF) return 1;
    return extra_end && is_name(k, extra_end);
}

static tnode *parse_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens,
                          int with_namespace) {
    uint32_t pos = cur(p)->pos;
    nvec args = {0};
    int is_tuple = 0;
    for (;;) {
        if (args.n) expect_op(p, OP_COMMA);
        if (is_tuple_end(p, extra_end)) break;
        tnode *e = simplified ? parse_primary(p, with_namespace) : with_condexpr ? expr(p) : expr_nocond(p);
        nv_push(p, &args, e);
        if (is_op(cur(p), OP_COMMA)) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens) fail_expected(p, "an expression");
    }
    tnode *n = node(p, N_TUPLE, pos);
    n->kids = args.v, n->nk = args.n;
    return fin(p, n);
}

// Arguments of a call, filter or test: "(" args, name=value, *a, **kw ")".
static void parse_call_args(parser *p, tnode *n) {
    token *open = expect_op(p, OP_LPAREN);
    nvec args = {0}, kvals = {0};
    const char **knames = NULL;
    int kcap = 0, require_comma = 0;
    while (!is_op(cur(p), OP_RPAREN)) {
        if (require_comma) {
            expect_op(p, OP_COMMA);
            if (is_op(cur(p), OP_RPAREN)) break;
        }
        if (is_op(cur(p), OP_MUL)) {
            if (n->c || n->d) p_fail(p, open->pos, "invalid syntax for function call expression");
            advance(p);
            n->c = expr(p);
        } else if (is_op(cur(p), OP_POW)) {
            if (n->d) p_fail(p, open->pos, "invalid syntax for function call expression");
            advance(p);
            n->d = expr(p);
        } else if (cur(p)->type == T_NAME && is_op(look(p), OP_ASSIGN)) {
            if (n->d) p_fail(p, open->pos, "invalid syntax for function call expression");
            token *key = advance(p);
            advance(p);
            if (kvals.n == kcap) {
                int nc = kcap ? kcap * 2 : 4;
                knames = ta_grow(&p->t->arena, knames, (size_t)kcap * sizeof(char *), (size_t)nc * sizeof(char *));
                kcap = nc;
            }
            knames[kvals.n] = key->s;
            nv_push(p, &kvals, expr(p));
        } else {
            if (n->c || n->d || kvals.n)
                p_fail(p, cur(p)->pos, "invalid syntax for function call expression: positional argument after keyword argument");
            nv_push(p, &args, expr(p));
        }
        require_comma = 1;
    }
    expect_op(p, OP_RPAREN);
    n->kids = args.v, n->nk = args.n;
    n->kids2 = kvals.v, n->nk2 = kvals.n;
    n->names = knames, n->nnames = kvals.n;
}

static tnode *parse_subscribed(parser *p) {
    uint32_t pos = cur(p)->pos;
    tnode *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), OP_COLON)) advance(p);
    else {
        tnode *e = expr(p);
        if (!is_op(cur(p), OP_COLON)) return e;
        advance(p);
        args[0] = e;
    }
    if (!is_op(cur(p), OP_COLON) && !is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA)) args[1] = expr(p);
    if (is_op(cur(p), OP_COLON)) {
        advance(p);
        if (!is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA)) args[2] = expr(p);
    }
    tnode *n = node(p, N_SLICE, pos);
    n->a = args[0], n->b = args[1], n->c = args[2];
    return fin(p, n);
}

static tnode *parse_subscript(parser *p, tnode *obj) {
    token *k = advance(p);
    if (k->type == T_OP && k->op == OP_DOT) {
        token *a = cur(p);
        if (a->type == T_NAME) {
            advance(p);
            tnode *n = node(p, N_GETATTR, a->pos);
            n->a = obj, n->name = a->s;
            return fin(p, n);
        }
        if (a->type != T_INT) fail_expected(p, "an attribute name or number after '.'");
        advance(p);
        tnode *n = node(p, N_GETITEM, a->pos);
        n->a = obj, n->b = const_node(p, a->pos, a->v);
        return fin(p, n);
    }
    nvec args = {0};
    while (!is_op(cur(p), OP_RBRACKET)) {
        if (args.n) expect_op(p, OP_COMMA);
        nv_push(p, &args, parse_subscribed(p));
    }
    expect_op(p, OP_RBRACKET);
    tnode *n = node(p, N_GETITEM, k->pos);
    n->a = obj;
    if (args.n == 1) n->b = args.v[0];
    else {
        n->b = node(p, N_TUPLE, k->pos);
        n->b->kids = args.v, n->b->nk = args.n;
        fin(p, n->b);
    }
    return fin(p, n);
}

static tnode *parse_call(parser *p, tnode *fn) {
    tnode *n = node(p, N_CALL, cur(p)->pos);
    n->a = fn;
    parse_call_args(p, n);
    return fin(p, n);
}

static tnode *parse_postfix(parser *p, tnode *n) {
    for (;;) {
        token *k = cur(p);
        if (is_op(k, OP_DOT) || is_op(k, OP_LBRACKET)) n = parse_subscript(p, n);
        else if (is_op(k, OP_LPAREN)) n = parse_call(p, n);
        else return n;
    }
}

// A dotted filter or test name ("a.b" is accepted by jinja2's grammar).
static const char *dotted_name(parser *p) {
    token *k = expect_name(p, NULL);
    if (!is_op(cur(p), OP_DOT)) return k->s;
    abuf b;
    ab_init(&b, &p->t->arena);
    ab_adds(&b, k->s);
    while (skip_op(p, OP_DOT)) {
        ab_addc(&b, '.');
        ab_adds(&b, expect_name(p, NULL)->s);
    }
    return ab_val(&b).u.s->s;
}

static tnode *parse_filter(parser *p, tnode *n, int start_inline) {
    while (is_op(cur(p), OP_PIPE) || start_inline) {
        if (!start_inline) advance(p);
        uint32_t pos = cur(p)->pos;
        const char *name = dotted_name(p);
        tnode *f = node(p, N_FILTER, pos);
        f->a = n, f->name = name;
        const builtin_entry *e = tpl_find_filter(name);
        f->impl = e;
        if (is_op(cur(p), OP_LPAREN)) parse_call_args(p, f);
        n = fin(p, f);
        start_inline = 0;
    }
    return n;
}

static tnode *parse_test(parser *p, tnode *n) {
    token *is = advance(p);
    int negated = skip_name(p, "not");
    uint32_t pos = cur(p)->pos;
    const char *name = dotted_name(p);
    tnode *t = node(p, N_TEST, pos);
    t->a = n, t->name = name;
    t->impl = tpl_find_test(name);
    token *k = cur(p);
    if (is_op(k, OP_LPAREN)) parse_call_args(p, t);
    else if ((k->type == T_NAME || k->type == T_STRING || k->type == T_INT || k->type == T_FLOAT ||
              is_op(k, OP_LBRACKET) || is_op(k, OP_LBRACE)) &&
             !is_name(k, "else") && !is_name(k, "or") && !is_name(k, "and")) {
        if (is_name(k, "is")) p_fail(p, k->pos, "cannot chain multiple tests with 'is'");
        tnode *arg = parse_postfix(p, parse_primary(p, 0));
        t->kids = ta_alloc(&p->t->arena, sizeof(tnode *));
        t->kids[0] = arg, t->nk = 1;
    }
    fin(p, t);
    if (!negated) return t;
    tnode *no = node(p, N_NOT, is->pos);
    no->a = t;
    return fin(p, no);
}

static tnode *parse_filter_expr(parser *p, tnode *n) {
    for (;;) {
        token *k = cur(p);
        if (is_op(k, OP_PIPE)) n = parse_filter(p, n, 0);
        else if (is_name(k, "is")) n = parse_test(p, n);
        else if (is_op(k, OP_LPAREN)) n = parse_call(p, n);
        else return n;
    }
}

// ---- statements ----
static int can_assign(tnode *n) {
    if (n->kind == N_NAME || n->kind == N_NSREF) return 1;
    if (n->kind != N_TUPLE) return 0;
    for (int i = 0; i < n->nk; i++)
        if (!can_assign(n->kids[i])) return 0;
    return 1;
}

static int target_has_name(tnode *n, const char *name) {
    if (n->kind == N_NAME) return strcmp(n->name, name) == 0;
    if (n->kind == N_TUPLE)
        for (int i = 0; i < n->nk; i++)
            if (target_has_name(n->kids[i], name)) return 1;
    return 0;
}

static tnode *parse_assign_target(parser *p, const char *extra_end, int with_namespace) {
    uint32_t pos = cur(p)->pos;
    tnode *t = parse_tuple(p, 1, 1, extra_end, 0, with_namespace);
    if (!can_assign(t)) {
        const char *what = t->kind == N_CONST ? "a constant" : t->kind == N_TUPLE ? "this tuple" : "this expression";
        p_fail(p, pos, "cannot assign to %s", what);
    }
    if (p->loop_depth && target_has_name(t, "loop"))
        p_fail(p, pos, "cannot assign to the special 'loop' variable inside a for loop");
    return t;
}

static void push_block(parser *p, const char *tag, uint32_t pos, const char *end) {
    if (p->nstack == (int)(sizeof p->stack / sizeof p->stack[0])) p_fail(p, pos, "blocks nested too deeply");
    p->stack[p->nstack].tag = tag;
    p->stack[p->nstack].pos = pos;
    p->stack[p->nstack].end = end;
    p->nstack++;
}

// "%}" then the body up to one of ends; the current token is left on the end tag's
// name (dropped when drop is set).
static tnode *parse_statements(parser *p, const char *const *ends, int drop) {
    skip_op(p, OP_COLON);
    expect_type(p, T_BLOCK_END);
    tnode *body = subparse(p, ends);
    if (drop) advance(p);
    return body;
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF2[] = {"endif", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};
static const char *const END_WITH[] = {"endwith", NULL};
static const char *const END_GEN[] = {"endgeneration", NULL};
static const char *const END_BLOCK[] = {"endblock", NULL};

static tnode *parse_for(parser *p, token *tag) {
    tnode *target = parse_assign_target(p, "in", 0);
    if (target_has_name(target, "loop"))
        p_fail(p, target->pos, "cannot use 'loop' as a for-loop variable: it names the loop object");
    expect_name(p, "in");
    tnode *iter = parse_tuple(p, 0, 0, "recursive", 0, 0);
    tnode *test = NULL;
    if (skip_name(p, "if")) test = expr(p);
    if (is_name(cur(p), "recursive")) p_fail(p, cur(p)->pos, "recursive for loops are not supported");
    tnode *n = node(p, N_FOR, tag->pos);
    n->a = target, n->b = iter, n->c = test;
    push_block(p, "for", tag->pos, "endfor");
    p->loop_depth++;
    tnode *body = parse_statements(p, END_FOR, 0);
    p->loop_depth--;
    n->kids = body->kids, n->nk = body->nk;
    if (strcmp(advance(p)->s, "else") == 0) {
        tnode *e = parse_statements(p, END_FOR2, 1);
        n->kids2 = e->kids, n->nk2 = e->nk;
    }
    p->nstack--;
    return n;
}

static tnode *parse_if(parser *p, token *tag) {
    tnode *result = node(p, N_IF, tag->pos), *n = result;
    push_block(p, "if", tag->pos, "endif");
    for (;;) {
        n->a = parse_tuple(p, 0, 0, NULL, 0, 0);
        tnode *body = parse_statements(p, END_IF, 0);
        n->kids = body->kids, n->nk = body->nk;
        token *k = advance(p);
        if (!strcmp(k->s, "elif")) {
            tnode *e = node(p, N_IF, cur(p)->pos);
            n->kids2 = ta_alloc(&p->t->arena, sizeof(tnode *));
            n->kids2[0] = e, n->nk2 = 1;
            n = e;
            continue;
        }
        if (!strcmp(k->s, "else")) {
            tnode *e = parse_statements(p, END_IF2, 1);
            n->kids2 = e->kids, n->nk2 = e->nk;
        }
        break;
    }
    p->nstack--;
    return result;
}

static tnode *parse_set(parser *p, token *tag) {
    tnode *target = parse_assign_target(p, NULL, 1);
    if (skip_op(p, OP_ASSIGN)) {
        tnode *n = node(p, N_SET, tag->pos);
        n->a = target, n->b = parse_tuple(p, 0, 1, NULL, 0, 0);
        return n;
    }
    tnode *n = node(p, N_SETBLOCK, tag->pos);
    n->a = target;
    n->b = parse_filter(p, NULL, 0);
    push_block(p, "set", tag->pos, "endset");
    int ld = p->loop_depth;
    p->loop_depth = 0;
    tnode *body = parse_statements(p, END_SET, 1);
    p->loop_depth = ld;
    p->nstack--;
    n->kids = body->kids, n->nk = body->nk;
    return n;
}

// "(a, b=1, ...)": names into n->names, defaults into n->kids2 (for the last ones).
static void parse_signature(parser *p, tnode *n) {
    expect_op(p, OP_LPAREN);
    const char **names = NULL;
    int cap = 0, nn = 0;
    nvec defs = {0};
    while (!is_op(cur(p), OP_RPAREN)) {
        if (nn) expect_op(p, OP_COMMA);
        token *k = expect_name(p, NULL);
        if (nn == cap) {
            int nc = cap ? cap * 2 : 4;
            names = ta_grow(&p->t->arena, names, (size_t)cap * sizeof(char *), (size_t)nc * sizeof(char *));
            cap = nc;
        }
        names[nn++] = k->s;
        if (skip_op(p, OP_ASSIGN)) nv_push(p, &defs, expr(p));
        else if (defs.n) p_fail(p, k->pos, "non-default argument '%s' follows default argument", k->s);
    }
    expect_op(p, OP_RPAREN);
    n->names = names, n->nnames = nn;
    n->kids2 = defs.v, n->nk2 = defs.n;
}

static void scan_specials(tnode *n, int *flags, uintptr_t floor);
static void scan_list(tnode **v, int k, int *flags, uintptr_t floor) {
    for (int i = 0; i < k; i++) scan_specials(v[i], flags, floor);
}
static void scan_specials(tnode *n, int *flags, uintptr_t floor) {
    if (!n || tpl_stack_low(floor)) return; // too deep to matter: check_names rejects it
    if (n->kind == N_NAME) {
        if (!strcmp(n->name, "varargs")) *flags |= MF_VARARGS;
        else if (!strcmp(n->name, "kwargs")) *flags |= MF_KWARGS;
        else if (!strcmp(n->name, "caller")) *flags |= MF_CALLER;
    }
    scan_specials(n->a, flags, floor), scan_specials(n->b, flags, floor);
    scan_specials(n->c, flags, floor), scan_specials(n->d, flags, floor);
    scan_list(n->kids, n->nk, flags, floor), scan_list(n->kids2, n->nk2, flags, floor);
    scan_list(n->kids3, n->nk3, flags, floor);
}

static tnode *parse_macro(parser *p, token *tag) {
    token *name = expect_name(p, NULL);
    tnode *n = node(p, N_MACRO, tag->pos);
    n->name = name->s;
    parse_signature(p, n);
    push_block(p, "macro", tag->pos, "endmacro");
    int ld = p->loop_depth;
    p->loop_depth = 0;
    tnode *body = parse_statements(p, END_MACRO, 1);
    p->loop_depth = ld;
    p->nstack--;
    n->kids = body->kids, n->nk = body->nk;
    scan_list(n->kids, n->nk, &n->flags, p->stack_floor);
    return n;
}

static tnode *parse_call_block(parser *p, token *tag) {
    tnode *n = node(p, N_CALLBLOCK, tag->pos);
    if (is_op(cur(p), OP_LPAREN)) parse_signature(p, n);
    tnode *call = expr(p);
    if (call->kind != N_CALL) p_fail(p, call->pos, "expected a macro call after 'call'");
    n->a = call;
    n->name = "caller";
    push_block(p, "call", tag->pos, "endcall");
    int ld = p->loop_depth;
    p->loop_depth = 0;
    tnode *body = parse_statements(p, END_CALL, 1);
    p->loop_depth = ld;
    p->nstack--;
    n->kids = body->kids, n->nk = body->nk;
    scan_list(n->kids, n->nk, &n->flags, p->stack_floor);
    return n;
}

static tnode *parse_filter_block(parser *p, token *tag) {
    tnode *n = node(p, N_FILTERBLOCK, tag->pos);
    n->b = parse_filter(p, NULL, 1);
    push_block(p, "filter", tag->pos, "endfilter");
    int ld = p->loop_depth;
    p->loop_depth = 0;
    tnode *body = parse_statements(p, END_FILTER, 1);
    p->loop_depth = ld;
    p->nstack--;
    n->kids = body->kids, n->nk = body->nk;
    return n;
}

// {% with a = 1, b = 2 %} ... {% endwith %}; {% generation %} (HF) is a plain scope.
static tnode *parse_with(parser *p, token *tag, int generation) {
    tnode *n = node(p, N_WITH, tag->pos);
    nvec pairs = {0};
    if (!generation) {
        while (cur(p)->type != T_BLOCK_END) {
            if (pairs.n) expect_op(p, OP_COMMA);
            tnode *t = parse_assign_target(p, NULL, 0);
            expect_op(p, OP_ASSIGN);
            nv_push(p, &pairs, t);
            nv_push(p, &pairs, expr(p));
        }
    }
    push_block(p, generation ? "generation" : "with", tag->pos, generation ? "endgeneration" : "endwith");
    tnode *body = parse_statements(p, generation ? END_GEN : END_WITH, 1);
    p->nstack--;
    n->kids = body->kids, n->nk = body->nk;
    n->kids3 = pairs.v, n->nk3 = pairs.n;
    return n;
}

// {% block name %} renders its body in place (there is no inheritance here).
static tnode *parse_block(parser *p, token *tag) {
    token *name = expect_name(p, NULL);
    while (is_name(cur(p), "scoped") || is_name(cur(p), "required")) advance(p);
    tnode *n = node(p, N_WITH, tag->pos);
    push_block(p, "block", tag->pos, "endblock");
    tnode *body = parse_statements(p, END_BLOCK, 1);
    p->nstack--;
    skip_name(p, name->s);
    n->kids = body->kids, n->nk = body->nk;
    return n;
}

static tnode *output_node(parser *p, tnode *e) {
    tnode *n = node(p, N_OUTPUT, e->pos);
    n->a = e;
    return n;
}

static tnode *parse_print(parser *p, token *tag) {
    tnode *n = node(p, N_BODY, tag->pos);
    nvec items = {0};
    while (cur(p)->type != T_BLOCK_END) {
        if (items.n) expect_op(p, OP_COMMA);
        nv_push(p, &items, output_node(p, expr(p)));
    }
    n->kids = items.v, n->nk = items.n;
    return n;
}

static int in_list_n(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

_Noreturn static void fail_unknown_tag(parser *p, token *k) {
    static const char *const unsupported[] = {"extends", "include", "import", "from"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (!strcmp(k->s, unsupported[i]))
            p_fail(p, k->pos, "tag '%s' is not supported: a chat template cannot load other templates", k->s);
    for (int i = p->nstack - 1; i >= 0; i--) {
        if (strcmp(p->stack[i].end, k->s) != 0) continue;
        open_block *b = &p->stack[p->nstack - 1];
        int l, c;
        tpl_linecol(p->t, b->pos, &l, &c);
        p_fail(p, k->pos, "unexpected '%s': expected '%s' first to close the '%s' block opened at %d:%d", k->s,
               b->end, b->tag, l, c);
    }
    static const char *const closers[] = {"endif", "endfor", "endmacro", "endset", "endcall", "endfilter",
                                           "endwith", "endraw", "endblock", "endgeneration", "else", "elif"};
    if (in_list_n(k->s, closers, sizeof closers / sizeof closers[0])) {
        if (p->nstack) {
            open_block *b = &p->stack[p->nstack - 1];
            int l, c;
            tpl_linecol(p->t, b->pos, &l, &c);
            p_fail(p, k->pos, "unexpected '%s': expected '%s' to close the '%s' block opened at %d:%d", k->s, b->end,
                   b->tag, l, c);
        }
        p_fail(p, k->pos, "unexpected '%s': no block is open", k->s);
    }
    static const char *const known[] = {"for", "if", "set", "macro", "call", "filter", "raw", "break",
                                         "continue", "with", "print", "block", "generation", "endif",
                                         "endfor", "endmacro", "endset", "endcall", "endfilter", "endwith",
                                         "endraw", "endblock", "endgeneration", "else", "elif"};
    if (!strcmp(k->s, "raw")) p_fail(p, k->pos, "malformed raw tag: write {%% raw %%} (or {%%- raw %%}, {%% raw -%%})");
    const char *best = closest_match(k->s, known, sizeof known / sizeof known[0]);
    if (best) p_fail(p, k->pos, "unknown tag '%s'; did you mean '%s'?", k->s, best);
    p_fail(p, k->pos, "unknown tag '%s'", k->s);
}

static tnode *parse_statement(parser *p) {
    token *k = cur(p);
    if (k->type != T_NAME) fail_expected(p, "a tag name");
    advance(p);
    const char *s = k->s;
    if (!strcmp(s, "for")) return parse_for(p, k);
    if (!strcmp(s, "if")) return parse_if(p, k);
    if (!strcmp(s, "set")) return parse_set(p, k);
    if (!strcmp(s, "macro")) return parse_macro(p, k);
    if (!strcmp(s, "call")) return parse_call_block(p, k);
    if (!strcmp(s, "filter")) return parse_filter_block(p, k);
    if (!strcmp(s, "with")) return parse_with(p, k, 0);
    if (!strcmp(s, "generation")) return parse_with(p, k, 1);
    if (!strcmp(s, "block")) return parse_block(p, k);
    if (!strcmp(s, "print")) return parse_print(p, k);
    if (!strcmp(s, "break") || !strcmp(s, "continue")) {
        if (!p->loop_depth) p_fail(p, k->pos, "'%s' outside of a for loop", s);
        return node(p, s[0] == 'b' ? N_BREAK : N_CONTINUE, k->pos);
    }
    p->i--; // back onto the name for the message
    fail_unknown_tag(p, k);
}

static int in_list(const char *s, const char *const *list) {
    for (; list && *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

static tnode *subparse(parser *p, const char *const *ends) {
    nvec body = {0};
    for (;;) {
        token *k = cur(p);
        if (k->type == T_EOF) {
            if (ends) {
                char what[64];
                snprintf(what, sizeof what, "'%s'", p->stack[p->nstack - 1].end);
                fail_expected(p, what);
            }
            break;
        }
        if (k->type == T_DATA) {
            tnode *n = node(p, N_TEXT, k->pos);
            n->v = v_str(&p->t->arena, k->s, k->n);
            nv_push(p, &body, n);
            advance(p);
        } else if (k->type == T_VAR_BEGIN) {
            advance(p);
            tnode *e = parse_tuple(p, 0, 1, NULL, 0, 0);
            expect_type(p, T_VAR_END);
            nv_push(p, &body, output_node(p, e));
        } else if (k->type == T_BLOCK_BEGIN) {
            advance(p);
            if (ends && cur(p)->type == T_NAME && in_list(cur(p)->s, ends)) break;
            nv_push(p, &body, parse_statement(p));
            expect_type(p, T_BLOCK_END);
        } else fail_expected(p, "template text, '{{' or '{%'");
    }
    tnode *n = node(p, N_BODY, cur(p)->pos);
    n->kids = body.v, n->nk = body.n;
    return n;
}

// ---- filter and test names: unknown ones fail now unless inside if / inline if ----
static void check_names(parser *p, tnode *n, int soft);
static void check_list(parser *p, tnode **v, int k, int soft) {
    for (int i = 0; i < k; i++) check_names(p, v[i], soft);
}


static void check_names(parser *p, tnode *n, int soft) {
    if (!n) return;
    if (tpl_stack_low(p->stack_floor)) p_fail(p, n->pos, "expression nested too deeply");
    if ((n->kind == N_FILTER || n->kind == N_TEST) && !n->impl && !soft) {
        int is_filter = n->kind == N_FILTER;
        size_t cnt;
        const char *const *names = is_filter ? tpl_filter_names(&cnt) : tpl_test_names(&cnt);
        const char *best = closest_match(n->name, names, cnt);
        if (best) p_fail(p, n->pos, "no %s named '%s'; did you mean '%s'?", is_filter ? "filter" : "test", n->name, best);
        p_fail(p, n->pos, "no %s named '%s'", is_filter ? "filter" : "test", n->name);
    }
    switch (n->kind) {
    case N_IF:
        check_names(p, n->a, 1);
        check_list(p, n->kids, n->nk, 1);
        check_list(p, n->kids2, n->nk2, 1);
        return;
    case N_COND:
        check_names(p, n->a, 1), check_names(p, n->b, 1), check_names(p, n->c, 1);
        return;
    case N_FOR: // the iterable in this frame, the body in a new one
        check_names(p, n->b, soft);
        check_names(p, n->c, 0);
        check_list(p, n->kids, n->nk, 0);
        check_list(p, n->kids2, n->nk2, 0);
        return;
    case N_MACRO: case N_SETBLOCK: case N_FILTERBLOCK:
        check_names(p, n->b, 0);
        check_list(p, n->kids, n->nk, 0);
        check_list(p, n->kids2, n->nk2, soft);
        return;
    case N_CALLBLOCK:
        check_names(p, n->a, soft);
        check_list(p, n->kids, n->nk, 0);
        check_list(p, n->kids2, n->nk2, soft);
        return;
    case N_WITH:
        check_list(p, n->kids3, n->nk3, soft);
        check_list(p, n->kids, n->nk, 0);
        return;
    default:
        check_names(p, n->a, soft), check_names(p, n->b, soft), check_names(p, n->c, soft), check_names(p, n->d, soft);
        check_list(p, n->kids, n->nk, soft), check_list(p, n->kids2, n->nk2, soft), check_list(p, n->kids3, n->nk3, soft);
    }
}

// ---- lifecycle ----
tpl_template *tpl_parse(const char *src, const char *name) {
    tpl_template *t = xcalloc(1, sizeof *t);
    ta_init(&t->arena);
    t->name = xstrdup(name && *name ? name : "<template>");
    // newlines: \r\n and \r become \n; one trailing newline goes (keep_trailing_newline=False)
    size_t n = strlen(src);
    char *s = ta_alloc(&t->arena, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < n && src[i + 1] == '\n') i++;
        } else s[o++] = src[i];
    }
    if (o && s[o - 1] == '\n') o--;
    s[o] = 0;
    t->src = s, t->src_len = o;
    if (o > UINT32_MAX - 16) {
        err_set("%s: template too large (%zu bytes)", t->name, o);
        tpl_free(t);
        return NULL;
    }
    jmp_buf jb;
    parser *p = ta_alloc(&t->arena, sizeof *p);
    p->t = t, p->jb = &jb;
    p->stack_floor = tpl_stack_floor();
    if (setjmp(jb)) {
        tpl_free(t);
        return NULL;
    }
    t->arena.jb = &jb;
    tpl_lex(t, &jb, &p->tk, &p->ntk);
    t->root = subparse(p, NULL);
    check_list(p, t->root->kids, t->root->nk, 0);
    t->arena.jb = NULL; // the jump target ends here
    return t;
}

void tpl_free(tpl_template *t) {
    if (!t) return;
    ta_release(&t->arena);
    free(t->name);
    free(t);
}
