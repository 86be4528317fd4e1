#include "server/generation_job.h"

#include <algorithm>
#include <ctime>

#include "engine/common/json.h"
#include "engine/common/log.h"

namespace dsv4::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string error_event(std::string_view message) {
    json::Writer w;
    w.begin_object().key("error").begin_object();
    w.key("message").string(message).key("type").string("server_error");
    w.end_object().end_object();
    return chat::sse_event(w.take(), "error");
}

chat::ResponseMeta response_meta(const chat::MappedRequest& mapped, std::string_view prefix) {
    chat::ResponseMeta meta;
    meta.id = std::string(prefix) + chat::random_hex(12);
    meta.model = mapped.options.model;
    meta.created = static_cast<int64_t>(std::time(nullptr));
    return meta;
}

void send_all(Exchange& exchange, const std::vector<std::string>& payloads) {
    std::string bytes;
    for (const std::string& payload : payloads) bytes += chat::sse_event(payload);
    if (!bytes.empty()) exchange.send(std::move(bytes));
}

HttpResponse json_answer(std::string body) {
    HttpResponse response;
    response.body = std::move(body);
    if (response.body.empty() || response.body.back() != '\n') response.body += '\n';
    return response;
}

// What every endpoint's writer shares: whether it streams, the error answer, and feeding
// events through an endpoint's chunk builder.
class WriterBase : public ResponseWriter {
  public:
    explicit WriterBase(bool stream) : stream_(stream) {}
    void fail(std::string_view message, Exchange& exchange) override {
        if (!stream_) return exchange.respond(error_response(500, message));
        exchange.send(error_event(message));
        exchange.end();
    }

  protected:
    template <class Chunks>
    void add_to(Chunks& chunks, const chat::OutputEvent& event, Exchange& exchange) {
        if (!stream_) return;
        std::vector<std::string> payloads;
        chunks.add({event}, payloads);
        send_all(exchange, payloads);
    }
    template <class Chunks>
    void finish_stream(Chunks& chunks, chat::FinishReason reason, const chat::TokenUsage& usage,
                       Exchange& exchange) {
        std::vector<std::string> payloads;
        chunks.finish(reason, usage, payloads);
        send_all(exchange, payloads);
        exchange.end();
    }
    bool stream_;
};

class ChatWriter final : public WriterBase {
  public:
    ChatWriter(const chat::MappedRequest& mapped, bool reasoning_alias)
        : WriterBase(mapped.options.stream),
          options_{reasoning_alias},
          meta_(response_meta(mapped, "chatcmpl-")),
          chunks_(meta_, mapped.options.include_usage, options_) {}
    void open(Exchange& exchange, int64_t) override {
        if (!stream_) return;
        exchange.begin_stream();
        exchange.send(chat::sse_event(chunks_.role_chunk()));
    }
    void add(const chat::OutputEvent& event, Exchange& exchange) override {
        add_to(chunks_, event, exchange);
    }
    void finish(const chat::ParsedOutput& output, std::string_view, const chat::TokenUsage& usage,
                Exchange& exchange) override {
        if (!stream_) {
            exchange.respond(
                json_answer(chat::chat_completion_body(meta_, output, usage, options_)));
            return;
        }
        finish_stream(chunks_, output.finish_reason, usage, exchange);
    }

  private:
    chat::ChatResponseOptions options_;
    chat::ResponseMeta meta_;
    chat::ChatCompletionStream chunks_;
};

class CompletionWriter final : public WriterBase {
  public:
    explicit CompletionWriter(const chat::MappedRequest& mapped)
        : WriterBase(mapped.options.stream),
          meta_(response_meta(mapped, "cmpl-")),
          chunks_(meta_, mapped.options.include_usage) {}
    void open(Exchange& exchange, int64_t) override {
        if (stream_) exchange.begin_stream();
    }
    void add(const chat::OutputEvent& event, Exchange& exchange) override {
        add_to(chunks_, event, exchange);
    }
    void finish(const chat::ParsedOutput& output, std::string_view, const chat::TokenUsage& usage,
                Exchange& exchange) override {
        if (!stream_) {
            // The parser's content is the generated text with bytes that can never form valid
            // UTF-8 replaced, as in the streamed deltas: the body stays valid JSON text.
            exchange.respond(json_answer(
                chat::completion_body(meta_, output.content, output.finish_reason, usage)));
            return;
        }
        finish_stream(chunks_, output.finish_reason, usage, exchange);
    }

