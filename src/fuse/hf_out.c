// hf_out.c — a model (adapter merged) as a Hugging Face directory: safetensors
// weights in HF names and row order, config.json, generation_config.json and
// the tokenizer files.
//
// Weights stream tensor by tensor in chunks of rows, so no tensor is ever held
// whole. From an HF source the side files are copied (config.json with its
// dtype updated, so keys lorac does not model survive); from a GGUF they are
// written from the parsed config and rebuilt from the tokenizer metadata.
#include "fuse_internal.h"

#include "../model/hf_write.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_VALUES (1 << 22) // fp32 values per chunk of rows (16 MB)

static const char *torch_dtype_name(dtype t) {
    return t == DTYPE_F32 ? "float32" : t == DTYPE_F16 ? "float16" : "bfloat16";
}

// ---- weights ----
int hf_write_weights(const wsource *s, const char *dir, dtype type, kept_stats *ks, FILE *log) {
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(&s->m->cfg, &ms);
    st_tensor_spec *specs = xcalloc((size_t)n, sizeof *specs);
    for (int64_t i = 0; i < n; i++)
        specs[i] = (st_tensor_spec){ms[i].hf_name, type, ms[i].ndim, {ms[i].shape[0], ms[i].shape[1]}};
    hf_writer h;
    int rc = hfw_open(&h, dir, specs, n, HF_MAX_SHARD_BYTES);
    free(specs);
    if (rc) {
        free(ms);
        return -1;
    }
    float *rows = NULL, *base = NULL;
    uint8_t *bytes = NULL;
    size_t cap = 0;
    double t0 = now_seconds();
    for (int64_t i = 0; i < n && rc == 0; i++) {
        wtensor wt;
        wsrc_tensor(s, &ms[i], &wt);
        int changed = wt.mod || wt.full_vec;
        int64_t chunk = CHUNK_VALUES / wt.cols > 0 ? CHUNK_VALUES / wt.cols : 1;
        if (chunk > wt.rows) chunk = wt.rows;
        size_t need = (size_t)(chunk * wt.cols);
        if (need > cap) {
            free(rows), free(base), free(bytes);
            cap = need;
            rows = xmalloc(cap * sizeof(float));
            base = xmalloc(cap * sizeof(float));
            bytes = xmalloc(cap * sizeof(float));
        }
        double t_dot = 0, t_dd = 0;
        for (int64_t r0 = 0; r0 < wt.rows && rc == 0; r0 += chunk) {
            int64_t k = wt.rows - r0 < chunk ? wt.rows - r0 : chunk;
            wsrc_rows(s, &wt, r0, k, 0, rows, changed ? base : NULL);
            if (changed && ks) kept_add_rows(ks, rows, base, k, wt.cols, type, &t_dot, &t_dd);
            rows_encode(bytes, rows, k, wt.cols, type);
            rc = hfw_write(&h, bytes, dtype_row_bytes(type, wt.cols) * (size_t)k);
        }
        if (changed && ks) kept_end_tensor(ks, ms[i].hf_name, t_dot, t_dd);
        if (log && now_seconds() - t0 > 2 && (i + 1) % 16 == 0)
            fprintf(log, "\r  %lld/%lld tensors", (long long)(i + 1), (long long)n), fflush(log);
    }
    if (log && now_seconds() - t0 > 2) fprintf(log, "\r  %lld/%lld tensors\n", (long long)n, (long long)n);
    free(rows), free(base), free(bytes);
    free(ms);
    if (rc) {
        hfw_abort(&h);
        return -1;
    }
    return hfw_commit(&h);
}

// ---- side files ----
static int write_json_file(const char *dir, const char *name, json_t *j) {
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    char *path = path_join(dir, name);
    strbuf sb;
    sb_init(&sb);
    sb_printf(&sb, "%s\n", text);
    int rc = file_write_atomic(path, sb.buf, sb.len);
    sb_release(&sb);
    free(path);
    free(text);
    return rc;
}

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
        rc = write_json_file(dst, "config.json", cfg);
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
