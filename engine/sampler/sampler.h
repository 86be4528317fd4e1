// Token selection from one row of logits: greedy, temperature, top-k, top-p and min-p, drawing
// from the reference engine's xorshift* stream so that a seed replays the reference's choices.
// Owns its parameters, its RNG state and a reusable scratch buffer; must not touch the logits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampler/sampling_params.h"
#include "engine/sampler/xorshift_rng.h"
#include "engine/tokenizer/token_id.h"

namespace dsv4::sampler {

using tokenizer::TokenId;

// First index holding the largest value, comparing with a strict '>' from a floor of -1e30 as
// the reference does: NaN never wins, +inf does, and a row with nothing above -1e30 gives 0.
TokenId argmax_token(std::span<const float> logits);

// One sampler per generation. Not thread-safe; cheap to restart for the next request.
//
// Non-finite logits: the sampling paths ignore NaN and +-inf. The greedy path compares
// everything, so a +inf logit is chosen there, exactly as in the reference. A row without any
// finite logit falls back to the greedy rule (first +inf, else id 0) without drawing.
class Sampler {
  public:
    explicit Sampler(const SamplingParams& params);

    // New parameters and a new seed (the OS's if none is given); scratch memory is kept.
    void restart(const SamplingParams& params);

    // Picks the next token. greedy_override selects argmax_token whatever the parameters, as
    // the decode loop needs while generation is inside DSML tool-call structure. The RNG
    // advances once for each draw that is actually sampled, never for greedy or degenerate rows,
    // matching the reference so that seeded sequences stay aligned with it.
    // Throws std::invalid_argument for an empty row.
    TokenId sample(std::span<const float> logits, bool greedy_override = false);

    const SamplingParams& params() const { return params_; }  // normalised
    uint64_t seed() const { return seed_; }
    uint64_t rng_state() const { return rng_.state(); }

  private:
    struct Candidate {
        TokenId id;
        float logit;
        float prob;  // exp((logit - max) / T), or kProbNotComputed until it is needed
    };
    static constexpr float kProbNotComputed = -1.0f;
    // The deterministic order of the sorted paths: higher logit first, lower id on ties.
    static bool ranks_before(const Candidate& a, const Candidate& b);

    // max_logit is the row's largest finite logit (floored at -1e30) and fallback the token the
    // reference returns when a draw degenerates (its first occurrence, or 0 under the floor).
    TokenId sample_whole_vocabulary(std::span<const float> logits);
    TokenId sample_min_p_in_id_order(std::span<const float> logits, float max_logit,
                                     TokenId fallback);
    TokenId sample_top_p_sorted(std::span<const float> logits, float max_logit, TokenId fallback);
    TokenId sample_top_k(std::span<const float> logits);
    void select_top_k(std::span<const float> logits, size_t k);
    // Sorts scratch_[sorted_end, ...) far enough that position index is in its final place.
    void extend_sorted_prefix(size_t index, size_t& sorted_end);
    float candidate_prob(Candidate& candidate, float max_logit) const;
    template <typename ProbAt>
    TokenId filter_and_draw(size_t count, float total, ProbAt&& prob_at);

    SamplingParams params_;
    uint64_t seed_ = 0;
    XorShift64Star rng_{0};
    std::vector<Candidate> scratch_;
};

}  // namespace dsv4::sampler
