// The output parser case by case: reasoning and content splitting, what is held back and when it
// is released, DSML tool calls and their argument fragments, malformed blocks, schema-guided
// values (the vLLM issue 41240 list), sampler hints and ids.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "engine/chat/output_parser.h"
#include "engine/common/json.h"

namespace dsv4::chat {
namespace {

class CountingIds final : public ToolCallIdSource {
  public:
    std::string next_id() override { return "call_" + std::to_string(++count_); }

  private:
    int count_ = 0;
};

std::string describe(const OutputEvent& event) {
    std::string index = std::to_string(event.tool_index);
    switch (event.kind) {
        case OutputEventKind::ReasoningDelta:
            return "R:" + event.text;
        case OutputEventKind::ContentDelta:
            return "C:" + event.text;
        case OutputEventKind::ToolCallBegin:
            return "B" + index + ":" + event.text + ":" + event.tool_id;
        case OutputEventKind::ToolArgumentsDelta:
            return "A" + index + ":" + event.text;
        case OutputEventKind::ToolCallEnd:
            return "E" + index;
    }
    return "?";
}

std::vector<std::string> describe(const std::vector<OutputEvent>& events) {
    std::vector<std::string> out;
    for (const OutputEvent& event : events) out.push_back(describe(event));
    return out;
}

constexpr OutputParserOptions kNone{false, false, nullptr};
constexpr OutputParserOptions kThinking{true, false, nullptr};
constexpr OutputParserOptions kTools{false, true, nullptr};
constexpr OutputParserOptions kThinkingTools{true, true, nullptr};

struct Fed {
    std::vector<std::vector<std::string>> per_piece;  // events after each feed, then finish
    ParsedOutput result;
};

Fed feed_pieces(const std::vector<std::string>& pieces, OutputParserOptions options,
                GenerationEnd end = GenerationEnd::Stop) {
    CountingIds ids;
    OutputParser parser(options, ids);
    Fed out;
    for (const std::string& piece : pieces) {
        std::vector<OutputEvent> events;
        parser.feed(piece, events);
        out.per_piece.push_back(describe(events));
    }
    std::vector<OutputEvent> events;
    parser.finish(end, events);
    out.per_piece.push_back(describe(events));
    out.result = parser.result();
    return out;
}

ParsedOutput parse(std::string_view text, OutputParserOptions options,
                   GenerationEnd end = GenerationEnd::Stop) {
    CountingIds ids;
    return parse_output(text, end, options, ids);
}

// A block around the given invoke elements, in the canonical spelling.
std::string block(const std::string& invokes) {
    return "\n\n<｜DSML｜tool_calls>\n" + invokes + "</｜DSML｜tool_calls>";
}

std::string invoke(const std::string& name, const std::string& parameters) {
    return "<｜DSML｜invoke name=\"" + name + "\">\n" + parameters + "</｜DSML｜invoke>\n";
}

std::string parameter(const std::string& name, const std::string& string_attribute,
                      const std::string& value) {
    return "<｜DSML｜parameter name=\"" + name + "\" string=\"" + string_attribute + "\">" + value +
           "</｜DSML｜parameter>\n";
}

// ---- reasoning and content ----

TEST(OutputParser, WithoutThinkingEveryByteIsContent) {
    ParsedOutput out = parse("a</think>b<think>c", kNone);
    EXPECT_EQ(out.content, "a</think>b<think>c");
    EXPECT_EQ(out.reasoning, "");
    EXPECT_FALSE(out.reasoning_closed);
    EXPECT_EQ(out.finish_reason, FinishReason::Stop);
}

TEST(OutputParser, ThinkingSplitsAtTheFirstThinkClose) {
    ParsedOutput out = parse("r1</think>c</think>d", kThinking);
    EXPECT_EQ(out.reasoning, "r1");
    EXPECT_TRUE(out.reasoning_closed);
    EXPECT_EQ(out.content, "c</think>d");
}

TEST(OutputParser, OneRepeatedThinkOpenIsDropped) {
    Fed r = feed_pieces({"<th", "ink>", "<think>x</think>y"}, kThinking);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{});
    EXPECT_EQ(r.result.reasoning, "<think>x");
    EXPECT_EQ(r.result.content, "y");
}

TEST(OutputParser, APossibleThinkCloseIsHeldUntilItCannotBeOne) {
    Fed r = feed_pieces({"abc</th", "is", "</", "think>ok"}, kThinking);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{"R:abc"});
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{"R:</this"});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{});
    EXPECT_EQ(r.per_piece[3], std::vector<std::string>{"C:ok"});
}

