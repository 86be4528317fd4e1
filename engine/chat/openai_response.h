// What the server sends back for a generation, as JSON text: OpenAI chat.completion bodies and
// chat.completion.chunk payloads, text_completion bodies and chunks, Anthropic messages and their
// named events, Responses objects and events (ds4-server §3.2-3.4, §4.5-4.7). Functions of the
// output parser's results and events: no I/O, no parsing of generated text, no knowledge of the
// decode loop or of HTTP beyond SSE framing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_types.h"
#include "engine/chat/output_parser.h"

namespace dsv4::chat {

struct ResponseMeta {
    std::string id;  // "chatcmpl-N", "cmpl-N"
    std::string model;
    int64_t created = 0;  // Unix seconds
};

struct TokenUsage {
    uint64_t prompt_tokens = 0;
    uint64_t completion_tokens = 0;
    uint64_t cached_tokens = 0;  // prompt tokens reused from a cache
};

struct ChatResponseOptions {
    // Also send reasoning under "reasoning", the name newer OpenAI-compatible servers use, next
    // to "reasoning_content".
    bool reasoning_alias = false;
};

// One server-sent event: "data: <payload>\n\n", preceded by "event: <name>\n" when named.
std::string sse_event(std::string_view payload, std::string_view event_name = {});
// The payload of the event that ends a chat or completions stream.
inline constexpr std::string_view kStreamDone = "[DONE]";

// {"prompt_tokens":…,"completion_tokens":…,"total_tokens":…,"prompt_tokens_details":
// {"cached_tokens":…,"cache_write_tokens":…}}
std::string openai_usage_json(const TokenUsage& usage);

// The non-stream chat.completion body: message content (always a string), reasoning_content
// when not empty, tool_calls when any. The HTTP layer adds the trailing newline.
std::string chat_completion_body(const ResponseMeta& meta, const ParsedOutput& output,
                                 const TokenUsage& usage, const ChatResponseOptions& options = {});

// chat.completion.chunk payloads for one streamed generation. A tool call's first delta carries
// index, id, type and name with empty arguments; later deltas carry index and an arguments
// fragment only, so that clients accumulating fragments per index see one call each.
class ChatCompletionStream {
  public:
    ChatCompletionStream(ResponseMeta meta, bool include_usage, ChatResponseOptions options = {})
        : meta_(std::move(meta)), include_usage_(include_usage), options_(options) {}

    // The first chunk: {"role":"assistant"}.
    std::string role_chunk() const;
    // One chunk per run of same-kind deltas in `events` (the events of one fed piece), in order.
    void add(const std::vector<OutputEvent>& events, std::vector<std::string>& payloads) const;
    // The finish chunk, the usage chunk when stream_options.include_usage asked for it, then
    // kStreamDone.
    void finish(FinishReason reason, const TokenUsage& usage,
                std::vector<std::string>& payloads) const;

  private:
    std::string chunk(std::string_view delta_json, std::string_view finish_reason) const;

    ResponseMeta meta_;
    bool include_usage_;
    ChatResponseOptions options_;
};

// The non-stream text_completion body; `text` is the raw generated text.
std::string completion_body(const ResponseMeta& meta, std::string_view text, FinishReason reason,
                            const TokenUsage& usage);

// text_completion chunk payloads; fed the events of a parser with thinking and tool calls off,
// whose content deltas are the raw generated text.
class CompletionStream {
  public:
    CompletionStream(ResponseMeta meta, bool include_usage)
        : meta_(std::move(meta)), include_usage_(include_usage) {}

    void add(const std::vector<OutputEvent>& events, std::vector<std::string>& payloads) const;
    void finish(FinishReason reason, const TokenUsage& usage,
                std::vector<std::string>& payloads) const;

  private:
    std::string chunk(std::string_view text, std::string_view finish_reason) const;

