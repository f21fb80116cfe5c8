// tok_out.c — a byte-level BPE tokenizer between its two homes: an HF
// directory (tokenizer.json, tokenizer_config.json, chat template) and GGUF
// tokenizer metadata (tokenizer.ggml.*, tokenizer.chat_template).
//
// HF -> GGUF follows llama.cpp's converter (facts from convert_hf_to_gguf.py and
// gguf-py's SpecialVocab): one token string per id up to the model's vocabulary
// size (added tokens as their raw content; ids the tokenizer lacks become
// "[PAD<id>]" of type UNUSED), token types NORMAL 1 / CONTROL 3 (special added
// tokens, or ones that look special like "<|...|>") / USER_DEFINED 4, merges as
// "a b", special ids from tokenizer_config.json's tokens (else config.json's ids),
// add_bos/add_eos as the post-processor adds them. llama.cpp names the
// pre-tokenizer by hashing a test encoding; lorac recognises the four
// pre-tokenizers of its architectures by their tokenizer.json structure:
// llama-bpe (Llama 3, SmolLM3), qwen2 (Qwen2/3), smollm (SmolLM2), gpt-2.
//
// GGUF -> HF writes the tokenizer.json those pre-tokenizers come from, so that
// transformers' AutoTokenizer and lorac load the directory and encode alike.
#include "fuse_internal.h"

#include "../io/json_file.h"
#include "../template/template.h"
#include "../tokenizer/tokenizer.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

// The Split regexes of the Llama 3 and Qwen2 tokenizer.json files (JSON-decoded).
#define RE_LLAMA3                                                                                                     \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
    "\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                                      \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"      \
    "\\s+(?!\\S)|\\s+"

// ---- the four pre-tokenizers, as tokenizer.json writes them ----
typedef struct {
    const char *gguf;          // tokenizer.ggml.pre
    const char *pre_tokenizer; // tokenizer.json "pre_tokenizer"
    const char *normalizer;    // "normalizer" (JSON), or "null"
    const char *decoder;
    int ignore_merges;
} pre_kind;

#define BYTELEVEL(aps, trim, re)                                                                                      \
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": " aps ", \"trim_offsets\": " trim ", \"use_regex\": " re "}"
#define SPLIT(re) "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"" re "\"}, \"behavior\": \"Isolated\", \"invert\": false}"
// the C strings above hold single backslashes; JSON needs them doubled
#define RE_LLAMA3_JSON                                                                                                \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|" \
    "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"
#define RE_QWEN2_JSON                                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"      \
    "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

static const pre_kind PRE_KINDS[] = {
    {"llama-bpe", "{\"type\": \"Sequence\", \"pretokenizers\": [" SPLIT(RE_LLAMA3_JSON) ", " BYTELEVEL("false", "true", "false") "]}",
     "null", BYTELEVEL("true", "true", "true"), 1},
    {"qwen2", "{\"type\": \"Sequence\", \"pretokenizers\": [" SPLIT(RE_QWEN2_JSON) ", " BYTELEVEL("false", "false", "false") "]}",
     "{\"type\": \"NFC\"}", BYTELEVEL("false", "false", "false"), 0},
    {"smollm",
     "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, " BYTELEVEL(
         "false", "true", "true") "]}",
     "null", BYTELEVEL("true", "true", "true"), 0},
    {"gpt-2", BYTELEVEL("false", "true", "true"), "null", BYTELEVEL("true", "true", "true"), 0},
};
#define N_PRE_KINDS (int)(sizeof PRE_KINDS / sizeof PRE_KINDS[0])

static const pre_kind *pre_by_gguf(const char *name) {
    if (strcmp(name, "llama3") == 0 || strcmp(name, "llama-v3") == 0) name = "llama-bpe";
    for (int i = 0; i < N_PRE_KINDS; i++)
        if (strcmp(PRE_KINDS[i].gguf, name) == 0) return &PRE_KINDS[i];
    return NULL;
}

// ---- HF -> GGUF ----
static int is_type(json_t *o, const char *t) { return json_is_object(o) && json_is_string(json_object_get(o, "type")) &&
                                                      strcmp(json_string_value(json_object_get(o, "type")), t) == 0; }