TEST(OutputParser, ThinkingCutShortStaysReasoning) {
    Fed r = feed_pieces({"still ", "thinking </thi"}, kThinking, GenerationEnd::Length);
    EXPECT_EQ(r.per_piece.back(), std::vector<std::string>{"R:</thi"});
    EXPECT_EQ(r.result.reasoning, "still thinking </thi");
    EXPECT_EQ(r.result.content, "");
    EXPECT_FALSE(r.result.reasoning_closed);
    EXPECT_EQ(r.result.finish_reason, FinishReason::Length);
}

TEST(OutputParser, DsmlInsideReasoningIsReasoning) {
    std::string dsml = block(invoke("bash", parameter("command", "true", "ls")));
    ParsedOutput out = parse("maybe" + dsml + "</think>no", kThinkingTools);
    EXPECT_EQ(out.reasoning, "maybe" + dsml);
    EXPECT_EQ(out.content, "no");
    EXPECT_TRUE(out.tool_calls.empty());
    EXPECT_EQ(out.finish_reason, FinishReason::Stop);
}

// vLLM issue 41240: text that merely looked like the start of a marker is flushed at the end.
TEST(OutputParser, TrailingLessThanComesOutAtTheEnd) {
    Fed r = feed_pieces({"1", " ", "<", " 2 and 2", " ", "<"}, kTools);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{"C:1"});
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{});
    EXPECT_EQ(r.per_piece[3], std::vector<std::string>{"C: < 2 and 2"});
    EXPECT_EQ(r.per_piece.back(), std::vector<std::string>{"C: <"});
    EXPECT_EQ(r.result.content, "1 < 2 and 2 <");
}

TEST(OutputParser, APartialMarkerIsHeldOnlyWhileItCanStillMatch) {
    Fed r = feed_pieces({"a <tool", "box> <b>", "x"}, kTools);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{"C:a"});
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{"C: <toolbox> <b>"});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{"C:x"});
}

TEST(OutputParser, WithoutToolsNothingIsHeldButPartialUtf8) {
    Fed r = feed_pieces({"a <", "\n\n", "\xF0\x9F", "\x8E\x89"}, kNone);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{"C:a <"});
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{"C:\n\n"});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{});
    EXPECT_EQ(r.per_piece[3], std::vector<std::string>{"C:🎉"});
}

TEST(OutputParser, WithoutToolsDsmlIsContent) {
    std::string text = "x" + block(invoke("bash", parameter("command", "true", "ls")));
    ParsedOutput out = parse(text, kNone);
    EXPECT_EQ(out.content, text);
    EXPECT_TRUE(out.tool_calls.empty());
    EXPECT_FALSE(out.malformed_tool_calls);
}

