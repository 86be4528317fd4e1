// OpenAI /v1/responses -> Conversation: input items collapse into the same message list as chat
// completions (reasoning items attach to the next assistant turn, consecutive calls merge into
// one assistant turn).
#include "engine/chat/openai_request_fields.h"
#include "engine/chat/openai_request_mappers.h"

namespace dsv4::chat::detail {

using fields::element_path;
using fields::for_each_member;
using fields::member_path;
using json::Value;

namespace {

constexpr std::string_view kDefaultArguments = "{}";

bool is_text_block_type(std::string_view type) {
    return type == "input_text" || type == "output_text" || type == "text" ||
           type == "summary_text" || type == "reasoning_text";
}

// Strict: a string, null, or an array of strings and typed text blocks. Anything else (images,
// files, bare numbers) is refused rather than silently dropped from the history.
std::string responses_text(const Value& value, const std::string& path) {
    if (value.is_string()) return std::string(fields::c_text(value.as_string()));
    if (value.is_null()) return {};
    if (!value.is_array()) fields::reject(path, "expected a string or an array of text parts");
    std::string text;
    for (size_t i = 0; i < value.size(); ++i) {
        const Value& item = value.at(i);
        const std::string item_path = element_path(path, i);
        if (item.is_string()) {
            text += fields::c_text(item.as_string());
            continue;
        }
        if (!item.is_object()) fields::reject(item_path, "expected a string or a text part");
        std::optional<std::string> type, part;
        for_each_member(item, [&](std::string_view key, const Value& member) {
            if (key == "type") type = fields::string_field(member, member_path(item_path, key));
            if (key == "text") {
                part = member.is_null() ? std::string()
                                        : fields::string_field(member, member_path(item_path, key));
            }
        });
        if (!type || !is_text_block_type(*type) || !part) {
            fields::reject(item_path,
                           "only text parts (input_text, output_text, text, "
                           "summary_text, reasoning_text) with a \"text\" are supported");
        }
        text += *part;
    }
    return text;
}

// A JSON string's text, or any other value's raw bytes.
std::string string_or_raw(const Value& value) {
    if (value.is_string()) return std::string(fields::c_text(value.as_string()));
    return std::string(value.raw());
}

struct InputItem {
    std::optional<std::string> type, role, content, name, namespace_name, call_id, item_id;
    std::optional<std::string> arguments, output, input, summary, action, result, status;
    const Value* tools = nullptr;
};

InputItem read_item(const Value& value, const std::string& path) {
    fields::require_object(value, path);
    InputItem item;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        const std::string at = member_path(path, key);
        if (key == "type") item.type = fields::string_field(member, at);
        if (key == "role") item.role = fields::string_field(member, at);
        if (key == "content") item.content = responses_text(member, at);
        if (key == "name") item.name = fields::string_field(member, at);
        if (key == "namespace") item.namespace_name = fields::string_field(member, at);
        if (key == "call_id") item.call_id = fields::string_field(member, at);
        if (key == "id") item.item_id = fields::string_field(member, at);
        if (key == "arguments") item.arguments = string_or_raw(member);
        if (key == "output") {
            item.output = member.is_array() ? responses_text(member, at) : string_or_raw(member);
        }
        if (key == "input") item.input = string_or_raw(member);
        if (key == "summary") item.summary = responses_text(member, at);
        if (key == "action") item.action = std::string(member.raw());
        if (key == "result") item.result = string_or_raw(member);
        if (key == "status") item.status = fields::string_field(member, at);
        if (key == "tools") item.tools = &member;
    });
    return item;
}

bool is_call_item(std::string_view type) {
    return type == "function_call" || type == "custom_tool_call";
}

bool is_hosted_call_item(std::string_view type) {
    return type == "local_shell_call" || type == "web_search_call" || type == "tool_search_call" ||
           type == "image_generation_call";
}

bool is_hosted_output_item(std::string_view type) {
    return type == "local_shell_call_output" || type == "web_search_call_output" ||
           type == "tool_search_output" || type == "tool_search_call_output" ||
           type == "image_generation_call_output";
}

class InputReader {
  public:
    InputReader(std::vector<Message>& messages, std::vector<ToolSchema>& loaded_tools)
        : messages_(messages), loaded_tools_(loaded_tools) {}

    void read(const Value& input) {
        fields::require_array(input, "input");
        for (size_t i = 0; i < input.size(); ++i) {
            const std::string path = element_path("input", i);
            apply(read_item(input.at(i), path), path);
        }
        // Reasoning that ended the history still belongs to an (empty) assistant turn.
        if (!pending_reasoning_.empty()) push_reasoning_only_turn();
    }

