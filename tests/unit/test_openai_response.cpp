// The response projections by hand: exact chunk and body shapes for chat completions and
// completions, the tool-call delta rules clients depend on (index on every delta; id, type and
// name only on the first), Anthropic block bookkeeping, Responses statuses, names and sequence
// numbers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/chat/openai_response.h"
#include "engine/common/json.h"

namespace dsv4::chat {
namespace {

const ResponseMeta kMeta{"chatcmpl-7", "deepseek-v4-flash", 1700000000};

OutputEvent reasoning(std::string text) {
    return {OutputEventKind::ReasoningDelta, std::move(text), 0, {}};
}
OutputEvent content(std::string text) {
    return {OutputEventKind::ContentDelta, std::move(text), 0, {}};
}
OutputEvent begin(size_t index, std::string name, std::string id) {
    return {OutputEventKind::ToolCallBegin, std::move(name), index, std::move(id)};
}
OutputEvent arguments(size_t index, std::string fragment) {
    return {OutputEventKind::ToolArgumentsDelta, std::move(fragment), index, {}};
}
OutputEvent end(size_t index) {
    return {OutputEventKind::ToolCallEnd, {}, index, {}};
}

ParsedOutput message_with_call() {
    ParsedOutput output;
    output.reasoning = "need ls";
    output.reasoning_closed = true;
    output.content = "Listing.";
    ParsedToolCall call;
    call.id = "call_1";
    call.name = "bash";
    call.arguments = R"({"command":"ls"})";
    call.complete = true;
    output.tool_calls.push_back(call);
    output.finish_reason = FinishReason::ToolCalls;
    return output;
}

constexpr std::string_view kChunkHead =
    R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,)"
    R"("model":"deepseek-v4-flash","choices":[{"index":0,"delta":)";

std::string chunk(std::string_view delta, std::string_view finish = "null") {
    return std::string(kChunkHead) + std::string(delta) + R"(,"finish_reason":)" +
           std::string(finish) + "}]}";
}

// ---- chat completions ----

TEST(ChatCompletionStream, ChunksHaveTheShapesClientsExpect) {
    ChatCompletionStream stream(kMeta, false);
    EXPECT_EQ(stream.role_chunk(), chunk(R"({"role":"assistant"})"));
    std::vector<std::string> payloads;
    stream.add({reasoning("a"), reasoning("b"), content("C"), begin(0, "bash", "call_1"),
                arguments(0, "{"), arguments(0, "\"x\":1}"), end(0), begin(1, "f", "call_2"),
                arguments(1, "{}"), end(1)},
               payloads);
    std::vector<std::string> want = {
        chunk(R"({"reasoning_content":"ab"})"),
        chunk(R"({"content":"C"})"),
        chunk(R"({"tool_calls":[{"index":0,"id":"call_1","type":"function",)"
              R"("function":{"name":"bash","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"id":"call_2","type":"function",)"
              R"("function":{"name":"f","arguments":""}}]})"),
        chunk(R"({"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]})"),
    };
    EXPECT_EQ(payloads, want);
}

TEST(ChatCompletionStream, FinishSendsUsageOnlyWhenAskedAndThenDone) {
    TokenUsage usage{120, 40, 100};
    std::vector<std::string> without;
    ChatCompletionStream(kMeta, false).finish(FinishReason::ToolCalls, usage, without);
    EXPECT_EQ(without, (std::vector<std::string>{chunk("{}", R"("tool_calls")"), "[DONE]"}));
    std::vector<std::string> with;
    ChatCompletionStream(kMeta, true).finish(FinishReason::Length, usage, with);
    ASSERT_EQ(with.size(), 3u);
    EXPECT_EQ(with[0], chunk("{}", R"("length")"));
    EXPECT_EQ(with[1],
              R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,)"
              R"("model":"deepseek-v4-flash","choices":[],"usage":{"prompt_tokens":120,)"
              R"("completion_tokens":40,"total_tokens":160,"prompt_tokens_details":)"
              R"({"cached_tokens":100,"cache_write_tokens":20}}})");
    EXPECT_EQ(with[2], kStreamDone);
}

