// source.c — a model's tensors as fp32 rows with an adapter merged in, and the
// statistics of how much of the adapter's change the output dtype keeps.
//
// Merging is row-local: row o of a projection W (out, in) becomes
//   W'[o, :] = W[o, :] + scale · Σ_k A[:, k] · B[k, o]                 (LoRA)
//   W''[o, :] = m[o] / ‖W'[o, :]‖ · W'[o, :]                          (DoRA)
// in fp32, with the DoRA norm the lora_set already holds (lora_refresh computes
// it exactly as the unfused forward uses it), so fused and unfused agree to fp32
// rounding. Fully fine-tuned blocks replace weights, biases and norms outright.
// Rows come in HF order or, for the llama-family GGUF layout, with q/k rows
// permuted; the base may be stored either way (model_config.qk_permuted).
#include "fuse_internal.h"

#include "../io/quant.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

// ---- which tensor is which ----
static const size_t proj_slots[PROJ_COUNT] = {
    offsetof(layer_weights, q),    offsetof(layer_weights, k),  offsetof(layer_weights, v),   offsetof(layer_weights, o),
    offsetof(layer_weights, gate), offsetof(layer_weights, up), offsetof(layer_weights, down)};
static const size_t bias_slots[PROJ_COUNT] = {
    offsetof(layer_weights, q_bias),    offsetof(layer_weights, k_bias),  offsetof(layer_weights, v_bias),
    offsetof(layer_weights, o_bias),    offsetof(layer_weights, gate_bias), offsetof(layer_weights, up_bias),
    offsetof(layer_weights, down_bias)};
// lora_norms.w order: attention norm, MLP norm, q_norm, k_norm
static const size_t norm_slots[4] = {offsetof(layer_weights, attn_norm), offsetof(layer_weights, mlp_norm),
                                     offsetof(layer_weights, q_norm), offsetof(layer_weights, k_norm)};

void wsrc_tensor(const wsource *s, const model_tensor_spec *t, wtensor *wt) {
    memset(wt, 0, sizeof *wt);
    wt->spec = t;
    wt->v = model_tensor(s->m, t);
    wt->rows = t->ndim == 2 ? t->shape[0] : 1;
    wt->cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
    if (t->layer < 0) return;
    for (int p = 0; p < PROJ_COUNT; p++) {
        int qk = p == PROJ_Q || p == PROJ_K;
        if (t->slot == proj_slots[p]) {
            wt->qk = qk;
            if (s->lora) wt->mod = lora_get(s->lora, t->layer, (proj_kind)p);
        } else if (t->slot == bias_slots[p]) {
            wt->qk = qk;
            const lora_module *mod = s->lora ? lora_get(s->lora, t->layer, (proj_kind)p) : NULL;
            if (mod && mod->b) wt->full_vec = mod->b;
        }
    }
    if (s->lora && s->lora->full && t->layer >= s->lora->first_layer)
        for (int k = 0; k < 4; k++)
            if (t->slot == norm_slots[k]) wt->full_vec = s->lora->norms[t->layer - s->lora->first_layer].w[k];
}

// The row of the base file that holds wanted row j.
static int64_t source_row(const wsource *s, const wtensor *wt, int64_t j, int permuted) {
    int stored = s->m->cfg.qk_permuted;
    if (!wt->qk || permuted == stored) return j;
    int64_t hd = s->m->cfg.head_dim;
    return permuted ? qk_row_hf_of_gguf(j, hd) : qk_row_gguf_of_hf(j, hd);
}

// ---- rows ----
// One row with the adapter: base (in) -> out (in), o the row in the base's order.
static void merge_row(float *out, const float *base, const lora_module *mod, const lora_set *ls, int64_t o) {
    int64_t in = mod->in, r = ls->rank;
    for (int64_t i = 0; i < in; i++) {
        float delta = 0; // the same sum, in the same order, as the DoRA norm (lora.c dora_norms)
        for (int64_t k = 0; k < r; k++) delta += mod->A[i * r + k] * mod->B[k * mod->out + o];
        out[i] = base[i] + ls->scale * delta;
    }
    if (ls->dora) {
        float f = mod->m[o] / mod->wnorm[o];
        for (int64_t i = 0; i < in; i++) out[i] *= f;
    }
}

