// yaml.c — YAML documents as JSON values with a line map (see yaml.h).
#include "yaml.h"

#include "../core/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- scalars ----

// Strip '_' (YAML 1.1 digit separators) into buf; 0 when it does not fit.
static int strip_underscores(const char *s, char *buf, size_t n) {
    size_t j = 0;
    for (; *s; s++) {
        if (*s == '_') continue;
        if (j + 1 >= n) return 0;
        buf[j++] = *s;
    }
    buf[j] = 0;
    return 1;
}

static int all_of(const char *s, const char *set) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr(set, *s)) return 0;
    return 1;
}

// Float syntax: PyYAML's resolver plus mlx-lm's (which adds 1e-5 without a dot).
static int is_float_syntax(const char *s) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return 1;
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return 1;
    int digits = 0, dot = 0;
    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p) || *p == '_') p++, digits = 1;
    }
    if (*p == '.') {
        dot = 1;
        p++;
        int frac = 0;
        while (isdigit((unsigned char)*p) || *p == '_') p++, frac = 1;
        if (!digits && !frac) return 0;
    } else if (!digits) {
        return 0;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return 0;
        while (isdigit((unsigned char)*p)) p++;
        return *p == 0;
    }
    return dot && *p == 0;
}

yaml_scalar yaml_classify(const char *s, int plain, int64_t *iv, double *dv, int *bv) {
    if (!plain) return YS_STR;
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) return YS_NULL;
    static const char *const T[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const Fa[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        if (!strcmp(s, T[i])) return *bv = 1, YS_BOOL;
        if (!strcmp(s, Fa[i])) return *bv = 0, YS_BOOL;
    }
    char buf[128];
    if (!strip_underscores(s, buf, sizeof buf)) return YS_STR;
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int base = 0;
    const char *digits = p;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && all_of(p + 2, "0123456789abcdefABCDEF")) base = 16, digits = p + 2;
    else if (p[0] == '0' && p[1] == 'b' && all_of(p + 2, "01")) base = 2, digits = p + 2;
    else if (p[0] == '0' && p[1] && all_of(p + 1, "01234567")) base = 8, digits = p + 1;
    else if (all_of(p, "0123456789") && (p[0] != '0' || !p[1])) base = 10;
    if (base && s[0] != '_') {
        errno = 0;
        unsigned long long u = strtoull(digits, NULL, base);
        if (errno == 0 && u <= (unsigned long long)INT64_MAX) {
            *iv = neg ? -(int64_t)u : (int64_t)u;
            return YS_INT;
        }
        *dv = (neg ? -1.0 : 1.0) * strtod(digits, NULL); // too big for int64: keep the magnitude
        return YS_FLOAT;
    }
    if (is_float_syntax(s)) {
        const char *q = buf;
        int sneg = 0;
        if (*q == '+' || *q == '-') sneg = *q++ == '-';
        if (!strcasecmp(q, ".inf")) *dv = sneg ? -INFINITY : INFINITY;
        else if (!strcasecmp(q, ".nan")) *dv = NAN;
        else *dv = strtod(buf, NULL);
        return YS_FLOAT;
    }
    return YS_STR;
}

int yaml_node_plain(const yaml_node_t *n) { return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }
const char *yaml_node_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

const char *yaml_node_kind_name(const yaml_node_t *n) {
    if (!n) return "nothing";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    return "a value";
}

static char *where_of(const char *file, const yaml_node_t *n) {
    return xasprintf("%s:%zu", file, n ? n->start_mark.line + 1 : 1);
}

// ---- errors ----
int yaml_parse_error(const char *name, const yaml_parser_t *p) {
    const char *what = p->problem ? p->problem : "unreadable YAML";
    if (p->error == YAML_READER_ERROR)
        return err_set("%s: YAML error at byte %zu: %s", name, p->problem_offset, what);
    if (p->context)
        return err_set("%s:%zu:%zu: YAML syntax error: %s (%s at line %zu)", name, p->problem_mark.line + 1,
                       p->problem_mark.column + 1, what, p->context, p->context_mark.line + 1);
    return err_set("%s:%zu:%zu: YAML syntax error: %s", name, p->problem_mark.line + 1, p->problem_mark.column + 1, what);
}

