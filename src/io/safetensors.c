// safetensors.c — validating mmap reader, sharded sets and a streaming atomic writer.
//
// Reader: the whole file is mapped read-only; the header JSON is parsed with
// jansson and every entry is checked before any view is handed out, following the
// reference Rust implementation (huggingface/safetensors): header length bounded
// by ST_MAX_HEADER and by the file, known dtypes, shapes of non-negative integers,
// data_offsets [begin, end] with end - begin == numel * element size, and the
// tensors, sorted by offset, tiling the data buffer exactly (no gap, no overlap).
// Every message starts with the file's path and names the tensor at fault.
//
// Sets: a model directory is one file or the shards named by
// model.safetensors.index.json; all tensors go into one name-sorted index.
//
// Writer: specs are declared up front, the header (padded with spaces so the
// data buffer starts 8-byte aligned) is written at once, then tensor bytes are
// streamed in declaration order into an atomic_file that is renamed into place
// only when every tensor received exactly its bytes.
#include "safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// ---- small helpers ----
typedef unsigned long long ull;

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void write_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// numel * elem_size for a shape; -1 when it does not fit in 64 bits.
static int shape_nbytes(const int64_t *shape, int ndim, size_t elem, uint64_t *out) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) n = 0;
    if (n) {
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (n > UINT64_MAX / d) return -1;
            n *= d;
        }
        if (n > UINT64_MAX / elem) return -1;
    }
    *out = n * elem;
    return 0;
}

// ---- reader: one header entry ----
typedef struct {
    uint64_t begin, end;
    int64_t idx; // position in f->tensors
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

// Fill t (name already set) and its offsets from one JSON entry.
static int parse_entry(const char *path, const char *name, json_t *e, tensor_view *t,
                       uint64_t *begin, uint64_t *end, uint64_t bufsize) {
    if (!json_is_object(e)) return err_set("%s: tensor '%s': entry is not an object", path, name);

    json_t *jd = json_object_get(e, "dtype");
    if (!jd) return err_set("%s: tensor '%s': missing \"dtype\"", path, name);
    if (!json_is_string(jd)) return err_set("%s: tensor '%s': \"dtype\" is not a string", path, name);
    int dt = dtype_from_name(json_string_value(jd));
    if (dt < 0) return err_set("%s: tensor '%s': unknown dtype '%s'", path, name, json_string_value(jd));
    t->type = (dtype)dt;

    json_t *js = json_object_get(e, "shape");
    if (!js) return err_set("%s: tensor '%s': missing \"shape\"", path, name);
    if (!json_is_array(js)) return err_set("%s: tensor '%s': \"shape\" is not an array", path, name);
    size_t nd = json_array_size(js);
    if (nd > TENSOR_MAX_DIMS)
        return err_set("%s: tensor '%s': shape has %zu dims, at most %d supported", path, name, nd,
                       TENSOR_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d))
            return err_set("%s: tensor '%s': shape[%zu] is not an integer", path, name, i);
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return err_set("%s: tensor '%s': shape[%zu] is %lld, expected a non-negative integer", path,
                           name, i, (long long)v);
        t->shape[i] = (int64_t)v;
    }

    json_t *jo = json_object_get(e, "data_offsets");
    if (!jo) return err_set("%s: tensor '%s': missing \"data_offsets\"", path, name);
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(jb) || !json_is_integer(je) ||
        json_integer_value(jb) < 0 || json_integer_value(jb) > json_integer_value(je))
        return err_set("%s: tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end", path,
                       name);
    *begin = (uint64_t)json_integer_value(jb);
    *end = (uint64_t)json_integer_value(je);
    if (*end > bufsize)
        return err_set("%s: tensor '%s': data_offsets [%llu, %llu] end beyond the data buffer (%llu bytes)",
                       path, name, (ull)*begin, (ull)*end, (ull)bufsize);

    char sbuf[128];
    uint64_t need;
    if (shape_nbytes(t->shape, t->ndim, dtype_block_bytes(t->type), &need))
        return err_set("%s: tensor '%s': shape %s %s overflows 64 bits", path, name,
                       shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), dtype_name(t->type));
    if (*end - *begin != need)
        return err_set("%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape %s %s needs %llu",
                       path, name, (ull)*begin, (ull)*end, (ull)(*end - *begin),
                       shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), dtype_name(t->type), (ull)need);
    t->nbytes = (size_t)need;
    return 0;
}

