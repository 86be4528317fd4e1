// CPU backend ops on hand-checkable inputs: the rounding helpers (FP8 E4M3, FP4 E2M1, f16,
// Hadamard), RoPE, the hyper-connection split, attention windows and sinks, the compressors'
// pooling and cadence, the indexer's top-k, the router and the routed experts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/forward/forward.h"
#include "engine/quant/synth_blocks.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::backend::cpu {
namespace {

std::vector<float> read_all(CpuBackend& backend, const Buffer& b, int64_t rows) {
    std::vector<float> out(static_cast<size_t>(rows * b.cols()));
    backend.read_rows(b, 0, rows, out.data());
    return out;
}

BufferPtr make_buffer(CpuBackend& backend, int64_t rows, int64_t cols,
                      const std::vector<float>& values) {
    BufferPtr b = backend.allocate(DType::F32, rows, cols);
    backend.write_rows(*b, 0, rows, values.data());
    return b;
}

WeightMatrix f32_matrix(const std::vector<float>& values, int64_t n_in, int64_t n_out) {
    return {quant::Type::F32, reinterpret_cast<const uint8_t*>(values.data()), n_in, n_out,
            sizeof(float) * static_cast<size_t>(n_in)};
}

TEST(CpuNumerics, RmsScaleUsesTheMeanSquare) {
    const float x[2] = {3.0f, 4.0f};
    EXPECT_FLOAT_EQ(rms_scale(x, 2, 0.0f), 1.0f / std::sqrt(12.5f));
    EXPECT_FLOAT_EQ(rms_scale(x, 2, 0.5f), 1.0f / std::sqrt(13.0f));
}

TEST(CpuNumerics, RmsScalesOfManyRowsEqualRmsScaleOfEachBitForBit) {
    std::vector<float> x(19 * 515);
    for (size_t i = 0; i < x.size(); ++i)
        x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + static_cast<float>(i % 7) * 1e3f);
    for (int64_t n_rows : {1, 8, 19}) {
        std::vector<float> scales(static_cast<size_t>(n_rows));
        rms_scales(x.data(), n_rows, 512, 515, 1e-6f, scales.data());
        for (int64_t r = 0; r < n_rows; ++r)
            EXPECT_EQ(scales[static_cast<size_t>(r)], rms_scale(x.data() + r * 515, 512, 1e-6f))
                << "row " << r << " of " << n_rows;
    }
}

TEST(CpuNumerics, E4m3RoundsToNearestWithTiesToEvenCodes) {
    EXPECT_EQ(round_e4m3(1.0f), 1.0f);
    EXPECT_EQ(round_e4m3(1.0625f), 1.0f);   // halfway 1 (even code) / 1.125
    EXPECT_EQ(round_e4m3(1.1875f), 1.25f);  // halfway 1.125 / 1.25 (even code)
    EXPECT_EQ(round_e4m3(1.07f), 1.125f);
    EXPECT_EQ(round_e4m3(-3.3f), -3.25f);
    EXPECT_EQ(round_e4m3(448.0f), 448.0f);
    EXPECT_EQ(round_e4m3(440.0f), 448.0f);     // between 416 and 448
    EXPECT_EQ(round_e4m3(0x1p-10f), 0.0f);     // halfway 0 / smallest subnormal
    EXPECT_EQ(round_e4m3(0x3p-10f), 0x1p-8f);  // halfway 2^-9 (odd) / 2^-8
    EXPECT_EQ(round_e4m3(0x1p-9f), 0x1p-9f);
}

TEST(CpuNumerics, Fp8RoundTripScalesEachBlockOfSixtyFourByAPowerOfTwo) {
    std::vector<float> x(128, 0.0f);
    x[0] = 896.0f;  // block 0: amax 896 -> scale 2
    x[1] = 3.0f;    // 1.5 exactly representable
    x[2] = 2.1f;    // 1.05 -> 1.0
    x[64] = 0.75f;  // block 1: amax 0.75 -> scale 2^-9
    x[65] = 0.3f;   // 0.3 * 512 = 153.6 -> 160 (spacing 16 between 128 and 256)
    fp8_round_trip(x.data(), 128);
    EXPECT_EQ(x[0], 896.0f);
    EXPECT_EQ(x[1], 3.0f);
    EXPECT_EQ(x[2], 2.0f);
    EXPECT_EQ(x[3], 0.0f);
    EXPECT_EQ(x[64], 0.75f);
    EXPECT_EQ(x[65], 160.0f / 512.0f);
    std::vector<float> zeros(64, 0.0f);
    fp8_round_trip(zeros.data(), 64);
    for (float v : zeros) EXPECT_EQ(v, 0.0f);
}

