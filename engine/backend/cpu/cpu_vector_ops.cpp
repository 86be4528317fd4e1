#include "engine/backend/cpu/cpu_vector_ops.h"

#include <algorithm>

#include "engine/common/cpu_features.h"

namespace dsv4::backend::cpu {
namespace detail {

void weighted_row_sums_scalar(const WeightedRowSums& a) {
    for (int64_t h = 0; h < a.n_heads; ++h) {
        float* out = a.out + h * a.out_stride;
        const float* w = a.weights + h * a.n_rows;
        std::fill_n(out, a.dim, 0.0f);
        for (int64_t r = 0; r < a.n_rows; ++r) {
            const float* row = a.rows + r * a.dim;
            for (int64_t i = 0; i < a.dim; ++i) out[i] += w[r] * row[i];
        }
        for (int64_t i = 0; i < a.dim; ++i) out[i] *= a.scale[h];
    }
}

void combine_rows_scalar(const CombineRows& a) {
    if (a.first != nullptr) {
        for (int64_t d = 0; d < a.n; ++d) a.out[d] = a.first[d] * a.first_coef;
    } else {
        std::fill_n(a.out, a.n, 0.0f);
    }
    for (int64_t i = 0; i < a.n_rows; ++i) {
        const float c = a.coef[i * a.coef_stride];
        const float* row = a.rows + i * a.row_stride;
        for (int64_t d = 0; d < a.n; ++d) a.out[d] += c * row[d];
    }
}

void scale_row_scalar(const float* x, float s, const float* weight, int64_t n, float* out) {
    if (weight != nullptr) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s * weight[i];
    } else {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
    }
}

}  // namespace detail

void combine_rows(const CombineRows& args) {
    if (active_isa() == IsaLevel::Avx512) return detail::combine_rows_avx512(args);
    detail::combine_rows_scalar(args);
}

void scale_row(const float* x, float s, const float* weight, int64_t n, float* out) {
    if (active_isa() == IsaLevel::Avx512) return detail::scale_row_avx512(x, s, weight, n, out);
    detail::scale_row_scalar(x, s, weight, n, out);
}

void weighted_row_sums(const WeightedRowSums& args) {
    if (active_isa() == IsaLevel::Avx512) return detail::weighted_row_sums_avx512(args);
    detail::weighted_row_sums_scalar(args);
}

}  // namespace dsv4::backend::cpu
