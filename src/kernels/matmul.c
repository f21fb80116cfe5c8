// matmul.c — y = x·Wᵀ and dx = dy·W for weights in their stored dtype: the
// public entry points, the naive references, and the portable C path.
//
// Dispatch: fewer than KERNEL_GEMM_MIN_T tokens is a matrix-vector product,
// memory-bound, so it streams each weight row once (AVX-512 fused
// dequantize-and-dot); more tokens is compute-bound and goes to the AMX tile
// GEMM when the CPU has it, else to the AVX-512 fp32 GEMM (or, in
// KERNEL_PREC_BF16 on a CPU with AVX-512 BF16, to the same packed GEMM as AMX
// with vdpbf16ps register products). The portable C path
// (no AVX-512) dequantizes one row at a time with dequantize_row.
//
// Precision: every path computes with weights exactly as dequantize_row gives
// them and activations in full fp32 (the AMX path splits each fp32 operand
// into bf16 parts and keeps every cross product down to ~2^-24), so results
// differ from the references only by fp32 summation order — unless the caller
// opts into KERNEL_PREC_FAST (AMX only) or KERNEL_PREC_BF16 (documented in
// kernels.h).
#include "kernels_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../io/quant.h"

// ---- weights ----
int kernel_type_supported(dtype t) {
    switch (t) {
    case DTYPE_F32: case DTYPE_F16: case DTYPE_BF16: case DTYPE_Q8_0: case DTYPE_Q4_0:
    case DTYPE_Q4_1: case DTYPE_Q4_K: case DTYPE_Q6_K: return 1;
    default: return 0;
    }
}

// A weight the kernels cannot use is a caller bug (the loaders validate
// files): say which tensor and why, then stop.
weight_info weight_info_of(const tensor_view *w, const char *fn) {
    LORAC_ASSERT(w != NULL);
    int ok = w->ndim == 2 && kernel_type_supported(w->type) && w->shape[0] >= 0 && w->shape[1] >= 0 &&
             w->shape[1] % dtype_block_size(w->type) == 0;
    if (!ok) {
        char shp[64];
        fprintf(stderr, "lorac: %s: weight '%s' is %s %s; need a 2-D (out, in) weight of F32/F16/BF16/Q8_0/Q4_0/"
                "Q4_1/Q4_K/Q6_K with in a multiple of the block size\n", fn, w->name ? w->name : "?",
                dtype_name(w->type), shape_str(shp, sizeof shp, w->ndim, w->shape));
        LORAC_ASSERT(!"unusable weight");
    }
    weight_info wi = {.out = w->shape[0], .in = w->shape[1], .data = w->data, .type = w->type};
    wi.row_bytes = dtype_row_bytes(w->type, wi.in);
    return wi;
}

tensor_view tensor_rows(const tensor_view *w, int64_t r0, int64_t n) {
    LORAC_ASSERT(w->ndim == 2 && r0 >= 0 && n >= 0 && r0 + n <= w->shape[0]);
    tensor_view v = *w;
    size_t rb = dtype_row_bytes(w->type, w->shape[1]);
    v.data = (const uint8_t *)w->data + (size_t)r0 * rb;
    v.shape[0] = n;
    v.nbytes = (size_t)n * rb;
    return v;
}

void tensor_row_f32(float *out, const tensor_view *w, int64_t r) {
    int64_t n = w->shape[w->ndim - 1];
    int64_t rows = n ? tensor_numel(w) / n : 0;
    LORAC_ASSERT(r >= 0 && r < rows);
    size_t rb = dtype_row_bytes(w->type, n);
    LORAC_ASSERT(rb > 0 || n == 0);
    const uint8_t *src = (const uint8_t *)w->data + (size_t)r * rb;
    if (kernels_isa() >= KERNEL_ISA_AVX512 && kernel_type_supported(w->type))
        dequant_avx512(w->type, src, out, n);
    else LORAC_ASSERT(dequantize_row(w->type, src, out, n) == 0);
}

void tensor_to_f32(float *out, const tensor_view *w) {
    LORAC_ASSERT(dequantize_row(w->type, w->data, out, tensor_numel(w)) == 0);
}

// ---- references ----
// One row of W at a time through dequantize_row; sums in double so the
// reference is closer to the exact result than any fp32 path.
void matmul_forward_ref(float *y, const float *x, const tensor_view *w, const float *bias, int64_t T) {
    weight_info wi = weight_info_of(w, "matmul_forward_ref");
    float *row = xmalloc((size_t)(wi.in ? wi.in : 1) * sizeof *row);
    for (int64_t n = 0; n < wi.out; n++) {
        LORAC_ASSERT(dequantize_row(wi.type, wi.data + (size_t)n * wi.row_bytes, row, wi.in) == 0);
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * wi.in;
            double s = bias ? bias[n] : 0.0;
            for (int64_t k = 0; k < wi.in; k++) s += (double)xt[k] * row[k];
            y[t * wi.out + n] = (float)s;
        }
    }
    free(row);
}

