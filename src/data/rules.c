// rules.c — audit rules files: YAML → validated categories with compiled PCRE2
// patterns. Every mistake names the file and line ("rules.yaml:12: ...").
//
//   tiers:       {TIER: high|medium|low, ...}       value tiers, most valuable first
//   defaults:    {question_weight, answer_weight, min_hits, whole_word}
//   strategy:    score | first
//   categories:  [{name, description, value, keep, on_topic, patterns,
//                  question_weight, answer_weight, min_hits, whole_word}, ...]
//   uncategorized: {name, description, value, keep}
#include "data_internal.h"

#include "../io/yaml.h"

#include <stdlib.h>
#include <string.h>

const char *const keep_names[3] = {"keep", "review", "replace"};

// ---- the built-in rules (examples/audit-rules/*.yaml, linked in by rules_builtin.c) ----
extern const char lorac_rules_insulin[];

typedef struct {
    const char *name, *text, *origin;
} builtin_rules;

static const builtin_rules builtins[] = {
    {"insulin", lorac_rules_insulin, "examples/audit-rules/insulin.yaml"},
};

// ---- parsing helpers ----
typedef struct {
    const char *file;
    json_t *lines;
} rctx;

// "file:line" of a key path ("" root), or just "file" when the line is unknown.
static const char *at(const rctx *c, const char *path, char *buf, size_t n) {
    int line = yaml_line(c->lines, path);
    if (line) snprintf(buf, n, "%s:%d", c->file, line);
    else snprintf(buf, n, "%s", c->file);
    return buf;
}

#define AT(path) at(c, path, where, sizeof where)

static int check_keys(const rctx *c, json_t *obj, const char *path, const char *what, const char *const *allowed,
                      size_t n) {
    char where[1200], kp[1024];
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        size_t i = 0;
        while (i < n && strcmp(k, allowed[i])) i++;
        if (i < n) continue;
        snprintf(kp, sizeof kp, "%s.%s", path, k);
        const char *best = closest_match(k, allowed, n);
        if (best) return err_set("%s: %sunknown key '%s'; did you mean '%s'?", AT(kp), what, k, best);
        strbuf sb;
        sb_init(&sb);
        for (size_t j = 0; j < n; j++) sb_printf(&sb, "%s%s", j ? ", " : "", allowed[j]);
        err_set("%s: %sunknown key '%s' (expected one of: %s)", AT(kp), what, k, sb.buf);
        sb_release(&sb);
        return -1;
    }
    return 0;
}

// A number >= lo (whole: an integer) at obj.key; absent leaves *out alone.
static int get_num(const rctx *c, json_t *obj, const char *path, const char *key, double lo, int whole, double *out) {
    char where[1200], kp[1024];
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    snprintf(kp, sizeof kp, "%s.%s", path, key);
    if (!(whole ? json_is_integer(v) : json_is_number(v)) || json_number_value(v) < lo)
        return err_set("%s: '%s' must be a %s >= %g", AT(kp), key, whole ? "whole number" : "number", lo);
    *out = json_number_value(v);
    return 0;
}

static int get_number(const rctx *c, json_t *obj, const char *path, const char *key, double lo, double *out) {
    return get_num(c, obj, path, key, lo, 0, out);
}

static int get_int(const rctx *c, json_t *obj, const char *path, const char *key, int64_t lo, int64_t *out) {
    double d = (double)*out;
    if (get_num(c, obj, path, key, (double)lo, 1, &d)) return -1;
    *out = (int64_t)d;
    return 0;
}

static int get_bool(const rctx *c, json_t *obj, const char *path, const char *key, int *out) {
    char where[1200], kp[1024];
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    snprintf(kp, sizeof kp, "%s.%s", path, key);
    if (!json_is_boolean(v)) return err_set("%s: '%s' must be true or false", AT(kp), key);
    *out = json_is_true(v);
    return 0;
}

