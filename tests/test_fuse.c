// test_fuse.c — fusing, format conversion and adapter layouts on tiny random
// models of every architecture:
//   - the fused model's logits equal base + unfused adapter: <= 1e-4 max abs diff
//     with f32 weights, <= 2e-2 with bf16 (llama, qwen2, qwen3, smollm3; LoRA and
//     DoRA; full fine-tuning; a GGUF llama base with permuted q/k; a Q8_0 base);
//   - PEFT adapters made by PEFT give PEFT's logits, and lorac's mlx-lm adapters give
//     the logits PEFT computes from lorac's PEFT export (goldens from
//     tests/ref/make_peft_goldens.py), within 1e-4; mlx <-> PEFT round trips exactly;
//   - HF <-> GGUF conversion keeps weights bit for bit (f32), tokenizers encode the
//     corpus identically from the GGUF and from the rebuilt tokenizer.json, and the
//     chat template travels;
//   - a quantized GGUF export that would lose the adapter's change is refused;
//   - bad inputs: adapters for another model (layers, shapes, recorded base), missing
//     files, unknown tensors, unsupported PEFT features, existing outputs.
#include "core/core.h"
#include "fuse/fuse.h"
#include "generate/generate.h"
#include "model/forward.h"
#include "model/init.h"
#include "template/template.h"
#include "test.h"
#include "tiny_model.h"
#include "tokenizer/tokenizer.h"
#include "train/adapter_io.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#define T_TOKENS 24

static const char *tests_dir(void) {
    const char *t = getenv("TESTS_DIR");
    return t ? t : "tests";
}

static const char *shared_dir(void) {
    const char *s = getenv("LORAC_SHARED");
    return s && *s ? s : "../shared";
}

// ---- models and logits ----
// A 256-token byte-level BPE tokenizer (no merges: one token per byte) for the tiny
// models' vocabulary, so they can go to GGUF (llama.cpp needs a tokenizer).
static void add_byte_tokenizer(const char *dir) {
    json_t *vocab = json_object();
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? b : 256 + extra++; // GPT-2's byte map
        char u[4] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f));
        json_object_set_new(vocab, u, json_integer(b));
    }
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1);
    json_t *tj = json_pack("{s:s, s:[], s:n, s:O, s:O, s:O, s:{s:s, s:o, s:[]}}", "version", "1.0", "added_tokens",
                           "normalizer", "pre_tokenizer", bl, "post_processor", bl, "decoder", bl, "model", "type", "BPE",
                           "vocab", vocab, "merges");
    char *p = path_join(dir, "tokenizer.json");
    CHECK(json_dump_file(tj, p, 0) == 0);
    free(p);
    json_decref(tj);
    json_decref(bl);
}

static char *make_tiny_std(const char *name, model_arch arch, dtype t, uint64_t seed, int tie, int64_t n_layers, float std) {
    char *dir = path_join(test_tmpdir(), name);
    model_config c;
    preset_config("tiny", arch, &c);
    c.tie_word_embeddings = tie;
    if (n_layers > 0) {
        c.n_layers = n_layers;
        c.use_rope = xrealloc(c.use_rope, (size_t)n_layers);
        for (int64_t i = 0; i < n_layers; i++) c.use_rope[i] = arch != ARCH_SMOLLM3 || (i + 1) % 4 != 0;
    }
    c.torch_dtype = xstrdup(t == DTYPE_F32 ? "float32" : "bfloat16");
    CHECK(mkdir_p(dir) == 0 && config_write_hf(&c, dir) == 0 && model_write_random(&c, dir, t, seed, std) == 0);
    config_release(&c);
    add_byte_tokenizer(dir);
    return dir;
}

static char *make_tiny(const char *name, model_arch arch, dtype t, uint64_t seed, int tie, int64_t n_layers) {
    return make_tiny_std(name, arch, t, seed, tie, n_layers, 0.25f);
}

static void tokens_for(int32_t *ids, int64_t vocab, uint64_t seed) {
    rng_state r;
    rng_seed(&r, seed);
    for (int i = 0; i < T_TOKENS; i++) ids[i] = 3 + (int32_t)(rng_next(&r) % (uint64_t)(vocab - 3));
}

// Logits (T_TOKENS, vocab) of model `spec` with the adapter set s (may be NULL).
static float *logits_with(const model *m, const lora_set *s, const int32_t *ids) {
    infer_state st;
    if (infer_init(&st, m, 64, 16)) return NULL;
    lora_attach(s, &st);
    float *out = xmalloc((size_t)(T_TOKENS * m->cfg.vocab_size) * sizeof(float));
    int rc = infer_forward(&st, ids, T_TOKENS, out, 1);
    infer_release(&st);
    if (rc) free(out);
    return rc ? NULL : out;
}