  private:
    chat::ResponseMeta meta_;
    chat::CompletionStream chunks_;
};

class AnthropicWriter final : public WriterBase {
  public:
    explicit AnthropicWriter(const chat::MappedRequest& mapped)
        : WriterBase(mapped.options.stream), meta_(response_meta(mapped, "msg_")), events_(meta_) {}
    void open(Exchange& exchange, int64_t prompt_tokens) override {
        if (!stream_) return;
        exchange.begin_stream();
        chat::TokenUsage usage;
        usage.prompt_tokens = static_cast<uint64_t>(prompt_tokens);
        send(exchange, {events_.message_start(usage)});
    }
    void add(const chat::OutputEvent& event, Exchange& exchange) override {
        if (!stream_) return;
        std::vector<chat::SseEvent> out;
        events_.add({event}, out);
        send(exchange, out);
    }
    void finish(const chat::ParsedOutput& output, std::string_view, const chat::TokenUsage& usage,
                Exchange& exchange) override {
        if (!stream_) {
            exchange.respond(json_answer(chat::anthropic_message_body(meta_, output, usage)));
            return;
        }
        std::vector<chat::SseEvent> out;
        events_.finish(output.finish_reason, usage, out);
        send(exchange, out);
        exchange.end();
    }

  private:
    static void send(Exchange& exchange, const std::vector<chat::SseEvent>& events) {
        std::string bytes;
        for (const chat::SseEvent& e : events) bytes += chat::sse_event(e.data, e.name);
        if (!bytes.empty()) exchange.send(std::move(bytes));
    }
    chat::ResponseMeta meta_;
    chat::AnthropicMessageStream events_;
};

class ResponsesWriter final : public WriterBase {
  public:
    explicit ResponsesWriter(const chat::MappedRequest& mapped)
        : WriterBase(mapped.options.stream),
          tools_(mapped.conversation.tools),
          meta_(make_meta(mapped, tools_)),
          events_(meta_) {}
    void open(Exchange& exchange, int64_t) override {
        if (!stream_) return;
        exchange.begin_stream();
        exchange.send(chat::sse_event(events_.created_event()));
    }
    void add(const chat::OutputEvent& event, Exchange& exchange) override {
        add_to(events_, event, exchange);
    }
    void finish(const chat::ParsedOutput& output, std::string_view, const chat::TokenUsage& usage,
                Exchange& exchange) override {
        if (!stream_) {
            HttpResponse response;
            response.body = chat::responses_body(meta_, output, usage);
            exchange.respond(std::move(response));
            return;
        }
        std::vector<std::string> out;
        events_.finish(output, usage, out);
        send_all(exchange, out);
        exchange.end();
    }

  private:
    static chat::ResponsesMeta make_meta(const chat::MappedRequest& mapped,
                                         const std::vector<chat::ToolSchema>& tools) {
        chat::ResponsesMeta meta;
        meta.id = chat::random_item_id("resp_");
        meta.model = mapped.options.model;
        meta.created = static_cast<int64_t>(std::time(nullptr));
        meta.include_reasoning = mapped.options.emit_reasoning_summary;
        meta.tools = &tools;
        meta.new_item_id = [](std::string_view prefix) { return chat::random_item_id(prefix); };
        return meta;
    }
    std::vector<chat::ToolSchema> tools_;
    chat::ResponsesMeta meta_;
    chat::ResponsesStream events_;
};

std::string_view id_prefix(chat::Endpoint endpoint) {
    return endpoint == chat::Endpoint::AnthropicMessages ? "toolu_" : "call_";
}

}  // namespace

