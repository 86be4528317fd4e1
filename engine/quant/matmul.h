// Weight-matrix times activation rows on the CPU: quantizes the activations into the weight
// type's format (or keeps f32 in exact-numerics mode) and splits output rows over the pool.
// Owns no weights and no model knowledge; kernels.h owns the arithmetic.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/thread_pool.h"
#include "engine/quant/kernels.h"

namespace dsv4::quant {

// A 2-D weight in ggml order: n_out rows of n_in elements, row r at data + r * row_bytes.
struct WeightMatrix {
    Type type = Type::F32;
    const uint8_t* data = nullptr;
    int64_t n_in = 0;
    int64_t n_out = 0;
    size_t row_bytes = 0;
};

enum class Numerics {
    Q8,   // activations quantized as the reference engine does (Q8_0 / Q8_K), integer dots
    F32,  // f32 activations into every matmul, weights dequantized
};

// Reusable scratch for quantized activations; one per caller thread.
struct MatmulScratch {
    std::vector<uint8_t> act;
};

// out[t * n_out + o] = W[o] . x[t] for t < n_tokens.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* out, Numerics numerics,
            ThreadPool& pool, MatmulScratch& scratch);

// Same with activations already in the kernel format (format of type_info(w.type).act for
// Numerics::Q8, f32 for Numerics::F32): out[a * out_stride + o].
void matmul_prepared(const WeightMatrix& w, const uint8_t* act, size_t act_row_bytes,
                     int64_t n_acts, float* out, int64_t out_stride, Numerics numerics,
                     ThreadPool& pool);

// The format matmul() quantizes activations into for this weight and mode.
ActFormat activation_format(Type weight, Numerics numerics);

}  // namespace dsv4::quant
