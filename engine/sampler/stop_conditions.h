// When generation ends and how much generated text may be streamed: the token budget, end-of-
// sequence ids and stop strings matched over the generated text. Owns the generated text and the
// stream cursor; must not sample, detokenize, or interpret reasoning or DSML structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/token_id.h"

namespace dsv4::sampler {

// The endings this module decides. Tool-call and error endings belong to the decode loop.
enum class FinishReason : uint8_t {
    Stop,    // an end-of-sequence token or a stop string
    Length,  // the token budget is spent (max_tokens, or the context is full)
};

// "stop" / "length", the OpenAI finish_reason values.
std::string_view finish_reason_name(FinishReason reason);

// The reference's budget: a negative request allows nothing, and no request may run past the
// context, so the budget is min(requested, context_room) clamped at 0.
int effective_max_tokens(int requested, int context_room);

struct StopStringMatch {
    size_t position = 0;    // byte offset of the match in the searched text
    size_t stop_index = 0;  // which stop string, in the order given
};

// A list of stop strings searched as raw bytes. Empty strings are dropped, as the reference does.
class StopStringSet {
  public:
    explicit StopStringSet(std::vector<std::string> stops);

    bool empty() const { return stops_.empty(); }
    size_t size() const { return stops_.size(); }
    const std::string& operator[](size_t index) const { return stops_[index]; }
    size_t longest() const { return longest_; }

    // The earliest match starting at or after `from`; on equal positions the first listed wins
    // (the cut is the same either way).
    std::optional<StopStringMatch> find_first(std::string_view text, size_t from) const;

    // Length of the longest suffix of text that is a proper prefix of some stop string: the
    // bytes that may still turn into a match and so must not be streamed yet.
    size_t partial_match_length(std::string_view text) const;

  private:
    std::vector<std::string> stops_;
    size_t longest_ = 0;
};

struct StopRules {
    int max_tokens = 0;  // see effective_max_tokens; <= 0 finishes before the first token
    std::vector<tokenizer::TokenId> end_of_sequence_ids;
    std::vector<std::string> stop_strings;
};

// Follows one generation. The decode loop calls accept() with each sampled token and its raw
// bytes until finished(), and streams what take_streamable() hands out.
//
// Stop strings are matched in the raw generated text (reasoning and DSML included), so they can
// span token boundaries; on a match the text is cut where the stop string starts and the stop
// string itself is never part of the output. While generating, the streamable prefix leaves out
// the longest tail that could still grow into a stop string, and then any UTF-8 character that
// the tail cut or that is still incomplete; nothing streamed is ever taken back. The reference
// holds back a fixed (longest stop - 1) bytes instead; the text streamed in total is the same.
class StopConditions {
  public:
    explicit StopConditions(StopRules rules);

    // Records the next sampled token. An end-of-sequence id finishes with Stop without adding
    // text or counting as a generated token (the reference's usage count); any other token adds
    // its bytes, then a completed stop string finishes with Stop, then a spent budget with
    // Length. Returns the finish reason if this token ended generation.
    // Throws std::logic_error once finished or released.
    std::optional<FinishReason> accept(tokenizer::TokenId token, std::string_view piece);

    // For endings decided elsewhere (a closed tool call, cancellation): nothing more will be
    // generated, so the held-back tail becomes streamable and accept() refuses further tokens.
    // finish_reason() stays empty.
    void release_held_text();

    bool finished() const { return finish_.has_value(); }
    std::optional<FinishReason> finish_reason() const { return finish_; }
    // The stop string that ended generation, as an index into the rules' non-empty stops.
    std::optional<size_t> matched_stop() const { return matched_stop_; }
    int generated_tokens() const { return generated_tokens_; }
    const StopStringSet& stop_strings() const { return stops_; }

    // Everything generated so far, cut before the stop string once one matched.
    std::string_view text() const { return text_; }
    // How many leading bytes of text() are safe to show now; never decreases.
    size_t streamable_length() const { return streamable_; }
    // The streamable bytes not handed out before.
    std::string_view take_streamable();

  private:
    size_t held_back_start() const;

    StopStringSet stops_;
    int max_tokens_;
    std::vector<tokenizer::TokenId> end_of_sequence_ids_;
    std::string text_;
    size_t streamable_ = 0;
    size_t streamed_ = 0;
    int generated_tokens_ = 0;
    bool released_ = false;
    std::optional<FinishReason> finish_;
    std::optional<size_t> matched_stop_;
};

// The largest cut at or before `limit` that does not split a UTF-8 character and does not end
// in an incomplete one; bytes that are not part of a well-started sequence count as complete,
// since no later byte can change how they display.
size_t utf8_safe_cut(std::string_view text, size_t limit);

}  // namespace dsv4::sampler
