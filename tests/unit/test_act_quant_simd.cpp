// The SIMD activation quantizers against the scalar ones, byte for byte: random rows, exact
// rounding ties, signed zeros, subnormals, huge and non-finite values, and the oracle rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/common/cpu_features.h"
#include "engine/quant/kernel_sets.h"
#include "engine/quant/kernels.h"

namespace dsv4::quant {
namespace {

bool avx512_level() {
    const CpuFeatures& f = cpu_features();
    return f.avx512 && f.avx512_vnni && f.avx512_vbmi && f.avx512_bitalg;
}

using Q8_0Quantizer = void (*)(const float*, int64_t, void*, Q8_0Rounding);
using Q8_KQuantizer = void (*)(const float*, int64_t, void*);

struct SimdQuantizers {
    const char* name;
    Q8_0Quantizer q8_0;
    Q8_KQuantizer q8_k;
};

std::vector<SimdQuantizers> simd_quantizers() {
    std::vector<SimdQuantizers> levels;
    if (cpu_features().avx2)
        levels.push_back({"avx2", detail::quantize_act_q8_0_avx2, detail::quantize_act_q8_k_avx2});
    if (avx512_level())
        levels.push_back(
            {"avx512", detail::quantize_act_q8_0_avx512, detail::quantize_act_q8_k_avx512});
    return levels;
}

// Rows of 1024 that exercise every branch of the rounding: ordinary normals, exact ties at the
// block's scale (k + 0.5 steps of amax / 127), zero blocks, -0.0, subnormals, values of 1e30,
// infinities and NaN, and the block's largest magnitude repeated with either sign.
std::vector<std::vector<float>> test_rows() {
    std::vector<std::vector<float>> rows;
    std::mt19937_64 rng(77);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    constexpr int kN = 1024;
    for (int kind = 0; kind < 9; ++kind) {
        std::vector<float> x(kN);
        for (int i = 0; i < kN; ++i) {
            const float g = normal(rng);
            switch (kind) {
                case 0:
                    x[i] = g;
                    break;
                case 1:  // ties: amax 127 per block, values k + 0.5
                    x[i] = i % 32 == 0 ? 127.0f : static_cast<float>(rng() % 254) - 126.5f;
                    break;
                case 2:
                    x[i] = i % 2 ? -0.0f : 0.0f;
                    break;
                case 3:
                    x[i] = g * 1e-40f;  // subnormal
                    break;
                case 4:
                    x[i] = g * 1e30f;
                    break;
                case 5:
                    x[i] = i % 97 == 0 ? std::numeric_limits<float>::infinity() : g;
                    break;
                case 6:
                    x[i] = i % 89 == 0 ? std::numeric_limits<float>::quiet_NaN() : g;
                    break;
                case 7:  // the largest magnitude twice per block, opposite signs
                    x[i] = i % 16 == 3 ? -5.0f : i % 16 == 9 ? 5.0f : g;
                    break;
                default:  // ties at small scales and -0.0 mixed in
                    x[i] = i % 7 == 0 ? -0.0f
                                      : std::ldexp(static_cast<float>(rng() % 255) - 127.0f, -20) +
                                            0x1p-21f;
                    break;
            }
        }
        rows.push_back(x);
    }
    return rows;
}

TEST(ActQuantSimd, Q8_0MatchesScalarByteForByte) {
    if (simd_quantizers().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
    for (const SimdQuantizers& level : simd_quantizers()) {
        int row_index = 0;
        for (const std::vector<float>& x : test_rows()) {
            const auto n = static_cast<int64_t>(x.size());
            for (Q8_0Rounding rounding : {Q8_0Rounding::Ds4, Q8_0Rounding::GgmlX86}) {
                std::vector<uint8_t> scalar(act_row_bytes(ActFormat::Q8_0, n), 0xaa);
                std::vector<uint8_t> simd(scalar.size(), 0x55);
                detail::quantize_act_q8_0_scalar(x.data(), n, scalar.data(), rounding);
                level.q8_0(x.data(), n, simd.data(), rounding);
                EXPECT_EQ(0, std::memcmp(scalar.data(), simd.data(), scalar.size()))
                    << level.name << " row kind " << row_index << " rounding "
                    << static_cast<int>(rounding);
            }
            ++row_index;
        }
    }
}

TEST(ActQuantSimd, Q8_KMatchesScalarByteForByte) {
    if (simd_quantizers().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
    for (const SimdQuantizers& level : simd_quantizers()) {
        int row_index = 0;
        for (const std::vector<float>& x : test_rows()) {
            const auto n = static_cast<int64_t>(x.size());
            std::vector<uint8_t> scalar(act_row_bytes(ActFormat::Q8_K, n), 0xaa);
            std::vector<uint8_t> simd(scalar.size(), 0x55);
            detail::quantize_act_q8_k_scalar(x.data(), n, scalar.data());
            level.q8_k(x.data(), n, simd.data());
            EXPECT_EQ(0, std::memcmp(scalar.data(), simd.data(), scalar.size()))
                << level.name << " row kind " << row_index;
            ++row_index;
        }
    }
}

// The public entry points follow the active level, and the scalar level still gets the scalar
// quantizer (same bytes, so this only checks that both paths run).
TEST(ActQuantSimd, EntryPointsAgreeAcrossLevels) {
    const std::vector<float> x = test_rows()[0];
    const auto n = static_cast<int64_t>(x.size());
    std::vector<uint8_t> a(act_row_bytes(ActFormat::Q8_K, n)), b(a.size());
    quantize_act_q8_k(x.data(), n, a.data());
    detail::quantize_act_q8_k_scalar(x.data(), n, b.data());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size()));
    std::vector<uint8_t> c(act_row_bytes(ActFormat::Q8_0, n)), d(c.size());
    quantize_act_q8_0(x.data(), n, c.data(), Q8_0Rounding::Ds4);
    detail::quantize_act_q8_0_scalar(x.data(), n, d.data(), Q8_0Rounding::Ds4);
    EXPECT_EQ(0, std::memcmp(c.data(), d.data(), c.size()));
}

}  // namespace
}  // namespace dsv4::quant
