// Request mapping beyond the golden vectors: generation options, field type checks and their
// error messages, duplicate keys, tool schema forms, continuation validation.
#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "engine/chat/openai_request.h"
#include "engine/chat/render.h"

namespace dsv4::chat {
namespace {

MappedRequest map_chat(std::string_view body, uint32_t context = 32768) {
    MappingOptions options;
    options.context_size = context;
    return map_request(Endpoint::ChatCompletions, body, options);
}

// what() of the refusal; fails the test when the request is accepted.
std::string refusal(Endpoint endpoint, std::string_view body, int expected_status = 400) {
    try {
        map_request(endpoint, body, MappingOptions{});
    } catch (const RequestError& error) {
        EXPECT_EQ(error.http_status(), expected_status) << error.what();
        return error.what();
    }
    ADD_FAILURE() << "accepted: " << body;
    return {};
}

std::string chat_refusal(std::string_view body) {
    return refusal(Endpoint::ChatCompletions, body);
}

TEST(ChatRequest, GenerationOptions) {
    const MappedRequest request = map_chat(
        R"({"model":"m1","messages":[],"max_tokens":12.9,"temperature":0.25,"top_p":0.5,
            "min_p":0.1,"top_k":-4,"seed":42,"stream":true,"stream_options":{"include_usage":true},
            "stop":["a","",5,"bc"]})");
    const GenerationOptions& options = request.options;
    EXPECT_EQ(options.model, "m1");
    EXPECT_EQ(options.max_tokens, 12);
    EXPECT_FLOAT_EQ(options.temperature, 0.25f);
    EXPECT_FLOAT_EQ(options.top_p, 0.5f);
    EXPECT_FLOAT_EQ(options.min_p, 0.1f);
    EXPECT_EQ(options.top_k, 0);
    EXPECT_EQ(options.seed, 42u);
    EXPECT_TRUE(options.stream);
    EXPECT_TRUE(options.include_usage);
    EXPECT_EQ(options.stop, (std::vector<std::string>{"a", "bc"}));
}

TEST(ChatRequest, DefaultsAndClamps) {
    MappedRequest request = map_chat(R"({"messages":[]})");
    EXPECT_EQ(request.options.model, kDefaultModelName);
    EXPECT_FALSE(request.options.max_tokens.has_value());
    EXPECT_FLOAT_EQ(request.options.temperature, kDefaultTemperature);
    EXPECT_FLOAT_EQ(request.options.min_p, kDefaultMinP);
    EXPECT_EQ(request.conversation.requested_think_mode, ThinkMode::High);
    request = map_chat(R"({"messages":[],"max_completion_tokens":1e300,"seed":-3,"stop":"x"})");
    EXPECT_EQ(request.options.max_tokens, INT_MAX);
    EXPECT_EQ(request.options.seed, 0u);
    EXPECT_EQ(request.options.stop, std::vector<std::string>{"x"});
    request = map_chat(R"({"messages":[],"stop":"x","stop":7})");
    EXPECT_TRUE(request.options.stop.empty()) << "a non-string stop clears the list";
}

TEST(ChatRequest, LastDuplicateKeyWins) {
    const MappedRequest request = map_chat(
        R"({"messages":[{"role":"user","content":"old"}],"model":"a","model":"b",
            "messages":[{"role":"user","content":"first","content":"second"}]})");
    EXPECT_EQ(request.options.model, "b");
    ASSERT_EQ(request.conversation.messages.size(), 1u);
    EXPECT_EQ(request.conversation.messages[0].content, "second");
}

TEST(ChatRequest, ThinkingControlsAndAliases) {
    EXPECT_EQ(
        map_chat(R"({"messages":[],"model":"deepseek-chat"})").conversation.requested_think_mode,
        ThinkMode::None);
    EXPECT_EQ(map_chat(R"({"messages":[],"model":"deepseek-chat","thinking":null})")
                  .conversation.requested_think_mode,
              ThinkMode::High)
        << "any thinking field is explicit control and disables the alias";
    EXPECT_EQ(map_chat(R"({"messages":[],"thinking":{"type":"disabled"},"think":true})")
                  .conversation.requested_think_mode,
              ThinkMode::High);
    const MappedRequest max = map_chat(R"({"messages":[],"reasoning_effort":"max"})", 400000);
    EXPECT_EQ(max.conversation.think_mode(), ThinkMode::Max);
    EXPECT_EQ(max.conversation.reasoning_effort, ReasoningEffort::Max);
    EXPECT_EQ(
        map_chat(R"({"messages":[],"reasoning_effort":"max"})", 1000).conversation.think_mode(),
        ThinkMode::High);
    EXPECT_EQ(map_chat(R"({"messages":[],"reasoning_effort":"minimal"})")
                  .conversation.requested_think_mode,
              ThinkMode::High);
}

