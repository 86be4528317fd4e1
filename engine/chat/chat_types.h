// The format-neutral chat structure every API front end maps into and the renderer reads: messages,
// tool calls, tool schemas, thinking controls, plus the think-mode gate and the tools-active rule.
// Plain data: it must not know JSON field names, HTTP, or prompt tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::chat {

// System and Developer are hoisted into the system block; Tool covers OpenAI "tool" and
// "function" results. Other keeps a message with an unknown role in its place (API rules that
// look at neighbouring messages still see it) but it is never rendered.
enum class Role : uint8_t { System, Developer, User, Assistant, Tool, Other };

struct ToolCall {
    std::string id;  // empty when the client gave none
    std::string name;
    // Arguments as the client sent them: normally a JSON object's text, possibly anything.
    std::string arguments;
};

struct Message {
    Role role = Role::User;
    std::string content;
    std::string reasoning;
    std::vector<ToolCall> tool_calls;
    // For tool results: ids of the calls answered, unique and non-empty, the first being the
    // message's own tool_call_id.
    std::vector<std::string> tool_call_ids;
    // The DSML block the model actually sampled for tool_calls (exact replay); when non-empty it
    // is rendered verbatim instead of the canonical JSON -> DSML form.
    std::string exact_tool_calls_dsml;
};

struct ToolSchema {
    // The line shown to the model: the client's raw JSON bytes, or an object synthesized from
    // a Responses namespace / hosted tool.
    std::string schema_json;
    std::string name;            // name the model calls the tool by, when the schema has one
    std::string wire_name;       // name the client knows it by when different (namespace tools)
    std::string namespace_name;  // Responses namespace the tool came from
    bool hosted_tool_search = false;  // the Responses hosted tool_search tool
};

enum class ThinkMode : uint8_t { None, High, Max };

inline std::string_view think_mode_name(ThinkMode mode) {
    switch (mode) {
        case ThinkMode::None:
            return "none";
        case ThinkMode::High:
            return "high";
        case ThinkMode::Max:
            return "max";
    }
    return "high";
}

inline bool thinking_enabled(ThinkMode mode) {
    return mode != ThinkMode::None;
}

// Think-Max is only honoured with a context of at least this many tokens (DeepSeek's guidance
// for its reasoning budget); below it the request silently gets High.
inline constexpr uint32_t kThinkMaxMinContext = 393216;

inline ThinkMode think_mode_for_context(ThinkMode requested, uint32_t context_size) {
    if (requested == ThinkMode::Max && context_size < kThinkMaxMinContext) return ThinkMode::High;
    return requested;
}

// As the client named it; think modes only distinguish None, Max and everything else.
enum class ReasoningEffort : uint8_t { Unspecified, None, Minimal, Low, Medium, High, XHigh, Max };

// Only None changes rendering (the tool block is left out); Required and Named are accepted and
// treated as Auto because forcing a call would need constrained decoding.
enum class ToolChoice : uint8_t { Auto, None, Required, Named };

struct Conversation {
    std::vector<Message> messages;
    std::vector<ToolSchema> tools;
    ToolChoice tool_choice = ToolChoice::Auto;
    std::string forced_tool_name;  // ToolChoice::Named
    ThinkMode requested_think_mode = ThinkMode::High;
    ReasoningEffort reasoning_effort = ReasoningEffort::Unspecified;
    uint32_t context_size = 0;  // tokens; gates Think-Max

    ThinkMode think_mode() const {
        return think_mode_for_context(requested_think_mode, context_size);
    }

    bool tools_active() const {
        if (tool_choice == ToolChoice::None) return false;
        for (const ToolSchema& tool : tools) {
            if (!tool.schema_json.empty()) return true;
        }
        return false;
    }
};

}  // namespace dsv4::chat
