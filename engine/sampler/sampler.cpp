#include "engine/sampler/sampler.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace dsv4::sampler {
namespace {

// The reference's "minus infinity" in its max scans is this finite floor; values at or below it
// never win, which decides the results for rows without anything above it.
constexpr float kArgmaxFloor = -1.0e30f;
constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();
constexpr float kLn2 = 0.693147180559945f;
// A min_p cut-off is turned into a logit cut-off only when min_p is large enough that every
// quotient involved stays a normal float; smaller values compute every probability instead.
constexpr float kSmallestPrunedMinP = 1.0e-6f;
constexpr size_t kFirstSortedChunk = 64;

bool is_finite(float v) {
    return std::fabs(v) <= std::numeric_limits<float>::max();
}

uint64_t seed_from_os() {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) == static_cast<ssize_t>(sizeof seed)) return seed;
    // getrandom is missing only on very old kernels; a clock reading still separates requests.
    const auto ticks = std::chrono::high_resolution_clock::now().time_since_epoch().count();
    return static_cast<uint64_t>(ticks) * XorShift64Star::kOutputMultiplier;
}

// GCC vector extensions: four float lanes and their int32 positions, the width of baseline
// x86-64 registers, so the scan vectorises without per-ISA builds (wider types get split into
// scalar code there).
using FloatLanes = float __attribute__((vector_size(16)));
using IndexLanes = int32_t __attribute__((vector_size(16)));
constexpr size_t kLaneWidth = 4;
constexpr int32_t kFiniteExponentLimit = 0x7F800000;  // |bits| at or above: inf or NaN

struct ScanWinner {
    float value = kArgmaxFloor;  // kArgmaxFloor when nothing beat it
    TokenId index = 0;
};

// Keeps, per lane, the first position of the lane's largest value under a strict '>'.
template <bool kFiniteOnly>
struct LaneMaxima {
    FloatLanes values = FloatLanes{} + kArgmaxFloor;
    IndexLanes positions = IndexLanes{};

    void feed(const float* data, IndexLanes candidate_positions) {
        FloatLanes incoming;
        std::memcpy(&incoming, data, sizeof incoming);
        if constexpr (kFiniteOnly) {
            IndexLanes bits;
            std::memcpy(&bits, &incoming, sizeof bits);
            incoming = (bits & 0x7FFFFFFF) < kFiniteExponentLimit ? incoming : kArgmaxFloor;
        }
        const IndexLanes better = incoming > values;
        values = better ? incoming : values;
        positions = better ? candidate_positions : positions;
    }

    // Lanes merge by value, then by lower position on equal values (-0 == +0 included), which
    // is what one sequential strict '>' scan would have kept.
    void merge_into(ScanWinner& winner) const {
        for (size_t lane = 0; lane < kLaneWidth; ++lane) {
            const float value = values[lane];
            const TokenId position = positions[lane];
            if (value > winner.value ||
                (value == winner.value && value > kArgmaxFloor && position < winner.index)) {
                winner = {value, position};
            }
        }
    }
};

// The reference's argmax rule in one pass: strict '>' from the -1e30 floor, so the first of equal
// maxima wins and NaN never does; with kFiniteOnly, infinities are skipped too. Two independent
// lane sets keep the loop free of a single dependency chain.
template <bool kFiniteOnly>
ScanWinner scan_for_maximum(std::span<const float> logits) {
    const float* data = logits.data();
    const size_t blocked = logits.size() - logits.size() % (2 * kLaneWidth);
    LaneMaxima<kFiniteOnly> even;
    LaneMaxima<kFiniteOnly> odd;
    IndexLanes positions = {0, 1, 2, 3};
    const IndexLanes width = IndexLanes{} + static_cast<int32_t>(kLaneWidth);
    for (size_t i = 0; i < blocked; i += 2 * kLaneWidth) {
        even.feed(data + i, positions);
        odd.feed(data + i + kLaneWidth, positions + width);
        positions += width + width;
    }
    ScanWinner winner;
    even.merge_into(winner);
    odd.merge_into(winner);
    for (size_t i = blocked; i < logits.size(); ++i) {
        const float v = data[i];
        if (kFiniteOnly && !is_finite(v)) continue;
        if (v > winner.value) winner = {v, static_cast<TokenId>(i)};
    }
    return winner;
}

// Block filters for the sampling scans: most of a vocabulary is far below its top token, and
// testing four values at once lets the scalar loop body run only where something may pass.
bool starts_block(size_t i, size_t size) {
    return i % kLaneWidth == 0 && i + kLaneWidth <= size;
}

