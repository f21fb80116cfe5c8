// hf_out.c — a model (adapter merged) as a Hugging Face directory: safetensors
// weights in HF names and row order, config.json, generation_config.json and
// the tokenizer files.
//
// Weights stream tensor by tensor in chunks of rows, so no tensor is ever held
// whole. From an HF source the side files are copied (config.json with its
// dtype updated, so keys lorac does not model survive); from a GGUF they are
// written from the parsed config and rebuilt from the tokenizer metadata.
#include "fuse_internal.h"

#include "../io/json_file.h"
#include "../model/hf_write.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *torch_dtype_name(dtype t) {
    return t == DTYPE_F32 ? "float32" : t == DTYPE_F16 ? "float16" : "bfloat16";
}

// ---- weights ----
static int hf_sink(void *ctx, const void *data, size_t n) { return hfw_write(ctx, data, n); }

int hf_write_weights(const wsource *s, const char *dir, dtype type, kept_stats *ks, FILE *log) {
    hf_writer h;
    if (hfw_open_model(&h, dir, &s->m->cfg, type)) return -1;
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(&s->m->cfg, &ms);
    dtype *types = xmalloc((size_t)n * sizeof *types);
    for (int64_t i = 0; i < n; i++) types[i] = type;
    int rc = wsrc_stream(s, ms, n, types, 0, 0, ks, hf_sink, &h, log);
    free(types);
    free(ms);
    if (rc) {
        hfw_abort(&h);
        return -1;
    }
    return hfw_commit(&h);
}

// ---- side files ----
// config.json as the source has it, with the new weight dtype.
static int copy_config(const char *src, const char *dst, dtype type) {
    char *path = path_join(src, "config.json");
    json_error_t je;
    json_t *cfg = json_load_file(path, 0, &je);
    int rc;
    if (!cfg) {
        rc = err_set("%s:%d:%d: %s", path, je.line, je.column, je.text);
    } else {
        json_object_set_new(cfg, "torch_dtype", json_string(torch_dtype_name(type)));
        if (json_object_get(cfg, "dtype")) json_object_set_new(cfg, "dtype", json_string(torch_dtype_name(type)));
        char *out = path_join(dst, "config.json");
        rc = json_save(out, cfg, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        free(out);
    }
    json_decref(cfg);
    free(path);
    return rc;
}

// Tokenizer and generation files an HF model directory may carry, copied as they are.
static const char *const side_files[] = {"generation_config.json", "tokenizer.json",      "tokenizer_config.json",
                                         "special_tokens_map.json", "chat_template.jinja", "chat_template.json",
                                         "added_tokens.json",       "vocab.json",          "merges.txt",
                                         NULL};

static int copy_side_files(const char *src, const char *dst) {
    for (int i = 0; side_files[i]; i++) {
        char *s = path_join(src, side_files[i]), *d = path_join(dst, side_files[i]);
        int rc = file_exists(s) ? file_copy(s, d) : 0;
        free(s);
        free(d);
        if (rc) return -1;
    }
    // named chat templates
    char *sub = path_join(src, "additional_chat_templates");
    int rc = 0;
    if (dir_exists(sub)) {
        char *dsub = path_join(dst, "additional_chat_templates");
        rc = mkdir_p(dsub);
        DIR *d = rc ? NULL : opendir(sub);
        struct dirent *e;
        while (d && rc == 0 && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *s = path_join(sub, e->d_name), *t = path_join(dsub, e->d_name);
            if (file_exists(s)) rc = file_copy(s, t);
            free(s);
            free(t);
        }
        if (d) closedir(d);
        free(dsub);
    }
    free(sub);
    return rc;
}

int hf_write_side_files(const model *m, const char *dir, dtype type) {
    if (m->src.kind == MODEL_SRC_HF_DIR) {
        if (copy_config(m->src.path, dir, type) || copy_side_files(m->src.path, dir)) return -1;
        char *gc = path_join(dir, "generation_config.json");
        int have = file_exists(gc);
        free(gc);
        return have ? 0 : config_write_generation(&m->cfg, dir); // none in the source: the ids lorac knows
    }
    model_config c;
    config_copy(&c, &m->cfg);
    free(c.torch_dtype);
    c.torch_dtype = xstrdup(torch_dtype_name(type));
    int rc = config_write_hf(&c, dir);
    config_release(&c);
    if (rc == 0) rc = tok_files_from_gguf(&m->gguf, &m->cfg, dir);
    return rc;
}
