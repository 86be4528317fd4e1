// Scalar quant reference on hand-made inputs the oracle files do not cover: rounding ties and
// scale choices of the activation quantizers, all-zero blocks, rejected lengths, extreme MXFP4
// exponents, the reference engine's dot arithmetic, and the f16/bf16 conversions at every edge.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/quant/block_layouts.h"
#include "engine/quant/fp16.h"
#include "engine/quant/iq2xxs_grid.h"
#include "engine/quant/kernels.h"

namespace dsv4::quant {
namespace {

uint32_t bits(float v) {
    return std::bit_cast<uint32_t>(v);
}

// Deterministic test data (splitmix64); independent of any engine generator.
class TestRng {
  public:
    explicit TestRng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [-1, 1).
    float symmetric() { return static_cast<float>(next() >> 40) / 8388608.0f - 1.0f; }

  private:
    uint64_t state_;
};

std::vector<uint8_t> quantize_q8_0(const std::vector<float>& x, Q8_0Rounding rounding) {
    std::vector<uint8_t> row(act_row_bytes(ActFormat::Q8_0, static_cast<int64_t>(x.size())), 0x5a);
    quantize_act_q8_0(x.data(), static_cast<int64_t>(x.size()), row.data(), rounding);
    return row;
}

std::vector<int8_t> q_of(const std::vector<uint8_t>& row, int64_t n) {
    const ConstActQ8_0 view = act_q8_0_view(row.data(), n);
    return {view.q, view.q + n};
}

// ---- Activation layouts -----------------------------------------------------------------------

TEST(QuantScalar, ActivationRowSizesAndPlanarQ8_0View) {
    EXPECT_EQ(act_row_bytes(ActFormat::F32, 4096), 4u * 4096);
    EXPECT_EQ(act_row_bytes(ActFormat::Q8_0, 4096), 4096u + 4u * 128 + 4u * 128);
    EXPECT_EQ(act_row_bytes(ActFormat::Q8_K, 4096), 16u * 292);
    EXPECT_THROW(act_row_bytes(ActFormat::None, 256), std::invalid_argument);

    alignas(4) uint8_t row[64 + 8 + 8];
    const ActQ8_0 view = act_q8_0_view(row, 64);
    EXPECT_EQ(reinterpret_cast<uint8_t*>(view.q), row);
    EXPECT_EQ(reinterpret_cast<uint8_t*>(view.d), row + 64);
    EXPECT_EQ(reinterpret_cast<uint8_t*>(view.sum), row + 64 + 8);
    const ConstActQ8_0 const_view = act_q8_0_view(static_cast<const void*>(row), 64);
    EXPECT_EQ(const_view.sum, view.sum);
}

// ---- Q8_0 activation rounding -----------------------------------------------------------------

// amax = 127 makes d = 1 and both inverses exactly 1, so x * id is x and every .5 is a tie.
TEST(QuantScalar, Q8_0RoundingOnExactTies) {
    const std::vector<float> x = {
        127.0f,      0.5f,    1.5f, 2.5f,  3.5f,  -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 0.49999997f,
        0.50000006f, -127.0f, 0.0f, -0.0f, 64.5f, 1,     2,     3,     4,      5,       6,
        7,           8,       9,    10,    11,    12,    13,    14,    15,     16};
    const std::vector<int8_t> even = {127, 0,    2, 2,  4,  0,  -2, -2, 126, -126, 0,
                                      1,   -127, 0, 0,  64, 1,  2,  3,  4,   5,    6,
                                      7,   8,    9, 10, 11, 12, 13, 14, 15,  16};
    std::vector<int8_t> away = even;
    away[1] = 1, away[3] = 3, away[5] = -1, away[7] = -3, away[8] = 127, away[9] = -127;
    away[15] = 65;
    for (auto [rounding, want] :
         {std::pair{Q8_0Rounding::Ds4, even}, std::pair{Q8_0Rounding::GgmlX86, even},
          std::pair{Q8_0Rounding::GgmlRef, away}}) {
        const std::vector<uint8_t> row = quantize_q8_0(x, rounding);
        EXPECT_EQ(q_of(row, 32), want) << "rounding " << static_cast<int>(rounding);
        const ConstActQ8_0 view = act_q8_0_view(row.data(), 32);
        EXPECT_EQ(view.d[0], 1.0f);
        int32_t sum = 0;
        for (int8_t q : want) sum += q;
        EXPECT_EQ(view.sum[0], sum);
    }
}

// amax = 63.5: d = 0.5 and id = 2 exactly; ties now sit at quarter values of x.
TEST(QuantScalar, Q8_0RoundingTiesAtHalfScale) {
    std::vector<float> x(32, 0.0f);
    x[0] = 63.5f, x[1] = 0.25f, x[2] = 0.75f, x[3] = -31.75f, x[4] = 31.25f, x[5] = -0.25f;
    const std::vector<int8_t> ds4 = q_of(quantize_q8_0(x, Q8_0Rounding::Ds4), 32);
    const std::vector<int8_t> ref = q_of(quantize_q8_0(x, Q8_0Rounding::GgmlRef), 32);
    EXPECT_EQ((std::vector<int>{ds4[0], ds4[1], ds4[2], ds4[3], ds4[4], ds4[5]}),
              (std::vector<int>{127, 0, 2, -64, 62, 0}));
    EXPECT_EQ((std::vector<int>{ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]}),
              (std::vector<int>{127, 1, 2, -64, 63, -1}));
    const std::vector<uint8_t> row = quantize_q8_0(x, Q8_0Rounding::Ds4);
    EXPECT_EQ(act_q8_0_view(row.data(), 32).d[0], 0.5f);
}

// ggml's x86 path scales by 127/amax, the others by 1/(amax/127); the two f32 inverses differ
// for some amax, and then a value next to a rounding boundary lands on different integers.
TEST(QuantScalar, Q8_0X86InverseIs127OverAmax) {
    float amax = 1.0f;
    float x = 0.0f;
    bool found = false;
    for (int k = 1; k < 100000 && !found; ++k) {
        amax = std::nextafter(amax, 2.0f);
        const float id_x86 = 127.0f / amax;
        const float id_ref = 1.0f / (amax / 127.0f);
        if (id_x86 == id_ref) continue;
        for (int j = 0; j < 127 && !found; ++j) {
            float candidate = amax * (static_cast<float>(j) + 0.5f) / 127.0f;
            for (int step = 0; step < 4 && !found;
                 ++step, candidate = std::nextafter(candidate, 0.0f)) {
                if (std::nearbyint(candidate * id_x86) != std::nearbyint(candidate * id_ref)) {
                    x = candidate;
                    found = true;
                }
            }
        }
    }
    ASSERT_TRUE(found) << "no amax with distinguishable inverses found";
    std::vector<float> block(32, 0.0f);
    block[0] = amax;
    block[1] = x;
    const int8_t x86 = q_of(quantize_q8_0(block, Q8_0Rounding::GgmlX86), 32)[1];
    const int8_t ds4 = q_of(quantize_q8_0(block, Q8_0Rounding::Ds4), 32)[1];
    EXPECT_EQ(x86, static_cast<int8_t>(std::nearbyint(x * (127.0f / amax))));
    EXPECT_EQ(ds4, static_cast<int8_t>(std::nearbyint(x * (1.0f / (amax / 127.0f)))));
    EXPECT_NE(x86, ds4);
}

TEST(QuantScalar, Q8_0AllZeroBlocksAreZero) {
    std::vector<float> x(96, 0.0f);
    x[40] = -3.0f;  // block 1 is not zero
    x[70] = -0.0f;  // block 2: negative zero is still zero
    for (Q8_0Rounding rounding :
         {Q8_0Rounding::Ds4, Q8_0Rounding::GgmlRef, Q8_0Rounding::GgmlX86}) {
        const std::vector<uint8_t> row = quantize_q8_0(x, rounding);
        const ConstActQ8_0 view = act_q8_0_view(row.data(), 96);
        for (int b : {0, 2}) {
            EXPECT_EQ(bits(view.d[b]), 0u);
            EXPECT_EQ(view.sum[b], 0);
            for (int j = 0; j < 32; ++j) EXPECT_EQ(view.q[32 * b + j], 0);
        }
        EXPECT_EQ(view.d[1], 3.0f / 127.0f);
        EXPECT_EQ(view.q[40], -127);
        EXPECT_EQ(view.sum[1], -127);
    }
}

// ---- Q8_K activation quantization -------------------------------------------------------------

BlockQ8K quantize_q8_k_block(const std::vector<float>& x) {
    BlockQ8K block;
    std::memset(&block, 0x5a, sizeof block);
    quantize_act_q8_k(x.data(), 256, &block);
    return block;
}

// The first element of largest magnitude sets the sign of d and maps to -127.
TEST(QuantScalar, Q8_KFirstLargestMagnitudeSetsScaleSign) {
    std::vector<float> x(256, 0.5f);
    x[3] = -2.0f, x[7] = 2.0f;
    BlockQ8K b = quantize_q8_k_block(x);
    EXPECT_EQ(b.d, 1.0f / (-127.0f / -2.0f));
    EXPECT_GT(b.d, 0.0f);
    EXPECT_EQ(b.qs[3], -127);
    EXPECT_EQ(b.qs[7], 127);
    EXPECT_EQ(b.qs[0], 32);  // 0.5 * 63.5 = 31.75

    x[3] = 2.0f, x[7] = -2.0f;
    b = quantize_q8_k_block(x);
    EXPECT_EQ(b.d, 1.0f / (-127.0f / 2.0f));
    EXPECT_LT(b.d, 0.0f);
    EXPECT_EQ(b.qs[3], -127);
    EXPECT_EQ(b.qs[7], 127);
    EXPECT_EQ(b.qs[0], -32);
    EXPECT_EQ(b.bsums[0], -127 + 127 - 32 * 14);
    EXPECT_EQ(b.bsums[1], -32 * 16);
}

// max = -127 gives iscale = 1: every .5 is a tie and goes to the even integer.
TEST(QuantScalar, Q8_KRoundsTiesToEven) {
    std::vector<float> x(256, 0.0f);
    x[0] = -127.0f;
    const float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 125.5f, -126.5f};
    const int expected[] = {0, 2, 2, 0, -2, -2, 126, -126};
    for (int i = 0; i < 8; ++i) x[16 + i] = ties[i];
    const BlockQ8K b = quantize_q8_k_block(x);
    EXPECT_EQ(b.d, 1.0f);
    EXPECT_EQ(b.qs[0], -127);
    int sum = 0;
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(b.qs[16 + i], expected[i]) << ties[i];
        sum += expected[i];
    }
    EXPECT_EQ(b.bsums[0], -127);
    EXPECT_EQ(b.bsums[1], sum);
}

