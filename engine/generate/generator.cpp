#include "engine/generate/generator.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "engine/sampler/sampler.h"
#include "engine/sampler/stop_conditions.h"

namespace dsv4::generate {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

bool cancelled(const GenerateCallbacks& callbacks) {
    return callbacks.cancel_requested && callbacks.cancel_requested();
}

// Ids for tool calls the loop itself announces; the message projections issue their own.
class SequentialToolCallIds final : public chat::ToolCallIdSource {
  public:
    std::string next_id() override { return "call_" + std::to_string(next_++); }

  private:
    int next_ = 0;
};

// Everything one decode loop threads from token to token.
class DecodeSession {
  public:
    DecodeSession(const tokenizer::Tokenizer& tokenizer, const GenerateOptions& options,
                  int context_room, const GenerateCallbacks& callbacks)
        : tokenizer_(tokenizer),
          callbacks_(callbacks),
          sampler_(sampler::apply_thinking_mode(options.sampling, options.thinking)),
          stops_(sampler::StopRules{sampler::effective_max_tokens(options.max_tokens, context_room),
                                    {tokenizer.eos()},
                                    options.stop_strings}),
          parser_(
              chat::OutputParserOptions{options.thinking, options.tool_calls, options.tool_schemas},
              options.tool_call_ids ? *options.tool_call_ids : sequential_ids_),
          scripted_tokens_(options.scripted_tokens) {}

    bool budget_spent_before_start() const { return stops_.finished(); }

    // Samples from logits and passes the token through; returns the ending it caused, if any.
    std::optional<FinishReason> step(std::span<const float> logits, TokenId& sampled) {
        sampled = next_token(logits);
        if (callbacks_.on_token) callbacks_.on_token(sampled);
        const bool end_of_sequence = sampled == tokenizer_.eos();
        // Stop strings are matched in the raw bytes, as the reference does; the stop conditions
        // hold back incomplete UTF-8 and the parser replaces bytes that can never be valid.
        std::string_view piece;
        if (!end_of_sequence) {
            piece = tokenizer_.token_text(sampled);
            tokens_.push_back(sampled);
        } else {
            ended_with_end_of_sequence_ = true;
        }
        const std::optional<sampler::FinishReason> stop = stops_.accept(sampled, piece);
        forward_streamable();
        if (parser_.tool_calls_complete()) return FinishReason::ToolCalls;
        if (!stop) return std::nullopt;
        return *stop == sampler::FinishReason::Length ? FinishReason::Length : FinishReason::Stop;
    }

    GenerateResult finish(FinishReason reason) {
        if (!stops_.finished()) stops_.release_held_text();
        forward_streamable();
        const chat::GenerationEnd end = reason == FinishReason::Length ? chat::GenerationEnd::Length
                                                                       : chat::GenerationEnd::Stop;
        std::vector<chat::OutputEvent> events;
        parser_.finish(end, events);
        emit(events);
        GenerateResult result;
        result.finish = reason;
        result.generated_tokens = stops_.generated_tokens();
        result.tokens = std::move(tokens_);
        result.ended_with_end_of_sequence = ended_with_end_of_sequence_;
        result.text = std::string(stops_.text());
        result.output = parser_.result();
        return result;
    }

  private:
    TokenId next_token(std::span<const float> logits) {
        // The sampler still draws in script mode so that its random stream advances as usual.
        const TokenId drawn = sampler_.sample(logits, parser_.wants_greedy_sampling());
        if (!scripted_tokens_) return drawn;
        if (scripted_position_ >= scripted_tokens_->size()) return tokenizer_.eos();
        return (*scripted_tokens_)[scripted_position_++];
    }

    void forward_streamable() {
        const std::string_view ready = stops_.take_streamable();
        if (ready.empty()) return;
        std::vector<chat::OutputEvent> events;
        parser_.feed(ready, events);
        emit(events);
    }

    void emit(const std::vector<chat::OutputEvent>& events) {
        if (!callbacks_.on_output) return;
        for (const chat::OutputEvent& event : events) callbacks_.on_output(event);
    }

    const tokenizer::Tokenizer& tokenizer_;
    const GenerateCallbacks& callbacks_;
    sampler::Sampler sampler_;
    sampler::StopConditions stops_;
    SequentialToolCallIds sequential_ids_;
    chat::OutputParser parser_;
    const std::vector<TokenId>* scripted_tokens_;
    size_t scripted_position_ = 0;
    std::vector<TokenId> tokens_;
    bool ended_with_end_of_sequence_ = false;
};

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::ToolCalls:
            return "tool_calls";
        case FinishReason::Cancelled:
            return "cancelled";
    }
    return "stop";
}

double GenerateResult::prefill_tokens_per_second() const {
    const int64_t fed = prompt_tokens - cached_tokens;
    return prefill_seconds > 0 ? static_cast<double>(fed) / prefill_seconds : 0.0;
}

double GenerateResult::decode_tokens_per_second() const {
    return decode_seconds > 0 ? static_cast<double>(tokens.size()) / decode_seconds : 0.0;
}

Generator::Generator(const forward::LoadedModel& model, backend::Backend& backend,
                     tokenizer::Tokenizer tokenizer, GeneratorConfig config)
    : tokenizer_(std::move(tokenizer)),
      config_(config),
      forward_(model, backend, config.forward),
      state_(model.config, backend, config.context_tokens) {
    if (config_.prefill_chunk_tokens <= 0) config_.prefill_chunk_tokens = 1;
}

void Generator::reset() {
    state_.reset();
    last_logits_.clear();
}