FloatLanes load_lanes(const float* data) {
    FloatLanes values;
    std::memcpy(&values, data, sizeof values);
    return values;
}

// Every (value - offset) below bound, computed exactly as the scalar loop does; NaN is not below.
bool all_gaps_below(const float* data, float offset, float bound) {
    const IndexLanes below = (load_lanes(data) - offset) < bound;
    return (below[0] & below[1] & below[2] & below[3]) != 0;
}

// No value strictly above bound (NaN never is).
bool none_above(const float* data, float bound) {
    const IndexLanes above = load_lanes(data) > bound;
    return (above[0] | above[1] | above[2] | above[3]) == 0;
}

struct FiniteRowSummary {
    bool any_finite = false;
    float max_logit = kArgmaxFloor;
    TokenId best = 0;
};

FiniteRowSummary summarize_finite(std::span<const float> logits) {
    const ScanWinner winner = scan_for_maximum<true>(logits);
    if (winner.value > kArgmaxFloor) return {true, winner.value, winner.index};
    return {std::any_of(logits.begin(), logits.end(), is_finite), kArgmaxFloor, 0};
}

// The scans below decide on the logit gap d = logit - max before paying for the division
// x = d / T and expf(x). This turns a cut-off on x into one on d: d below the result guarantees
// that d / T, rounded to float, is below x_cut (a relative margin of 1e-6 covers the rounding of
// the division), so a token may be skipped without ever computing its x. Returns -inf (skip
// nothing) where the margin argument fails: x_cut near 0, or NaN.
float gap_bound(float x_cut, float temperature) {
    if (!(std::fabs(x_cut) >= 1.0e-3f)) return kNegativeInfinity;
    const double scaled = static_cast<double>(x_cut) * static_cast<double>(temperature);
    const double bound = scaled - std::fabs(scaled) * 1.0e-6;
    float rounded = static_cast<float>(bound);
    if (static_cast<double>(rounded) > bound) rounded = std::nextafter(rounded, kNegativeInfinity);
    return rounded;
}

// The reference accumulates float sums over up to the whole vocabulary. A term below a quarter of
// the float spacing at the running value cannot change it, and expf(x) < 2^e * e^-19 < 2^(e-27)
// for x below e*ln2 - 19 when the value lies in [2^e, 2^(e+1)). Skipping those terms therefore
// leaves every sum and remainder bit-identical while avoiding most expf calls. The cut is kept
// as a logit gap (see gap_bound) and recomputed only when the value leaves its binade.
class NegligibleTermCut {
  public:
    NegligibleTermCut(float magnitude, float temperature) : temperature_(temperature) {
        reset(magnitude);
    }

    void update(float magnitude) {
        if (magnitude < binade_low_ || magnitude >= binade_high_) reset(magnitude);
    }
    float gap() const { return gap_; }

  private:
    void reset(float magnitude) {
        if (!(magnitude > 0.0f)) {
            gap_ = kNegativeInfinity;
            binade_low_ = kNegativeInfinity;
            binade_high_ = std::numeric_limits<float>::denorm_min();
            return;
        }
        const int exponent = std::ilogb(magnitude);
        binade_low_ = std::ldexp(1.0f, exponent);
        binade_high_ = std::ldexp(1.0f, exponent + 1);
        gap_ = gap_bound(static_cast<float>(exponent) * kLn2 - 19.0f, temperature_);
    }

    float temperature_;
    float gap_ = kNegativeInfinity;
    float binade_low_ = kNegativeInfinity;
    float binade_high_ = 0.0f;
};

// exp(x) < min_p / e for x below this, so such a token fails a min_p test by a wide margin.
float min_p_logit_cut(float min_p) {
    return min_p >= kSmallestPrunedMinP ? std::log(min_p) - 1.0f : kNegativeInfinity;
}

}  // namespace

TokenId argmax_token(std::span<const float> logits) {
    return scan_for_maximum<false>(logits).index;
}

Sampler::Sampler(const SamplingParams& params) {
    restart(params);
}

void Sampler::restart(const SamplingParams& params) {
    params_ = normalized(params);
    seed_ = params.seed ? *params.seed : seed_from_os();
    rng_ = XorShift64Star(seed_);
}

