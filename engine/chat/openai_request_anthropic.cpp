// Anthropic /v1/messages -> Conversation.
#include "engine/chat/openai_request_fields.h"
#include "engine/chat/openai_request_mappers.h"
#include "engine/chat/render.h"

namespace dsv4::chat::detail {

using fields::element_path;
using fields::for_each_member;
using fields::member_path;
using json::Value;

namespace {

// Claude Code puts a billing header in the system prompt; it is not for the model.
constexpr std::string_view kPrivateSystemPrefix = "x-anthropic-";
constexpr std::string_view kDefaultToolInput = "{}";

struct ContentBlock {
    std::optional<std::string> type, text, thinking, id, name, tool_result;
    std::optional<std::string_view> input;  // raw bytes
};

ContentBlock read_block(const Value& block, const std::string& path) {
    ContentBlock fields;
    for_each_member(block, [&](std::string_view key, const Value& value) {
        const std::string at = member_path(path, key);
        if (key == "type") fields.type = fields::string_field(value, at);
        if (key == "text") fields.text = fields::chat_content(value, at);
        if (key == "thinking") fields.thinking = fields::chat_content(value, at);
        if (key == "id" || key == "tool_use_id") fields.id = fields::string_field(value, at);
        if (key == "name") fields.name = fields::string_field(value, at);
        if (key == "input") fields.input = value.raw();
        if (key == "content") fields.tool_result = fields::chat_content(value, at);
    });
    return fields;
}

// Blocks are classified by their own type, so a message whose "content" comes before its
// "role" reads the same. Like the reference, a tool_result is inlined into the (user) message
// text as a <tool_result> block rather than becoming a tool message of its own.
void apply_block(const ContentBlock& block, Message& message) {
    if (block.type == "tool_use") {
        message.tool_calls.push_back(
            ToolCall{block.id.value_or(""), block.name.value_or(""),
                     std::string(block.input.value_or(kDefaultToolInput))});
    } else if (block.type == "tool_result") {
        fields::add_tool_call_id(message, block.id.value_or(""));
        append_tool_result_block(message.content, block.tool_result.value_or(""));
    } else {
        if (block.text) message.content += *block.text;
        if (block.thinking) message.reasoning += *block.thinking;
    }
}

// Content replaces the text read so far; reasoning, calls and result ids accumulate.
void read_content(const Value& value, const std::string& path, Message& message) {
    message.content.clear();
    if (value.is_string()) {
        message.content = fields::c_text(value.as_string());
        return;
    }
    if (!value.is_array()) return;
    for (size_t i = 0; i < value.size(); ++i) {
        const Value& item = value.at(i);
        if (item.is_string()) {
            message.content += fields::c_text(item.as_string());
        } else if (item.is_object()) {
            apply_block(read_block(item, element_path(path, i)), message);
        }
    }
}

Message read_message(const Value& value, const std::string& path) {
    fields::require_object(value, path);
    Message message;
    std::string role = "user";
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key == "role") role = fields::string_field(member, member_path(path, key));
        if (key == "content") read_content(member, member_path(path, key), message);
    });
    message.role = fields::role_from_name(role);
    return message;
}

void append_system_part(std::string& system, std::string_view part) {
    if (part.empty() || part.substr(0, kPrivateSystemPrefix.size()) == kPrivateSystemPrefix) {
        return;
    }
    if (!system.empty() && system.back() != '\n') system.push_back('\n');
    system += part;
}

// A string, or an array of strings / {"text":...} blocks joined by single newlines.
std::string read_system(const Value& value, const std::string& path) {
    std::string system;
    if (value.is_string()) {
        append_system_part(system, fields::c_text(value.as_string()));
        return system;
    }
    if (!value.is_array()) return system;
    for (size_t i = 0; i < value.size(); ++i) {
        const Value& item = value.at(i);
        if (item.is_string()) {
            append_system_part(system, fields::c_text(item.as_string()));
        } else if (item.is_object()) {
            const std::string item_path = element_path(path, i);
            for_each_member(item, [&](std::string_view key, const Value& member) {
                if (key == "text") {
                    append_system_part(system,
                                       fields::string_field(member, member_path(item_path, key)));
                }
            });
        }
    }
    return system;
}

