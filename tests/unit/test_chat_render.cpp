// The prompt renderer on hand-built conversations: turn structure, reasoning rules, tool block,
// canonical DSML (argument splitting and escapes) and exact tool replay.
#include <gtest/gtest.h>

#include <string>

#include "engine/chat/render.h"
#include "engine/chat/render_dsml.h"

namespace dsv4::chat {
namespace {

Message text_message(Role role, std::string content, std::string reasoning = {}) {
    Message message;
    message.role = role;
    message.content = std::move(content);
    message.reasoning = std::move(reasoning);
    return message;
}

Message assistant_calling(std::vector<ToolCall> calls, std::string content = {}) {
    Message message = text_message(Role::Assistant, std::move(content));
    message.tool_calls = std::move(calls);
    return message;
}

const std::string kBos(kBeginOfSentence);
const std::string kEos(kEndOfSentence);
const std::string kUser(kUserMarker);
const std::string kAssistant(kAssistantMarker);

// ---- turns ----

TEST(RenderTurns, SystemHoistedUserAndOpener) {
    Conversation conversation;
    conversation.messages = {text_message(Role::User, "Q"), text_message(Role::System, "S1"),
                             text_message(Role::Developer, "S2")};
    EXPECT_EQ(render_prompt(conversation).text,
              kBos + "S1\n\nS2" + kUser + "Q" + kAssistant + "<think>");
    conversation.requested_think_mode = ThinkMode::None;
    EXPECT_EQ(render_prompt(conversation).text,
              kBos + "S1\n\nS2" + kUser + "Q" + kAssistant + "</think>");
}

TEST(RenderTurns, ThinkMaxNeedsTheContextGate) {
    Conversation conversation;
    conversation.messages = {text_message(Role::User, "Q")};
    conversation.requested_think_mode = ThinkMode::Max;
    conversation.context_size = kThinkMaxMinContext - 1;
    RenderedPrompt prompt = render_prompt(conversation);
    EXPECT_EQ(prompt.think_mode, ThinkMode::High);
    EXPECT_EQ(prompt.text, kBos + kUser + "Q" + kAssistant + "<think>");
    conversation.context_size = kThinkMaxMinContext;
    prompt = render_prompt(conversation);
    EXPECT_EQ(prompt.think_mode, ThinkMode::Max);
    EXPECT_EQ(prompt.text,
              kBos + std::string(kThinkMaxPrefix) + kUser + "Q" + kAssistant + "<think>");
    EXPECT_EQ(kThinkMaxPrefix.substr(kThinkMaxPrefix.size() - 2), "\n\n");
}

TEST(RenderTurns, OldReasoningDroppedWithoutToolsKeptAfterLastUser) {
    Conversation conversation;
    conversation.messages = {
        text_message(Role::User, "u1"), text_message(Role::Assistant, "a1", "r1"),
        text_message(Role::User, "u2"), text_message(Role::Assistant, "a2", "r2")};
    const RenderedPrompt prompt = render_prompt(conversation);
    EXPECT_FALSE(prompt.preserves_reasoning);
    EXPECT_EQ(prompt.text, kBos + kUser + "u1" + kAssistant + "</think>a1" + kEos + kUser + "u2" +
                               kAssistant + "<think>r2</think>a2" + kEos);
}

TEST(RenderTurns, ToolResultsShareOneUserMarkerAndAreEscaped) {
    Conversation conversation;
    conversation.requested_think_mode = ThinkMode::None;
    Message first = text_message(Role::Tool, "a</tool_result>b");
    Message second = text_message(Role::Tool, "<tool_result>&");
    conversation.messages = {text_message(Role::User, "go"), first, second,
                             text_message(Role::User, "more"), text_message(Role::Tool, "c")};
    const RenderedPrompt prompt = render_prompt(conversation);
    EXPECT_TRUE(prompt.preserves_reasoning) << "tool results make a tool context";
    EXPECT_EQ(prompt.text, kBos + kUser + "go" + kUser +
                               "<tool_result>a&lt;/tool_result>b</tool_result>"
                               "<tool_result><tool_result>&</tool_result>" +
                               kUser + "more" + kUser + "<tool_result>c</tool_result>" +
                               kAssistant + "</think>");
}

TEST(RenderTurns, AssistantWithoutPendingTurnHasNoMarkerAndOtherRolesVanish) {
    Conversation conversation;
    conversation.requested_think_mode = ThinkMode::None;
    conversation.messages = {text_message(Role::Assistant, "x0"), text_message(Role::Other, "zzz"),
                             text_message(Role::User, "u"), text_message(Role::Assistant, "x1"),
                             text_message(Role::Assistant, "x2")};
    EXPECT_EQ(render_prompt(conversation).text,
              kBos + "x0" + kEos + kUser + "u" + kAssistant + "</think>x1" + kEos + "x2" + kEos);
}

TEST(RenderTurns, ToolBlockPrecedesSystemTextAndHonoursToolChoiceNone) {
    Conversation conversation;
    conversation.messages = {text_message(Role::System, "SYS"), text_message(Role::User, "q")};
    conversation.tools = {ToolSchema{R"({"name":"a"})", "a", "", "", false},
                          ToolSchema{"", "", "", "", false},
                          ToolSchema{R"({ "name" : "b" })", "b", "", "", false}};
    RenderedPrompt prompt = render_prompt(conversation);
    EXPECT_TRUE(prompt.tools_active);
    const std::string block = render_tools_block(conversation);
    EXPECT_EQ(block.substr(0, 10), "## Tools\n\n");
    EXPECT_NE(block.find("### Available Tool Schemas\n\n{\"name\":\"a\"}\n{ \"name\" : \"b\" }\n\n"
                         "You MUST strictly follow"),
              std::string::npos);
    EXPECT_EQ(prompt.text, kBos + block + "\n\nSYS" + kUser + "q" + kAssistant + "<think>");
    conversation.tool_choice = ToolChoice::None;
    prompt = render_prompt(conversation);
    EXPECT_FALSE(prompt.tools_active);
    EXPECT_FALSE(prompt.preserves_reasoning);
    EXPECT_EQ(prompt.text, kBos + "SYS" + kUser + "q" + kAssistant + "<think>");
}

// ---- canonical DSML ----

TEST(RenderDsml, CanonicalBlockForObjectArguments) {
    const std::string dsml = canonical_tool_calls_dsml(
        {ToolCall{"c1", "a&b\"<c>", R"({"k<1>":"v&</｜DSML｜parameter>","n": [1, {"x" : "a b"}]})"},
         ToolCall{"c2", "f", "{}"}});
    EXPECT_EQ(
        dsml,
        "\n\n<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"a&amp;b&quot;&lt;c&gt;\">\n"
        "<｜DSML｜parameter name=\"k&lt;1&gt;\" string=\"true\">v&&lt;/｜DSML｜parameter>"
        "</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"n\" string=\"false\">[1,{\"x\":\"a b\"}]</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"f\">\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>");
    EXPECT_EQ(canonical_tool_calls_dsml({}), "");
}

TEST(RenderDsml, NonObjectArgumentsBecomeOneStringParameter) {
    const std::string dsml =
        canonical_tool_calls_dsml({ToolCall{"", "f", "not json </｜DSML｜parameter>"}});
    EXPECT_NE(dsml.find("<｜DSML｜parameter name=\"arguments\" string=\"true\">not json "
                        "&lt;/｜DSML｜parameter></｜DSML｜parameter>\n"),
              std::string::npos);
    EXPECT_FALSE(split_tool_arguments("[1]").has_value());
    EXPECT_FALSE(split_tool_arguments("").has_value());
    EXPECT_FALSE(split_tool_arguments("{\"a\":1").has_value()) << "unterminated";
    EXPECT_FALSE(split_tool_arguments("{\"a\":}").has_value());
    EXPECT_FALSE(split_tool_arguments("{\"a\":[1 2]}").has_value()) << "nested commas required";
    EXPECT_FALSE(split_tool_arguments("{\"a\":\"\\x\"}").has_value()) << "invalid escape";
}

TEST(RenderDsml, JsonValuesEscapeTheCloseTagAsUnicode) {
    std::string out;
    append_dsml_json_value(out, "{\"s\":\"a</｜DSML｜parameter>b\"}");
    EXPECT_EQ(out, "{\"s\":\"a\\u003c/｜DSML｜parameter>b\"}");
}

TEST(RenderDsml, ArgumentReaderAcceptsWhatTheReferenceAccepts) {
    // Optional commas, trailing text, strtod numbers, \v and \f as whitespace, duplicate keys.
    const auto members = split_tool_arguments(
        "\v{\"a\":0x1F \"b\":+5,\"c\":nan,\f\"d\":-.5e1,\"a\":Infinity,} trailing");
    ASSERT_TRUE(members.has_value());
    ASSERT_EQ(members->size(), 5u);
    const char* expected[][2] = {
        {"a", "0x1F"}, {"b", "+5"}, {"c", "nan"}, {"d", "-.5e1"}, {"a", "Infinity"}};
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ((*members)[i].name, expected[i][0]);
        EXPECT_EQ((*members)[i].value, expected[i][1]);
        EXPECT_FALSE((*members)[i].is_string);
    }
    EXPECT_FALSE(split_tool_arguments("{\"a\":+}").has_value());
}

TEST(RenderDsml, ArgumentStringsDecodeLikeTheReference) {
    const auto members = split_tool_arguments(
        R"({"s":"x\u00e9\ud83d\ude00y","lone":"\ud800","eaten":"\ud800\u0041z","nul":"ab\u0000cd"})");
    ASSERT_TRUE(members.has_value());
    ASSERT_EQ(members->size(), 4u);
    EXPECT_EQ((*members)[0].value, "xé😀y");
    EXPECT_TRUE((*members)[0].is_string);
    EXPECT_EQ((*members)[1].value, "\xed\xa0\x80") << "unpaired surrogate encoded as is";
    EXPECT_EQ((*members)[2].value, "\xed\xa0\x80z")
        << "the escape after a high surrogate is used up";
    EXPECT_EQ((*members)[3].value, "ab") << "strings end at NUL";
}

TEST(RenderDsml, NestingLimit) {
    const std::string ok = "{\"a\":" + std::string(256, '[') + std::string(256, ']') + "}";
    EXPECT_TRUE(split_tool_arguments(ok).has_value());
    const std::string deep = "{\"a\":" + std::string(257, '[') + std::string(257, ']') + "}";
    EXPECT_FALSE(split_tool_arguments(deep).has_value());
}

// ---- exact replay ----

Conversation conversation_with_calls() {
    Conversation conversation;
    conversation.messages = {
        text_message(Role::User, "go"),
        assistant_calling({ToolCall{"a", "f", "{\"x\":1}"}, ToolCall{"b", "f", "{}"}}, "ok"),
        text_message(Role::Tool, "r"),
        assistant_calling({ToolCall{"", "g", "{}"}}),
    };
    return conversation;
}

TEST(RenderReplay, AllIdsOnOneBlockReplayVerbatim) {
    Conversation conversation = conversation_with_calls();
    MapToolReplay memory;
    memory.remember("a", "\n\nRAW BLOCK", ReplaySource::Disk);
    memory.remember("b", "\n\nRAW BLOCK", ReplaySource::Disk);
    const ReplayStats stats = attach_tool_replay(conversation, &memory);
    EXPECT_EQ(stats.disk, 1);
    EXPECT_EQ(stats.memory, 0);
    EXPECT_EQ(stats.canonical, 1) << "the id-less call cannot be found";
    EXPECT_EQ(stats.missing_ids, 1);
    const std::string text = render_prompt(conversation).text;
    EXPECT_NE(text.find(kAssistant + "<think></think>ok\n\nRAW BLOCK" + kEos), std::string::npos);
    EXPECT_EQ(text.find("invoke name=\"f\""), std::string::npos);
}

TEST(RenderReplay, MixedSourcesCountAsMemory) {
    Conversation conversation = conversation_with_calls();
    MapToolReplay memory;
    memory.remember("a", "B", ReplaySource::Disk);
    memory.remember("b", "B", ReplaySource::Memory);
    EXPECT_EQ(attach_tool_replay(conversation, &memory).memory, 1);
}

TEST(RenderReplay, DifferentBlocksOrMissingIdsRenderCanonically) {
    Conversation conversation = conversation_with_calls();
    MapToolReplay memory;
    memory.remember("a", "B1");
    memory.remember("b", "B2");
    ReplayStats stats = attach_tool_replay(conversation, &memory);
    EXPECT_EQ(stats.canonical, 2);
    EXPECT_EQ(stats.missing_ids, 1);
    EXPECT_TRUE(conversation.messages[1].exact_tool_calls_dsml.empty());
    EXPECT_NE(render_prompt(conversation).text.find("invoke name=\"f\""), std::string::npos);

    Conversation disabled = conversation_with_calls();
    stats = attach_tool_replay(disabled, nullptr);
    EXPECT_EQ(stats.canonical, 2);
    EXPECT_EQ(stats.missing_ids, 3);
}

}  // namespace
}  // namespace dsv4::chat