TEST(ChatCompletionStream, ReasoningAliasIsOptional) {
    std::vector<std::string> payloads;
    ChatCompletionStream(kMeta, false, {true}).add({reasoning("r")}, payloads);
    EXPECT_EQ(payloads,
              std::vector<std::string>{chunk(R"({"reasoning_content":"r","reasoning":"r"})")});
    EXPECT_NE(chat_completion_body(kMeta, message_with_call(), {}, {true})
                  .find(R"("reasoning":"need ls")"),
              std::string::npos);
}

TEST(ChatCompletionBody, CarriesContentReasoningAndCalls) {
    EXPECT_EQ(chat_completion_body(kMeta, message_with_call(), {12, 4, 5}),
              R"({"id":"chatcmpl-7","object":"chat.completion","created":1700000000,)"
              R"("model":"deepseek-v4-flash","choices":[{"index":0,"message":{"role":)"
              R"("assistant","content":"Listing.","reasoning_content":"need ls","tool_calls":)"
              R"([{"id":"call_1","type":"function","function":{"name":"bash","arguments":)"
              R"("{\"command\":\"ls\"}"}}]},"finish_reason":"tool_calls"}],"usage":)"
              R"({"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,)"
              R"("prompt_tokens_details":{"cached_tokens":5,"cache_write_tokens":7}}})");
    ParsedOutput empty;
    std::string body = chat_completion_body(kMeta, empty, {});
    EXPECT_NE(body.find(R"("message":{"role":"assistant","content":""})"), std::string::npos);
    EXPECT_NE(body.find(R"("finish_reason":"stop")"), std::string::npos);
}

TEST(OpenAIUsage, CachedTokensNeverExceedThePrompt) {
    EXPECT_EQ(openai_usage_json({3, 1, 9}),
              R"({"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,)"
              R"("prompt_tokens_details":{"cached_tokens":9,"cache_write_tokens":0}})");
}

TEST(SseEvent, Framing) {
    EXPECT_EQ(sse_event("{}"), "data: {}\n\n");
    EXPECT_EQ(sse_event("{}", "message_stop"), "event: message_stop\ndata: {}\n\n");
}

// ---- completions ----

TEST(Completions, BodyAndChunks) {
    ResponseMeta meta{"cmpl-4", "m", 5};
    EXPECT_EQ(completion_body(meta, "Hi!", FinishReason::Length, {2, 1, 0}),
              R"({"id":"cmpl-4","object":"text_completion","created":5,"model":"m","choices":)"
              R"([{"text":"Hi!","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":2,)"
              R"("completion_tokens":1,"total_tokens":3,"prompt_tokens_details":)"
              R"({"cached_tokens":0,"cache_write_tokens":2}}})");
    CompletionStream stream(meta, true);
    std::vector<std::string> payloads;
    stream.add({content("a"), content("b</think>")}, payloads);
    stream.finish(FinishReason::Stop, {}, payloads);
    ASSERT_EQ(payloads.size(), 4u);
    EXPECT_EQ(payloads[0],
              R"({"id":"cmpl-4","object":"text_completion","created":5,"model":"m","choices":)"
              R"([{"text":"ab</think>","index":0,"finish_reason":null}]})");
    EXPECT_EQ(payloads[1],
              R"({"id":"cmpl-4","object":"text_completion","created":5,"model":"m","choices":)"
              R"([{"text":"","index":0,"finish_reason":"stop"}]})");
    EXPECT_NE(payloads[2].find(R"("choices":[],"usage":)"), std::string::npos);
    EXPECT_EQ(payloads[3], kStreamDone);
}

// ---- Anthropic ----