TEST(QuantScalar, Q8_KAllZeroBlockIsZero) {
    std::vector<float> x(512, 0.0f);
    x[300] = 1.0f;
    x[7] = -0.0f;
    std::vector<BlockQ8K> blocks(2);
    std::memset(blocks.data(), 0x5a, sizeof(BlockQ8K) * 2);
    quantize_act_q8_k(x.data(), 512, blocks.data());
    EXPECT_EQ(bits(blocks[0].d), 0u);
    for (int8_t q : blocks[0].qs) EXPECT_EQ(q, 0);
    for (int16_t s : blocks[0].bsums) EXPECT_EQ(s, 0);
    EXPECT_EQ(blocks[1].d, -1.0f / 127.0f);
    EXPECT_EQ(blocks[1].qs[300 - 256], -127);
}

TEST(QuantScalar, QuantizeActivationUsesDs4RoundingAndCopiesF32) {
    std::vector<float> x(256, 0.0f);
    x[0] = 127.0f, x[1] = 0.5f, x[2] = 2.5f;
    std::vector<uint8_t> row(act_row_bytes(ActFormat::Q8_0, 256));
    quantize_activation(ActFormat::Q8_0, x.data(), 256, row.data());
    EXPECT_EQ(row, quantize_q8_0(x, Q8_0Rounding::Ds4));
    std::vector<float> copy(256, 1.0f);
    quantize_activation(ActFormat::F32, x.data(), 256, copy.data());
    EXPECT_EQ(copy, x);
    BlockQ8K block;
    quantize_activation(ActFormat::Q8_K, x.data(), 256, &block);
    EXPECT_EQ(block.d, 1.0f / (-127.0f / 127.0f));
    EXPECT_THROW(quantize_activation(ActFormat::None, x.data(), 256, row.data()),
                 std::invalid_argument);
}

