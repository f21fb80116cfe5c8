// lora.c — LoRA/DoRA parameters, initialisation, mlx-lm adapter files, and the
// inference-time application.
#include "lora.h"

#include "adapter_io.h"

#include "../kernels/backward.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const short_names[PROJ_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

int lora_targets_from_names(const char *const *names, int n, uint32_t *mask) {
    *mask = 0;
    for (int i = 0; i < n; i++) {
        int found = -1;
        for (int t = 0; t < PROJ_COUNT; t++)
            if (strcmp(names[i], proj_names[t]) == 0 || strcmp(names[i], short_names[t]) == 0 ||
                (strlen(names[i]) > 5 && strcmp(names[i], proj_names[t] + (t < PROJ_GATE ? 10 : 4)) == 0))
                found = t;
        if (found < 0) {
            const char *best = closest_match(names[i], proj_names, PROJ_COUNT);
            return err_set("unknown LoRA key '%s'%s%s%s (known: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)",
                           names[i], best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
        }
        *mask |= 1u << found;
    }
    if (!*mask) return err_set("no LoRA keys given");
    return 0;
}

lora_module *lora_get(const lora_set *s, int64_t layer, proj_kind t) {
    if (layer < s->first_layer || layer >= s->n_layers || !(s->targets & (1u << t))) return NULL;
    lora_module *mod = &s->mods[(layer - s->first_layer) * PROJ_COUNT + t];
    return mod->in ? mod : NULL; // sets read from other tools may leave gaps
}

// ---- DoRA norms ----
// wnorm[o] = ‖W[o,:] + scale · Σ_r A[:,r] B[r,o]‖, row by row (W dequantized per row).
static void dora_norms(lora_module *mod, const lora_set *s, const tensor_view *w) {
    int64_t in = mod->in, r = s->rank;
#pragma omp parallel
    {
        float *row = xmalloc((size_t)in * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t o = 0; o < mod->out; o++) {
            tensor_row_f32(row, w, o);
            double ss = 0;
            for (int64_t i = 0; i < in; i++) {
                float delta = 0;
                for (int64_t k = 0; k < r; k++) delta += mod->A[i * r + k] * mod->B[k * mod->out + o];
                float v = row[i] + s->scale * delta;
                ss += (double)v * v;
            }
            mod->wnorm[o] = (float)sqrt(ss);
        }
        free(row);
    }
}

void lora_refresh(lora_set *s, const model *m) {
    if (!s->dora) return;
    for (int64_t l = s->first_layer; l < s->n_layers; l++)
        for (int t = 0; t < PROJ_COUNT; t++) {
            lora_module *mod = lora_get(s, l, (proj_kind)t);
            if (mod) dora_norms(mod, s, layer_proj(&m->layers[l], (proj_kind)t));
        }
}

// ---- init ----
int lora_init(lora_set *s, const model *m, int64_t num_layers, uint32_t targets, int64_t rank, float scale,
              float dropout, int dora, uint64_t seed) {
    memset(s, 0, sizeof *s);
    int64_t L = m->cfg.n_layers;
    if (num_layers < 0 || num_layers > L) num_layers = L;
    if (num_layers == 0) return err_set("num_layers must be -1 or at least 1");
    if (rank < 1) return err_set("LoRA rank must be at least 1, got %lld", (long long)rank);
    if (!(dropout >= 0 && dropout < 1)) return err_set("LoRA dropout must be in [0, 1), got %g", dropout);
    s->rank = rank, s->scale = scale, s->dropout = dropout, s->dora = dora;
    s->n_layers = L, s->first_layer = L - num_layers, s->targets = targets;
    s->mods = xcalloc((size_t)(num_layers * PROJ_COUNT), sizeof *s->mods);
    // sizes first, then one slab
    int64_t total = 0;
    for (int64_t l = s->first_layer; l < L; l++)
        for (int t = 0; t < PROJ_COUNT; t++) {
            if (!(targets & (1u << t))) continue;
            const tensor_view *w = layer_proj(&m->layers[l], (proj_kind)t);
            lora_module *mod = &s->mods[(l - s->first_layer) * PROJ_COUNT + t];
            mod->out = w->shape[0], mod->in = w->shape[1];
            total += rank * (mod->in + mod->out) + (dora ? mod->out : 0);
        }
    s->n_params = total;
    s->params = xcalloc((size_t)total, sizeof(float));
    s->grads = xcalloc((size_t)total, sizeof(float));
    int64_t off = 0;
    rng_state rng;
    rng_seed(&rng, seed);
    for (int64_t l = s->first_layer; l < L; l++)
        for (int t = 0; t < PROJ_COUNT; t++) {
            lora_module *mod = lora_get(s, l, (proj_kind)t);
            if (!mod) continue;
            mod->A = s->params + off, mod->gA = s->grads + off, off += mod->in * rank;
            mod->B = s->params + off, mod->gB = s->grads + off, off += rank * mod->out;
            if (dora) {
                mod->m = s->params + off, mod->gm = s->grads + off, off += mod->out;
                mod->wnorm = xmalloc((size_t)mod->out * sizeof(float));
            }
            float bound = 1.0f / sqrtf((float)mod->in);
            for (int64_t i = 0; i < mod->in * rank; i++) mod->A[i] = (2.0f * rng_uniform(&rng) - 1.0f) * bound;
        }
    if (dora) { // m = ‖W‖_row: the norms with B = 0
        lora_refresh(s, m);
        for (int64_t l = s->first_layer; l < L; l++)
            for (int t = 0; t < PROJ_COUNT; t++) {
                lora_module *mod = lora_get(s, l, (proj_kind)t);
                if (mod) memcpy(mod->m, mod->wnorm, (size_t)mod->out * sizeof(float));
            }
    }
    return 0;
}

int lora_init_full(lora_set *s, const model *m, int64_t num_layers) {
    memset(s, 0, sizeof *s);
    const model_config *c = &m->cfg;
    int64_t L = c->n_layers;
    if (num_layers < 0 || num_layers > L) num_layers = L;
    if (num_layers == 0) return err_set("num_layers must be -1 or at least 1");
    s->full = 1, s->rank = 0, s->scale = 0;
    s->n_layers = L, s->first_layer = L - num_layers, s->targets = (1u << PROJ_COUNT) - 1;
    s->mods = xcalloc((size_t)(num_layers * PROJ_COUNT), sizeof *s->mods);
    s->norms = xcalloc((size_t)num_layers, sizeof *s->norms);
    int64_t total = 0;
    for (int64_t l = s->first_layer; l < L; l++) {
        const layer_weights *W = &m->layers[l];
        const tensor_view *b[PROJ_COUNT] = {W->q_bias, W->k_bias, W->v_bias, W->o_bias, W->gate_bias, W->up_bias, W->down_bias};
        for (int t = 0; t < PROJ_COUNT; t++) {
            lora_module *mod = &s->mods[(l - s->first_layer) * PROJ_COUNT + t];
            const tensor_view *w = layer_proj(W, (proj_kind)t);
            mod->out = w->shape[0], mod->in = w->shape[1];
            total += mod->out * mod->in + (b[t] ? mod->out : 0);
        }
        const tensor_view *nw[4] = {W->attn_norm, W->mlp_norm, W->q_norm, W->k_norm};
        for (int k = 0; k < 4; k++) total += nw[k] ? tensor_numel(nw[k]) : 0;
    }
    s->n_params = total;
    s->params = xcalloc((size_t)total, sizeof(float));
    s->grads = xcalloc((size_t)total, sizeof(float));
    int64_t off = 0;
    for (int64_t l = s->first_layer; l < L; l++) {
        const layer_weights *W = &m->layers[l];
        const tensor_view *b[PROJ_COUNT] = {W->q_bias, W->k_bias, W->v_bias, W->o_bias, W->gate_bias, W->up_bias, W->down_bias};
        for (int t = 0; t < PROJ_COUNT; t++) {
            lora_module *mod = lora_get(s, l, (proj_kind)t);
            const tensor_view *w = layer_proj(W, (proj_kind)t);
            mod->W = s->params + off, mod->gW = s->grads + off, off += mod->out * mod->in;
            for (int64_t r = 0; r < mod->out; r++) tensor_row_f32(mod->W + r * mod->in, w, r);
            mod->Wv = (tensor_view){w->name, DTYPE_F32, 2, {mod->out, mod->in}, mod->W, (size_t)(mod->out * mod->in) * 4};
            if (b[t]) {
                mod->b = s->params + off, mod->gb = s->grads + off, off += mod->out;
                tensor_to_f32(mod->b, b[t]);
            }
        }
        const tensor_view *nw[4] = {W->attn_norm, W->mlp_norm, W->q_norm, W->k_norm};
        lora_norms *N = &s->norms[l - s->first_layer];
        for (int k = 0; k < 4; k++) {
            if (!nw[k]) continue;
            N->w[k] = s->params + off, N->g[k] = s->grads + off, off += tensor_numel(nw[k]);
            tensor_to_f32(N->w[k], nw[k]);
        }
    }
    return 0;
}

void lora_release(lora_set *s) {
    if (!s) return;
    free(s->norms);
    if (s->mods && s->dora)
        for (int64_t i = 0; i < (s->n_layers - s->first_layer) * PROJ_COUNT; i++) free(s->mods[i].wnorm);
    free(s->mods);
    free(s->params);
    free(s->grads);
    memset(s, 0, sizeof *s);
}

// ---- files ----
// Every tensor of the set as it is named on disk: (name, data, shape).
typedef struct {
    char name[160];
    float *data;
    int ndim;
    int64_t shape[2];
    int qk; // q/k output dimension: 0 none, 1 along columns (lora_b, m, bias), 2 along rows (weight)
} lora_entry;

static const char *const norm_names[4] = {"input_layernorm", "post_attention_layernorm", "self_attn.q_norm",
                                          "self_attn.k_norm"};

static int64_t lora_entries(const lora_set *s, lora_entry **out) {
    int64_t cap = (s->n_layers - s->first_layer) * (PROJ_COUNT * 3 + 4), n = 0;
    lora_entry *e = xcalloc((size_t)cap, sizeof *e);
    for (int64_t l = s->first_layer; l < s->n_layers; l++) {
        for (int t = 0; t < PROJ_COUNT; t++) {
            lora_module *mod = lora_get(s, l, (proj_kind)t);
            if (!mod) continue;
            const char *base = proj_names[t];
            int qk = t == PROJ_Q || t == PROJ_K;
            if (s->full) {
                e[n] = (lora_entry){"", mod->W, 2, {mod->out, mod->in}, 2 * qk};
                snprintf(e[n++].name, 160, "model.layers.%lld.%s.weight", (long long)l, base);
                if (mod->b) {
                    e[n] = (lora_entry){"", mod->b, 1, {mod->out, 0}, qk};
                    snprintf(e[n++].name, 160, "model.layers.%lld.%s.bias", (long long)l, base);
                }
                continue;
            }
            e[n] = (lora_entry){"", mod->A, 2, {mod->in, s->rank}, 0};
            snprintf(e[n++].name, 160, "model.layers.%lld.%s.lora_a", (long long)l, base);
            e[n] = (lora_entry){"", mod->B, 2, {s->rank, mod->out}, qk};
            snprintf(e[n++].name, 160, "model.layers.%lld.%s.lora_b", (long long)l, base);
            if (s->dora) {
                e[n] = (lora_entry){"", mod->m, 1, {mod->out, 0}, qk};
                snprintf(e[n++].name, 160, "model.layers.%lld.%s.m", (long long)l, base);
            }
        }
        if (s->full)
            for (int k = 0; k < 4; k++) {
                const lora_norms *N = &s->norms[l - s->first_layer];
                if (!N->w[k]) continue;
                e[n] = (lora_entry){"", N->w[k], 1, {0, 0}, 0};
                snprintf(e[n++].name, 160, "model.layers.%lld.%s.weight", (long long)l, norm_names[k]);
            }
    }
    *out = e;
    return n;
}

// Norm lengths are not stored in lora_norms: take them from the model's tensors.
static void fill_norm_shapes(const lora_set *s, const model *m, lora_entry *e, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (e[i].shape[0] != 0) continue;
        long long l;
        char what[64];
        if (sscanf(e[i].name, "model.layers.%lld.%63[a-z_.]", &l, what) != 2) continue;
        const layer_weights *W = &m->layers[l];
        const tensor_view *v = strstr(what, "input_layernorm")            ? W->attn_norm
                               : strstr(what, "post_attention_layernorm") ? W->mlp_norm
                               : strstr(what, "q_norm")                   ? W->q_norm
                                                                          : W->k_norm;
        e[i].shape[0] = v ? v->shape[0] : 0;
    }
    (void)s;
}

