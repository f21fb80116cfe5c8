// optim.h — optimizers over one fp32 parameter slab (Adam, AdamW, SGD with
// momentum) with mlx's update rules (schedules live in config.h: train_config_lr).
//
// Adam/AdamW (bias correction on, as mlx.optimizers with bias_correction=True):
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p −= lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
//   AdamW first decays: p −= lr · wd · p (decoupled weight decay)
// SGD (mlx): g += wd·p; without momentum p −= lr·g; else b = μ·b + (1−dampening)·g
// (dampening 0: + g), p −= lr·(nesterov ? g + μ·b : b).
// Ownership: an optimizer owns its moment slabs.
#ifndef LORAC_OPTIM_H
#define LORAC_OPTIM_H

#include <stdint.h>

typedef enum { OPTIM_ADAM, OPTIM_ADAMW, OPTIM_SGD } optim_kind;

typedef struct {
    optim_kind kind;
    float beta1, beta2, eps, weight_decay, momentum, dampening;
    int nesterov;
    int bias_correction;
    int64_t n;
    int64_t step;   // updates done
    float *m, *v;   // (n) moments (v unused for SGD)
} optimizer;

int optim_init(optimizer *o, optim_kind kind, int64_t n);
void optim_release(optimizer *o);
void optim_update(optimizer *o, float *params, const float *grads, float lr);

#endif