TEST(OutputParser, InvalidUtf8IsReplacedAndSplitCharactersAreHeldWhole) {
    Fed r = feed_pieces({"a\xFF", "b\xC3", "\xA9", "\xE2\x82"}, kNone);
    EXPECT_EQ(r.per_piece[0], std::vector<std::string>{"C:a\xEF\xBF\xBD"});
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{"C:b"});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{"C:é"});
    EXPECT_EQ(r.per_piece.back(), std::vector<std::string>{"C:\xEF\xBF\xBD"});
    EXPECT_EQ(valid_utf8("\xED\xA0\x80z"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
    EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(valid_utf8("ok 你好 🎉"), "ok 你好 🎉");
}

// ---- tool calls ----

TEST(OutputParser, ToolCallEventsComeInOrder) {
    std::string text = "Hi" + block(invoke("bash", parameter("command", "true", "ls")));
    Fed r = feed_pieces({text}, kTools);
    EXPECT_EQ(r.per_piece[0], (std::vector<std::string>{"C:Hi", "B0:bash:call_1", "A0:{",
                                                        "A0:\"command\":", "A0:\"", "A0:ls",
                                                        "A0:\"", "A0:}", "E0"}));
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{});
    ASSERT_EQ(r.result.tool_calls.size(), 1u);
    const ParsedToolCall& call = r.result.tool_calls[0];
    EXPECT_EQ(call.id, "call_1");
    EXPECT_EQ(call.name, "bash");
    EXPECT_EQ(call.arguments, R"({"command":"ls"})");
    EXPECT_TRUE(call.complete);
    std::string element = invoke("bash", parameter("command", "true", "ls"));
    EXPECT_EQ(call.dsml, element.substr(0, element.size() - 1));
    EXPECT_EQ(r.result.content, "Hi");
    EXPECT_EQ(r.result.tool_calls_dsml, text.substr(2));
    EXPECT_EQ(r.result.finish_reason, FinishReason::ToolCalls);
}

TEST(OutputParser, StringArgumentsStreamWhileTheValueIsGenerated) {
    std::string head =
        "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"write\">\n"
        "<｜DSML｜parameter name=\"text\" string=\"true\">";
    Fed r = feed_pieces({head, "hello ", "wor", "ld</｜DSML｜para", "meter>\n"}, kTools);
    EXPECT_EQ(r.per_piece[1], std::vector<std::string>{"A0:hello"});
    EXPECT_EQ(r.per_piece[2], std::vector<std::string>{"A0: wor"});
    EXPECT_EQ(r.per_piece[3], std::vector<std::string>{"A0:ld"});
    EXPECT_EQ(r.per_piece[4], std::vector<std::string>{"A0:\""});
    // No close: the call is ended with its arguments closed.
    EXPECT_EQ(r.per_piece[5], (std::vector<std::string>{"A0:}", "E0"}));
    EXPECT_EQ(r.result.tool_calls[0].arguments, R"({"text":"hello world"})");
    EXPECT_FALSE(r.result.tool_calls[0].complete);
    EXPECT_TRUE(r.result.tool_calls_dsml.empty());
}

TEST(OutputParser, StringValuesAreJsonEscaped) {
    std::string value = "a \"q\" \\ back\nline\ttab\x01 </b> & &amp; 你好";
    ParsedOutput out = parse(block(invoke("f", parameter("v", "true", value))), kTools);
    ASSERT_EQ(out.tool_calls.size(), 1u);
    json::Document arguments = json::parse(out.tool_calls[0].arguments);
    EXPECT_EQ(arguments.root().find("v")->as_string(), value);
}

TEST(OutputParser, OnlyTheEscapedCloseTagIsDecodedEvenWhenSplit) {
    std::string text =
        block(invoke("f", parameter("v", "true", "a &lt;/｜DSML｜parameter> b &lt;x&gt; &amp;")));
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    Fed r = feed_pieces(bytes, kTools);
    EXPECT_EQ(r.result.tool_calls.at(0).arguments,
              R"({"v":"a </｜DSML｜parameter> b &lt;x&gt; &amp;"})");
}

TEST(OutputParser, JsonValuesAreMinifiedOrKeptAsStrings) {
    std::string parameters =
        parameter("o", "false", "{ \"a\" : [1, 2, \"x y\"] }") +
        parameter("n", "false", " -1.5e3 ") + parameter("e", "false", "") +
        parameter("s", "false", "\"q\"") + parameter("bad", "false", " not json ") +
        parameter("hex", "false", "0x1F") + parameter("u", "false", "\"\\u003c/x\"");
    ParsedOutput out = parse(block(invoke("f", parameters)), kTools);
    EXPECT_EQ(out.tool_calls.at(0).arguments,
              R"({"o":{"a":[1,2,"x y"]},"n":-1.5e3,"e":null,"s":"q","bad":"not json",)"
              R"("hex":"0x1F","u":"\u003c/x"})");
}

