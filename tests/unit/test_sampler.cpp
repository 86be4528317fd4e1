// Sampler hand cases: the argmax tie rule, greedy paths that leave the RNG alone, the xorshift*
// stream checked against the spec's formula, seeds, min_p / top_p / top_k filtering by hand,
// non-finite logits, the thinking-mode rule and the normalisation of parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include "engine/sampler/sampler.h"
#include "engine/sampler/sampling_params.h"
#include "engine/sampler/xorshift_rng.h"

namespace dsv4::sampler {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// The generator written out from the spec's formula, independently of XorShift64Star.
struct FormulaRng {
    uint64_t state;
    uint64_t next() {
        uint64_t x = state == 0 ? 0x9E3779B97F4A7C15ULL : state;
        x = x ^ (x >> 12);
        x = x ^ (x << 25);
        x = x ^ (x >> 27);
        state = x;
        return x * 0x2545F4914F6CDD1DULL;
    }
    double uniform() { return static_cast<double>((next() >> 40) & 0xFFFFFFu) / 16777216.0; }
};

SamplingParams params_with(float temperature, int top_k, float top_p, float min_p, uint64_t seed) {
    SamplingParams params;
    params.temperature = temperature;
    params.top_k = top_k;
    params.top_p = top_p;
    params.min_p = min_p;
    params.seed = seed;
    return params;
}

std::vector<float> logs_of(const std::vector<double>& probabilities) {
    std::vector<float> logits;
    for (const double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
    return logits;
}

TEST(SamplerRng, FirstOutputsMatchTheFormula) {
    for (const uint64_t seed : {uint64_t{1}, uint64_t{42}, uint64_t{0}, ~uint64_t{0}}) {
        XorShift64Star rng(seed);
        FormulaRng formula{seed};
        for (int i = 0; i < 8; ++i) {
            EXPECT_EQ(rng.next(), formula.next()) << "seed " << seed << " output " << i;
            EXPECT_EQ(rng.state(), formula.state);
        }
    }
}

TEST(SamplerRng, KnownValuesForSeedOne) {
    // From x = 1: x >> 12 is 0, x << 25 adds bit 25, and 0x2000001 >> 27 is 0 again, so the
    // new state is 0x2000001 and the output is 0x2000001 * 0x2545F4914F6CDD1D mod 2^64.
    XorShift64Star rng(1);
    EXPECT_EQ(rng.next(), 0x47E4CE4B896CDD1DULL);
    EXPECT_EQ(rng.state(), 0x2000001ULL);
    EXPECT_EQ(rng.next(), 0xABCFA6A8E079651DULL);
    EXPECT_EQ(rng.state(), 0x4004000802801ULL);

    XorShift64Star uniform_rng(1);
    EXPECT_EQ(uniform_rng.uniform(), 4711630.0f / 16777216.0f);  // (0x47E4CE4B... >> 40) & 0xFFFFFF
    EXPECT_EQ(uniform_rng.uniform(), 11259814.0f / 16777216.0f);
}

TEST(SamplerRng, ZeroStateUsesTheReplacementConstant) {
    XorShift64Star from_zero(0);
    XorShift64Star from_constant(XorShift64Star::kZeroStateReplacement);
    EXPECT_EQ(from_zero.next(), from_constant.next());
    EXPECT_NE(from_zero.state(), 0u);
}

TEST(SamplerRng, UniformStaysInUnitInterval) {
    XorShift64Star rng(12345);
    for (int i = 0; i < 100000; ++i) {
        const float u = rng.uniform();
        ASSERT_GE(u, 0.0f);
        ASSERT_LT(u, 1.0f);
    }
}

TEST(SamplerArgmax, FirstMaximumWinsTies) {
    EXPECT_EQ(argmax_token(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}), 1);
    EXPECT_EQ(argmax_token(std::vector<float>{3.0f, 1.0f, 3.0f}), 0);
    EXPECT_EQ(argmax_token(std::vector<float>{-5.0f, -4.0f, -4.0f, -9.0f}), 1);
    // -0 and +0 compare equal, so the first of them wins.
    EXPECT_EQ(argmax_token(std::vector<float>{-1.0f, -0.0f, 0.0f}), 1);
}

TEST(SamplerArgmax, TiesBeyondTheVectorLanes) {
    std::vector<float> logits(1000, 0.0f);
    logits[517] = 2.0f;
    logits[900] = 2.0f;
    logits[998] = 2.0f;
    EXPECT_EQ(argmax_token(logits), 517);
    logits[999] = 3.0f;  // in the scalar tail
    EXPECT_EQ(argmax_token(logits), 999);
}

TEST(SamplerArgmax, NonFiniteValuesFollowTheReferenceRule) {
    EXPECT_EQ(argmax_token(std::vector<float>{kNaN, 1.0f, 2.0f, kNaN}), 2);
    EXPECT_EQ(argmax_token(std::vector<float>{1.0f, kInf, kInf}), 1);
    EXPECT_EQ(argmax_token(std::vector<float>{kNaN, kNaN, kNaN}), 0);
    EXPECT_EQ(argmax_token(std::vector<float>{-kInf, -kInf}), 0);
    // The scan starts from -1e30, so nothing at or below it can win.
    EXPECT_EQ(argmax_token(std::vector<float>{-3e30f, -2e30f}), 0);
}

TEST(Sampler, ZeroOrNegativeTemperatureIsArgmaxWithoutDrawing) {
    const std::vector<float> logits{0.5f, 2.0f, 2.0f, 1.0f};
    for (const float temperature : {0.0f, -1.0f}) {
        Sampler sampler(params_with(temperature, 0, 1.0f, 0.0f, 99));
        for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler.sample(logits), 1);
        EXPECT_EQ(sampler.rng_state(), 99u);
    }
}

