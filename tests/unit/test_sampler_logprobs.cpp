// Log-probabilities of a logits row: hand-computed values, normalisation over the finite logits
// only, extreme magnitudes that a naive exp would overflow, the top-N order with ties, and rows
// without finite values.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/sampler/logprobs.h"

namespace dsv4::sampler {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(SamplerLogProbs, HandComputedValues) {
    // exp(0) + exp(ln 3) = 4, so the normaliser is ln 4 and the log-probabilities ln 1/4, ln 3/4.
    const std::vector<float> logits{0.0f, static_cast<float>(std::log(3.0))};
    const RowLogProbs row(logits);
    ASSERT_TRUE(row.has_finite());
    EXPECT_NEAR(*row.log_normalizer(), std::log(4.0), 1e-7);
    EXPECT_NEAR(row.token(0)->logprob, std::log(0.25), 1e-6);
    EXPECT_NEAR(row.token(1)->logprob, std::log(0.75), 1e-6);
    EXPECT_EQ(row.token(1)->logit, logits[1]);
    EXPECT_EQ(row.token(1)->id, 1);
}

TEST(SamplerLogProbs, ProbabilitiesSumToOne) {
    std::vector<float> logits;
    for (int i = 0; i < 1000; ++i) logits.push_back(static_cast<float>(std::cos(i * 0.1) * 7.0));
    const RowLogProbs row(logits);
    double total = 0.0;
    for (int i = 0; i < 1000; ++i) total += std::exp(static_cast<double>(row.token(i)->logprob));
    EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(SamplerLogProbs, LargeLogitsDoNotOverflow) {
    // exp(1000) overflows a double; shifted by the maximum the sum is exp(0) + exp(-1).
    const std::vector<float> logits{1000.0f, 999.0f};
    const RowLogProbs row(logits);
    const double expected = -std::log1p(std::exp(-1.0));
    EXPECT_NEAR(row.token(0)->logprob, expected, 1e-6);
    EXPECT_NEAR(row.token(1)->logprob, expected - 1.0, 1e-6);
}

TEST(SamplerLogProbs, NonFiniteLogitsAreLeftOutOfTheNormaliser) {
    const std::vector<float> logits{kNaN, 0.0f, kInf, 0.0f, -kInf};
    const RowLogProbs row(logits);
    EXPECT_NEAR(*row.log_normalizer(), std::log(2.0), 1e-7);
    EXPECT_NEAR(row.token(1)->logprob, std::log(0.5), 1e-6);
    EXPECT_EQ(row.token(0)->logprob, -kInf);
    EXPECT_EQ(row.token(2)->logprob, -kInf);
    EXPECT_EQ(row.token(4)->logprob, -kInf);
}

TEST(SamplerLogProbs, OutOfRangeIdsAndRowsWithoutFiniteLogits) {
    const std::vector<float> logits{1.0f, 2.0f};
    const RowLogProbs row(logits);
    EXPECT_FALSE(row.token(-1).has_value());
    EXPECT_FALSE(row.token(2).has_value());

    const std::vector<float> nothing_finite{kNaN, kInf, -kInf};
    const RowLogProbs empty(nothing_finite);
    EXPECT_FALSE(empty.has_finite());
    EXPECT_FALSE(empty.token(0).has_value());
    std::array<TokenLogProb, 2> out{};
    EXPECT_EQ(empty.top(out), 0u);
}

TEST(SamplerLogProbs, TopIsDescendingWithLowerIdsFirstOnTies) {
    const std::vector<float> logits{1.0f, 3.0f, 2.0f, 3.0f, kNaN, 2.0f, 0.5f, kInf};
    const RowLogProbs row(logits);
    std::array<TokenLogProb, 4> out{};
    ASSERT_EQ(row.top(out), 4u);
    EXPECT_EQ(out[0].id, 1);
    EXPECT_EQ(out[1].id, 3);
    EXPECT_EQ(out[2].id, 2);
    EXPECT_EQ(out[3].id, 5);
    for (const TokenLogProb& entry : out) {
        EXPECT_EQ(entry.logprob, row.token(entry.id)->logprob);
        EXPECT_EQ(entry.logit, logits[static_cast<size_t>(entry.id)]);
    }
}

TEST(SamplerLogProbs, TopAgreesWithASortOnALongRow) {
    std::vector<float> logits;
    for (int i = 0; i < 5000; ++i) {
        logits.push_back(static_cast<float>(static_cast<int>(std::sin(i * 1.3) * 20.0)));
    }
    const RowLogProbs row(logits);
    std::array<TokenLogProb, 20> out{};
    ASSERT_EQ(row.top(out), 20u);
    std::vector<int> ids(logits.size());
    for (int i = 0; i < static_cast<int>(ids.size()); ++i) ids[i] = i;
    std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].id, ids[i]) << i;
}

TEST(SamplerLogProbs, TopWithMoreSlotsThanFiniteLogits) {
    const std::vector<float> logits{kNaN, 2.0f, 1.0f};
    const RowLogProbs row(logits);
    std::array<TokenLogProb, 5> out{};
    ASSERT_EQ(row.top(out), 2u);
    EXPECT_EQ(out[0].id, 1);
    EXPECT_EQ(out[1].id, 2);
}

}  // namespace
}  // namespace dsv4::sampler
