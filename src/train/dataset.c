// dataset.c — JSONL records (messages / prompt+completion / text) and their
// tokenization with the prompt boundary.
#include "dataset.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// ---- problems: the first error, or every problem ----
// A check reports through vctx. In first-error mode (out == NULL) an error is
// stored with err_set and warnings are dropped; in collecting mode both are
// appended to out. Errors return -1 (the line is bad, stop checking it).
typedef struct {
    const char *path;
    int64_t line;
    ds_issues *out;
    int flags; // DATASET_PROMPTS
} vctx;

static int report(vctx *c, ds_level lv, const char *kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int report(vctx *c, ds_level lv, const char *kind, const char *fmt, ...) {
    if (!c->out && lv == DS_WARNING) return 0;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    // fmt starts after "path:line" (": ..." or ":col: ...")
    char where[64] = ""; // line 0: the file as a whole
    if (c->line) snprintf(where, sizeof where, ":%lld", (long long)c->line);
    if (!c->out) return err_set("%s%s%s", c->path, where, what);
    ds_issues *x = c->out;
    if (x->n == x->cap) x->v = xrealloc(x->v, (size_t)(x->cap = x->cap ? 2 * x->cap : 16) * sizeof *x->v);
    x->v[x->n++] = (ds_issue){lv, c->line, kind, xasprintf("%s%s%s", c->path, where, what)};
    if (lv == DS_ERROR) x->n_errors++;
    else x->n_warnings++;
    return lv == DS_ERROR ? -1 : 0;
}

void ds_issues_release(ds_issues *x) {
    if (!x) return;
    for (int64_t i = 0; i < x->n; i++) free(x->v[i].msg);
    free(x->v);
    memset(x, 0, sizeof *x);
}

static int blank_text(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

// ---- validation ----
static int check_message_fields(vctx *c, json_t *msgs) {
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(role))
            return report(c, DS_ERROR, "bad_message", ": messages[%zu] needs a string 'role'", i);
        const char *r = json_string_value(role);
        if (strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "system") && strcmp(r, "tool"))
            return report(c, DS_ERROR, "unknown_role",
                          ": messages[%zu] has role '%s' (expected user, assistant, system or tool)", i, r);
        int has_calls = json_is_array(json_object_get(m, "tool_calls"));
        if (!json_is_string(content) && !(has_calls && (!content || json_is_null(content))))
            return report(c, DS_ERROR, "bad_content", ": messages[%zu] ('%s') needs a string 'content'", i, r);
        if (!json_is_string(content) || has_calls) continue;
        if (json_string_length(content) == 0) {
            if (!strcmp(r, "assistant")) return report(c, DS_ERROR, "empty_content", ": messages[%zu]: empty assistant content", i);
            if (!strcmp(r, "user")) return report(c, DS_ERROR, "empty_content", ": messages[%zu]: empty user content", i);
            report(c, DS_WARNING, "empty_content", ": messages[%zu]: empty %s content", i, r);
        } else if (blank_text(json_string_value(content))) {
            report(c, DS_WARNING, "blank_content", ": messages[%zu]: %s content is only whitespace", i, r);
        }
    }
    return 0;
}

// Order: system messages only at the start; a tool result only after the
// assistant's tool call (or another result); a user turn before the first
// assistant turn. Two user or two assistant turns in a row are warnings.
static int check_role_order(vctx *c, json_t *msgs) {
    const char *prev = NULL;
    int seen_other = 0, seen_user = 0, prev_calls = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *r = json_string_value(json_object_get(m, "role"));
        if (!strcmp(r, "system")) {
            if (seen_other)
                return report(c, DS_ERROR, "role_order", ": messages[%zu]: a system message after the conversation started (system messages go first)", i);
        } else {
            seen_other = 1;
        }
        if (!strcmp(r, "tool") && !(prev && (!strcmp(prev, "tool") || (!strcmp(prev, "assistant") && prev_calls))))
            return report(c, DS_ERROR, "role_order", ": messages[%zu]: a tool result without the assistant's tool call before it", i);
        if (!strcmp(r, "assistant") && !seen_user)
            return report(c, DS_ERROR, "role_order", ": messages[%zu]: an assistant turn with no user turn before it", i);
        if (!strcmp(r, "user")) seen_user = 1;
        if (prev && !strcmp(prev, r) && (!strcmp(r, "user") || !strcmp(r, "assistant")))
            report(c, DS_WARNING, "consecutive_roles", ": messages[%zu]: two %s turns in a row", i, r);
        prev_calls = json_is_array(json_object_get(m, "tool_calls"));
        prev = r;
    }
    return 0;
}

