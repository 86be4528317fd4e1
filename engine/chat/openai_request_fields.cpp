#include "engine/chat/openai_request_fields.h"

#include <climits>
#include <cmath>
#include <optional>

namespace dsv4::chat::fields {

namespace {

constexpr std::string_view kInvalidJson = "invalid JSON request";
constexpr std::string_view kDefaultToolParameters = R"({"type":"object","properties":{}})";
constexpr std::string_view kToolSearchDescription = "Search available tools.";

std::string describe_kind(const Value& value) {
    return std::string("found ") + std::string(json::kind_name(value.kind()));
}

// The name a schema line declares, when it is an object with a string "name".
std::string schema_name(const Value& schema) {
    if (!schema.is_object()) return {};
    const Value* name = schema.find("name");
    if (name == nullptr || !name->is_string()) return {};
    return std::string(c_text(name->as_string()));
}

// Fields of a tool entry. Each synthesized form reads some of type / name / description as
// strings; a non-string value of one of those disqualifies the entry from that form (the
// reference stops reading it there), while fields the form does not read may hold anything.
enum StringField : unsigned { kTypeField = 1, kNameField = 2, kDescriptionField = 4 };

struct ToolEntryFields {
    std::optional<std::string> type, name, description;
    std::optional<std::string_view> parameters;  // raw bytes
    const Value* tools = nullptr;
};

std::optional<ToolEntryFields> read_tool_entry(const Value& entry, unsigned string_fields,
                                               bool input_schema_too) {
    if (!entry.is_object()) return std::nullopt;
    ToolEntryFields fields;
    bool readable = true;
    for_each_member(entry, [&](std::string_view key, const Value& value) {
        if (!readable) return;
        std::optional<std::string>* slot = nullptr;
        if (key == "type" && (string_fields & kTypeField)) slot = &fields.type;
        if (key == "name" && (string_fields & kNameField)) slot = &fields.name;
        if (key == "description" && (string_fields & kDescriptionField)) {
            slot = &fields.description;
        }
        if (slot != nullptr) {
            if (!value.is_string()) {
                readable = false;
                return;
            }
            *slot = std::string(c_text(value.as_string()));
        } else if (key == "parameters" || (input_schema_too && key == "input_schema")) {
            fields.parameters = value.raw();
        } else if (key == "tools") {
            fields.tools = &value;
        }
    });
    if (!readable) return std::nullopt;
    return fields;
}

std::string synthesized_schema(std::string_view name, std::string_view description,
                               std::optional<std::string_view> parameters) {
    std::string line = "{\"name\":";
    json::append_quoted(line, name);
    line += ",\"description\":";
    json::append_quoted(line, description);
    line += ",\"parameters\":";
    line += parameters.value_or(kDefaultToolParameters);
    line += '}';
    return line;
}

// A Responses {"type":"namespace","name":NS,"tools":[...]} entry: one line per inner function,
// named NS + name. Returns false when the entry is not such a namespace or yields no tool.
bool append_namespace_tools(const Value& entry, std::vector<ToolSchema>& out) {
    const auto fields = read_tool_entry(entry, kTypeField | kNameField, false);
    if (!fields || fields->type != "namespace" || !fields->name || fields->tools == nullptr ||
        !fields->tools->is_array()) {
        return false;
    }
    const std::string& namespace_name = *fields->name;
    bool appended = false;
    for (const Value& inner : fields->tools->children()) {
        const auto tool = read_tool_entry(inner, kTypeField | kNameField | kDescriptionField, true);
        if (!tool || (tool->type && *tool->type != "function") || !tool->name ||
            tool->name->empty()) {
            continue;
        }
        ToolSchema schema;
        schema.name = namespace_name + *tool->name;
        schema.schema_json =
            synthesized_schema(schema.name, tool->description.value_or(""), tool->parameters);
        schema.wire_name = *tool->name;
        schema.namespace_name = namespace_name;
        out.push_back(std::move(schema));
        appended = true;
    }
    return appended;
}

// The Responses hosted {"type":"tool_search"} tool.
std::optional<ToolSchema> hosted_tool_search(const Value& entry) {
    const auto fields = read_tool_entry(entry, kTypeField | kDescriptionField, false);
    if (!fields || fields->type != "tool_search") return std::nullopt;
    ToolSchema schema;
    schema.name = "tool_search";
    schema.schema_json = synthesized_schema(
        "tool_search", fields->description.value_or(std::string(kToolSearchDescription)),
        fields->parameters);
    schema.hosted_tool_search = true;
    return schema;
}

// The first "function" member of an OpenAI tool entry.
const Value* openai_function_member(const Value& entry) {
    if (!entry.is_object()) return nullptr;
    for (size_t i = 0; i < entry.size(); ++i) {
        if (c_text(entry.key_at(i)) == "function") return &entry.at(i);
    }
    return nullptr;
}

ToolSchema raw_schema(std::string_view raw, const Value& schema) {
    ToolSchema tool;
    tool.schema_json = raw;
    tool.name = schema_name(schema);
    return tool;
}

}  // namespace

void reject(const std::string& path, const std::string& problem) {
    throw RequestError(400, std::string(kInvalidJson),
                       std::string(kInvalidJson) + ": " + path + ": " + problem);
}

std::string_view c_text(const std::string& decoded) {
    std::string_view text(decoded);
    return text.substr(0, text.find('\0'));
}

std::string member_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

std::string element_path(const std::string& parent, size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

const Value& require_object(const Value& value, const std::string& path) {
    if (!value.is_object()) reject(path, "expected an object, " + describe_kind(value));
    return value;
}

const Value& require_array(const Value& value, const std::string& path) {
    if (!value.is_array()) reject(path, "expected an array, " + describe_kind(value));
    return value;
}

std::string string_field(const Value& value, const std::string& path) {
    if (!value.is_string()) reject(path, "expected a string, " + describe_kind(value));
    return std::string(c_text(value.as_string()));
}

bool bool_field(const Value& value, const std::string& path) {
    if (!value.is_bool()) reject(path, "expected true or false, " + describe_kind(value));
    return value.as_bool();
}

double number_field(const Value& value, const std::string& path) {
    if (!value.is_number()) reject(path, "expected a number, " + describe_kind(value));
    return value.as_double();
}

int clamped_int_field(const Value& value, const std::string& path) {
    const double number = number_field(value, path);
    if (!(number > 0)) return 0;
    if (number >= static_cast<double>(INT_MAX)) return INT_MAX;
    return static_cast<int>(number);
}

uint64_t seed_field(const Value& value, const std::string& path) {
    const double number = number_field(value, path);
    if (!(number > 0)) return 0;
    if (number >= 18446744073709551615.0) return UINT64_MAX;
    return static_cast<uint64_t>(number);
}

std::string chat_content(const Value& value, const std::string& path) {
    if (value.is_string()) return std::string(c_text(value.as_string()));
    if (!value.is_array()) return {};
    std::string text;
    for (size_t i = 0; i < value.size(); ++i) {
        const Value& item = value.at(i);
        if (item.is_string()) {
            text += c_text(item.as_string());
        } else if (item.is_object()) {
            const std::string item_path = element_path(path, i);
            for_each_member(item, [&](std::string_view key, const Value& member) {
                if (key == "text") text += string_field(member, member_path(item_path, "text"));
            });
        }
    }
    return text;
}

std::vector<std::string> stop_list(const Value& value) {
    std::vector<std::string> stops;
    const auto add = [&](const Value& item) {
        if (!item.is_string()) return;
        std::string text(c_text(item.as_string()));
        if (!text.empty()) stops.push_back(std::move(text));
    };
    if (value.is_array()) {
        for (const Value& item : value.children()) add(item);
    } else {
        add(value);
    }
    return stops;
}

void read_stream_options(const Value& value, const std::string& path, bool& include_usage) {
    if (!value.is_object()) return;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key == "include_usage") include_usage = bool_field(member, member_path(path, key));
    });
}

