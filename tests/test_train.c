// test_train.c — LoRA/DoRA/full fine-tuning gradient parity with PyTorch autograd (goldens from
// tests/ref/make_lora_goldens.py, float64 reference): for tiny models of every
// architecture, the batch loss within 1e-5 and every LoRA gradient within 1e-4
// relative (max |Δ| / max |g| per tensor); a 10-step AdamW loss trajectory
// within 1e-4; gradient checkpointing gives the same gradients.
#include "core/core.h"
#include "test.h"
#include "tiny_model.h"
#include "train/block.h"
#include "train/optim.h"

#include <dirent.h>
#include <stdlib.h>

static const char *golden_dir(void) {
    static char b[512];
    const char *t = getenv("TESTS_DIR");
    snprintf(b, sizeof b, "%s/golden/lora", t ? t : "tests");
    return b;
}

// ---- the batch of a manifest ----
typedef struct {
    int64_t n_seq, T;
    int64_t start[16];
    int32_t *tokens, *targets;
} golden_batch;

static void batch_from(json_t *man, golden_batch *g) {
    json_t *seqs = json_object_get(man, "sequences");
    g->n_seq = (int64_t)json_array_size(seqs);
    g->T = 0;
    for (int64_t s = 0; s < g->n_seq; s++) g->T += (int64_t)json_array_size(json_object_get(json_array_get(seqs, s), "ids"));
    g->tokens = xmalloc((size_t)g->T * 4);
    g->targets = xmalloc((size_t)g->T * 4);
    int64_t off = 0;
    for (int64_t s = 0; s < g->n_seq; s++) {
        json_t *sq = json_array_get(seqs, s), *ids = json_object_get(sq, "ids");
        int64_t n = (int64_t)json_array_size(ids), ts = json_integer_value(json_object_get(sq, "target_start"));
        g->start[s] = off;
        for (int64_t i = 0; i < n; i++) {
            g->tokens[off + i] = (int32_t)json_integer_value(json_array_get(ids, i));
            // position i predicts token i+1, a target when i+1 >= target_start
            g->targets[off + i] = i + 1 < n && i + 1 >= ts ? (int32_t)json_integer_value(json_array_get(ids, i + 1)) : -1;
        }
        off += n;
    }
    g->start[g->n_seq] = off;
}

// max |a - b| / max |b| over a tensor
static double rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i])), m = fmax(m, fabs((double)b[i]));
    return m > 0 ? d / m : d;
}

static void compare_grads(const lora_set *s, const char *grads_path, const char *name, const char *how) {
    st_file f;
    CHECK_MSG(st_open(&f, grads_path) == 0, "%s", err_msg());
    double worst = 0;
    const char *worst_name = "";
    for (int64_t i = 0; i < f.n_tensors; i++) {
        const tensor_view *v = &f.tensors[i];
        long long layer;
        char target[64], kind[16];
        if (sscanf(v->name, "model.layers.%lld.%63[a-z_.]", &layer, target) != 2) continue;
        char *dot = strrchr(target, '.');
        snprintf(kind, sizeof kind, "%s", dot + 1);
        *dot = 0;
        int p = -1;
        for (int k = 0; k < PROJ_COUNT; k++)
            if (strcmp(proj_names[k], target) == 0) p = k;
        lora_module *mod = p >= 0 ? lora_get(s, layer, (proj_kind)p) : NULL;
        const float *g = NULL;
        if (mod) g = strcmp(kind, "lora_a") == 0   ? mod->gA
                     : strcmp(kind, "lora_b") == 0 ? mod->gB
                     : strcmp(kind, "m") == 0      ? mod->gm
                     : strcmp(kind, "weight") == 0 ? mod->gW
                     : strcmp(kind, "bias") == 0   ? mod->gb
                                                   : NULL;
        else if (s->full && layer >= s->first_layer) { // a norm weight of a fully trained block
            static const char *const norms[4] = {"input_layernorm", "post_attention_layernorm", "self_attn.q_norm",
                                                 "self_attn.k_norm"};
            for (int k = 0; k < 4; k++)
                if (strcmp(target, norms[k]) == 0) g = s->norms[layer - s->first_layer].g[k];
        }
        CHECK_MSG(g != NULL, "%s: gradient %s has no trainable tensor", name, v->name);
        if (!g) continue;
        double r = rel_diff(g, v->data, tensor_numel(v));
        if (r > worst) worst = r, worst_name = v->name;
        CHECK_MSG(r <= 1e-4, "%s (%s): %s relative diff %.3e > 1e-4", name, how, v->name, r);
    }
    printf("%-16s %-22s worst gradient relative diff %.2e (%s)\n", name, how, worst, worst_name);
    st_close(&f);
}