// Logits of a model on disk, with an adapter directory applied unfused (dir may be NULL).
static float *logits_of(const char *spec, const char *adapter_dir, const int32_t *ids, int64_t *vocab) {
    model m;
    if (model_load(&m, spec)) return NULL;
    lora_set s;
    float *out = NULL;
    if (!adapter_dir || lora_load_dir(&s, &m, adapter_dir, NULL) == 0) {
        out = logits_with(&m, adapter_dir ? &s : NULL, ids);
        if (adapter_dir) lora_release(&s);
    }
    if (vocab) *vocab = m.cfg.vocab_size;
    model_release(&m);
    return out;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

// ---- adapters made here ----
// LoRA/DoRA on the last 2 layers (all seven projections) with non-zero B and a
// perturbed magnitude, written in mlx-lm's layout into dir.
static int write_random_adapter(const model *m, const char *dir, int dora, uint64_t seed, float b_scale) {
    lora_set s;
    if (lora_init(&s, m, 2, (1u << PROJ_COUNT) - 1, 4, 2.0f, 0, dora, seed)) return -1;
    rng_state r;
    rng_seed(&r, seed ^ 0xabcdef);
    for (int64_t l = s.first_layer; l < s.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            lora_module *mod = lora_get(&s, l, (proj_kind)p);
            for (int64_t i = 0; i < s.rank * mod->out; i++) mod->B[i] = 0.05f * b_scale * rng_normal(&r);
            if (dora)
                for (int64_t o = 0; o < mod->out; o++) mod->m[o] *= 1.0f + 0.02f * rng_normal(&r);
        }
    lora_refresh(&s, m);
    adapter a;
    int rc = adapter_from_lora(&a, &s, m);
    if (rc == 0) rc = mkdir_p(dir) || adapter_write(&a, dir, ADAPTER_MLX, m->cfg.n_layers) ? -1 : 0;
    adapter_release(&a);
    lora_release(&s);
    return rc;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *p = path_join(dir, name);
    CHECK(file_write_atomic(p, text, strlen(text)) == 0);
    free(p);
}

// ---- fused == base + adapter ----
static int fuse_to(const char *base, const char *adapter, const char *out, int dtype_, int gguf, int gguf_type) {
    fuse_opts o;
    fuse_opts_init(&o);
    o.model = base, o.adapter_path = adapter, o.save_path = out, o.dtype = dtype_;
    o.export_gguf = gguf, o.gguf_type = gguf_type;
    return fuse_model(&o, NULL);
}

// bf16 cases use init std 0.1 (logits within a few units): the check then measures
// the fusing rather than how far a random model with |logits| ~ 10 amplifies
// bf16's 2^-9 rounding of the fused weights. The same bf16 base fused into f32
// weights must match to 1e-4: the merge itself is exact, only the storage rounds.
static void parity_case(const char *name, model_arch arch, dtype t, int dora, uint64_t seed) {
    char *base = make_tiny_std(name, arch, t, seed, arch == ARCH_QWEN3 || arch == ARCH_SMOLLM3, 0,
                               t == DTYPE_F32 ? 0.25f : 0.1f);
    char *ad = xasprintf("%s/%s_adapter", test_tmpdir(), name), *out = xasprintf("%s/%s_fused", test_tmpdir(), name);
    model m;
    CHECK(model_load(&m, base) == 0);
    CHECK_MSG(write_random_adapter(&m, ad, dora, seed, 1) == 0, "%s", err_msg());
    int32_t ids[T_TOKENS];
    tokens_for(ids, m.cfg.vocab_size, seed);
    int64_t V = m.cfg.vocab_size;
    model_release(&m);
    CHECK_MSG(fuse_to(base, ad, out, -1, 0, -1) == 0, "%s: %s", name, err_msg());
    float *want = logits_of(base, ad, ids, NULL), *got = logits_of(out, NULL, ids, NULL), *plain = logits_of(base, NULL, ids, NULL);
    double tol = t == DTYPE_F32 ? 1e-4 : 2e-2;
    if (want && got && plain) {
        double d = max_abs_diff(got, want, T_TOKENS * V), moved = max_abs_diff(plain, want, T_TOKENS * V);
        printf("parity %-22s fused vs base+adapter max abs diff %.2e (tol %.0e; the adapter moves logits by %.2f)\n", name,
               d, tol, moved);
        CHECK_MSG(d <= tol, "%s: %.3g", name, d);
        CHECK_MSG(moved > 0.1, "%s: the adapter changed nothing (%.3g)", name, moved);
    } else {
        CHECK_MSG(0, "%s: %s", name, err_msg());
    }
    // the fused directory is a complete HF model with the base's dtype
    model f;
    CHECK(model_load(&f, out) == 0 && f.layers[0].q->type == t);
    model_release(&f);
    if (t != DTYPE_F32 && want) { // the same merge stored in f32
        char *out32 = xasprintf("%s_f32", out);
        CHECK_MSG(fuse_to(base, ad, out32, DTYPE_F32, 0, -1) == 0, "%s: %s", name, err_msg());
        float *g32 = logits_of(out32, NULL, ids, NULL);
        double d = g32 ? max_abs_diff(g32, want, T_TOKENS * V) : INFINITY;
        printf("parity %-22s fused into f32 weights: max abs diff %.2e (tol 1e-04)\n", name, d);
        CHECK_MSG(d <= 1e-4, "%s f32: %.3g", name, d);
        free(g32), free(out32);
    }
    free(want), free(got), free(plain);
    free(base), free(ad), free(out);
}

static void test_parity(void) {
    static const model_arch archs[] = {ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3, ARCH_SMOLLM3};
    uint64_t seed = 700;
    for (int a = 0; a < 4; a++)
        for (int t = 0; t < 2; t++)
            for (int dora = 0; dora < 2; dora++) {
                char name[64];
                snprintf(name, sizeof name, "%s_%s_%s", arch_name(archs[a]), t ? "bf16" : "f32", dora ? "dora" : "lora");
                parity_case(name, archs[a], t ? DTYPE_BF16 : DTYPE_F32, dora, seed++);
            }
}

// Fully fine-tuned blocks (weights, q/k/v biases, norms) fuse as replacements.
static void test_full_finetune(void) {
    char *base = make_tiny("full_qwen2", ARCH_QWEN2, DTYPE_F32, 760, 0, 0);
    char *ad = xasprintf("%s/full_adapter", test_tmpdir()), *out = xasprintf("%s/full_fused", test_tmpdir());
    model m;
    CHECK(model_load(&m, base) == 0);
    lora_set s;
    CHECK(lora_init_full(&s, &m, 2) == 0);
    rng_state r;
    rng_seed(&r, 761);
    for (int64_t i = 0; i < s.n_params; i++) s.params[i] += 0.02f * rng_normal(&r);
    mkdir_p(ad);
    char *wp = path_join(ad, "adapters.safetensors");
    CHECK(lora_save(&s, &m, wp) == 0);
    write_text(ad, "adapter_config.json", "{\"fine_tune_type\": \"full\", \"num_layers\": 2, \"lora_parameters\": null}");
    int32_t ids[T_TOKENS];
    tokens_for(ids, m.cfg.vocab_size, 761);
    float *want = logits_with(&m, &s, ids);
    CHECK_MSG(fuse_to(base, ad, out, -1, 0, -1) == 0, "%s", err_msg());
    float *got = logits_of(out, NULL, ids, NULL);
    if (want && got) {
        double d = max_abs_diff(got, want, T_TOKENS * m.cfg.vocab_size);
        printf("parity %-22s fused vs base+adapter max abs diff %.2e (tol 1e-04)\n", "qwen2_f32_full", d);
        CHECK(d <= 1e-4);
    }
    free(want), free(got), free(wp);
    lora_release(&s);
    model_release(&m);
    free(base), free(ad), free(out);
}

// hf -> gg (GGUF) -> back (HF directory), each in the input's dtype.
static void convert_both(const char *hf, const char *gg, const char *back) {
    convert_opts co;
    convert_opts_init(&co);
    co.model = hf, co.out = gg;
    CHECK_MSG(convert_model(&co) == 0, "%s", err_msg());
    co.model = gg, co.out = back;
    CHECK_MSG(convert_model(&co) == 0, "%s", err_msg());
}

// ---- GGUF bases: permuted q/k (llama) and quantized weights ----
static void test_gguf_base(void) {
    char *hf = make_tiny("gg_llama", ARCH_LLAMA, DTYPE_F32, 770, 0, 0);
    char *gg = xasprintf("%s/gg_llama.gguf", test_tmpdir()), *back = xasprintf("%s/gg_llama_back", test_tmpdir());
    char *ad = xasprintf("%s/gg_adapter", test_tmpdir());
    convert_both(hf, gg, back);
    // HF -> GGUF -> HF keeps every f32 weight bit for bit (the permutation undone)
    model a, b;
    CHECK(model_load(&a, hf) == 0 && model_load(&b, back) == 0);
    model_tensor_spec *ms;
    int64_t n = model_tensor_specs(&a.cfg, &ms), same = 0;
    for (int64_t i = 0; i < n; i++) {
        const tensor_view *x = model_tensor(&a, &ms[i]), *y = model_tensor(&b, &ms[i]);
        same += x && y && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0;
    }
    CHECK_MSG(same == n, "%lld of %lld tensors identical after HF -> GGUF -> HF", (long long)same, (long long)n);
    free(ms);
    model_release(&b);
    CHECK(write_random_adapter(&a, ad, 1, 771, 1) == 0);
    int32_t ids[T_TOKENS];
    tokens_for(ids, a.cfg.vocab_size, 771);
    int64_t V = a.cfg.vocab_size;
    model_release(&a);
    // the adapter (HF row order on disk) applies to the GGUF's permuted q/k
    float *hf_ad = logits_of(hf, ad, ids, NULL), *gg_ad = logits_of(gg, ad, ids, NULL);
    if (hf_ad && gg_ad) {
        double d = max_abs_diff(hf_ad, gg_ad, T_TOKENS * V);
        printf("GGUF llama base + adapter vs HF base + adapter: max abs diff %.2e (tol 1e-04)\n", d);
        CHECK(d <= 1e-4);
    }
    // and saving from the GGUF-based set writes HF order again
    model g;
    lora_set s;
    CHECK(model_load(&g, gg) == 0 && lora_load_dir(&s, &g, ad, NULL) == 0);
    char *resaved = path_join(test_tmpdir(), "gg_resaved.safetensors"), *orig = path_join(ad, "adapters.safetensors");
    CHECK(lora_save(&s, &g, resaved) == 0);
    st_file f1, f2;
    CHECK(st_open(&f1, orig) == 0 && st_open(&f2, resaved) == 0);
    int equal = f1.n_tensors == f2.n_tensors;
    for (int64_t i = 0; equal && i < f1.n_tensors; i++) {
        const tensor_view *y = st_find(&f2, f1.tensors[i].name);
        equal = y && y->nbytes == f1.tensors[i].nbytes && memcmp(y->data, f1.tensors[i].data, y->nbytes) == 0;
    }
    CHECK_MSG(equal, "adapters saved from a GGUF base differ from the HF-order file");
    st_close(&f1), st_close(&f2);
    lora_release(&s);
    model_release(&g);
    // fusing onto the GGUF base writes an HF directory equal to fusing onto the HF base
    char *out = xasprintf("%s/gg_fused", test_tmpdir());
    CHECK_MSG(fuse_to(gg, ad, out, -1, 0, -1) == 0, "%s", err_msg());
    float *fused = logits_of(out, NULL, ids, NULL);
    if (fused && hf_ad) {
        double d = max_abs_diff(fused, hf_ad, T_TOKENS * V);
        printf("parity %-22s fused vs base+adapter max abs diff %.2e (tol 1e-04)\n", "llama_gguf_f32_dora", d);
        CHECK(d <= 1e-4);
    }
    free(fused), free(out);
    // a Q8_0 base: fused into bf16 (dequantized). Exact in f32 weights; in bf16 the whole
    // model is re-encoded, so the reference is the Q8_0 base converted to bf16 plus the
    // unfused adapter (the bf16 cases' situation; init std 0.1 as they have)
    char *q8 = xasprintf("%s/gg_llama_q8.gguf", test_tmpdir()), *qout = xasprintf("%s/gg_q8_fused", test_tmpdir());
    char *hf01 = make_tiny_std("gg_llama01", ARCH_LLAMA, DTYPE_F32, 772, 0, 0, 0.1f);
    char *q8bf = xasprintf("%s/gg_q8_as_bf16", test_tmpdir()), *q32 = xasprintf("%s_f32", qout);
    char *ad01 = xasprintf("%s/gg_adapter01", test_tmpdir());
    model m01;
    CHECK(model_load(&m01, hf01) == 0 && write_random_adapter(&m01, ad01, 1, 773, 1) == 0);
    model_release(&m01);
    convert_opts co;
    convert_opts_init(&co);
    co.model = hf01, co.out = q8, co.dtype = DTYPE_Q8_0;
    CHECK_MSG(convert_model(&co) == 0, "%s", err_msg());
    co.model = q8, co.out = q8bf, co.dtype = -1; // quantized sources default to bf16
    CHECK_MSG(convert_model(&co) == 0, "%s", err_msg());
    fuse_report rep;
    fuse_opts o;
    fuse_opts_init(&o);
    o.model = q8, o.adapter_path = ad01, o.save_path = qout;
    CHECK_MSG(fuse_model(&o, &rep) == 0, "%s", err_msg());
    CHECK(rep.hf_dtype == DTYPE_BF16 && rep.hf_kept > 0.9);
    CHECK_MSG(fuse_to(q8, ad01, q32, DTYPE_F32, 0, -1) == 0, "%s", err_msg());
    float *qw = logits_of(q8, ad01, ids, NULL), *qb = logits_of(q8bf, ad01, ids, NULL);
    float *qf = logits_of(qout, NULL, ids, NULL), *qf32 = logits_of(q32, NULL, ids, NULL);
    if (qw && qb && qf && qf32) {
        double d32 = max_abs_diff(qf32, qw, T_TOKENS * V), d = max_abs_diff(qf, qb, T_TOKENS * V);
        printf("parity %-22s fused into f32 weights: max abs diff %.2e (tol 1e-04)\n", "llama_q8_0_dora", d32);
        printf("parity %-22s fused into bf16 vs the base in bf16 + adapter: max abs diff %.2e (tol 2e-02); "
               "bf16 re-encoding alone moves logits by %.2e; %.1f%% of the change kept\n",
               "llama_q8_0_dora", d, max_abs_diff(qb, qw, T_TOKENS * V), 100 * rep.hf_kept);
        CHECK(d32 <= 1e-4 && d <= 2e-2);
    } else {
        CHECK_MSG(0, "%s", err_msg());
    }
    fuse_report_release(&rep);
    free(qb), free(qf32), free(q8bf), free(q32), free(ad01);
    free(qw), free(qf), free(q8), free(qout), free(hf01);
    free(hf_ad), free(gg_ad), free(resaved), free(orig);
    free(hf), free(gg), free(back), free(ad);
}

// Re-quantizing: a base already on the Q8_0 grid re-rounds a small change away
// (what mlx-lm's fuse does to quantized bases); that GGUF is refused and nothing
// is written. A normal change on an f32 base survives a Q8_0 export.
static void test_requantize_check(void) {
    char *hf = make_tiny("rq_llama", ARCH_LLAMA, DTYPE_F32, 780, 1, 0);
    char *q8 = xasprintf("%s/rq_llama_q8.gguf", test_tmpdir());
    char *tiny = xasprintf("%s/rq_tiny_adapter", test_tmpdir()), *big = xasprintf("%s/rq_big_adapter", test_tmpdir());
    model m;
    CHECK(model_load(&m, hf) == 0);
    CHECK(write_random_adapter(&m, tiny, 0, 781, 1e-3f) == 0 && write_random_adapter(&m, big, 0, 782, 1) == 0);
    model_release(&m);
    convert_opts co;
    convert_opts_init(&co);
    co.model = hf, co.out = q8, co.dtype = DTYPE_Q8_0;
    CHECK_MSG(convert_model(&co) == 0, "%s", err_msg());
    char *out = xasprintf("%s/rq_out", test_tmpdir()), *gp = path_join(out, "ggml-model-q8_0.gguf");
    fuse_opts o;
    fuse_opts_init(&o);
    o.model = q8, o.adapter_path = tiny, o.save_path = out, o.export_gguf = 1, o.gguf_type = DTYPE_Q8_0;
    CHECK_ERR(fuse_model(&o, NULL), "the q8_0 GGUF keeps only");
    CHECK(!dir_exists(out));
    fuse_report rep;
    o.gguf_type = DTYPE_F16; // dequantized: the change is there
    CHECK_MSG(fuse_model(&o, &rep) == 0, "%s", err_msg());
    CHECK(rep.have_gguf && rep.gguf_kept > 0.9 && rep.hf_kept > 0.9);
    printf("small change on a Q8_0 base: q8_0 GGUF refused; f16 GGUF keeps %.2f%%, bf16 HF weights %.2f%%\n",
           100 * rep.gguf_kept, 100 * rep.hf_kept);
    fuse_report_release(&rep);
    rm_rf(out);
    o.model = hf, o.adapter_path = big, o.gguf_type = DTYPE_Q8_0;
    CHECK_MSG(fuse_model(&o, &rep) == 0, "%s", err_msg());
    CHECK(rep.have_gguf && rep.gguf_kept > 0.9 && rep.gguf_kept < 1.1 && rep.hf_kept == 1.0);
    printf("normal change on an f32 base: q8_0 GGUF keeps %.2f%% (quantization noise %.2g of its size)\n",
           100 * rep.gguf_kept, rep.gguf_err);
    CHECK(rep.gguf_path && strcmp(rep.gguf_path, gp) == 0 && file_exists(gp));
    fuse_report_release(&rep);
    free(gp), free(out), free(hf), free(q8), free(tiny), free(big);
}

// ---- PEFT goldens ----
static void golden_case(const char *name, int exported) {
    char *man_path = xasprintf("%s/golden/fuse/%s.json", tests_dir(), name);
    json_t *man = json_load_file(man_path, 0, NULL);
    CHECK_MSG(man != NULL, "%s missing", man_path);
    if (!man) {
        free(man_path);
        return;
    }
    char *dir = tiny_model_from_manifest(man, name);
    int32_t ids[64];
    json_t *toks = json_object_get(man, "tokens");
    for (size_t i = 0; i < json_array_size(toks) && i < 64; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, i));
    CHECK(json_array_size(toks) == T_TOKENS);
    int64_t V = json_integer_value(json_object_get(man, "vocab"));
    char *ref_path = xasprintf("%s/golden/fuse/%s.f32", tests_dir(), name);
    float *ref = read_f32(ref_path, (size_t)(T_TOKENS * V));
    char *ad;
    if (exported) { // lorac's mlx-lm adapter, which PEFT read through lorac's export
        ad = xasprintf("%s/%s_mlx", test_tmpdir(), name);
        mkdir_p(ad);
        char *src = xasprintf("%s/../%s", tests_dir(), json_string_value(json_object_get(man, "mlx_adapter")));
        char *dst = path_join(ad, "adapters.safetensors");
        CHECK(file_copy(src, dst) == 0);
        char *cfg = xasprintf("{\"fine_tune_type\": \"%s\", \"num_layers\": %lld, \"lora_parameters\": {\"rank\": %lld, "
                              "\"scale\": %g, \"dropout\": 0.0}}",
                              json_is_true(json_object_get(man, "dora")) ? "dora" : "lora",
                              (long long)json_integer_value(json_object_get(man, "num_layers")),
                              (long long)json_integer_value(json_object_get(man, "rank")),
                              json_number_value(json_object_get(man, "scale")));
        write_text(ad, "adapter_config.json", cfg);
        free(cfg), free(src), free(dst);
    } else {
        ad = xasprintf("%s/golden/fuse/%s", tests_dir(), name);
    }
    float *got = logits_of(dir, ad, ids, NULL);
    CHECK_MSG(got && ref, "%s: %s", name, err_msg());
    if (got && ref) {
        double d = max_abs_diff(got, ref, T_TOKENS * V);
        printf("%-20s lorac %s vs PEFT %s: max abs diff %.2e (tol 1e-04)\n", name,
               exported ? "(mlx-lm adapter)" : "(PEFT adapter)", exported ? "(lorac's PEFT export)" : "(its own adapter)", d);
        CHECK_MSG(d <= 1e-4, "%s: %.3g", name, d);
    }
    // round trips through both layouts keep every value
    adapter a, b, c;
    CHECK(adapter_read(&a, ad, NULL) == 0);
    CHECK(a.layout == (exported ? ADAPTER_MLX : ADAPTER_PEFT));
    char *d1 = xasprintf("%s/%s_rt1", test_tmpdir(), name), *d2 = xasprintf("%s/%s_rt2", test_tmpdir(), name);
    mkdir_p(d1), mkdir_p(d2);
    adapter_layout other = exported ? ADAPTER_PEFT : ADAPTER_MLX;
    CHECK_MSG(adapter_write(&a, d1, other, 4) == 0, "%s", err_msg());
    CHECK(adapter_read(&b, d1, NULL) == 0 && b.layout == other);
    CHECK(adapter_write(&b, d2, a.layout, 4) == 0 && adapter_read(&c, d2, NULL) == 0);
    int same = a.n_mods == c.n_mods && a.rank == c.rank && a.dora == c.dora && fabs(a.scale - c.scale) < 1e-12;
    for (int64_t i = 0; same && i < a.n_mods; i++) {
        const adapter_module *x = &a.mods[i], *y = &c.mods[i];
        same = x->layer == y->layer && x->proj == y->proj && x->in == y->in && x->out == y->out &&
               !memcmp(x->A, y->A, (size_t)(x->in * a.rank) * 4) && !memcmp(x->B, y->B, (size_t)(x->out * a.rank) * 4) &&
               (!a.dora || !memcmp(x->m, y->m, (size_t)x->out * 4));
    }
    CHECK_MSG(same, "%s: %s -> %s -> %s changed the adapter", name, adapter_layout_name(a.layout),
              adapter_layout_name(other), adapter_layout_name(a.layout));
    float *rt = logits_of(dir, d1, ids, NULL);
    CHECK(rt && got && max_abs_diff(rt, got, T_TOKENS * V) <= 1e-5);
    adapter_release(&a), adapter_release(&b), adapter_release(&c);
    free(rt), free(d1), free(d2);
    free(got), free(ref), free(ref_path), free(ad), free(dir), free(man_path);
    json_decref(man);
}

