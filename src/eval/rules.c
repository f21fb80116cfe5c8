// rules.c — the eval rules file: stance sides with weighted, negation-aware
// patterns, the length band, loop and formatting settings, and the thresholds
// that decide pass/fail. Also the YAML key and type checks the prompt suite
// loader shares, so both files report errors the same way ("file:line: key: ...").
#include "eval_internal.h"

#include "../io/yaml.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

// ---- YAML checks ----
int ev_err(const ev_yaml *y, const char *path, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = yaml_line(y->lines, path);
    const char *p = path[0] == '.' ? path + 1 : path;
    if (line > 0 && *p) return err_set("%s:%d: %s: %s", y->file, line, p, msg);
    if (line > 0) return err_set("%s:%d: %s", y->file, line, msg);
    if (*p) return err_set("%s: %s: %s", y->file, p, msg);
    return err_set("%s: %s", y->file, msg);
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int ev_check_object(const ev_yaml *y, const json_t *o, const char *path, const char *const *keys) {
    if (!json_is_object(o)) return ev_err(y, path, "expected a mapping, got %s", type_name(o));
    const char *k;
    json_t *v;
    size_t n = 0;
    while (keys[n]) n++;
    json_object_foreach((json_t *)o, k, v) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++) known = strcmp(k, keys[i]) == 0;
        if (known) continue;
        char *kp = xasprintf("%s.%s", path, k);
        const char *near = closest_match(k, keys, n);
        strbuf list;
        sb_init(&list);
        for (size_t i = 0; i < n; i++) sb_printf(&list, "%s%s", i ? ", " : "", keys[i]);
        int line = yaml_line(y->lines, kp);
        if (near) err_set("%s:%d: unknown key '%s'%s%s; did you mean '%s'?", y->file, line, k, *path ? " in " : "",
                          *path ? path + 1 : "", near);
        else err_set("%s:%d: unknown key '%s'%s%s (known: %s)", y->file, line, k, *path ? " in " : "",
                     *path ? path + 1 : "", list.buf);
        sb_release(&list);
        free(kp);
        return -1;
    }
    return 0;
}

int ev_get_int(const ev_yaml *y, const json_t *o, const char *path, const char *key, int64_t lo, int64_t hi,
               int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char *kp = xasprintf("%s.%s", path, key);
    int rc = 0;
    if (!json_is_integer(v)) rc = ev_err(y, kp, "expected an integer, got %s", type_name(v));
    else if (json_integer_value(v) < lo || json_integer_value(v) > hi)
        rc = ev_err(y, kp, "must be between %lld and %lld, got %lld", (long long)lo, (long long)hi,
                    (long long)json_integer_value(v));
    else *out = json_integer_value(v);
    free(kp);
    return rc;
}

int ev_get_num(const ev_yaml *y, const json_t *o, const char *path, const char *key, double lo, double hi,
               int null_ok, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char *kp = xasprintf("%s.%s", path, key);
    int rc = 0;
    if (json_is_null(v) && null_ok) *out = NAN;
    else if (!json_is_number(v)) rc = ev_err(y, kp, "expected a number%s, got %s", null_ok ? " or null" : "", type_name(v));
    else if (!(json_number_value(v) >= lo && json_number_value(v) <= hi))
        rc = ev_err(y, kp, "must be between %g and %g, got %g", lo, hi, json_number_value(v));
    else *out = json_number_value(v);
    free(kp);
    return rc;
}

int ev_get_bool(const ev_yaml *y, const json_t *o, const char *path, const char *key, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        char *kp = xasprintf("%s.%s", path, key);
        int rc = ev_err(y, kp, "expected true or false, got %s", type_name(v));
        free(kp);
        return rc;
    }
    *out = json_is_true(v);
    return 0;
}

int ev_get_str(const ev_yaml *y, const json_t *o, const char *path, const char *key, const char **out) {
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        char *kp = xasprintf("%s.%s", path, key);
        int rc = ev_err(y, kp, "expected a non-empty string, got %s", json_is_string(v) ? "an empty one" : type_name(v));
        free(kp);
        return rc;
    }
    *out = json_string_value(v);
    return 0;
}