// Lengths must be whole blocks; the checks throw instead of reading past a row.
TEST(QuantScalar, PartialBlocksAndUnsupportedTypesAreRejected) {
    std::vector<float> x(512, 1.0f);
    std::vector<uint8_t> dst(4096);
    std::vector<float> out(512);
    EXPECT_THROW(quantize_act_q8_0(x.data(), 48, dst.data(), Q8_0Rounding::Ds4),
                 std::invalid_argument);
    EXPECT_THROW(quantize_act_q8_k(x.data(), 300, dst.data()), std::invalid_argument);
    EXPECT_THROW(dequantize_row(Type::Q4_0, dst.data(), out.data(), 33), std::invalid_argument);
    EXPECT_THROW(dequantize_row(Type::Q4_K, dst.data(), out.data(), 128), std::invalid_argument);
    EXPECT_THROW(dequantize_row(Type::Q3_K, dst.data(), out.data(), 256), std::invalid_argument);
    EXPECT_NO_THROW(dequantize_row(Type::F16, dst.data(), out.data(), 3));
}

// ---- MXFP4 exponents --------------------------------------------------------------------------

// Every code at the smallest, middle and largest shared exponents, against E2M1 * 2^(e - 127)
// computed in double (E8M0 e = 0 and 1 produce f32 subnormals).
TEST(QuantScalar, Mxfp4DequantizesEveryCodeAtExtremeExponents) {
    const double e2m1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
    // e = 253 and 254 are left out: 6 * 2^(e - 127) overflows f32 there.
    for (int e : {0, 1, 2, 3, 100, 126, 127, 128, 129, 200, 251, 252}) {
        BlockMxfp4 block;
        block.e = static_cast<uint8_t>(e);
        for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
        float out[32];
        dequantize_row(Type::MXFP4, &block, out, 32);
        for (int j = 0; j < 16; ++j) {
            const auto want_lo = static_cast<float>(std::ldexp(e2m1[j], e - 127));
            const auto want_hi = static_cast<float>(std::ldexp(e2m1[15 - j], e - 127));
            EXPECT_EQ(out[j], want_lo) << "e=" << e << " code " << j;
            EXPECT_EQ(out[j + 16], want_hi) << "e=" << e << " code " << 15 - j;
        }
    }
}

