// block.c — training forward/backward over packed sequences with LoRA/DoRA.
//
// Per adapted projection (W (out, in), input x, LoRA A (in, r), B (r, out)):
//   forward   xd = dropout(x); xa = xd·A; y = x·Wᵀ + b + s·xa·B
//             DoRA: ypre = x·Wᵀ + s·xa·B; y = (m/n)∘ypre + b, n detached
//   backward  dyp = dy (DoRA: dy∘m/n, gm += Σ_t dy∘ypre/n)
//             dx += dyp·W;  gB += s·xaᵀ·dyp;  dxa = s·dyp·Bᵀ;  gA += xdᵀ·dxa;
//             dx += (dxa·Aᵀ)∘mask/(1−p)
#include "block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- setup ----
static float *buf(int64_t n) { return xmalloc_aligned(64, (size_t)(n > 0 ? n : 1) * sizeof(float)); }

static float *f32_of(const tensor_view *t) {
    if (!t) return NULL;
    float *o = xmalloc((size_t)tensor_numel(t) * sizeof(float));
    tensor_to_f32(o, t);
    return o;
}

static const tensor_view *proj_bias(const layer_weights *L, proj_kind p) {
    const tensor_view *b[PROJ_COUNT] = {L->q_bias, L->k_bias, L->v_bias, L->o_bias, L->gate_bias, L->up_bias, L->down_bias};
    return b[p];
}

static void acts_alloc(block_acts *a, const train_ctx *c, int full) {
    const model_config *g = &c->m->cfg;
    int64_t T = c->max_tokens, d = g->hidden_size, qd = g->n_heads * g->head_dim, kvd = g->n_kv_heads * g->head_dim;
    int64_t ff = g->intermediate_size, r = c->lora->rank;
    memset(a, 0, sizeof *a);
    a->x_in = buf(T * d);
    if (!full) return;
    a->xn1 = buf(T * d), a->q = buf(T * qd), a->k = buf(T * kvd), a->v = buf(T * kvd), a->att = buf(T * qd);
    if (g->qk_norm) a->q_pre = buf(T * qd), a->k_pre = buf(T * kvd);
    a->h = buf(T * d), a->xn2 = buf(T * d), a->gate = buf(T * ff), a->up = buf(T * ff), a->act = buf(T * ff);
    int64_t outs[PROJ_COUNT] = {qd, kvd, kvd, d, ff, ff, d};
    for (int p = 0; p < PROJ_COUNT && !c->lora->full; p++) {
        if (!(c->lora->targets & (1u << p))) continue;
        a->xa[p] = buf(T * r);
        if (c->lora->dora) a->ypre[p] = buf(T * outs[p]);
    }
}

static void acts_free(block_acts *a) {
    float *f[] = {a->x_in, a->xn1, a->q_pre, a->k_pre, a->q, a->k, a->v, a->att, a->h, a->xn2, a->gate, a->up, a->act};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    for (int p = 0; p < PROJ_COUNT; p++) free(a->xa[p]), free(a->ypre[p]);
    memset(a, 0, sizeof *a);
}

