// API request bodies (chat completions, completions, Anthropic messages, responses) -> chat
// structure + generation options, each field read as the ds4 reference reads it; owns validation
// and client errors. Must not render prompts, consult the tool memory, or know HTTP beyond status.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_types.h"
#include "engine/sampler/sampling_params.h"

namespace dsv4::chat {

enum class Endpoint : uint8_t { ChatCompletions, Completions, AnthropicMessages, Responses };

// "/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/responses".
std::string_view endpoint_path(Endpoint endpoint);
std::optional<Endpoint> endpoint_from_path(std::string_view path);

// Sampling defaults match the reference; in thinking modes the server replaces the client's
// temperature / top_p / top_k / min_p by these defaults anyway.
// The sampler owns the defaults; requests start from them.
inline constexpr float kDefaultTemperature = sampler::kDefaultTemperature;
inline constexpr float kDefaultTopP = sampler::kDefaultTopP;
inline constexpr float kDefaultMinP = sampler::kDefaultMinP;
inline constexpr std::string_view kDefaultModelName = "deepseek-v4-flash";

struct GenerationOptions {
    std::string model = std::string(kDefaultModelName);  // echoed back verbatim
    std::optional<int> max_tokens;  // clamped to [0, INT_MAX]; absent: the server's default
    float temperature = kDefaultTemperature;
    float top_p = kDefaultTopP;
    float min_p = kDefaultMinP;
    int top_k = 0;      // 0: off
    uint64_t seed = 0;  // 0: the server picks one
    bool stream = false;
    bool include_usage = false;           // stream_options.include_usage
    std::vector<std::string> stop;        // non-empty strings only
    bool emit_reasoning_summary = false;  // Responses: reasoning.summary auto|concise|detailed
};

struct MappedRequest {
    Endpoint endpoint = Endpoint::ChatCompletions;
    Conversation conversation;
    GenerationOptions options;
};

// A request the server refuses. what() is a detailed, field-naming explanation for logs and the
// CLI; client_message() is the text the reference sends to API clients ("invalid JSON request",
// "missing messages", ...), which is what error_body() carries.
class RequestError : public std::runtime_error {
  public:
    RequestError(int http_status, std::string client_message, const std::string& detail);

    int http_status() const noexcept { return http_status_; }
    const std::string& client_message() const noexcept { return client_message_; }
    // {"error":{"message":<client_message>,"type":"invalid_request_error"}} plus a newline.
    std::string error_body() const;

  private:
    int http_status_;
    std::string client_message_;
};

struct MappingOptions {
    uint32_t context_size = 32768;  // the server's --ctx; gates Think-Max
    // Tool-call ids still bound to the live session. A Responses tool output or an Anthropic
    // tool_result may answer such a call without replaying it; any other unknown id is refused.
    std::function<bool(std::string_view call_id)> is_live_call_id;
};

// Throws RequestError for anything the reference refuses (malformed JSON included).
MappedRequest map_request(Endpoint endpoint, std::string_view body, const MappingOptions& options);

}  // namespace dsv4::chat