TEST(CpuNumerics, E2m1RoundsToTheNearestTableEntryWithTiesToEven) {
    EXPECT_EQ(round_e2m1(0.25f), 0.0f);
    EXPECT_EQ(round_e2m1(0.75f), 1.0f);
    EXPECT_EQ(round_e2m1(2.5f), 2.0f);
    EXPECT_EQ(round_e2m1(5.0f), 4.0f);
    EXPECT_EQ(round_e2m1(-1.25f), -1.0f);
    EXPECT_EQ(round_e2m1(-1.3f), -1.5f);
    EXPECT_EQ(round_e2m1(6.0f), 6.0f);
}

TEST(CpuNumerics, Fp4RoundTripScalesEachBlockOfThirtyTwo) {
    std::vector<float> x(64, 0.0f);
    x[0] = 12.0f;  // amax 12 -> scale 2
    x[1] = 5.0f;   // 2.5 -> 2 -> 4
    x[2] = -7.0f;  // -3.5 -> -4 (tie 3 / 4, even index) -> -8
    x[32] = 0.5f;  // amax 0.5 -> scale 2^-3 -> 4 -> 0.5
    x[33] = 0.2f;  // 1.6 -> 1.5 -> 0.1875
    fp4_round_trip(x.data(), 64);
    EXPECT_EQ(x[0], 12.0f);
    EXPECT_EQ(x[1], 4.0f);
    EXPECT_EQ(x[2], -8.0f);
    EXPECT_EQ(x[32], 0.5f);
    EXPECT_EQ(x[33], 0.1875f);
}

TEST(CpuNumerics, HadamardIsOrthonormalAndItsOwnInverse) {
    std::vector<float> x(128, 0.0f);
    x[0] = 1.0f;
    hadamard_transform(x.data(), 128);
    for (float v : x) EXPECT_FLOAT_EQ(v, 0.08838834764831845f);
    std::vector<float> y(128);
    for (int i = 0; i < 128; ++i) y[i] = std::sin(0.37f * i) * 3.0f;
    std::vector<float> z = y;
    hadamard_transform(z.data(), 128);
    // Second basis vector: + on even indices, - on odd ones (stride-1 butterflies first).
    std::vector<float> e1(128, 0.0f);
    e1[1] = 1.0f;
    hadamard_transform(e1.data(), 128);
    EXPECT_GT(e1[0], 0.0f);
    EXPECT_LT(e1[1], 0.0f);
    hadamard_transform(z.data(), 128);
    for (int i = 0; i < 128; ++i) EXPECT_NEAR(z[i], y[i], 1e-5f);
}

TEST(CpuNumerics, F16RoundingTiesToEven) {
    float x[3] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 65504.0f};
    round_to_f16(x, 3);
    EXPECT_EQ(x[0], 1.0f);
    EXPECT_EQ(x[1], 1.0f + 0x1p-9f);
    EXPECT_EQ(x[2], 65504.0f);
}