int train_ctx_init(train_ctx *c, const model *m, lora_set *lora, int64_t max_tokens, int grad_checkpoint) {
    memset(c, 0, sizeof *c);
    const model_config *g = &m->cfg;
    if (max_tokens < 2) return err_set("training needs at least 2 tokens per batch");
    c->m = m, c->lora = lora, c->max_tokens = max_tokens, c->grad_checkpoint = grad_checkpoint, c->training = 1;
    rope_table_init(&c->rope, g->head_dim, g->rope_theta, (int)g->rope_scaling.type, g->rope_scaling.factor,
                    g->rope_scaling.low_freq_factor, g->rope_scaling.high_freq_factor,
                    g->rope_scaling.original_max_position_embeddings, g->rope_scaling.beta_fast, g->rope_scaling.beta_slow,
                    g->rope_scaling.attention_factor, g->qk_permuted ? ROPE_INTERLEAVED : ROPE_NEOX);
    int64_t L = g->n_layers, T = max_tokens, d = g->hidden_size, qd = g->n_heads * g->head_dim;
    int64_t kvd = g->n_kv_heads * g->head_dim, ff = g->intermediate_size, r = lora->rank;
    c->norm_w = xcalloc((size_t)(L * 4), sizeof *c->norm_w);
    c->bias = xcalloc((size_t)(L * PROJ_COUNT), sizeof *c->bias);
    for (int64_t l = 0; l < L; l++) {
        if (lora->full && l >= lora->first_layer) continue; // trained: the slab's norms and biases are used
        const layer_weights *W = &m->layers[l];
        c->norm_w[l * 4 + 0] = f32_of(W->attn_norm), c->norm_w[l * 4 + 1] = f32_of(W->mlp_norm);
        c->norm_w[l * 4 + 2] = f32_of(W->q_norm), c->norm_w[l * 4 + 3] = f32_of(W->k_norm);
        for (int p = 0; p < PROJ_COUNT; p++) c->bias[l * PROJ_COUNT + p] = f32_of(proj_bias(W, (proj_kind)p));
    }
    c->final_norm = f32_of(m->final_norm);
    int64_t n_adapted = L - lora->first_layer;
    c->acts = xcalloc((size_t)n_adapted, sizeof *c->acts);
    for (int64_t i = 0; i < n_adapted; i++) acts_alloc(&c->acts[i], c, !grad_checkpoint);
    if (grad_checkpoint) acts_alloc(&c->recompute, c, 1);
    int64_t wide = d > ff ? d : ff;
    if (qd > wide) wide = qd;
    c->x = buf(T * d), c->xf = buf(T * d), c->dx = buf(T * d), c->dxf = buf(T * d), c->s_d = buf(T * d), c->s_d2 = buf(T * d);
    c->s_q = buf(T * qd), c->s_q2 = buf(T * qd), c->s_kv = buf(T * kvd), c->s_kv2 = buf(T * kvd), c->s_kv3 = buf(T * kvd);
    c->s_ff = buf(T * ff), c->s_ff2 = buf(T * ff), c->s_ff3 = buf(T * ff), c->s_in = buf(T * wide);
    c->s_r = buf(T * r), c->s_r2 = buf(T * r), c->s_out = buf(T * wide);
    c->pos = xmalloc((size_t)T * sizeof(int64_t));
    return 0;
}

void train_ctx_release(train_ctx *c) {
    if (!c || !c->m) return;
    int64_t L = c->m->cfg.n_layers;
    int64_t owned = c->lora->full ? c->lora->first_layer : L; // trained layers borrow from the slab
    for (int64_t i = 0; i < owned * 4; i++) free(c->norm_w[i]);
    for (int64_t i = 0; i < owned * PROJ_COUNT; i++) free(c->bias[i]);
    free(c->norm_w), free(c->bias), free(c->final_norm);
    for (int64_t i = 0; i < L - c->lora->first_layer; i++) acts_free(&c->acts[i]);
    free(c->acts);
    acts_free(&c->recompute);
    float *f[] = {c->x, c->xf, c->dx, c->dxf, c->s_d, c->s_d2, c->s_q, c->s_q2, c->s_kv, c->s_kv2, c->s_kv3,
                  c->s_ff, c->s_ff2, c->s_ff3, c->s_in, c->s_r, c->s_r2, c->s_out};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    free(c->pos);
    rope_table_release(&c->rope);
    memset(c, 0, sizeof *c);
}

// Norm weight k (0 attn, 1 mlp, 2 q_norm, 3 k_norm) of layer l, and its gradient
// (NULL unless the layer is fully fine-tuned).
static const float *norm_w(const train_ctx *c, int64_t l, int k) {
    if (c->lora->full && l >= c->lora->first_layer) return c->lora->norms[l - c->lora->first_layer].w[k];
    return c->norm_w[l * 4 + k];
}

static float *norm_g(const train_ctx *c, int64_t l, int k) {
    if (c->lora->full && l >= c->lora->first_layer) return c->lora->norms[l - c->lora->first_layer].g[k];
    return NULL;
}