static int parse_metadata(st_file *f, const char *path, json_t *m) {
    if (json_is_null(m)) return 0; // the reference accepts null (Option<HashMap>)
    if (!json_is_object(m)) return err_set("%s: __metadata__ is not an object", path);
    f->meta = xcalloc(json_object_size(m) + 1, sizeof *f->meta);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return err_set("%s: __metadata__ key '%s': value is not a string", path, k);
        f->meta[f->n_meta].key = xstrdup(k);
        f->meta[f->n_meta].value = xstrdup(json_string_value(v));
        f->n_meta++;
    }
    return 0;
}

// ---- reader: whole header ----
// Parses and validates the header of the mapped file; fills f->tensors (in data order).
static int parse_header(st_file *f) {
    const char *path = f->map.path;
    size_t size = f->map.size;
    if (size < 8)
        return err_set("%s: file is %zu bytes, too short for a safetensors header (need at least 8)", path,
                       size);
    uint64_t hlen = read_le64(f->map.data);
    if (hlen > ST_MAX_HEADER)
        return err_set("%s: header length %llu exceeds the limit of %u bytes", path, (ull)hlen,
                       ST_MAX_HEADER);
    if (hlen > size - 8)
        return err_set("%s: header length %llu exceeds the file (%zu bytes after the length prefix)", path,
                       (ull)hlen, size - 8);
    const uint8_t *data = f->map.data + 8 + hlen;
    uint64_t bufsize = size - 8 - hlen;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map.data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set("%s: header JSON malformed at line %d column %d: %s", path, jerr.line, jerr.column,
                       jerr.text);
    int rc = 0;
    span *spans = NULL;
    if (!json_is_object(root)) {
        rc = err_set("%s: header is not a JSON object", path);
        goto done;
    }

    size_t n = json_object_size(root);
    f->tensors = xcalloc(n + 1, sizeof *f->tensors);
    spans = xcalloc(n + 1, sizeof *spans);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_metadata(f, path, val))) goto done;
            continue;
        }
        int64_t i = f->n_tensors;
        tensor_view *t = &f->tensors[i];
        memset(t, 0, sizeof *t);
        if ((rc = parse_entry(path, key, val, t, &spans[i].begin, &spans[i].end, bufsize))) goto done;
        t->name = xstrdup(key);
        t->data = data + spans[i].begin;
        spans[i].idx = i;
        f->n_tensors++;
    }

    // tensors sorted by offset must tile the data buffer: no gap, no overlap
    qsort(spans, (size_t)f->n_tensors, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const span *s = &spans[i];
        const char *nm = f->tensors[s->idx].name;
        if (s->begin < at) {
            const span *p = &spans[i - 1];
            rc = err_set("%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", path, nm,
                         (ull)s->begin, (ull)s->end, f->tensors[p->idx].name, (ull)p->begin, (ull)p->end);
            goto done;
        }
        if (s->begin > at) {
            if (i == 0)
                rc = err_set("%s: tensor '%s': data_offsets [%llu, %llu] leave a gap of %llu bytes at the "
                             "start of the data buffer",
                             path, nm, (ull)s->begin, (ull)s->end, (ull)s->begin);
            else
                rc = err_set("%s: tensor '%s': data_offsets [%llu, %llu] leave a gap of %llu bytes after "
                             "tensor '%s' (ends at %llu)",
                             path, nm, (ull)s->begin, (ull)s->end, (ull)(s->begin - at),
                             f->tensors[spans[i - 1].idx].name, (ull)at);
            goto done;
        }
        at = s->end;
    }
    if (at != bufsize) {
        rc = err_set("%s: gap of %llu unused bytes at the end of the data buffer (tensors end at %llu, "
                     "buffer is %llu bytes)",
                     path, (ull)(bufsize - at), (ull)at, (ull)bufsize);
        goto done;
    }

    // keep views in data order ("file order")
    tensor_view *sorted = xcalloc((size_t)f->n_tensors + 1, sizeof *sorted);
    for (int64_t i = 0; i < f->n_tensors; i++) sorted[i] = f->tensors[spans[i].idx];
    free(f->tensors);
    f->tensors = sorted;