// A string value (NULL when absent and not required).
static int get_string(const rctx *c, json_t *obj, const char *path, const char *key, int required, const char **out) {
    char where[1200], kp[1024];
    json_t *v = json_object_get(obj, key);
    snprintf(kp, sizeof kp, "%s.%s", path, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) return err_set("%s: missing '%s'", AT(path), key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) return err_set("%s: '%s' must be a non-empty string", AT(kp), key);
    *out = json_string_value(v);
    return 0;
}

static int find_tier(const rctx *c, const audit_rules *r, const char *path, const char *name, int *out) {
    char where[1200], kp[1024];
    snprintf(kp, sizeof kp, "%s.value", path);
    for (int i = 0; i < r->n_tiers; i++)
        if (!strcmp(r->tiers[i], name)) return *out = i, 0;
    const char *best = closest_match(name, (const char *const *)r->tiers, (size_t)r->n_tiers);
    strbuf sb;
    sb_init(&sb);
    for (int i = 0; i < r->n_tiers; i++) sb_printf(&sb, "%s%s", i ? ", " : "", r->tiers[i]);
    if (best) err_set("%s: value '%s' is not a tier (%s); did you mean '%s'?", AT(kp), name, sb.buf, best);
    else err_set("%s: value '%s' is not a tier (%s)", AT(kp), name, sb.buf);
    sb_release(&sb);
    return -1;
}

static int find_keep(const rctx *c, const char *path, const char *s, keep_advice *out) {
    char where[1200], kp[1024];
    snprintf(kp, sizeof kp, "%s.keep", path);
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, keep_names[i])) return *out = (keep_advice)i, 0;
    const char *best = closest_match(s, keep_names, 3);
    if (best) return err_set("%s: keep '%s' must be keep, review or replace; did you mean '%s'?", AT(kp), s, best);
    return err_set("%s: keep '%s' must be keep, review or replace", AT(kp), s);
}

// ---- patterns ----
#define WORD_BEFORE "(?<![\\p{L}\\p{N}_])"
#define WORD_AFTER "(?![\\p{L}\\p{N}_])"
static const uint32_t RE_OPTS = PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP;

// Check one pattern on its own (errors point into the pattern as written) and
// append it to the category's alternation: alt[1] whole-word patterns, alt[0] the rest.
static int add_pattern(const rctx *c, const char *kp, const char *cat, const char *pat, int whole, strbuf alt[2]) {
    char where[1200];
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, RE_OPTS, &errcode, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return err_set("%s: category '%s': pattern '%s': %s at offset %zu", AT(kp), cat, pat, (const char *)msg, (size_t)off);
    }
    uint32_t minlen = 0;
    pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlen);
    pcre2_code_free(re);
    if (minlen == 0) return err_set("%s: category '%s': pattern '%s' can match the empty string", AT(kp), cat, pat);
    if (alt[whole].len) sb_putc(&alt[whole], '|');
    sb_printf(&alt[whole], "(?:%s)", pat);
    return 0;
}

