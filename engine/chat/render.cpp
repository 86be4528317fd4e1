#include "engine/chat/render.h"

#include "engine/chat/render_dsml.h"

namespace dsv4::chat {

const std::string_view kThinkMaxPrefix =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate "
    "step, considered alternative, and rejected hypothesis to ensure absolutely no assumption "
    "is left unchecked.\n\n";

namespace {

constexpr std::string_view kToolsIntro =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user question. You can invoke tools "
    "by writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" "
    "string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as raw text and set `string=\"true\"`. Preserve "
    "characters such as `>`, `&`, and `&&` exactly; never replace normal string characters with "
    "XML or HTML entity escapes. Only if a string value itself contains the exact closing "
    "parameter tag `</｜DSML｜parameter>`, write that tag as `&lt;/｜DSML｜parameter>` inside "
    "the value. For all other types (numbers, booleans, arrays, objects), pass the value in JSON "
    "format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning "
    "inside <think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

constexpr std::string_view kToolsOutro =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke "
    "tool calls. Use the exact parameter names from the schemas.";

constexpr std::string_view kToolResultOpen = "<tool_result>";
constexpr std::string_view kToolResultClose = "</tool_result>";

bool is_system_role(Role role) {
    return role == Role::System || role == Role::Developer;
}

bool is_user_like_role(Role role) {
    return role == Role::User || role == Role::Tool;
}

bool history_uses_tool_context(const Conversation& conversation, bool tools_active) {
    if (tools_active) return true;
    for (const Message& message : conversation.messages) {
        if (message.role == Role::Tool) return true;
        if (message.role == Role::Assistant && !message.tool_calls.empty()) return true;
    }
    return false;
}

}  // namespace

// Tool output is data and stays verbatim; only its own closing tag is defused, otherwise a
// file containing "</tool_result>" would end the result early.
void append_tool_result_block(std::string& out, std::string_view text) {
    out += kToolResultOpen;
    size_t start = 0;
    for (;;) {
        const size_t hit = text.find(kToolResultClose, start);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(start, hit - start));
        out += "&lt;";
        start = hit + 1;
    }
    out.append(text.substr(start));
    out += kToolResultClose;
}

namespace {

std::string system_block(const Conversation& conversation, bool tools_active) {
    // Tools first: a cache boundary trim then cuts the client's dynamic system tail rather
    // than the large, stable schema block.
    std::string system = tools_active ? render_tools_block(conversation) : std::string();
    for (const Message& message : conversation.messages) {
        if (!is_system_role(message.role)) continue;
        if (!system.empty()) system += "\n\n";
        system += message.content;
    }
    return system;
}

class TurnRenderer {
  public:
    TurnRenderer(const Conversation& conversation, bool think, bool tool_context, std::string& out)
        : conversation_(conversation), think_(think), tool_context_(tool_context), out_(out) {
        for (size_t i = 0; i < conversation.messages.size(); ++i) {
            if (is_user_like_role(conversation.messages[i].role)) last_user_like_ = i;
        }
    }

    void render_all() {
        for (size_t i = 0; i < conversation_.messages.size(); ++i) render(i);
        if (assistant_pending_) {
            out_ += kAssistantMarker;
            out_ += think_ ? kThinkOpen : kThinkClose;
        }
    }

  private:
    void render(size_t index) {
        const Message& message = conversation_.messages[index];
        switch (message.role) {
            case Role::User:
                out_ += kUserMarker;
                out_ += message.content;
                assistant_pending_ = true;
                in_tool_results_ = false;
                break;
            case Role::Tool:
                if (!in_tool_results_) out_ += kUserMarker;
                append_tool_result_block(out_, message.content);
                assistant_pending_ = true;
                in_tool_results_ = true;
                break;
            case Role::Assistant:
                render_assistant(index, message);
                break;
            case Role::System:
            case Role::Developer:
            case Role::Other:
                break;
        }
    }