// ---- Dot arithmetic of the reference engine -----------------------------------------------------

// Random blocks of a format: uniform quant bytes, finite f16 scales around 1e-3 (some subnormal).
template <typename Block>
std::vector<Block> random_blocks(int64_t count, TestRng& rng) {
    std::vector<Block> blocks(static_cast<size_t>(count));
    auto* bytes = reinterpret_cast<uint8_t*>(blocks.data());
    for (size_t i = 0; i < sizeof(Block) * blocks.size(); ++i)
        bytes[i] = static_cast<uint8_t>(rng.next());
    return blocks;
}
uint16_t random_scale(TestRng& rng) {
    const float magnitude =
        std::ldexp(1.0f + 0.5f * rng.symmetric(), -static_cast<int>(rng.next() % 20));
    return f32_to_f16(rng.next() & 1 ? magnitude * 1e-3f : -magnitude * 1e-3f);
}

float run_dot(Type t, const void* w, const void* act, int64_t n) {
    float out = std::nanf("");
    const DotArgs args{
        static_cast<const uint8_t*>(w), 0, 1, static_cast<const uint8_t*>(act), 0, 1, n, &out, 1};
    kernels(t, IsaLevel::Scalar).dot_q(args);
    return out;
}

std::vector<float> random_activation(int64_t n, TestRng& rng) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = 3.0f * rng.symmetric();
    return x;
}