static int compile_category(const rctx *c, rule_category *rc, const char *path, json_t *pats, int whole_default) {
    char where[1200], kp[1024];
    snprintf(kp, sizeof kp, "%s.patterns", path);
    if (!json_is_array(pats) || json_array_size(pats) == 0)
        return err_set("%s: category '%s': 'patterns' must be a non-empty list", AT(pats ? kp : path), rc->name);
    strbuf alt[2];
    sb_init(&alt[0]);
    sb_init(&alt[1]);
    rc->patterns = xcalloc(json_array_size(pats), sizeof *rc->patterns);
    size_t i;
    json_t *p;
    int rcode = 0;
    json_array_foreach(pats, i, p) {
        snprintf(kp, sizeof kp, "%s.patterns[%zu]", path, i);
        const char *pat = NULL;
        int whole = whole_default;
        if (json_is_object(p)) {
            static const char *const pkeys[] = {"pattern", "whole_word"};
            if (check_keys(c, p, kp, "", pkeys, 2) || get_string(c, p, kp, "pattern", 1, &pat) ||
                get_bool(c, p, kp, "whole_word", &whole)) {
                rcode = -1;
                break;
            }
        } else if (json_is_string(p) && json_string_length(p) > 0) {
            pat = json_string_value(p);
        } else {
            rcode = err_set("%s: category '%s': a pattern must be a non-empty string or {pattern, whole_word}", AT(kp), rc->name);
            break;
        }
        rc->patterns[rc->n_patterns++] = xstrdup(pat);
        if ((rcode = add_pattern(c, kp, rc->name, pat, whole, alt))) break;
    }
    if (rcode == 0) {
        // one regex: the word-boundary checks once around all whole-word
        // patterns (so alternatives are only tried where a word starts)
        strbuf all;
        sb_init(&all);
        if (alt[1].len) sb_printf(&all, WORD_BEFORE "(?:%s)" WORD_AFTER, alt[1].buf);
        if (alt[0].len) sb_printf(&all, "%s%s", all.len ? "|" : "", alt[0].buf);
        int errcode;
        PCRE2_SIZE off;
        rc->re = pcre2_compile((PCRE2_SPTR)all.buf, PCRE2_ZERO_TERMINATED, RE_OPTS, &errcode, &off, NULL);
        sb_release(&all);
        if (!rc->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            rcode = err_set("%s: category '%s': the patterns together: %s", AT(path), rc->name, (const char *)msg);
        } else {
            pcre2_jit_compile(rc->re, PCRE2_JIT_COMPLETE); // falls back to the interpreter when JIT is unavailable
        }
    }
    sb_release(&alt[0]);
    sb_release(&alt[1]);
    return rcode;
}

// ---- the document ----
typedef struct {
    double q_weight, a_weight;
    int64_t min_hits;
    int whole_word;
} rule_defaults;

static int parse_category(const rctx *c, audit_rules *r, json_t *o, size_t idx, const rule_defaults *d) {
    char where[1200], path[64];
    snprintf(path, sizeof path, ".categories[%zu]", idx);
    if (!json_is_object(o)) return err_set("%s: categories[%zu] must be a mapping (name, value, keep, patterns)", AT(path), idx);
    static const char *const keys[] = {"name", "description", "value", "keep", "on_topic", "patterns",
                                       "question_weight", "answer_weight", "min_hits", "whole_word"};
    char what[80];
    json_t *nm = json_object_get(o, "name");
    snprintf(what, sizeof what, "category '%s': ", json_is_string(nm) ? json_string_value(nm) : "?");
    if (check_keys(c, o, path, what, keys, sizeof keys / sizeof *keys)) return -1;
    rule_category *rc = &r->cats[r->n_cats];
    const char *name, *desc, *value, *keep;
    if (get_string(c, o, path, "name", 1, &name) || get_string(c, o, path, "description", 0, &desc) ||
        get_string(c, o, path, "value", 1, &value) || get_string(c, o, path, "keep", 1, &keep))
        return -1;
    for (int i = 0; i < r->n_cats; i++)
        if (!strcmp(r->cats[i].name, name)) return err_set("%s: category '%s' is defined twice", AT(path), name);
    rc->name = xstrdup(name);
    rc->description = desc ? xstrdup(desc) : NULL;
    r->n_cats++; // from here on audit_rules_free releases it
    rc->on_topic = 1;
    rc->q_weight = d->q_weight, rc->a_weight = d->a_weight, rc->min_hits = d->min_hits;
    int whole = d->whole_word;
    if (find_tier(c, r, path, value, &rc->tier) || find_keep(c, path, keep, &rc->keep) ||
        get_bool(c, o, path, "on_topic", &rc->on_topic) || get_number(c, o, path, "question_weight", 0, &rc->q_weight) ||
        get_number(c, o, path, "answer_weight", 0, &rc->a_weight) || get_int(c, o, path, "min_hits", 1, &rc->min_hits) ||
        get_bool(c, o, path, "whole_word", &whole))
        return -1;
    if (rc->q_weight == 0 && rc->a_weight == 0)
        return err_set("%s: category '%s': question_weight and answer_weight are both 0", AT(path), name);
    return compile_category(c, rc, path, json_object_get(o, "patterns"), whole);
}

