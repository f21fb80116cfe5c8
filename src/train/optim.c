// optim.c — Adam / AdamW / SGD over a slab.
#include "optim.h"

#include "../core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int optim_init(optimizer *o, optim_kind kind, int64_t n) {
    memset(o, 0, sizeof *o);
    o->kind = kind, o->n = n;
    o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
    o->weight_decay = kind == OPTIM_ADAMW ? 0.01f : 0.0f;
    o->bias_correction = 1;
    o->m = xcalloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (kind != OPTIM_SGD) o->v = xcalloc((size_t)(n > 0 ? n : 1), sizeof(float));
    return 0;
}

void optim_release(optimizer *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void optim_update(optimizer *o, float *p, const float *g, float lr) {
    o->step++;
    if (o->kind == OPTIM_SGD) {
        for (int64_t i = 0; i < o->n; i++) {
            float gi = g[i] + o->weight_decay * p[i];
            if (o->momentum <= 0) {
                p[i] -= lr * gi;
                continue;
            }
            o->m[i] = o->momentum * o->m[i] + (o->dampening > 0 ? (1.0f - o->dampening) * gi : gi);
            p[i] -= lr * (o->nesterov ? gi + o->momentum * o->m[i] : o->m[i]);
        }
        return;
    }
    float b1 = o->beta1, b2 = o->beta2;
    float c1 = o->bias_correction ? 1.0f - powf(b1, (float)o->step) : 1.0f;
    float c2 = o->bias_correction ? 1.0f - powf(b2, (float)o->step) : 1.0f;
    float wd = o->kind == OPTIM_ADAMW ? o->weight_decay : 0.0f;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < o->n; i++) {
        if (wd) p[i] *= 1.0f - lr * wd;
        o->m[i] = b1 * o->m[i] + (1.0f - b1) * g[i];
        o->v[i] = b2 * o->v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= lr * (o->m[i] / c1) / (sqrtf(o->v[i] / c2) + o->eps);
    }
}

