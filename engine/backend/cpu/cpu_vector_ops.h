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

// The hyper-connection mixes: out[d] = first[d] * first_coef (or 0 without first), then
// out[d] += coef[i * coef_stride] * rows[i * row_stride + d] for i = 0 .. n_rows - 1 in order.
// out must not overlap first or rows.
struct CombineRows {
    const float* first;
    float first_coef;
    const float* rows;
    int64_t row_stride;
    int64_t n_rows;
    const float* coef;
    int64_t coef_stride;
    int64_t n;
    float* out;
};
void combine_rows(const CombineRows& args);

// out[i] = x[i] * s, then * weight[i] when weight is given (RMS norm's last step). out may be x.
void scale_row(const float* x, float s, const float* weight, int64_t n, float* out);

namespace detail {
void weighted_row_sums_scalar(const WeightedRowSums& args);
void weighted_row_sums_avx512(const WeightedRowSums& args);
void combine_rows_scalar(const CombineRows& args);
void combine_rows_avx512(const CombineRows& args);
void scale_row_scalar(const float* x, float s, const float* weight, int64_t n, float* out);
void scale_row_avx512(const float* x, float s, const float* weight, int64_t n, float* out);
}  // namespace detail

}  // namespace dsv4::backend::cpu