TEST(AnthropicMessage, BodyBlocks) {
    std::string body = anthropic_message_body(kMeta, message_with_call(), {10, 3, 4});
    EXPECT_EQ(body,
              R"({"id":"chatcmpl-7","type":"message","role":"assistant","model":)"
              R"("deepseek-v4-flash","content":[{"type":"thinking","thinking":"need ls",)"
              R"("signature":"chatcmpl-7"},{"type":"text","text":"Listing."},{"type":)"
              R"("tool_use","id":"call_1","name":"bash","input":{"command":"ls"}}],)"
              R"("stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":0,)"
              R"("output_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":6}})");
    ParsedOutput thinking_only;
    thinking_only.reasoning = "r";
    thinking_only.finish_reason = FinishReason::Length;
    std::string short_body = anthropic_message_body(kMeta, thinking_only, {});
    EXPECT_NE(short_body.find(R"("signature":"chatcmpl-7"},{"type":"text","text":""}])"),
              std::string::npos);
    EXPECT_NE(short_body.find(R"("stop_reason":"max_tokens")"), std::string::npos);
    EXPECT_EQ(anthropic_stop_reason(FinishReason::Error), "end_turn");
}

std::vector<std::string> names(const std::vector<SseEvent>& events) {
    std::vector<std::string> out;
    for (const SseEvent& event : events) out.push_back(event.name);
    return out;
}

TEST(AnthropicMessage, StreamOpensAndClosesBlocks) {
    AnthropicMessageStream stream(kMeta);
    SseEvent start = stream.message_start({10, 0, 4});
    EXPECT_EQ(start.name, "message_start");
    EXPECT_NE(start.data.find(R"("usage":{"input_tokens":0,"output_tokens":0,)"
                              R"("cache_read_input_tokens":4,"cache_creation_input_tokens":6})"),
              std::string::npos);
    std::vector<SseEvent> events;
    stream.add(
        {reasoning("r"), content("t"), begin(0, "bash", "toolu_1"), arguments(0, "{}"), end(0)},
        events);
    stream.finish(FinishReason::ToolCalls, {10, 7, 4}, events);
    EXPECT_EQ(names(events),
              (std::vector<std::string>{
                  "content_block_start", "content_block_delta", "content_block_delta",
                  "content_block_stop", "content_block_start", "content_block_delta",
                  "content_block_stop", "content_block_start", "content_block_delta",
                  "content_block_stop", "message_delta", "message_stop"}));
    EXPECT_EQ(events[2].data,
              R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",)"
              R"("signature":"chatcmpl-7"}})");
    EXPECT_EQ(events[7].data,
              R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use",)"
              R"("id":"toolu_1","name":"bash","input":{}}})");
    EXPECT_EQ(events[8].data,
              R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",)"
              R"("partial_json":"{}"}})");
    EXPECT_EQ(events[10].data,
              R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":)"
              R"(null},"usage":{"output_tokens":7}})");
}