    // An assistant turn only gets its marker and think part when a user-like turn opened it;
    // consecutive assistant messages continue the same turn as plain text.
    void render_assistant(size_t index, const Message& message) {
        if (assistant_pending_) {
            out_ += kAssistantMarker;
            if (think_ && (tool_context_ || !last_user_like_ || index > *last_user_like_)) {
                out_ += kThinkOpen;
                out_ += message.reasoning;
            }
            out_ += kThinkClose;
        }
        out_ += message.content;
        if (!message.tool_calls.empty()) {
            if (!message.exact_tool_calls_dsml.empty()) {
                out_ += message.exact_tool_calls_dsml;
            } else {
                out_ += canonical_tool_calls_dsml(message.tool_calls);
            }
        }
        out_ += kEndOfSentence;
        assistant_pending_ = false;
        in_tool_results_ = false;
    }

    const Conversation& conversation_;
    const bool think_;
    const bool tool_context_;
    std::string& out_;
    std::optional<size_t> last_user_like_;
    bool assistant_pending_ = false;
    bool in_tool_results_ = false;
};

}  // namespace

void MapToolReplay::remember(std::string call_id, std::string dsml, ReplaySource source) {
    blocks_[std::move(call_id)] = ReplayBlock{std::move(dsml), source};
}

std::optional<ReplayBlock> MapToolReplay::find(std::string_view call_id) {
    const auto it = blocks_.find(call_id);
    if (it == blocks_.end()) return std::nullopt;
    return it->second;
}

ReplayStats attach_tool_replay(Conversation& conversation, ToolReplay* replay) {
    ReplayStats stats;
    for (Message& message : conversation.messages) {
        if (message.tool_calls.empty() || !message.exact_tool_calls_dsml.empty()) continue;
        std::optional<ReplayBlock> shared;
        bool exact = replay != nullptr;
        int missing = 0;
        for (const ToolCall& call : message.tool_calls) {
            std::optional<ReplayBlock> block;
            if (replay != nullptr && !call.id.empty()) block = replay->find(call.id);
            if (!block || block->dsml.empty()) {
                exact = false;
                ++missing;
                continue;
            }
            if (!shared) {
                shared = std::move(block);
            } else {
                if (shared->dsml != block->dsml) exact = false;
                if (block->source == ReplaySource::Memory) shared->source = ReplaySource::Memory;
            }
        }
        if (exact && shared) {
            message.exact_tool_calls_dsml = std::move(shared->dsml);
            ++(shared->source == ReplaySource::Memory ? stats.memory : stats.disk);
        } else {
            ++stats.canonical;
            stats.missing_ids += missing;
        }
    }
    return stats;
}

std::string render_tools_block(const Conversation& conversation) {
    std::string schemas;
    for (const ToolSchema& tool : conversation.tools) {
        if (tool.schema_json.empty()) continue;
        if (!schemas.empty()) schemas.push_back('\n');
        schemas += tool.schema_json;
    }
    if (schemas.empty()) return schemas;
    std::string block;
    block.reserve(kToolsIntro.size() + schemas.size() + kToolsOutro.size());
    block += kToolsIntro;
    block += schemas;
    block += kToolsOutro;
    return block;
}

RenderedPrompt render_prompt(const Conversation& conversation) {
    RenderedPrompt prompt;
    prompt.think_mode = conversation.think_mode();
    prompt.tools_active = conversation.tools_active();
    prompt.preserves_reasoning = history_uses_tool_context(conversation, prompt.tools_active);

    std::string& out = prompt.text;
    out += kBeginOfSentence;
    if (prompt.think_mode == ThinkMode::Max) out += kThinkMaxPrefix;
    out += system_block(conversation, prompt.tools_active);
    TurnRenderer(conversation, thinking_enabled(prompt.think_mode), prompt.preserves_reasoning, out)
        .render_all();
    return prompt;
}

}  // namespace dsv4::chat