TEST(OutputParser, AStringAttributeOtherThanTrueMeansJson) {
    ParsedOutput out = parse(
        block(invoke("f", parameter("a", "TRUE", "12") + parameter("b", "yes", "text"))), kTools);
    EXPECT_EQ(out.tool_calls.at(0).arguments, R"({"a":12,"b":"text"})");
}

TEST(OutputParser, AParameterWithoutStringAttributeIsText) {
    std::string parameters =
        "<｜DSML｜parameter name=\"p\">  padded </｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"q\"></｜DSML｜parameter>\n";
    ParsedOutput out = parse(block(invoke("f", parameters)), kTools);
    EXPECT_EQ(out.tool_calls.at(0).arguments, R"({"p":"  padded ","q":""})");
}

TEST(OutputParser, LooseNestedParametersBecomeObjects) {
    std::string parameters =
        "<｜DSML｜parameter name=\"where\">\n"
        "<｜DSML｜parameter name=\"city\" string=\"true\">Rome</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"at\">\n"
        "<｜DSML｜parameter name=\"lat\" string=\"false\">41.9</｜DSML｜parameter>\n"
        "</｜DSML｜parameter>\n"
        "</｜DSML｜parameter>\n" +
        parameter("units", "true", "metric");
    ParsedOutput out = parse(block(invoke("weather", parameters)), kTools);
    EXPECT_EQ(out.tool_calls.at(0).arguments,
              R"({"where":{"city":"Rome","at":{"lat":41.9}},"units":"metric"})");
    EXPECT_TRUE(out.tool_calls[0].complete);
}

TEST(OutputParser, ShortAndPlainSpellingsAreRead) {
    ParsedOutput short_form = parse(
        "x\n\n<DSML｜tool_calls>\n<DSML｜invoke name=\"g\">\n<DSML｜parameter name=\"k\" "
        "string=\"true\">v</DSML｜parameter>\n</DSML｜invoke>\n</DSML｜tool_calls>",
        kTools);
    EXPECT_EQ(short_form.content, "x");
    EXPECT_EQ(short_form.tool_calls.at(0).arguments, R"({"k":"v"})");
    ParsedOutput plain = parse(
        "plain <tool_calls>\n<invoke name=\"g\">\n<parameter name=\"k\" string=\"true\">a "
        "&lt;/parameter> b</parameter>\n</invoke>\n</tool_calls>",
        kTools);
    EXPECT_EQ(plain.content, "plain");
    EXPECT_EQ(plain.tool_calls.at(0).arguments, R"({"k":"a </parameter> b"})");
    EXPECT_EQ(plain.tool_calls_dsml.substr(0, 13), " <tool_calls>");
}

TEST(OutputParser, CallsAreNumberedAndEachAsksForAnId) {
    std::string text = block(invoke("a", parameter("x", "true", "1")) + invoke("b", "") +
                             invoke("c", parameter("y", "false", "[]")));
    Fed r = feed_pieces({text}, kTools);
    ASSERT_EQ(r.result.tool_calls.size(), 3u);
    EXPECT_EQ(r.result.tool_calls[0].id, "call_1");
    EXPECT_EQ(r.result.tool_calls[1].id, "call_2");
    EXPECT_EQ(r.result.tool_calls[2].id, "call_3");
    EXPECT_EQ(r.result.tool_calls[1].arguments, "{}");
    EXPECT_EQ(r.result.tool_calls[2].arguments, R"({"y":[]})");
    std::set<std::string> begins;
    for (const std::string& event : r.per_piece[0]) {
        if (event[0] == 'B') begins.insert(event);
    }
    EXPECT_EQ(begins, (std::set<std::string>{"B0:a:call_1", "B1:b:call_2", "B2:c:call_3"}));
}

TEST(OutputParser, TheBlockCloseEndsTheMessage) {
    CountingIds ids;
    OutputParser parser(kTools, ids);
    std::vector<OutputEvent> events;
    parser.feed(block(invoke("f", "")), events);
    EXPECT_TRUE(parser.tool_calls_complete());
    parser.feed("\n\nmore text", events);
    parser.finish(GenerationEnd::Stop, events);
    EXPECT_EQ(parser.result().content, "");
    EXPECT_EQ(parser.result().finish_reason, FinishReason::ToolCalls);
    for (const OutputEvent& event : events) {
        EXPECT_NE(event.kind, OutputEventKind::ContentDelta) << event.text;
    }
}