int ev_yaml_load(const char *path, const char *builtin, const char *builtin_name, json_t **root, json_t **lines,
                 char **source) {
    *root = *lines = NULL;
    *source = xstrdup(path ? path : builtin_name);
    int rc = path ? yaml_load_file(path, root, lines) : yaml_load_string(builtin, builtin_name, root, lines);
    if (rc) {
        free(*source);
        *source = NULL;
    }
    return rc;
}

// ---- regexes ----
// Compile a user regex (caseless, UTF, Unicode classes); NULL with the error set
// to "bad regex '...': <pcre2 message> at offset N".
static pcre2_code *ev_regex(const char *pattern) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set("bad regex '%s': %s at offset %zu", pattern, (const char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // optional speed-up; the interpreter works without it
    return re;
}

// The regex src written at path; an error names file:line and the path.
static pcre2_code *regex_at(const ev_yaml *y, const char *path, const char *src) {
    pcre2_code *re = ev_regex(src);
    if (!re) {
        char *m = xstrdup(err_msg());
        ev_err(y, path, "%s", m);
        free(m);
    }
    return re;
}

// ---- thresholds ----
const ev_threshold ev_thresholds[] = {
    {"max_loop_rate", "loops.rate", 0, "answers that loop", offsetof(eval_rules, max_loop_rate)},
    {"min_stance_rate", "stance.domain_rate", 1, "answers favouring the domain", offsetof(eval_rules, min_stance_rate)},
    {"min_well_formatted_rate", "formatting.well_formatted_rate", 1, "well formatted answers",
     offsetof(eval_rules, min_well_formatted_rate)},
    {"min_length_band_rate", "length_band.in_band_rate", 1, "answers inside the length band",
     offsetof(eval_rules, min_length_band_rate)},
    {"max_truncated_rate", "truncated.rate", 0, "answers cut at max tokens", offsetof(eval_rules, max_truncated_rate)},
    {"min_expected_rate", "expected.rate", 1, "answers with their expected content", offsetof(eval_rules, min_expected_rate)},
    {"max_val_loss_rise", "val_loss_rise", 0, "final validation loss above the best (relative)",
     offsetof(eval_rules, max_val_loss_rise)},
};
const int ev_n_thresholds = (int)(sizeof ev_thresholds / sizeof ev_thresholds[0]);

static double *threshold_field(eval_rules *r, int i) { return (double *)((char *)r + ev_thresholds[i].offset); }

json_t *eval_rules_thresholds(const eval_rules *r) {
    json_t *o = json_object();
    for (int i = 0; i < ev_n_thresholds; i++) {
        double v = *threshold_field((eval_rules *)r, i);
        json_object_set_new(o, ev_thresholds[i].key, isnan(v) ? json_null() : json_real(v));
    }
    return o;
}

// A thresholds mapping (".thresholds" in the line map) over r's.
static int read_thresholds(eval_rules *r, const ev_yaml *y, const json_t *s) {
    const char *k[16];
    for (int i = 0; i < ev_n_thresholds; i++) k[i] = ev_thresholds[i].key;
    k[ev_n_thresholds] = NULL;
    if (ev_check_object(y, s, ".thresholds", k)) return -1;
    for (int i = 0; i < ev_n_thresholds; i++)
        if (ev_get_num(y, s, ".thresholds", ev_thresholds[i].key, 0, strstr(ev_thresholds[i].key, "rise") ? 1e9 : 1, 1,
                       threshold_field(r, i)))
            return -1;
    return 0;
}

// ---- loading ----
static void rules_defaults(eval_rules *r) {
    memset(r, 0, sizeof *r);
    r->min_chars = 500, r->max_chars = 1500;
    r->loop_min_repeats = 3, r->loop_min_span_tokens = 16, r->loop_min_sentence_words = 3;
    r->min_list_items = 2, r->min_paragraphs = 2, r->well_formatted_min = 2;
    r->stance_margin = 0.2;
    r->max_loop_rate = 0, r->min_stance_rate = 0.8, r->min_well_formatted_rate = 0.6, r->min_length_band_rate = 0.7;
    r->max_truncated_rate = NAN, r->min_expected_rate = NAN, r->max_val_loss_rise = 0.05;
}

static int load_patterns(const ev_yaml *y, eval_stance_rules *st, const json_t *list, const char *path, int side) {
    if (!json_is_array(list) || json_array_size(list) == 0)
        return ev_err(y, path, "expected a non-empty list of patterns");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        char *ip = xasprintf("%s[%zu]", path, i);
        const char *src = NULL;
        double w = 1;
        int rc = 0, negate = 1;
        if (json_is_string(e)) {
            src = json_string_value(e);
        } else {
            static const char *const keys[] = {"pattern", "weight", "negate", "note", NULL};
            rc = ev_check_object(y, e, ip, keys);
            if (rc == 0) rc = ev_get_str(y, e, ip, "pattern", &src);
            if (rc == 0) rc = ev_get_num(y, e, ip, "weight", 0, 1e6, 0, &w);
            if (rc == 0) rc = ev_get_bool(y, e, ip, "negate", &negate);
            if (rc == 0 && !src) rc = ev_err(y, ip, "needs 'pattern'");
        }
        pcre2_code *re = NULL;
        if (rc == 0 && !(re = regex_at(y, ip, src))) rc = -1;
        free(ip);
        if (rc) return -1;
        st->pat = xrealloc(st->pat, (size_t)(st->n + 1) * sizeof *st->pat);
        st->pat[st->n++] = (ev_pattern){re, xstrdup(src), w, side, negate};
    }
    return 0;
}

