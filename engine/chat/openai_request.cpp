#include "engine/chat/openai_request.h"

#include "engine/chat/openai_request_fields.h"
#include "engine/chat/openai_request_mappers.h"

namespace dsv4::chat {

using fields::element_path;
using fields::for_each_member;
using fields::member_path;
using json::Value;

RequestError::RequestError(int http_status, std::string client_message, const std::string& detail)
    : std::runtime_error(detail),
      http_status_(http_status),
      client_message_(std::move(client_message)) {}

std::string RequestError::error_body() const {
    json::Writer writer;
    writer.begin_object()
        .key("error")
        .begin_object()
        .key("message")
        .string(client_message_)
        .key("type")
        .string("invalid_request_error")
        .end_object()
        .end_object();
    return writer.take() + "\n";
}

std::string_view endpoint_path(Endpoint endpoint) {
    switch (endpoint) {
        case Endpoint::ChatCompletions:
            return "/v1/chat/completions";
        case Endpoint::Completions:
            return "/v1/completions";
        case Endpoint::AnthropicMessages:
            return "/v1/messages";
        case Endpoint::Responses:
            return "/v1/responses";
    }
    return "";
}

std::optional<Endpoint> endpoint_from_path(std::string_view path) {
    for (const Endpoint endpoint : {Endpoint::ChatCompletions, Endpoint::Completions,
                                    Endpoint::AnthropicMessages, Endpoint::Responses}) {
        if (endpoint_path(endpoint) == path) return endpoint;
    }
    return std::nullopt;
}

namespace {

// ---- /v1/chat/completions ----

struct PendingCall {
    std::optional<std::string> name;
    std::optional<std::string> arguments;
};

// `function`: name must be a string; arguments a JSON string (its decoded text) or any other
// JSON value (its raw bytes).
void read_function(const Value& function, const std::string& path, PendingCall& call) {
    fields::require_object(function, path);
    for_each_member(function, [&](std::string_view key, const Value& value) {
        if (key == "name") call.name = fields::string_field(value, member_path(path, key));
        if (key == "arguments") {
            call.arguments =
                value.is_string() ? std::string(fields::c_text(value.as_string())) : value.raw();
        }
    });
}

// A call lacking a name or arguments is dropped, as the reference does.
std::vector<ToolCall> read_tool_calls(const Value& value, const std::string& path) {
    std::vector<ToolCall> calls;
    if (value.is_null()) return calls;
    fields::require_array(value, path);
    for (size_t i = 0; i < value.size(); ++i) {
        const std::string call_path = element_path(path, i);
        const Value& entry = fields::require_object(value.at(i), call_path);
        std::string id;
        PendingCall pending;
        for_each_member(entry, [&](std::string_view key, const Value& member) {
            if (key == "id") id = fields::string_field(member, member_path(call_path, key));
            if (key == "function") read_function(member, member_path(call_path, key), pending);
        });
        if (pending.name && pending.arguments) {
            calls.push_back(
                ToolCall{std::move(id), std::move(*pending.name), std::move(*pending.arguments)});
        }
    }
    return calls;
}

Message read_chat_message(const Value& value, const std::string& path) {
    fields::require_object(value, path);
    Message message;
    std::string role = "user";
    std::optional<std::string> reasoning_alias;
    bool has_reasoning_content = false;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        const std::string member_at = member_path(path, key);
        if (key == "role") {
            role = fields::string_field(member, member_at);
        } else if (key == "content") {
            message.content = fields::chat_content(member, member_at);
        } else if (key == "reasoning_content") {
            message.reasoning = fields::chat_content(member, member_at);
            has_reasoning_content = true;
        } else if (key == "reasoning" && member.is_string()) {
            // Some clients echo reasoning back under this name; reasoning_content wins.
            reasoning_alias = std::string(fields::c_text(member.as_string()));
        } else if (key == "tool_call_id") {
            fields::add_tool_call_id(message, fields::string_field(member, member_at));
        } else if (key == "tool_calls") {
            message.tool_calls = read_tool_calls(member, member_at);
        }
    });
    if (!has_reasoning_content && reasoning_alias) message.reasoning = std::move(*reasoning_alias);
    message.role = fields::role_from_name(role);
    return message;
}

// Only the string "none" disables tools; other strings and objects (forced calls) act as auto.
void read_openai_tool_choice(const Value& value, Conversation& conversation,
                             bool& tool_choice_none) {
    if (value.is_string()) {
        const std::string_view choice = fields::c_text(value.as_string());
        tool_choice_none = choice == "none";
        conversation.tool_choice = choice == "required" ? ToolChoice::Required : ToolChoice::Auto;
    } else if (value.is_object()) {
        conversation.tool_choice = ToolChoice::Named;
        const Value* function = value.find("function");
        if (function != nullptr && function->is_object()) {
            const Value* name = function->find("name");
            if (name != nullptr && name->is_string())
                conversation.forced_tool_name = name->as_string();
        }
    }
}

