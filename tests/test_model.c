// test_model.c — config.json parsing (data-driven cases), model loading and
// validation, HF cache resolution, GGUF metadata mapping, random init.
#include "core/core.h"
#include "io/gguf.h"
#include "io/model_path.h"
#include "model/init.h"
#include "model/model.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char *data_dir(void) {
    const char *t = getenv("TESTS_DIR");
    return t ? t : "tests";
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

// ---- config.json cases ----
static void check_expect(const model_config *c, json_t *expect, const char *name) {
    const char *k;
    json_t *v;
    json_object_foreach(expect, k, v) {
        int nope = 0, nope_at = -1;
        for (int64_t i = 0; i < c->n_layers; i++)
            if (!c->use_rope[i]) {
                nope++;
                if (nope_at < 0) nope_at = (int)i;
            }
        double got;
        if (strcmp(k, "arch") == 0) {
            CHECK_MSG(strcmp(arch_name(c->arch), json_string_value(v)) == 0, "%s: arch %s", name, arch_name(c->arch));
            continue;
        }
        if (strcmp(k, "rope") == 0) {
            CHECK_MSG(strcmp(rope_scaling_name(c->rope_scaling.type), json_string_value(v)) == 0, "%s: rope %s", name,
                      rope_scaling_name(c->rope_scaling.type));
            continue;
        }
        if (strcmp(k, "head_dim") == 0) got = (double)c->head_dim;
        else if (strcmp(k, "n_kv_heads") == 0) got = (double)c->n_kv_heads;
        else if (strcmp(k, "n_eos") == 0) got = c->n_eos;
        else if (strcmp(k, "eos0") == 0) got = (double)c->eos_token_ids[0];
        else if (strcmp(k, "bos") == 0) got = (double)c->bos_token_id;
        else if (strcmp(k, "nope") == 0) got = nope;
        else if (strcmp(k, "nope_at") == 0) got = nope_at;
        else if (strcmp(k, "qk_norm") == 0) got = c->qk_norm;
        else if (strcmp(k, "attention_bias") == 0) got = c->attention_bias;
        else if (strcmp(k, "o_bias") == 0) got = c->o_bias;
        else if (strcmp(k, "tie") == 0) got = c->tie_word_embeddings;
        else if (strcmp(k, "rope_factor") == 0) got = c->rope_scaling.factor;
        else if (strcmp(k, "rope_theta") == 0) got = c->rope_theta;
        else {
            CHECK_MSG(0, "%s: unknown expectation '%s'", name, k);
            continue;
        }
        CHECK_MSG(got == json_number_value(v), "%s: %s = %g, expected %g", name, k, got, json_number_value(v));
    }
}

