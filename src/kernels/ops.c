// ops.c — RMSNorm, SiLU·up and softmax: the references, the portable C
// versions, and dispatch to the AVX-512 ones. All computed in fp32 as HF
// transformers does: rmsnorm is x · rsqrt(mean(x²) + eps), then times w.
#include "kernels_internal.h"

#include <math.h>

// Below this many elements a parallel region costs more than it saves.
#define OPS_PAR_MIN 65536

// ---- rmsnorm ----
void rmsnorm_forward_ref(float *out, const float *x, const float *w, int64_t T, int64_t n, float eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
        float r = 1.0f / sqrtf((float)(ss / (double)n) + eps);
        for (int64_t i = 0; i < n; i++) out[t * n + i] = w[i] * (xt[i] * r);
    }
}

static void rmsnorm_row(float *out, const float *x, const float *w, int64_t n, float eps) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += x[i + j] * x[i + j];
    float ss = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++) out[i] = w[i] * (x[i] * r);
}

void rmsnorm_forward(float *out, const float *x, const float *w, int64_t T, int64_t n, float eps) {
    int avx = kernels_isa() >= KERNEL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (T * n >= OPS_PAR_MIN && T > 1)
    for (int64_t t = 0; t < T; t++) {
        if (avx) rmsnorm_avx512(out + t * n, x + t * n, w, n, eps);
        else rmsnorm_row(out + t * n, x + t * n, w, n, eps);
    }
}

// ---- silu · up ----
void silu_mul_forward_ref(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void silu_mul_forward(float *out, const float *gate, const float *up, int64_t n) {
    const int64_t CH = 16384;
    int avx = kernels_isa() >= KERNEL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (n >= OPS_PAR_MIN)
    for (int64_t c = 0; c < n; c += CH) {
        int64_t m = n - c < CH ? n - c : CH;
        if (avx) silu_mul_avx512(out + c, gate + c, up + c, m);
        else silu_mul_forward_ref(out + c, gate + c, up + c, m);
    }
}

// ---- softmax ----
void softmax_forward_ref(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    float inv = (float)(1.0 / s);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void softmax_forward(float *x, int64_t n) {
    if (n <= 0) return;
    if (kernels_isa() >= KERNEL_ISA_AVX512) softmax_avx512(x, n);
    else softmax_forward_ref(x, n);
}