    ResponseMeta meta_;
    bool include_usage_;
};

// ---- Anthropic /v1/messages ----

struct SseEvent {
    std::string name;  // empty: a data-only event
    std::string data;
};

// "end_turn", "max_tokens", "tool_use" ("end_turn" for errors, as the reference reports them).
std::string_view anthropic_stop_reason(FinishReason reason);

// {"input_tokens":…,"output_tokens":…,"cache_read_input_tokens":…,
// "cache_creation_input_tokens":…}: prompt tokens not read from the cache count as written to it.
std::string anthropic_usage_json(const TokenUsage& usage, bool output_tokens_known = true);

// The non-stream message: thinking (signed with the message id), text and tool_use blocks, and
// an empty text block when there would be no text, no call otherwise. The parser that produced
// `output` should have drawn "toolu_" ids.
std::string anthropic_message_body(const ResponseMeta& meta, const ParsedOutput& output,
                                   const TokenUsage& usage);

// Named events of one streamed message: message_start, content blocks opened on their first
// delta and closed when another kind of output starts, message_delta, message_stop.
class AnthropicMessageStream {
  public:
    explicit AnthropicMessageStream(ResponseMeta meta) : meta_(std::move(meta)) {}

    SseEvent message_start(const TokenUsage& prompt_usage) const;
    void add(const std::vector<OutputEvent>& events, std::vector<SseEvent>& out);
    void finish(FinishReason reason, const TokenUsage& usage, std::vector<SseEvent>& out);

  private:
    enum class Block : uint8_t { None, Thinking, Text, ToolUse };
    void open_block(Block kind, std::string_view content_block_json, std::vector<SseEvent>& out);
    void close_block(std::vector<SseEvent>& out);
    void delta(std::string_view delta_json, std::vector<SseEvent>& out) const;

    ResponseMeta meta_;
    Block open_ = Block::None;
    int index_ = -1;
    bool sent_thinking_ = false;
    bool sent_text_or_tool_ = false;
};

// ---- OpenAI /v1/responses ----

struct ResponsesMeta {
    std::string id;  // "resp_" + 24 hex
    std::string model;
    int64_t created = 0;
    // reasoning.summary asked for a summary: reasoning is sent as a reasoning item.
    bool include_reasoning = false;
    // The request's tools, to give calls the name and namespace the client knows them by.
    const std::vector<ToolSchema>* tools = nullptr;
    // Ids of output items, prefix + 24 hex ("rs_", "msg_", "fc_").
    std::function<std::string(std::string_view prefix)> new_item_id;
};

// prefix + 24 lowercase hex digits from the kernel CSPRNG.
std::string random_item_id(std::string_view prefix);

// The response object: the non-stream body, and the one the terminal stream event carries.
std::string responses_body(const ResponsesMeta& meta, const ParsedOutput& output,
                           const TokenUsage& usage);

// Data-only events with a sequence_number each: response.created, reasoning summary and output
// text deltas as they come, then at the end the done events, one item per tool call (arguments
// whole), and response.completed / incomplete / failed.
class ResponsesStream {
  public:
    explicit ResponsesStream(ResponsesMeta meta);

    std::string created_event();
    void add(const std::vector<OutputEvent>& events, std::vector<std::string>& out);
    void finish(const ParsedOutput& output, const TokenUsage& usage, std::vector<std::string>& out);

  private:
    std::string event(std::string_view type, std::string_view members_json);
    void add_reasoning(std::string_view text, std::vector<std::string>& out);
    void add_text(std::string_view text, std::vector<std::string>& out);
    void close_reasoning(bool completed, std::vector<std::string>& out);
    void close_message(FinishReason reason, std::vector<std::string>& out);
    void send_call(const ParsedToolCall& call, FinishReason reason, std::string_view id,
                   std::vector<std::string>& out);

    ResponsesMeta meta_;
    int sequence_ = 0;
    int next_output_index_ = 0;
    int reasoning_index_ = -1;
    int message_index_ = -1;
    std::string reasoning_id_, message_id_;
    std::string reasoning_, text_;
};

}  // namespace dsv4::chat