// ---- dropout ----
// Keep mask from a counter hash of (seed, layer, projection, element): the same
// in forward and backward without storing it.
static inline int keep(uint64_t key, int64_t i, float p) {
    uint64_t z = key + (uint64_t)i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

static uint64_t drop_key(const train_ctx *c, int64_t l, proj_kind p) {
    return c->dropout_seed * 0x2545f4914f6cdd1dull + (uint64_t)(l * PROJ_COUNT + p) * 0x9e3779b97f4a7c15ull;
}

// xd = dropout(x) into out, or x itself when no dropout applies.
static const float *dropped(train_ctx *c, int64_t l, proj_kind p, const float *x, int64_t n, float *out) {
    float pr = c->lora->dropout;
    if (!c->training || pr <= 0) return x;
    uint64_t key = drop_key(c, l, p);
    float s = 1.0f / (1.0f - pr);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = keep(key, i, pr) ? x[i] * s : 0.0f;
    return out;
}

// ---- projections ----
// y (T, out) = x·Wᵀ + b (+ LoRA/DoRA); saves xa / ypre into a when a is given.
static void tproj(train_ctx *c, int64_t l, proj_kind p, float *y, const float *x, int64_t T, block_acts *a) {
    lora_module *mod = lora_get(c->lora, l, p);
    if (mod && c->lora->full) { // the trained fp32 weight and bias
        matmul_forward(y, x, &mod->Wv, mod->b, T);
        return;
    }
    const tensor_view *w = layer_proj(&c->m->layers[l], p);
    const float *bias = c->bias[l * PROJ_COUNT + p];
    matmul_forward(y, x, w, bias, T);
    if (!mod) return;
    int64_t in = mod->in, out = mod->out, r = c->lora->rank;
    float s = c->lora->scale;
    float *xa = a && a->xa[p] ? a->xa[p] : c->s_r;
    const float *xd = dropped(c, l, p, x, T * in, c->s_in);
    gemm_f32(xa, xd, mod->A, T, r, in, 0, 0, 1.0f, 0.0f);
    if (!c->lora->dora) {
        gemm_f32(y, xa, mod->B, T, out, r, 0, 0, s, 1.0f);
        return;
    }
    float *ypre = a && a->ypre[p] ? a->ypre[p] : c->s_out;
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < out; o++) ypre[t * out + o] = y[t * out + o] - (bias ? bias[o] : 0.0f);
    gemm_f32(ypre, xa, mod->B, T, out, r, 0, 0, s, 1.0f);
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < out; o++)
            y[t * out + o] = ypre[t * out + o] * (mod->m[o] / mod->wnorm[o]) + (bias ? bias[o] : 0.0f);
}

// dx (T, in) += ∂/∂x of the projection given dy (T, out); LoRA gradients accumulate.
static void tproj_backward(train_ctx *c, int64_t l, proj_kind p, float *dx, const float *dy, const float *x, int64_t T,
                           const block_acts *a) {
    const tensor_view *w = layer_proj(&c->m->layers[l], p);
    lora_module *mod = lora_get(c->lora, l, p);
    if (!mod) {
        matmul_backward_input(dx, dy, w, T, 1);
        return;
    }
    if (c->lora->full) { // dx += dy·W, gW += dyᵀ·x, gb += Σ_t dy
        matmul_backward_input(dx, dy, &mod->Wv, T, 1);
        gemm_f32(mod->gW, dy, x, mod->out, mod->in, T, 1, 0, 1.0f, 1.0f);
        if (mod->gb)
            for (int64_t t = 0; t < T; t++)
                for (int64_t o = 0; o < mod->out; o++) mod->gb[o] += dy[t * mod->out + o];
        return;
    }
    int64_t in = mod->in, out = mod->out, r = c->lora->rank;
    float s = c->lora->scale;
    const float *dyp = dy;
    if (c->lora->dora) {
        float *sc = c->s_out;
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < out; o++) {
                float g = dy[t * out + o];
                mod->gm[o] += g * a->ypre[p][t * out + o] / mod->wnorm[o];
                sc[t * out + o] = g * (mod->m[o] / mod->wnorm[o]);
            }
        dyp = sc;
    }
    matmul_backward_input(dx, dyp, w, T, 1);
    gemm_f32(mod->gB, a->xa[p], dyp, r, out, T, 1, 0, s, 1.0f);  // gB (r, out) += s·xaᵀ·dyp
    float *dxa = c->s_r2;
    gemm_f32(dxa, dyp, mod->B, T, r, out, 0, 1, s, 0.0f);          // dxa (T, r) = s·dyp·Bᵀ
    const float *xd = dropped(c, l, p, x, T * in, c->s_in);
    gemm_f32(mod->gA, xd, dxa, in, r, T, 1, 0, 1.0f, 1.0f);        // gA (in, r) += xdᵀ·dxa
    float pr = c->lora->dropout;
    if (!c->training || pr <= 0) {
        gemm_f32(dx, dxa, mod->A, T, in, r, 0, 1, 1.0f, 1.0f);     // dx += dxa·Aᵀ
        return;
    }
    float *tmp = c->s_in;
    gemm_f32(tmp, dxa, mod->A, T, in, r, 0, 1, 1.0f, 0.0f);
    uint64_t key = drop_key(c, l, p);
    float sc = 1.0f / (1.0f - pr);
    for (int64_t i = 0; i < T * in; i++)
        if (keep(key, i, pr)) dx[i] += tmp[i] * sc;
}