TEST(CpuNumerics, RopeRotatesAdjacentPairsByPositionTimesFrequency) {
    RopeParams rope;
    rope.n_rot = 4;
    rope.freq_base = 10000.0f;
    float tail[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    rope_rotate(tail, 0, rope, false);
    EXPECT_EQ(tail[0], 1.0f);
    EXPECT_EQ(tail[1], 0.0f);
    rope_rotate(tail, 1, rope, false);
    EXPECT_FLOAT_EQ(tail[0], std::cos(1.0f));
    EXPECT_FLOAT_EQ(tail[1], std::sin(1.0f));
    const float theta1 = std::pow(10000.0f, -2.0f / 4.0f);  // 0.01
    EXPECT_FLOAT_EQ(tail[2], std::cos(theta1));
    EXPECT_FLOAT_EQ(tail[3], std::sin(theta1));
    rope_rotate(tail, 1, rope, true);
    EXPECT_NEAR(tail[0], 1.0f, 1e-6f);
    EXPECT_NEAR(tail[1], 0.0f, 1e-6f);
    EXPECT_NEAR(tail[2], 1.0f, 1e-6f);
    EXPECT_NEAR(tail[3], 0.0f, 1e-6f);
}

TEST(CpuNumerics, CompressedLayersUseYarnWithTheReferenceCorrectionRange) {
    const auto model = forward::load_model(test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    const RopeParams dense = forward::layer_rope(model->config, 0);
    EXPECT_FALSE(dense.yarn);
    EXPECT_EQ(dense.freq_base, 10000.0f);
    EXPECT_EQ(dense.mscale, 1.0f);
    const RopeParams compressed = forward::layer_rope(model->config, 2);
    EXPECT_TRUE(compressed.yarn);
    EXPECT_EQ(compressed.freq_base, 160000.0f);
    EXPECT_EQ(compressed.freq_scale, 1.0f / 16.0f);
    // For base 160000, 64 rotated dims, original context 65536, betas 32 / 1.
    EXPECT_EQ(compressed.corr_low, 15.0f);
    EXPECT_EQ(compressed.corr_high, 25.0f);
    EXPECT_NEAR(compressed.mscale, 1.0f, 1e-6f);
    // Pair 0 keeps the original frequency: angle = position.
    float tail[64] = {};
    tail[0] = 1.0f;
    tail[62] = 1.0f;
    rope_rotate(tail, 3, compressed, false);
    EXPECT_NEAR(tail[1], std::sin(3.0f), 1e-6f);
}

TEST(CpuNumerics, HyperConnectionSplitIsSigmoidsAndADoublyStochasticComb) {
    HyperParams params{4, 20, 1e-6f, 1e-6f};
    std::vector<float> mix(24), base(24, 0.0f), split(24);
    for (int i = 0; i < 24; ++i) mix[i] = std::sin(1.7f * i);
    const float scale[3] = {1.0f, 1.0f, 1.0f};
    hc_split(mix.data(), scale, base.data(), params, split.data());
    for (int i = 0; i < 4; ++i) {
        EXPECT_FLOAT_EQ(split[i], 1.0f / (1.0f + std::exp(-mix[i])) + 1e-6f);
        EXPECT_FLOAT_EQ(split[4 + i], 2.0f / (1.0f + std::exp(-mix[4 + i])));
    }
    for (int r = 0; r < 4; ++r) {
        float row = 0, col = 0;
        for (int c = 0; c < 4; ++c) {
            row += split[8 + 4 * r + c];
            col += split[8 + 4 * c + r];
        }
        EXPECT_NEAR(row, 1.0f, 1e-3f);
        EXPECT_NEAR(col, 1.0f, 1e-5f);
    }
    std::fill(mix.begin(), mix.end(), 0.0f);
    hc_split(mix.data(), scale, base.data(), params, split.data());
    for (int i = 0; i < 16; ++i) EXPECT_NEAR(split[8 + i], 0.25f, 1e-6f);
}

TEST(CpuOps, AttentionSeesTheWindowAndTheSinkTakesItsShare) {
    CpuBackend backend(2);
    const uint32_t head_dim = 4;
    // Zero queries give equal scores, so each output is a sink-weighted mean of visible rows.
    const std::vector<float> rows = {1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 0};
    BufferPtr q = make_buffer(backend, 3, head_dim, std::vector<float>(12, 0.0f));
    BufferPtr kv = make_buffer(backend, 3, head_dim, rows);
    BufferPtr ring = backend.allocate(DType::F32, 2, head_dim);
    BufferPtr out = backend.allocate(DType::F32, 3, head_dim);
    const float sink = 0.0f;  // weight exp(0) = 1, like each row's
    AttentionStep step;
    step.q = q.get();
    step.kv = kv.get();
    step.ring = ring.get();
    step.window = 2;
    step.sinks = &sink;
    step.n_head = 1;
    step.head_dim = head_dim;
    step.pos0 = 0;
    step.n_tokens = 3;
    step.out = out.get();
    backend.attention(step);
    const std::vector<float> got = read_all(backend, *out, 3);
    const std::vector<float> expected = {0.5f, 0, 0, 0,       1 / 3.f, 2 / 3.f,
                                         0,    0, 0, 2 / 3.f, 4 / 3.f, 0};
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6f) << i;

    // The same three tokens fed one at a time through the ring give the same rows.
    BufferPtr ring2 = backend.allocate(DType::F32, 2, head_dim);
    for (int64_t t = 0; t < 3; ++t) {
        BufferPtr q1 = make_buffer(backend, 1, head_dim, std::vector<float>(4, 0.0f));
        BufferPtr kv1 =
            make_buffer(backend, 1, head_dim,
                        std::vector<float>(rows.begin() + 4 * t, rows.begin() + 4 * t + 4));
        BufferPtr out1 = backend.allocate(DType::F32, 1, head_dim);
        step.q = q1.get();
        step.kv = kv1.get();
        step.ring = ring2.get();
        step.pos0 = t;
        step.n_tokens = 1;
        step.out = out1.get();
        backend.attention(step);
        backend.ring_store(*kv1, 1, t, 2, *ring2);
        const std::vector<float> one = read_all(backend, *out1, 1);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(one[i], got[4 * t + i]);
    }
}

TEST(CpuOps, AttentionWeighsRowsBySoftmaxOfScaledScores) {
    CpuBackend backend(1);
    BufferPtr q = make_buffer(backend, 1, 4, {2, 0, 0, 0});
    BufferPtr kv = make_buffer(backend, 1, 4, {1, 1, 0, 0});
    BufferPtr ring = backend.allocate(DType::F32, 4, 4);
    BufferPtr out = backend.allocate(DType::F32, 1, 4);
    const float sink = 0.25f;
    AttentionStep step;
    step.q = q.get();
    step.kv = kv.get();
    step.ring = ring.get();
    step.window = 4;
    step.sinks = &sink;
    step.n_head = 1;
    step.head_dim = 4;
    step.n_tokens = 1;
    step.out = out.get();
    backend.attention(step);
    const float score = 2.0f / 2.0f;  // dot 2, scaled by 1/sqrt(4)
    const float weight = std::exp(score) / (std::exp(score) + std::exp(sink));
    const std::vector<float> got = read_all(backend, *out, 1);
    EXPECT_NEAR(got[0], weight, 1e-6f);
    EXPECT_NEAR(got[1], weight, 1e-6f);
    EXPECT_EQ(got[2], 0.0f);
}

struct CompressorFixture {
    explicit CompressorFixture(CpuBackend& b, uint32_t ratio_, uint32_t overlap_)
        : backend(b), ratio(ratio_), overlap(overlap_) {
        ape_values.assign(size_t(overlap * head_dim * ratio), 0.0f);
        norm_values.assign(head_dim, 1.0f);
        weights.ape = f32_matrix(ape_values, overlap * head_dim, ratio);
        weights.norm = {norm_values.data(), head_dim};
        window_kv = backend.allocate(DType::F32, overlap * ratio, overlap * head_dim);
        window_score = backend.allocate(DType::F32, overlap * ratio, overlap * head_dim);
        backend.fill(*window_kv, 0.0f);
        backend.fill(*window_score, -1e30f);
        rows = backend.allocate(DType::F32, 8, head_dim);
    }
    // Feeds tokens whose projections are kv[t] (overlap * head_dim each) with zero scores.
    void feed(int64_t pos0, const std::vector<std::vector<float>>& kv) {
        std::vector<float> flat;
        for (const auto& row : kv) flat.insert(flat.end(), row.begin(), row.end());
        const auto n = static_cast<int64_t>(kv.size());
        BufferPtr kv_proj = make_buffer(backend, n, overlap * head_dim, flat);
        BufferPtr score_proj =
            make_buffer(backend, n, overlap * head_dim, std::vector<float>(flat.size(), 0.0f));
        CompressorStep step;
        step.kv_proj = kv_proj.get();
        step.score_proj = score_proj.get();
        step.weights = &weights;
        step.ratio = ratio;
        step.head_dim = head_dim;
        step.rms_eps = 0.0f;
        step.rope.n_rot = 0;
        step.rounding = RowRounding::Fp8Nope;
        step.pos0 = pos0;
        step.n_tokens = n;
        step.state_kv = window_kv.get();
        step.state_score = window_score.get();
        step.rows = rows.get();
        step.n_rows = &n_rows;
        backend.compressor_step(step);
    }
    // What a stored row of the pooled values must be: normalised, FP8, f16.
    static std::vector<float> stored(std::vector<float> pooled) {
        const float s = rms_scale(pooled.data(), int64_t(pooled.size()), 0.0f);
        for (float& v : pooled) v *= s;
        fp8_round_trip(pooled.data(), int64_t(pooled.size()));
        round_to_f16(pooled.data(), int64_t(pooled.size()));
        return pooled;
    }

    CpuBackend& backend;
    uint32_t ratio;
    uint32_t overlap;
    static constexpr uint32_t head_dim = 64;
    std::vector<float> ape_values, norm_values;
    model::CompressorWeights weights;
    BufferPtr window_kv, window_score, rows;
    int64_t n_rows = 0;
};

std::vector<float> pattern(float a, float b) {
    std::vector<float> v(64);
    for (int i = 0; i < 64; ++i)
        v[i] = (i % 2 == 0 ? a : b) + 0.015625f * i;  // dyadic: window sums are exact
    return v;
}

TEST(CpuOps, CompressorEmitsTheMeanOfEachWindowEveryRatioTokens) {
    CpuBackend backend(1);
    CompressorFixture c(backend, 2, 1);
    const auto a = pattern(1, -1), b = pattern(3, 1), d = pattern(-2, 5);
    c.feed(0, {a});
    EXPECT_EQ(c.n_rows, 0);
    c.feed(1, {b, d});  // position 1 closes window 0; position 2 opens window 1
    ASSERT_EQ(c.n_rows, 1);
    std::vector<float> mean(64);
    for (int i = 0; i < 64; ++i) mean[i] = (a[i] + b[i]) / 2;
    EXPECT_EQ(read_all(backend, *c.rows, 1), CompressorFixture::stored(mean));
    c.feed(3, {a});
    ASSERT_EQ(c.n_rows, 2);
    std::vector<float> row1(128);
    backend.read_rows(*c.rows, 0, 2, row1.data());
    for (int i = 0; i < 64; ++i) mean[i] = (d[i] + a[i]) / 2;
    EXPECT_EQ(std::vector<float>(row1.begin() + 64, row1.end()), CompressorFixture::stored(mean));
}

TEST(CpuOps, OverlappingCompressorPoolsPreviousFirstHalvesWithCurrentSecondHalves) {
    CpuBackend backend(1);
    CompressorFixture c(backend, 4, 2);
    const auto first = pattern(1, -1), second = pattern(-3, 2);
    std::vector<float> both = first;
    both.insert(both.end(), second.begin(), second.end());
    c.feed(0, std::vector<std::vector<float>>(8, both));
    ASSERT_EQ(c.n_rows, 2);
    std::vector<float> got(128);
    backend.read_rows(*c.rows, 0, 2, got.data());
    // Window 0 has no previous window: only second halves count.
    EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 64), CompressorFixture::stored(second));
    std::vector<float> mixed(64);
    for (int i = 0; i < 64; ++i) mixed[i] = (4 * first[i] + 4 * second[i]) / 8;
    const std::vector<float> expected = CompressorFixture::stored(mixed);
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(got[64 + i], expected[i], 1e-6f * 8) << i;
}