static void test_config_cases(void) {
    char *path = path_join(data_dir(), "data/config_cases.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECK_MSG(root != NULL, "%s: %s", path, je.text);
    free(path);
    if (!root) return;
    char *dir = path_join(test_tmpdir(), "cfg");
    mkdir_p(dir);
    char *cfg_path = path_join(dir, "config.json");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *raw = json_object_get(c, "raw");
        if (raw) write_text(cfg_path, json_string_value(raw));
        else {
            json_t *cfg = json_deep_copy(json_object_get(root, "base"));
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(c, "patch"), k, v) {
                if (json_is_null(v)) json_object_del(cfg, k);
                else json_object_set(cfg, k, v);
            }
            json_dump_file(cfg, cfg_path, 0);
            json_decref(cfg);
        }
        model_config mc;
        err_clear();
        int rc = config_load_hf(&mc, dir);
        json_t *err = json_object_get(c, "error");
        if (err) {
            CHECK_MSG(rc < 0 && strstr(err_msg(), json_string_value(err)) && strstr(err_msg(), "config.json"),
                      "%s: rc %d, error '%s' lacks '%s'", name, rc, err_msg(), json_string_value(err));
            if (rc == 0) config_release(&mc);
        } else {
            CHECK_MSG(rc == 0, "%s: %s", name, err_msg());
            if (rc == 0) {
                check_expect(&mc, json_object_get(c, "expect"), name);
                config_release(&mc);
            }
        }
    }
    json_decref(root);
    // generation_config.json: sampling defaults and extra eos ids
    json_t *base = json_load_file(cfg_path, 0, NULL);
    json_decref(base);
    write_text(cfg_path, "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                         "\"num_attention_heads\":4,\"vocab_size\":256,\"eos_token_id\":2}");
    char *gen = path_join(dir, "generation_config.json");
    write_text(gen, "{\"temperature\":0.6,\"top_p\":0.95,\"top_k\":20,\"eos_token_id\":[2,7],\"do_sample\":true}");
    model_config mc;
    CHECK(config_load_hf(&mc, dir) == 0);
    CHECK(mc.gen.has_temperature && mc.gen.temperature == 0.6 && mc.gen.top_k == 20 && mc.gen.do_sample);
    CHECK(mc.n_eos == 2 && mc.eos_token_ids[1] == 7);
    config_release(&mc);
    write_text(gen, "{\"temperature\":");
    CHECK_ERR(config_load_hf(&mc, dir), "generation_config.json:1:");
    write_text(gen, "{\"top_k\": \"many\"}");
    CHECK_ERR(config_load_hf(&mc, dir), "generation_config.json: 'top_k' must be an integer");
    remove(gen);
    remove(cfg_path);
    CHECK_ERR(config_load_hf(&mc, dir), "missing config.json");
    free(gen);
    free(cfg_path);
    free(dir);
}

// ---- model directories ----
static char *make_model(const char *name, const char *preset, int arch, dtype t, int tie) {
    char *dir = path_join(test_tmpdir(), name);
    mkdir_p(dir);
    model_config c;
    CHECK(preset_config(preset, arch, &c) == 0);
    if (tie >= 0) c.tie_word_embeddings = tie;
    CHECK(config_write_hf(&c, dir) == 0);
    CHECK_MSG(model_write_random(&c, dir, t, 1234, 0.02f) == 0, "%s", err_msg());
    config_release(&c);
    return dir;
}

