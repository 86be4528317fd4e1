#include "engine/chat/openai_response.h"

#include <algorithm>

#include "engine/common/json.h"

namespace dsv4::chat {

namespace {

// Runs of events that share one chunk: consecutive text deltas of one kind, or consecutive
// argument fragments of one call.
bool same_run(const OutputEvent& run, const OutputEvent& next) {
    if (run.kind != next.kind) return false;
    switch (run.kind) {
        case OutputEventKind::ReasoningDelta:
        case OutputEventKind::ContentDelta:
            return true;
        case OutputEventKind::ToolArgumentsDelta:
            return run.tool_index == next.tool_index;
        default:
            return false;
    }
}

template <typename Visit>
void for_each_run(const std::vector<OutputEvent>& events, Visit visit) {
    for (size_t i = 0; i < events.size();) {
        std::string text = events[i].text;
        size_t end = i + 1;
        while (end < events.size() && same_run(events[i], events[end])) {
            text += events[end++].text;
        }
        visit(events[i], text);
        i = end;
    }
}

void write_finish_reason(json::Writer& out, std::string_view finish_reason) {
    if (finish_reason.empty()) {
        out.null();
    } else {
        out.string(finish_reason);
    }
}

}  // namespace

std::string sse_event(std::string_view payload, std::string_view event_name) {
    std::string out;
    if (!event_name.empty()) {
        out += "event: ";
        out += event_name;
        out += '\n';
    }
    out += "data: ";
    out += payload;
    out += "\n\n";
    return out;
}

std::string openai_usage_json(const TokenUsage& usage) {
    uint64_t written = usage.prompt_tokens - std::min(usage.cached_tokens, usage.prompt_tokens);
    json::Writer out;
    out.begin_object()
        .key("prompt_tokens")
        .number(usage.prompt_tokens)
        .key("completion_tokens")
        .number(usage.completion_tokens)
        .key("total_tokens")
        .number(usage.prompt_tokens + usage.completion_tokens)
        .key("prompt_tokens_details")
        .begin_object()
        .key("cached_tokens")
        .number(usage.cached_tokens)
        .key("cache_write_tokens")
        .number(written)
        .end_object()
        .end_object();
    return out.take();
}

// ---- chat completions ----

std::string chat_completion_body(const ResponseMeta& meta, const ParsedOutput& output,
                                 const TokenUsage& usage, const ChatResponseOptions& options) {
    json::Writer out;
    out.begin_object()
        .key("id")
        .string(meta.id)
        .key("object")
        .string("chat.completion")
        .key("created")
        .number(meta.created)
        .key("model")
        .string(meta.model)
        .key("choices")
        .begin_array()
        .begin_object()
        .key("index")
        .number(0)
        .key("message")
        .begin_object()
        .key("role")
        .string("assistant")
        .key("content")
        .string(output.content);
    if (!output.reasoning.empty()) {
        out.key("reasoning_content").string(output.reasoning);
        if (options.reasoning_alias) out.key("reasoning").string(output.reasoning);
    }
    if (!output.tool_calls.empty()) {
        out.key("tool_calls").begin_array();
        for (const ParsedToolCall& call : output.tool_calls) {
            out.begin_object()
                .key("id")
                .string(call.id)
                .key("type")
                .string("function")
                .key("function")
                .begin_object()
                .key("name")
                .string(call.name)
                .key("arguments")
                .string(call.arguments)
                .end_object()
                .end_object();
        }
        out.end_array();
    }
    out.end_object()
        .key("finish_reason")
        .string(finish_reason_name(output.finish_reason))
        .end_object()
        .end_array()
        .key("usage")
        .raw(openai_usage_json(usage))
        .end_object();
    return out.take();
}

std::string ChatCompletionStream::chunk(std::string_view delta_json,
                                        std::string_view finish_reason) const {
    json::Writer out;
    out.begin_object()
        .key("id")
        .string(meta_.id)
        .key("object")
        .string("chat.completion.chunk")
        .key("created")
        .number(meta_.created)
        .key("model")
        .string(meta_.model)
        .key("choices")
        .begin_array()
        .begin_object()
        .key("index")
        .number(0)
        .key("delta")
        .raw(delta_json)
        .key("finish_reason");
    write_finish_reason(out, finish_reason);
    out.end_object().end_array().end_object();
    return out.take();
}

std::string ChatCompletionStream::role_chunk() const {
    return chunk(R"({"role":"assistant"})", {});
}

void ChatCompletionStream::add(const std::vector<OutputEvent>& events,
                               std::vector<std::string>& payloads) const {
    for_each_run(events, [&](const OutputEvent& first, const std::string& text) {
        json::Writer delta;
        delta.begin_object();
        switch (first.kind) {
            case OutputEventKind::ReasoningDelta:
                delta.key("reasoning_content").string(text);
                if (options_.reasoning_alias) delta.key("reasoning").string(text);
                break;
            case OutputEventKind::ContentDelta:
                delta.key("content").string(text);
                break;
            case OutputEventKind::ToolCallBegin:
                delta.key("tool_calls")
                    .begin_array()
                    .begin_object()
                    .key("index")
                    .number(static_cast<uint64_t>(first.tool_index))
                    .key("id")
                    .string(first.tool_id)
                    .key("type")
                    .string("function")
                    .key("function")
                    .begin_object()
                    .key("name")
                    .string(first.text)
                    .key("arguments")
                    .string("")
                    .end_object()
                    .end_object()
                    .end_array();
                break;
            case OutputEventKind::ToolArgumentsDelta:
                delta.key("tool_calls")
                    .begin_array()
                    .begin_object()
                    .key("index")
                    .number(static_cast<uint64_t>(first.tool_index))
                    .key("function")
                    .begin_object()
                    .key("arguments")
                    .string(text)
                    .end_object()
                    .end_object()
                    .end_array();
                break;
            case OutputEventKind::ToolCallEnd:
                return;
        }
        delta.end_object();
        payloads.push_back(chunk(delta.str(), {}));
    });
}

void ChatCompletionStream::finish(FinishReason reason, const TokenUsage& usage,
                                  std::vector<std::string>& payloads) const {
    payloads.push_back(chunk("{}", finish_reason_name(reason)));
    if (include_usage_) {
        json::Writer out;
        out.begin_object()
            .key("id")
            .string(meta_.id)
            .key("object")
            .string("chat.completion.chunk")
            .key("created")
            .number(meta_.created)
            .key("model")
            .string(meta_.model)
            .key("choices")
            .begin_array()
            .end_array()
            .key("usage")
            .raw(openai_usage_json(usage))
            .end_object();
        payloads.push_back(out.take());
    }
    payloads.emplace_back(kStreamDone);
}

// ---- completions ----

std::string completion_body(const ResponseMeta& meta, std::string_view text, FinishReason reason,
                            const TokenUsage& usage) {
    json::Writer out;
    out.begin_object()
        .key("id")
        .string(meta.id)
        .key("object")
        .string("text_completion")
        .key("created")
        .number(meta.created)
        .key("model")
        .string(meta.model)
        .key("choices")
        .begin_array()
        .begin_object()
        .key("text")
        .string(text)
        .key("index")
        .number(0)
        .key("finish_reason")
        .string(finish_reason_name(reason))
        .end_object()
        .end_array()
        .key("usage")
        .raw(openai_usage_json(usage))
        .end_object();
    return out.take();
}

std::string CompletionStream::chunk(std::string_view text, std::string_view finish_reason) const {
    json::Writer out;
    out.begin_object()
        .key("id")
        .string(meta_.id)
        .key("object")
        .string("text_completion")
        .key("created")
        .number(meta_.created)
        .key("model")
        .string(meta_.model)
        .key("choices")
        .begin_array()
        .begin_object()
        .key("text")
        .string(text)
        .key("index")
        .number(0)
        .key("finish_reason");
    write_finish_reason(out, finish_reason);
    out.end_object().end_array().end_object();
    return out.take();
}

void CompletionStream::add(const std::vector<OutputEvent>& events,
                           std::vector<std::string>& payloads) const {
    for_each_run(events, [&](const OutputEvent& first, const std::string& text) {
        if (first.kind == OutputEventKind::ContentDelta) payloads.push_back(chunk(text, {}));
    });
}

void CompletionStream::finish(FinishReason reason, const TokenUsage& usage,
                              std::vector<std::string>& payloads) const {
    payloads.push_back(chunk("", finish_reason_name(reason)));
    if (include_usage_) {
        json::Writer out;
        out.begin_object()
            .key("id")
            .string(meta_.id)
            .key("object")
            .string("text_completion")
            .key("created")
            .number(meta_.created)
            .key("model")
            .string(meta_.model)
            .key("choices")
            .begin_array()
            .end_array()
            .key("usage")
            .raw(openai_usage_json(usage))
            .end_object();
        payloads.push_back(out.take());
    }
    payloads.emplace_back(kStreamDone);
}

}  // namespace dsv4::chat