constexpr int64_t kDotElems = 2048;

// Q8_0: acc += (f16(w.d) * act.d) * isum per block, blocks in order.
TEST(QuantScalar, Q8_0DotFollowsReferenceOrder) {
    TestRng rng(1);
    auto w = random_blocks<BlockQ8_0>(kDotElems / 32, rng);
    for (auto& b : w) b.d = random_scale(rng);
    const std::vector<uint8_t> act =
        quantize_q8_0(random_activation(kDotElems, rng), Q8_0Rounding::Ds4);
    const ConstActQ8_0 y = act_q8_0_view(act.data(), kDotElems);
    float expected = 0.0f;
    for (int64_t b = 0; b < kDotElems / 32; ++b) {
        int isum = 0;
        for (int j = 0; j < 32; ++j) isum += w[b].qs[j] * y.q[32 * b + j];
        expected += (f16_to_f32(w[b].d) * y.d[b]) * static_cast<float>(isum);
    }
    EXPECT_EQ(bits(run_dot(Type::Q8_0, w.data(), act.data(), kDotElems)), bits(expected));
}

std::vector<BlockQ8K> quantize_q8_k(const std::vector<float>& x) {
    std::vector<BlockQ8K> blocks(x.size() / 256);
    quantize_act_q8_k(x.data(), static_cast<int64_t>(x.size()), blocks.data());
    return blocks;
}

// Q2_K: element n = 128h + 32j + l has q = (qs[32h + l] >> 2j) & 3 and scale byte
// scales[8h + 2j + (l >= 16)]; per block sum += (y.d * d) * isum - (y.d * dmin) * summs.
TEST(QuantScalar, Q2_KDotFollowsReferenceOrder) {
    TestRng rng(2);
    auto w = random_blocks<BlockQ2K>(kDotElems / 256, rng);
    for (auto& b : w) b.d = random_scale(rng), b.dmin = random_scale(rng);
    const std::vector<BlockQ8K> y = quantize_q8_k(random_activation(kDotElems, rng));
    float expected = 0.0f;
    for (size_t i = 0; i < w.size(); ++i) {
        int summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (w[i].scales[j] >> 4);
        int isum = 0;
        for (int e = 0; e < 256; ++e) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const int q = (w[i].qs[32 * h + l] >> (2 * j)) & 3;
            isum += (w[i].scales[8 * h + 2 * j + (l >= 16)] & 15) * q * y[i].qs[e];
        }
        const float dall = y[i].d * f16_to_f32(w[i].d);
        const float dmin = y[i].d * f16_to_f32(w[i].dmin);
        expected += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    EXPECT_EQ(bits(run_dot(Type::Q2_K, w.data(), y.data(), kDotElems)), bits(expected));
}

