// model.c — the tensor list of each architecture and loading a model from an
// HF directory or a GGUF file, with every tensor's presence and shape checked.
#include "model.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

// ---- tensor list ----
// Slots for non-layer tensors are offsets into `model`; layer slots into layer_weights.
#define LSLOT(f) offsetof(layer_weights, f)
#define MSLOT(f) offsetof(model, f)

static void add(model_tensor_spec *s, int64_t *n, int layer, const char *hf, const char *gg, size_t slot, int ndim,
                int64_t d0, int64_t d1) {
    model_tensor_spec *t = &s[(*n)++];
    memset(t, 0, sizeof *t);
    if (layer >= 0) {
        snprintf(t->hf_name, sizeof t->hf_name, "model.layers.%d.%s", layer, hf);
        snprintf(t->gguf_name, sizeof t->gguf_name, "blk.%d.%s", layer, gg);
    } else {
        snprintf(t->hf_name, sizeof t->hf_name, "%s", hf);
        snprintf(t->gguf_name, sizeof t->gguf_name, "%s", gg);
    }
    t->layer = layer;
    t->slot = slot;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
}

int64_t model_tensor_specs(const model_config *c, model_tensor_spec **out) {
    int64_t d = c->hidden_size, ff = c->intermediate_size, hd = c->head_dim;
    int64_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    model_tensor_spec *s = xcalloc((size_t)(4 + 24 * c->n_layers), sizeof *s);
    int64_t n = 0;
    add(s, &n, -1, "model.embed_tokens.weight", "token_embd.weight", MSLOT(embed), 2, c->vocab_size, d);
    for (int i = 0; i < (int)c->n_layers; i++) {
        add(s, &n, i, "input_layernorm.weight", "attn_norm.weight", LSLOT(attn_norm), 1, d, 0);
        add(s, &n, i, "self_attn.q_proj.weight", "attn_q.weight", LSLOT(q), 2, qd, d);
        add(s, &n, i, "self_attn.k_proj.weight", "attn_k.weight", LSLOT(k), 2, kvd, d);
        add(s, &n, i, "self_attn.v_proj.weight", "attn_v.weight", LSLOT(v), 2, kvd, d);
        if (c->attention_bias) {
            add(s, &n, i, "self_attn.q_proj.bias", "attn_q.bias", LSLOT(q_bias), 1, qd, 0);
            add(s, &n, i, "self_attn.k_proj.bias", "attn_k.bias", LSLOT(k_bias), 1, kvd, 0);
            add(s, &n, i, "self_attn.v_proj.bias", "attn_v.bias", LSLOT(v_bias), 1, kvd, 0);
        }
        add(s, &n, i, "self_attn.o_proj.weight", "attn_output.weight", LSLOT(o), 2, d, qd);
        if (c->o_bias) add(s, &n, i, "self_attn.o_proj.bias", "attn_output.bias", LSLOT(o_bias), 1, d, 0);
        if (c->qk_norm) {
            add(s, &n, i, "self_attn.q_norm.weight", "attn_q_norm.weight", LSLOT(q_norm), 1, hd, 0);
            add(s, &n, i, "self_attn.k_norm.weight", "attn_k_norm.weight", LSLOT(k_norm), 1, hd, 0);
        }
        add(s, &n, i, "post_attention_layernorm.weight", "ffn_norm.weight", LSLOT(mlp_norm), 1, d, 0);
        add(s, &n, i, "mlp.gate_proj.weight", "ffn_gate.weight", LSLOT(gate), 2, ff, d);
        add(s, &n, i, "mlp.up_proj.weight", "ffn_up.weight", LSLOT(up), 2, ff, d);
        add(s, &n, i, "mlp.down_proj.weight", "ffn_down.weight", LSLOT(down), 2, d, ff);
        if (c->mlp_bias) {
            add(s, &n, i, "mlp.gate_proj.bias", "ffn_gate.bias", LSLOT(gate_bias), 1, ff, 0);
            add(s, &n, i, "mlp.up_proj.bias", "ffn_up.bias", LSLOT(up_bias), 1, ff, 0);
            add(s, &n, i, "mlp.down_proj.bias", "ffn_down.bias", LSLOT(down_bias), 1, d, 0);
        }
    }
    add(s, &n, -1, "model.norm.weight", "output_norm.weight", MSLOT(final_norm), 1, d, 0);
    if (!c->tie_word_embeddings) add(s, &n, -1, "lm_head.weight", "output.weight", MSLOT(lm_head), 2, c->vocab_size, d);
    *out = s;
    return n;
}

int64_t model_param_count(const model_config *c) {
    model_tensor_spec *s;
    int64_t n = model_tensor_specs(c, &s), total = 0;
    for (int64_t i = 0; i < n; i++) total += s[i].ndim == 1 ? s[i].shape[0] : s[i].shape[0] * s[i].shape[1];
    free(s);
    return total;
}

