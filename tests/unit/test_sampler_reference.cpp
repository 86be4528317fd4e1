// The optimised sampler against a literal model of the spec's sampling rules (model spec §7):
// whole-vocabulary loops, every probability computed with expf, a full stable sort, an insertion
// top-k. Same seed and logits must give the same token and the same RNG state, draw by draw,
// over rows built to reach every shortcut the sampler takes (far-below tokens, tiny early sums,
// ties, non-finite values, a real-size vocabulary).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "engine/sampler/sampler.h"

namespace dsv4::sampler {
namespace {

struct SpecRng {
    uint64_t state;
    float uniform() {
        uint64_t x = state == 0 ? 0x9E3779B97F4A7C15ULL : state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state = x;
        const uint64_t out = x * 0x2545F4914F6CDD1DULL;
        return static_cast<float>((out >> 40) & 0xFFFFFFu) / 16777216.0f;
    }
};

struct SpecSettings {
    float temperature;
    int top_k;
    float top_p;
    float min_p;
};

struct SpecEntry {
    int id;
    float logit;
    float prob;
};

int spec_argmax(const std::vector<float>& logits) {
    int best = 0;
    float best_value = -1.0e30f;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (logits[i] > best_value) {
            best_value = logits[i];
            best = static_cast<int>(i);
        }
    }
    return best;
}

// Sorted entries: keep the first, then while above min_p of the first and until the kept mass
// reaches top_p; draw r = u * kept mass walking the kept entries.
int spec_sorted_draw(const std::vector<SpecEntry>& sorted, float sum, const SpecSettings& s,
                     SpecRng& rng) {
    const float min_prob = (sorted[0].prob / sum) * s.min_p;
    float kept_mass = 0.0f;
    size_t kept = 0;
    for (size_t i = 0; i < sorted.size(); ++i) {
        if (i > 0 && sorted[i].prob / sum < min_prob) break;
        kept_mass += sorted[i].prob;
        kept = i + 1;
        if (kept_mass / sum >= s.top_p) break;
    }
    float r = rng.uniform() * kept_mass;
    for (size_t i = 0; i < kept; ++i) {
        r -= sorted[i].prob;
        if (r <= 0.0f) return sorted[i].id;
    }
    return sorted[kept - 1].id;
}

int spec_whole_vocabulary(const std::vector<float>& logits, const SpecSettings& s, SpecRng& rng) {
    float max_logit = -1.0e30f;
    int best = 0;
    bool any_finite = false;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (!std::isfinite(logits[i])) continue;
        any_finite = true;
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            best = static_cast<int>(i);
        }
    }
    if (!any_finite) return spec_argmax(logits);
    std::vector<SpecEntry> entries;
    float sum = 0.0f;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (!std::isfinite(logits[i])) continue;
        const float p = std::exp((logits[i] - max_logit) / s.temperature);
        if (s.top_p >= 1.0f && p < s.min_p) continue;
        entries.push_back({static_cast<int>(i), logits[i], p});
        sum += p;
    }
    if (!(sum > 0.0f) || !std::isfinite(sum)) return best;
    if (s.top_p >= 1.0f) {
        float r = rng.uniform() * sum;
        for (const SpecEntry& e : entries) {
            r -= e.prob;
            if (r <= 0.0f) return e.id;
        }
        return best;
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const SpecEntry& a, const SpecEntry& b) { return a.logit > b.logit; });
    return spec_sorted_draw(entries, sum, s, rng);
}

int spec_top_k(const std::vector<float>& logits, const SpecSettings& s, SpecRng& rng) {
    const size_t k = std::min(static_cast<size_t>(s.top_k), logits.size());
    std::vector<SpecEntry> kept;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float v = logits[i];
        if (!std::isfinite(v)) continue;
        if (kept.size() == k && v <= kept.back().logit) continue;
        if (kept.size() == k) kept.pop_back();
        auto position = kept.begin();
        while (position != kept.end() && position->logit >= v) ++position;
        kept.insert(position, SpecEntry{static_cast<int>(i), v, 0.0f});
    }
    if (kept.empty()) return spec_argmax(logits);
    float sum = 0.0f;
    for (SpecEntry& e : kept) {
        e.prob = std::exp((e.logit - kept[0].logit) / s.temperature);
        sum += e.prob;
    }
    if (!(sum > 0.0f) || !std::isfinite(sum)) return kept[0].id;
    return spec_sorted_draw(kept, sum, s, rng);
}

