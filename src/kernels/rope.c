// rope.c — rotary position embeddings as HF transformers computes them.
//
// The inverse frequencies follow modeling_rope_utils.py operation by
// operation in fp32 (scalars from the config are rounded to fp32 where torch
// rounds them, divisions by a tensor are reciprocal-then-multiply as torch's
// __rtruediv__ does). The angle is the fp32 product pos·inv_freq and cos/sin
// of that fp32 angle are taken, then scaled by attn_scale, all as HF does.
//
// Every multiply and add here is rounded on its own (no contraction), so the
// table and the rotation are reproducible and the reference matches exactly.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "kernels.h"

// ---- tables ----
// theta^(2i/dim) in fp32: torch's `base ** (arange(0, dim, 2).float() / dim)`.
static float pos_freq(double theta, int64_t i, int64_t dim) {
    float e = (float)(2 * i) / (float)dim;
    return (float)pow((double)(float)theta, (double)e);
}

static float recipf(float x) { return 1.0f / x; }

// HF _compute_yarn_parameters' find_correction_dim, in double as Python does.
static double yarn_correction_dim(double rot, int64_t dim, double base, double max_pos) {
    return ((double)dim * log(max_pos / (rot * 2.0 * M_PI))) / (2.0 * log(base));
}

void rope_table_init(rope_table *r, int64_t head_dim, double theta, int scaling_type, double factor,
                     double low_freq_factor, double high_freq_factor, int64_t original_max_pos,
                     double beta_fast, double beta_slow, double attention_factor, rope_mode mode) {
    LORAC_ASSERT(head_dim > 0 && head_dim % 2 == 0 && theta > 0);
    int64_t half = head_dim / 2, dim = head_dim;
    r->head_dim = head_dim;
    r->mode = mode;
    r->attn_scale = 1.0f;
    r->inv_freq = xmalloc((size_t)half * sizeof *r->inv_freq);
    float *inv = r->inv_freq;
    for (int64_t i = 0; i < half; i++) inv[i] = recipf(pos_freq(theta, i, dim));

    switch (scaling_type) {
    case ROPE_SCALE_NONE: break;
    case ROPE_SCALE_LINEAR:
        LORAC_ASSERT(factor > 0);
        for (int64_t i = 0; i < half; i++) inv[i] = inv[i] / (float)factor;
        break;
    case ROPE_SCALE_LLAMA3: {
        LORAC_ASSERT(factor > 0 && high_freq_factor != low_freq_factor && original_max_pos > 0);
        double old_ctx = (double)original_max_pos;
        float low_wavelen = (float)(old_ctx / low_freq_factor);
        float high_wavelen = (float)(old_ctx / high_freq_factor);
        float fac = (float)factor, lff = (float)low_freq_factor;
        float span = (float)(high_freq_factor - low_freq_factor);
        for (int64_t i = 0; i < half; i++) {
            float wavelen = recipf(inv[i]) * (float)(2.0 * M_PI);
            float llama = wavelen > low_wavelen ? inv[i] / fac : inv[i];
            float smooth = (recipf(wavelen) * (float)old_ctx - lff) / span;
            float smoothed = (1.0f - smooth) * llama / fac + smooth * llama;
            int medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
            inv[i] = medium ? smoothed : llama;
        }
        break;
    }
    case ROPE_SCALE_YARN: {
        LORAC_ASSERT(factor > 0 && original_max_pos > 0);
        double bf = beta_fast ? beta_fast : 32.0, bs = beta_slow ? beta_slow : 1.0;
        double low = floor(yarn_correction_dim(bf, dim, theta, (double)original_max_pos));
        double high = ceil(yarn_correction_dim(bs, dim, theta, (double)original_max_pos));
        if (low < 0) low = 0;
        if (high > (double)(dim - 1)) high = (double)(dim - 1);
        if (low == high) high += 0.001;
        float flow = (float)low, fspan = (float)(high - low), fac = (float)factor;
        for (int64_t i = 0; i < half; i++) {
            float pf = pos_freq(theta, i, dim);
            float extrap = recipf(pf), interp = recipf(fac * pf);
            float ramp = ((float)i - flow) / fspan;
            ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
            float ef = 1.0f - ramp;
            inv[i] = interp * (1.0f - ef) + extrap * ef;
        }
        double af = attention_factor;
        if (af == 0) af = factor <= 1 ? 1.0 : 0.1 * log(factor) + 1.0;
        r->attn_scale = (float)af;
        break;
    }
    default: LORAC_ASSERT(!"unknown rope scaling type");
    }
}

void rope_table_release(rope_table *r) {
    if (!r) return;
    free(r->inv_freq);
    r->inv_freq = NULL;
}

// ---- rotation ----
// One head's rotation given cos/sin per frequency (already scaled).
static void rotate_head(float *x, const float *c, const float *s, int64_t half, rope_mode mode) {
    if (mode == ROPE_NEOX) {
        for (int64_t i = 0; i < half; i++) {
            float x1 = x[i], x2 = x[i + half];
            x[i] = x1 * c[i] - x2 * s[i];
            x[i + half] = x2 * c[i] + x1 * s[i];
        }
    } else {
        for (int64_t i = 0; i < half; i++) {
            float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * c[i] - x1 * s[i];
            x[2 * i + 1] = x1 * c[i] + x0 * s[i];
        }
    }
}

static void angles(float *c, float *s, int64_t p, const rope_table *r) {
    int64_t half = r->head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float a = (float)p * r->inv_freq[i];
        c[i] = cosf(a) * r->attn_scale;
        s[i] = sinf(a) * r->attn_scale;
    }
}

// cos/sin once per token, shared by its heads.
void rope_forward(float *x, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r) {
    int64_t hd = r->head_dim, half = hd / 2;
#pragma omp parallel if (T * n_heads * hd >= 65536)
    {
        float *cs = xmalloc((size_t)hd * sizeof *cs);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++) {
            angles(cs, cs + half, pos[t], r);
            for (int64_t h = 0; h < n_heads; h++) rotate_head(x + (t * n_heads + h) * hd, cs, cs + half, half, r->mode);
        }
        free(cs);
    }
}

// The same arithmetic one element at a time, angles recomputed per head.
void rope_forward_ref(float *x, const int64_t *pos, int64_t T, int64_t n_heads, const rope_table *r) {
    int64_t hd = r->head_dim, half = hd / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++) {
            float *xh = x + (t * n_heads + h) * hd;
            for (int64_t i = 0; i < half; i++) {
                float a = (float)pos[t] * r->inv_freq[i];
                float c = cosf(a) * r->attn_scale, s = sinf(a) * r->attn_scale;
                int64_t i0 = r->mode == ROPE_NEOX ? i : 2 * i, i1 = r->mode == ROPE_NEOX ? i + half : 2 * i + 1;
                float x0 = xh[i0], x1 = xh[i1];
                xh[i0] = x0 * c - x1 * s;
                xh[i1] = x1 * c + x0 * s;
            }
        }
}
