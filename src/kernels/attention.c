// attention.c — causal grouped-query attention over a KV cache: reference,
// portable C, and dispatch to the AVX-512 version (attention_avx512.c).
//
// Query t of T sits at absolute position pos0 + t and attends to keys
// 0..pos0+t; query head h reads kv head h / (n_heads / n_kv). Scores are
// q·k · scale, softmax in fp32, output Σ p_j v_j — HF's eager attention.
#include "kernels_internal.h"

#include <math.h>
#include <stdlib.h>

#include "../core/core.h"

static void check_shape(int64_t T, int64_t pos0, int64_t n_heads, int64_t n_kv, int64_t hd) {
    LORAC_ASSERT(T >= 0 && pos0 >= 0 && n_heads > 0 && n_kv > 0 && hd > 0 && n_heads % n_kv == 0);
}

// One query row against its keys: scores in buf (pos+1 floats).
static void attend_row(float *o, const float *qh, const float *k, const float *v, int64_t pos, int64_t kv,
                       int64_t n_kv, int64_t hd, float scale, float *buf, int precise) {
    int64_t ld = n_kv * hd;
    float mx = -INFINITY;
    for (int64_t j = 0; j <= pos; j++) {
        const float *kj = k + j * ld + kv * hd;
        float s;
        if (precise) {
            double d = 0;
            for (int64_t i = 0; i < hd; i++) d += (double)qh[i] * kj[i];
            s = (float)d * scale;
        } else {
            float d = 0;
            for (int64_t i = 0; i < hd; i++) d += qh[i] * kj[i];
            s = d * scale;
        }
        buf[j] = s;
        mx = s > mx ? s : mx;
    }
    double sum = 0;
    for (int64_t j = 0; j <= pos; j++) {
        buf[j] = expf(buf[j] - mx);
        sum += buf[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < hd; i++) o[i] = 0;
    for (int64_t j = 0; j <= pos; j++) {
        const float *vj = v + j * ld + kv * hd;
        float p = buf[j] * inv;
        for (int64_t i = 0; i < hd; i++) o[i] += p * vj[i];
    }
}

void attention_forward_ref(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                           int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    check_shape(T, pos0, n_heads, n_kv, hd);
    float *buf = xmalloc((size_t)(pos0 + T) * sizeof *buf);
    int64_t grp = n_heads / n_kv;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_heads; h++)
            attend_row(out + (t * n_heads + h) * hd, q + (t * n_heads + h) * hd, k, v, pos0 + t, h / grp, n_kv,
                       hd, scale, buf, 1);
    free(buf);
}

static void attention_scalar(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                             int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    int64_t grp = n_heads / n_kv;
#pragma omp parallel
    {
        float *buf = xmalloc((size_t)(pos0 + T) * sizeof *buf);
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < T * n_heads; u++) {
            int64_t t = u / n_heads, h = u % n_heads;
            attend_row(out + u * hd, q + u * hd, k, v, pos0 + t, h / grp, n_kv, hd, scale, buf, 0);
        }
        free(buf);
    }
}

void attention_forward(float *out, const float *q, const float *k, const float *v, int64_t T, int64_t pos0,
                       int64_t n_heads, int64_t n_kv, int64_t hd, float scale) {
    check_shape(T, pos0, n_heads, n_kv, hd);
    if (T == 0) return;
    if (kernels_isa() >= KERNEL_ISA_AVX512) attention_avx512(out, q, k, v, T, pos0, n_heads, n_kv, hd, scale);
    else attention_scalar(out, q, k, v, T, pos0, n_heads, n_kv, hd, scale);
}