static int bytelevel_regex(json_t *o) {
    json_t *u = json_object_get(o, "use_regex");
    return !u || json_is_true(u); // tokenizers' default is true
}

// tokenizer.ggml.pre for a tokenizer.json pre_tokenizer (and normalizer); NULL when none fits.
static const char *detect_pre(json_t *pre, json_t *norm) {
    if (norm && !json_is_null(norm) && !is_type(norm, "NFC")) return NULL;
    if (is_type(pre, "ByteLevel")) return bytelevel_regex(pre) ? "gpt-2" : NULL;
    if (!is_type(pre, "Sequence")) return NULL;
    json_t *l = json_object_get(pre, "pretokenizers");
    if (json_array_size(l) != 2 || !is_type(json_array_get(l, 1), "ByteLevel")) return NULL;
    json_t *a = json_array_get(l, 0), *b = json_array_get(l, 1);
    if (is_type(a, "Digits") && json_is_true(json_object_get(a, "individual_digits")) && bytelevel_regex(b))
        return "smollm";
    if (!is_type(a, "Split") || bytelevel_regex(b) || json_is_true(json_object_get(a, "invert"))) return NULL;
    const char *beh = json_string_value(json_object_get(a, "behavior"));
    const char *re = json_string_value(json_object_get(json_object_get(a, "pattern"), "Regex"));
    if (!beh || strcmp(beh, "Isolated") != 0 || !re) return NULL;
    if (strcmp(re, RE_LLAMA3) == 0) return "llama-bpe";
    if (strcmp(re, RE_QWEN2) == 0) return "qwen2";
    return NULL;
}

// Added tokens llama.cpp's converter treats as control tokens though not marked special.
static int looks_special(const char *s) {
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]")) return 1;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>")) return 1;
    if (n >= 8 && !strncmp(s, "<\xef\xbd\x9c", 4) && !strcmp(s + n - 4, "\xef\xbd\x9c>")) return 1; // <｜...｜>
    return n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>';
}

// Id of a special token named in tokenizer_config.json, among tokenizer.json's added tokens.
static int64_t special_id(json_t *tcfg, const char *key, json_t *added) {
    json_t *v = json_object_get(tcfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    size_t i;
    json_t *e;
    json_array_foreach(added, i, e) if (json_is_string(json_object_get(e, "content")) &&
                                        strcmp(json_string_value(json_object_get(e, "content")), json_string_value(v)) == 0)
        return json_integer_value(json_object_get(e, "id"));
    return -1;
}

// Merges as "a b", from "a b" strings or [a, b] pairs (a space inside a part as U+0120, as llama.cpp does).
static char *merge_text(json_t *m) {
    if (json_is_string(m)) return xstrdup(json_string_value(m));
    if (!json_is_array(m) || json_array_size(m) != 2) return NULL;
    strbuf sb;
    sb_init(&sb);
    for (int k = 0; k < 2; k++) {
        const char *p = json_string_value(json_array_get(m, (size_t)k));
        if (!p) {
            sb_release(&sb);
            return NULL;
        }
        if (k) sb_putc(&sb, ' ');
        for (; *p; p++)
            if (*p == ' ') sb_puts(&sb, "\xc4\xa0");
            else sb_putc(&sb, *p);
    }
    return sb_detach(&sb);
}

static void set_chat_templates(gguf_writer *w, const char *dir) {
    chat_template_src src;
    if (chat_template_load(dir, 0, NULL, 0, &src) == 0) {
        if (src.source) gguf_set_str(w, "tokenizer.chat_template", src.source);
        chat_template_src_release(&src);
    }
    err_clear();
    // named templates: tokenizer_config.json's list, or additional_chat_templates/<name>.jinja
    char *p = path_join(dir, "tokenizer_config.json");
    json_t *tc = json_load_file(p, JSON_DECODE_INT_AS_REAL, NULL);
    free(p);
    const char *names[64];
    int n = 0;
    json_t *ct = json_object_get(tc, "chat_template");
    size_t i;
    json_t *e;
    if (json_is_array(ct)) json_array_foreach(ct, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            const char *tp = json_string_value(json_object_get(e, "template"));
            if (!nm || !tp || !strcmp(nm, "default") || n == 64) continue;
            char *key = xasprintf("tokenizer.chat_template.%s", nm);
            gguf_set_str(w, key, tp);
            free(key);
            names[n++] = nm;
        }
    char *sub = path_join(dir, "additional_chat_templates");
    DIR *d = opendir(sub);
    char *owned[64];
    int n_owned = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) && n < 64) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".jinja") != 0) continue;
        char *fp = path_join(sub, de->d_name), *text;
        size_t len;
        if (file_read_all(fp, &text, &len) == 0) {
            owned[n_owned] = xstrndup(de->d_name, l - 6);
            char *key = xasprintf("tokenizer.chat_template.%s", owned[n_owned]);
            gguf_set_str(w, key, text);
            free(key);
            free(text);
            names[n++] = owned[n_owned++];
        }
        err_clear();
        free(fp);
    }
    if (d) closedir(d);
    free(sub);
    if (n) gguf_set_arr_str(w, "tokenizer.chat_templates", names, (uint64_t)n);
    for (int k = 0; k < n_owned; k++) free(owned[k]);
    json_decref(tc);
}