static void test_load_each_arch(void) {
    for (int a = 0; a < ARCH_COUNT; a++) {
        for (int tie = 0; tie <= 1; tie++) {
            char name[64];
            snprintf(name, sizeof name, "m-%s-%d", arch_name((model_arch)a), tie);
            char *dir = make_model(name, "tiny", a, tie ? DTYPE_BF16 : DTYPE_F32, tie);
            model m;
            int rc = model_load(&m, dir);
            CHECK_MSG(rc == 0, "%s: %s", name, err_msg());
            if (rc == 0) {
                CHECK(m.cfg.arch == (model_arch)a && m.cfg.n_layers == 4 && m.cfg.hidden_size == 64);
                CHECK(m.embed && m.final_norm && m.lm_head && (m.lm_head == m.embed) == tie);
                int all = 1;
                for (int i = 0; i < m.cfg.n_layers; i++) {
                    layer_weights *L = &m.layers[i];
                    all &= L->q && L->k && L->v && L->o && L->gate && L->up && L->down && L->attn_norm && L->mlp_norm;
                    all &= (L->q_bias != NULL) == (a == ARCH_QWEN2);
                    all &= (L->q_norm != NULL) == (a == ARCH_QWEN3);
                }
                CHECK_MSG(all, "%s: layer weights not all bound as the architecture needs", name);
                CHECK(m.layers[0].k->shape[0] == 32 && m.layers[0].k->shape[1] == 64);
                CHECK(m.embed->type == (tie ? DTYPE_BF16 : DTYPE_F32));
                int nope = 0;
                for (int i = 0; i < 4; i++) nope += !m.cfg.use_rope[i];
                CHECK(nope == (a == ARCH_SMOLLM3 ? 1 : 0));
                // parameter count = sum of the file's tensors
                int64_t total = 0;
                for (int64_t i = 0; i < m.st.n_tensors; i++) total += tensor_numel(m.st.index[i]);
                CHECK(total == model_param_count(&m.cfg));
                model_release(&m);
            }
            free(dir);
        }
    }
    // same seed, same bytes; another seed, other bytes
    char *a1 = make_model("seed-a", "tiny", -1, DTYPE_F32, -1), *a2 = make_model("seed-b", "tiny", -1, DTYPE_F32, -1);
    char *p1 = path_join(a1, "model.safetensors"), *p2 = path_join(a2, "model.safetensors");
    char *b1, *b2;
    size_t n1, n2;
    CHECK(file_read_all(p1, &b1, &n1) == 0 && file_read_all(p2, &b2, &n2) == 0);
    CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    // the random values have the documented spread
    st_file f;
    CHECK(st_open(&f, p1) == 0);
    const tensor_view *q = st_find(&f, "model.layers.0.mlp.up_proj.weight");
    const tensor_view *nw = st_find(&f, "model.layers.0.input_layernorm.weight");
    if (q && nw) {
        const float *x = q->data;
        double s = 0, sq = 0;
        int64_t n = tensor_numel(q);
        for (int64_t i = 0; i < n; i++) s += x[i], sq += (double)x[i] * x[i];
        double sd = sqrt(sq / n - (s / n) * (s / n));
        CHECK_MSG(fabs(sd - 0.02) < 0.002 && fabs(s / n) < 0.002, "weights sd %g mean %g", sd, s / n);
        const float *w = nw->data;
        double ws = 0;
        for (int i = 0; i < 64; i++) ws += w[i];
        CHECK(fabs(ws / 64 - 1.0) < 0.05);
    }
    st_close(&f);
    free(b1);
    free(b2);
    free(p1);
    free(p2);
    free(a1);
    free(a2);
}

