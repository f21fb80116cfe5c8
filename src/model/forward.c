// forward.c — inference forward pass:
//   x = embed[tokens]
//   per block: h = x + o(attn(rope(qn(q(n1(x)))), rope(kn(k(n1(x)))), v(n1(x))))
//              x = h + down(silu(gate(n2(h))) * up(n2(h)))
//   logits = lm_head(norm(x))
// Long inputs are processed in chunks of max_batch tokens.
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- small weights to fp32 ----
static float *f32_copy(const tensor_view *t) {
    if (!t) return NULL;
    float *out = xmalloc((size_t)tensor_numel(t) * sizeof(float));
    tensor_to_f32(out, t);
    return out;
}

int infer_init(infer_state *s, const model *m, int64_t n_ctx, int64_t max_batch) {
    memset(s, 0, sizeof *s);
    const model_config *c = &m->cfg;
    if (n_ctx <= 0) return err_set("context size must be positive");
    if (n_ctx > c->max_position_embeddings) n_ctx = c->max_position_embeddings;
    if (max_batch <= 0) max_batch = 1;
    if (max_batch > n_ctx) max_batch = n_ctx;
    s->m = m;
    s->n_ctx = n_ctx;
    s->max_batch = max_batch;
    rope_table_init(&s->rope, c->head_dim, c->rope_theta, (int)c->rope_scaling.type, c->rope_scaling.factor,
                    c->rope_scaling.low_freq_factor, c->rope_scaling.high_freq_factor,
                    c->rope_scaling.original_max_position_embeddings, c->rope_scaling.beta_fast,
                    c->rope_scaling.beta_slow, c->rope_scaling.attention_factor,
                    c->qk_permuted ? ROPE_INTERLEAVED : ROPE_NEOX);
    s->small = xcalloc((size_t)c->n_layers, sizeof *s->small);
    for (int64_t l = 0; l < c->n_layers; l++) {
        const layer_weights *L = &m->layers[l];
        layer_small *S = &s->small[l];
        S->attn_norm = f32_copy(L->attn_norm);
        S->mlp_norm = f32_copy(L->mlp_norm);
        S->q_norm = f32_copy(L->q_norm);
        S->k_norm = f32_copy(L->k_norm);
        S->q_bias = f32_copy(L->q_bias);
        S->k_bias = f32_copy(L->k_bias);
        S->v_bias = f32_copy(L->v_bias);
        S->o_bias = f32_copy(L->o_bias);
        S->gate_bias = f32_copy(L->gate_bias);
        S->up_bias = f32_copy(L->up_bias);
        S->down_bias = f32_copy(L->down_bias);
    }
    s->final_norm = f32_copy(m->final_norm);
    int64_t d = c->hidden_size, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int64_t ff = c->intermediate_size, B = max_batch;
    s->k_cache = xcalloc((size_t)c->n_layers, sizeof *s->k_cache);
    s->v_cache = xcalloc((size_t)c->n_layers, sizeof *s->v_cache);
    for (int64_t l = 0; l < c->n_layers; l++) {
        s->k_cache[l] = xmalloc_aligned(64, (size_t)(n_ctx * kvd) * sizeof(float));
        s->v_cache[l] = xmalloc_aligned(64, (size_t)(n_ctx * kvd) * sizeof(float));
    }
#define BUF(n) xmalloc_aligned(64, (size_t)(n) * sizeof(float))
    s->x = BUF(B * d);
    s->xn = BUF(B * d);
    s->tmp = BUF(B * d);
    s->q = BUF(B * qd);
    s->att = BUF(B * qd);
    s->k = BUF(B * kvd);
    s->v = BUF(B * kvd);
    s->gate = BUF(B * ff);
    s->up = BUF(B * ff);
#undef BUF
    s->positions = xmalloc((size_t)B * sizeof(int64_t));
    return 0;
}

void infer_release(infer_state *s) {
    if (!s || !s->m) return;
    const model_config *c = &s->m->cfg;
    for (int64_t l = 0; l < c->n_layers; l++) {
        layer_small *S = &s->small[l];
        free(S->attn_norm), free(S->mlp_norm), free(S->q_norm), free(S->k_norm);
        free(S->q_bias), free(S->k_bias), free(S->v_bias), free(S->o_bias);
        free(S->gate_bias), free(S->up_bias), free(S->down_bias);
        free(s->k_cache[l]);
        free(s->v_cache[l]);
    }
    free(s->small);
    free(s->k_cache);
    free(s->v_cache);
    free(s->final_norm);
    free(s->x), free(s->xn), free(s->tmp), free(s->q), free(s->att), free(s->k), free(s->v);
    free(s->gate), free(s->up), free(s->positions);
    rope_table_release(&s->rope);
    memset(s, 0, sizeof *s);
}

