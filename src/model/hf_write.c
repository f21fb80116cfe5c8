// hf_write.c — sharded safetensors output in the HF directory layout.
#include "hf_write.h"

#include "../io/json_file.h"
#include "model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static size_t spec_bytes(const st_tensor_spec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
    return dtype_row_bytes(s->type, n);
}

static char *shard_name(const hf_writer *h, int k) {
    if (h->n_shards == 1) return xstrdup("model.safetensors");
    return xasprintf("model-%05d-of-%05d.safetensors", k + 1, h->n_shards);
}

static const st_meta pt_meta[] = {{"format", "pt"}};

static int open_shard(hf_writer *h, int k) {
    int64_t first = -1, count = 0;
    for (int64_t i = 0; i < h->n; i++)
        if (h->shard_of[i] == k) {
            if (first < 0) first = i;
            count++;
        }
    char *name = shard_name(h, k);
    char *path = path_join(h->dir, name);
    int rc = st_writer_open(&h->w, path, h->specs + first, count, pt_meta, 1);
    free(name);
    free(path);
    h->open = rc == 0;
    h->cur_shard = k;
    return rc;
}

static void release(hf_writer *h) {
    for (int64_t i = 0; i < h->n; i++) free((char *)h->specs[i].name);
    free(h->specs);
    free(h->shard_of);
    free(h->dir);
    memset(h, 0, sizeof *h);
}

int hfw_open(hf_writer *h, const char *dir, const st_tensor_spec *specs, int64_t n, uint64_t max_shard_bytes) {
    memset(h, 0, sizeof *h);
    if (n <= 0) return err_set("%s: no tensors to write", dir);
    h->dir = xstrdup(dir);
    h->n = n;
    h->specs = xcalloc((size_t)n, sizeof *h->specs);
    h->shard_of = xcalloc((size_t)n, sizeof *h->shard_of);
    uint64_t in_shard = 0;
    int k = 0;
    for (int64_t i = 0; i < n; i++) {
        h->specs[i] = specs[i];
        h->specs[i].name = xstrdup(specs[i].name);
        uint64_t b = spec_bytes(&specs[i]);
        if (in_shard > 0 && in_shard + b > max_shard_bytes) {
            k++;
            in_shard = 0;
        }
        h->shard_of[i] = k;
        in_shard += b;
    }
    h->n_shards = k + 1;
    if (open_shard(h, 0)) {
        release(h);
        return -1;
    }
    return 0;
}

int hfw_open_model(hf_writer *h, const char *dir, const model_config *c, dtype t) {
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(c, &ms);
    st_tensor_spec *specs = xcalloc((size_t)n, sizeof *specs);
    for (int64_t i = 0; i < n; i++) specs[i] = (st_tensor_spec){ms[i].hf_name, t, ms[i].ndim, {ms[i].shape[0], ms[i].shape[1]}};
    int rc = hfw_open(h, dir, specs, n, HF_MAX_SHARD_BYTES);
    free(specs);
    free(ms);
    return rc;
}

int hfw_write(hf_writer *h, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        if (h->next >= h->n) return err_set("%s: more bytes written than the tensors declared", h->dir);
        size_t need = spec_bytes(&h->specs[h->next]) - h->done_bytes;
        size_t take = n < need ? n : need;
        if (take && st_writer_write(&h->w, p, take)) return -1;
        p += take;
        n -= take;
        h->done_bytes += take;
        if (h->done_bytes == spec_bytes(&h->specs[h->next])) {
            h->next++;
            h->done_bytes = 0;
            if (h->next < h->n && h->shard_of[h->next] != h->cur_shard) {
                h->open = 0;
                if (st_writer_commit(&h->w) || open_shard(h, h->shard_of[h->next])) return -1;
            }
        }
    }
    return 0;
}

static int write_index(hf_writer *h) {
    json_t *root = json_object(), *meta = json_object(), *map = json_object();
    uint64_t total = 0;
    for (int64_t i = 0; i < h->n; i++) {
        total += spec_bytes(&h->specs[i]);
        char *name = shard_name(h, h->shard_of[i]);
        json_object_set_new(map, h->specs[i].name, json_string(name));
        free(name);
    }
    json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
    json_object_set_new(root, "metadata", meta);
    json_object_set_new(root, "weight_map", map);
    char *path = path_join(h->dir, "model.safetensors.index.json");
    int rc = json_save(path, root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    free(path);
    return rc;
}

int hfw_commit(hf_writer *h) {
    int rc = 0;
    if (h->next != h->n) rc = err_set("%s: tensor '%s' was not written", h->dir, h->specs[h->next].name);
    if (rc == 0 && h->open) {
        h->open = 0;
        rc = st_writer_commit(&h->w);
    }
    if (rc == 0 && h->n_shards > 1) rc = write_index(h);
    if (rc) {
        hfw_abort(h);
        return -1;
    }
    release(h);
    return 0;
}

void hfw_abort(hf_writer *h) {
    if (!h || !h->dir) return;
    if (h->open) st_writer_abort(&h->w);
    release(h);
}
