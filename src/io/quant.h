// quant.h — reference (de)quantization of GGUF block formats.
//
// Block layouts follow ggml's reference C (ggml-quants.c). Dequantization
// writes n floats (n a multiple of the type's block size) from raw blocks;
// these are the naive references every optimised kernel is tested against.
#ifndef LORAC_QUANT_H
#define LORAC_QUANT_H

#include "../core/tensor.h"

// Dequantize n values of type t from src into dst (F32/F16/BF16 too). Returns -1
// (error set) for types without a float meaning or n not a multiple of the block.
int dequantize_row(dtype t, const void *src, float *dst, int64_t n);
// Quantize n floats into type t (Q8_0, F16, BF16, F32). -1 for other types.
int quantize_row(dtype t, const float *src, void *dst, int64_t n);

#endif