// Q4_K: isum = sum_j sc_j * sum(q4 * q8), summs = sum_j m_j * (bsums[2j] + bsums[2j+1]).
TEST(QuantScalar, Q4_KDotFollowsReferenceOrder) {
    TestRng rng(3);
    auto w = random_blocks<BlockQ4K>(kDotElems / 256, rng);
    for (auto& b : w) b.d = random_scale(rng), b.dmin = random_scale(rng);
    const std::vector<BlockQ8K> y = quantize_q8_k(random_activation(kDotElems, rng));
    float expected = 0.0f;
    for (size_t i = 0; i < w.size(); ++i) {
        int isum = 0, summs = 0;
        for (int e = 0; e < 256; ++e) {
            const int chunk = e / 64, high = (e % 64) / 32, l = e % 32;
            const int q = high ? w[i].qs[32 * chunk + l] >> 4 : w[i].qs[32 * chunk + l] & 15;
            isum += k_quant_scale_min(w[i].scales, 2 * chunk + high).scale * q * y[i].qs[e];
        }
        for (int j = 0; j < 8; ++j)
            summs +=
                k_quant_scale_min(w[i].scales, j).min * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        const float dall = y[i].d * f16_to_f32(w[i].d);
        const float dmin = y[i].d * f16_to_f32(w[i].dmin);
        expected += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    EXPECT_EQ(bits(run_dot(Type::Q4_K, w.data(), y.data(), kDotElems)), bits(expected));
}

// IQ2_XXS: bsum = sum over groups of (2 ls + 1) * sum(signed grid * q8) in integers,
// sumf += (d * y.d) * bsum, result 0.125 * sumf.
TEST(QuantScalar, Iq2xxsDotFollowsReferenceOrder) {
    TestRng rng(4);
    auto w = random_blocks<BlockIq2xxs>(kDotElems / 256, rng);
    for (auto& b : w) b.d = random_scale(rng);
    const std::vector<BlockQ8K> y = quantize_q8_k(random_activation(kDotElems, rng));
    float sumf = 0.0f;
    for (size_t i = 0; i < w.size(); ++i) {
        int bsum = 0;
        for (int g = 0; g < 8; ++g) {
            uint32_t a0, a1;
            std::memcpy(&a0, w[i].qs + 8 * g, 4);
            std::memcpy(&a1, w[i].qs + 8 * g + 4, 4);
            int group = 0;
            for (int e = 0; e < 32; ++e) {
                const int l = e / 8, j = e % 8;
                const uint32_t k = (a1 >> (7 * l)) & 127;
                const uint32_t sign_byte = k | ((std::popcount(k) & 1u) << 7);
                const int magnitude =
                    static_cast<int>((kIq2xxsGrid[(a0 >> (8 * l)) & 255] >> (8 * j)) & 255);
                group += ((sign_byte >> j) & 1 ? -magnitude : magnitude) * y[i].qs[32 * g + e];
            }
            bsum += static_cast<int>(2 * (a1 >> 28) + 1) * group;
        }
        sumf += (f16_to_f32(w[i].d) * y[i].d) * static_cast<float>(bsum);
    }
    EXPECT_EQ(bits(run_dot(Type::IQ2_XXS, w.data(), y.data(), kDotElems)), bits(0.125f * sumf));
}

// dot_f32 on a batch that is not a multiple of the kernels' activation tile: each result is the
// sequential f32 sum over the dequantized row.
TEST(QuantScalar, DotF32IsSequentialForEveryBatchShape) {
    TestRng rng(5);
    constexpr int64_t kRows = 3, kActs = 11, kN = 512;
    auto w = random_blocks<BlockQ6K>(kRows * kN / 256, rng);
    for (auto& b : w) b.d = random_scale(rng);
    std::vector<float> x(kActs * kN);
    for (float& v : x) v = rng.symmetric();
    std::vector<float> out(kActs * kRows, std::nanf(""));
    const size_t w_row = row_bytes(Type::Q6_K, kN);
    const DotArgs args{reinterpret_cast<const uint8_t*>(w.data()),
                       w_row,
                       kRows,
                       reinterpret_cast<const uint8_t*>(x.data()),
                       sizeof(float) * kN,
                       kActs,
                       kN,
                       out.data(),
                       kRows};
    kernels(Type::Q6_K, IsaLevel::Scalar).dot_f32(args);
    std::vector<float> deq(kN);
    for (int64_t r = 0; r < kRows; ++r) {
        dequantize_row(Type::Q6_K, reinterpret_cast<const uint8_t*>(w.data()) + r * w_row,
                       deq.data(), kN);
        for (int64_t a = 0; a < kActs; ++a) {
            float expected = 0.0f;
            for (int64_t i = 0; i < kN; ++i) expected += x[a * kN + i] * deq[i];
            EXPECT_EQ(bits(out[a * kRows + r]), bits(expected)) << "row " << r << " act " << a;
        }
    }
}

// ---- 16-bit float conversions against a double-precision reference ------------------------------

// Value of a binary16 pattern, built from its fields with exact double arithmetic.
double f16_reference_value(uint16_t h) {
    const int exponent = (h >> 10) & 31, mantissa = h & 1023;
    const double sign = h & 0x8000 ? -1.0 : 1.0;
    if (exponent == 31)
        return mantissa ? std::numeric_limits<double>::quiet_NaN()
                        : sign * std::numeric_limits<double>::infinity();
    if (exponent == 0) return sign * std::ldexp(mantissa, -24);
    return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Round |a| to a multiple of quantum, ties to the even multiple (all steps exact in double).
double round_to_quantum(double a, double quantum) {
    const double r = a / quantum;
    double n = std::floor(r);
    const double frac = r - n;
    if (frac > 0.5 || (frac == 0.5 && std::fmod(n, 2.0) != 0.0)) n += 1.0;
    return n * quantum;
}

// The binary16 nearest to f (ties to even), as a double; infinite past the largest finite value.
double f16_reference_rounding(float f) {
    const double a = std::fabs(static_cast<double>(f));
    if (std::isinf(a)) return f;
    int e = 0;
    std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    const double quantum = a < 0x1p-14 ? 0x1p-24 : std::ldexp(1.0, e - 1 - 10);
    const double v = round_to_quantum(a, quantum);
    const double magnitude = v > 65504.0 ? std::numeric_limits<double>::infinity() : v;
    return std::signbit(f) ? -magnitude : magnitude;
}

// The bfloat16 nearest to f (ties to even), as a double.
double bf16_reference_rounding(float f) {
    const double a = std::fabs(static_cast<double>(f));
    if (std::isinf(a)) return f;
    int e = 0;
    std::frexp(a, &e);
    const double quantum = a < 0x1p-126 ? 0x1p-133 : std::ldexp(1.0, e - 1 - 7);
    const double v = round_to_quantum(a, quantum);
    const double largest = std::ldexp(255.0, 120);  // 0x7f7f
    const double magnitude = v > largest ? std::numeric_limits<double>::infinity() : v;
    return std::signbit(f) ? -magnitude : magnitude;
}

// Inputs that stress rounding: every representable 16-bit value, the midpoints between neighbours
// and one f32 step either side of each midpoint, named edge values and random f32 patterns.
std::vector<float> conversion_inputs(double (*value_of)(uint16_t)) {
    std::vector<float> in;
    for (uint32_t h = 0; h < 0x7fff; ++h) {
        const double lo = value_of(static_cast<uint16_t>(h));
        const double hi = value_of(static_cast<uint16_t>(h + 1));
        if (!std::isfinite(lo)) continue;
        in.push_back(static_cast<float>(lo));
        if (!std::isfinite(hi)) continue;
        const auto mid =
            static_cast<float>((lo + hi) / 2);  // exact: 1 bit more than a 16-bit value
        in.push_back(mid);
        in.push_back(std::nextafter(mid, 0.0f));
        in.push_back(std::nextafter(mid, std::numeric_limits<float>::infinity()));
    }
    const float edges[] = {0.0f,
                           0x1p-25f,
                           0x1.8p-24f,
                           0x1p-24f,
                           0x1p-14f,
                           0x1.ff8p-15f,
                           65504.0f,
                           65519.99609375f,
                           65520.0f,
                           65536.0f,
                           1e10f,
                           std::numeric_limits<float>::min(),
                           std::numeric_limits<float>::denorm_min(),
                           std::numeric_limits<float>::max(),
                           std::numeric_limits<float>::infinity()};
    in.insert(in.end(), std::begin(edges), std::end(edges));
    TestRng rng(6);
    for (int i = 0; i < 200000; ++i) {
        const auto pattern = static_cast<uint32_t>(rng.next()) & 0x7fffffffu;
        if (pattern <= 0x7f800000u) in.push_back(std::bit_cast<float>(pattern));
    }
    const size_t positive = in.size();
    for (size_t i = 0; i < positive; ++i) in.push_back(-in[i]);
    return in;
}

TEST(QuantScalar, F16ToF32IsExactForEveryPattern) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const float got = f16_to_f32(static_cast<uint16_t>(h));
        const double want = f16_reference_value(static_cast<uint16_t>(h));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << h;
        } else {
            ASSERT_EQ(bits(got), bits(static_cast<float>(want))) << "pattern " << h;
        }
        EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << h;
    }
}