std::unique_ptr<ResponseWriter> make_response_writer(const chat::MappedRequest& mapped,
                                                     bool reasoning_alias) {
    switch (mapped.endpoint) {
        case chat::Endpoint::ChatCompletions:
            return std::make_unique<ChatWriter>(mapped, reasoning_alias);
        case chat::Endpoint::Completions:
            return std::make_unique<CompletionWriter>(mapped);
        case chat::Endpoint::AnthropicMessages:
            return std::make_unique<AnthropicWriter>(mapped);
        case chat::Endpoint::Responses:
            return std::make_unique<ResponsesWriter>(mapped);
    }
    throw std::logic_error("unknown endpoint");
}

GenerationJob::GenerationJob(GenerationRequest request, std::shared_ptr<Exchange> exchange,
                             std::unique_ptr<ResponseWriter> writer, Metrics& metrics,
                             ToolRegistry& registry, LiveTextBinding& binding)
    : request_(std::move(request)),
      exchange_(std::move(exchange)),
      writer_(std::move(writer)),
      metrics_(metrics),
      registry_(registry),
      binding_(binding),
      thinking_(request_.options.thinking),
      tools_active_(request_.options.tool_calls),
      schemas_(request_.mapped.conversation.tools),
      ids_(std::string(id_prefix(request_.mapped.endpoint))) {
    request_.options.tool_schemas = &schemas_;
    request_.options.tool_call_ids = &ids_;
}

void GenerationJob::open() {
    std::lock_guard lock(open_mutex_);
    if (opened_) return;
    opened_ = true;
    writer_->open(*exchange_, static_cast<int64_t>(request_.prompt_tokens.size()));
}

void GenerationJob::drop(int status, std::string_view reason) {
    metrics_.count_cancelled();
    std::lock_guard lock(open_mutex_);
    if (opened_) {
        writer_->fail(reason, *exchange_);
    } else {
        exchange_->respond(error_response(status, reason));
    }
}

void GenerationJob::run(generate::Generator& generator, const std::atomic<bool>& stop_now) {
    open();
    std::optional<Clock::time_point> last_token;
    generate::GenerateCallbacks callbacks;
    callbacks.cancel_requested = [&] { return stop_now.load() || exchange_->cancelled(); };
    callbacks.on_token = [&](tokenizer::TokenId) {
        const auto now = Clock::now();
        if (!last_token) {
            first_token_ = now;
            metrics_.observe_time_to_first_token(
                std::chrono::duration<double>(now - request_.received).count());
        } else
            metrics_.observe_inter_token_latency(
                std::chrono::duration<double>(now - *last_token).count());
        last_token = now;
    };
    callbacks.on_output = [&](const chat::OutputEvent& event) { writer_->add(event, *exchange_); };
    reuse_live_text(generator);
    generate::GenerateResult result;
    try {
        result = generator.generate(request_.prompt_tokens, request_.options, callbacks);
    } catch (const std::exception& e) {
        DSV4_LOG_ERROR("generation failed: %s", e.what());
        writer_->fail(std::string("generation failed: ") + e.what(), *exchange_);
        return;
    }
    if (result.finish == generate::FinishReason::Cancelled)
        result.output.finish_reason = chat::FinishReason::Error;
    chat::TokenUsage usage;
    usage.prompt_tokens = static_cast<uint64_t>(result.prompt_tokens);
    usage.completion_tokens = static_cast<uint64_t>(result.generated_tokens);
    usage.cached_tokens = static_cast<uint64_t>(result.cached_tokens);
    // Tool ids and the visible text are recorded before the client can send them back.
    bind_visible_text(generator, result);
    record(result);
    writer_->finish(result.output, result.text, usage, *exchange_);
}

