// dataset.c — JSONL records (messages / prompt+completion / text) and their
// tokenization with the prompt boundary.
#include "dataset.h"

#include "../io/jsonl.h"

#include <stdlib.h>
#include <string.h>

// ---- validation ----
static int check_messages(json_t *msgs, const char *path, int64_t line, int flags) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return err_set("%s:%lld: 'messages' must be a non-empty list", path, (long long)line);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(role))
            return err_set("%s:%lld: messages[%zu] needs a string 'role'", path, (long long)line, i);
        const char *r = json_string_value(role);
        if (strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "system") && strcmp(r, "tool"))
            return err_set("%s:%lld: messages[%zu] has role '%s' (expected user, assistant, system or tool)", path,
                           (long long)line, i, r);
        int has_calls = json_is_array(json_object_get(m, "tool_calls"));
        if (!json_is_string(content) && !(has_calls && (!content || json_is_null(content))))
            return err_set("%s:%lld: messages[%zu] ('%s') needs a string 'content'", path, (long long)line, i, r);
        if (json_is_string(content) && json_string_length(content) == 0 && strcmp(r, "assistant") == 0 && !has_calls)
            return err_set("%s:%lld: messages[%zu]: empty assistant content", path, (long long)line, i);
    }
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *lr = json_string_value(json_object_get(last, "role"));
    if ((flags & DATASET_PROMPTS) && strcmp(lr, "user") == 0) return 0;
    if (strcmp(lr, "assistant") != 0)
        return err_set("%s:%lld: the last message must be the assistant's (%s), got '%s'", path, (long long)line,
                       flags & DATASET_PROMPTS ? "the reference answer) or the user's (the turn to answer"
                                               : "the turn to learn",
                       lr);
    return 0;
}

static int classify(json_t *o, const char *path, int64_t line, int flags, record_kind *kind) {
    if (!json_is_object(o)) return err_set("%s:%lld: expected a JSON object", path, (long long)line);
    if (json_object_get(o, "messages")) {
        *kind = REC_MESSAGES;
        json_t *tools = json_object_get(o, "tools");
        if (tools && !json_is_null(tools) && !json_is_array(tools))
            return err_set("%s:%lld: 'tools' must be a list", path, (long long)line);
        return check_messages(json_object_get(o, "messages"), path, line, flags);
    }
    json_t *p = json_object_get(o, "prompt"), *c = json_object_get(o, "completion");
    if (p || c) {
        *kind = REC_COMPLETION;
        if ((flags & DATASET_PROMPTS) && json_is_string(p) && !c) return 0;
        if (!json_is_string(p) || !json_is_string(c))
            return err_set("%s:%lld: 'prompt' and 'completion' must both be strings", path, (long long)line);
        if (json_string_length(c) == 0) return err_set("%s:%lld: empty 'completion'", path, (long long)line);
        return 0;
    }
    json_t *t = json_object_get(o, "text");
    if (t) {
        *kind = REC_TEXT;
        if (!json_is_string(t) || json_string_length(t) == 0)
            return err_set("%s:%lld: 'text' must be a non-empty string", path, (long long)line);
        return 0;
    }
    const char *keys[] = {"messages", "prompt", "completion", "text"};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        const char *best = closest_match(k, keys, 4);
        if (best) return err_set("%s:%lld: unknown key '%s'; did you mean '%s'?", path, (long long)line, k, best);
    }
    return err_set("%s:%lld: no 'messages', 'prompt'/'completion' or 'text' key (the formats lorac trains on)", path,
                   (long long)line);
}

// ---- loading ----
int dataset_load(dataset *ds, const char *path) { return dataset_load_flags(ds, path, 0); }

typedef struct {
    dataset *ds;
    int flags;
    int64_t cap;
} load_ctx;

static int add_record(void *ctx, json_t *o, int64_t line) {
    load_ctx *c = ctx;
    dataset *ds = c->ds;
    record_kind kind = REC_TEXT;
    if (classify(o, ds->path, line, c->flags, &kind)) return -1;
    if (ds->n == c->cap) ds->recs = xrealloc(ds->recs, (size_t)(c->cap = c->cap ? 2 * c->cap : 64) * sizeof *ds->recs);
    ds->recs[ds->n++] = (record){kind, json_incref(o), line, ds->path};
    return 0;
}

int dataset_load_flags(dataset *ds, const char *path, int flags) {
    memset(ds, 0, sizeof *ds);
    ds->path = xstrdup(path);
    load_ctx c = {ds, flags, 0};
    int rc = jsonl_read(path, add_record, &c);
    if (rc == 0 && ds->n == 0) rc = err_set("%s: no examples", path);
    if (rc) dataset_release(ds);
    return rc;
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