TEST(QuantScalar, F32ToF16RoundsToNearestEven) {
    for (float f : conversion_inputs(f16_reference_value)) {
        const double want = f16_reference_rounding(f);
        const uint16_t got = f32_to_f16(f);
        ASSERT_EQ(bits(f16_to_f32(got)), bits(static_cast<float>(want)))
            << std::hexfloat << f << " -> " << got;
    }
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bffu);
    EXPECT_EQ(f32_to_f16(65519.99609375f), 0x7bffu);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00u);
    EXPECT_EQ(f32_to_f16(-65520.0f), 0xfc00u);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000u);
    EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000u);    // tie between 0 and the smallest subnormal
    EXPECT_EQ(f32_to_f16(0x1.8p-24f), 0x0002u);  // tie between subnormals 1 and 2
}

TEST(QuantScalar, F32ToF16KeepsNaNAndInfinity) {
    for (uint32_t pattern : {0x7fc00000u, 0x7f800001u, 0x7fbfffffu, 0xffc00000u, 0xff800001u}) {
        const uint16_t h = f32_to_f16(std::bit_cast<float>(pattern));
        EXPECT_EQ(h & 0x7c00u, 0x7c00u) << pattern;
        EXPECT_NE(h & 0x03ffu, 0u) << pattern;
        EXPECT_EQ((h & 0x8000u) != 0, (pattern & 0x80000000u) != 0) << pattern;
    }
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00u);
    EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00u);
}