// ---- block forward ----
// x (T, d) in place: x = block(x). With a, every activation backward needs is kept.
static void block_forward(train_ctx *c, int64_t l, float *x, const train_batch *b, block_acts *a) {
    const model_config *g = &c->m->cfg;
    int64_t T = b->T, d = g->hidden_size, hd = g->head_dim, qd = g->n_heads * hd, kvd = g->n_kv_heads * hd;
    int64_t ff = g->intermediate_size;
    float eps = (float)g->rms_norm_eps;
    int keep_all = a && a->xn1;
    float *xn1 = keep_all ? a->xn1 : c->s_d, *q = keep_all ? a->q : c->s_q, *k = keep_all ? a->k : c->s_kv;
    float *v = keep_all ? a->v : c->s_kv2, *att = keep_all ? a->att : c->s_q2;
    block_acts *sa = keep_all ? a : NULL;
    if (a) memcpy(a->x_in, x, (size_t)(T * d) * sizeof(float));
    rmsnorm_forward(xn1, x, norm_w(c, l, 0), T, d, eps);
    tproj(c, l, PROJ_Q, q, xn1, T, sa);
    tproj(c, l, PROJ_K, k, xn1, T, sa);
    tproj(c, l, PROJ_V, v, xn1, T, sa);
    if (g->qk_norm) {
        if (keep_all) {
            memcpy(a->q_pre, q, (size_t)(T * qd) * sizeof(float));
            memcpy(a->k_pre, k, (size_t)(T * kvd) * sizeof(float));
        }
        rmsnorm_forward(q, q, norm_w(c, l, 2), T * g->n_heads, hd, eps);
        rmsnorm_forward(k, k, norm_w(c, l, 3), T * g->n_kv_heads, hd, eps);
    }
    if (g->use_rope[l]) {
        rope_forward(q, c->pos, T, g->n_heads, &c->rope);
        rope_forward(k, c->pos, T, g->n_kv_heads, &c->rope);
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t s = 0; s < b->n_seq; s++) {
        int64_t s0 = b->start[s], n = b->start[s + 1] - s0;
        attention_forward(att + s0 * qd, q + s0 * qd, k + s0 * kvd, v + s0 * kvd, n, 0, g->n_heads, g->n_kv_heads, hd, scale);
    }
    float *o = c->s_d2;
    tproj(c, l, PROJ_O, o, att, T, sa);
    for (int64_t i = 0; i < T * d; i++) x[i] += o[i];
    float *xn2 = keep_all ? a->xn2 : c->s_d, *gate = keep_all ? a->gate : c->s_ff, *up = keep_all ? a->up : c->s_ff2;
    float *act = keep_all ? a->act : c->s_ff3;
    if (keep_all) memcpy(a->h, x, (size_t)(T * d) * sizeof(float));
    rmsnorm_forward(xn2, x, norm_w(c, l, 1), T, d, eps);
    tproj(c, l, PROJ_GATE, gate, xn2, T, sa);
    tproj(c, l, PROJ_UP, up, xn2, T, sa);
    silu_mul_forward(act, gate, up, T * ff);
    tproj(c, l, PROJ_DOWN, o, act, T, sa);
    for (int64_t i = 0; i < T * d; i++) x[i] += o[i];
}