// ---- bad weights ----
static void test_bad_weights(void) {
    char *dir = make_model("bad", "tiny", ARCH_LLAMA, DTYPE_F32, 0);
    char *st = path_join(dir, "model.safetensors");
    model m;
    // drop one tensor, shrink another, retype a third: rewrite the file each time
    const char *victims[] = {"model.layers.2.mlp.up_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                             "model.norm.weight"};
    const char *want[] = {"missing tensor 'model.layers.2.mlp.up_proj.weight'",
                          "tensor 'model.layers.1.self_attn.k_proj.weight' has shape (16, 64), expected (32, 64)",
                          "tensor 'model.norm.weight' has dtype I32"};
    for (int v = 0; v < 3; v++) {
        st_file f;
        CHECK(st_open(&f, st) == 0);
        st_tensor_spec *specs = xcalloc((size_t)f.n_tensors, sizeof *specs);
        const void **data = xcalloc((size_t)f.n_tensors, sizeof *data);
        int64_t n = 0;
        for (int64_t i = 0; i < f.n_tensors; i++) {
            const tensor_view *t = &f.tensors[i];
            int hit = strcmp(t->name, victims[v]) == 0;
            if (hit && v == 0) continue;
            specs[n].name = t->name;
            specs[n].type = hit && v == 2 ? DTYPE_I32 : t->type;
            specs[n].ndim = t->ndim;
            memcpy(specs[n].shape, t->shape, sizeof t->shape);
            if (hit && v == 1) specs[n].shape[0] = 16;
            data[n++] = t->data;
        }
        char *out = path_join(dir, "new.safetensors");
        CHECK(st_write_file(out, specs, data, n, NULL, 0) == 0);
        st_close(&f);
        char *bad_dir = path_join(test_tmpdir(), v == 0 ? "bad0" : v == 1 ? "bad1" : "bad2");
        mkdir_p(bad_dir);
        char *cfg_src = path_join(dir, "config.json"), *cfg_dst = path_join(bad_dir, "config.json");
        char *st_dst = path_join(bad_dir, "model.safetensors");
        file_copy(cfg_src, cfg_dst);
        rename(out, st_dst);
        CHECK_ERR(model_load(&m, bad_dir), want[v]);
        CHECK(strstr(err_msg(), bad_dir) != NULL);
        free(cfg_src);
        free(cfg_dst);
        free(st_dst);
        free(bad_dir);
        free(out);
        free(specs);
        free(data);
    }
    // no weights at all
    remove(st);
    CHECK_ERR(model_load(&m, dir), "model.safetensors");
    CHECK_ERR(model_load(&m, "/nonexistent/dir"), "/nonexistent/dir: no such file or directory");
    free(st);
    free(dir);
}

// ---- HF cache ----
static void test_hf_cache(void) {
    char *hub = path_join(test_tmpdir(), "hub");
    char *snap_old = path_join(hub, "models--org--tiny/snapshots/aaa111");
    char *snap_new = path_join(hub, "models--org--tiny/snapshots/bbb222");
    mkdir_p(snap_old);
    mkdir_p(snap_new);
    char *c1 = path_join(snap_old, "config.json"), *c2 = path_join(snap_new, "config.json");
    write_text(c1, "{}");
    write_text(c2, "{}");
    char *refs = path_join(hub, "models--org--tiny/refs");
    mkdir_p(refs);
    char *ref_main = path_join(refs, "main");
    write_text(ref_main, "aaa111\n");
    setenv("HF_HUB_CACHE", hub, 1);
    model_src s;
    CHECK(model_path_resolve("org/tiny", &s) == 0 && s.kind == MODEL_SRC_HF_DIR && strstr(s.path, "aaa111"));
    model_src_release(&s);
    remove(ref_main); // without refs/main: the newest snapshot
    struct stat st;
    stat(snap_old, &st);
    CHECK(model_path_resolve("org/tiny", &s) == 0);
    CHECK(s.path && (strstr(s.path, "bbb222") || strstr(s.path, "aaa111")));
    model_src_release(&s);
    // a GGUF-only snapshot resolves to its file
    char *gsnap = path_join(hub, "models--org--quant/snapshots/ccc");
    mkdir_p(gsnap);
    char *gfile = path_join(gsnap, "m.Q8_0.gguf");
    write_text(gfile, "GGUF");
    CHECK(model_path_resolve("org/quant", &s) == 0 && s.kind == MODEL_SRC_GGUF && strstr(s.path, "m.Q8_0.gguf"));
    model_src_release(&s);
    // absent: every place looked is listed
    setenv("HF_HOME", "/tmp/lorac-hf-home-x", 1);
    CHECK_ERR(model_path_resolve("org/absent", &s), "model 'org/absent' not found");
    CHECK(strstr(err_msg(), hub) && strstr(err_msg(), "/tmp/lorac-hf-home-x/hub/models--org--absent") &&
          strstr(err_msg(), ".cache/huggingface/hub/models--org--absent"));
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HOME");
    CHECK_ERR(model_path_resolve("", &s), "no model given");
    char *notmodel = path_join(test_tmpdir(), "plain.txt");
    write_text(notmodel, "hello");
    CHECK_ERR(model_path_resolve(notmodel, &s), "not a model directory or a GGUF file");
    free(notmodel);
    free(gsnap);
    free(gfile);
    free(hub);
    free(snap_old);
    free(snap_new);
    free(c1);
    free(c2);
    free(refs);
    free(ref_main);
}

// ---- GGUF metadata → config ----
static char *make_gguf(const char *name, const model_config *c, int drop_key) {
    char *path = path_join(test_tmpdir(), name);
    gguf_writer *w = gguf_writer_new();
    const char *a = arch_name(c->arch);
    char k[128];
    gguf_set_str(w, "general.architecture", a);
#define SETU(s, v) (snprintf(k, sizeof k, "%s." s, a), gguf_set_u32(w, k, (uint32_t)(v)))
    if (drop_key != 1) SETU("block_count", c->n_layers);
    SETU("context_length", c->max_position_embeddings);
    SETU("embedding_length", c->hidden_size);
    SETU("feed_forward_length", c->intermediate_size);
    SETU("attention.head_count", c->n_heads);
    SETU("attention.head_count_kv", c->n_kv_heads);
    SETU("attention.key_length", c->head_dim);
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", a);
    gguf_set_f32(w, k, (float)c->rms_norm_eps);
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    gguf_set_f32(w, k, (float)c->rope_theta);
#undef SETU
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    model_tensor_spec *s;
    int64_t n = model_tensor_specs(c, &s);
    size_t maxb = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t shape[2] = {s[i].shape[0], s[i].shape[1]};
        if (drop_key == 2 && i == 3) shape[0] = 7; // wrong shape on one tensor
        CHECK(gguf_add_tensor(w, s[i].gguf_name, DTYPE_F32, s[i].ndim, shape) == 0);
        size_t b = (size_t)(s[i].ndim == 1 ? shape[0] : shape[0] * shape[1]) * 4;
        if (b > maxb) maxb = b;
    }
    float *zeros = xcalloc(maxb / 4 + 1, 4);
    CHECK(gguf_writer_open(w, path) == 0);
    for (int64_t i = 0; i < n; i++) {
        int64_t rows = (drop_key == 2 && i == 3) ? 7 : s[i].shape[0];
        size_t b = (size_t)(s[i].ndim == 1 ? rows : rows * s[i].shape[1]) * 4;
        CHECK(gguf_writer_write(w, zeros, b) == 0);
    }
    CHECK(gguf_writer_commit(w) == 0);
    gguf_writer_free(w);
    free(zeros);
    free(s);
    return path;
}