// Sampling, streaming and thinking fields shared by chat completions and completions.
bool read_common_openai_field(std::string_view key, const Value& value, GenerationOptions& options,
                              fields::ThinkingControls& thinking) {
    const std::string path(key);
    if (key == "model") {
        options.model = fields::string_field(value, path);
    } else if (key == "temperature") {
        options.temperature = static_cast<float>(fields::number_field(value, path));
    } else if (key == "top_p") {
        options.top_p = static_cast<float>(fields::number_field(value, path));
    } else if (key == "min_p") {
        options.min_p = static_cast<float>(fields::number_field(value, path));
    } else if (key == "top_k") {
        options.top_k = fields::clamped_int_field(value, path);
    } else if (key == "seed") {
        options.seed = fields::seed_field(value, path);
    } else if (key == "stream") {
        options.stream = fields::bool_field(value, path);
    } else if (key == "stream_options") {
        fields::read_stream_options(value, path, options.include_usage);
    } else if (key == "thinking") {
        fields::read_thinking(value, path, thinking);
    } else if (key == "think") {
        thinking.enabled = fields::bool_field(value, path);
        thinking.explicit_control = true;
    } else if (key == "reasoning_effort") {
        fields::read_effort(value, path, thinking);
    } else if (key == "stop") {
        options.stop = fields::stop_list(value);
    } else {
        return false;
    }
    return true;
}

MappedRequest map_chat_completions(const Value& body, const MappingOptions& options) {
    MappedRequest request;
    request.endpoint = Endpoint::ChatCompletions;
    Conversation& conversation = request.conversation;
    fields::ThinkingControls thinking;
    bool got_messages = false;
    bool tool_choice_none = false;
    for_each_member(body, [&](std::string_view key, const Value& value) {
        if (key == "messages") {
            fields::require_array(value, "messages");
            conversation.messages.clear();
            for (size_t i = 0; i < value.size(); ++i) {
                conversation.messages.push_back(
                    read_chat_message(value.at(i), element_path("messages", i)));
            }
            got_messages = true;
        } else if (key == "tools") {
            conversation.tools = fields::tool_schemas(value, "tools");
        } else if (key == "tool_choice") {
            read_openai_tool_choice(value, conversation, tool_choice_none);
        } else if (key == "max_tokens" || key == "max_completion_tokens") {
            request.options.max_tokens = fields::clamped_int_field(value, std::string(key));
        } else {
            read_common_openai_field(key, value, request.options, thinking);
        }
    });
    if (!got_messages) {
        throw RequestError(400, "missing messages",
                           "missing messages: the request has no \"messages\" array");
    }
    if (tool_choice_none) conversation.tool_choice = ToolChoice::None;
    fields::apply_thinking(request, thinking, options);
    return request;
}

// ---- /v1/completions ----

// A string, or an array whose first element is used when it is a string; anything else is "".
std::string read_completion_prompt(const Value& value) {
    if (value.is_string()) return std::string(fields::c_text(value.as_string()));
    if (value.is_array() && value.size() > 0 && value.at(0).is_string()) {
        return std::string(fields::c_text(value.at(0).as_string()));
    }
    return {};
}

// The completions prompt is wrapped in the chat template with a fixed system line, which is
// exactly the rendering of this two-message conversation.
constexpr std::string_view kCompletionsSystemText = "You are a helpful assistant";

MappedRequest map_completions(const Value& body, const MappingOptions& options) {
    MappedRequest request;
    request.endpoint = Endpoint::Completions;
    fields::ThinkingControls thinking;
    std::optional<std::string> prompt;
    for_each_member(body, [&](std::string_view key, const Value& value) {
        if (key == "prompt") {
            prompt = read_completion_prompt(value);
        } else if (key == "max_tokens") {
            request.options.max_tokens = fields::clamped_int_field(value, "max_tokens");
        } else {
            read_common_openai_field(key, value, request.options, thinking);
        }
    });
    if (!prompt)
        throw RequestError(400, "missing prompt",
                           "missing prompt: the request has no \"prompt\" field");
    Message system;
    system.role = Role::System;
    system.content = std::string(kCompletionsSystemText);
    Message user;
    user.content = std::move(*prompt);
    request.conversation.messages.push_back(std::move(system));
    request.conversation.messages.push_back(std::move(user));
    fields::apply_thinking(request, thinking, options);
    return request;
}

}  // namespace

MappedRequest map_request(Endpoint endpoint, std::string_view body, const MappingOptions& options) {
    std::optional<json::Document> document;
    try {
        document.emplace(json::parse(body));
    } catch (const json::JsonError& error) {
        throw RequestError(400, "invalid JSON request",
                           std::string("invalid JSON request: ") + error.what());
    }
    const Value& root = document->root();
    if (!root.is_object()) {
        fields::reject("request body", "expected a JSON object, found " +
                                           std::string(json::kind_name(root.kind())));
    }
    switch (endpoint) {
        case Endpoint::ChatCompletions:
            return map_chat_completions(root, options);
        case Endpoint::Completions:
            return map_completions(root, options);
        case Endpoint::AnthropicMessages:
            return detail::map_anthropic_messages(root, options);
        case Endpoint::Responses:
            return detail::map_responses(root, options);
    }
    throw RequestError(404, "unknown endpoint", "unknown endpoint");
}

}  // namespace dsv4::chat
