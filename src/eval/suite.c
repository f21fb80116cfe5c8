// suite.c — test-prompt suites: categories of prompts, each with its purpose, its
// expected length band, which checks count (stance, formatting), strings a
// correct answer contains, and suggested sampling (flags given on the command
// line win). The built-in suite is examples/prompts/default.yaml, compiled in.
#include "eval_internal.h"

#include "../io/yaml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const sampling_keys[] = {"temp", "top_p", "top_k", "min_p", "repetition_penalty",
                                            "repetition_context_size", "presence_penalty", "frequency_penalty",
                                            "max_tokens", NULL};

// Check a sampling mapping and merge it over *into (a new object when NULL).
static int merge_sampling(const ev_yaml *y, const json_t *s, const char *path, json_t **into) {
    if (!s) return 0;
    char *sp = xasprintf("%s.sampling", path);
    double d = 0;
    int64_t iv = 0;
    int rc = ev_check_object(y, s, sp, sampling_keys);
    if (rc == 0)
        rc = ev_get_num(y, s, sp, "temp", 0, 100, 0, &d) || ev_get_num(y, s, sp, "top_p", 1e-9, 1, 0, &d) ||
             ev_get_int(y, s, sp, "top_k", 0, 1 << 30, &iv) || ev_get_num(y, s, sp, "min_p", 0, 1, 0, &d) ||
             ev_get_num(y, s, sp, "repetition_penalty", 1e-9, 100, 0, &d) ||
             ev_get_int(y, s, sp, "repetition_context_size", 0, 1 << 30, &iv) ||
             ev_get_num(y, s, sp, "presence_penalty", -100, 100, 0, &d) ||
             ev_get_num(y, s, sp, "frequency_penalty", -100, 100, 0, &d) ||
             ev_get_int(y, s, sp, "max_tokens", 1, 1 << 30, &iv);
    free(sp);
    if (rc) return -1;
    json_t *m = *into ? json_deep_copy(*into) : json_object();
    json_object_update(m, (json_t *)s);
    json_decref(*into);
    *into = m;
    return 0;
}

// Settings a category or a prompt may carry over its parent's.
static int item_settings(const ev_yaml *y, json_t *o, const char *path, eval_item_opts *opts, json_t **sampling) {
    json_t *len = json_object_get(o, "length");
    if (len) {
        char *lp = xasprintf("%s.length", path);
        int bad = !json_is_array(len) || json_array_size(len) != 2 || !json_is_integer(json_array_get(len, 0)) ||
                  !json_is_integer(json_array_get(len, 1)) || json_integer_value(json_array_get(len, 0)) < 0 ||
                  json_integer_value(json_array_get(len, 0)) > json_integer_value(json_array_get(len, 1));
        int rc = bad ? ev_err(y, lp, "expected [min_chars, max_chars], two integers with 0 <= min <= max") : 0;
        free(lp);
        if (rc) return -1;
        opts->min_chars = json_integer_value(json_array_get(len, 0));
        opts->max_chars = json_integer_value(json_array_get(len, 1));
    }
    if (ev_get_bool(y, o, path, "stance", &opts->stance) || ev_get_bool(y, o, path, "formatting", &opts->formatting))
        return -1;
    json_t *ex = json_object_get(o, "expect");
    if (ex) {
        if (json_is_string(ex)) {
            json_object_set_new(o, "expect", json_pack("[O]", ex));
            ex = json_object_get(o, "expect");
        }
        size_t i;
        json_t *e;
        int ok = json_is_array(ex) && json_array_size(ex) > 0;
        json_array_foreach(ex, i, e) ok &= json_is_string(e) && json_string_length(e) > 0;
        if (!ok) {
            char *ep = xasprintf("%s.expect", path);
            int rc = ev_err(y, ep, "expected a string or a list of non-empty strings");
            free(ep);
            return rc;
        }
        opts->expect = ex;
    }
    return merge_sampling(y, json_object_get(o, "sampling"), path, sampling);
}

