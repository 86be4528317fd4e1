// Log-probabilities of one row of logits: the log-normaliser (log-sum-exp in double over the
// finite logits), the chosen token's log-probability and the top-N tokens. Owns nothing beyond
// the normaliser; must not modify the logits or choose tokens.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "engine/tokenizer/token_id.h"

namespace dsv4::sampler {

struct TokenLogProb {
    tokenizer::TokenId id = 0;
    float logit = 0.0f;
    // logit - log-normaliser, rounded to float as the reference reports it; -inf when the
    // token's own logit is not finite (an API layer must map that to a JSON-safe value).
    float logprob = 0.0f;
};

// The log-probabilities of the distribution softmax(logits) restricted to its finite entries,
// which is what the sampler's paths draw from at temperature 1 without filtering. Keeps a view of
// the logits, which must outlive it.
class RowLogProbs {
  public:
    explicit RowLogProbs(std::span<const float> logits);

    // False when no logit is finite; then every query below returns nothing.
    bool has_finite() const { return normalizer_.has_value(); }
    // log(sum over finite logits of exp(logit)), accumulated in double from the maximum.
    std::optional<double> log_normalizer() const { return normalizer_; }

    // nullopt for an id outside the row or a row without finite logits.
    std::optional<TokenLogProb> token(tokenizer::TokenId id) const;

    // Fills out with the out.size() largest finite logits, largest first and lower id first on
    // ties (the reference's order); returns how many were written, fewer when fewer logits are
    // finite. No allocation: out itself is the selection heap.
    size_t top(std::span<TokenLogProb> out) const;

  private:
    float logprob_of(float logit) const;

    std::span<const float> logits_;
    std::optional<double> normalizer_;
};

}  // namespace dsv4::sampler