TEST(Sampler, GreedyOverrideIgnoresTheParameters) {
    const std::vector<float> logits{0.0f, 0.0f, 0.1f, 0.0f};
    Sampler sampler(params_with(5.0f, 0, 1.0f, 0.0f, 7));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.sample(logits, true), 2);
    EXPECT_EQ(sampler.rng_state(), 7u);
    // Without the override the flat row is actually sampled.
    std::set<TokenId> seen;
    for (int i = 0; i < 50; ++i) seen.insert(sampler.sample(logits));
    EXPECT_EQ(seen.size(), 4u);
}

TEST(Sampler, EachSampledDrawAdvancesTheRngOnce) {
    const std::vector<float> logits{0.0f, 0.2f, 0.1f};
    for (const int top_k : {0, 2}) {
        for (const float top_p : {1.0f, 0.9f}) {
            Sampler sampler(params_with(1.0f, top_k, top_p, 0.0f, 5));
            FormulaRng formula{5};
            for (int i = 0; i < 10; ++i) {
                sampler.sample(logits);
                formula.next();
                ASSERT_EQ(sampler.rng_state(), formula.state) << top_k << " " << top_p;
            }
        }
    }
}

std::vector<float> varied_row(size_t size) {
    std::vector<float> logits(size);
    for (size_t i = 0; i < size; ++i) {
        logits[i] = static_cast<float>(std::sin(static_cast<double>(i) * 0.37) * 3.0);
    }
    return logits;
}

std::vector<TokenId> draw(Sampler& sampler, const std::vector<float>& logits, int count) {
    std::vector<TokenId> tokens;
    for (int i = 0; i < count; ++i) tokens.push_back(sampler.sample(logits));
    return tokens;
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
    const std::vector<float> logits = varied_row(500);
    for (const int top_k : {0, 40}) {
        for (const float top_p : {1.0f, 0.9f}) {
            Sampler first(params_with(1.0f, top_k, top_p, 0.0f, 2024));
            Sampler second(params_with(1.0f, top_k, top_p, 0.0f, 2024));
            Sampler other(params_with(1.0f, top_k, top_p, 0.0f, 2025));
            const std::vector<TokenId> a = draw(first, logits, 64);
            EXPECT_EQ(a, draw(second, logits, 64));
            EXPECT_NE(a, draw(other, logits, 64));
        }
    }
}

TEST(Sampler, RestartReplaysTheSeed) {
    const std::vector<float> logits = varied_row(300);
    Sampler sampler(params_with(0.8f, 0, 0.95f, 0.0f, 31));
    const std::vector<TokenId> first = draw(sampler, logits, 32);
    sampler.restart(params_with(0.8f, 0, 0.95f, 0.0f, 31));
    EXPECT_EQ(draw(sampler, logits, 32), first);
}

TEST(Sampler, MissingSeedComesFromTheSystem) {
    SamplingParams params;
    Sampler first(params);
    Sampler second(params);
    // Two 64-bit draws from getrandom coincide with probability 2^-64.
    EXPECT_NE(first.seed(), second.seed());
    EXPECT_EQ(first.rng_state(), first.seed());
}