TEST(CpuOps, IndexerKeepsTheTopScoresWithTiesToTheLowerRow) {
    CpuBackend backend(1);
    const uint32_t head_dim = 8;
    const std::vector<float> key_scores = {1, 3, 2, 2, -5};
    std::vector<float> keys(5 * head_dim, 0.0f);
    for (int r = 0; r < 5; ++r) keys[r * head_dim] = key_scores[r];
    BufferPtr rows = make_buffer(backend, 5, head_dim, keys);
    std::vector<float> q(5 * head_dim, 0.0f);
    for (int t = 0; t < 5; ++t) q[t * head_dim] = 1.0f;
    BufferPtr qb = make_buffer(backend, 5, head_dim, q);
    BufferPtr weights = make_buffer(backend, 5, 1, {1, 1, 1, 1, 1});
    BufferPtr selection = backend.allocate(DType::I32, 5, 2);
    IndexerStep step;
    step.q = qb.get();
    step.head_weights = weights.get();
    step.rows = rows.get();
    step.ratio = 1;
    step.top_k = 2;
    step.n_head = 1;
    step.head_dim = head_dim;
    step.n_tokens = 5;
    step.selection = selection.get();
    backend.indexer_select(step);
    std::vector<int32_t> got(10);
    backend.read_rows(*selection, 0, 5, got.data());
    EXPECT_EQ(got, (std::vector<int32_t>{0, -1, 0, 1, 1, 2, 1, 2, 1, 2}));
}