// {"type":"none"} disables tools; every other choice acts as auto.
void read_tool_choice(const Value& value, Conversation& conversation, bool& tool_choice_none) {
    if (!value.is_object()) return;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key == "name" && member.is_string()) conversation.forced_tool_name = member.as_string();
        if (key != "type") return;
        const std::string type = fields::string_field(member, member_path("tool_choice", key));
        tool_choice_none = type == "none";
        if (type == "any") conversation.tool_choice = ToolChoice::Required;
        if (type == "tool") conversation.tool_choice = ToolChoice::Named;
    });
}

void read_output_config(const Value& value, fields::ThinkingControls& thinking) {
    if (!value.is_object()) return;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key == "effort") fields::read_effort(member, "output_config.effort", thinking);
    });
}

bool read_sampling_field(std::string_view key, const Value& value, GenerationOptions& options) {
    const std::string path(key);
    if (key == "model") {
        options.model = fields::string_field(value, path);
    } else if (key == "max_tokens") {
        options.max_tokens = fields::clamped_int_field(value, path);
    } else if (key == "temperature") {
        options.temperature = static_cast<float>(fields::number_field(value, path));
    } else if (key == "top_p") {
        options.top_p = static_cast<float>(fields::number_field(value, path));
    } else if (key == "top_k") {
        options.top_k = fields::clamped_int_field(value, path);
    } else if (key == "stream") {
        options.stream = fields::bool_field(value, path);
    } else if (key == "stop_sequences") {
        options.stop = fields::stop_list(value);
    } else {
        return false;
    }
    return true;
}

// A tool_result must answer a tool_use replayed earlier in the request or one still bound to
// the live session; otherwise there is no prefix to continue from.
void validate_tool_results(const std::vector<Message>& messages, const MappingOptions& options) {
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role != Role::User) continue;
        for (const std::string& id : messages[i].tool_call_ids) {
            if (options.is_live_call_id && options.is_live_call_id(id)) continue;
            if (find_prior_call(messages, i, id) != nullptr) continue;
            const std::string message =
                "Anthropic continuation state is not available for "
                "tool_use_id " +
                id + "; retry by replaying the full messages history";
            throw RequestError(400, message, message);
        }
    }
}

}  // namespace

const Message* find_prior_call(const std::vector<Message>& messages, size_t before,
                               std::string_view call_id) {
    if (call_id.empty()) return nullptr;
    for (size_t i = std::min(before, messages.size()); i-- > 0;) {
        if (messages[i].role != Role::Assistant) continue;
        for (const ToolCall& call : messages[i].tool_calls) {
            if (call.id == call_id) return &messages[i];
        }
    }
    return nullptr;
}

MappedRequest map_anthropic_messages(const Value& body, const MappingOptions& options) {
    MappedRequest request;
    request.endpoint = Endpoint::AnthropicMessages;
    Conversation& conversation = request.conversation;
    fields::ThinkingControls thinking;
    bool got_messages = false;
    bool tool_choice_none = false;
    std::string system;
    for_each_member(body, [&](std::string_view key, const Value& value) {
        if (key == "messages") {
            fields::require_array(value, "messages");
            conversation.messages.clear();
            for (size_t i = 0; i < value.size(); ++i) {
                conversation.messages.push_back(
                    read_message(value.at(i), element_path("messages", i)));
            }
            got_messages = true;
        } else if (key == "system") {
            system = read_system(value, "system");
        } else if (key == "tools") {
            conversation.tools = fields::tool_schemas(value, "tools");
        } else if (key == "tool_choice") {
            read_tool_choice(value, conversation, tool_choice_none);
        } else if (key == "thinking") {
            fields::read_thinking(value, "thinking", thinking);
        } else if (key == "output_config") {
            read_output_config(value, thinking);
        } else if (key == "reasoning_effort") {
            fields::read_effort(value, "reasoning_effort", thinking);
        } else {
            read_sampling_field(key, value, request.options);
        }
    });
    if (!got_messages) {
        throw RequestError(400, "missing messages",
                           "missing messages: the request has no \"messages\" array");
    }
    if (!system.empty()) {
        Message system_message;
        system_message.role = Role::System;
        system_message.content = std::move(system);
        conversation.messages.push_back(std::move(system_message));
    }
    if (tool_choice_none) conversation.tool_choice = ToolChoice::None;
    fields::apply_thinking(request, thinking, options);
    validate_tool_results(conversation.messages, options);
    return request;
}

}  // namespace dsv4::chat::detail