static void test_peft_goldens(void) {
    static const char *const peft[] = {"llama_peft_lora", "qwen2_peft_dora", "qwen3_peft_rslora", "smollm3_peft_dora"};
    static const char *const exported[] = {"llama_exported", "qwen2_exported", "qwen3_exported"};
    for (int i = 0; i < 4; i++) golden_case(peft[i], 0);
    for (int i = 0; i < 3; i++) golden_case(exported[i], 1);
}

// ---- tokenizers and chat templates through GGUF and back ----
static void copy_tokenizer(const char *src, const char *dst) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", NULL};
    for (int i = 0; files[i]; i++) {
        char *s = path_join(src, files[i]), *d = path_join(dst, files[i]);
        if (file_exists(s)) CHECK(file_copy(s, d) == 0);
        free(s), free(d);
    }
}

// a's ids for text equal b's ids for text_b.
static int encode_same(tokenizer *a, tokenizer *b, const char *text, const char *text_b, int add_special) {
    tok_ids x, y;
    tok_ids_init(&x), tok_ids_init(&y);
    int ok = tok_encode(a, text, strlen(text), add_special, &x) == 0 && tok_encode(b, text_b, strlen(text_b), add_special, &y) == 0 &&
             x.n == y.n && (x.n == 0 || !memcmp(x.ids, y.ids, x.n * sizeof *x.ids));
    tok_ids_release(&x), tok_ids_release(&y);
    return ok;
}