TEST(CpuOps, RouterPicksBiasedTopKButWeighsByUnbiasedProbabilities) {
    CpuBackend backend(1);
    // Experts 1 and 2 tie on logit; expert 3 wins only through its bias.
    BufferPtr logits = make_buffer(backend, 1, 4, {0.0f, 2.0f, 2.0f, -1.0f});
    const float bias[4] = {0.0f, 0.0f, 0.0f, 5.0f};
    BufferPtr ids = backend.allocate(DType::I32, 1, 2);
    BufferPtr weights = backend.allocate(DType::F32, 1, 2);
    RouterStep step;
    step.logits = logits.get();
    step.bias = bias;
    step.n_used = 2;
    step.scale = 1.5f;
    step.n_tokens = 1;
    step.ids = ids.get();
    step.weights = weights.get();
    backend.route(step);
    int32_t chosen[2];
    float w[2];
    backend.read_rows(*ids, 0, 1, chosen);
    backend.read_rows(*weights, 0, 1, w);
    EXPECT_EQ(chosen[0], 3);
    EXPECT_EQ(chosen[1], 1);
    const float p3 = std::sqrt(std::log1p(std::exp(-1.0f)));
    const float p1 = std::sqrt(std::log1p(std::exp(2.0f)));
    EXPECT_FLOAT_EQ(w[0], p3 / (p3 + p1) * 1.5f);
    EXPECT_FLOAT_EQ(w[1], p1 / (p3 + p1) * 1.5f);

    step.bias = nullptr;
    backend.route(step);
    backend.read_rows(*ids, 0, 1, chosen);
    EXPECT_EQ(chosen[0], 1);
    EXPECT_EQ(chosen[1], 2);

    // Hash routing keeps the table's order.
    const int32_t table[3 * 2] = {0, 1, 3, 0, 2, 1};
    const int32_t tokens[1] = {1};
    step.tid2eid = table;
    step.tokens = tokens;
    backend.route(step);
    backend.read_rows(*ids, 0, 1, chosen);
    EXPECT_EQ(chosen[0], 3);
    EXPECT_EQ(chosen[1], 0);
}

