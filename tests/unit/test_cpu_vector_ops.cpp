// The SIMD row loops of the CPU backend against their scalar references, bit for bit: random
// rows and weights, head counts around the SIMD block and widths with a scalar tail.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/backend/cpu/cpu_vector_ops.h"
#include "engine/common/cpu_features.h"

namespace dsv4::backend::cpu {
namespace {

std::vector<float> random_values(size_t n, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

TEST(CpuVectorOps, WeightedRowSumsMatchScalarBitForBit) {
    if (!cpu_features().avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
    std::mt19937 rng(7);
    for (int64_t dim : {512, 48, 100}) {
        for (int64_t n_rows : {1, 9, 37}) {
            for (int64_t n_heads : {1, 7, 8, 11, 16}) {
                const auto rows = random_values(static_cast<size_t>(n_rows * dim), rng, -3, 3);
                const auto weights =
                    random_values(static_cast<size_t>(n_heads * n_rows), rng, 0, 1);
                const auto scale = random_values(static_cast<size_t>(n_heads), rng, 0.01f, 1);
                const int64_t stride = dim + 3;
                std::vector<float> scalar(static_cast<size_t>(n_heads * stride), -1.0f);
                std::vector<float> simd = scalar;
                WeightedRowSums args{rows.data(), n_rows,       dim,           weights.data(),
                                     n_heads,     scale.data(), scalar.data(), stride};
                detail::weighted_row_sums_scalar(args);
                args.out = simd.data();
                detail::weighted_row_sums_avx512(args);
                ASSERT_EQ(std::memcmp(scalar.data(), simd.data(), scalar.size() * sizeof(float)), 0)
                    << "dim " << dim << ", rows " << n_rows << ", heads " << n_heads;
            }
        }
    }
}

TEST(CpuVectorOps, CombineRowsMatchScalarBitForBit) {
    if (!cpu_features().avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
    std::mt19937 rng(11);
    for (int64_t n : {4096, 31, 16, 5}) {
        for (int64_t n_rows : {1, 4}) {
            for (bool with_first : {false, true}) {
                const int64_t row_stride = n + 7;
                const auto rows =
                    random_values(static_cast<size_t>(n_rows * row_stride), rng, -4, 4);
                const auto first = random_values(static_cast<size_t>(n), rng, -4, 4);
                const auto coef = random_values(static_cast<size_t>(n_rows * 3), rng, -2, 2);
                std::vector<float> scalar(static_cast<size_t>(n + 1), -1.0f);
                std::vector<float> simd = scalar;
                CombineRows args{with_first ? first.data() : nullptr,
                                 0.75f,
                                 rows.data(),
                                 row_stride,
                                 n_rows,
                                 coef.data(),
                                 3,
                                 n,
                                 scalar.data()};
                detail::combine_rows_scalar(args);
                args.out = simd.data();
                detail::combine_rows_avx512(args);
                ASSERT_EQ(std::memcmp(scalar.data(), simd.data(), scalar.size() * sizeof(float)), 0)
                    << "n " << n << ", rows " << n_rows << ", first " << with_first;
            }
        }
    }
}

TEST(CpuVectorOps, ScaleRowMatchesScalarBitForBit) {
    if (!cpu_features().avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
    std::mt19937 rng(13);
    for (int64_t n : {4096, 512, 33, 7}) {
        const auto x = random_values(static_cast<size_t>(n), rng, -8, 8);
        const auto weight = random_values(static_cast<size_t>(n), rng, -2, 2);
        for (bool with_weight : {false, true}) {
            std::vector<float> scalar(static_cast<size_t>(n + 1), -1.0f);
            std::vector<float> simd = scalar;
            const float* w = with_weight ? weight.data() : nullptr;
            detail::scale_row_scalar(x.data(), 0.3f, w, n, scalar.data());
            detail::scale_row_avx512(x.data(), 0.3f, w, n, simd.data());
            ASSERT_EQ(std::memcmp(scalar.data(), simd.data(), scalar.size() * sizeof(float)), 0)
                << "n " << n << ", weight " << with_weight;
            // In place, as rms_norm_heads uses it.
            std::vector<float> in_place(x.begin(), x.end());
            detail::scale_row_avx512(in_place.data(), 0.3f, w, n, in_place.data());
            ASSERT_EQ(std::memcmp(scalar.data(), in_place.data(), in_place.size() * sizeof(float)),
                      0);
        }
    }
}

}  // namespace
}  // namespace dsv4::backend::cpu