static int load_stance(const ev_yaml *y, eval_rules *r, const json_t *s) {
    static const char *const keys[] = {"domain", "sides", "negation", "margin", "description", NULL};
    if (ev_check_object(y, s, ".stance", keys)) return -1;
    const char *domain = NULL;
    if (ev_get_str(y, s, ".stance", "domain", &domain) || ev_get_num(y, s, ".stance", "margin", 0, 1, 0, &r->stance_margin))
        return -1;
    json_t *sides = json_object_get(s, "sides");
    if (!json_is_object(sides) || json_object_size(sides) != 2)
        return ev_err(y, sides ? ".stance.sides" : ".stance", "expected 'sides': a mapping of exactly two sides (the domain's and the other)");
    if (!domain) return ev_err(y, ".stance", "needs 'domain': the name of the side the fine-tune should take");
    if (!json_object_get(sides, domain)) {
        const char *names[2];
        int k = 0;
        const char *n;
        json_t *v;
        json_object_foreach(sides, n, v) names[k++] = n;
        const char *near = closest_match(domain, names, 2);
        return ev_err(y, ".stance.domain", "'%s' is not one of the sides ('%s', '%s')%s%s%s", domain, names[0], names[1],
                      near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    eval_stance_rules *st = xcalloc(1, sizeof *st);
    r->stance = st;
    st->before = 5, st->after = 3;
    const char *name;
    json_t *side;
    json_object_foreach(sides, name, side) {
        int idx = strcmp(name, domain) == 0 ? 0 : 1;
        r->side[idx] = xstrdup(name);
        char *sp = xasprintf(".stance.sides.%s", name);
        static const char *const skeys[] = {"patterns", "description", NULL};
        int rc = ev_check_object(y, side, sp, skeys);
        if (rc == 0) {
            char *pp = xasprintf("%s.patterns", sp);
            json_t *pl = json_object_get(side, "patterns");
            rc = pl ? load_patterns(y, st, pl, pp, idx) : ev_err(y, sp, "needs 'patterns'");
            free(pp);
        }
        free(sp);
        if (rc) return -1;
    }
    json_t *neg = json_object_get(s, "negation");
    if (neg) {
        static const char *const nkeys[] = {"cues", "before", "after", NULL};
        if (ev_check_object(y, neg, ".stance.negation", nkeys) ||
            ev_get_int(y, neg, ".stance.negation", "before", 0, 50, &st->before) ||
            ev_get_int(y, neg, ".stance.negation", "after", 0, 50, &st->after))
            return -1;
        json_t *cues = json_object_get(neg, "cues");
        if (cues && !json_is_array(cues)) return ev_err(y, ".stance.negation.cues", "expected a list of regexes");
        size_t i;
        json_t *c;
        json_array_foreach(cues, i, c) {
            char *cp = xasprintf(".stance.negation.cues[%zu]", i);
            pcre2_code *re = NULL;
            int rc = 0;
            if (!json_is_string(c) || json_string_length(c) == 0) rc = ev_err(y, cp, "expected a non-empty string (a regex)");
            else if (!(re = regex_at(y, cp, json_string_value(c)))) rc = -1;
            free(cp);
            if (rc) return -1;
            st->cue = xrealloc(st->cue, (size_t)(st->n_cue + 1) * sizeof *st->cue);
            st->cue[st->n_cue++] = re;
        }
    }
    return 0;
}

static int load_rules(eval_rules *r, const json_t *root, const json_t *lines) {
    ev_yaml y = {r->source, lines};
    static const char *const keys[] = {"name", "description", "stance", "length", "loops", "formatting", "thresholds", NULL};
    if (ev_check_object(&y, root, "", keys)) return -1;
    const char *name = NULL;
    if (ev_get_str(&y, root, "", "name", &name)) return -1;
    r->name = xstrdup(name ? name : "rules");
    json_t *s;
    if ((s = json_object_get(root, "stance")) && load_stance(&y, r, s)) return -1;
    if ((s = json_object_get(root, "length"))) {
        static const char *const k[] = {"min_chars", "max_chars", NULL};
        if (ev_check_object(&y, s, ".length", k) || ev_get_int(&y, s, ".length", "min_chars", 0, INT64_MAX, &r->min_chars) ||
            ev_get_int(&y, s, ".length", "max_chars", 0, INT64_MAX, &r->max_chars))
            return -1;
        if (r->min_chars > r->max_chars)
            return ev_err(&y, ".length", "min_chars %lld is above max_chars %lld", (long long)r->min_chars,
                          (long long)r->max_chars);
    }
    if ((s = json_object_get(root, "loops"))) {
        static const char *const k[] = {"min_repeats", "min_span_tokens", "min_sentence_words", NULL};
        if (ev_check_object(&y, s, ".loops", k) || ev_get_int(&y, s, ".loops", "min_repeats", 2, 1000, &r->loop_min_repeats) ||
            ev_get_int(&y, s, ".loops", "min_span_tokens", 1, 100000, &r->loop_min_span_tokens) ||
            ev_get_int(&y, s, ".loops", "min_sentence_words", 1, 1000, &r->loop_min_sentence_words))
            return -1;
    }
    if ((s = json_object_get(root, "formatting"))) {
        static const char *const k[] = {"min_list_items", "min_paragraphs", "well_formatted_min", NULL};
        if (ev_check_object(&y, s, ".formatting", k) ||
            ev_get_int(&y, s, ".formatting", "min_list_items", 1, 1000, &r->min_list_items) ||
            ev_get_int(&y, s, ".formatting", "min_paragraphs", 1, 1000, &r->min_paragraphs) ||
            ev_get_int(&y, s, ".formatting", "well_formatted_min", 0, 3, &r->well_formatted_min))
            return -1;
    }
    if ((s = json_object_get(root, "thresholds")) && read_thresholds(r, &y, s)) return -1;
    return 0;
}

int eval_rules_set_thresholds(eval_rules *r, const json_t *thresholds, const char *file, const json_t *lines) {
    ev_yaml y = {file, lines};
    return read_thresholds(r, &y, thresholds);
}

static int rules_from(eval_rules *r, json_t *root, json_t *lines, char *source) {
    rules_defaults(r);
    r->source = source;
    int rc = load_rules(r, root, lines);
    json_decref(root);
    json_decref(lines);
    if (rc) eval_rules_release(r);
    return rc;
}

int eval_rules_load(eval_rules *r, const char *path) {
    json_t *root, *lines;
    char *source;
    rules_defaults(r);
    if (ev_yaml_load(path, eval_builtin_rules, "insulin-vs-cico.yaml (built in)", &root, &lines, &source)) return -1;
    return rules_from(r, root, lines, source);
}

int eval_rules_load_string(eval_rules *r, const char *text, const char *name) {
    json_t *root, *lines;
    rules_defaults(r);
    if (yaml_load_string(text, name, &root, &lines)) return -1;
    return rules_from(r, root, lines, xstrdup(name));
}

void eval_rules_release(eval_rules *r) {
    if (!r) return;
    if (r->stance) {
        for (int i = 0; i < r->stance->n; i++) {
            pcre2_code_free(r->stance->pat[i].re);
            free(r->stance->pat[i].source);
        }
        for (int i = 0; i < r->stance->n_cue; i++) pcre2_code_free(r->stance->cue[i]);
        free(r->stance->pat);
        free(r->stance->cue);
        free(r->stance);
    }
    free(r->side[0]);
    free(r->side[1]);
    free(r->source);
    free(r->name);
    memset(r, 0, sizeof *r);
}
