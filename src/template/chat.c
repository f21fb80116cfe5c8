// chat.c — chat templates as apply_chat_template uses them: the variables it
// passes, which of a model's templates it picks, and where a model keeps them
// (HF directory: chat_template.jinja, additional_chat_templates/, tokenizer_config.json;
// GGUF: tokenizer.chat_template[.name] and the token list for bos/eos).
#include "template.h"

#include "../io/gguf.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

// ---- rendering ----
int chat_template_render(const char *src, const json_t *messages, const json_t *tools,
                         int add_generation_prompt, const json_t *extra, const struct tm *now, strbuf *out) {
    tpl_template *t = tpl_parse(src, "chat_template");
    if (!t) return -1;
    json_t *vars = json_object();
    json_object_set_new(vars, "messages", messages ? json_incref((json_t *)messages) : json_array());
    if (tools) json_object_set(vars, "tools", (json_t *)tools);
    json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
    if (extra && json_is_object(extra)) json_object_update(vars, (json_t *)extra);
    tpl_vars v = {.vars = vars, .now = now};
    int rc = tpl_render(t, &v, out);
    json_decref(vars);
    tpl_free(t);
    return rc;
}

// ---- choosing a template ----
char *chat_template_select(const json_t *ct, const char *name, int have_tools) {
    if (json_is_string(ct)) {
        if (name && strcmp(name, "default") != 0)
            return err_set("chat template '%s' not found: this model has a single (default) template", name), NULL;
        return xstrdup(json_string_value(ct));
    }
    if (!json_is_array(ct)) return err_set("chat_template must be a string or a list of {name, template}"), NULL;
    const char *want = name;
    if (!want) {
        want = "default";
        if (have_tools) {
            size_t i;
            json_t *e;
            json_array_foreach(ct, i, e) {
                const char *n = json_string_value(json_object_get(e, "name"));
                if (n && !strcmp(n, "tool_use")) want = "tool_use";
            }
        }
    }
    strbuf names;
    sb_init(&names);
    size_t i;
    json_t *e;
    json_array_foreach(ct, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        const char *tpl = json_string_value(json_object_get(e, "template"));
        if (!n || !tpl) {
            sb_release(&names);
            return err_set("chat_template[%zu]: expected an object with string 'name' and 'template'", i), NULL;
        }
        if (!strcmp(n, want)) {
            sb_release(&names);
            return xstrdup(tpl);
        }
        sb_printf(&names, "%s'%s'", names.len ? ", " : "", n);
    }
    err_set("chat template '%s' not found; this model has %s", want, names.len ? names.buf : "none");
    sb_release(&names);
    return NULL;
}

char *chat_special_token(const json_t *tok) {
    if (json_is_string(tok)) return xstrdup(json_string_value(tok));
    if (json_is_object(tok) && json_is_string(json_object_get(tok, "content")))
        return xstrdup(json_string_value(json_object_get(tok, "content")));
    return NULL;
}

void chat_template_src_release(chat_template_src *s) {
    if (!s) return;
    free(s->source);
    free(s->origin);
    json_decref(s->special);
    s->source = s->origin = NULL;
    s->special = NULL;
}

// ---- HF directory ----
typedef struct {
    char *name, *source, *origin;
} named_tpl;

typedef struct {
    named_tpl *v;
    int n, cap;
} tpl_list;

static void tl_put(tpl_list *l, const char *name, char *source, char *origin) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name)) { // later sources override earlier ones
            free(l->v[i].source);
            free(l->v[i].origin);
            l->v[i].source = source, l->v[i].origin = origin;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n].name = xstrdup(name);
    l->v[l->n].source = source;
    l->v[l->n].origin = origin;
    l->n++;
}

static void tl_release(tpl_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i].name), free(l->v[i].source), free(l->v[i].origin);
    free(l->v);
}