TEST(ChatRequest, MessagesToolCallsAndRoles) {
    const MappedRequest request = map_chat(R"({"messages":[
        {"role":"assistant","reasoning_content":["r",{"text":"s"}],"tool_calls":[
            {"id":"c1","function":{"name":"f","arguments":{"a": 1}}},
            {"id":"c2","function":{"name":"g"}},
            {"function":{"arguments":"{}","name":"h"}}]},
        {"role":"function","tool_call_id":"c1","tool_call_id":"c9","tool_call_id":"c1","content":"x"},
        {"role":"User","content":"dropped later"},
        {"role":"assistant","reasoning":"alias"}]})");
    const auto& messages = request.conversation.messages;
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0].reasoning, "rs");
    ASSERT_EQ(messages[0].tool_calls.size(), 2u) << "a call without arguments is dropped";
    EXPECT_EQ(messages[0].tool_calls[0].arguments, "{\"a\": 1}") << "raw bytes of a JSON value";
    EXPECT_EQ(messages[0].tool_calls[1].name, "h");
    EXPECT_EQ(messages[0].tool_calls[1].id, "");
    EXPECT_EQ(messages[1].role, Role::Tool);
    EXPECT_EQ(messages[1].tool_call_ids, (std::vector<std::string>{"c1", "c9"}));
    EXPECT_EQ(messages[2].role, Role::Other) << "roles are case-sensitive";
    EXPECT_EQ(messages[3].reasoning, "alias");
}

TEST(ChatRequest, StringsEndAtTheirFirstNul) {
    const MappedRequest request =
        map_chat(R"({"messages":[{"role":"user\u0000x","content":["a\u0000b","c"]}]})");
    EXPECT_EQ(request.conversation.messages[0].role, Role::User);
    EXPECT_EQ(request.conversation.messages[0].content, "ac");
}

TEST(ChatRequest, ToolChoice) {
    const std::string tools = R"("tools":[{"type":"function","function":{"name":"f"}}])";
    EXPECT_TRUE(map_chat("{\"messages\":[]," + tools + ",\"tool_choice\":\"required\"}")
                    .conversation.tools_active());
    const MappedRequest none = map_chat("{\"messages\":[]," + tools + ",\"tool_choice\":\"none\"}");
    EXPECT_EQ(none.conversation.tool_choice, ToolChoice::None);
    EXPECT_FALSE(none.conversation.tools_active());
    const MappedRequest named =
        map_chat("{\"messages\":[]," + tools +
                 R"(,"tool_choice":{"type":"function","function":{"name":"f"}}})");
    EXPECT_EQ(named.conversation.tool_choice, ToolChoice::Named);
    EXPECT_EQ(named.conversation.forced_tool_name, "f");
    EXPECT_TRUE(named.conversation.tools_active());
}

TEST(ChatRequest, ToolSchemaForms) {
    const MappedRequest request = map_chat(R"({"messages":[],"tools":[
        {"type":"function","function": {"name" : "wrapped"} },
        {"name":"direct","input_schema":{}},
        {"type":"namespace","name":"ns__","tools":[
            {"type":"function","name":"inner","description":"d\"q","input_schema":{"type":"object"}},
            {"type":"custom","name":"skipped"},
            {"name":"plain"}]},
        {"type":"namespace","name":"empty","tools":[]},
        {"type":"tool_search","parameters":{"p":1}},
        null]})");
    const auto& tools = request.conversation.tools;
    ASSERT_EQ(tools.size(), 7u);
    EXPECT_EQ(tools[0].schema_json, R"({"name" : "wrapped"})");
    EXPECT_EQ(tools[0].name, "wrapped");
    EXPECT_EQ(tools[1].schema_json, R"({"name":"direct","input_schema":{}})");
    EXPECT_EQ(tools[2].schema_json,
              R"({"name":"ns__inner","description":"d\"q","parameters":{"type":"object"}})");
    EXPECT_EQ(tools[2].wire_name, "inner");
    EXPECT_EQ(tools[2].namespace_name, "ns__");
    EXPECT_EQ(
        tools[3].schema_json,
        R"({"name":"ns__plain","description":"","parameters":{"type":"object","properties":{}}})");
    EXPECT_EQ(tools[4].schema_json, R"({"type":"namespace","name":"empty","tools":[]})")
        << "a namespace with no usable tool stays raw";
    EXPECT_EQ(
        tools[5].schema_json,
        R"({"name":"tool_search","description":"Search available tools.","parameters":{"p":1}})");
    EXPECT_TRUE(tools[5].hosted_tool_search);
    EXPECT_EQ(tools[6].schema_json, "null");
}