TEST(CpuOps, RoutedExpertsFoldTheWeightBeforeDownAndSumSlots) {
    CpuBackend backend(1);
    // Two experts, n_in 2, n_ff 2, n_out 2, all F32.
    const std::vector<float> gate = {1, 0, 0, 1, /* expert 1 */ 2, 0, 0, 20};
    const std::vector<float> up = {1, 1, 1, -1, /* expert 1 */ 0, 1, 1, 0};
    const std::vector<float> down = {1, 0, 0, 1, /* expert 1 */ 0, 1, 1, 0};
    auto stack = [](const std::vector<float>& v) {
        model::ExpertStack s;
        s.type = quant::Type::F32;
        s.data = reinterpret_cast<const uint8_t*>(v.data());
        s.n_in = 2;
        s.n_out = 2;
        s.n_expert = 2;
        s.row_bytes = 8;
        s.expert_bytes = 16;
        return s;
    };
    const model::ExpertStack g = stack(gate), u = stack(up), d = stack(down);
    BufferPtr x = make_buffer(backend, 1, 2, {1.0f, 0.5f});
    BufferPtr ids = backend.allocate(DType::I32, 1, 2);
    const int32_t chosen[2] = {1, 0};
    backend.write_rows(*ids, 0, 1, chosen);
    BufferPtr weights = make_buffer(backend, 1, 2, {0.25f, 2.0f});
    BufferPtr out = backend.allocate(DType::F32, 1, 2);
    MoeStep step;
    step.x = x.get();
    step.ids = ids.get();
    step.weights = weights.get();
    step.gate = &g;
    step.up = &u;
    step.down = &d;
    step.clamp = 10.0f;
    step.numerics = quant::Numerics::F32;
    step.n_tokens = 1;
    step.out = out.get();
    backend.routed_moe(step);
    auto silu_ref = [](float z) { return z / (1.0f + std::exp(-z)); };
    // Expert 1: gate (2, 10 clamped from 10), up (0.5, 1); mid * 0.25; down swaps.
    const float e1_mid0 = silu_ref(2.0f) * 0.5f * 0.25f;
    const float e1_mid1 = silu_ref(10.0f) * 1.0f * 0.25f;
    // Expert 0: gate (1, 0.5), up (1.5, 0.5); mid * 2; down identity.
    const float e0_mid0 = silu_ref(1.0f) * 1.5f * 2.0f;
    const float e0_mid1 = silu_ref(0.5f) * 0.5f * 2.0f;
    float got[2];
    backend.read_rows(*out, 0, 1, got);
    EXPECT_NEAR(got[0], e1_mid1 + e0_mid0, 1e-5f);
    EXPECT_NEAR(got[1], e1_mid0 + e0_mid1, 1e-5f);
}

}  // namespace
}  // namespace dsv4::backend::cpu