// x (the entry's shape) between HF's q/k order and the base file's (to_hf: file -> HF).
static void qk_reorder_entry(const lora_entry *e, float *x, int64_t hd, int to_hf) {
    int64_t rows = e->ndim == 2 ? e->shape[0] : 1, cols = e->ndim == 2 ? e->shape[1] : e->shape[0];
    qk_reorder_f32(x, rows, cols, e->qk == 2, hd, to_hf);
}

static float *qk_copy(const lora_entry *e, int64_t hd, int to_hf) {
    size_t n = (size_t)(e->shape[0] * (e->ndim == 2 ? e->shape[1] : 1));
    float *c = xmalloc(n * sizeof(float));
    memcpy(c, e->data, n * sizeof(float));
    qk_reorder_entry(e, c, hd, to_hf);
    return c;
}

int lora_save(const lora_set *s, const model *m, const char *path) {
    lora_entry *e;
    int64_t n = lora_entries(s, &e);
    fill_norm_shapes(s, m, e, n);
    st_tensor_spec *specs = xcalloc((size_t)n, sizeof *specs);
    const void **data = xcalloc((size_t)n, sizeof *data);
    float **copies = xcalloc((size_t)n, sizeof *copies);
    for (int64_t i = 0; i < n; i++) {
        specs[i] = (st_tensor_spec){e[i].name, DTYPE_F32, e[i].ndim, {e[i].shape[0], e[i].shape[1]}};
        data[i] = e[i].data;
        if (e[i].qk && m->cfg.qk_permuted) { // files keep HF's q/k order whatever the base's
            copies[i] = qk_copy(&e[i], m->cfg.head_dim, 1);
            data[i] = copies[i];
        }
    }
    st_meta meta[] = {{"format", "mlx"}};
    int rc = st_write_file(path, specs, data, n, meta, 1);
    for (int64_t i = 0; i < n; i++) free(copies[i]);
    free(copies);
    free(specs);
    free(data);
    free(e);
    return rc;
}