  private:
    void apply(const InputItem& item, const std::string& path) {
        const std::string type = item.type.value_or("message");
        // Items that are not completed describe model state the client never confirmed.
        if (item.status && !item.status->empty() && *item.status != "completed") {
            fields::reject(member_path(path, "status"),
                           "only completed items can be replayed, found \"" + *item.status + "\"");
        }
        const bool is_assistant_message = type == "message" && item.role == "assistant";
        const bool consumes_reasoning =
            is_assistant_message || is_call_item(type) || is_hosted_call_item(type);
        const bool is_bookkeeping = type == "compaction" || type == "context_compaction";
        if (!consumes_reasoning && !is_bookkeeping && !pending_reasoning_.empty()) {
            push_reasoning_only_turn();
        }
        if (type == "message") {
            Message message;
            message.role = fields::role_from_name(item.role.value_or("user"));
            message.content = item.content.value_or("");
            if (is_assistant_message) message.reasoning = take_reasoning();
            messages_.push_back(std::move(message));
        } else if (is_call_item(type) || is_hosted_call_item(type)) {
            add_call(call_from_item(item, type));
        } else if (type == "function_call_output" || type == "custom_tool_call_output") {
            push_tool_output(item, item.output.value_or(""));
        } else if (type == "reasoning") {
            append_reasoning(item.summary);
            append_reasoning(item.content);
        } else if (is_hosted_output_item(type)) {
            if (type == "tool_search_output" && item.tools != nullptr) {
                auto loaded = fields::tool_schemas(*item.tools, member_path(path, "tools"));
                for (ToolSchema& schema : loaded) loaded_tools_.push_back(std::move(schema));
            }
            std::string body = item.output   ? *item.output
                               : item.result ? *item.result
                               : item.tools  ? std::string(item.tools->raw())
                                             : std::string();
            push_tool_output(item, std::move(body));
        } else if (!is_bookkeeping) {
            fields::reject(member_path(path, "type"),
                           "unsupported input item type \"" + type + "\"");
        }
    }

    static ToolCall call_from_item(const InputItem& item, const std::string& type) {
        ToolCall call;
        call.id = item.call_id ? *item.call_id : item.item_id.value_or("");
        if (is_call_item(type)) {
            call.arguments = item.arguments ? *item.arguments
                                            : item.input.value_or(std::string(kDefaultArguments));
            const bool qualified = type == "function_call" && item.namespace_name &&
                                   !item.namespace_name->empty() && item.name &&
                                   !item.name->empty();
            call.name = qualified ? *item.namespace_name + *item.name : item.name.value_or("");
        } else {
            call.arguments = item.action      ? *item.action
                             : item.arguments ? *item.arguments
                                              : item.input.value_or(std::string(kDefaultArguments));
            call.name = type == "tool_search_call"   ? "tool_search"
                        : type == "local_shell_call" ? "local_shell"
                                                     : type;
        }
        return call;
    }

    // A message's text and its calls arrive as separate items; they form one assistant turn.
    void add_call(ToolCall call) {
        if (!messages_.empty() && messages_.back().role == Role::Assistant) {
            Message& last = messages_.back();
            if (!pending_reasoning_.empty() && last.reasoning.empty())
                last.reasoning = take_reasoning();
            last.tool_calls.push_back(std::move(call));
            return;
        }
        Message message;
        message.role = Role::Assistant;
        message.reasoning = take_reasoning();
        message.tool_calls.push_back(std::move(call));
        messages_.push_back(std::move(message));
    }

    void push_tool_output(const InputItem& item, std::string body) {
        Message message;
        message.role = Role::Tool;
        message.content = std::move(body);
        if (item.call_id || item.item_id) {
            fields::add_tool_call_id(message, item.call_id ? *item.call_id : *item.item_id);
        }
        messages_.push_back(std::move(message));
    }

    void append_reasoning(const std::optional<std::string>& text) {
        if (!text || text->empty()) return;
        if (!pending_reasoning_.empty()) pending_reasoning_.push_back('\n');
        pending_reasoning_ += *text;
    }

    std::string take_reasoning() {
        std::string reasoning = std::move(pending_reasoning_);
        pending_reasoning_.clear();
        return reasoning;
    }

    void push_reasoning_only_turn() {
        Message message;
        message.role = Role::Assistant;
        message.reasoning = take_reasoning();
        messages_.push_back(std::move(message));
    }

    std::vector<Message>& messages_;
    std::vector<ToolSchema>& loaded_tools_;
    std::string pending_reasoning_;
};

