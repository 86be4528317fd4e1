#include "engine/quant/matmul.h"

#include <stdexcept>
#include <string>

namespace dsv4::quant {
namespace {

// Rows per piece boundary: keeps each piece in whole groups of the kernels' row tiles. Pieces
// start long (a share of what is left) and only the last few are this short; matrices of few
// rows (the hyper-connection mixes: 24 rows) still split.
constexpr int64_t kRowGrain = 16;
// Below this many weight bytes the wake-up of other threads costs more than it saves.
constexpr size_t kParallelMinBytes = 64 * 1024;

[[noreturn]] void unsupported(Type t, const char* what) {
    throw std::invalid_argument(std::string("no ") + what + " kernel for weight type " +
                                std::string(type_info(t).name));
}

}  // namespace

ActFormat activation_format(Type weight, Numerics numerics) {
    const ActFormat f = type_info(weight).act;
    if (f == ActFormat::None) return f;
    return numerics == Numerics::F32 ? ActFormat::F32 : f;
}

void matmul_prepared(const WeightMatrix& w, const uint8_t* act, size_t act_row_bytes,
                     int64_t n_acts, float* out, int64_t out_stride, Numerics numerics,
                     ThreadPool& pool) {
    const TypeKernels& k = kernels(w.type);
    const DotKernel kernel = numerics == Numerics::F32 ? k.dot_f32 : k.dot_q;
    if (kernel == nullptr) unsupported(w.type, numerics == Numerics::F32 ? "f32" : "quantized");
    auto run = [&](int64_t begin, int64_t end) {
        DotArgs args{w.data + begin * w.row_bytes,
                     w.row_bytes,
                     end - begin,
                     act,
                     act_row_bytes,
                     n_acts,
                     w.n_in,
                     out + begin,
                     out_stride};
        kernel(args);
    };
    const size_t bytes = w.row_bytes * static_cast<size_t>(w.n_out);
    if (bytes < kParallelMinBytes) {
        run(0, w.n_out);
        return;
    }
    // Pieces claimed as the threads go: a slower thread takes less instead of holding the
    // other at the barrier (rows are independent, so the split never changes a result).
    pool.parallel_for_dynamic(w.n_out, kRowGrain, run);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* out, Numerics numerics,
            ThreadPool& pool, MatmulScratch& scratch) {
    const ActFormat f = activation_format(w.type, numerics);
    if (f == ActFormat::None) unsupported(w.type, "matmul");
    if (f == ActFormat::F32) {
        matmul_prepared(w, reinterpret_cast<const uint8_t*>(x), sizeof(float) * w.n_in, n_tokens,
                        out, w.n_out, numerics, pool);
        return;
    }
    const size_t row = act_row_bytes(f, w.n_in);
    scratch.act.resize(row * static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t)
        quantize_activation(f, x + t * w.n_in, w.n_in, scratch.act.data() + t * row);
    matmul_prepared(w, scratch.act.data(), row, n_tokens, out, w.n_out, numerics, pool);
}

}  // namespace dsv4::quant