namespace dsv4::backend::cpu {
namespace {

// matmul_many must give every product exactly what its own matmul gives, for weights of
// different activation formats sharing one input (Q8_0 and Q8_K preparations, F32 in place).
TEST(CpuMatmulMany, EqualsSeparateMatmulsBitForBit) {
    CpuBackend backend(2);
    constexpr int64_t n_in = 512, n_tokens = 3;
    const quant::Type types[] = {quant::Type::Q8_0, quant::Type::Q2_K, quant::Type::F16,
                                 quant::Type::IQ2_XXS, quant::Type::Q8_0};
    const int64_t n_outs[] = {40, 17, 9, 33, 1};
    std::vector<std::vector<uint8_t>> storage;
    std::vector<WeightMatrix> weights;
    for (size_t i = 0; i < std::size(types); ++i) {
        const size_t row_bytes = quant::row_bytes(types[i], n_in);
        storage.emplace_back(row_bytes * static_cast<size_t>(n_outs[i]));
        quant::fill_random_rows(types[i], storage.back().data(), n_outs[i], n_in, 100 + i);
        weights.push_back({types[i], storage.back().data(), n_in, n_outs[i], row_bytes});
    }
    std::vector<float> x_values(n_in * n_tokens);
    for (size_t i = 0; i < x_values.size(); ++i)
        x_values[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + static_cast<float>(i % 7));
    BufferPtr x = make_buffer(backend, n_tokens, n_in, x_values);
    for (quant::Numerics numerics : {quant::Numerics::Q8, quant::Numerics::F32}) {
        std::vector<BufferPtr> together, apart;
        std::vector<MatmulTarget> targets;
        for (const WeightMatrix& w : weights) {
            together.push_back(backend.allocate(DType::F32, n_tokens, w.n_out));
            apart.push_back(backend.allocate(DType::F32, n_tokens, w.n_out));
            targets.push_back({&w, together.back().get()});
            backend.matmul(w, *x, n_tokens, *apart.back(), numerics);
        }
        backend.matmul_many(targets, *x, n_tokens, numerics);
        for (size_t i = 0; i < weights.size(); ++i) {
            const std::vector<float> a = read_all(backend, *together[i], n_tokens);
            const std::vector<float> b = read_all(backend, *apart[i], n_tokens);
            ASSERT_EQ(a, b) << "target " << i << " numerics " << static_cast<int>(numerics);
            EXPECT_NE(std::count(a.begin(), a.end(), 0.0f), static_cast<long>(a.size()));
        }
    }
}

}  // namespace
}  // namespace dsv4::backend::cpu