// The reference's shared tail: min_prob is relative to the first candidate, which always stays;
// later ones stop the scan at the first below it, and the scan also stops once the kept mass
// reaches top_p of the total. The draw walks the kept candidates in order.
template <typename ProbAt>
TokenId Sampler::filter_and_draw(size_t count, float total, ProbAt&& prob_at) {
    const float min_prob = (prob_at(0) / total) * params_.min_p;
    float kept_sum = 0.0f;
    size_t kept = 0;
    while (kept < count) {
        const float p = prob_at(kept);
        if (kept > 0 && p / total < min_prob) break;
        kept_sum += p;
        ++kept;
        if (kept_sum / total >= params_.top_p) break;
    }
    float remaining = rng_.uniform() * kept_sum;
    for (size_t i = 0; i < kept; ++i) {
        remaining -= scratch_[i].prob;
        if (remaining <= 0.0f) return scratch_[i].id;
    }
    return scratch_[kept - 1].id;
}

TokenId Sampler::sample(std::span<const float> logits, bool greedy_override) {
    if (logits.empty()) throw std::invalid_argument("sampler: empty logits row");
    if (logits.size() > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
        throw std::invalid_argument("sampler: logits row longer than the token id range");
    }
    if (greedy_override || params_.temperature <= 0.0f) return argmax_token(logits);
    if (params_.top_k <= 0) return sample_whole_vocabulary(logits);
    return sample_top_k(logits);
}

TokenId Sampler::sample_whole_vocabulary(std::span<const float> logits) {
    const FiniteRowSummary finite = summarize_finite(logits);
    if (!finite.any_finite) return argmax_token(logits);
    if (params_.top_p >= 1.0f) {
        return sample_min_p_in_id_order(logits, finite.max_logit, finite.best);
    }
    return sample_top_p_sorted(logits, finite.max_logit, finite.best);
}

// Tokens whose probability relative to the top one is below min_p are dropped; the draw walks
// the survivors in vocabulary order, as the reference does. The survivors go to scratch_ with
// their probabilities so the walk does not recompute them; those too small to change the sum are
// left uncomputed, and the walk computes one only if it could change the remainder.
TokenId Sampler::sample_min_p_in_id_order(std::span<const float> logits, float max_logit,
                                          TokenId fallback) {
    const float temperature = params_.temperature;
    const float min_p = params_.min_p;
    const float dropped_gap = gap_bound(min_p_logit_cut(min_p), temperature);
    if (scratch_.capacity() < logits.size()) scratch_.reserve(logits.size());
    scratch_.clear();

    float sum = 0.0f;
    NegligibleTermCut sum_cut(sum, temperature);
    const float* data = logits.data();
    for (size_t i = 0; i < logits.size(); ++i) {
        if (starts_block(i, logits.size()) && all_gaps_below(data + i, max_logit, dropped_gap)) {
            i += kLaneWidth - 1;
            continue;
        }
        const float v = data[i];
        const float gap = v - max_logit;
        if (gap < dropped_gap || !is_finite(v)) continue;
        const TokenId id = static_cast<TokenId>(i);
        if (gap < sum_cut.gap()) {
            scratch_.push_back({id, v, kProbNotComputed});
            continue;
        }
        const float p = std::exp(gap / temperature);
        if (p < min_p) continue;
        sum += p;
        sum_cut.update(sum);
        scratch_.push_back({id, v, p});
    }
    if (!(sum > 0.0f) || !is_finite(sum)) return fallback;

    // While the remainder is positive a skipped term would leave it positive, so no token before
    // the chosen one can be the answer; when it starts at zero the cut is -inf and nothing skips.
    float remaining = rng_.uniform() * sum;
    NegligibleTermCut walk_cut(remaining, temperature);
    for (Candidate& candidate : scratch_) {
        float p = candidate.prob;
        if (p == kProbNotComputed) {
            if (candidate.logit - max_logit < walk_cut.gap()) continue;
            p = candidate_prob(candidate, max_logit);
            if (p < min_p) continue;
        }
        remaining -= p;
        if (remaining <= 0.0f) return candidate.id;
        walk_cut.update(remaining);
    }
    return fallback;
}