static int check_messages(vctx *c, json_t *msgs) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return report(c, DS_ERROR, "bad_messages", ": 'messages' must be a non-empty list");
    if (check_message_fields(c, msgs)) return -1;
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *lr = json_string_value(json_object_get(last, "role"));
    if ((c->flags & DATASET_PROMPTS) && strcmp(lr, "user") == 0) return check_role_order(c, msgs);
    if (strcmp(lr, "assistant") != 0)
        return report(c, DS_ERROR, "no_assistant_turn", ": the last message must be the assistant's (%s), got '%s'",
                      c->flags & DATASET_PROMPTS ? "the reference answer) or the user's (the turn to answer" : "the turn to learn", lr);
    return check_role_order(c, msgs);
}

static const char *const known_keys[] = {"messages", "tools", "prompt", "completion", "text"};

// Keys that belong to no format but look like one that does: a typo lorac would ignore.
static void check_stray_keys(vctx *c, json_t *o, record_kind kind) {
    static const char *const own[][2] = {{"messages", "tools"}, {"prompt", "completion"}, {"text", "text"}};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, own[kind][0]) || !strcmp(k, own[kind][1])) continue;
        const char *best = closest_match(k, known_keys, 5);
        if (best && strcmp(best, k) != 0)
            report(c, DS_WARNING, "unknown_key", ": unknown key '%s' is ignored; did you mean '%s'?", k, best);
        else if (best)
            report(c, DS_WARNING, "unknown_key", ": key '%s' is ignored in a '%s' record", k, own[kind][0]);
    }
}

static int classify(vctx *c, json_t *o, record_kind *kind) {
    if (!json_is_object(o)) return report(c, DS_ERROR, "not_object", ": expected a JSON object");
    int rc = 0;
    if (json_object_get(o, "messages")) {
        *kind = REC_MESSAGES;
        json_t *tools = json_object_get(o, "tools");
        if (tools && !json_is_null(tools) && !json_is_array(tools))
            return report(c, DS_ERROR, "bad_tools", ": 'tools' must be a list");
        rc = check_messages(c, json_object_get(o, "messages"));
    } else if (json_object_get(o, "prompt") || json_object_get(o, "completion")) {
        json_t *p = json_object_get(o, "prompt"), *cp = json_object_get(o, "completion");
        *kind = REC_COMPLETION;
        if ((c->flags & DATASET_PROMPTS) && json_is_string(p) && !cp) {
            if (json_string_length(p) == 0) return report(c, DS_ERROR, "empty_content", ": empty 'prompt'");
            return 0;
        }
        if (!json_is_string(p) || !json_is_string(cp))
            return report(c, DS_ERROR, "bad_content", ": 'prompt' and 'completion' must both be strings");
        if (json_string_length(cp) == 0) return report(c, DS_ERROR, "empty_content", ": empty 'completion'");
        if (json_string_length(p) == 0) return report(c, DS_ERROR, "empty_content", ": empty 'prompt'");
    } else if (json_object_get(o, "text")) {
        json_t *t = json_object_get(o, "text");
        *kind = REC_TEXT;
        if (!json_is_string(t) || json_string_length(t) == 0)
            return report(c, DS_ERROR, "empty_content", ": 'text' must be a non-empty string");
        if (blank_text(json_string_value(t))) report(c, DS_WARNING, "blank_content", ": 'text' is only whitespace");
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            const char *best = closest_match(k, known_keys, 5);
            if (best) return report(c, DS_ERROR, "unknown_format", ": unknown key '%s'; did you mean '%s'?", k, best);
        }
        return report(c, DS_ERROR, "unknown_format",
                      ": no 'messages', 'prompt'/'completion' or 'text' key (the formats lorac trains on)");
    }
    if (rc == 0) check_stray_keys(c, o, *kind);
    return rc;
}

// ---- loading ----
static const char *const kind_names[] = {"messages", "prompt/completion", "text"};