void GenerationJob::reuse_live_text(const generate::Generator& generator) {
    const std::span<const int32_t> live = generator.state().tokens();
    const std::vector<int32_t>& prompt = request_.prompt_tokens;
    const std::string& text = request_.prompt_text;
    const tokenizer::Tokenizer& tokenizer = generator.tokenizer();
    const bool bound = binding_.live_position == generator.state().position();
    const std::string visible = bound ? binding_.visible_text : std::string();
    binding_ = {};
    if (live.empty()) return;
    if (live.size() < prompt.size() && std::equal(live.begin(), live.end(), prompt.begin()))
        return;  // a token prefix already
    std::vector<int32_t> tokens(live.begin(), live.end());
    std::string_view rest;
    if (!visible.empty() && text.starts_with(visible)) {
        // The live tokens hold the hidden reasoning and the answer but not the end-of-sentence
        // the visible text ends with (it was sampled, never fed): feed it now.
        tokens.push_back(tokenizer.eos());
        rest = std::string_view(text).substr(visible.size());
    } else {
        // The sampled tokens of the last turn need not be how its text tokenizes when the
        // client sends it back; their bytes may still be a prefix of the new prompt.
        const std::string live_text = tokenizer.decode(live);
        if (live_text.size() >= text.size() || !text.starts_with(live_text)) return;
        rest = std::string_view(text).substr(live_text.size());
    }
    tokenizer.encode_append(rest, tokenizer::SpecialTokenMode::Recognise, tokens);
    // Hidden reasoning makes this longer than the rendered prompt; it must still fit.
    if (static_cast<int64_t>(tokens.size()) >= generator.context_tokens()) return;
    request_.prompt_tokens = std::move(tokens);
}

void GenerationJob::bind_visible_text(const generate::Generator& generator,
                                      const generate::GenerateResult& result) {
    constexpr std::string_view kThinkOpen = "<think>";
    const std::string& text = request_.prompt_text;
    const chat::Endpoint endpoint = request_.mapped.endpoint;
    if (!thinking_ || tools_active_ || result.finish != generate::FinishReason::Stop ||
        !result.ended_with_end_of_sequence || !result.output.reasoning_closed ||
        !result.output.tool_calls.empty() || !text.ends_with(kThinkOpen) ||
        (endpoint != chat::Endpoint::ChatCompletions &&
         endpoint != chat::Endpoint::AnthropicMessages))
        return;
    // How the renderer writes this turn back once its reasoning is dropped.
    binding_.visible_text = text.substr(0, text.size() - kThinkOpen.size()) + "</think>" +
                            result.output.content + std::string(chat::kEndOfSentence);
    binding_.live_position = generator.state().position();
}

void GenerationJob::record(const generate::GenerateResult& result) {
    if (!result.output.tool_calls_dsml.empty()) {
        std::vector<std::string> ids;
        for (const chat::ParsedToolCall& call : result.output.tool_calls) ids.push_back(call.id);
        registry_.remember(ids, result.output.tool_calls_dsml);
    }
    metrics_.add_tokens(static_cast<uint64_t>(result.prompt_tokens),
                        static_cast<uint64_t>(result.cached_tokens),
                        static_cast<uint64_t>(result.generated_tokens));
    metrics_.set_throughput(result.prefill_tokens_per_second(), result.decode_tokens_per_second());
    if (result.finish == generate::FinishReason::Cancelled) metrics_.count_cancelled();
    const double ttft_ms =
        first_token_
            ? std::chrono::duration<double, std::milli>(*first_token_ - request_.received).count()
            : -1.0;
    char detail[200];
    std::snprintf(detail, sizeof detail,
                  "prompt=%lld cached=%lld generated=%lld ttft_ms=%.0f prefill_tok_s=%.1f "
                  "decode_tok_s=%.1f finish=%s",
                  static_cast<long long>(result.prompt_tokens),
                  static_cast<long long>(result.cached_tokens),
                  static_cast<long long>(result.generated_tokens), ttft_ms,
                  result.prefill_tokens_per_second(), result.decode_tokens_per_second(),
                  std::string(generate::finish_reason_name(result.finish)).c_str());
    exchange_->set_log_detail(detail);
}

}  // namespace dsv4::server