TEST(ChatRequest, RefusalsNameTheField) {
    EXPECT_NE(chat_refusal(R"({"messages":[{"role":null}]})").find("messages[0].role"),
              std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[{"content":[{"text":5}]}]})")
                  .find("messages[0].content[0].text"),
              std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],"max_tokens":null})").find("max_tokens"),
              std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],"stream":1})").find("stream"), std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],"model":7})").find("model"), std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[{"tool_calls":[{"function":null}]}]})")
                  .find("messages[0].tool_calls[0].function"),
              std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],"thinking":{"type":1}})").find("thinking.type"),
              std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":{}})").find("messages"), std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],"tools":{}})").find("tools"), std::string::npos);
    EXPECT_NE(chat_refusal("[]").find("request body"), std::string::npos);
    EXPECT_NE(chat_refusal(R"({"messages":[],})").find("byte 15"), std::string::npos);
    EXPECT_NE(chat_refusal(R"({"model":"x"})").find("missing messages"), std::string::npos);
}

TEST(ChatRequest, ErrorBodyIsOpenAiShaped) {
    try {
        map_chat(R"({"messages":[],"reasoning_effort":"ultra"})");
        FAIL() << "accepted";
    } catch (const RequestError& error) {
        EXPECT_EQ(error.client_message(), "invalid JSON request");
        EXPECT_EQ(error.error_body(),
                  "{\"error\":{\"message\":\"invalid JSON "
                  "request\",\"type\":\"invalid_request_error\"}}\n");
        EXPECT_NE(std::string(error.what()).find("\"ultra\""), std::string::npos);
    }
}

TEST(CompletionsRequest, PromptForms) {
    const auto prompt_of = [](std::string_view body) {
        return map_request(Endpoint::Completions, body, MappingOptions{})
            .conversation.messages[1]
            .content;
    };
    EXPECT_EQ(prompt_of(R"({"prompt":"p"})"), "p");
    EXPECT_EQ(prompt_of(R"({"prompt":["a","b"]})"), "a");
    EXPECT_EQ(prompt_of(R"({"prompt":[1,"b"]})"), "");
    EXPECT_EQ(prompt_of(R"({"prompt":null})"), "");
    EXPECT_NO_THROW(map_request(Endpoint::Completions,
                                R"({"prompt":"p","max_completion_tokens":null})", MappingOptions{}))
        << "max_completion_tokens is not a completions field, so null there is ignored";
    EXPECT_THROW(
        map_request(Endpoint::Completions, R"({"prompt":"p","max_tokens":null})", MappingOptions{}),
        RequestError);
}

TEST(AnthropicRequest, ToolResultsMustAnswerAKnownCall) {
    const std::string body = R"({"messages":[{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"toolu_x","content":"out"}]}]})";
    const std::string message = refusal(Endpoint::AnthropicMessages, body);
    EXPECT_EQ(message,
              "Anthropic continuation state is not available for tool_use_id toolu_x; "
              "retry by replaying the full messages history");
    MappingOptions live;
    live.is_live_call_id = [](std::string_view id) { return id == "toolu_x"; };
    const MappedRequest request = map_request(Endpoint::AnthropicMessages, body, live);
    EXPECT_EQ(request.conversation.messages[0].content, "<tool_result>out</tool_result>");
}

