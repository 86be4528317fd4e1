#include "engine/sampler/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dsv4::sampler {
namespace {

bool is_finite(float v) {
    return std::fabs(v) <= std::numeric_limits<float>::max();
}

bool ranks_before(const TokenLogProb& a, const TokenLogProb& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

}  // namespace

RowLogProbs::RowLogProbs(std::span<const float> logits) : logits_(logits) {
    bool any_finite = false;
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const float v : logits) {
        if (!is_finite(v)) continue;
        any_finite = true;
        max_logit = std::max(max_logit, v);
    }
    if (!any_finite) return;
    // Shifting by the maximum keeps every exponent <= 0, so the sum neither overflows nor
    // loses the largest terms; it is at least 1.
    double sum = 0.0;
    for (const float v : logits) {
        if (is_finite(v)) sum += std::exp(static_cast<double>(v) - static_cast<double>(max_logit));
    }
    normalizer_ = static_cast<double>(max_logit) + std::log(sum);
}

float RowLogProbs::logprob_of(float logit) const {
    if (!is_finite(logit)) return -std::numeric_limits<float>::infinity();
    return static_cast<float>(static_cast<double>(logit) - *normalizer_);
}

std::optional<TokenLogProb> RowLogProbs::token(tokenizer::TokenId id) const {
    if (!normalizer_ || id < 0 || static_cast<size_t>(id) >= logits_.size()) return std::nullopt;
    const float logit = logits_[static_cast<size_t>(id)];
    return TokenLogProb{id, logit, logprob_of(logit)};
}

size_t RowLogProbs::top(std::span<TokenLogProb> out) const {
    if (!normalizer_ || out.empty()) return 0;
    // A heap whose front is the weakest kept entry; a later id with an equal logit ranks after it.
    size_t size = 0;
    for (size_t i = 0; i < logits_.size(); ++i) {
        const float v = logits_[i];
        if (!is_finite(v)) continue;
        const TokenLogProb entry{static_cast<tokenizer::TokenId>(i), v, 0.0f};
        if (size < out.size()) {
            out[size++] = entry;
            std::push_heap(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(size),
                           ranks_before);
            continue;
        }
        if (!(v > out.front().logit)) continue;
        std::pop_heap(out.begin(), out.end(), ranks_before);
        out.back() = entry;
        std::push_heap(out.begin(), out.end(), ranks_before);
    }
    const auto end = out.begin() + static_cast<std::ptrdiff_t>(size);
    std::sort_heap(out.begin(), end, ranks_before);
    for (auto it = out.begin(); it != end; ++it) it->logprob = logprob_of(it->logit);
    return size;
}

}  // namespace dsv4::sampler