static void run_case(json_t *man, const char *name) {
    char *dir = tiny_model_from_manifest(man, name);
    model m;
    int rc = model_load(&m, dir);
    CHECK_MSG(rc == 0, "%s: %s", name, err_msg());
    if (rc) {
        free(dir);
        return;
    }
    int dora = json_is_true(json_object_get(man, "dora"));
    int64_t nl = json_integer_value(json_object_get(man, "num_layers")), rank = json_integer_value(json_object_get(man, "rank"));
    float scale = (float)json_number_value(json_object_get(man, "scale"));
    golden_batch gb;
    batch_from(man, &gb);
    train_batch b = {gb.n_seq, gb.T, gb.start, gb.tokens, gb.targets};
    char *ad = xasprintf("%s/%s.adapters.safetensors", golden_dir(), name);
    char *gr = xasprintf("%s/%s.grads.safetensors", golden_dir(), name);
    const char *ft = json_string_value(json_object_get(man, "fine_tune_type"));
    int full = ft && strcmp(ft, "full") == 0;
    for (int ckpt = 0; ckpt <= 1; ckpt++) {
        lora_set s;
        if (full) {
            CHECK(lora_init_full(&s, &m, nl) == 0);
        } else {
            CHECK(lora_init(&s, &m, nl, (1u << PROJ_COUNT) - 1, rank, scale, 0, dora, 0) == 0);
            CHECK_MSG(lora_load_into(&s, &m, ad) == 0, "%s", err_msg());
            lora_refresh(&s, &m);
        }
        train_ctx c;
        CHECK(train_ctx_init(&c, &m, &s, gb.T, ckpt) == 0);
        int64_t n = 0;
        for (int64_t t = 0; t < gb.T; t++) n += gb.targets[t] >= 0;
        double loss_sum;
        int64_t nt;
        CHECK_MSG(train_step(&c, &b, 1, 1.0f / (float)n, &loss_sum, &nt) == 0, "%s", err_msg());
        double loss = loss_sum / (double)nt, ref = json_number_value(json_object_get(man, "loss"));
        CHECK_MSG(nt == json_integer_value(json_object_get(man, "n_targets")), "%s: %lld targets", name, (long long)nt);
        CHECK_MSG(fabs(loss - ref) <= 1e-5, "%s: loss %.8f vs %.8f", name, loss, ref);
        if (!ckpt) printf("%-16s loss %.8f, reference %.8f, diff %.1e (tol 1e-5)\n", name, loss, ref, fabs(loss - ref));
        compare_grads(&s, gr, name, ckpt ? "grad checkpointing" : "saved activations");
        // 10 AdamW steps from the same start, same batch
        json_t *traj = json_object_get(man, "trajectory");
        if (traj && !ckpt) {
            json_t *oc = json_object_get(man, "optimizer");
            optimizer o;
            optim_init(&o, OPTIM_ADAMW, s.n_params);
            o.weight_decay = (float)json_number_value(json_object_get(oc, "weight_decay"));
            float lr = (float)json_number_value(json_object_get(oc, "learning_rate"));
            if (full) {
                lora_release(&s);
                CHECK(lora_init_full(&s, &m, nl) == 0);
                c.lora = &s;
            } else {
                CHECK_MSG(lora_load_into(&s, &m, ad) == 0, "%s", err_msg());
                lora_refresh(&s, &m);
            }
            double worst = 0;
            for (size_t k = 0; k < json_array_size(traj); k++) {
                memset(s.grads, 0, (size_t)s.n_params * sizeof(float));
                train_step(&c, &b, 1, 1.0f / (float)n, &loss_sum, &nt);
                double d = fabs(loss_sum / (double)nt - json_number_value(json_array_get(traj, k)));
                worst = fmax(worst, d);
                optim_update(&o, s.params, s.grads, lr);
                lora_refresh(&s, &m);
            }
            CHECK_MSG(worst <= 1e-4, "%s: AdamW trajectory differs by %.3e", name, worst);
            printf("%-16s %zu-step AdamW trajectory max loss diff %.2e (tol 1e-4)\n", name, json_array_size(traj), worst);
            optim_release(&o);
        }
        train_ctx_release(&c);
        lora_release(&s);
    }
    free(ad);
    free(gr);
    free(gb.tokens);
    free(gb.targets);
    model_release(&m);
    free(dir);
}

int main(void) {
    DIR *d = opendir(golden_dir());
    CHECK_MSG(d != NULL, "no %s", golden_dir());
    struct dirent *e;
    int cases = 0;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(l - 5), e->d_name);
        char *p = xasprintf("%s/%s", golden_dir(), e->d_name);
        json_t *man = json_load_file(p, 0, NULL);
        CHECK(man != NULL);
        if (man) run_case(man, name), cases++;
        json_decref(man);
        free(p);
    }
    if (d) closedir(d);
    CHECK_MSG(cases >= 9, "only %d golden cases", cases);
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}