TEST(AnthropicMessage, AStreamWithoutTextOrCallsEndsWithAnEmptyTextBlock) {
    AnthropicMessageStream stream(kMeta);
    std::vector<SseEvent> events;
    stream.finish(FinishReason::Stop, {}, events);
    EXPECT_EQ(names(events), (std::vector<std::string>{"content_block_start", "content_block_stop",
                                                       "message_delta", "message_stop"}));
    EXPECT_EQ(
        events[0].data,
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
}

// ---- Responses ----

std::function<std::string(std::string_view)> numbered_ids() {
    auto count = std::make_shared<int>(0);
    return
        [count](std::string_view prefix) { return std::string(prefix) + std::to_string(++*count); };
}

TEST(Responses, StatusFollowsTheFinishReason) {
    ResponsesMeta meta{"resp_1", "m", 5, true, nullptr, numbered_ids()};
    ParsedOutput cut;
    cut.reasoning = "thought";
    cut.content = "Hi!";
    cut.finish_reason = FinishReason::Length;
    EXPECT_EQ(responses_body(meta, cut, {12, 4, 0}),
              R"({"id":"resp_1","object":"response","created_at":5,"status":"incomplete",)"
              R"("model":"m","incomplete_details":{"reason":"max_tokens"},"output":[{"id":)"
              R"("rs_1","type":"reasoning","status":"incomplete","summary":[{"type":)"
              R"("summary_text","text":"thought"}]},{"id":"msg_2","type":"message","status":)"
              R"("incomplete","role":"assistant","content":[{"type":"output_text","text":"Hi!",)"
              R"("annotations":[]}]}],"usage":{"input_tokens":12,"input_tokens_details":)"
              R"({"cached_tokens":0,"cache_write_tokens":12},"output_tokens":4,)"
              R"("output_tokens_details":{"reasoning_tokens":0},"total_tokens":16}})");
    cut.finish_reason = FinishReason::Error;
    meta.include_reasoning = false;
    std::string failed = responses_body(meta, cut, {});
    EXPECT_NE(failed.find(R"("status":"failed","model":"m","error":{"code":"server_error",)"
                          R"("message":"generation failed"},"output":[{"id":"msg_)"),
              std::string::npos);
    EXPECT_EQ(failed.find(R"("type":"reasoning")"), std::string::npos);
}

TEST(Responses, CallsUseTheClientsNamesAndHostedToolSearch) {
    std::vector<ToolSchema> tools(2);
    tools[0].name = "mcp__search__query";
    tools[0].wire_name = "query";
    tools[0].namespace_name = "mcp__search__";
    tools[1].name = "tool_search";
    tools[1].hosted_tool_search = true;
    ResponsesMeta meta{"resp_1", "m", 5, false, &tools, numbered_ids()};
    ParsedOutput output;
    output.tool_calls = {{"call_a", "mcp__search__query", R"({"q":"x"})", "", true},
                         {"call_b", "tool_search", R"({"goal":"y"})", "", true}};
    output.finish_reason = FinishReason::ToolCalls;
    std::string body = responses_body(meta, output, {});
    EXPECT_NE(body.find(R"({"id":"fc_1","type":"function_call","status":"completed","name":)"
                        R"("query","namespace":"mcp__search__","call_id":"call_a","arguments":)"
                        R"("{\"q\":\"x\"}"})"),
              std::string::npos);
    EXPECT_NE(body.find(R"({"id":"fc_2","type":"tool_search_call","status":"completed",)"
                        R"("call_id":"call_b","execution":"client","arguments":{"goal":"y"}})"),
              std::string::npos);
}

TEST(Responses, StreamNumbersEventsAndSendsCallsAtTheEnd) {
    ResponsesMeta meta{"resp_1", "m", 5, false, nullptr, numbered_ids()};
    ResponsesStream stream(meta);
    std::vector<std::string> out{stream.created_event()};
    stream.add(
        {reasoning("hidden"), content("Hi"), begin(0, "f", "call_1"), arguments(0, "{}"), end(0)},
        out);
    ParsedOutput output;
    output.reasoning = "hidden";
    output.content = "Hi";
    output.tool_calls = {{"call_1", "f", "{}", "", true}};
    output.finish_reason = FinishReason::ToolCalls;
    stream.finish(output, {}, out);
    std::vector<std::string> types;
    for (size_t i = 0; i < out.size(); ++i) {
        json::Document event = json::parse(out[i]);
        EXPECT_EQ(event.root().at(1).as_int64(), static_cast<int64_t>(i));
        EXPECT_EQ(event.root().key_at(1), "sequence_number");
        types.push_back(event.root().find("type")->as_string());
    }
    EXPECT_EQ(
        types,
        (std::vector<std::string>{
            "response.created", "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"}));
    EXPECT_EQ(out.back().find("hidden"), std::string::npos);
}

}  // namespace
}  // namespace dsv4::chat