int tok_meta_from_hf(gguf_writer *w, const char *dir, const model_config *c) {
    char *path = path_join(dir, "tokenizer.json");
    json_error_t je;
    json_t *tj = file_exists(path) ? json_load_file(path, 0, &je) : NULL;
    int rc = -1;
    int64_t V = c->vocab_size;
    char **toks = xcalloc((size_t)V, sizeof *toks);
    int32_t *types = xcalloc((size_t)V, sizeof *types);
    char **merges = NULL;
    size_t n_merges = 0;
    tokenizer *tok = NULL;
    json_t *tcfg = NULL;
    if (!tj) {
        if (!file_exists(path)) err_set("%s: no tokenizer.json (a GGUF needs the tokenizer)", dir);
        else err_set("%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto done;
    }
    json_t *model = json_object_get(tj, "model");
    const char *mt = json_string_value(json_object_get(model, "type"));
    if (!mt || strcmp(mt, "BPE") != 0) {
        err_set("%s: model type '%s': lorac exports byte-level BPE tokenizers only", path, mt ? mt : "?");
        goto done;
    }
    const char *pre = detect_pre(json_object_get(tj, "pre_tokenizer"), json_object_get(tj, "normalizer"));
    if (!pre) {
        err_set("%s: the pre-tokenizer (or normalizer) is none of those llama.cpp implements for lorac's architectures "
                "(llama-bpe: Llama 3 / SmolLM3, qwen2: Qwen2/3, smollm: SmolLM2, gpt-2)",
                path);
        err_hint("llama.cpp would split text differently from transformers; convert this model with llama.cpp's own tools");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(model, "vocab"), k, v) {
        int64_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id >= V) {
            err_set("%s: token '%s' has id %lld, outside the model's vocabulary of %lld", path, k, (long long)id,
                    (long long)V);
            goto done;
        }
        free(toks[id]);
        toks[id] = xstrdup(k);
        types[id] = TT_NORMAL;
    }
    json_t *added = json_object_get(tj, "added_tokens");
    size_t i;
    json_array_foreach(added, i, v) {
        int64_t id = json_integer_value(json_object_get(v, "id"));
        const char *content = json_string_value(json_object_get(v, "content"));
        if (!content || id < 0 || id >= V) {
            err_set("%s: added_tokens[%zu] has id %lld, outside the model's vocabulary of %lld", path, i, (long long)id,
                    (long long)V);
            goto done;
        }
        free(toks[id]);
        toks[id] = xstrdup(content);
        types[id] = json_is_true(json_object_get(v, "special")) || looks_special(content) ? TT_CONTROL : TT_USER_DEFINED;
    }
    for (int64_t id = 0; id < V; id++)
        if (!toks[id]) toks[id] = xasprintf("[PAD%lld]", (long long)id), types[id] = TT_UNUSED;
    json_t *jm = json_object_get(model, "merges");
    n_merges = json_array_size(jm);
    merges = xcalloc(n_merges ? n_merges : 1, sizeof *merges);
    for (i = 0; i < n_merges; i++)
        if (!(merges[i] = merge_text(json_array_get(jm, i)))) {
            err_set("%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
            goto done;
        }
    // special tokens as the tokenizer applies them (lorac's loader follows HF's rules)
    if (!(tok = tok_load_dir(dir))) goto done;
    char *cp = path_join(dir, "tokenizer_config.json");
    tcfg = json_load_file(cp, JSON_DECODE_INT_AS_REAL, NULL);
    free(cp);
    int64_t bos = special_id(tcfg, "bos_token", added), eos = special_id(tcfg, "eos_token", added);
    int64_t unk = special_id(tcfg, "unk_token", added), pad = special_id(tcfg, "pad_token", added);
    if (bos < 0) bos = c->bos_token_id; // then config.json's, as gguf-py's SpecialVocab
    if (eos < 0 && c->n_eos) eos = c->eos_token_ids[0];
    if (pad < 0) pad = c->pad_token_id;

    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)V);
    gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)V);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges);
    if (bos >= 0 && bos < V) gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0 && eos < V) gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (unk >= 0 && unk < V) gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    if (pad >= 0 && pad < V) gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", tok_adds_bos(tok));
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", tok_adds_eos(tok));
    set_chat_templates(w, dir);
    rc = 0;