TEST(Sampler, MinPDropsTokensByHand) {
    // Relative probabilities 1, 0.5 and 0.04: the last is below min_p 0.05 of the top token and
    // the draw is r = u * 1.5 walked in id order.
    const std::vector<float> logits = logs_of({1.0, 0.5, 0.04});
    Sampler sampler(params_with(1.0f, 0, 1.0f, 0.05f, 1));
    FormulaRng formula{1};
    for (int i = 0; i < 2000; ++i) {
        const double r = formula.uniform() * 1.5;
        const TokenId expected = r <= 1.0 ? 0 : 1;
        ASSERT_EQ(sampler.sample(logits), expected) << "draw " << i;
    }
}

TEST(Sampler, MinPAboveOneKeepsOnlyTheTopToken) {
    const std::vector<float> logits{0.0f, 1.0f, 0.5f};
    for (const float top_p : {1.0f, 0.5f}) {
        Sampler sampler(params_with(1.0f, 0, top_p, 3.0f, 4));
        for (int i = 0; i < 50; ++i) EXPECT_EQ(sampler.sample(logits), 1);
    }
}

TEST(Sampler, TopPKeepsTheSmallestSortedPrefixByHand) {
    // Probabilities 0.15, 0.5, 0.05, 0.3 in id order. Sorted: ids 1 (0.5), 3 (0.3): their mass
    // 0.8 reaches top_p 0.75, so ids 0 and 2 never appear; the draw r = u * 1.6 (relative
    // masses 1 + 0.6) walks the sorted order.
    const std::vector<float> logits = logs_of({0.15, 0.5, 0.05, 0.3});
    Sampler sampler(params_with(1.0f, 0, 0.75f, 0.0f, 42));
    FormulaRng formula{42};
    for (int i = 0; i < 2000; ++i) {
        const double r = formula.uniform() * 1.6;
        const TokenId expected = r <= 1.0 ? 1 : 3;
        ASSERT_EQ(sampler.sample(logits), expected) << "draw " << i;
    }
}

TEST(Sampler, TopPWithMinPStopsAtTheMinPCut) {
    // Shares 0.5, 0.3, 0.15, 0.05; top_p 0.99 would keep all four, min_p 0.25 of the top share
    // (0.125) drops the 0.05 token.
    const std::vector<float> logits = logs_of({0.15, 0.5, 0.05, 0.3});
    Sampler sampler(params_with(1.0f, 0, 0.99f, 0.25f, 3));
    FormulaRng formula{3};
    for (int i = 0; i < 2000; ++i) {
        const double r = formula.uniform() * 1.9;  // relative masses 1 + 0.6 + 0.3
        const TokenId expected = r <= 1.0 ? 1 : (r <= 1.6 ? 3 : 0);
        ASSERT_EQ(sampler.sample(logits), expected) << "draw " << i;
    }
}

TEST(Sampler, TopPBelowTheTopShareKeepsOneToken) {
    const std::vector<float> logits = logs_of({0.2, 0.7, 0.1});
    Sampler sampler(params_with(1.0f, 0, 0.3f, 0.0f, 8));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler.sample(logits), 1);
}

TEST(Sampler, TopKKeepsTheEarlierIdsOnTies) {
    // Three tokens tie for the top; k = 2 keeps ids 1 and 2 and never 3.
    const std::vector<float> logits{1.0f, 5.0f, 5.0f, 5.0f, 0.0f};
    Sampler sampler(params_with(1.0f, 2, 1.0f, 0.0f, 11));
    FormulaRng formula{11};
    for (int i = 0; i < 2000; ++i) {
        const double r = formula.uniform() * 2.0;
        ASSERT_EQ(sampler.sample(logits), r <= 1.0 ? 1 : 2) << "draw " << i;
    }
}

TEST(Sampler, TopKOneIsGreedyButStillDraws) {
    const std::vector<float> logits = varied_row(2000);
    const TokenId best = argmax_token(logits);
    Sampler sampler(params_with(1.0f, 1, 1.0f, 0.0f, 6));
    FormulaRng formula{6};
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(sampler.sample(logits), best);
        formula.next();
    }
    EXPECT_EQ(sampler.rng_state(), formula.state);
}

TEST(Sampler, TopKLargerThanTheRowUsesTheWholeRow) {
    const std::vector<float> logits{0.0f, 0.0f, 0.0f};
    Sampler sampler(params_with(1.0f, 1000, 1.0f, 0.0f, 12));
    std::set<TokenId> seen;
    for (int i = 0; i < 200; ++i) seen.insert(sampler.sample(logits));
    EXPECT_EQ(seen, (std::set<TokenId>{0, 1, 2}));
}

