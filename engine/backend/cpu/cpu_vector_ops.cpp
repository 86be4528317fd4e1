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

}  // namespace detail

void weighted_row_sums(const WeightedRowSums& args) {
    if (active_isa() == IsaLevel::Avx512) return detail::weighted_row_sums_avx512(args);
    detail::weighted_row_sums_scalar(args);
}

}  // namespace dsv4::backend::cpu