// Candidates sorted by logit, kept while above min_p of the top one and until their mass
// reaches top_p. The reference sorts with qsort, which is not specified as stable: with a merge
// sort (glibc's usual choice) equal logits come out in id order as here, with another sort the
// order of exactly tied logits, and so a draw that lands among them, may differ.
TokenId Sampler::sample_top_p_sorted(std::span<const float> logits, float max_logit,
                                     TokenId fallback) {
    const float temperature = params_.temperature;
    // Only the top candidate is exempt from the min_p test, and its probability is exactly 1
    // unless every finite logit lies under the floor; there, and for min_p above e, nothing
    // may be pruned by logit alone.
    const float candidate_cut = max_logit > kArgmaxFloor
                                    ? std::min(min_p_logit_cut(params_.min_p), 0.0f)
                                    : kNegativeInfinity;
    if (scratch_.capacity() < logits.size()) scratch_.reserve(logits.size());
    scratch_.clear();

    const float candidate_gap = gap_bound(candidate_cut, temperature);
    float sum = 0.0f;
    NegligibleTermCut sum_cut(sum, temperature);
    const float* data = logits.data();
    for (size_t i = 0; i < logits.size(); ++i) {
        const float skip_gap = std::min(candidate_gap, sum_cut.gap());
        if (starts_block(i, logits.size()) && all_gaps_below(data + i, max_logit, skip_gap)) {
            i += kLaneWidth - 1;
            continue;
        }
        const float v = data[i];
        const float gap = v - max_logit;
        if (gap < skip_gap || !is_finite(v)) continue;
        float p = kProbNotComputed;
        if (!(gap < sum_cut.gap())) {
            p = std::exp(gap / temperature);
            sum += p;
            sum_cut.update(sum);
        }
        if (!(gap < candidate_gap)) scratch_.push_back({static_cast<TokenId>(i), v, p});
    }
    if (!(sum > 0.0f) || !is_finite(sum)) return fallback;

    size_t sorted_end = 0;
    return filter_and_draw(scratch_.size(), sum, [&](size_t index) {
        extend_sorted_prefix(index, sorted_end);
        return candidate_prob(scratch_[index], max_logit);
    });
}

TokenId Sampler::sample_top_k(std::span<const float> logits) {
    const size_t k = std::min(static_cast<size_t>(params_.top_k), logits.size());
    select_top_k(logits, k);
    if (scratch_.empty()) return argmax_token(logits);

    const float max_logit = scratch_.front().logit;
    float sum = 0.0f;
    for (Candidate& candidate : scratch_) {
        candidate.prob = std::exp((candidate.logit - max_logit) / params_.temperature);
        sum += candidate.prob;
    }
    if (!(sum > 0.0f) || !is_finite(sum)) return scratch_.front().id;
    return filter_and_draw(scratch_.size(), sum,
                           [this](size_t index) { return scratch_[index].prob; });
}

bool Sampler::ranks_before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The k best finite logits in ranks_before order: the reference's insertion sort keeps the
// earlier id on ties, and a heap whose front is its weakest member gives the same set.
void Sampler::select_top_k(std::span<const float> logits, size_t k) {
    const auto order = [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); };
    if (scratch_.capacity() < k) scratch_.reserve(k);
    scratch_.clear();
    if (k == 0) return;
    // Once the heap is full, a token must beat its weakest member; a later id with an equal
    // logit ranks after it, and NaN compares false, so both stay out.
    float weakest = kNegativeInfinity;
    const float* data = logits.data();
    for (size_t i = 0; i < logits.size(); ++i) {
        if (scratch_.size() == k && starts_block(i, logits.size()) &&
            none_above(data + i, weakest)) {
            i += kLaneWidth - 1;
            continue;
        }
        const float v = data[i];
        if (scratch_.size() == k && !(v > weakest)) continue;
        if (!is_finite(v)) continue;
        const Candidate candidate{static_cast<TokenId>(i), v, kProbNotComputed};
        if (scratch_.size() < k) {
            scratch_.push_back(candidate);
            std::push_heap(scratch_.begin(), scratch_.end(), order);
        } else {
            std::pop_heap(scratch_.begin(), scratch_.end(), order);
            scratch_.back() = candidate;
            std::push_heap(scratch_.begin(), scratch_.end(), order);
        }
        weakest = scratch_.front().logit;
    }
    std::sort_heap(scratch_.begin(), scratch_.end(), order);
}

void Sampler::extend_sorted_prefix(size_t index, size_t& sorted_end) {
    if (index < sorted_end) return;
    const size_t size = scratch_.size();
    const size_t new_end = std::min(size, std::max({index + 1, 2 * sorted_end, kFirstSortedChunk}));
    const auto first = scratch_.begin() + static_cast<std::ptrdiff_t>(sorted_end);
    const auto middle = scratch_.begin() + static_cast<std::ptrdiff_t>(new_end);
    const auto order = [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); };
    if (new_end < size) std::nth_element(first, middle, scratch_.end(), order);
    std::sort(first, middle, order);
    sorted_end = new_end;
}

float Sampler::candidate_prob(Candidate& candidate, float max_logit) const {
    if (candidate.prob == kProbNotComputed) {
        candidate.prob = std::exp((candidate.logit - max_logit) / params_.temperature);
    }
    return candidate.prob;
}

}  // namespace dsv4::sampler
