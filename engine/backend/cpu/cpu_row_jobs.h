// Several weight matrices times their prepared activations in one dispatch over the thread pool:
// one wake-up and one barrier instead of one per matrix. Owns only the split of output rows
// into chunks; the arithmetic is the quant kernels' and every row's value is what a per-matrix
// matmul gives (kernels compute each (row, activation) pair independently).
#pragma once

#include <cstdint>
#include <span>

#include "engine/common/thread_pool.h"
#include "engine/quant/matmul.h"

namespace dsv4::backend::cpu {

// out[a * out_stride + r] = w row r . activation a, for r < w.n_out and a < n_acts.
struct RowJob {
    quant::WeightMatrix w;
    const uint8_t* act = nullptr;  // in the kernel's format for `numerics`
    size_t act_row_bytes = 0;
    int64_t n_acts = 0;
    float* out = nullptr;
    int64_t out_stride = 0;
    quant::Numerics numerics = quant::Numerics::Q8;
};

void run_row_jobs(std::span<const RowJob> jobs, ThreadPool& pool);

}  // namespace dsv4::backend::cpu