static void tokenizer_case(const char *fixture, const char *want_pre) {
    char *src = xasprintf("%s/fixtures/tokenizers/%s", shared_dir(), fixture);
    char *name = xasprintf("tok_%s", fixture);
    tokenizer *orig = tok_load_dir(src);
    CHECK_MSG(orig, "%s", err_msg());
    if (!orig) {
        free(src), free(name);
        return;
    }
    char *hf = path_join(test_tmpdir(), name);
    model_config c;
    preset_config("tiny", ARCH_QWEN3, &c);
    c.n_layers = 1;
    c.vocab_size = tok_vocab_size(orig);
    c.bos_token_id = tok_bos_id(orig), c.n_eos = 1, c.eos_token_ids[0] = tok_eos_id(orig);
    c.torch_dtype = xstrdup("bfloat16");
    CHECK(mkdir_p(hf) == 0 && config_write_hf(&c, hf) == 0 && model_write_random(&c, hf, DTYPE_BF16, 1, 0.02f) == 0);
    config_release(&c);
    copy_tokenizer(src, hf);
    char *gg = xasprintf("%s.gguf", hf), *back = xasprintf("%s_back", hf);
    convert_both(hf, gg, back);
    gguf_file g;
    CHECK(gguf_open(&g, gg) == 0);
    char *pre = gguf_get_str(&g, "tokenizer.ggml.pre");
    CHECK_MSG(pre && strcmp(pre, want_pre) == 0, "%s: tokenizer.ggml.pre '%s', expected '%s'", fixture, pre, want_pre);
    free(pre);
    gguf_close(&g);
    tokenizer *from_gguf = tok_load_gguf(gg), *rebuilt = tok_load_dir(back);
    CHECK_MSG(from_gguf && rebuilt, "%s", err_msg());
    char *corpus_path = xasprintf("%s/data/tokenizer_corpus.txt", tests_dir()), *text;
    size_t len;
    int lines = 0, same_gguf = 0, same_back = 0, not_nfc = 0;
    // Qwen's tokenizer.json normalizes to NFC; llama.cpp (and so the GGUF) does not:
    // a line not in NFC is given to the GGUF tokenizer NFC-normalized
    int nfc = strcmp(fixture, "qwen3") == 0;
    if (from_gguf && rebuilt && file_read_all(corpus_path, &text, &len) == 0) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
            char *norm = nfc ? (char *)utf8proc_NFC((const utf8proc_uint8_t *)line) : NULL;
            not_nfc += norm && strcmp(norm, line) != 0;
            same_gguf += encode_same(orig, from_gguf, line, norm ? norm : line, lines % 2);
            same_back += encode_same(orig, rebuilt, line, line, lines % 2);
            free(norm);
        }
        free(text);
    }
    printf("tokenizer %-7s corpus: %d/%d lines identical from the GGUF (%d not in NFC, given to it normalized), "
           "%d/%d from the rebuilt tokenizer.json\n",
           fixture, same_gguf, lines, not_nfc, same_back, lines);
    CHECK(lines > 1000 && same_gguf == lines && same_back == lines);
    // the chat template travels: HF -> GGUF -> HF
    chat_template_src t0, t1, t2;
    CHECK(chat_template_load(src, 0, NULL, 0, &t0) == 0 && chat_template_load(gg, 1, NULL, 0, &t1) == 0 &&
          chat_template_load(back, 0, NULL, 0, &t2) == 0);
    CHECK(t0.source && t1.source && t2.source && !strcmp(t0.source, t1.source) && !strcmp(t0.source, t2.source));
    chat_template_src_release(&t0), chat_template_src_release(&t1), chat_template_src_release(&t2);
    tok_free(orig), tok_free(from_gguf), tok_free(rebuilt);
    free(corpus_path), free(gg), free(back), free(hf), free(src), free(name);
}

