// Distribution sanity for each sampling path (whole vocabulary, min_p, top_k, top_p): 20000
// seeded draws from a small known distribution pass Pearson's chi-square test at the 0.999
// quantile, tokens the filter removes never appear, and a deliberately wrong expectation fails
// the same test, which shows the test can tell distributions apart. Seeds are fixed, so the
// outcome is deterministic.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/sampler/sampler.h"

namespace dsv4::sampler {
namespace {

constexpr int kDraws = 20000;

// Upper 0.999 quantiles of the chi-square distribution, by degrees of freedom (1..6).
double chi_square_999(size_t degrees_of_freedom) {
    static constexpr double kQuantiles[] = {10.828, 13.816, 16.266, 18.467, 20.515, 22.458};
    return kQuantiles[degrees_of_freedom - 1];
}

const std::vector<float> kLogits{1.0f, 2.0f, 0.0f, 1.5f, -1.0f, 0.5f};

// Softmax over the tokens in `kept` at temperature t, computed in double from the spec's
// definition; other tokens get 0.
std::vector<double> softmax_over(const std::vector<float>& logits, double temperature,
                                 const std::vector<int>& kept) {
    std::vector<double> expected(logits.size(), 0.0);
    double total = 0.0;
    for (const int id : kept) {
        expected[id] = std::exp(logits[id] / temperature);
        total += expected[id];
    }
    for (double& p : expected) p /= total;
    return expected;
}

std::vector<int> count_draws(const SamplingParams& params) {
    Sampler sampler(params);
    std::vector<int> counts(kLogits.size(), 0);
    for (int i = 0; i < kDraws; ++i) ++counts[sampler.sample(kLogits)];
    return counts;
}

// Pearson's statistic over the tokens with a positive expectation; a draw of a token expected
// never to appear makes the statistic infinite.
double chi_square(const std::vector<int>& counts, const std::vector<double>& expected) {
    double statistic = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
        const double e = expected[i] * kDraws;
        if (e == 0.0) {
            if (counts[i] != 0) return INFINITY;
            continue;
        }
        statistic += (counts[i] - e) * (counts[i] - e) / e;
    }
    return statistic;
}

size_t degrees_of_freedom(const std::vector<double>& expected) {
    size_t support = 0;
    for (const double p : expected) support += p > 0.0 ? 1 : 0;
    return support - 1;
}

void expect_matches(const SamplingParams& params, const std::vector<double>& expected,
                    const std::vector<double>& wrong) {
    const std::vector<int> counts = count_draws(params);
    const double limit = chi_square_999(degrees_of_freedom(expected));
    EXPECT_LT(chi_square(counts, expected), limit);
    EXPECT_GT(chi_square(counts, wrong), chi_square_999(degrees_of_freedom(wrong)));
}

SamplingParams make_params(float temperature, int top_k, float top_p, float min_p, uint64_t seed) {
    SamplingParams params;
    params.temperature = temperature;
    params.top_k = top_k;
    params.top_p = top_p;
    params.min_p = min_p;
    params.seed = seed;
    return params;
}

TEST(SamplerDistribution, WholeVocabularyIsTheTemperedSoftmax) {
    const std::vector<int> all{0, 1, 2, 3, 4, 5};
    // The wrong expectation forgets the temperature.
    expect_matches(make_params(0.8f, 0, 1.0f, 0.0f, 101), softmax_over(kLogits, 0.8, all),
                   softmax_over(kLogits, 1.0, all));
}

TEST(SamplerDistribution, MinPRemovesTokensBelowItsShareOfTheTop) {
    // Relative to the top logit 2: exp(-1)=0.37, exp(-0.5)=0.61, exp(-1.5)=0.22 stay above
    // min_p 0.2; exp(-2)=0.135 and exp(-3)=0.05 go.
    const std::vector<int> kept{0, 1, 3, 5};
    const std::vector<int> all{0, 1, 2, 3, 4, 5};
    expect_matches(make_params(1.0f, 0, 1.0f, 0.2f, 202), softmax_over(kLogits, 1.0, kept),
                   softmax_over(kLogits, 1.0, all));
}

TEST(SamplerDistribution, TopKRenormalisesOverTheKBest) {
    const std::vector<int> best_three{1, 3, 0};
    // The wrong expectation keeps the right tokens with the untempered weights.
    expect_matches(make_params(0.7f, 3, 1.0f, 0.0f, 303), softmax_over(kLogits, 0.7, best_three),
                   softmax_over(kLogits, 1.0, best_three));
}

TEST(SamplerDistribution, TopPKeepsTheSmallestPrefixReachingP) {
    // Softmax shares at T = 1 in logit order: 0.420 (id 1), 0.255 (3), 0.154 (0), 0.094 (5),
    // 0.057 (2), 0.021 (4). top_p 0.75 needs the first three (0.674 < 0.75 after two).
    const std::vector<int> kept{1, 3, 0};
    const std::vector<int> one_more{1, 3, 0, 5};
    expect_matches(make_params(1.0f, 0, 0.75f, 0.0f, 404), softmax_over(kLogits, 1.0, kept),
                   softmax_over(kLogits, 1.0, one_more));
}

TEST(SamplerDistribution, TopPWithMinPOnTheSortedPath) {
    // top_p 0.95 alone would keep five tokens (0.922 after four); min_p 0.3 of the top share
    // (0.126) stops at id 5 (0.094).
    const std::vector<int> kept{1, 3, 0};
    const std::vector<int> top_p_only{1, 3, 0, 5, 2};
    expect_matches(make_params(1.0f, 0, 0.95f, 0.3f, 505), softmax_over(kLogits, 1.0, kept),
                   softmax_over(kLogits, 1.0, top_p_only));
}

TEST(SamplerDistribution, TopKWithTopPAndMinP) {
    // k = 5 drops id 4; within those five the shares are 0.429 (id 1), 0.260 (3), 0.158 (0),
    // 0.096 (5), 0.058 (2). top_p 0.9 alone keeps four (0.846 after three); min_p 0.25 of the
    // top share (0.107) then drops id 5.
    const std::vector<int> kept{1, 3, 0};
    const std::vector<int> top_p_only{1, 3, 0, 5};
    expect_matches(make_params(1.0f, 5, 0.9f, 0.25f, 606), softmax_over(kLogits, 1.0, kept),
                   softmax_over(kLogits, 1.0, top_p_only));
}

}  // namespace
}  // namespace dsv4::sampler