void read_thinking(const Value& value, const std::string& path, ThinkingControls& controls) {
    controls.explicit_control = true;
    if (value.is_bool()) {
        controls.enabled = value.as_bool();
        return;
    }
    if (!value.is_object()) return;
    for_each_member(value, [&](std::string_view key, const Value& member) {
        if (key != "type") return;
        const std::string type = string_field(member, member_path(path, key));
        if (type == "enabled") controls.enabled = true;
        if (type == "disabled") controls.enabled = false;
    });
}

bool read_effort(const Value& value, const std::string& path, ThinkingControls& controls) {
    if (value.is_null()) return false;
    const std::string name = string_field(value, path);
    struct Named {
        std::string_view name;
        ReasoningEffort effort;
        ThinkMode mode;
    };
    static constexpr Named kEfforts[] = {
        {"max", ReasoningEffort::Max, ThinkMode::Max},
        {"xhigh", ReasoningEffort::XHigh, ThinkMode::High},
        {"high", ReasoningEffort::High, ThinkMode::High},
        {"medium", ReasoningEffort::Medium, ThinkMode::High},
        {"low", ReasoningEffort::Low, ThinkMode::High},
        {"minimal", ReasoningEffort::Minimal, ThinkMode::High},
        {"none", ReasoningEffort::None, ThinkMode::None},
    };
    for (const Named& known : kEfforts) {
        if (known.name != name) continue;
        controls.effort = known.effort;
        controls.effort_mode = known.mode;
        return true;
    }
    reject(path, "unknown reasoning effort \"" + name +
                     "\" (expected max, xhigh, high, medium, low, minimal or none)");
}