void infer_reset(infer_state *s) { s->pos = 0; }

void infer_truncate(infer_state *s, int64_t pos) {
    if (pos < s->pos && pos >= 0) s->pos = pos;
}

// ---- one chunk ----
// y = x·Wᵀ (+ bias), then the adapter's contribution when one is set.
static void proj(infer_state *s, int64_t l, proj_kind p, float *y, const float *x, const tensor_view *w,
                 const float *bias, int64_t T) {
    matmul_forward(y, x, w, bias, T);
    if (s->adapter) s->adapter(s->adapter_ctx, l, p, y, x, T, bias);
}

static void block_forward(infer_state *s, int64_t l, int64_t T) {
    const model_config *c = &s->m->cfg;
    const layer_weights *L = &s->m->layers[l];
    const layer_small *S = &s->small[l];
    int64_t d = c->hidden_size, hd = c->head_dim, kvd = c->n_kv_heads * hd, ff = c->intermediate_size;
    float eps = (float)c->rms_norm_eps;
    // attention
    rmsnorm_forward(s->xn, s->x, S->attn_norm, T, d, eps);
    proj(s, l, PROJ_Q, s->q, s->xn, L->q, S->q_bias, T);
    float *kc = s->k_cache[l] + s->pos * kvd, *vc = s->v_cache[l] + s->pos * kvd;
    proj(s, l, PROJ_K, kc, s->xn, L->k, S->k_bias, T); // k and v go straight into the cache
    proj(s, l, PROJ_V, vc, s->xn, L->v, S->v_bias, T);
    if (S->q_norm) {
        rmsnorm_forward(s->q, s->q, S->q_norm, T * c->n_heads, hd, eps);
        rmsnorm_forward(kc, kc, S->k_norm, T * c->n_kv_heads, hd, eps);
    }
    if (c->use_rope[l]) {
        rope_forward(s->q, s->positions, T, c->n_heads, &s->rope);
        rope_forward(kc, s->positions, T, c->n_kv_heads, &s->rope);
    }
    attention_forward(s->att, s->q, s->k_cache[l], s->v_cache[l], T, s->pos, c->n_heads, c->n_kv_heads, hd,
                      1.0f / sqrtf((float)hd));
    proj(s, l, PROJ_O, s->tmp, s->att, L->o, S->o_bias, T);
    for (int64_t i = 0; i < T * d; i++) s->x[i] += s->tmp[i];
    // MLP
    rmsnorm_forward(s->xn, s->x, S->mlp_norm, T, d, eps);
    proj(s, l, PROJ_GATE, s->gate, s->xn, L->gate, S->gate_bias, T);
    proj(s, l, PROJ_UP, s->up, s->xn, L->up, S->up_bias, T);
    silu_mul_forward(s->gate, s->gate, s->up, T * ff);
    proj(s, l, PROJ_DOWN, s->tmp, s->gate, L->down, S->down_bias, T);
    for (int64_t i = 0; i < T * d; i++) s->x[i] += s->tmp[i];
}

int infer_forward(infer_state *s, const int32_t *tokens, int64_t T, float *logits, int all_logits) {
    const model_config *c = &s->m->cfg;
    if (T <= 0) return err_set("no tokens to run");
    if (s->pos + T > s->n_ctx)
        return err_set("context overflow: %lld cached + %lld new tokens > context size %lld", (long long)s->pos,
                       (long long)T, (long long)s->n_ctx);
    for (int64_t i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return err_set("token id %d out of range (vocabulary %lld)", tokens[i], (long long)c->vocab_size);
    int64_t d = c->hidden_size, V = c->vocab_size;
    for (int64_t off = 0; off < T; off += s->max_batch) {
        int64_t n = T - off < s->max_batch ? T - off : s->max_batch;
        for (int64_t i = 0; i < n; i++) {
            tensor_row_f32(s->x + i * d, s->m->embed, tokens[off + i]);
            s->positions[i] = s->pos + i;
        }
        for (int64_t l = 0; l < c->n_layers; l++) block_forward(s, l, n);
        s->pos += n;
        int last_chunk = off + n == T;
        if (all_logits) {
            rmsnorm_forward(s->xn, s->x, s->final_norm, n, d, (float)c->rms_norm_eps);
            matmul_forward(logits + off * V, s->xn, s->m->lm_head, NULL, n);
        } else if (last_chunk) {
            rmsnorm_forward(s->xn, s->x + (n - 1) * d, s->final_norm, 1, d, (float)c->rms_norm_eps);
            matmul_forward(logits, s->xn, s->m->lm_head, NULL, 1);
        }
    }
    return 0;
}