void matmul_backward_input_ref(float *dx, const float *dy, const tensor_view *w, int64_t T, int accumulate) {
    weight_info wi = weight_info_of(w, "matmul_backward_input_ref");
    int64_t K = wi.in, N = wi.out;
    double *acc = xcalloc((size_t)(K ? K : 1), sizeof *acc);
    float *row = xmalloc((size_t)(K ? K : 1) * sizeof *row);
    for (int64_t t = 0; t < T; t++) {
        memset(acc, 0, (size_t)K * sizeof *acc);
        for (int64_t n = 0; n < N; n++) {
            LORAC_ASSERT(dequantize_row(wi.type, wi.data + (size_t)n * wi.row_bytes, row, K) == 0);
            double g = dy[t * N + n];
            for (int64_t k = 0; k < K; k++) acc[k] += g * row[k];
        }
        for (int64_t k = 0; k < K; k++)
            dx[t * K + k] = (float)(accumulate ? dx[t * K + k] + acc[k] : acc[k]);
    }
    free(row);
    free(acc);
}

// ---- portable C ----
// Eight partial sums so the compiler can keep them in vector lanes.
static float dot_f32(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) s[j] += a[k + j] * b[k + j];
    float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; k < n; k++) r += a[k] * b[k];
    return r;
}

static void forward_scalar(float *y, const float *x, const weight_info *w, const float *bias, int64_t T) {
#pragma omp parallel
    {
        float *row = xmalloc((size_t)(w->in ? w->in : 1) * sizeof *row);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < w->out; n++) {
            dequantize_row(w->type, w->data + (size_t)n * w->row_bytes, row, w->in);
            for (int64_t t = 0; t < T; t++)
                y[t * w->out + n] = dot_f32(x + t * w->in, row, w->in) + (bias ? bias[n] : 0.0f);
        }
        free(row);
    }
}

// Columns in chunks of 256 (a multiple of every block size), one chunk per
// task: each task walks all rows, dequantizing only its chunk of each.
static void backward_scalar(float *dx, const float *dy, const weight_info *w, int64_t T, int accumulate) {
    const int64_t CH = 256, K = w->in, N = w->out;
    int64_t nch = (K + CH - 1) / CH;
    size_t bb = dtype_block_bytes(w->type);
    int bs = dtype_block_size(w->type);
#pragma omp parallel
    {
        float *seg = xmalloc((size_t)CH * sizeof *seg);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < nch; c++) {
            int64_t k0 = c * CH, kn = K - k0 < CH ? K - k0 : CH;
            if (!accumulate)
                for (int64_t t = 0; t < T; t++) memset(dx + t * K + k0, 0, (size_t)kn * sizeof *dx);
            for (int64_t n = 0; n < N; n++) {
                dequantize_row(w->type, w->data + (size_t)n * w->row_bytes + (size_t)(k0 / bs) * bb, seg, kn);
                for (int64_t t = 0; t < T; t++) {
                    float g = dy[t * N + n];
                    float *d = dx + t * K + k0;
                    for (int64_t k = 0; k < kn; k++) d[k] += g * seg[k];
                }
            }
        }
        free(seg);
    }
}

// ---- public ----
// AVX-512 BF16 register products: bf16 precision asked for and computed
// here (kernels_precision_effective holds the rule), no AMX.
static int bf16_dot(kernel_isa isa, int64_t T) {
    return isa == KERNEL_ISA_AVX512 && T >= KERNEL_GEMM_MIN_T && kernels_precision() == KERNEL_PREC_BF16 &&
           kernels_precision_effective(KERNEL_PREC_BF16) == KERNEL_PREC_BF16;
}

void matmul_forward(float *y, const float *x, const tensor_view *w, const float *bias, int64_t T) {
    weight_info wi = weight_info_of(w, "matmul_forward");
    if (T <= 0 || wi.out == 0) return;
    if (wi.in == 0) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t n = 0; n < wi.out; n++) y[t * wi.out + n] = bias ? bias[n] : 0.0f;
        return;
    }
    kernel_isa isa = kernels_isa();
    if (isa >= KERNEL_ISA_AMX && T >= KERNEL_GEMM_MIN_T) matmul_amx_forward(y, x, &wi, bias, T);
    else if (bf16_dot(isa, T)) matmul_bf16dot_forward(y, x, &wi, bias, T);
    else if (isa >= KERNEL_ISA_AVX512) matmul_avx512_forward(y, x, &wi, bias, T);
    else forward_scalar(y, x, &wi, bias, T);
}

void matmul_backward_input(float *dx, const float *dy, const tensor_view *w, int64_t T, int accumulate) {
    weight_info wi = weight_info_of(w, "matmul_backward_input");
    if (T <= 0 || wi.in == 0) return;
    if (wi.out == 0) {
        if (!accumulate) memset(dx, 0, (size_t)(T * wi.in) * sizeof *dx);
        return;
    }
    kernel_isa isa = kernels_isa();
    if (isa >= KERNEL_ISA_AMX && T >= KERNEL_GEMM_MIN_T) matmul_amx_backward_input(dx, dy, &wi, T, accumulate);
    else if (bf16_dot(isa, T)) matmul_bf16dot_backward_input(dx, dy, &wi, T, accumulate);
    else if (isa >= KERNEL_ISA_AVX512) matmul_avx512_backward_input(dx, dy, &wi, T, accumulate);
    else backward_scalar(dx, dy, &wi, T, accumulate);
}