TEST(AnthropicRequest, ContentBlocksAndOptions) {
    const MappedRequest request = map_request(Endpoint::AnthropicMessages, R"({
        "messages":[{"content":[{"text":"a","type":"text"},{"type":"image","source":{}},
                                {"type":"thinking","thinking":"t"},"s",
                                {"type":"tool_use","id":"u1","name":"Bash"}],"role":"assistant"}],
        "system":["x-anthropic-billing","one\n",{"text":"two"}],
        "stop_sequences":["END"],"top_k":3,"output_config":{"effort":"none"}})",
                                              MappingOptions{});
    const auto& messages = request.conversation.messages;
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].role, Role::Assistant);
    EXPECT_EQ(messages[0].content, "as");
    EXPECT_EQ(messages[0].reasoning, "t");
    ASSERT_EQ(messages[0].tool_calls.size(), 1u);
    EXPECT_EQ(messages[0].tool_calls[0].arguments, "{}");
    EXPECT_EQ(messages[1].role, Role::System);
    EXPECT_EQ(messages[1].content, "one\ntwo");
    EXPECT_EQ(request.options.stop, std::vector<std::string>{"END"});
    EXPECT_EQ(request.options.top_k, 3);
    EXPECT_EQ(request.conversation.requested_think_mode, ThinkMode::None);
}

TEST(ResponsesRequest, UnsupportedControlsAreRefusedVerbatim) {
    EXPECT_EQ(refusal(Endpoint::Responses, R"({"input":"x","tool_choice":"required"})"),
              "tool_choice=required not supported");
    EXPECT_EQ(refusal(Endpoint::Responses, R"({"input":"x","tool_choice":{"type":"function"}})"),
              "forced tool_choice not supported");
    EXPECT_EQ(refusal(Endpoint::Responses, R"({"input":"x","previous_response_id":"r"})"),
              "previous_response_id is not supported; replay full input instead");
    EXPECT_NE(refusal(Endpoint::Responses, R"({"instructions":"x"})").find("missing input"),
              std::string::npos);
    EXPECT_NE(
        refusal(Endpoint::Responses, R"({"input":[{"type":"message","status":"in_progress"}]})")
            .find("input[0].status"),
        std::string::npos);
    EXPECT_NE(refusal(Endpoint::Responses,
                      R"({"input":[{"role":"user","content":[{"type":"input_image"}]}]})")
                  .find("input[0].content[0]"),
              std::string::npos);
    EXPECT_NE(refusal(Endpoint::Responses, R"({"input":[{"type":"mystery"}]})").find("mystery"),
              std::string::npos);
}

TEST(ResponsesRequest, HostedCallsOutputsAndLoadedTools) {
    const MappedRequest request = map_request(Endpoint::Responses, R"({
        "input":[{"type":"reasoning","summary":[{"type":"summary_text","text":"r1"}],"content":"r2"},
                 {"type":"local_shell_call","call_id":"s1","action":{"cmd": ["ls"]}},
                 {"type":"local_shell_call_output","call_id":"s1","output":{"ok":true}},
                 {"type":"tool_search_call","call_id":"t1"},
                 {"type":"tool_search_output","id":"t1","tools":[{"type":"function","name":"found"}]},
                 {"type":"compaction"}],
        "tools":[{"type":"function","name":"mine"}],
        "reasoning":{"effort":"high","summary":"detailed"}})",
                                              MappingOptions{});
    const auto& messages = request.conversation.messages;
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0].reasoning, "r1\nr2");
    EXPECT_EQ(messages[0].tool_calls[0].name, "local_shell");
    EXPECT_EQ(messages[0].tool_calls[0].arguments, R"({"cmd": ["ls"]})");
    EXPECT_EQ(messages[1].content, R"({"ok":true})");
    ASSERT_EQ(messages[2].tool_calls.size(), 1u) << "a call after a tool output starts a new turn";
    EXPECT_EQ(messages[2].tool_calls[0].name, "tool_search");
    EXPECT_EQ(messages[2].tool_calls[0].arguments, "{}");
    EXPECT_EQ(messages[3].content, R"([{"type":"function","name":"found"}])");
    EXPECT_EQ(messages[3].tool_call_ids, std::vector<std::string>{"t1"});
    ASSERT_EQ(request.conversation.tools.size(), 2u);
    EXPECT_EQ(request.conversation.tools[0].name, "mine");
    EXPECT_EQ(request.conversation.tools[1].name, "found");
    EXPECT_TRUE(request.options.emit_reasoning_summary);
}

TEST(Endpoints, PathsRoundTrip) {
    for (const Endpoint endpoint : {Endpoint::ChatCompletions, Endpoint::Completions,
                                    Endpoint::AnthropicMessages, Endpoint::Responses}) {
        EXPECT_EQ(endpoint_from_path(endpoint_path(endpoint)), endpoint);
    }
    EXPECT_FALSE(endpoint_from_path("/v1/other").has_value());
}

}  // namespace
}  // namespace dsv4::chat