TEST(OutputParser, AttributeEntitiesAreDecodedInNames) {
    ParsedOutput out =
        parse(block("<｜DSML｜invoke name=\"a&amp;b\">\n<｜DSML｜parameter name=\"x&quot;y\" "
                    "string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n"),
              kTools);
    EXPECT_EQ(out.tool_calls.at(0).name, "a&b");
    EXPECT_EQ(out.tool_calls[0].arguments, R"({"x\"y":"v"})");
}

// ---- malformed DSML ----

TEST(OutputParser, ProseNamingTheTagIsContentAndALaterBlockStillParses) {
    std::string prose = "Wrap calls in <tool_calls> tags.";
    std::string dsml = block(invoke("f", parameter("a", "true", "1")));
    ParsedOutput out = parse(prose + dsml, kTools);
    EXPECT_EQ(out.content, prose);
    EXPECT_TRUE(out.malformed_tool_calls);
    ASSERT_EQ(out.tool_calls.size(), 1u);
    EXPECT_EQ(out.tool_calls_dsml, dsml);
    EXPECT_EQ(out.finish_reason, FinishReason::ToolCalls);
}

TEST(OutputParser, ABlockThatFailsBeforeItsFirstCallIsContentByteForByte) {
    for (std::string inner :
         {"<｜DSML｜foo>bar</｜DSML｜foo>\n", "text\n", "<｜DSML｜invoke>\n</｜DSML｜invoke>\n",
          "<｜DSML｜invoke name='f'>\n</｜DSML｜invoke>\n",
          "<｜DSML｜invoke name=\"\">\n</｜DSML｜invoke>\n",
          "<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜parameter>\n"}) {
        std::string text = "Try." + block(inner);
        ParsedOutput out = parse(text, kTools);
        EXPECT_EQ(out.content, text);
        EXPECT_TRUE(out.tool_calls.empty());
        EXPECT_TRUE(out.malformed_tool_calls);
        EXPECT_EQ(out.finish_reason, FinishReason::Stop);
    }
}

TEST(OutputParser, ABlockThatFailsAfterACallClosesItAndContinuesAsContent) {
    std::string text = "\n\n<｜DSML｜tool_calls>\n" + invoke("f", parameter("a", "true", "1")) +
                       "<｜DSML｜invoke name=\"g\">\n" + parameter("b", "false", "2") +
                       "oops </｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    ParsedOutput out = parse(text, kTools);
    ASSERT_EQ(out.tool_calls.size(), 2u);
    EXPECT_EQ(out.tool_calls[0].arguments, R"({"a":"1"})");
    EXPECT_TRUE(out.tool_calls[0].complete);
    EXPECT_EQ(out.tool_calls[1].arguments, R"({"b":2})");
    EXPECT_FALSE(out.tool_calls[1].complete);
    EXPECT_EQ(out.content, "oops </｜DSML｜invoke>\n</｜DSML｜tool_calls>");
    EXPECT_TRUE(out.tool_calls_dsml.empty());
    EXPECT_EQ(out.finish_reason, FinishReason::ToolCalls);
}

TEST(OutputParser, AnUnclosedStartMarkerIsContent) {
    ParsedOutput out = parse("Trying\n\n<｜DSML｜tool_calls>\n<｜DSML｜inv", kTools);
    EXPECT_EQ(out.content, "Trying\n\n<｜DSML｜tool_calls>\n<｜DSML｜inv");
    EXPECT_EQ(out.finish_reason, FinishReason::Stop);
}