static int read_json_file(const char *path, json_t **out) {
    json_error_t je;
    *out = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je); // configs hold integers beyond 64 bits
    if (!*out) return err_set("%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    return 0;
}

static int load_dir(const char *dir, tpl_list *l, json_t *special) {
    char *cfg_path = path_join(dir, "tokenizer_config.json");
    json_t *cfg = NULL;
    if (file_exists(cfg_path) && read_json_file(cfg_path, &cfg) < 0) {
        free(cfg_path);
        return -1;
    }
    if (cfg) {
        json_t *ct = json_object_get(cfg, "chat_template");
        if (json_is_string(ct)) tl_put(l, "default", xstrdup(json_string_value(ct)), xasprintf("%s (chat_template)", cfg_path));
        else if (json_is_array(ct)) {
            size_t i;
            json_t *e;
            json_array_foreach(ct, i, e) {
                const char *n = json_string_value(json_object_get(e, "name"));
                const char *t = json_string_value(json_object_get(e, "template"));
                if (!n || !t) {
                    err_set("%s: chat_template[%zu]: expected an object with string 'name' and 'template'", cfg_path, i);
                    json_decref(cfg);
                    free(cfg_path);
                    return -1;
                }
                tl_put(l, n, xstrdup(t), xasprintf("%s (chat_template '%s')", cfg_path, n));
            }
        } else if (ct && !json_is_null(ct)) {
            err_set("%s: chat_template must be a string or a list of {name, template}", cfg_path);
            json_decref(cfg);
            free(cfg_path);
            return -1;
        }
        static const char *const toks[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
            char *t = chat_special_token(json_object_get(cfg, toks[i]));
            if (t) json_object_set_new(special, toks[i], json_string(t));
            free(t);
        }
        json_decref(cfg);
    }
    free(cfg_path);
    // special_tokens_map.json fills what tokenizer_config.json left out
    char *stm_path = path_join(dir, "special_tokens_map.json");
    json_t *stm = NULL;
    if (file_exists(stm_path) && read_json_file(stm_path, &stm) == 0) {
        static const char *const toks[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
            if (json_object_get(special, toks[i])) continue;
            char *t = chat_special_token(json_object_get(stm, toks[i]));
            if (t) json_object_set_new(special, toks[i], json_string(t));
            free(t);
        }
        json_decref(stm);
    }
    free(stm_path);
    // chat_template.json (processors), then chat_template.jinja, then named .jinja files
    char *p = path_join(dir, "chat_template.json");
    if (file_exists(p)) {
        json_t *j = NULL;
        if (read_json_file(p, &j) < 0) {
            free(p);
            return -1;
        }
        if (json_is_string(json_object_get(j, "chat_template")))
            tl_put(l, "default", xstrdup(json_string_value(json_object_get(j, "chat_template"))), xstrdup(p));
        json_decref(j);
    }
    free(p);
    p = path_join(dir, "chat_template.jinja");
    if (file_exists(p)) {
        char *src;
        size_t n;
        if (file_read_all(p, &src, &n) < 0) {
            free(p);
            return -1;
        }
        tl_put(l, "default", src, xstrdup(p));
    }
    free(p);
    char *extra = path_join(dir, "additional_chat_templates");
    DIR *d = opendir(extra);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len <= 6 || strcmp(e->d_name + len - 6, ".jinja") != 0) continue;
            char *fp = path_join(extra, e->d_name), *src;
            size_t n;
            if (file_read_all(fp, &src, &n) < 0) {
                free(fp);
                closedir(d);
                free(extra);
                return -1;
            }
            char *name = xstrndup(e->d_name, len - 6);
            tl_put(l, name, src, fp);
            free(name);
        }
        closedir(d);
    }
    free(extra);
    return 0;
}

