#include "engine/sampler/stop_conditions.h"

#include <algorithm>
#include <stdexcept>

namespace dsv4::sampler {
namespace {

bool is_continuation_byte(unsigned char byte) {
    return (byte & 0xC0u) == 0x80u;
}

// How many bytes a lead byte announces; 1 for ASCII and for bytes that cannot start a
// well-formed sequence (stray continuations, C0/C1, F5..FF), which never wait for more.
size_t announced_length(unsigned char lead) {
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 1;
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
    }
    return "stop";
}

int effective_max_tokens(int requested, int context_room) {
    return std::max(0, std::min(requested, context_room));
}

size_t utf8_safe_cut(std::string_view text, size_t limit) {
    limit = std::min(limit, text.size());
    if (limit == 0) return 0;
    // The character holding the last byte before the cut starts at most three bytes back.
    size_t lead = limit - 1;
    size_t continuations = 0;
    while (lead > 0 && continuations < 3 &&
           is_continuation_byte(static_cast<unsigned char>(text[lead]))) {
        --lead;
        ++continuations;
    }
    const size_t length = announced_length(static_cast<unsigned char>(text[lead]));
    // Bytes after the lead that are not continuations would make the sequence ill-formed, and
    // then it is complete as far as streaming goes.
    if (length == 1 || length <= continuations) return limit;
    return lead + length > limit ? lead : limit;
}

StopStringSet::StopStringSet(std::vector<std::string> stops) {
    for (std::string& stop : stops) {
        if (stop.empty()) continue;
        longest_ = std::max(longest_, stop.size());
        stops_.push_back(std::move(stop));
    }
}

std::optional<StopStringMatch> StopStringSet::find_first(std::string_view text, size_t from) const {
    std::optional<StopStringMatch> best;
    for (size_t i = 0; i < stops_.size(); ++i) {
        const size_t position = text.find(stops_[i], from);
        if (position == std::string_view::npos) continue;
        if (!best || position < best->position) best = StopStringMatch{position, i};
    }
    return best;
}

size_t StopStringSet::partial_match_length(std::string_view text) const {
    size_t best = 0;
    for (const std::string& stop : stops_) {
        const size_t longest_candidate = std::min(stop.size() - 1, text.size());
        for (size_t length = longest_candidate; length > best; --length) {
            if (text.ends_with(std::string_view(stop).substr(0, length))) {
                best = length;
                break;
            }
        }
    }
    return best;
}

StopConditions::StopConditions(StopRules rules)
    : stops_(std::move(rules.stop_strings)),
      max_tokens_(rules.max_tokens),
      end_of_sequence_ids_(std::move(rules.end_of_sequence_ids)) {
    if (max_tokens_ <= 0) finish_ = FinishReason::Length;
}

std::optional<FinishReason> StopConditions::accept(tokenizer::TokenId token,
                                                   std::string_view piece) {
    if (finished() || released_) {
        throw std::logic_error("stop conditions: token after the end of generation");
    }
    if (std::find(end_of_sequence_ids_.begin(), end_of_sequence_ids_.end(), token) !=
        end_of_sequence_ids_.end()) {
        finish_ = FinishReason::Stop;
        streamable_ = text_.size();
        return finish_;
    }

    const size_t old_size = text_.size();
    text_.append(piece);
    ++generated_tokens_;
    // No match ended inside the old text, so a new one starts at most longest - 1 bytes before
    // its end.
    const size_t overlap = stops_.longest() > 0 ? stops_.longest() - 1 : 0;
    const size_t from = old_size > overlap ? old_size - overlap : 0;
    if (const auto match = stops_.find_first(text_, from)) {
        text_.resize(match->position);
        matched_stop_ = match->stop_index;
        finish_ = FinishReason::Stop;
    } else if (generated_tokens_ >= max_tokens_) {
        finish_ = FinishReason::Length;
    }
    streamable_ = std::max(streamable_, held_back_start());
    return finish_;
}

void StopConditions::release_held_text() {
    released_ = true;
    streamable_ = text_.size();
}

size_t StopConditions::held_back_start() const {
    if (finished() || released_) return text_.size();
    const size_t partial = stops_.partial_match_length(text_);
    return utf8_safe_cut(text_, text_.size() - partial);
}

std::string_view StopConditions::take_streamable() {
    const std::string_view delta =
        std::string_view(text_).substr(streamed_, streamable_ - streamed_);
    streamed_ = streamable_;
    return delta;
}

}  // namespace dsv4::sampler
