// Row loops of the CPU backend's f32 ops that are worth SIMD: a scalar reference and an AVX-512
// version chosen at run time by the active ISA level. Every SIMD version performs, per output
// element, the same f32 operations in the same order as the scalar one (separate multiplies and
// adds, never fused), so results are bit for bit equal whatever level runs.
#pragma once

#include <cstdint>

namespace dsv4::backend::cpu {

// The attention value sum of a block of heads over shared rows:
//   out[h * out_stride + i] = (sum over r = 0.. of weights[h * n_rows + r] * rows[r * dim + i])
//                             * scale[h],
// each sum starting from zero and adding the rows in order.
struct WeightedRowSums {
    const float* rows;
    int64_t n_rows;
    int64_t dim;
    const float* weights;  // [n_heads][n_rows]
    int64_t n_heads;
    const float* scale;  // [n_heads]
    float* out;
    int64_t out_stride;
};
void weighted_row_sums(const WeightedRowSums& args);

namespace detail {
void weighted_row_sums_scalar(const WeightedRowSums& args);
void weighted_row_sums_avx512(const WeightedRowSums& args);
}  // namespace detail

}  // namespace dsv4::backend::cpu