static int parse_rules(audit_rules *r, json_t *doc, const rctx *c) {
    char where[1200];
    if (!json_is_object(doc)) return err_set("%s: expected a mapping with 'tiers' and 'categories'", AT(""));
    static const char *const keys[] = {"name", "description", "tiers", "defaults", "strategy", "categories", "uncategorized"};
    if (check_keys(c, doc, "", "", keys, sizeof keys / sizeof *keys)) return -1;
    const char *name;
    if (get_string(c, doc, "", "name", 0, &name)) return -1;
    r->name = xstrdup(name ? name : "rules");
    // tiers
    json_t *tiers = json_object_get(doc, "tiers");
    if (!json_is_object(tiers) || json_object_size(tiers) == 0)
        return err_set("%s: 'tiers' must be a mapping of value tiers, most valuable first (HIGH: high, ...)",
                       AT(tiers ? ".tiers" : ""));
    r->tiers = xcalloc(json_object_size(tiers), sizeof *r->tiers);
    r->tier_group = xcalloc(json_object_size(tiers), sizeof *r->tier_group);
    const char *k;
    json_t *v;
    static const char *const groups[] = {"high", "medium", "low"};
    json_object_foreach(tiers, k, v) {
        char kp[1024];
        snprintf(kp, sizeof kp, ".tiers.%s", k);
        const char *g = json_string_value(v);
        int ok = g && (!strcmp(g, "high") || !strcmp(g, "medium") || !strcmp(g, "low"));
        if (!ok) {
            const char *best = g ? closest_match(g, groups, 3) : NULL;
            if (best) return err_set("%s: tier '%s': group must be high, medium or low; did you mean '%s'?", AT(kp), k, best);
            return err_set("%s: tier '%s': group must be high, medium or low", AT(kp), k);
        }
        r->tiers[r->n_tiers] = xstrdup(k);
        r->tier_group[r->n_tiers++] = xstrdup(g);
    }
    // defaults and strategy
    rule_defaults d = {3, 1, 1, 1};
    json_t *def = json_object_get(doc, "defaults");
    if (def) {
        static const char *const dkeys[] = {"question_weight", "answer_weight", "min_hits", "whole_word"};
        if (!json_is_object(def)) return err_set("%s: 'defaults' must be a mapping", AT(".defaults"));
        if (check_keys(c, def, ".defaults", "defaults: ", dkeys, 4) ||
            get_number(c, def, ".defaults", "question_weight", 0, &d.q_weight) ||
            get_number(c, def, ".defaults", "answer_weight", 0, &d.a_weight) ||
            get_int(c, def, ".defaults", "min_hits", 1, &d.min_hits) || get_bool(c, def, ".defaults", "whole_word", &d.whole_word))
            return -1;
    }
    const char *strat;
    if (get_string(c, doc, "", "strategy", 0, &strat)) return -1;
    if (strat && strcmp(strat, "score") && strcmp(strat, "first"))
        return err_set("%s: strategy '%s' must be 'score' (highest weighted score wins) or 'first' (first category with min_hits)",
                       AT(".strategy"), strat);
    r->strategy = strat && !strcmp(strat, "first") ? STRATEGY_FIRST : STRATEGY_SCORE;
    // categories
    json_t *cats = json_object_get(doc, "categories");
    if (!json_is_array(cats) || json_array_size(cats) == 0)
        return err_set("%s: 'categories' must be a non-empty list, in priority order", AT(cats ? ".categories" : ""));
    r->cats = xcalloc(json_array_size(cats) + 1, sizeof *r->cats);
    size_t i;
    json_t *o;
    json_array_foreach(cats, i, o) if (parse_category(c, r, o, i, &d)) return -1;
    // the fallback for examples no category claims
    rule_category *fb = &r->cats[r->n_cats];
    json_t *un = json_object_get(doc, "uncategorized");
    const char *fname = "uncategorized", *fdesc = NULL, *fvalue = NULL, *fkeep = "replace";
    fb->tier = r->n_tiers - 1;
    if (un) {
        static const char *const ukeys[] = {"name", "description", "value", "keep"};
        if (!json_is_object(un)) return err_set("%s: 'uncategorized' must be a mapping (name, value, keep)", AT(".uncategorized"));
        if (check_keys(c, un, ".uncategorized", "uncategorized: ", ukeys, 4) ||
            get_string(c, un, ".uncategorized", "name", 0, &fname) ||
            get_string(c, un, ".uncategorized", "description", 0, &fdesc) ||
            get_string(c, un, ".uncategorized", "value", 0, &fvalue) || get_string(c, un, ".uncategorized", "keep", 0, &fkeep))
            return -1;
        if (!fname) fname = "uncategorized";
        if (!fkeep) fkeep = "replace";
    }
    for (int j = 0; j < r->n_cats; j++)
        if (!strcmp(r->cats[j].name, fname))
            return err_set("%s: '%s' names both a category and the uncategorized examples", AT(".uncategorized"), fname);
    fb->name = xstrdup(fname);
    fb->description = xstrdup(fdesc ? fdesc : "no category's patterns matched");
    if ((fvalue && find_tier(c, r, ".uncategorized", fvalue, &fb->tier)) || find_keep(c, ".uncategorized", fkeep, &fb->keep))
        return -1;
    fb->on_topic = 0;
    return 0;
}