ThinkMode resolve_think_mode(ThinkingControls controls, std::string_view model) {
    if (!controls.explicit_control && model == "deepseek-chat") controls.enabled = false;
    if (!controls.explicit_control && model == "deepseek-reasoner") controls.enabled = true;
    if (!controls.enabled || controls.effort_mode == ThinkMode::None) return ThinkMode::None;
    return controls.effort_mode == ThinkMode::Max ? ThinkMode::Max : ThinkMode::High;
}

void apply_thinking(MappedRequest& request, const ThinkingControls& controls,
                    const MappingOptions& options) {
    request.conversation.requested_think_mode = resolve_think_mode(controls, request.options.model);
    request.conversation.reasoning_effort = controls.effort;
    request.conversation.context_size = options.context_size;
}

std::vector<ToolSchema> tool_schemas(const Value& value, const std::string& path) {
    std::vector<ToolSchema> schemas;
    if (value.is_null()) return schemas;
    require_array(value, path);
    for (const Value& entry : value.children()) {
        if (const Value* function = openai_function_member(entry)) {
            schemas.push_back(raw_schema(function->raw(), *function));
        } else if (append_namespace_tools(entry, schemas)) {
            continue;
        } else if (auto hosted = hosted_tool_search(entry)) {
            schemas.push_back(std::move(*hosted));
        } else {
            schemas.push_back(raw_schema(entry.raw(), entry));
        }
    }
    return schemas;
}

Role role_from_name(std::string_view name) {
    if (name == "system") return Role::System;
    if (name == "developer") return Role::Developer;
    if (name == "user") return Role::User;
    if (name == "assistant") return Role::Assistant;
    if (name == "tool" || name == "function") return Role::Tool;
    return Role::Other;
}

void add_tool_call_id(Message& message, std::string id) {
    if (id.empty()) return;
    for (const std::string& known : message.tool_call_ids) {
        if (known == id) return;
    }
    message.tool_call_ids.push_back(std::move(id));
}

}  // namespace dsv4::chat::fields