TEST(OutputParser, GenerationEndingInsideAValueClosesTheArguments) {
    std::string head = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n";
    ParsedOutput string_cut =
        parse(head + "<｜DSML｜parameter name=\"a\" string=\"true\">ls -</｜DS", kTools,
              GenerationEnd::Length);
    EXPECT_EQ(string_cut.tool_calls.at(0).arguments, R"({"a":"ls -</｜DS"})");
    EXPECT_EQ(string_cut.finish_reason, FinishReason::Length);
    ParsedOutput json_cut = parse(head + "<｜DSML｜parameter name=\"a\" string=\"false\">[1, 2",
                                  kTools, GenerationEnd::Length);
    EXPECT_EQ(json_cut.tool_calls.at(0).arguments, R"({"a":"[1, 2"})");
    ParsedOutput nested_cut =
        parse(head +
                  "<｜DSML｜parameter name=\"a\">\n<｜DSML｜parameter name=\"b\" "
                  "string=\"true\">x</｜DSML｜parameter>\n",
              kTools);
    EXPECT_EQ(nested_cut.tool_calls.at(0).arguments, R"({"a":{"b":"x"}})");
    EXPECT_EQ(nested_cut.finish_reason, FinishReason::ToolCalls);
    ParsedOutput tag_cut = parse(head + "<｜DSML｜parameter name=\"a\" str", kTools);
    EXPECT_EQ(tag_cut.tool_calls.at(0).arguments, "{}");
}

TEST(OutputParser, AnInvokeCloseEndsAParameterLeftOpenAtTheEnd) {
    std::string head =
        "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
        "<｜DSML｜parameter name=\"a\" string=\"true\">ls\n";
    ParsedOutput closed = parse(head + "</｜DSML｜invoke>\n</｜DSML｜tool_calls>", kTools);
    EXPECT_EQ(closed.tool_calls.at(0).arguments, R"({"a":"ls"})");
    EXPECT_TRUE(closed.tool_calls[0].complete);
    EXPECT_EQ(closed.tool_calls_dsml, head + "</｜DSML｜invoke>\n</｜DSML｜tool_calls>");
    // The same tags inside a value that goes on are part of it.
    ParsedOutput inside = parse(head +
                                    "</｜DSML｜invoke> x</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
                                    "</｜DSML｜tool_calls>",
                                kTools);
    EXPECT_EQ(inside.tool_calls.at(0).arguments, R"({"a":"ls\n</｜DSML｜invoke> x"})");
    EXPECT_TRUE(inside.tool_calls[0].complete);
}

TEST(OutputParser, ABlockCloseEndsAnUnclosedInvoke) {
    ParsedOutput out = parse("\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n" +
                                 parameter("a", "true", "1") + "</｜DSML｜tool_calls>",
                             kTools);
    EXPECT_EQ(out.tool_calls.at(0).arguments, R"({"a":"1"})");
    EXPECT_TRUE(out.tool_calls[0].complete);
    EXPECT_FALSE(out.tool_calls_dsml.empty());
}

TEST(OutputParser, FinishReasons) {
    std::string call = block(invoke("f", ""));
    EXPECT_EQ(parse("x", kTools, GenerationEnd::Stop).finish_reason, FinishReason::Stop);
    EXPECT_EQ(parse("x", kTools, GenerationEnd::Length).finish_reason, FinishReason::Length);
    EXPECT_EQ(parse("x", kTools, GenerationEnd::Error).finish_reason, FinishReason::Error);
    EXPECT_EQ(parse(call, kTools, GenerationEnd::Length).finish_reason, FinishReason::ToolCalls);
    EXPECT_EQ(parse(call, kTools, GenerationEnd::Error).finish_reason, FinishReason::Error);
    EXPECT_EQ(finish_reason_name(FinishReason::ToolCalls), "tool_calls");
    EXPECT_EQ(finish_reason_name(FinishReason::Length), "length");
}

TEST(OutputParser, NothingHappensAfterFinish) {
    CountingIds ids;
    OutputParser parser(kNone, ids);
    std::vector<OutputEvent> events;
    parser.feed("a", events);
    parser.finish(GenerationEnd::Stop, events);
    EXPECT_TRUE(parser.finished());
    parser.feed("b", events);
    parser.finish(GenerationEnd::Length, events);
    EXPECT_EQ(describe(events), std::vector<std::string>{"C:a"});
    EXPECT_EQ(parser.result().finish_reason, FinishReason::Stop);
}

// ---- values read against the tool schemas (vLLM issue 41240) ----

ToolSchemaIndex weather_schemas() {
    ToolSchemaIndex index;
    index.add("weather", R"({"name":"weather","parameters":{"type":"object","properties":{
        "city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"},
        "tags":{"type":"array"},"note":{"type":["string","null"]}}}})");
    index.add("wrapped", R"({"name":"wrapped","input_schema":{"properties":{"cmd":{}}}})");
    index.add("has_input", R"({"parameters":{"properties":{"input":{"type":"object"}}}})");
    return index;
}