done:
    free(spans);
    json_decref(root);
    return rc;
}

// ---- reader: public API ----
int st_open(st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    if (mf_open(&f->map, path)) return -1;
    if (parse_header(f)) {
        st_close(f);
        return -1;
    }
    return 0;
}

void st_close(st_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    for (int64_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    mf_release(&f->map);
    memset(f, 0, sizeof *f);
}

const tensor_view *st_find(const st_file *f, const char *name) {
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta_get(const st_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

// ---- sets: sorted index over every file ----
static int cmp_view_name(const void *a, const void *b) {
    const tensor_view *x = *(const tensor_view *const *)a, *y = *(const tensor_view *const *)b;
    return strcmp(x->name, y->name);
}

// Which file of the set holds view t.
static const st_file *owner_of(const st_set *s, const tensor_view *t) {
    for (int i = 0; i < s->n_files; i++) {
        const st_file *f = &s->files[i];
        if (f->n_tensors && t >= f->tensors && t < f->tensors + f->n_tensors) return f;
    }
    LORAC_ASSERT(0);
    return NULL;
}

static int build_index(st_set *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n_files; i++) n += s->files[i].n_tensors;
    s->index = xcalloc((size_t)n + 1, sizeof *s->index);
    s->n_tensors = 0;
    for (int i = 0; i < s->n_files; i++)
        for (int64_t j = 0; j < s->files[i].n_tensors; j++) s->index[s->n_tensors++] = &s->files[i].tensors[j];
    qsort(s->index, (size_t)n, sizeof *s->index, cmp_view_name);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(s->index[i - 1]->name, s->index[i]->name) == 0) {
            const st_file *a = owner_of(s, s->index[i - 1]), *b = owner_of(s, s->index[i]);
            if (a == b) // cannot happen: JSON duplicates are rejected
                return err_set("%s: duplicate tensor '%s'", a->map.path, s->index[i]->name);
            if (a > b) {
                const st_file *t = a;
                a = b, b = t;
            }
            return err_set("%s: duplicate tensor '%s' (also in %s)", b->map.path, s->index[i]->name,
                           a->map.path);
        }
    return 0;
}

int st_set_open_files(st_set *s, const char *const *paths, int n) {
    memset(s, 0, sizeof *s);
    s->files = xcalloc((size_t)n + 1, sizeof *s->files);
    for (int i = 0; i < n; i++) {
        if (st_open(&s->files[i], paths[i])) {
            st_set_close(s);
            return -1;
        }
        s->n_files++;
    }
    if (build_index(s)) {
        st_set_close(s);
        return -1;
    }
    return 0;
}

void st_set_close(st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) st_close(&s->files[i]);
    free(s->files);
    free(s->index);
    memset(s, 0, sizeof *s);
}

const tensor_view *st_set_find(const st_set *s, const char *name) {
    if (!s->n_tensors) return NULL;
    tensor_view key = {.name = name};
    const tensor_view *kp = &key;
    const tensor_view **hit = bsearch(&kp, s->index, (size_t)s->n_tensors, sizeof *s->index, cmp_view_name);
    return hit ? *hit : NULL;
}

// ---- sets: directories ----
// A ".." path component (shard names must stay inside the model directory).
static int has_dotdot(const char *p) {
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/')) return 1;
    return 0;
}