int spec_sample(const std::vector<float>& logits, SpecSettings s, SpecRng& rng) {
    if (s.temperature <= 0.0f) return spec_argmax(logits);
    if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) s.top_p = 1.0f;
    if (!(s.min_p >= 0.0f)) s.min_p = 0.0f;
    if (s.top_k <= 0) return spec_whole_vocabulary(logits, s, rng);
    s.top_k = std::min(s.top_k, 1024);
    return spec_top_k(logits, s, rng);
}

enum class RowKind { Normal, Wide, LateMaximum, Ties, NonFinite, Flat, BelowFloor };

std::vector<float> make_row(RowKind kind, size_t size, std::mt19937_64& gen) {
    std::normal_distribution<float> normal(0.0f, kind == RowKind::Wide ? 15.0f : 3.0f);
    std::vector<float> row(size);
    for (float& v : row) {
        v = normal(gen);
        if (kind == RowKind::LateMaximum) v -= 60.0f;
        if (kind == RowKind::Ties) v = static_cast<float>(gen() % 5);
        if (kind == RowKind::Flat) v *= 0.01f;
        // At or under the reference's -1e30 argmax floor: its max scans never leave the floor.
        if (kind == RowKind::BelowFloor) v = gen() % 7 == 0 ? -1.0e30f : -1.0e30f * (2.0f + v * v);
        if (kind == RowKind::NonFinite && gen() % 40 == 0) {
            const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                                      std::numeric_limits<float>::infinity(),
                                      -std::numeric_limits<float>::infinity()};
            v = specials[gen() % 3];
        }
    }
    // Every probability before the last id is far below 1, so the running sums start tiny.
    if (kind == RowKind::LateMaximum) row.back() = 10.0f;
    return row;
}

void expect_same_draws(const std::vector<float>& row, const SpecSettings& s, uint64_t seed,
                       int draws) {
    SamplingParams params;
    params.temperature = s.temperature;
    params.top_k = s.top_k;
    params.top_p = s.top_p;
    params.min_p = s.min_p;
    params.seed = seed;
    Sampler sampler(params);
    SpecRng rng{seed};
    for (int d = 0; d < draws; ++d) {
        const int expected = spec_sample(row, s, rng);
        ASSERT_EQ(sampler.sample(row), expected)
            << "T " << s.temperature << " k " << s.top_k << " top_p " << s.top_p << " min_p "
            << s.min_p << " draw " << d;
        ASSERT_EQ(sampler.rng_state(), rng.state);
    }
}

TEST(SamplerReference, SameTokensAsTheSpecModelOnVariedRows) {
    std::mt19937_64 gen(20240601);
    const RowKind kinds[] = {RowKind::Normal,    RowKind::Wide, RowKind::LateMaximum, RowKind::Ties,
                             RowKind::NonFinite, RowKind::Flat, RowKind::BelowFloor};
    const float temperatures[] = {0.0f, 1.0e-6f, 0.4f, 1.0f, 1.7f, 50.0f};
    const int top_ks[] = {0, 1, 9, 1500};
    const float top_ps[] = {1.0f, 0.95f, 0.4f};
    const float min_ps[] = {0.0f, 0.05f, 1e-9f, 0.5f};
    for (const RowKind kind : kinds) {
        const std::vector<float> row = make_row(kind, 500 + gen() % 700, gen);
        for (const float t : temperatures) {
            for (const int k : top_ks) {
                for (const float p : top_ps) {
                    for (const float m : min_ps) expect_same_draws(row, {t, k, p, m}, gen(), 3);
                }
            }
        }
    }
}

TEST(SamplerReference, SameTokensOnAFullSizeVocabulary) {
    std::mt19937_64 gen(77);
    const std::vector<float> row = make_row(RowKind::Normal, 129280, gen);
    expect_same_draws(row, {1.0f, 0, 1.0f, 0.05f}, 1, 10);  // the defaults
    expect_same_draws(row, {0.8f, 0, 1.0f, 0.0f}, 2, 10);
    expect_same_draws(row, {0.7f, 0, 0.9f, 0.0f}, 3, 4);
    expect_same_draws(row, {1.0f, 0, 0.9f, 0.05f}, 4, 4);
    expect_same_draws(row, {0.9f, 50, 0.95f, 0.02f}, 5, 10);
}

}  // namespace
}  // namespace dsv4::sampler