ParsedOutput parse_with(const ToolSchemaIndex& index, const std::string& tool,
                        const std::string& parameters) {
    return parse(block(invoke(tool, parameters)), {false, true, &index});
}

TEST(OutputParserSchema, StringTrueValuesOfNonStringParametersAreCoerced) {
    ToolSchemaIndex index = weather_schemas();
    ParsedOutput out =
        parse_with(index, "weather",
                   parameter("days", "true", " 3 ") + parameter("metric", "true", "true") +
                       parameter("tags", "true", "[\"a\"]") + parameter("city", "true", "42") +
                       parameter("note", "true", "7"));
    EXPECT_EQ(out.tool_calls.at(0).arguments,
              R"({"days":3,"metric":true,"tags":["a"],"city":"42","note":"7"})");
    ParsedOutput not_a_number = parse_with(index, "weather", parameter("days", "true", "soon"));
    EXPECT_EQ(not_a_number.tool_calls.at(0).arguments, R"({"days":"soon"})");
}

TEST(OutputParserSchema, StringFalseValuesOfStringParametersStayStrings) {
    ToolSchemaIndex index = weather_schemas();
    ParsedOutput out =
        parse_with(index, "weather",
                   parameter("city", "false", "123") + parameter("city", "false", "null") +
                       parameter("city", "false", "\"Oslo\"") + parameter("days", "false", "4"));
    EXPECT_EQ(out.tool_calls.at(0).arguments,
              R"({"city":"123","city":null,"city":"Oslo","days":4})");
}

TEST(OutputParserSchema, AWrapperThatIsNoSchemaFieldIsUnwrapped) {
    ToolSchemaIndex index = weather_schemas();
    ParsedOutput json_form =
        parse_with(index, "wrapped", parameter("arguments", "false", "{\"cmd\": \"ls\"}"));
    EXPECT_EQ(json_form.tool_calls.at(0).arguments, R"({"cmd":"ls"})");
    ParsedOutput string_form =
        parse_with(index, "wrapped", parameter("input", "true", " {\"cmd\":\"pwd\"} "));
    EXPECT_EQ(string_form.tool_calls.at(0).arguments, R"({"cmd":"pwd"})");
    ParsedOutput not_an_object =
        parse_with(index, "wrapped", parameter("arguments", "true", "ls -la"));
    EXPECT_EQ(not_an_object.tool_calls.at(0).arguments, R"({"arguments":"ls -la"})");
}

TEST(OutputParserSchema, AWrapperIsKeptWhenItIsARealFieldOrNotAlone) {
    ToolSchemaIndex index = weather_schemas();
    ParsedOutput real = parse_with(index, "has_input", parameter("input", "false", "{\"a\":1}"));
    EXPECT_EQ(real.tool_calls.at(0).arguments, R"({"input":{"a":1}})");
    ParsedOutput followed = parse_with(
        index, "wrapped",
        parameter("arguments", "false", "{\"cmd\":\"ls\"}") + parameter("cmd", "true", "x"));
    EXPECT_EQ(followed.tool_calls.at(0).arguments, R"({"arguments":{"cmd":"ls"},"cmd":"x"})");
    ParsedOutput second = parse_with(
        index, "wrapped", parameter("cmd", "true", "x") + parameter("arguments", "false", "{}"));
    EXPECT_EQ(second.tool_calls.at(0).arguments, R"({"cmd":"x","arguments":{}})");
    ParsedOutput unknown_tool =
        parse_with(index, "other", parameter("arguments", "false", "{\"a\":1}"));
    EXPECT_EQ(unknown_tool.tool_calls.at(0).arguments, R"({"arguments":{"a":1}})");
    ParsedOutput no_schemas =
        parse(block(invoke("wrapped", parameter("arguments", "false", "{\"a\":1}"))), kTools);
    EXPECT_EQ(no_schemas.tool_calls.at(0).arguments, R"({"arguments":{"a":1}})");
}