done:
    for (int64_t id = 0; id < V; id++) free(toks[id]);
    free(toks);
    free(types);
    for (i = 0; merges && i < n_merges; i++) free(merges[i]);
    free(merges);
    tok_free(tok);
    json_decref(tcfg);
    json_decref(tj);
    free(path);
    return rc;
}

// ---- GGUF -> HF ----
static json_t *parse_fixed(const char *text) {
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    LORAC_ASSERT(j);
    return j;
}

static json_t *jstr(const gguf_str *s) { return json_stringn(s->ptr, (size_t)s->len); }

static json_t *special_entry(const char *content, int special) {
    return json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", content, "single_word", 0, "lstrip", 0, "rstrip", 0,
                     "normalized", 0, "special", special);
}

// TemplateProcessing adding bos (and/or eos) around each sequence, as Llama 3's tokenizer.json does.
static json_t *template_processing(const char *bos, int64_t bos_id, const char *eos, int64_t eos_id) {
    json_t *single = json_array(), *pair = json_array(), *sp = json_object();
    for (int s = 0; s < 2; s++) {
        json_t *arr = s == 0 ? single : pair;
        for (int part = 0; part < (s == 0 ? 1 : 2); part++) {
            if (bos) json_array_append_new(arr, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", bos, "type_id", part));
            json_array_append_new(arr, json_pack("{s:{s:s, s:i}}", "Sequence", "id", part ? "B" : "A", "type_id", part));
            if (eos) json_array_append_new(arr, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", eos, "type_id", part));
        }
    }
    if (bos) json_object_set_new(sp, bos, json_pack("{s:s, s:[I], s:[s]}", "id", bos, "ids", (json_int_t)bos_id, "tokens", bos));
    if (eos) json_object_set_new(sp, eos, json_pack("{s:s, s:[I], s:[s]}", "id", eos, "ids", (json_int_t)eos_id, "tokens", eos));
    return json_pack("{s:s, s:o, s:o, s:o}", "type", "TemplateProcessing", "single", single, "pair", pair, "special_tokens", sp);
}

static int write_json(const char *dir, const char *name, json_t *j, int indent) {
    char *path = path_join(dir, name);
    int rc = json_save(path, j, indent ? JSON_INDENT(indent) : JSON_COMPACT);
    free(path);
    return rc;
}

static int64_t gguf_id(const gguf_file *g, const char *key, int64_t n) {
    uint64_t u;
    if (!gguf_find_kv(g, key) || gguf_get_u64(g, key, &u) || (int64_t)u >= n) {
        err_clear();
        return -1;
    }
    return (int64_t)u;
}

static int gguf_flag(const gguf_file *g, const char *key, int def) {
    int b;
    if (!gguf_find_kv(g, key) || gguf_get_bool(g, key, &b)) {
        err_clear();
        return def;
    }
    return b;
}

int tok_files_from_gguf(const gguf_file *g, const model_config *c, const char *dir) {
    const char *path = g->map.path;
    char *model = gguf_find_kv(g, "tokenizer.ggml.model") ? gguf_get_str(g, "tokenizer.ggml.model") : NULL;
    if (!model || strcmp(model, "gpt2") != 0) {
        err_set("%s: tokenizer.ggml.model '%s': lorac rebuilds byte-level BPE (gpt2) tokenizers only", path,
                model ? model : "(none)");
        free(model);
        return -1;
    }
    free(model);
    const gguf_kv *toks = gguf_find_kv(g, "tokenizer.ggml.tokens"), *merges = gguf_find_kv(g, "tokenizer.ggml.merges");
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (!toks || toks->type != GGUF_TYPE_ARRAY || toks->arr_type != GGUF_TYPE_STRING || !merges ||
        merges->type != GGUF_TYPE_ARRAY || merges->arr_type != GGUF_TYPE_STRING)
        return err_set("%s: tokenizer.ggml.tokens and tokenizer.ggml.merges must be string arrays", path);
    if (types && (types->type != GGUF_TYPE_ARRAY || types->arr_len != toks->arr_len || types->arr_type == GGUF_TYPE_STRING))
        return err_set("%s: tokenizer.ggml.token_type must be %llu integers", path, (unsigned long long)toks->arr_len);
    char *pre_name = gguf_find_kv(g, "tokenizer.ggml.pre") ? gguf_get_str(g, "tokenizer.ggml.pre") : xstrdup("gpt-2");
    const pre_kind *pk = pre_name ? pre_by_gguf(pre_name) : NULL;
    if (!pk) {
        err_set("%s: tokenizer.ggml.pre '%s': lorac rebuilds tokenizer.json for llama-bpe, qwen2, smollm and gpt-2", path,
                pre_name ? pre_name : "?");
        free(pre_name);
        return -1;
    }
    free(pre_name);
    int64_t n = (int64_t)toks->arr_len;
    int64_t bos = gguf_id(g, "tokenizer.ggml.bos_token_id", n), eos = gguf_id(g, "tokenizer.ggml.eos_token_id", n);
    int64_t pad = gguf_id(g, "tokenizer.ggml.padding_token_id", n), unk = gguf_id(g, "tokenizer.ggml.unknown_token_id", n);
    int add_bos = gguf_flag(g, "tokenizer.ggml.add_bos_token", 0) && bos >= 0;
    int add_eos = gguf_flag(g, "tokenizer.ggml.add_eos_token", 0) && eos >= 0;

    int rc = 0;
    json_t *vocab = json_object(), *added = json_array(), *decoder_map = json_object();
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t ty = types ? gguf_arr_i64(types, (uint64_t)i) : TT_NORMAL;
        if (ty == TT_UNUSED) continue;
        json_t *s = jstr(&toks->arr_strs[i]);
        if (!s) {
            rc = err_set("%s: tokenizer.ggml.tokens[%lld] is not valid UTF-8", path, (long long)i);
            break;
        }
        const char *text = json_string_value(s);
        if (!json_object_get(vocab, text)) json_object_set_new(vocab, text, json_integer(i));
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) {
            json_t *e = special_entry(text, ty != TT_USER_DEFINED);
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)i);
            json_object_set(decoder_map, key, e);
            json_t *a = json_deep_copy(e);
            json_object_set_new(a, "id", json_integer(i));
            json_array_append_new(added, a);
            json_decref(e);
        }
        json_decref(s);
    }
    json_t *mlist = json_array();
    for (uint64_t i = 0; i < merges->arr_len && rc == 0; i++) {
        json_t *s = jstr(&merges->arr_strs[i]);
        if (!s) rc = err_set("%s: tokenizer.ggml.merges[%llu] is not valid UTF-8", path, (unsigned long long)i);
        else json_array_append_new(mlist, s);
    }
    const char *tok_str[4] = {NULL, NULL, NULL, NULL}; // bos, eos, pad, unk
    int64_t ids[4] = {bos, eos, pad, unk};
    json_t *tstr[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < 4 && rc == 0; k++)
        if (ids[k] >= 0 && (tstr[k] = jstr(&toks->arr_strs[ids[k]]))) tok_str[k] = json_string_value(tstr[k]);
    json_t *tj = NULL, *tc = NULL, *sm = NULL;
    if (rc == 0) {
        tj = json_object();
        json_object_set_new(tj, "version", json_string("1.0"));
        json_object_set_new(tj, "truncation", json_null());
        json_object_set_new(tj, "padding", json_null());
        json_object_set(tj, "added_tokens", added);
        json_object_set_new(tj, "normalizer", parse_fixed(pk->normalizer));
        json_object_set_new(tj, "pre_tokenizer", parse_fixed(pk->pre_tokenizer));
        json_object_set_new(tj, "post_processor", add_bos || add_eos
                                                      ? template_processing(add_bos ? tok_str[0] : NULL, bos,
                                                                            add_eos ? tok_str[1] : NULL, eos)
                                                      : parse_fixed(BYTELEVEL("true", "false", "true")));
        json_object_set_new(tj, "decoder", parse_fixed(pk->decoder));
        json_t *m = json_object();
        json_object_set_new(m, "type", json_string("BPE"));
        json_object_set_new(m, "dropout", json_null());
        json_object_set_new(m, "unk_token", unk >= 0 && tok_str[3] ? json_string(tok_str[3]) : json_null());
        json_object_set_new(m, "continuing_subword_prefix", json_null());
        json_object_set_new(m, "end_of_word_suffix", json_null());
        json_object_set_new(m, "fuse_unk", json_false());
        json_object_set_new(m, "byte_fallback", json_false());
        json_object_set_new(m, "ignore_merges", json_boolean(pk->ignore_merges));
        json_object_set(m, "vocab", vocab);
        json_object_set(m, "merges", mlist);
        json_object_set_new(tj, "model", m);
        rc = write_json(dir, "tokenizer.json", tj, 0);
    }
    if (rc == 0) {
        tc = json_object();
        json_object_set_new(tc, "add_bos_token", json_boolean(add_bos));
        json_object_set_new(tc, "add_eos_token", json_boolean(add_eos));
        json_object_set(tc, "added_tokens_decoder", decoder_map);
        static const char *const keys[4] = {"bos_token", "eos_token", "pad_token", "unk_token"};
        sm = json_object();
        for (int k = 0; k < 4; k++) {
            json_object_set_new(tc, keys[k], tok_str[k] ? json_string(tok_str[k]) : json_null());
            if (tok_str[k]) json_object_set_new(sm, keys[k], json_string(tok_str[k]));
        }
        json_object_set_new(tc, "clean_up_tokenization_spaces", json_false());
        json_object_set_new(tc, "model_max_length", json_integer(c->max_position_embeddings));
        json_object_set_new(tc, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
        // chat templates: the default, and named ones as HF's list form
        char *def = gguf_find_kv(g, "tokenizer.chat_template") ? gguf_get_str(g, "tokenizer.chat_template") : NULL;
        err_clear();
        json_t *named = json_array();
        for (int64_t i = 0; i < g->n_kv; i++) {
            const char *key = g->kvs[i].key;
            if (strncmp(key, "tokenizer.chat_template.", 24) != 0 || g->kvs[i].type != GGUF_TYPE_STRING) continue;
            json_t *t = jstr(&g->kvs[i].str);
            if (t) json_array_append_new(named, json_pack("{s:s, s:o}", "name", key + 24, "template", t));
        }
        if (json_array_size(named)) {
            if (def) json_array_insert_new(named, 0, json_pack("{s:s, s:s}", "name", "default", "template", def));
            json_object_set(tc, "chat_template", named);
        } else if (def) {
            json_object_set_new(tc, "chat_template", json_string(def));
        }
        json_decref(named);
        free(def);
        rc = write_json(dir, "tokenizer_config.json", tc, 2);
        if (rc == 0) rc = write_json(dir, "special_tokens_map.json", sm, 2);
    }
    for (int k = 0; k < 4; k++) json_decref(tstr[k]);
    json_decref(tj);
    json_decref(tc);
    json_decref(sm);
    json_decref(vocab);
    json_decref(added);
    json_decref(decoder_map);
    json_decref(mlist);
    return rc;
}