double bf16_reference_value(uint16_t h) {
    const int exponent = (h >> 7) & 255, mantissa = h & 127;
    const double sign = h & 0x8000 ? -1.0 : 1.0;
    if (exponent == 255)
        return mantissa ? std::numeric_limits<double>::quiet_NaN()
                        : sign * std::numeric_limits<double>::infinity();
    if (exponent == 0) return sign * std::ldexp(mantissa, -133);
    return sign * std::ldexp(128 + mantissa, exponent - 134);
}

TEST(QuantScalar, Bf16ToF32IsExactForEveryPattern) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const float got = bf16_to_f32(static_cast<uint16_t>(h));
        const double want = bf16_reference_value(static_cast<uint16_t>(h));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << h;
        } else {
            ASSERT_EQ(bits(got), bits(static_cast<float>(want))) << "pattern " << h;
        }
    }
}

TEST(QuantScalar, F32ToBf16RoundsToNearestEven) {
    for (float f : conversion_inputs(bf16_reference_value)) {
        const double want = bf16_reference_rounding(f);
        const uint16_t got = f32_to_bf16(f);
        ASSERT_EQ(bits(bf16_to_f32(got)), bits(static_cast<float>(want)))
            << std::hexfloat << f << " -> " << got;
    }
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80u);  // rounds past 0x7f7f
    EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000u);
    for (uint32_t pattern : {0x7fc00000u, 0x7f800001u, 0xff800001u}) {
        const uint16_t h = f32_to_bf16(std::bit_cast<float>(pattern));
        EXPECT_TRUE(std::isnan(bf16_to_f32(h))) << pattern;
        EXPECT_EQ((h & 0x8000u) != 0, (pattern & 0x80000000u) != 0) << pattern;
    }
}

}  // namespace
}  // namespace dsv4::quant