int lora_load_into(lora_set *s, const model *m, const char *path) {
    st_file f;
    if (st_open(&f, path)) return -1;
    lora_entry *e;
    int64_t n = lora_entries(s, &e);
    fill_norm_shapes(s, m, e, n);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        const tensor_view *v = st_find(&f, e[i].name);
        int nd = e[i].ndim;
        if (!v) {
            rc = err_set("%s: missing tensor '%s'", path, e[i].name);
        } else if (v->ndim != nd || v->shape[0] != e[i].shape[0] || (nd == 2 && v->shape[1] != e[i].shape[1])) {
            char got[64], want[64];
            rc = err_set("%s: tensor '%s' has shape %s, expected %s", path, e[i].name,
                         shape_str(got, sizeof got, v->ndim, v->shape), shape_str(want, sizeof want, nd, e[i].shape));
        } else if (v->type != DTYPE_F32 && v->type != DTYPE_BF16 && v->type != DTYPE_F16) {
            rc = err_set("%s: tensor '%s' has dtype %s, expected F32/BF16/F16", path, e[i].name, dtype_name(v->type));
        } else {
            if (nd == 2)
                for (int64_t r = 0; r < v->shape[0]; r++) tensor_row_f32(e[i].data + r * v->shape[1], v, r);
            else tensor_to_f32(e[i].data, v);
            if (e[i].qk && m->cfg.qk_permuted) qk_reorder_entry(&e[i], e[i].data, m->cfg.head_dim, 0);
        }
    }
    if (rc == 0 && n != f.n_tensors) {
        for (int64_t i = 0; i < f.n_tensors; i++) {
            long long layer = -1;
            if (sscanf(f.tensors[i].name, "model.layers.%lld.", &layer) == 1 && layer < s->first_layer) {
                rc = err_set("%s: tensor '%s' adapts layer %lld, below the first adapted layer %lld (num_layers mismatch?)",
                             path, f.tensors[i].name, layer, (long long)s->first_layer);
                break;
            }
        }
        if (rc == 0) rc = err_set("%s: holds %lld tensors; the adapter configuration expects %lld", path,
                                  (long long)f.n_tensors, (long long)n);
    }
    free(e);
    st_close(&f);
    return rc;
}