// Shards named by an index file; every listed tensor must be in its shard and
// every shard tensor must be listed.
static int open_index(st_set *s, const char *dir, const char *ipath) {
    char *text;
    size_t len;
    if (file_read_all(ipath, &text, &len)) return -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return err_set("%s: JSON malformed at line %d column %d: %s", ipath, jerr.line, jerr.column,
                       jerr.text);
    int rc = 0;
    char **shards = NULL;
    int n_shards = 0;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm)) {
        rc = err_set("%s: missing \"weight_map\" object", ipath);
        goto done;
    }
    if (json_object_size(wm) == 0) {
        rc = err_set("%s: \"weight_map\" is empty", ipath);
        goto done;
    }

    // distinct shard names, in order of first appearance
    shards = xcalloc(json_object_size(wm) + 1, sizeof *shards);
    const char *name;
    json_t *v;
    json_object_foreach(wm, name, v) {
        if (!json_is_string(v)) {
            rc = err_set("%s: weight_map['%s'] is not a string", ipath, name);
            goto done;
        }
        const char *sh = json_string_value(v);
        if (!sh[0] || sh[0] == '/' || has_dotdot(sh)) {
            rc = err_set("%s: weight_map['%s']: shard name '%s' must be a relative file name", ipath, name, sh);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < n_shards && !seen; i++) seen = strcmp(shards[i], sh) == 0;
        if (!seen) shards[n_shards++] = (char *)sh;
    }

    s->files = xcalloc((size_t)n_shards + 1, sizeof *s->files);
    for (int i = 0; i < n_shards; i++) {
        char *p = path_join(dir, shards[i]);
        int bad = st_open(&s->files[i], p);
        free(p);
        if (bad) {
            rc = err_prefix("%s: shard '%s'", ipath, shards[i]);
            goto done;
        }
        s->n_files++;
    }
    json_object_foreach(wm, name, v) {
        const char *sh = json_string_value(v);
        int i = 0;
        while (strcmp(shards[i], sh)) i++;
        if (!st_find(&s->files[i], name)) {
            rc = err_set("%s: tensor '%s' is listed in shard '%s' but %s does not contain it", ipath, name, sh,
                         s->files[i].map.path);
            goto done;
        }
    }
    if ((rc = build_index(s))) goto done;
    for (int64_t i = 0; i < s->n_tensors; i++)
        if (!json_object_get(wm, s->index[i]->name)) {
            rc = err_set("%s: tensor '%s' of %s is not listed in the weight_map", ipath, s->index[i]->name,
                         owner_of(s, s->index[i])->map.path);
            goto done;
        }

done:
    free(shards);
    json_decref(root);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int st_set_open_dir(st_set *s, const char *dir) {
    memset(s, 0, sizeof *s);
    if (!dir_exists(dir)) return err_set("%s: not a directory", dir);

    char *p = path_join(dir, "model.safetensors.index.json");
    if (file_exists(p)) {
        int rc = open_index(s, dir, p);
        free(p);
        if (rc) st_set_close(s);
        return rc;
    }
    free(p);

    p = path_join(dir, "model.safetensors");
    if (file_exists(p)) {
        const char *one[1] = {p};
        int rc = st_set_open_files(s, one, 1);
        free(p);
        return rc;
    }
    free(p);

    // exactly one *.safetensors
    DIR *d = opendir(dir);
    if (!d) return err_set("%s: cannot open directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!has_suffix(de->d_name, ".safetensors")) continue;
        char *fp = path_join(dir, de->d_name);
        int reg = file_exists(fp);
        free(fp);
        if (!reg) continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 8) * sizeof *names);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    int rc;
    if (n == 0) {
        rc = err_set("no model.safetensors or model.safetensors.index.json in %s", dir);
    } else if (n > 1) {
        qsort(names, n, sizeof *names, cmp_str);
        strbuf sb;
        sb_init(&sb);
        for (size_t i = 0; i < n && i < 16; i++) sb_printf(&sb, "%s%s", i ? ", " : "", names[i]);
        if (n > 16) sb_printf(&sb, ", ... (%zu in all)", n);
        rc = err_set("%s: %zu .safetensors files and no model.safetensors.index.json to say which: %s", dir, n,
                     sb.buf);
        err_hint("add model.safetensors.index.json, or pass the file itself");
        sb_release(&sb);
    } else {
        p = path_join(dir, names[0]);
        const char *one[1] = {p};
        rc = st_set_open_files(s, one, 1);
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

// ---- writer ----
static void writer_release(st_writer *w) {
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->names[i]);
    free(w->names);
    free(w->nbytes);
    memset(w, 0, sizeof *w);
}