// ---- errors ----
static void test_errors(void) {
    char *base = make_tiny("err_llama", ARCH_LLAMA, DTYPE_F32, 790, 0, 0);
    char *short_base = make_tiny("err_llama2", ARCH_LLAMA, DTYPE_F32, 791, 0, 2);
    char *ad = xasprintf("%s/err_adapter", test_tmpdir()), *out = xasprintf("%s/err_out", test_tmpdir());
    model m;
    CHECK(model_load(&m, base) == 0);
    CHECK(write_random_adapter(&m, ad, 0, 792, 1) == 0);
    lora_set s;
    // an adapter for a model with more layers
    model sm;
    CHECK(model_load(&sm, short_base) == 0);
    CHECK_ERR(lora_load_dir(&s, &sm, ad, NULL), "adapts layer 2 but the model (llama");
    char *cfg_path = path_join(ad, "adapter_config.json");
    write_text(ad, "adapter_config.json", "{\"fine_tune_type\": \"lora\", \"num_layers\": 3, \"lora_parameters\": {\"rank\": 4, \"scale\": 2}}");
    CHECK_ERR(lora_load_dir(&s, &sm, ad, NULL), "num_layers is 3 but the model (llama");
    model_release(&sm);
    // the recorded base model is another architecture
    char *qwen = make_tiny("err_qwen3", ARCH_QWEN3, DTYPE_F32, 793, 1, 2);
    char *rec = xasprintf("{\"fine_tune_type\": \"lora\", \"num_layers\": 2, \"model\": \"%s\", \"lora_parameters\": {\"rank\": 4, \"scale\": 2}}", qwen);
    write_text(ad, "adapter_config.json", rec);
    CHECK_ERR(lora_load_dir(&s, &m, ad, NULL), "(qwen3, 2 layers, hidden size 64) but the model is");
    write_text(ad, "adapter_config.json", "{\"fine_tune_type\": \"lora\", \"num_layers\": 2, \"lora_parameters\": {\"rank\": 4, \"scale\": 2}}");
    CHECK(lora_load_dir(&s, &m, ad, NULL) == 0);
    lora_release(&s);
    // wrong shapes: a rank-4 adapter whose A has 32 inputs
    char *bad = xasprintf("%s/err_shape", test_tmpdir());
    mkdir_p(bad);
    {
        float a[32 * 4] = {0}, b[4 * 64] = {0};
        st_tensor_spec sp[2] = {{"model.layers.3.self_attn.q_proj.lora_a", DTYPE_F32, 2, {32, 4}},
                                {"model.layers.3.self_attn.q_proj.lora_b", DTYPE_F32, 2, {4, 64}}};
        const void *d[2] = {a, b};
        char *p = path_join(bad, "adapters.safetensors");
        CHECK(st_write_file(p, sp, d, 2, NULL, 0) == 0);
        free(p);
        write_text(bad, "adapter_config.json", "{\"fine_tune_type\": \"lora\", \"num_layers\": 1, \"lora_parameters\": {\"rank\": 4, \"scale\": 2}}");
        CHECK_ERR(lora_load_dir(&s, &m, bad, NULL), "maps 32 -> 64 features in the adapter but 64 -> 64 in the model");
        // a rank that disagrees with adapter_config.json
        write_text(bad, "adapter_config.json", "{\"fine_tune_type\": \"lora\", \"num_layers\": 1, \"lora_parameters\": {\"rank\": 8, \"scale\": 2}}");
        CHECK_ERR(lora_load_dir(&s, &m, bad, NULL), "expected (32, 8) (rank 8 from adapter_config.json)");
    }
    // a tensor that is no adapter tensor
    {
        float x[4] = {0};
        st_tensor_spec sp[1] = {{"model.layers.3.self_attn.q_proj.weight", DTYPE_F32, 1, {4, 0}}};
        const void *d[1] = {x};
        char *p = path_join(bad, "adapters.safetensors");
        CHECK(st_write_file(p, sp, d, 1, NULL, 0) == 0);
        free(p);
        CHECK_ERR(lora_load_dir(&s, &m, bad, NULL), "is not a LoRA/DoRA tensor of the mlx-lm layout");
    }
    // missing weights file, with a hint at the files that are there
    char *empty = xasprintf("%s/err_empty", test_tmpdir());
    mkdir_p(empty);
    write_text(empty, "adapter_config.json", "{\"fine_tune_type\": \"lora\", \"num_layers\": 2, \"lora_parameters\": {\"rank\": 4, \"scale\": 2}}");
    write_text(empty, "0000100_adapters.safetensors", "x");
    CHECK_ERR(lora_load_dir(&s, &m, empty, NULL), "missing adapter file adapters.safetensors");
    CHECK(strstr(err_hint_msg(), "0000100_adapters.safetensors") != NULL);
    CHECK_ERR(lora_load_dir(&s, &m, out, NULL), "no such adapter directory");
    // PEFT features lorac does not implement
    char *peft = xasprintf("%s/golden/fuse/llama_peft_lora", tests_dir()), *pc = xasprintf("%s/err_peft", test_tmpdir());
    mkdir_p(pc);
    char *w1 = path_join(peft, "adapter_model.safetensors"), *w2 = path_join(pc, "adapter_model.safetensors");
    CHECK(file_copy(w1, w2) == 0);
    const struct {
        const char *cfg, *needle;
    } pcases[] = {
        {"{\"peft_type\": \"IA3\"}", "peft_type 'IA3' is not supported"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"modules_to_save\": [\"lm_head\"]}", "modules_to_save (lm_head"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"rank_pattern\": {\"q_proj\": 8}}", "'rank_pattern'"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"lora_bias\": true}", "'lora_bias' is set"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"lm_head\"]}", "target_modules entry 'lm_head'"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}", "which the adapter configuration's target_modules does not list"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"layers_to_transform\": [3]}", "adapts layer 2, which layers_to_transform does not list"},
        {"{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 8}", "rank 2 from adapter_config.json"},
    };
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        write_text(pc, "adapter_config.json", pcases[i].cfg);
        CHECK_ERR(lora_load_dir(&s, &m, pc, NULL), pcases[i].needle);
    }
    // PEFT -> mlx-lm needs the layer count when layers_to_transform is partial
    adapter a;
    CHECK(adapter_read(&a, peft, NULL) == 0);
    char *mx = xasprintf("%s/err_mlx", test_tmpdir());
    mkdir_p(mx);
    CHECK_ERR(adapter_write(&a, mx, ADAPTER_MLX, 0), "cannot tell mlx-lm's num_layers");
    CHECK(adapter_write(&a, mx, ADAPTER_MLX, 4) == 0);
    adapter_release(&a);
    // existing outputs are refused unless forced; a failed fuse leaves nothing
    mkdir_p(out);
    CHECK_ERR(fuse_to(base, ad, out, -1, 0, -1), "already exists");
    fuse_opts o;
    fuse_opts_init(&o);
    o.model = base, o.adapter_path = ad, o.save_path = out, o.force = 1;
    CHECK_MSG(fuse_model(&o, NULL) == 0, "%s", err_msg());
    char *cj = path_join(out, "config.json");
    CHECK(file_exists(cj));
    char *out2 = xasprintf("%s/err_out2", test_tmpdir());
    CHECK_ERR(fuse_to(base, empty, out2, -1, 0, -1), "missing adapter file");
    CHECK(!dir_exists(out2));
    char *tmp = xasprintf("%s.tmp.%d", out2, (int)getpid());
    CHECK(!dir_exists(tmp));
    convert_opts co;
    convert_opts_init(&co);
    co.model = base, co.out = out, co.dtype = DTYPE_Q8_0;
    CHECK_ERR(convert_model(&co), "an HF directory takes f32, f16 or bf16");
    model_release(&m);
    free(tmp), free(out2), free(cj), free(mx), free(w1), free(w2), free(pc), free(peft), free(empty), free(bad);
    free(rec), free(qwen), free(cfg_path), free(base), free(short_base), free(ad), free(out);
}

