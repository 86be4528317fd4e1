// What the server sends back for a generation, as JSON text: OpenAI chat.completion bodies and
// chat.completion.chunk stream payloads, text_completion bodies and chunks (ds4-server §4.5-4.7).
// Pure functions of the output parser's results and events: no I/O, no parsing of generated
// text, no knowledge of the decode loop or of HTTP beyond SSE framing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace dsv4::chat