// "none" disables tools, "auto" is the default; anything that would force a call is refused
// because it needs constrained decoding.
void read_tool_choice(const Value& value, Conversation& conversation, bool& tool_choice_none) {
    if (value.is_string()) {
        const std::string choice(fields::c_text(value.as_string()));
        if (choice == "none") {
            tool_choice_none = true;
        } else if (choice != "auto") {
            const std::string message = "tool_choice=" + choice + " not supported";
            throw RequestError(400, message, message);
        }
        conversation.tool_choice = ToolChoice::Auto;
    } else if (value.is_object()) {
        const std::string message = "forced tool_choice not supported";
        throw RequestError(400, message, message);
    }
}

void read_reasoning(const Value& value, GenerationOptions& options,
                    fields::ThinkingControls& thinking) {
    if (!value.is_object()) return;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key == "effort" && fields::read_effort(member, "reasoning.effort", thinking)) {
            thinking.explicit_control = true;
        }
        if (key == "summary" && member.is_string()) {
            const std::string_view mode = fields::c_text(member.as_string());
            if (mode == "auto" || mode == "concise" || mode == "detailed") {
                options.emit_reasoning_summary = true;
            }
        }
    });
}

bool read_sampling_field(std::string_view key, const Value& value, GenerationOptions& options) {
    const std::string path(key);
    if (key == "model") {
        options.model = fields::string_field(value, path);
    } else if (key == "max_output_tokens" || key == "max_tokens") {
        options.max_tokens = fields::clamped_int_field(value, path);
    } else if (key == "temperature") {
        options.temperature = static_cast<float>(fields::number_field(value, path));
    } else if (key == "top_p") {
        options.top_p = static_cast<float>(fields::number_field(value, path));
    } else if (key == "stream") {
        options.stream = fields::bool_field(value, path);
    } else {
        return false;
    }
    return true;
}

// A tool output must answer a call replayed earlier in the input or one still bound to the
// live session; otherwise there is no history to continue.
void validate_tool_outputs(const std::vector<Message>& messages, const MappingOptions& options) {
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role != Role::Tool) continue;
        for (const std::string& id : messages[i].tool_call_ids) {
            if (options.is_live_call_id && options.is_live_call_id(id)) continue;
            if (find_prior_call(messages, i, id) != nullptr) continue;
            const std::string message =
                "Responses continuation state is not available for "
                "call_id " +
                id + "; retry by replaying the full input history";
            throw RequestError(400, message, message);
        }
    }
}

}  // namespace

MappedRequest map_responses(const Value& body, const MappingOptions& options) {
    MappedRequest request;
    request.endpoint = Endpoint::Responses;
    Conversation& conversation = request.conversation;
    fields::ThinkingControls thinking;
    bool got_input = false;
    bool tool_choice_none = false;
    std::string instructions;
    std::vector<ToolSchema> request_tools, loaded_tools;
    for_each_member(body, [&](std::string_view key, const Value& value) {
        if (key == "input") {
            conversation.messages.clear();
            if (value.is_string()) {
                Message message;
                message.content = fields::c_text(value.as_string());
                conversation.messages.push_back(std::move(message));
            } else {
                InputReader(conversation.messages, loaded_tools).read(value);
            }
            got_input = true;
        } else if (key == "instructions") {
            instructions =
                value.is_null() ? std::string() : fields::string_field(value, "instructions");
        } else if (key == "tools") {
            request_tools = fields::tool_schemas(value, "tools");
        } else if (key == "tool_choice") {
            read_tool_choice(value, conversation, tool_choice_none);
        } else if (key == "reasoning") {
            read_reasoning(value, request.options, thinking);
        } else if (key == "previous_response_id" || key == "conversation") {
            if (!value.is_null()) {
                const std::string message =
                    std::string(key) + " is not supported; replay full input instead";
                throw RequestError(400, message, message);
            }
        } else {
            read_sampling_field(key, value, request.options);
        }
    });
    if (!got_input)
        throw RequestError(400, "missing input",
                           "missing input: the request has no \"input\" field");
    if (!instructions.empty()) {
        Message system;
        system.role = Role::System;
        system.content = std::move(instructions);
        conversation.messages.insert(conversation.messages.begin(), std::move(system));
    }
    conversation.tools = std::move(request_tools);
    for (ToolSchema& schema : loaded_tools) conversation.tools.push_back(std::move(schema));
    if (tool_choice_none) conversation.tool_choice = ToolChoice::None;
    fields::apply_thinking(request, thinking, options);
    validate_tool_outputs(conversation.messages, options);
    return request;
}

}  // namespace dsv4::chat::detail