static int load(dataset *ds, const char *path, int flags, ds_issues *out) {
    memset(ds, 0, sizeof *ds);
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len)) return -1;
    ds->path = xstrdup(path);
    vctx c = {path, 0, out, flags};
    int64_t errors_before = out ? out->n_errors : 0;
    int64_t cap = 0, mixed = 0, first_mixed = 0;
    int rc = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        c.line = 1;
        report(&c, DS_ERROR, "invalid_json", ": the file starts with a UTF-8 byte-order mark (BOM); save it without one");
        if (!out) rc = -1;
    }
    for (char *p = text; p < text + len && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        c.line++;
        char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (c.line == 1 && end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
            // reported above
        } else if (q == end) {
            report(&c, DS_WARNING, "blank_line", ": blank line (lorac skips it; mlx-lm fails on it)");
        } else {
            json_error_t je;
            json_t *o = json_loadb(p, (size_t)(end - p), 0, &je);
            record_kind kind = REC_TEXT;
            int bad = !o ? report(&c, DS_ERROR, "invalid_json", ":%d: invalid JSON: %s", je.column, je.text)
                         : classify(&c, o, &kind);
            if (bad == 0) {
                if (ds->n && kind != ds->recs[0].kind && !mixed++) first_mixed = c.line;
                if (ds->n == cap) ds->recs = xrealloc(ds->recs, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *ds->recs);
                ds->recs[ds->n++] = (record){kind, o, c.line, ds->path};
            } else {
                json_decref(o);
                if (!out) rc = -1;
            }
        }
        p = end + 1;
    }
    free(text);
    if (mixed) {
        c.line = first_mixed;
        report(&c, DS_WARNING, "mixed_formats",
               ": %lld record%s not in the '%s' format of the first record (mlx-lm reads the format from the first line)",
               (long long)mixed, mixed == 1 ? " is" : "s are", kind_names[ds->recs[0].kind]);
    }
    if (rc == 0 && ds->n == 0 && !out) rc = err_set("%s: no examples", path);
    if (out && ds->n == 0 && out->n_errors == errors_before) {
        c.line = 0;
        report(&c, DS_ERROR, "no_examples", ": no examples (the file is empty or holds only blank lines)");
    }
    if (rc) dataset_release(ds);
    return rc;
}

int dataset_load(dataset *ds, const char *path) { return load(ds, path, 0, NULL); }

int dataset_load_flags(dataset *ds, const char *path, int flags) { return load(ds, path, flags, NULL); }

int dataset_check(dataset *ds, const char *path, ds_issues *issues) {
    int64_t from = issues->n;
    if (load(ds, path, 0, issues)) return -1;
    // issues arrive in line order except the file-level mixed-formats note: keep them sorted
    for (int64_t i = from + 1; i < issues->n; i++) {
        ds_issue t = issues->v[i];
        int64_t j = i;
        while (j > from && issues->v[j - 1].line > t.line) issues->v[j] = issues->v[j - 1], j--;
        issues->v[j] = t;
    }
    return 0;
}

void dataset_release(dataset *ds) {
    if (!ds) return;
    for (int64_t i = 0; i < ds->n; i++) json_decref(ds->recs[i].obj);
    free(ds->recs);
    free(ds->path);
    memset(ds, 0, sizeof *ds);
}

// ---- tokenization ----
int record_tokenize(gen_model *g, const record *r, const json_t *extra, tok_ids *ids, int64_t *target_start) {
    ids->n = 0;
    if (r->kind == REC_TEXT) {
        const char *t = json_string_value(json_object_get(r->obj, "text"));
        if (gen_raw_prompt(g, t, ids)) return -1;
        int32_t eos = tok_eos_id(g->tok);
        if (eos >= 0 && (ids->n == 0 || ids->ids[ids->n - 1] != eos)) tok_ids_push(ids, eos);
        *target_start = 1;
        return 0;
    }
    json_t *msgs, *tools = NULL;
    if (r->kind == REC_COMPLETION) {
        msgs = json_pack("[{s:s,s:O},{s:s,s:O}]", "role", "user", "content", json_object_get(r->obj, "prompt"), "role",
                         "assistant", "content", json_object_get(r->obj, "completion"));
    } else {
        msgs = json_incref(json_object_get(r->obj, "messages"));
        tools = json_object_get(r->obj, "tools");
        if (json_is_null(tools)) tools = NULL;
    }
    tok_ids prefix;
    tok_ids_init(&prefix);
    json_t *head = json_array();
    for (size_t i = 0; i + 1 < json_array_size(msgs); i++) json_array_append(head, json_array_get(msgs, i));
    int rc = gen_chat_prompt(g, msgs, tools, 0, extra, ids, NULL);
    if (rc == 0) rc = gen_chat_prompt(g, head, tools, 1, extra, &prefix, NULL);
    if (rc) err_prefix("%s:%lld", r->path, (long long)r->line);
    int64_t off = (int64_t)prefix.n;
    if (off > (int64_t)ids->n - 1) off = (int64_t)ids->n - 1; // clamp: at least one target
    if (off < 1) off = 1;
    *target_start = off;
    tok_ids_release(&prefix);
    json_decref(head);
    json_decref(msgs);
    return rc;
}
