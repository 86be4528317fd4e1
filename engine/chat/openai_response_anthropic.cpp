#include <algorithm>

#include "engine/chat/openai_response.h"
#include "engine/common/json.h"

namespace dsv4::chat {

std::string_view anthropic_stop_reason(FinishReason reason) {
    switch (reason) {
        case FinishReason::Length:
            return "max_tokens";
        case FinishReason::ToolCalls:
            return "tool_use";
        case FinishReason::Stop:
        case FinishReason::Error:
            return "end_turn";
    }
    return "end_turn";
}

std::string anthropic_usage_json(const TokenUsage& usage, bool output_tokens_known) {
    uint64_t cached = std::min(usage.cached_tokens, usage.prompt_tokens);
    uint64_t written = usage.prompt_tokens - cached;
    json::Writer out;
    out.begin_object()
        .key("input_tokens")
        .number(usage.prompt_tokens - cached - written)
        .key("output_tokens")
        .number(output_tokens_known ? usage.completion_tokens : 0)
        .key("cache_read_input_tokens")
        .number(cached)
        .key("cache_creation_input_tokens")
        .number(written)
        .end_object();
    return out.take();
}

std::string anthropic_message_body(const ResponseMeta& meta, const ParsedOutput& output,
                                   const TokenUsage& usage) {
    json::Writer out;
    out.begin_object()
        .key("id")
        .string(meta.id)
        .key("type")
        .string("message")
        .key("role")
        .string("assistant")
        .key("model")
        .string(meta.model)
        .key("content")
        .begin_array();
    if (!output.reasoning.empty()) {
        out.begin_object()
            .key("type")
            .string("thinking")
            .key("thinking")
            .string(output.reasoning)
            .key("signature")
            .string(meta.id)
            .end_object();
    }
    if (!output.content.empty()) {
        out.begin_object().key("type").string("text").key("text").string(output.content);
        out.end_object();
    }
    for (const ParsedToolCall& call : output.tool_calls) {
        out.begin_object()
            .key("type")
            .string("tool_use")
            .key("id")
            .string(call.id)
            .key("name")
            .string(call.name)
            .key("input")
            .raw(call.arguments)
            .end_object();
    }
    if (output.content.empty() && output.tool_calls.empty()) {
        out.begin_object().key("type").string("text").key("text").string("").end_object();
    }
    out.end_array()
        .key("stop_reason")
        .string(anthropic_stop_reason(output.finish_reason))
        .key("stop_sequence")
        .null()
        .key("usage")
        .raw(anthropic_usage_json(usage))
        .end_object();
    return out.take();
}

// ---- stream ----

SseEvent AnthropicMessageStream::message_start(const TokenUsage& prompt_usage) const {
    json::Writer out;
    out.begin_object()
        .key("type")
        .string("message_start")
        .key("message")
        .begin_object()
        .key("id")
        .string(meta_.id)
        .key("type")
        .string("message")
        .key("role")
        .string("assistant")
        .key("model")
        .string(meta_.model)
        .key("content")
        .begin_array()
        .end_array()
        .key("stop_reason")
        .null()
        .key("stop_sequence")
        .null()
        .key("usage")
        .raw(anthropic_usage_json(prompt_usage, false))
        .end_object()
        .end_object();
    return {"message_start", out.take()};
}

void AnthropicMessageStream::open_block(Block kind, std::string_view content_block_json,
                                        std::vector<SseEvent>& out) {
    close_block(out);
    open_ = kind;
    ++index_;
    json::Writer event;
    event.begin_object()
        .key("type")
        .string("content_block_start")
        .key("index")
        .number(index_)
        .key("content_block")
        .raw(content_block_json)
        .end_object();
    out.push_back({"content_block_start", event.take()});
}

void AnthropicMessageStream::close_block(std::vector<SseEvent>& out) {
    if (open_ == Block::None) return;
    if (open_ == Block::Thinking) {
        json::Writer signature;
        signature.begin_object()
            .key("type")
            .string("signature_delta")
            .key("signature")
            .string(meta_.id)
            .end_object();
        delta(signature.str(), out);
    }
    json::Writer event;
    event.begin_object()
        .key("type")
        .string("content_block_stop")
        .key("index")
        .number(index_)
        .end_object();
    out.push_back({"content_block_stop", event.take()});
    open_ = Block::None;
}

void AnthropicMessageStream::delta(std::string_view delta_json, std::vector<SseEvent>& out) const {
    json::Writer event;
    event.begin_object()
        .key("type")
        .string("content_block_delta")
        .key("index")
        .number(index_)
        .key("delta")
        .raw(delta_json)
        .end_object();
    out.push_back({"content_block_delta", event.take()});
}

void AnthropicMessageStream::add(const std::vector<OutputEvent>& events,
                                 std::vector<SseEvent>& out) {
    for (const OutputEvent& event : events) {
        json::Writer body;
        switch (event.kind) {
            case OutputEventKind::ReasoningDelta:
                if (open_ != Block::Thinking) {
                    open_block(Block::Thinking,
                               R"({"type":"thinking","thinking":"","signature":""})", out);
                    sent_thinking_ = true;
                }
                body.begin_object().key("type").string("thinking_delta").key("thinking");
                body.string(event.text).end_object();
                delta(body.str(), out);
                break;
            case OutputEventKind::ContentDelta:
                if (open_ != Block::Text) {
                    open_block(Block::Text, R"({"type":"text","text":""})", out);
                    sent_text_or_tool_ = true;
                }
                body.begin_object().key("type").string("text_delta").key("text");
                body.string(event.text).end_object();
                delta(body.str(), out);
                break;
            case OutputEventKind::ToolCallBegin:
                body.begin_object()
                    .key("type")
                    .string("tool_use")
                    .key("id")
                    .string(event.tool_id)
                    .key("name")
                    .string(event.text)
                    .key("input")
                    .begin_object()
                    .end_object()
                    .end_object();
                open_block(Block::ToolUse, body.str(), out);
                sent_text_or_tool_ = true;
                break;
            case OutputEventKind::ToolArgumentsDelta:
                body.begin_object().key("type").string("input_json_delta").key("partial_json");
                body.string(event.text).end_object();
                delta(body.str(), out);
                break;
            case OutputEventKind::ToolCallEnd:
                close_block(out);
                break;
        }
    }
}

void AnthropicMessageStream::finish(FinishReason reason, const TokenUsage& usage,
                                    std::vector<SseEvent>& out) {
    close_block(out);
    if (!sent_text_or_tool_) {
        open_block(Block::Text, R"({"type":"text","text":""})", out);
        close_block(out);
    }
    json::Writer message_delta;
    message_delta.begin_object()
        .key("type")
        .string("message_delta")
        .key("delta")
        .begin_object()
        .key("stop_reason")
        .string(anthropic_stop_reason(reason))
        .key("stop_sequence")
        .null()
        .end_object()
        .key("usage")
        .begin_object()
        .key("output_tokens")
        .number(usage.completion_tokens)
        .end_object()
        .end_object();
    out.push_back({"message_delta", message_delta.take()});
    out.push_back({"message_stop", R"({"type":"message_stop"})"});
}

}  // namespace dsv4::chat