int lora_load_dir(lora_set *s, const model *m, const char *dir, const char *file) {
    memset(s, 0, sizeof *s);
    adapter_layout layout;
    if (adapter_detect(dir, &layout)) return -1;
    char *cfg_path = path_join(dir, "adapter_config.json");
    json_t *cfg = layout == ADAPTER_MLX ? json_load_file(cfg_path, 0, NULL) : NULL;
    const char *ft = json_string_value(json_object_get(cfg, "fine_tune_type"));
    int rc = -1;
    if (ft && strcmp(ft, "full") == 0) { // fine-tuned weights of the last blocks, mlx-lm's layout
        json_t *nl = json_object_get(cfg, "num_layers");
        if (!json_is_integer(nl)) err_set("%s: needs 'num_layers' (mlx-lm adapter_config.json)", cfg_path);
        else if (lora_init_full(s, m, json_integer_value(nl))) err_prefix("%s", cfg_path);
        else {
            char *wpath = path_join(dir, file ? file : "adapters.safetensors");
            rc = lora_load_into(s, m, wpath);
            free(wpath);
            if (rc) lora_release(s);
        }
    } else {
        adapter a;
        if (adapter_read(&a, dir, file) == 0) {
            rc = adapter_to_lora(&a, m, s);
            adapter_release(&a);
        }
    }
    json_decref(cfg);
    free(cfg_path);
    return rc;
}

