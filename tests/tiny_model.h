// tiny_model.h — rebuild, through the library, the tiny random models the
// golden scripts in tests/ref/ make with `lorac init-model` (same preset, arch,
// dtype, seed, init std, tie, then the manifest's config patch merged into
// config.json). Shared by test_forward.c and test_train.c.
#ifndef LORAC_TINY_MODEL_H
#define LORAC_TINY_MODEL_H

#include "core/core.h"
#include "model/init.h"
#include "test.h"

#include <jansson.h>

// Build the model a golden manifest describes in <tmpdir>/<name>; caller frees the path.
static char *tiny_model_from_manifest(json_t *man, const char *name) {
    char *dir = path_join(test_tmpdir(), name);
    mkdir_p(dir);
    model_config c;
    const char *arch = json_string_value(json_object_get(man, "arch"));
    const char *dt = json_string_value(json_object_get(man, "dtype"));
    if (!dt) dt = "f32";
    preset_config("tiny", arch_from_name(arch), &c);
    c.tie_word_embeddings = json_is_true(json_object_get(man, "tie"));
    c.torch_dtype = xstrdup(strcmp(dt, "f32") == 0 ? "float32" : "bfloat16");
    CHECK(config_write_hf(&c, dir) == 0);
    CHECK(model_write_random(&c, dir, strcmp(dt, "f32") == 0 ? DTYPE_F32 : DTYPE_BF16,
                             (uint64_t)json_integer_value(json_object_get(man, "seed")),
                             (float)json_number_value(json_object_get(man, "init_std"))) == 0);
    config_release(&c);
    json_t *patch = json_object_get(man, "config_patch");
    if (json_object_size(patch)) {
        char *cfg_path = path_join(dir, "config.json");
        json_t *cfg = json_load_file(cfg_path, 0, NULL);
        const char *k;
        json_t *v;
        json_object_foreach(patch, k, v) json_object_set(cfg, k, v);
        json_dump_file(cfg, cfg_path, JSON_INDENT(2));
        json_decref(cfg);
        free(cfg_path);
    }
    return dir;
}

// n little-endian floats from a golden file; NULL (and a message) when the size differs.
static inline float *read_f32(const char *path, size_t n) {
    char *buf;
    size_t len;
    if (file_read_all(path, &buf, &len) || len != n * 4) {
        fprintf(stderr, "%s: expected %zu floats\n", path, n);
        free(buf);
        return NULL;
    }
    return (float *)buf;
}

#endif
