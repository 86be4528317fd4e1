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

}  // namespace
}  // namespace dsv4::backend::cpu