// ---- inference ----
static void adapter_hook(void *ctx, int64_t layer, proj_kind p, float *y, const float *x, int64_t T, const float *bias) {
    const lora_set *s = ctx;
    const lora_module *mod = lora_get(s, layer, p);
    if (mod) lora_apply(mod, s, y, x, T, bias);
}

void lora_attach(const lora_set *s, infer_state *st) {
    st->adapter = s ? adapter_hook : NULL;
    st->adapter_ctx = (void *)s;
    if (!s || !s->full) return;
    // fully fine-tuned blocks also bring their own norm weights
    const model_config *c = &st->m->cfg;
    for (int64_t l = s->first_layer; l < c->n_layers; l++) {
        const lora_norms *N = &s->norms[l - s->first_layer];
        layer_small *S = &st->small[l];
        float *dst[4] = {S->attn_norm, S->mlp_norm, S->q_norm, S->k_norm};
        int64_t len[4] = {c->hidden_size, c->hidden_size, c->head_dim, c->head_dim};
        for (int k = 0; k < 4; k++)
            if (dst[k] && N->w[k]) memcpy(dst[k], N->w[k], (size_t)len[k] * sizeof(float));
    }
}

void lora_apply(const lora_module *mod, const lora_set *s, float *y, const float *x, int64_t T, const float *bias) {
    if (s->full) { // the trained weight replaces the base one: recompute y
        matmul_forward(y, x, &mod->Wv, mod->b, T);
        return;
    }
    int64_t r = s->rank;
    float *xa = xmalloc((size_t)(T * r) * sizeof(float));
    gemm_f32(xa, x, mod->A, T, r, mod->in, 0, 0, 1.0f, 0.0f);        // (T, r) = x · A
    if (!s->dora) {
        gemm_f32(y, xa, mod->B, T, mod->out, r, 0, 0, s->scale, 1.0f); // y += scale · (x·A)·B
    } else {
        for (int64_t t = 0; t < T; t++)
            if (bias)
                for (int64_t o = 0; o < mod->out; o++) y[t * mod->out + o] -= bias[o];
        gemm_f32(y, xa, mod->B, T, mod->out, r, 0, 0, s->scale, 1.0f);
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < mod->out; o++)
                y[t * mod->out + o] = y[t * mod->out + o] * (mod->m[o] / mod->wnorm[o]) + (bias ? bias[o] : 0);
    }
    free(xa);
}