TEST(OutputParserSchema, IndexReadsTheRequestShapes) {
    std::vector<ToolSchema> tools(3);
    tools[0].name = "f";
    tools[0].schema_json = R"({"name":"f","parameters":{"properties":{"a":{"type":"number"}}}})";
    tools[1].name = "g";
    tools[1].schema_json = R"({"name":"g","input_schema":{"properties":{"b":{"type":"string"}}}})";
    tools[2].name = "h";
    tools[2].schema_json = "not json";
    ToolSchemaIndex index(tools);
    EXPECT_TRUE(index.knows_tool("f"));
    EXPECT_EQ(index.parameter_type("f", "a"), "number");
    EXPECT_EQ(index.parameter_type("g", "b"), "string");
    EXPECT_TRUE(index.has_parameter("g", "b"));
    EXPECT_FALSE(index.has_parameter("g", "a"));
    EXPECT_FALSE(index.knows_tool("h"));
    EXPECT_EQ(index.parameter_type("x", "a"), "");
}

// ---- sampler hints ----

TEST(OutputParser, DecodePositionFollowsTheStructure) {
    CountingIds ids;
    OutputParser parser(kThinkingTools, ids);
    std::vector<OutputEvent> events;
    auto after = [&](std::string piece) {
        parser.feed(piece, events);
        return parser.decode_position();
    };
    EXPECT_EQ(after("thinking <｜DSML｜tool_"), DecodePosition::Outside);
    EXPECT_EQ(after("</think>Hi"), DecodePosition::Outside);
    EXPECT_EQ(after(" <"), DecodePosition::Outside);
    EXPECT_EQ(after("｜DSML｜tool_calls"), DecodePosition::Outside);
    EXPECT_FALSE(parser.wants_greedy_sampling());
    EXPECT_EQ(after(">"), DecodePosition::Structure);
    EXPECT_TRUE(parser.wants_greedy_sampling());
    EXPECT_EQ(after("\n<｜DSML｜invoke name=\""), DecodePosition::Structure);
    EXPECT_EQ(after("f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">"),
              DecodePosition::StringValue);
    EXPECT_FALSE(parser.wants_greedy_sampling());
    EXPECT_EQ(after("text <"), DecodePosition::StringValue);
    EXPECT_EQ(after("/"), DecodePosition::Structure);
    EXPECT_EQ(after("｜DSML｜parameter>\n<｜DSML｜parameter name=\"b\" string=\"false\">"),
              DecodePosition::JsonStructure);
    EXPECT_TRUE(parser.wants_greedy_sampling());
    EXPECT_EQ(after("{\"k"), DecodePosition::JsonString);
    EXPECT_EQ(after("\\\""), DecodePosition::JsonString);
    EXPECT_EQ(after("\": 1"), DecodePosition::JsonStructure);
    EXPECT_EQ(after("}</"), DecodePosition::Structure);
    EXPECT_EQ(after("｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"),
              DecodePosition::Outside);
    EXPECT_TRUE(parser.tool_calls_complete());
}

// ---- ids ----

TEST(OutputParser, RandomIdsAreUnguessableHex) {
    RandomToolCallIds ids;
    std::string first = ids.next_id();
    std::string second = ids.next_id();
    EXPECT_NE(first, second);
    for (const std::string& id : {first, second}) {
        ASSERT_EQ(id.size(), 5u + 32u) << id;
        EXPECT_TRUE(id.starts_with("call_"));
        for (char c : id.substr(5)) EXPECT_TRUE(std::isxdigit(c) && !std::isupper(c)) << id;
    }
    EXPECT_TRUE(RandomToolCallIds("toolu_").next_id().starts_with("toolu_"));
    EXPECT_EQ(random_hex(12).size(), 24u);
    EXPECT_EQ(random_hex(0), "");
}

}  // namespace
}  // namespace dsv4::chat