TEST(Sampler, NonFiniteLogitsAreNeverSampled) {
    const std::vector<float> logits{kNaN, 1.0f, kInf, -kInf, 1.0f, kNaN};
    for (const int top_k : {0, 3}) {
        for (const float top_p : {1.0f, 0.9f}) {
            Sampler sampler(params_with(1.0f, top_k, top_p, 0.0f, 13));
            std::set<TokenId> seen;
            for (int i = 0; i < 200; ++i) seen.insert(sampler.sample(logits));
            EXPECT_EQ(seen, (std::set<TokenId>{1, 4})) << top_k << " " << top_p;
        }
    }
}

TEST(Sampler, AllNonFiniteFallsBackToTheGreedyRuleWithoutDrawing) {
    for (const int top_k : {0, 3}) {
        for (const float top_p : {1.0f, 0.9f}) {
            Sampler sampler(params_with(1.0f, top_k, top_p, 0.0f, 14));
            EXPECT_EQ(sampler.sample(std::vector<float>{kNaN, -kInf, kInf, kInf}), 2);
            EXPECT_EQ(sampler.sample(std::vector<float>{kNaN, -kInf, kNaN}), 0);
            EXPECT_EQ(sampler.rng_state(), 14u);
        }
    }
}

TEST(Sampler, NaNTemperaturePicksTheBestFiniteToken) {
    const std::vector<float> logits{0.0f, kInf, 3.0f, 3.0f};
    for (const int top_k : {0, 2}) {
        for (const float top_p : {1.0f, 0.5f}) {
            Sampler sampler(params_with(kNaN, top_k, top_p, 0.0f, 15));
            EXPECT_EQ(sampler.sample(logits), 2);
        }
    }
}

TEST(Sampler, EmptyRowIsRejected) {
    Sampler sampler(params_with(1.0f, 0, 1.0f, 0.0f, 1));
    EXPECT_THROW(sampler.sample(std::span<const float>{}), std::invalid_argument);
}

TEST(SamplingParams, DefaultsAreTheReferenceDefaults) {
    const SamplingParams params;
    EXPECT_EQ(params.temperature, 1.0f);
    EXPECT_EQ(params.top_p, 1.0f);
    EXPECT_EQ(params.min_p, 0.05f);
    EXPECT_EQ(params.top_k, 0);
    EXPECT_FALSE(params.seed.has_value());
}

TEST(SamplingParams, ThinkingModeForcesTheDefaultsButKeepsTheSeed) {
    const SamplingParams requested = params_with(0.2f, 5, 0.5f, 0.0f, 9);
    const SamplingParams thinking = apply_thinking_mode(requested, true);
    EXPECT_EQ(thinking.temperature, kDefaultTemperature);
    EXPECT_EQ(thinking.top_k, kDefaultTopK);
    EXPECT_EQ(thinking.top_p, kDefaultTopP);
    EXPECT_EQ(thinking.min_p, kDefaultMinP);
    EXPECT_EQ(thinking.seed, std::optional<uint64_t>(9));

    const SamplingParams plain = apply_thinking_mode(requested, false);
    EXPECT_EQ(plain.temperature, 0.2f);
    EXPECT_EQ(plain.top_k, 5);
    EXPECT_EQ(plain.top_p, 0.5f);
    EXPECT_EQ(plain.min_p, 0.0f);
}

TEST(SamplingParams, NormalisationFollowsTheReference) {
    EXPECT_EQ(normalized(params_with(1, 0, 0.0f, 0, 1)).top_p, 1.0f);
    EXPECT_EQ(normalized(params_with(1, 0, -0.5f, 0, 1)).top_p, 1.0f);
    EXPECT_EQ(normalized(params_with(1, 0, 1.5f, 0, 1)).top_p, 1.0f);
    EXPECT_EQ(normalized(params_with(1, 0, kNaN, 0, 1)).top_p, 1.0f);
    EXPECT_EQ(normalized(params_with(1, 0, 0.3f, 0, 1)).top_p, 0.3f);
    EXPECT_EQ(normalized(params_with(1, 0, 1, -0.1f, 1)).min_p, 0.0f);
    EXPECT_EQ(normalized(params_with(1, 0, 1, kNaN, 1)).min_p, 0.0f);
    EXPECT_EQ(normalized(params_with(1, 0, 1, 0.2f, 1)).min_p, 0.2f);
    EXPECT_EQ(normalized(params_with(1, 5000, 1, 0, 1)).top_k, kMaxTopK);
    EXPECT_EQ(normalized(params_with(1, -3, 1, 0, 1)).top_k, 0);
    EXPECT_EQ(normalized(params_with(-2, 0, 1, 0, 1)).temperature, -2.0f);
    // The sampler keeps the normalised values.
    EXPECT_EQ(Sampler(params_with(1, 0, 7.0f, -1.0f, 1)).params().top_p, 1.0f);
}

}  // namespace
}  // namespace dsv4::sampler
