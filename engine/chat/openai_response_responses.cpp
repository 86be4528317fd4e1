#include <algorithm>

#include "engine/chat/openai_response.h"
#include "engine/common/json.h"

namespace dsv4::chat {

namespace {

struct ItemIds {
    std::string reasoning;
    std::string message;
    std::vector<std::string> calls;
};

std::string_view response_status(FinishReason reason) {
    switch (reason) {
        case FinishReason::Length:
            return "incomplete";
        case FinishReason::Error:
            return "failed";
        default:
            return "completed";
    }
}

std::string_view item_status(FinishReason reason) {
    return reason == FinishReason::Length || reason == FinishReason::Error ? "incomplete"
                                                                           : "completed";
}

std::string_view call_status(const ParsedToolCall& call, FinishReason reason) {
    return call.complete ? item_status(reason) : "incomplete";
}

const ToolSchema* find_tool(const ResponsesMeta& meta, std::string_view name) {
    if (meta.tools == nullptr) return nullptr;
    for (const ToolSchema& tool : *meta.tools) {
        if (tool.name == name) return &tool;
    }
    return nullptr;
}

std::string new_item_id(const ResponsesMeta& meta, std::string_view prefix) {
    return meta.new_item_id ? meta.new_item_id(prefix) : random_item_id(prefix);
}

void write_reasoning_item(json::Writer& out, std::string_view id, std::string_view status,
                          std::string_view text) {
    out.begin_object()
        .key("id")
        .string(id)
        .key("type")
        .string("reasoning")
        .key("status")
        .string(status)
        .key("summary")
        .begin_array();
    if (!text.empty()) {
        out.begin_object().key("type").string("summary_text").key("text").string(text);
        out.end_object();
    }
    out.end_array().end_object();
}

void write_output_text_part(json::Writer& out, std::string_view text) {
    out.begin_object()
        .key("type")
        .string("output_text")
        .key("text")
        .string(text)
        .key("annotations")
        .begin_array()
        .end_array()
        .end_object();
}

void write_message_item(json::Writer& out, std::string_view id, std::string_view status,
                        const std::string* text) {
    out.begin_object()
        .key("id")
        .string(id)
        .key("type")
        .string("message")
        .key("status")
        .string(status)
        .key("role")
        .string("assistant")
        .key("content")
        .begin_array();
    if (text != nullptr) write_output_text_part(out, *text);
    out.end_array().end_object();
}

// A function call under the name and namespace the client gave the tool; the hosted
// tool_search tool gets its own item type with the arguments as an object.
void write_call_item(json::Writer& out, const ResponsesMeta& meta, std::string_view id,
                     const ParsedToolCall& call, std::string_view status, bool in_progress) {
    const ToolSchema* tool = find_tool(meta, call.name);
    out.begin_object().key("id").string(id);
    if (tool != nullptr && tool->hosted_tool_search) {
        out.key("type")
            .string("tool_search_call")
            .key("status")
            .string(status)
            .key("call_id")
            .string(call.id)
            .key("execution")
            .string("client")
            .key("arguments")
            .raw(call.arguments)
            .end_object();
        return;
    }
    std::string_view name =
        tool != nullptr && !tool->wire_name.empty() ? tool->wire_name : call.name;
    out.key("type").string("function_call").key("status").string(status).key("name").string(name);
    if (tool != nullptr && !tool->namespace_name.empty()) {
        out.key("namespace").string(tool->namespace_name);
    }
    out.key("call_id")
        .string(call.id)
        .key("arguments")
        .string(in_progress ? "" : call.arguments)
        .end_object();
}

std::string responses_usage_json(const TokenUsage& usage) {
    uint64_t cached = std::min(usage.cached_tokens, usage.prompt_tokens);
    json::Writer out;
    out.begin_object()
        .key("input_tokens")
        .number(usage.prompt_tokens)
        .key("input_tokens_details")
        .begin_object()
        .key("cached_tokens")
        .number(cached)
        .key("cache_write_tokens")
        .number(usage.prompt_tokens - cached)
        .end_object()
        .key("output_tokens")
        .number(usage.completion_tokens)
        .key("output_tokens_details")
        .begin_object()
        .key("reasoning_tokens")
        .number(0)
        .end_object()
        .key("total_tokens")
        .number(usage.prompt_tokens + usage.completion_tokens)
        .end_object();
    return out.take();
}

void write_response_head(json::Writer& out, const ResponsesMeta& meta, std::string_view status) {
    out.begin_object()
        .key("id")
        .string(meta.id)
        .key("object")
        .string("response")
        .key("created_at")
        .number(meta.created)
        .key("status")
        .string(status)
        .key("model")
        .string(meta.model);
}

bool has_reasoning_item(const ResponsesMeta& meta, const ParsedOutput& output) {
    return meta.include_reasoning && !output.reasoning.empty();
}

std::string response_object(const ResponsesMeta& meta, const ParsedOutput& output,
                            const TokenUsage& usage, const ItemIds& ids) {
    FinishReason reason = output.finish_reason;
    json::Writer out;
    write_response_head(out, meta, response_status(reason));
    if (reason == FinishReason::Length) {
        out.key("incomplete_details").begin_object().key("reason").string("max_tokens");
        out.end_object();
    } else if (reason == FinishReason::Error) {
        out.key("error")
            .begin_object()
            .key("code")
            .string("server_error")
            .key("message")
            .string("generation failed")
            .end_object();
    }
    out.key("output").begin_array();
    if (has_reasoning_item(meta, output)) {
        write_reasoning_item(out, ids.reasoning,
                             output.reasoning_closed ? "completed" : "incomplete",
                             output.reasoning);
    }
    if (!output.content.empty()) {
        write_message_item(out, ids.message, item_status(reason), &output.content);
    }
    for (size_t i = 0; i < output.tool_calls.size(); ++i) {
        const ParsedToolCall& call = output.tool_calls[i];
        write_call_item(out, meta, ids.calls[i], call, call_status(call, reason), false);
    }
    out.end_array().key("usage").raw(responses_usage_json(usage)).end_object();
    return out.take();
}

}  // namespace

std::string random_item_id(std::string_view prefix) {
    return std::string(prefix) + random_hex(12);
}

std::string responses_body(const ResponsesMeta& meta, const ParsedOutput& output,
                           const TokenUsage& usage) {
    ItemIds ids;
    if (has_reasoning_item(meta, output)) ids.reasoning = new_item_id(meta, "rs_");
    if (!output.content.empty()) ids.message = new_item_id(meta, "msg_");
    for (size_t i = 0; i < output.tool_calls.size(); ++i) {
        ids.calls.push_back(new_item_id(meta, "fc_"));
    }
    return response_object(meta, output, usage, ids);
}

// ---- stream ----

ResponsesStream::ResponsesStream(ResponsesMeta meta) : meta_(std::move(meta)) {}

// {"type":…,"sequence_number":…, members…}
std::string ResponsesStream::event(std::string_view type, std::string_view members_json) {
    json::Writer head;
    head.begin_object()
        .key("type")
        .string(type)
        .key("sequence_number")
        .number(sequence_++)
        .end_object();
    std::string out = head.take();
    if (!members_json.empty()) {
        out.insert(out.size() - 1, ",");
        out.insert(out.size() - 1, members_json);
    }
    return out;
}

namespace {

// The members of an object written by `write`, without its braces.
template <typename Write>
std::string members(Write write) {
    json::Writer out;
    out.begin_object();
    write(out);
    out.end_object();
    std::string text = out.take();
    return text.substr(1, text.size() - 2);
}

}  // namespace

std::string ResponsesStream::created_event() {
    json::Writer response;
    write_response_head(response, meta_, "in_progress");
    response.key("output").begin_array().end_array().end_object();
    std::string body = response.take();
    return event("response.created",
                 members([&](json::Writer& out) { out.key("response").raw(body); }));
}

void ResponsesStream::add(const std::vector<OutputEvent>& events, std::vector<std::string>& out) {
    for (const OutputEvent& delta : events) {
        if (delta.kind == OutputEventKind::ReasoningDelta) {
            reasoning_ += delta.text;
            if (meta_.include_reasoning) add_reasoning(delta.text, out);
        } else if (delta.kind == OutputEventKind::ContentDelta) {
            text_ += delta.text;
            add_text(delta.text, out);
        }
    }
}

void ResponsesStream::add_reasoning(std::string_view text, std::vector<std::string>& out) {
    auto item = [&](json::Writer& w) {
        w.key("item_id")
            .string(reasoning_id_)
            .key("output_index")
            .number(reasoning_index_)
            .key("summary_index")
            .number(0);
    };
    if (reasoning_index_ < 0) {
        reasoning_index_ = next_output_index_++;
        reasoning_id_ = new_item_id(meta_, "rs_");
        out.push_back(event("response.output_item.added", members([&](json::Writer& w) {
                                w.key("output_index").number(reasoning_index_).key("item");
                                write_reasoning_item(w, reasoning_id_, "in_progress", "");
                            })));
        out.push_back(event("response.reasoning_summary_part.added", members([&](json::Writer& w) {
                                item(w);
                                w.key("part").raw(R"({"type":"summary_text","text":""})");
                            })));
    }
    out.push_back(event("response.reasoning_summary_text.delta", members([&](json::Writer& w) {
                            item(w);
                            w.key("delta").string(text);
                        })));
}

void ResponsesStream::add_text(std::string_view text, std::vector<std::string>& out) {
    auto item = [&](json::Writer& w) {
        w.key("item_id")
            .string(message_id_)
            .key("output_index")
            .number(message_index_)
            .key("content_index")
            .number(0);
    };
    if (message_index_ < 0) {
        message_index_ = next_output_index_++;
        message_id_ = new_item_id(meta_, "msg_");
        out.push_back(event("response.output_item.added", members([&](json::Writer& w) {
                                w.key("output_index").number(message_index_).key("item");
                                write_message_item(w, message_id_, "in_progress", nullptr);
                            })));
        out.push_back(event("response.content_part.added", members([&](json::Writer& w) {
                                item(w);
                                w.key("part");
                                write_output_text_part(w, "");
                            })));
    }
    out.push_back(event("response.output_text.delta", members([&](json::Writer& w) {
                            item(w);
                            w.key("delta").string(text);
                        })));
}

// The reasoning item is closed only at the end, after any text, as the reference does.
void ResponsesStream::close_reasoning(bool completed, std::vector<std::string>& out) {
    auto item = [&](json::Writer& w) {
        w.key("item_id")
            .string(reasoning_id_)
            .key("output_index")
            .number(reasoning_index_)
            .key("summary_index")
            .number(0);
    };
    out.push_back(event("response.reasoning_summary_text.done", members([&](json::Writer& w) {
                            item(w);
                            w.key("text").string(reasoning_);
                        })));
    out.push_back(event("response.reasoning_summary_part.done", members([&](json::Writer& w) {
                            item(w);
                            w.key("part").begin_object().key("type").string("summary_text");
                            w.key("text").string(reasoning_).end_object();
                        })));
    out.push_back(event("response.output_item.done", members([&](json::Writer& w) {
                            w.key("output_index").number(reasoning_index_).key("item");
                            write_reasoning_item(w, reasoning_id_,
                                                 completed ? "completed" : "incomplete",
                                                 reasoning_);
                        })));
}

void ResponsesStream::close_message(FinishReason reason, std::vector<std::string>& out) {
    auto item = [&](json::Writer& w) {
        w.key("item_id")
            .string(message_id_)
            .key("output_index")
            .number(message_index_)
            .key("content_index")
            .number(0);
    };
    out.push_back(event("response.output_text.done", members([&](json::Writer& w) {
                            item(w);
                            w.key("text").string(text_);
                        })));
    out.push_back(event("response.content_part.done", members([&](json::Writer& w) {
                            item(w);
                            w.key("part");
                            write_output_text_part(w, text_);
                        })));
    out.push_back(event("response.output_item.done", members([&](json::Writer& w) {
                            w.key("output_index").number(message_index_).key("item");
                            write_message_item(w, message_id_, item_status(reason), &text_);
                        })));
}

// A call goes out whole: its item, its arguments in one delta (none for hosted tool_search),
// and the finished item.
void ResponsesStream::send_call(const ParsedToolCall& call, FinishReason reason,
                                std::string_view id, std::vector<std::string>& out) {
    int index = next_output_index_++;
    const ToolSchema* tool = find_tool(meta_, call.name);
    out.push_back(event("response.output_item.added", members([&](json::Writer& w) {
                            w.key("output_index").number(index).key("item");
                            write_call_item(w, meta_, id, call, "in_progress", true);
                        })));
    if (tool == nullptr || !tool->hosted_tool_search) {
        auto item = [&](json::Writer& w) {
            w.key("item_id").string(id).key("output_index").number(index);
        };
        out.push_back(event("response.function_call_arguments.delta", members([&](json::Writer& w) {
                                item(w);
                                w.key("delta").string(call.arguments);
                            })));
        out.push_back(event("response.function_call_arguments.done", members([&](json::Writer& w) {
                                item(w);
                                bool renamed = tool != nullptr && !tool->wire_name.empty();
                                w.key("name").string(renamed ? tool->wire_name : call.name);
                                if (tool != nullptr && !tool->namespace_name.empty()) {
                                    w.key("namespace").string(tool->namespace_name);
                                }
                                w.key("arguments").string(call.arguments);
                            })));
    }
    out.push_back(event("response.output_item.done", members([&](json::Writer& w) {
                            w.key("output_index").number(index).key("item");
                            write_call_item(w, meta_, id, call, call_status(call, reason), false);
                        })));
}

void ResponsesStream::finish(const ParsedOutput& output, const TokenUsage& usage,
                             std::vector<std::string>& out) {
    FinishReason reason = output.finish_reason;
    if (reasoning_index_ >= 0) close_reasoning(output.reasoning_closed, out);
    if (message_index_ >= 0) close_message(reason, out);
    ItemIds ids{reasoning_id_, message_id_, {}};
    for (const ParsedToolCall& call : output.tool_calls) {
        ids.calls.push_back(new_item_id(meta_, "fc_"));
        send_call(call, reason, ids.calls.back(), out);
    }
    std::string_view terminal = reason == FinishReason::Length  ? "response.incomplete"
                                : reason == FinishReason::Error ? "response.failed"
                                                                : "response.completed";
    std::string response = response_object(meta_, output, usage, ids);
    out.push_back(
        event(terminal, members([&](json::Writer& w) { w.key("response").raw(response); })));
}

}  // namespace dsv4::chat