// ---- GGUF ----
static char *gguf_token(const gguf_file *g, const char *id_key) {
    const gguf_kv *id = gguf_find_kv(g, id_key);
    const gguf_kv *toks = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!id || !toks || toks->type != GGUF_TYPE_ARRAY || toks->arr_type != GGUF_TYPE_STRING) return NULL;
    int64_t i;
    if (gguf_get_i64(g, id_key, &i) < 0) {
        err_clear();
        return NULL;
    }
    if (i < 0 || (uint64_t)i >= toks->arr_len) return NULL;
    return xstrndup(toks->arr_strs[i].ptr, (size_t)toks->arr_strs[i].len);
}

static int load_gguf(const char *path, tpl_list *l, json_t *special) {
    gguf_file g;
    if (gguf_open(&g, path) < 0) return -1;
    for (int64_t i = 0; i < g.n_kv; i++) {
        const gguf_kv *kv = &g.kvs[i];
        if (kv->type != GGUF_TYPE_STRING) continue;
        const char *pre = "tokenizer.chat_template";
        size_t pl = strlen(pre);
        if (strncmp(kv->key, pre, pl) != 0) continue;
        const char *name = kv->key[pl] == 0 ? "default" : kv->key[pl] == '.' ? kv->key + pl + 1 : NULL;
        if (!name || !*name) continue;
        tl_put(l, name, xstrndup(kv->str.ptr, (size_t)kv->str.len), xasprintf("%s (%s)", path, kv->key));
    }
    static const char *const keys[][2] = {
        {"bos_token", "tokenizer.ggml.bos_token_id"},
        {"eos_token", "tokenizer.ggml.eos_token_id"},
        {"unk_token", "tokenizer.ggml.unknown_token_id"},
        {"pad_token", "tokenizer.ggml.padding_token_id"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *t = gguf_token(&g, keys[i][1]);
        if (t) json_object_set_new(special, keys[i][0], json_string(t));
        free(t);
    }
    gguf_close(&g);
    return 0;
}

json_t *chat_special_tokens(const char *path, int is_gguf) {
    tpl_list l = {0};
    json_t *special = json_object();
    int rc = is_gguf ? load_gguf(path, &l, special) : load_dir(path, &l, special);
    tl_release(&l);
    if (rc < 0) {
        json_decref(special);
        return NULL;
    }
    return special;
}

int chat_template_load(const char *path, int is_gguf, const char *name, int have_tools, chat_template_src *out) {
    memset(out, 0, sizeof *out);
    tpl_list l = {0};
    json_t *special = json_object();
    int rc = is_gguf ? load_gguf(path, &l, special) : load_dir(path, &l, special);
    if (rc < 0) {
        tl_release(&l);
        json_decref(special);
        return -1;
    }
    const char *want = name;
    int found = -1;
    if (!want) {
        for (int i = 0; i < l.n; i++)
            if (have_tools && !strcmp(l.v[i].name, "tool_use")) found = i;
        if (found < 0) want = "default";
    }
    if (found < 0)
        for (int i = 0; i < l.n; i++)
            if (!strcmp(l.v[i].name, want)) found = i;
    if (found < 0) {
        if (!l.n) {
            err_set("%s: no chat template found", path);
            err_hint("%s", is_gguf ? "the GGUF has no tokenizer.chat_template key; pass --template FILE.jinja"
                                   : "expected chat_template in tokenizer_config.json or a chat_template.jinja file; "
                                     "pass --template FILE.jinja");
        } else {
            strbuf names;
            sb_init(&names);
            for (int i = 0; i < l.n; i++) sb_printf(&names, "%s'%s'", i ? ", " : "", l.v[i].name);
            err_set("%s: no chat template named '%s'; available: %s", path, want, names.buf);
            sb_release(&names);
        }
        tl_release(&l);
        json_decref(special);
        return -1;
    }
    out->source = l.v[found].source;
    out->origin = l.v[found].origin;
    l.v[found].source = l.v[found].origin = NULL;
    out->special = special;
    tl_release(&l);
    return 0;
}