// ---- public ----
static audit_rules *from_json(json_t *doc, json_t *lines, const char *file) {
    audit_rules *r = xcalloc(1, sizeof *r);
    r->source = xstrdup(file);
    rctx c = {file, lines};
    int rc = parse_rules(r, doc, &c);
    json_decref(doc);
    json_decref(lines);
    if (rc) {
        audit_rules_free(r);
        return NULL;
    }
    return r;
}

audit_rules *audit_rules_parse(const char *yaml, const char *name) {
    json_t *doc, *lines;
    if (yaml_load_string(yaml, name, &doc, &lines)) return NULL;
    return from_json(doc, lines, name);
}

audit_rules *audit_rules_load(const char *spec) {
    if (!spec) spec = "insulin";
    if (!file_exists(spec) || dir_exists(spec)) {
        for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
            if (!strcmp(spec, builtins[i].name)) {
                char *origin = xasprintf("%s (built in)", builtins[i].origin);
                audit_rules *r = audit_rules_parse(builtins[i].text, origin);
                free(origin);
                return r;
            }
        if (dir_exists(spec)) return err_set("%s: is a directory, expected a rules YAML file", spec), NULL;
        err_set("%s: no such rules file", spec);
        err_hint("built-in rules: insulin (examples/audit-rules/insulin.yaml)");
        return NULL;
    }
    json_t *doc, *lines;
    if (yaml_load_file(spec, &doc, &lines)) return NULL;
    return from_json(doc, lines, spec);
}

void audit_rules_free(audit_rules *r) {
    if (!r) return;
    for (int i = 0; i <= r->n_cats && r->cats; i++) {
        rule_category *c = &r->cats[i];
        free(c->name);
        free(c->description);
        for (int j = 0; j < c->n_patterns; j++) free(c->patterns[j]);
        free(c->patterns);
        pcre2_code_free(c->re);
    }
    free(r->cats);
    for (int i = 0; i < r->n_tiers; i++) free(r->tiers[i]), free(r->tier_group[i]);
    free(r->tiers);
    free(r->tier_group);
    free(r->name);
    free(r->source);
    free(r);
}

int audit_rules_count(const audit_rules *r) { return r->n_cats; }
const char *audit_rules_source(const audit_rules *r) { return r->source; }
const char *audit_category_name(const audit_rules *r, int c) { return r->cats[c].name; }