static int load_suite(eval_suite *s, const json_t *lines, const eval_rules *r) {
    ev_yaml y = {s->source, lines};
    json_t *root = s->root;
    static const char *const keys[] = {"name", "description", "sampling", "categories", NULL};
    static const char *const ckeys[] = {"name", "purpose", "description", "length", "stance", "formatting", "expect",
                                        "sampling", "prompts", NULL};
    static const char *const pkeys[] = {"prompt", "purpose", "length", "stance", "formatting", "expect", "sampling", NULL};
    if (ev_check_object(&y, root, "", keys)) return -1;
    const char *name = "suite";
    if (ev_get_str(&y, root, "", "name", &name)) return -1;
    s->name = xstrdup(name);
    json_t *top_sampling = NULL;
    if (merge_sampling(&y, json_object_get(root, "sampling"), "", &top_sampling)) return -1;
    json_t *cats = json_object_get(root, "categories");
    int rc = 0;
    if (!json_is_array(cats) || json_array_size(cats) == 0)
        rc = ev_err(&y, cats ? ".categories" : "", "expected 'categories': a non-empty list");
    size_t ci;
    json_t *c;
    json_array_foreach(cats, ci, c) {
        if (rc) break;
        char *cp = xasprintf(".categories[%zu]", ci);
        const char *cname = NULL, *cpurpose = NULL;
        eval_item_opts copts;
        eval_item_opts_init(&copts, r);
        json_t *csampling = top_sampling ? json_deep_copy(top_sampling) : NULL;
        rc = ev_check_object(&y, c, cp, ckeys) || ev_get_str(&y, c, cp, "name", &cname) ||
             ev_get_str(&y, c, cp, "purpose", &cpurpose) || item_settings(&y, c, cp, &copts, &csampling);
        if (rc == 0 && !cname) rc = ev_err(&y, cp, "needs 'name'");
        json_t *prompts = json_object_get(c, "prompts");
        if (rc == 0 && (!json_is_array(prompts) || json_array_size(prompts) == 0))
            rc = ev_err(&y, cp, "needs 'prompts': a non-empty list");
        size_t pi;
        json_t *p;
        json_array_foreach(prompts, pi, p) {
            if (rc) break;
            char *pp = xasprintf("%s.prompts[%zu]", cp, pi);
            eval_item_opts popts = copts;
            json_t *psampling = csampling ? json_deep_copy(csampling) : NULL;
            const char *text = NULL, *purpose = cpurpose;
            if (json_is_string(p)) {
                text = json_string_value(p);
            } else {
                rc = ev_check_object(&y, p, pp, pkeys) || ev_get_str(&y, p, pp, "prompt", &text) ||
                     ev_get_str(&y, p, pp, "purpose", &purpose) || item_settings(&y, p, pp, &popts, &psampling);
                if (rc == 0 && !text) rc = ev_err(&y, pp, "needs 'prompt'");
            }
            if (rc == 0 && (!text || !*text)) rc = ev_err(&y, pp, "the prompt is empty");
            if (rc == 0) {
                s->p = xrealloc(s->p, (size_t)(s->n + 1) * sizeof *s->p);
                eval_prompt *e = &s->p[s->n++];
                e->category = xstrdup(cname);
                e->purpose = purpose ? xstrdup(purpose) : NULL;
                e->prompt = xstrdup(text);
                e->line = yaml_line(lines, pp);
                e->opts = popts;
                e->sampling = psampling;
            } else {
                json_decref(psampling);
            }
            free(pp);
        }
        json_decref(csampling);
        free(cp);
    }
    json_decref(top_sampling);
    return rc ? -1 : 0;
}

int eval_suite_load(eval_suite *s, const char *path, const eval_rules *r) {
    memset(s, 0, sizeof *s);
    json_t *lines;
    const char *file = path && !(strcmp(path, "default") == 0 && !file_exists(path)) ? path : NULL;
    if (ev_yaml_load(file, eval_builtin_prompts, "default.yaml (built in)", &s->root, &lines, &s->source)) return -1;
    int rc = load_suite(s, lines, r);
    json_decref(lines);
    if (rc) eval_suite_release(s);
    return rc;
}

void eval_suite_release(eval_suite *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n; i++) {
        free(s->p[i].category);
        free(s->p[i].purpose);
        free(s->p[i].prompt);
        json_decref(s->p[i].sampling);
    }
    free(s->p);
    free(s->source);
    free(s->name);
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}