int64_t Generator::live_prefix_tokens(std::span<const TokenId> prompt_tokens) const {
    const std::span<const int32_t> live = state_.tokens();
    const bool extends_live =
        live.size() <= prompt_tokens.size() &&
        std::equal(live.begin(), live.end(), prompt_tokens.begin()) &&
        // A prompt equal to the live tokens still needs the logits of its last position.
        (live.size() < prompt_tokens.size() || !last_logits_.empty());
    return extends_live ? static_cast<int64_t>(live.size()) : 0;
}

int64_t Generator::reuse_live_prefix(std::span<const TokenId> prompt_tokens) {
    restored_tokens_ = restore_from_cache(prompt_tokens, live_prefix_tokens(prompt_tokens));
    if (restored_tokens_ > 0) return restored_tokens_;
    // A failed restore may have reset the state: look again. The state cannot be rolled back to
    // an earlier position, so a prompt that leaves the live tokens anywhere starts over.
    const int64_t live_tokens = live_prefix_tokens(prompt_tokens);
    if (live_tokens == 0) reset();
    return live_tokens;
}

int64_t Generator::restore_from_cache(std::span<const TokenId> prompt_tokens, int64_t live_tokens) {
    if (!config_.prefix_cache) return 0;
    PrefixCache::Restored restored =
        config_.prefix_cache->restore_longest(prompt_tokens, live_tokens, state_);
    if (restored.tokens > 0) last_logits_ = std::move(restored.logits);
    return restored.tokens;
}

bool Generator::prefill_from(std::span<const TokenId> prompt_tokens, int64_t from,
                             const GenerateCallbacks& callbacks) {
    const auto total = static_cast<int64_t>(prompt_tokens.size());
    PrefixCache* cache = config_.prefix_cache;
    const int64_t block = cache ? cache->block_tokens() : 0;
    for (int64_t done = from; done < total;) {
        if (cancelled(callbacks)) return false;
        int64_t n = std::min(config_.prefill_chunk_tokens, total - done);
        // Chunks end on block boundaries so that the cache sees the state at each of them.
        if (block > 0) n = std::min(n, block - done % block);
        const bool last_chunk = done + n == total;
        // Logits that would not belong to the state's last position are stale: drop them first
        // so that an exception midway cannot leave them looking current.
        last_logits_.clear();
        std::vector<float> logits = forward_.prefill(
            state_, prompt_tokens.subspan(static_cast<size_t>(done), static_cast<size_t>(n)),
            last_chunk ? forward::LogitRows::Last : forward::LogitRows::None);
        if (last_chunk) last_logits_ = std::move(logits);
        done += n;
        if (block > 0 && done % block == 0) cache->offer_block(state_);
        if (callbacks.on_prefill_progress) callbacks.on_prefill_progress(done, total);
    }
    return true;
}

GenerateResult Generator::generate(std::span<const TokenId> prompt_tokens,
                                   const GenerateOptions& options,
                                   const GenerateCallbacks& callbacks) {
    const auto prompt_size = static_cast<int64_t>(prompt_tokens.size());
    if (prompt_size == 0) throw GenerateError("the prompt holds no tokens");
    // As in the reference, a prompt must leave room for at least one generated token.
    if (prompt_size >= state_.context_tokens())
        throw GenerateError("the prompt's " + std::to_string(prompt_size) +
                            " tokens leave no room in the context of " +
                            std::to_string(state_.context_tokens()));
    for (const TokenId token : prompt_tokens)
        if (!tokenizer_.contains(token))
            throw GenerateError("token id " + std::to_string(token) + " is outside the vocabulary");

    const int64_t cached = reuse_live_prefix(prompt_tokens);
    const Clock::time_point prefill_start = Clock::now();
    const bool prefilled = prefill_from(prompt_tokens, cached, callbacks);
    const double prefill_seconds = seconds_since(prefill_start);

    const int context_room =
        static_cast<int>(std::min<int64_t>(state_.context_tokens() - prompt_size, INT32_MAX));
    DecodeSession session(tokenizer_, options, context_room, callbacks);
    const Clock::time_point decode_start = Clock::now();
    std::optional<FinishReason> finish;
    if (!prefilled) finish = FinishReason::Cancelled;
    if (!finish && session.budget_spent_before_start()) finish = FinishReason::Length;
    // The prompt's end is where the next request most likely resumes. It is offered once the
    // first token is out (serializing it must not delay that token) and before the state moves.
    PrefixCache* const cache = config_.prefix_cache;
    bool offer_prompt_end = cache && prefilled && cached < prompt_size;
    auto offer_prompt_end_once = [&] {
        if (offer_prompt_end) cache->offer_resume_point(state_, last_logits_);
        offer_prompt_end = false;
    };
    while (!finish) {
        if (cancelled(callbacks)) {
            finish = FinishReason::Cancelled;
            break;
        }
        TokenId sampled = 0;
        finish = session.step(last_logits_, sampled);
        offer_prompt_end_once();
        if (finish) break;
        last_logits_.clear();
        last_logits_ = forward_.decode(state_, sampled);
        // Generated text comes back as the next prompt: its blocks are stored too.
        if (cache && state_.position() % cache->block_tokens() == 0) cache->offer_block(state_);
    }
    offer_prompt_end_once();
    // Generated text comes back in the next prompt: its end is a resume point too.
    if (cache && state_.position() > prompt_size) cache->offer_resume_point(state_, last_logits_);
    GenerateResult result = session.finish(*finish);
    result.prompt_tokens = prompt_size;
    result.cached_tokens = cached;
    result.restored_tokens = restored_tokens_;
    result.prefill_seconds = prefill_seconds;
    result.decode_seconds = seconds_since(decode_start);
    return result;
}

}  // namespace dsv4::generate
