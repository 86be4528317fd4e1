// Field readers shared by the per-API request mappers (internal to engine/chat/openai_request*).
// Each reader enforces the JSON type the reference insists on and throws RequestError naming the
// field path otherwise; none of them knows which API it serves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_types.h"
#include "engine/chat/openai_request.h"
#include "engine/common/json.h"

namespace dsv4::chat::fields {

using json::Value;

// 400 "invalid JSON request" with `detail` in what().
[[noreturn]] void reject(const std::string& path, const std::string& problem);

// The reference handles text as C strings: a decoded string ends at its first NUL byte. Keys
// are compared the same way.
std::string_view c_text(const std::string& decoded);

std::string member_path(const std::string& parent, std::string_view key);
std::string element_path(const std::string& parent, size_t index);

// Calls visit(key, value) for each object member in source order (duplicates included, so the
// last one wins wherever a field is simply assigned).
template <typename Visit>
void for_each_member(const Value& object, Visit&& visit) {
    for (size_t i = 0; i < object.size(); ++i) visit(c_text(object.key_at(i)), object.at(i));
}

const Value& require_object(const Value& value, const std::string& path);
const Value& require_array(const Value& value, const std::string& path);

std::string string_field(const Value& value, const std::string& path);
bool bool_field(const Value& value, const std::string& path);
double number_field(const Value& value, const std::string& path);
// Numbers: negative -> 0, above INT_MAX -> INT_MAX, fractions truncated.
int clamped_int_field(const Value& value, const std::string& path);
// Positive numbers truncated (saturating); zero and below -> 0 (server picks a seed).
uint64_t seed_field(const Value& value, const std::string& path);

// OpenAI message content: a string, null (""), an array concatenating string items and the
// "text" members of object items (other items ignored), or anything else ("").
std::string chat_content(const Value& value, const std::string& path);

// A string or an array of strings (non-strings skipped); empty strings dropped; any other value
// clears the list.
std::vector<std::string> stop_list(const Value& value);

// stream_options: an object whose include_usage must be a boolean; other values are ignored.
void read_stream_options(const Value& value, const std::string& path, bool& include_usage);

struct ThinkingControls {
    bool explicit_control = false;  // thinking / think / an effort that counts as control
    bool enabled = true;
    ThinkMode effort_mode = ThinkMode::High;
    ReasoningEffort effort = ReasoningEffort::Unspecified;
};

// `thinking`: true/false, {"type":"enabled"|"disabled",...}, null or anything else (no change);
// any of them counts as explicit control.
void read_thinking(const Value& value, const std::string& path, ThinkingControls& controls);
// An effort name: null leaves controls unchanged and returns false; an unknown name is refused.
bool read_effort(const Value& value, const std::string& path, ThinkingControls& controls);
// Applies the model aliases (only without explicit control) and folds everything to a mode.
ThinkMode resolve_think_mode(ThinkingControls controls, std::string_view model);
// Stores the resolved mode, the named effort and the context size in the request.
void apply_thinking(MappedRequest& request, const ThinkingControls& controls,
                    const MappingOptions& options);

// A `tools` array (null: none). OpenAI {"function":{...}} entries give that member's raw bytes,
// Responses namespace and hosted tool_search entries are synthesized, anything else is kept raw.
std::vector<ToolSchema> tool_schemas(const Value& value, const std::string& path);

Role role_from_name(std::string_view name);

// Adds a tool-result id unless empty or already present.
void add_tool_call_id(Message& message, std::string id);

}  // namespace dsv4::chat::fields