static void test_gguf_config(void) {
    for (int a = 0; a < ARCH_COUNT; a++) {
        model_config c;
        preset_config("tiny", a, &c);
        c.tie_word_embeddings = a % 2;
        char name[64];
        snprintf(name, sizeof name, "tiny-%s.gguf", arch_name((model_arch)a));
        char *p = make_gguf(name, &c, 0);
        model m;
        int rc = model_load(&m, p);
        CHECK_MSG(rc == 0, "%s: %s", name, err_msg());
        if (rc == 0) {
            CHECK(m.cfg.arch == (model_arch)a && m.cfg.n_layers == 4 && m.cfg.n_kv_heads == 2 && m.cfg.head_dim == 16);
            CHECK(m.cfg.vocab_size == 256 && m.cfg.tie_word_embeddings == a % 2);
            CHECK(m.cfg.attention_bias == (a == ARCH_QWEN2) && m.cfg.qk_norm == (a == ARCH_QWEN3));
            CHECK(m.cfg.qk_permuted == (a == ARCH_LLAMA || a == ARCH_SMOLLM3));
            CHECK(fabs(m.cfg.rms_norm_eps - 1e-6) < 1e-12 && m.cfg.bos_token_id == 1 && m.cfg.eos_token_ids[0] == 2);
            CHECK(m.layers[3].down->shape[0] == 64 && m.layers[3].down->shape[1] == 128);
            CHECK(m.cfg.use_rope[3] == (a != ARCH_SMOLLM3));
            model_release(&m);
        }
        free(p);
        config_release(&c);
    }
    model_config c;
    preset_config("tiny", ARCH_LLAMA, &c);
    char *p = make_gguf("nokey.gguf", &c, 1);
    model m;
    CHECK_ERR(model_load(&m, p), "llama.block_count");
    free(p);
    p = make_gguf("badshape.gguf", &c, 2);
    CHECK_ERR(model_load(&m, p), "expected (32, 64)");
    free(p);
    config_release(&c);
}

int main(void) {
    test_config_cases();
    test_load_each_arch();
    test_bad_weights();
    test_hf_cache();
    test_gguf_config();
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}