// ---- the real model (LORAC_SLOW) ----
// `lorac convert` of the SmolLM2-135M-Instruct Q4_1 GGUF into HF directories (f32,
// bf16): lorac's logits on them against transformers' on the same directories
// (tests/ref/make_convert_goldens.py), 1e-3 relative per position, the chat prompt
// rendered and tokenized from the rebuilt files as transformers does, and Paris.
static void test_smollm2_convert(void) {
    const char *cache = getenv("LORAC_CACHE");
    char *gguf = xasprintf("%s/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", cache ? cache : "/root/.cache/lorac");
    static const char *const dts[] = {"f32", "bf16"};
    for (int k = 0; k < 2; k++) {
        char *man_path = xasprintf("%s/golden/convert/smollm2_%s.json", tests_dir(), dts[k]);
        char *ref_path = xasprintf("%s/golden/convert/smollm2_%s.f32", tests_dir(), dts[k]);
        char *dir = xasprintf("%s/smollm2_%s", test_tmpdir(), dts[k]);
        json_t *man = json_load_file(man_path, 0, NULL);
        convert_opts co;
        convert_opts_init(&co);
        co.model = gguf, co.out = dir, co.dtype = fuse_dtype_from_name(dts[k]);
        CHECK_MSG(man && convert_model(&co) == 0, "%s: %s", dts[k], err_msg());
        gen_model g;
        if (!man || gen_model_load(&g, dir)) {
            CHECK_MSG(0, "%s: %s", dir, err_msg());
            json_decref(man);
            free(man_path), free(ref_path), free(dir);
            continue;
        }
        json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "What is the capital of France?");
        tok_ids ids;
        tok_ids_init(&ids);
        CHECK(gen_chat_prompt(&g, msgs, NULL, 1, NULL, &ids, NULL) == 0);
        json_t *want = json_object_get(man, "prompt_ids"), *pos = json_object_get(man, "positions");
        int same = ids.n == json_array_size(want);
        for (size_t i = 0; same && i < ids.n; i++) same = ids.ids[i] == json_integer_value(json_array_get(want, i));
        CHECK_MSG(same, "%s: the chat prompt from the rebuilt tokenizer differs from transformers'", dts[k]);
        int64_t V = g.m.cfg.vocab_size, T = (int64_t)ids.n, P = (int64_t)json_array_size(pos);
        float *ref = read_f32(ref_path, (size_t)(P * V)), *logits = xmalloc((size_t)(T * V) * sizeof(float));
        infer_state st;
        CHECK(infer_init(&st, &g.m, 128, 64) == 0 && infer_forward(&st, ids.ids, T, logits, 1) == 0);
        for (int64_t q = 0; ref && q < P; q++) {
            int64_t p = json_integer_value(json_array_get(pos, (size_t)q));
            double d = max_abs_diff(logits + p * V, ref + q * V, V), mx = 0;
            for (int64_t i = 0; i < V; i++) mx = fmax(mx, fabs(ref[q * V + i]));
            printf("smollm2 converted (%s) position %2lld: lorac vs transformers on the directory: relative %.2e (tol 1e-3)\n",
                   dts[k], (long long)p, d / mx);
            CHECK_MSG(d / mx <= 1e-3, "%s position %lld: %.3g", dts[k], (long long)p, d / mx);
        }
        // greedy 20 tokens as transformers did
        json_t *greedy = json_object_get(man, "greedy");
        int32_t next = 0;
        int agree = 1;
        float *last = logits + (T - 1) * V;
        for (size_t i = 0; i < json_array_size(greedy); i++) {
            next = 0;
            for (int64_t v = 1; v < V; v++)
                if (last[v] > last[next]) next = (int32_t)v;
            agree &= next == json_integer_value(json_array_get(greedy, i));
            if (infer_forward(&st, &next, 1, last, 0)) break;
        }
        CHECK_MSG(agree, "%s: greedy continuation differs from transformers'", dts[k]);
        infer_release(&st);
        free(logits), free(ref);
        tok_ids_release(&ids);
        json_decref(msgs);
        gen_model_release(&g);
        json_decref(man);
        free(man_path), free(ref_path), free(dir);
    }
    free(gguf);
}

int main(void) {
    test_parity();
    test_full_finetune();
    test_gguf_base();
    test_requantize_check();
    test_peft_goldens();
    tokenizer_case("llama3", "llama-bpe");
    tokenizer_case("qwen3", "qwen2");
    test_errors();
    if (getenv("LORAC_SLOW")) test_smollm2_convert();
    else printf("note: real-model conversion skipped (make test-slow runs it)\n");
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}