// ---- block backward ----
// dx (T, d): in = ∂L/∂(block output), out = ∂L/∂(block input).
static void block_backward(train_ctx *c, int64_t l, float *dx, const train_batch *b, const block_acts *a) {
    const model_config *g = &c->m->cfg;
    int64_t T = b->T, d = g->hidden_size, hd = g->head_dim, qd = g->n_heads * hd, kvd = g->n_kv_heads * hd;
    int64_t ff = g->intermediate_size;
    float eps = (float)g->rms_norm_eps;
    // MLP: x_out = h + down(silu(gate(n2(h))) · up(n2(h)))
    float *dact = c->s_ff3, *dgate = c->s_ff, *dup = c->s_ff2, *dxn = c->s_d;
    memset(dact, 0, (size_t)(T * ff) * sizeof(float));
    tproj_backward(c, l, PROJ_DOWN, dact, dx, a->act, T, a);
    silu_mul_backward(dgate, dup, dact, a->gate, a->up, T * ff);
    memset(dxn, 0, (size_t)(T * d) * sizeof(float));
    tproj_backward(c, l, PROJ_GATE, dxn, dgate, a->xn2, T, a);
    tproj_backward(c, l, PROJ_UP, dxn, dup, a->xn2, T, a);
    float *dh = c->s_d2;
    rmsnorm_backward(dh, norm_g(c, l, 1), dxn, a->h, norm_w(c, l, 1), T, d, eps);
    for (int64_t i = 0; i < T * d; i++) dx[i] += dh[i]; // dx is now ∂L/∂h
    // attention: h = x_in + o(attn(q, k, v))
    float *datt = c->s_q2;
    memset(datt, 0, (size_t)(T * qd) * sizeof(float));
    tproj_backward(c, l, PROJ_O, datt, dx, a->att, T, a);
    float *dq = c->s_q, *dk = c->s_kv, *dv = c->s_kv2;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t s = 0; s < b->n_seq; s++) {
        int64_t s0 = b->start[s], n = b->start[s + 1] - s0;
        attention_backward(dq + s0 * qd, dk + s0 * kvd, dv + s0 * kvd, datt + s0 * qd, a->q + s0 * qd, a->k + s0 * kvd,
                           a->v + s0 * kvd, n, g->n_heads, g->n_kv_heads, hd, scale);
    }
    if (g->use_rope[l]) {
        rope_backward(dq, c->pos, T, g->n_heads, &c->rope);
        rope_backward(dk, c->pos, T, g->n_kv_heads, &c->rope);
    }
    if (g->qk_norm) {
        rmsnorm_backward(dq, norm_g(c, l, 2), dq, a->q_pre, norm_w(c, l, 2), T * g->n_heads, hd, eps);
        rmsnorm_backward(dk, norm_g(c, l, 3), dk, a->k_pre, norm_w(c, l, 3), T * g->n_kv_heads, hd, eps);
    }
    memset(dxn, 0, (size_t)(T * d) * sizeof(float));
    tproj_backward(c, l, PROJ_Q, dxn, dq, a->xn1, T, a);
    tproj_backward(c, l, PROJ_K, dxn, dk, a->xn1, T, a);
    tproj_backward(c, l, PROJ_V, dxn, dv, a->xn1, T, a);
    rmsnorm_backward(dh, norm_g(c, l, 0), dxn, a->x_in, norm_w(c, l, 0), T, d, eps);
    for (int64_t i = 0; i < T * d; i++) dx[i] += dh[i];
}

// ---- the step ----
int train_step(train_ctx *c, const train_batch *b, int backward, float grad_scale, double *loss_sum,
               int64_t *n_targets) {
    const model_config *g = &c->m->cfg;
    int64_t T = b->T, d = g->hidden_size, L = g->n_layers, first = c->lora->first_layer;
    if (T > c->max_tokens) return err_set("batch of %lld tokens exceeds the %lld the trainer was sized for", (long long)T,
                                          (long long)c->max_tokens);
    for (int64_t s = 0; s < b->n_seq; s++)
        for (int64_t t = b->start[s]; t < b->start[s + 1]; t++) c->pos[t] = t - b->start[s];
    for (int64_t t = 0; t < T; t++) {
        if (b->tokens[t] < 0 || b->tokens[t] >= g->vocab_size)
            return err_set("token id %d out of range (vocabulary %lld)", b->tokens[t], (long long)g->vocab_size);
        tensor_row_f32(c->x + t * d, c->m->embed, b->tokens[t]);
    }
    for (int64_t l = 0; l < L; l++) block_forward(c, l, c->x, b, l >= first ? &c->acts[l - first] : NULL);
    rmsnorm_forward(c->xf, c->x, c->final_norm, T, d, (float)g->rms_norm_eps);
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++) n += b->targets[t] >= 0;
    *n_targets = n;
    if (backward) memset(c->dxf, 0, (size_t)(T * d) * sizeof(float));
    *loss_sum = cross_entropy_chunked(backward ? c->dxf : NULL, NULL, c->xf, c->m->lm_head, b->targets, T, d,
                                      g->vocab_size, 8192, grad_scale);
    if (!backward) return 0;
    rmsnorm_backward(c->dx, NULL, c->dxf, c->x, c->final_norm, T, d, (float)g->rms_norm_eps);
    for (int64_t l = L - 1; l >= first; l--) {
        block_acts *a = &c->acts[l - first];
        if (c->grad_checkpoint) { // recompute this block's activations from its input
            float *tmp = c->xf; // free now: the final norm's output is no longer needed
            memcpy(tmp, a->x_in, (size_t)(T * d) * sizeof(float));
            block_forward(c, l, tmp, b, &c->recompute);
            a = &c->recompute;
        }
        block_backward(c, l, c->dx, b, a);
    }
    return 0;
}