// ---- projections ----
const char *const proj_names[PROJ_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                            "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                            "mlp.down_proj"};

const tensor_view *layer_proj(const layer_weights *L, proj_kind p) {
    const tensor_view *const w[PROJ_COUNT] = {L->q, L->k, L->v, L->o, L->gate, L->up, L->down};
    return (unsigned)p < PROJ_COUNT ? w[p] : NULL;
}

// ---- q/k row order ----
int64_t qk_row_hf_of_gguf(int64_t r, int64_t hd) {
    int64_t head = r / hd, j = r % hd;
    return head * hd + (j % 2) * (hd / 2) + j / 2;
}

int64_t qk_row_gguf_of_hf(int64_t r, int64_t hd) {
    int64_t head = r / hd, j = r % hd;
    return head * hd + 2 * (j % (hd / 2)) + j / (hd / 2);
}

void qk_reorder_f32(float *x, int64_t rows, int64_t cols, int by_rows, int64_t hd, int to_hf) {
    int64_t n = by_rows ? rows : cols, inner = by_rows ? cols : 1, outer = by_rows ? 1 : rows;
    LORAC_ASSERT(hd > 0 && n % hd == 0);
    float *tmp = xmalloc((size_t)(n * inner) * sizeof(float));
    for (int64_t o = 0; o < outer; o++) {
        float *base = x + (by_rows ? 0 : o * cols);
        // tmp row j = source index src(j): the value that lands at j
        for (int64_t j = 0; j < n; j++) {
            int64_t src = to_hf ? qk_row_gguf_of_hf(j, hd) : qk_row_hf_of_gguf(j, hd);
            if (by_rows) memcpy(tmp + j * inner, base + src * inner, (size_t)inner * sizeof(float));
            else tmp[j] = base[src];
        }
        memcpy(base, tmp, (size_t)(n * inner) * sizeof(float));
    }
    free(tmp);
}

// ---- loading ----
static const tensor_view **slot_ptr(model *m, const model_tensor_spec *t) {
    char *base = t->layer >= 0 ? (char *)&m->layers[t->layer] : (char *)m;
    return (const tensor_view **)(base + t->slot);
}

const tensor_view *model_tensor(const model *m, const model_tensor_spec *t) {
    return *slot_ptr((model *)m, t);
}

static int check_shape(const tensor_view *v, const model_tensor_spec *t, const char *file, const char *name) {
    int ok = v->ndim == t->ndim;
    for (int i = 0; ok && i < t->ndim; i++) ok = v->shape[i] == t->shape[i];
    if (ok) return 0;
    char want[64], got[64];
    shape_str(want, sizeof want, t->ndim, t->shape);
    shape_str(got, sizeof got, v->ndim, v->shape);
    return err_set("%s: tensor '%s' has shape %s, expected %s", file, name, got, want);
}

// The file a tensor lives in (the shard for HF directories), for messages.
static const char *tensor_file(const model *m, const tensor_view *v) {
    if (m->src.kind == MODEL_SRC_GGUF) return m->gguf.map.path;
    for (int i = 0; i < m->st.n_files; i++) {
        const mapped_file *f = &m->st.files[i].map;
        if ((const uint8_t *)v->data >= f->data && (const uint8_t *)v->data <= f->data + f->size) return f->path;
    }
    return m->src.path;
}

static int bind_tensors(model *m, const char *where) {
    model_tensor_spec *specs;
    int64_t n = model_tensor_specs(&m->cfg, &specs);
    int gguf = m->src.kind == MODEL_SRC_GGUF;
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        const model_tensor_spec *t = &specs[i];
        const char *name = gguf ? t->gguf_name : t->hf_name;
        const tensor_view *v = gguf ? gguf_find_tensor(&m->gguf, name) : st_set_find(&m->st, name);
        if (!v) {
            rc = err_set("%s: missing tensor '%s' (%s needs it)", where, name, arch_name(m->cfg.arch));
            break;
        }
        const char *file = tensor_file(m, v);
        if (!gguf && v->type != DTYPE_F32 && v->type != DTYPE_F16 && v->type != DTYPE_BF16)
            rc = err_set("%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", file, name, dtype_name(v->type));
        if (rc == 0) rc = check_shape(v, t, file, name);
        if (rc == 0) *slot_ptr(m, t) = v;
    }
    free(specs);
    if (rc == 0 && m->cfg.tie_word_embeddings) m->lm_head = m->embed;
    return rc;
}

int model_load(model *m, const char *spec) {
    memset(m, 0, sizeof *m);
    config_init(&m->cfg);
    if (model_path_resolve(spec, &m->src)) return -1;
    if (m->src.kind == MODEL_SRC_GGUF) {
        if (gguf_open(&m->gguf, m->src.path) || config_from_gguf(&m->cfg, &m->gguf)) goto fail;
        m->file_bytes = (int64_t)m->gguf.map.size;
    } else {
        if (config_load_hf(&m->cfg, m->src.path) || st_set_open_dir(&m->st, m->src.path)) goto fail;
        for (int i = 0; i < m->st.n_files; i++) m->file_bytes += (int64_t)m->st.files[i].map.size;
    }
    m->layers = xcalloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (bind_tensors(m, m->src.path)) goto fail;
    return 0;
fail:
    model_release(m);
    return -1;
}

void model_release(model *m) {
    if (!m) return;
    st_set_close(&m->st);
    gguf_close(&m->gguf);
    config_release(&m->cfg);
    model_src_release(&m->src);
    free(m->layers);
    memset(m, 0, sizeof *m);
}