// Skip over tensors that are complete (including zero-byte ones).
static void writer_advance(st_writer *w) {
    while (w->next < w->n_tensors && w->written == w->nbytes[w->next]) {
        w->next++;
        w->written = 0;
    }
}

// The header JSON, padded with spaces to a multiple of 8 bytes; caller frees.
static char *build_header(const char *path, const st_tensor_spec *specs, const size_t *nbytes, int64_t n,
                          const st_meta *meta, int64_t n_meta, size_t *len) {
    json_t *root = json_object();
    char *out = NULL;
    if (n_meta > 0) {
        json_t *m = json_object();
        json_object_set_new(root, "__metadata__", m);
        for (int64_t i = 0; i < n_meta; i++) {
            json_t *v = meta[i].key && meta[i].value ? json_string(meta[i].value) : NULL;
            if (!v) {
                err_set("%s: __metadata__ entry %lld: key and value must be valid UTF-8 strings", path,
                        (long long)i);
                goto done;
            }
            if (json_object_get(m, meta[i].key)) {
                json_decref(v);
                err_set("%s: __metadata__ key '%s' given twice", path, meta[i].key);
                goto done;
            }
            if (json_object_set_new(m, meta[i].key, v)) {
                err_set("%s: __metadata__ key '%s' is not valid UTF-8", path, meta[i].key);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        const st_tensor_spec *sp = &specs[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        json_object_set_new(e, "dtype", json_string(dtype_name(sp->type)));
        for (int d = 0; d < sp->ndim; d++) json_array_append_new(shape, json_integer(sp->shape[d]));
        json_object_set_new(e, "shape", shape);
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nbytes[i])));
        json_object_set_new(e, "data_offsets", offs);
        off += nbytes[i];
        if (json_object_set_new(root, sp->name, e)) {
            err_set("%s: tensor name '%s' is not valid UTF-8", path, sp->name);
            goto done;
        }
    }
    char *js = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    LORAC_ASSERT(js);
    size_t jl = strlen(js), padded = (jl + 7) / 8 * 8;
    out = xmalloc(padded + 1);
    memcpy(out, js, jl);
    memset(out + jl, ' ', padded - jl);
    out[padded] = 0;
    *len = padded;
    free(js);
done:
    json_decref(root);
    return out;
}