void wsrc_rows(const wsource *s, const wtensor *wt, int64_t r0, int64_t n, int permuted, float *out, float *base) {
    int64_t cols = wt->cols;
    if (wt->spec->ndim == 1) { // one row: the vector, elements in the wanted order
        LORAC_ASSERT(r0 == 0 && n == 1);
        float *v = xmalloc((size_t)cols * sizeof(float));
        tensor_to_f32(v, wt->v);
        for (int64_t j = 0; j < cols; j++) {
            int64_t src = source_row(s, wt, j, permuted);
            out[j] = wt->full_vec ? wt->full_vec[src] : v[src];
            if (base) base[j] = v[src];
        }
        free(v);
        return;
    }
    const lora_module *mod = wt->mod;
    int full = mod && s->lora->full;
#pragma omp parallel
    {
        float *tmp = mod && !full ? xmalloc((size_t)cols * sizeof(float)) : NULL;
#pragma omp for schedule(dynamic, 16)
        for (int64_t j = 0; j < n; j++) {
            int64_t o = source_row(s, wt, r0 + j, permuted);
            float *dst = out + j * cols;
            if (full) {
                memcpy(dst, mod->W + o * cols, (size_t)cols * sizeof(float));
                if (base) tensor_row_f32(base + j * cols, wt->v, o);
            } else if (mod) {
                tensor_row_f32(tmp, wt->v, o);
                merge_row(dst, tmp, mod, s->lora, o);
                if (base) memcpy(base + j * cols, tmp, (size_t)cols * sizeof(float));
            } else {
                tensor_row_f32(dst, wt->v, o);
                if (base) memcpy(base + j * cols, dst, (size_t)cols * sizeof(float));
            }
        }
        free(tmp);
    }
}

// ---- encoding ----
void rows_encode(void *dst, const float *src, int64_t n, int64_t cols, dtype type) {
    size_t rb = dtype_row_bytes(type, cols);
    LORAC_ASSERT(rb > 0);
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) LORAC_ASSERT(quantize_row(type, src + j * cols, (uint8_t *)dst + (size_t)j * rb, cols) == 0);
}

// ---- streaming ----
#define CHUNK_VALUES (1 << 22) // fp32 values per chunk of rows (16 MB)

int wsrc_stream(const wsource *s, const model_tensor_spec *ms, int64_t n, const dtype *types, int permuted,
                int gguf_names, kept_stats *ks, wsrc_write_fn write, void *ctx, FILE *log) {
    float *rows = NULL, *base = NULL;
    uint8_t *bytes = NULL;
    size_t cap = 0;
    int rc = 0;
    double t0 = now_seconds();
    for (int64_t i = 0; i < n && rc == 0; i++) {
        wtensor wt;
        wsrc_tensor(s, &ms[i], &wt);
        int stats = ks && wt.mod && ms[i].ndim == 2;
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
            wsrc_rows(s, &wt, r0, k, permuted, rows, stats ? base : NULL);
            if (stats) kept_add_rows(ks, rows, base, k, wt.cols, types[i], &t_dot, &t_dd);
            rows_encode(bytes, rows, k, wt.cols, types[i]);
            rc = write(ctx, bytes, dtype_row_bytes(types[i], wt.cols) * (size_t)k);
        }
        if (stats) kept_end_tensor(ks, gguf_names ? ms[i].gguf_name : ms[i].hf_name, t_dot, t_dd);
        if (log && now_seconds() - t0 > 2 && (i + 1) % 16 == 0)
            fprintf(log, "\r  %lld/%lld tensors", (long long)(i + 1), (long long)n), fflush(log);
    }
    if (log && now_seconds() - t0 > 2) fprintf(log, "\r  %lld/%lld tensors\n", (long long)n, (long long)n);
    free(rows), free(base), free(bytes);
    return rc;
}

// ---- kept statistics ----
void kept_add_rows(kept_stats *k, const float *fused, const float *base, int64_t n, int64_t cols, dtype type,
                   double *t_dot, double *t_dd) {
    double dot = 0, dd = 0, ee = 0;
    size_t rb = dtype_row_bytes(type, cols);
#pragma omp parallel reduction(+ : dot, dd, ee)
    {
        uint8_t *q = xmalloc(rb);
        float *rf = xmalloc((size_t)cols * sizeof(float)), *rb_ = xmalloc((size_t)cols * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t j = 0; j < n; j++) {
            const float *f = fused + j * cols, *b = base + j * cols;
            LORAC_ASSERT(quantize_row(type, f, q, cols) == 0 && dequantize_row(type, q, rf, cols) == 0);
            LORAC_ASSERT(quantize_row(type, b, q, cols) == 0 && dequantize_row(type, q, rb_, cols) == 0);
            for (int64_t i = 0; i < cols; i++) {
                double want = (double)f[i] - b[i], got = (double)rf[i] - rb_[i];
                dot += got * want, dd += want * want, ee += (got - want) * (got - want);
            }
        }
        free(q);
        free(rf);
        free(rb_);
    }
    k->dot += dot, k->dd += dd, k->ee += ee;
    *t_dot += dot, *t_dd += dd;
}

void kept_end_tensor(kept_stats *k, const char *name, double t_dot, double t_dd) {
    if (!(t_dd > 0)) return;
    double kept = t_dot / t_dd;
    if (k->n_tensors == 0 || kept < k->worst) {
        k->worst = kept;
        snprintf(k->worst_name, sizeof k->worst_name, "%s", name);
    }
    k->n_tensors++;
}

double kept_fraction(const kept_stats *k) { return k->dd > 0 ? k->dot / k->dd : 1.0; }
double kept_error(const kept_stats *k) { return k->dd > 0 ? sqrt(k->ee / k->dd) : 0.0; }