static json_t *to_json(yaml_document_t *doc, const yaml_node_t *n, const char *file, const char *path, json_t *lines, int depth) {
    if (depth > 64) {
        char *w = where_of(file, n);
        err_set("%s: '%s' nests deeper than 64 levels", w, path);
        free(w);
        return NULL;
    }
    if (!n) return json_null();
    if (n->type == YAML_SCALAR_NODE) {
        int64_t iv;
        double dv;
        int bv;
        switch (yaml_classify(yaml_node_text(n), yaml_node_plain(n), &iv, &dv, &bv)) {
        case YS_NULL: return json_null();
        case YS_BOOL: return json_boolean(bv);
        case YS_INT: return json_integer(iv);
        case YS_FLOAT: return isfinite(dv) ? json_real(dv) : json_string(yaml_node_text(n));
        default: return json_string(yaml_node_text(n));
        }
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        yaml_node_item_t *it = n->data.sequence.items.start;
        int cnt = (int)(n->data.sequence.items.top - it);
        for (int i = 0; i < cnt; i++) {
            yaml_node_t *e = yaml_document_get_node(doc, it[i]);
            char *p = xasprintf("%s[%d]", path, i);
            if (e) json_object_set_new(lines, p, json_integer(e->start_mark.line + 1));
            json_t *j = to_json(doc, e, file, p, lines, depth + 1);
            free(p);
            if (!j) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, j);
        }
        return a;
    }
    json_t *o = json_object();
    yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
    int np = (int)(n->data.mapping.pairs.top - pairs);
    for (int i = 0; i < np; i++) {
        yaml_node_t *kn = yaml_document_get_node(doc, pairs[i].key);
        yaml_node_t *vn = yaml_document_get_node(doc, pairs[i].value);
        char *w = where_of(file, kn);
        if (kn->type != YAML_SCALAR_NODE || json_object_get(o, yaml_node_text(kn))) {
            if (kn->type != YAML_SCALAR_NODE) err_set("%s: a key in '%s' must be a name, got %s", w, path, yaml_node_kind_name(kn));
            else err_set("%s: duplicate key '%s' in '%s'", w, yaml_node_text(kn), path);
            free(w);
            json_decref(o);
            return NULL;
        }
        free(w);
        char *p = xasprintf("%s.%s", path, yaml_node_text(kn));
        json_object_set_new(lines, p, json_integer(kn->start_mark.line + 1));
        json_t *j = to_json(doc, vn, file, p, lines, depth + 1);
        free(p);
        if (!j) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, yaml_node_text(kn), j);
    }
    return o;
}

json_t *yaml_node_to_json(yaml_document_t *doc, const yaml_node_t *n, const char *file, const char *path, json_t *lines) {
    return to_json(doc, n, file, path, lines, 0);
}

// ---- whole documents ----
int yaml_load_string(const char *text, const char *name, json_t **out, json_t **lines) {
    *out = NULL;
    if (lines) *lines = NULL;
    yaml_parser_t parser;
    yaml_document_t doc, more;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parse_error(name, &parser);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = -1;
    json_t *lm = json_object();
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        err_set("%s: the file is empty (expected YAML)", name);
        goto out;
    }
    if (!yaml_parser_load(&parser, &more)) {
        yaml_parse_error(name, &parser);
        goto out;
    }
    yaml_node_t *second = yaml_document_get_root_node(&more);
    size_t second_line = second ? second->start_mark.line + 1 : 0;
    yaml_document_delete(&more);
    if (second) {
        err_set("%s:%zu: a second YAML document ('---'); expected one", name, second_line);
        goto out;
    }
    json_object_set_new(lm, "", json_integer((json_int_t)root->start_mark.line + 1));
    *out = to_json(&doc, root, name, "", lm, 0);
    if (*out) rc = 0;
out:
    if (rc == 0 && lines) *lines = lm;
    else json_decref(lm);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int yaml_load_file(const char *path, json_t **out, json_t **lines) {
    char *text;
    size_t len;
    *out = NULL;
    if (lines) *lines = NULL;
    if (file_read_all(path, &text, &len)) return -1;
    if (strlen(text) != len) {
        free(text);
        return err_set("%s: contains a NUL byte; expected YAML text", path);
    }
    int rc = yaml_load_string(text, path, out, lines);
    free(text);
    return rc;
}

int yaml_line(const json_t *lines, const char *path) {
    return (int)json_integer_value(json_object_get(lines, path));
}