int st_writer_open(st_writer *w, const char *path, const st_tensor_spec *specs, int64_t n, const st_meta *meta,
                   int64_t n_meta) {
    memset(w, 0, sizeof *w);
    if (n < 0 || n_meta < 0) return err_set("%s: negative tensor or metadata count", path);
    size_t *nbytes = xcalloc((size_t)n + 1, sizeof *nbytes);
    uint64_t total = 0;
    char sbuf[128];
    for (int64_t i = 0; i < n; i++) {
        const st_tensor_spec *sp = &specs[i];
        const char *nm = sp->name ? sp->name : "(null)";
        int bad = 0;
        if (!sp->name || !sp->name[0] || strcmp(sp->name, "__metadata__") == 0)
            bad = err_set("%s: tensor %lld: name '%s' is empty or reserved", path, (long long)i, nm);
        else if ((unsigned)sp->type >= DTYPE_COUNT)
            bad = err_set("%s: tensor '%s': invalid dtype %d", path, nm, (int)sp->type);
        else if (dtype_is_quantized(sp->type))
            bad = err_set("%s: tensor '%s': quantized dtype %s cannot be stored in safetensors", path, nm,
                          dtype_name(sp->type));
        else if (sp->ndim < 0 || sp->ndim > TENSOR_MAX_DIMS)
            bad = err_set("%s: tensor '%s': %d dims, expected 0..%d", path, nm, sp->ndim, TENSOR_MAX_DIMS);
        for (int d = 0; !bad && d < sp->ndim; d++)
            if (sp->shape[d] < 0)
                bad = err_set("%s: tensor '%s': shape[%d] is %lld, expected >= 0", path, nm, d,
                              (long long)sp->shape[d]);
        uint64_t nb = 0;
        if (!bad && (shape_nbytes(sp->shape, sp->ndim, dtype_block_bytes(sp->type), &nb) ||
                     nb > (uint64_t)INT64_MAX - total || nb > SIZE_MAX))
            bad = err_set("%s: tensor '%s': shape %s is too large", path, nm,
                          shape_str(sbuf, sizeof sbuf, sp->ndim, sp->shape));
        for (int64_t j = 0; !bad && j < i; j++)
            if (strcmp(specs[j].name, sp->name) == 0)
                bad = err_set("%s: tensor '%s' declared twice", path, nm);
        if (bad) {
            free(nbytes);
            return -1;
        }
        nbytes[i] = (size_t)nb;
        total += nb;
    }

    size_t hlen;
    char *hdr = build_header(path, specs, nbytes, n, meta, n_meta, &hlen);
    if (!hdr) {
        free(nbytes);
        return -1;
    }
    if (hlen > ST_MAX_HEADER) {
        free(hdr);
        free(nbytes);
        return err_set("%s: header of %zu bytes exceeds the limit of %u bytes", path, hlen, ST_MAX_HEADER);
    }
    uint8_t pre[8];
    write_le64(pre, hlen);
    if (af_open(&w->af, path)) {
        free(hdr);
        free(nbytes);
        return -1;
    }
    int bad = af_write(&w->af, pre, 8) || af_write(&w->af, hdr, hlen);
    free(hdr);
    if (bad) {
        af_abort(&w->af);
        free(nbytes);
        return -1;
    }
    w->n_tensors = n;
    w->nbytes = nbytes;
    w->names = xcalloc((size_t)n + 1, sizeof *w->names);
    for (int64_t i = 0; i < n; i++) w->names[i] = xstrdup(specs[i].name);
    writer_advance(w);
    return 0;
}

int st_writer_write(st_writer *w, const void *data, size_t n) {
    if (!w->af.tmp) return err_set("st_writer_write: writer is not open");
    if (w->failed) return err_set("%s: write after an earlier error", w->af.path);
    if (n == 0) return 0;
    if (w->next >= w->n_tensors) {
        w->failed = 1;
        return err_set("%s: %zu bytes written after all %lld tensors were complete", w->af.path, n,
                       (long long)w->n_tensors);
    }
    size_t left = w->nbytes[w->next] - w->written;
    if (n > left) {
        w->failed = 1;
        return err_set("%s: tensor '%s': write of %zu bytes exceeds its remaining %zu of %zu bytes", w->af.path,
                       w->names[w->next], n, left, w->nbytes[w->next]);
    }
    if (af_write(&w->af, data, n)) {
        w->failed = 1;
        return -1;
    }
    w->written += n;
    writer_advance(w);
    return 0;
}

int st_writer_commit(st_writer *w) {
    if (!w->af.tmp) return err_set("st_writer_commit: writer is not open");
    int rc = 0;
    if (w->failed)
        rc = err_set("%s: not written: an earlier write failed", w->af.path);
    else if (w->next < w->n_tensors)
        rc = err_set("%s: not written: tensor '%s' got %zu of %zu bytes (%lld of %lld tensors complete)",
                     w->af.path, w->names[w->next], w->written, w->nbytes[w->next], (long long)w->next,
                     (long long)w->n_tensors);
    if (rc) {
        st_writer_abort(w);
        return -1;
    }
    rc = af_commit(&w->af);
    writer_release(w);
    return rc;
}

void st_writer_abort(st_writer *w) {
    if (!w) return;
    af_abort(&w->af);
    writer_release(w);
}

int st_write_file(const char *path, const st_tensor_spec *specs, const void *const *data, int64_t n,
                  const st_meta *meta, int64_t n_meta) {
    st_writer w;
    if (st_writer_open(&w, path, specs, n, meta, n_meta)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (w.nbytes[i] && st_writer_write(&w, data[i], w.nbytes[i])) {
            st_writer_abort(&w);
            return -1;
        }
    return st_writer_commit(&w);
}
