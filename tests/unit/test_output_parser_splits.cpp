// The output parser must not depend on where token boundaries fall: the same text fed in random
// pieces (and byte by byte) gives the same final message as one piece, its deltas add up to the
// final strings, every delta is valid UTF-8, and every call's arguments parse as a JSON object
// when the call ends. Texts: the golden parse and stream vectors, hand-made edge cases, and
// random concatenations of DSML fragments.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/chat/output_parser.h"
#include "engine/common/json.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::chat {
namespace {

class CountingIds final : public ToolCallIdSource {
  public:
    std::string next_id() override { return "call_" + std::to_string(++count_); }

  private:
    int count_ = 0;
};

struct Sample {
    std::string name;
    std::string text;
    OutputParserOptions options;
    GenerationEnd end = GenerationEnd::Stop;
};

const ToolSchemaIndex& schemas() {
    static const ToolSchemaIndex index = [] {
        ToolSchemaIndex built;
        built.add("f", R"({"parameters":{"properties":{"p":{"type":"string"},
            "q":{"type":"integer"},"r":{"type":"object"}}}})");
        return built;
    }();
    return index;
}

std::string from_hex(const std::string& hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return bytes;
}

void add_golden_samples(std::vector<Sample>& samples) {
    std::ifstream parse(test::golden_dir() + "/chat/parse.jsonl", std::ios::binary);
    for (std::string line; std::getline(parse, line);) {
        if (line.empty()) continue;
        json::Document document = json::parse(line);
        const json::Value& c = document.root();
        OutputParserOptions options{c.find("think")->as_bool(), c.find("tools_active")->as_bool(),
                                    &schemas()};
        GenerationEnd end =
            c.find("end")->as_string() == "eos" ? GenerationEnd::Stop : GenerationEnd::Length;
        samples.push_back({c.find("id")->as_string(), c.find("text")->as_string(), options, end});
    }
    std::ifstream stream(test::golden_dir() + "/chat/stream.jsonl", std::ios::binary);
    for (std::string line; std::getline(stream, line);) {
        if (line.empty()) continue;
        json::Document document = json::parse(line);
        const json::Value& c = document.root();
        std::string text;
        for (const json::Value& hex : c.find("pieces_hex")->children()) {
            text += from_hex(hex.as_string());
        }
        OutputParserOptions options{c.find("think")->as_bool(), c.find("tools_active")->as_bool(),
                                    nullptr};
        samples.push_back({c.find("id")->as_string(), text, options, GenerationEnd::Stop});
    }
}

void add_hand_samples(std::vector<Sample>& samples) {
    const OutputParserOptions tools{true, true, &schemas()};
    const std::string open = "</think>ok\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n";
    const std::string close = "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    samples.push_back({"nested",
                       open +
                           "<｜DSML｜parameter name=\"r\">\n<｜DSML｜parameter name=\"a\" "
                           "string=\"true\">x &lt;/｜DSML｜parameter></｜DSML｜parameter>\n"
                           "</｜DSML｜parameter>\n" +
                           close,
                       tools});
    samples.push_back({"wrapper",
                       open +
                           "<｜DSML｜parameter name=\"arguments\" string=\"false\">"
                           "{\"p\": \"v\", \"q\": 2}</｜DSML｜parameter>\n" +
                           close,
                       tools});
    samples.push_back({"coerced",
                       open +
                           "<｜DSML｜parameter name=\"q\" string=\"true\"> 12 "
                           "</｜DSML｜parameter>\n<｜DSML｜parameter name=\"p\" "
                           "string=\"false\">7</｜DSML｜parameter>\n" +
                           close,
                       tools});
    samples.push_back({"unclosed-value",
                       open + "<｜DSML｜parameter name=\"p\" string=\"true\">v 🎉\n" + close,
                       tools});
    samples.push_back({"cut-in-emoji",
                       open + "<｜DSML｜parameter name=\"p\" string=\"true\">\xF0\x9F", tools,
                       GenerationEnd::Length});
    samples.push_back({"after-call-failure",
                       open + "</｜DSML｜invoke>\n garbage <｜DSML｜tool_calls> again", tools});
    samples.push_back({"invalid-utf8", "\xFFr\xC3</think>\xE2\x82 c \xED\xA0\x80", tools});
    samples.push_back(
        {"prose-then-block", "</think>Use <tool_calls>.\n\n" + open.substr(12) + close, tools});
    samples.push_back({"whitespace-tail", "</think>a \t\n", tools});
}

// Random texts from fragments the parser treats specially, so that partial tags, entities and
// UTF-8 sequences meet piece boundaries in every combination.
void add_random_samples(std::vector<Sample>& samples) {
    static const std::vector<std::string> kFragments = {
        "a",
        " ",
        "\n",
        "<",
        ">",
        "/",
        "\"",
        "&",
        "&lt;",
        "&amp;",
        "\\",
        "{",
        "}",
        "[1, 2]",
        "</think>",
        "<think>",
        "｜",
        "DSML",
        "\xF0\x9F\x8E\x89",
        "\xE2\x82",
        "\xFF",
        "<｜DSML｜tool_calls>",
        "</｜DSML｜tool_calls>",
        "<｜DSML｜invoke name=\"f\">",
        "<｜DSML｜invoke>",
        "</｜DSML｜invoke>",
        "<｜DSML｜parameter name=\"p\" string=\"true\">",
        "<｜DSML｜parameter name=\"q\" string=\"false\">",
        "<｜DSML｜parameter name=\"r\">",
        "<｜DSML｜parameter name=\"arguments\" string=\"false\">",
        "</｜DSML｜parameter>",
        "&lt;/｜DSML｜parameter>",
        "{\"k\": [1, \"v\"]}",
        "<tool_calls>",
        "<invoke name=\"g\">",
        "</invoke>",
        "<parameter name=\"s\" string=\"true\">",
        "</parameter>",
        "</tool_calls>",
        "<DSML｜tool_calls>",
        "</DSML｜invoke>"};
    std::mt19937 random(20261122);
    for (int i = 0; i < 2000; ++i) {
        std::string text;
        int count = std::uniform_int_distribution<int>(1, 60)(random);
        for (int k = 0; k < count; ++k) {
            text +=
                kFragments[std::uniform_int_distribution<size_t>(0, kFragments.size() - 1)(random)];
        }
        OutputParserOptions options{random() % 2 == 0, random() % 4 != 0,
                                    random() % 2 == 0 ? &schemas() : nullptr};
        GenerationEnd end = random() % 3 == 0 ? GenerationEnd::Length : GenerationEnd::Stop;
        samples.push_back({"random-" + std::to_string(i), text, options, end});
    }
}

// Mostly well-formed blocks with a few random edits (a span removed, a fragment inserted, the
// end cut off), so that calls are made and broken at every point.
std::string structured_text(std::mt19937& random) {
    auto pick = [&](std::initializer_list<const char*> options) {
        std::vector<const char*> list(options);
        return std::string(list[std::uniform_int_distribution<size_t>(0, list.size() - 1)(random)]);
    };
    std::string text = pick({"", "r</think>", "<think>r</think>"}) + pick({"", "Hi.", "a < b"}) +
                       pick({"\n\n", "", " \n"}) + pick({"<｜DSML｜", "<DSML｜", "<"}) +
                       "tool_calls>\n";
    std::string tag = text.substr(text.rfind('<') + 1, text.size() - text.rfind('<') - 13);
    int invokes = std::uniform_int_distribution<int>(1, 3)(random);
    for (int i = 0; i < invokes; ++i) {
        text += "<" + tag + "invoke name=\"" + pick({"f", "g", "a&amp;b"}) + "\">\n";
        int parameters = std::uniform_int_distribution<int>(0, 3)(random);
        for (int k = 0; k < parameters; ++k) {
            std::string attribute = pick({" string=\"true\"", " string=\"false\"", ""});
            text += "<" + tag + "parameter name=\"" + pick({"p", "q", "r", "arguments"}) + "\"" +
                    attribute + ">";
            text += pick({"v", "12", "{\"k\": [1, 2]}", " x &lt;/", "😀 \\ \"", "",
                          "&lt;/｜DSML｜parameter>"});
            text += "</" + tag + "parameter>\n";
        }
        text += "</" + tag + "invoke>\n";
    }
    text += "</" + tag + "tool_calls>" + pick({"", " tail"});
    int edits = std::uniform_int_distribution<int>(0, 2)(random);
    for (int e = 0; e < edits; ++e) {
        size_t at = std::uniform_int_distribution<size_t>(0, text.size())(random);
        switch (random() % 3) {
            case 0:
                text.erase(at, std::uniform_int_distribution<size_t>(1, 8)(random));
                break;
            case 1:
                text.insert(at, pick({"<", "</", "x", "\n", "｜", "\"", ">", "</think>"}));
                break;
            default:
                text.resize(at);
                break;
        }
    }
    return text;
}

void add_structured_samples(std::vector<Sample>& samples) {
    std::mt19937 random(41240);
    for (int i = 0; i < 2000; ++i) {
        std::string text = structured_text(random);
        OutputParserOptions options{text.find("</think>") != std::string::npos && random() % 4 != 0,
                                    true, random() % 2 == 0 ? &schemas() : nullptr};
        GenerationEnd end = random() % 3 == 0 ? GenerationEnd::Length : GenerationEnd::Stop;
        samples.push_back({"structured-" + std::to_string(i), text, options, end});
    }
}

const std::vector<Sample>& all_samples() {
    static const std::vector<Sample> samples = [] {
        std::vector<Sample> built;
        add_golden_samples(built);
        add_hand_samples(built);
        add_random_samples(built);
        add_structured_samples(built);
        return built;
    }();
    return samples;
}

struct Outcome {
    ParsedOutput result;
    std::vector<OutputEvent> events;
};

Outcome parse_in_pieces(const Sample& sample, const std::vector<std::string>& pieces) {
    CountingIds ids;
    OutputParser parser(sample.options, ids);
    Outcome outcome;
    for (const std::string& piece : pieces) parser.feed(piece, outcome.events);
    parser.finish(sample.end, outcome.events);
    outcome.result = parser.result();
    return outcome;
}

std::vector<std::string> random_split(const std::string& text, std::mt19937& random) {
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
        size_t length = std::uniform_int_distribution<size_t>(1, 12)(random);
        pieces.push_back(text.substr(at, length));
        at += length;
    }
    return pieces;
}

bool is_json_object(const std::string& text) {
    try {
        return json::parse(text).root().is_object();
    } catch (const json::JsonError&) {
        return false;
    }
}

// The events of one run are well formed and add up to its result.
void check_events(const Outcome& outcome, const std::string& label) {
    std::string content, reasoning;
    std::map<size_t, std::string> arguments;
    std::map<size_t, int> state;  // 1 begun, 2 ended
    for (const OutputEvent& event : outcome.events) {
        if (event.kind != OutputEventKind::ToolCallEnd) {
            ASSERT_FALSE(event.text.empty()) << label;
        }
        ASSERT_EQ(valid_utf8(event.text), event.text) << label;
        switch (event.kind) {
            case OutputEventKind::ReasoningDelta:
                reasoning += event.text;
                break;
            case OutputEventKind::ContentDelta:
                content += event.text;
                break;
            case OutputEventKind::ToolCallBegin:
                ASSERT_EQ(state[event.tool_index], 0) << label;
                ASSERT_EQ(event.tool_index, state.size() - 1) << label;
                state[event.tool_index] = 1;
                break;
            case OutputEventKind::ToolArgumentsDelta:
                ASSERT_EQ(state[event.tool_index], 1) << label;
                arguments[event.tool_index] += event.text;
                break;
            case OutputEventKind::ToolCallEnd:
                ASSERT_EQ(state[event.tool_index], 1) << label;
                state[event.tool_index] = 2;
                ASSERT_TRUE(is_json_object(arguments[event.tool_index]))
                    << label << ": " << arguments[event.tool_index];
                break;
        }
    }
    const ParsedOutput& result = outcome.result;
    EXPECT_EQ(content, result.content) << label;
    EXPECT_EQ(reasoning, result.reasoning) << label;
    ASSERT_EQ(state.size(), result.tool_calls.size()) << label;
    for (size_t i = 0; i < result.tool_calls.size(); ++i) {
        EXPECT_EQ(state[i], 2) << label << ": call " << i << " never ended";
        EXPECT_EQ(arguments[i], result.tool_calls[i].arguments) << label;
    }
}

void expect_same_result(const ParsedOutput& got, const ParsedOutput& want,
                        const std::string& label) {
    EXPECT_EQ(got.content, want.content) << label;
    EXPECT_EQ(got.reasoning, want.reasoning) << label;
    EXPECT_EQ(got.reasoning_closed, want.reasoning_closed) << label;
    EXPECT_EQ(got.tool_calls_dsml, want.tool_calls_dsml) << label;
    EXPECT_EQ(got.malformed_tool_calls, want.malformed_tool_calls) << label;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << label;
    ASSERT_EQ(got.tool_calls.size(), want.tool_calls.size()) << label;
    for (size_t i = 0; i < got.tool_calls.size(); ++i) {
        EXPECT_EQ(got.tool_calls[i].id, want.tool_calls[i].id) << label;
        EXPECT_EQ(got.tool_calls[i].name, want.tool_calls[i].name) << label;
        EXPECT_EQ(got.tool_calls[i].arguments, want.tool_calls[i].arguments) << label;
        EXPECT_EQ(got.tool_calls[i].dsml, want.tool_calls[i].dsml) << label;
        EXPECT_EQ(got.tool_calls[i].complete, want.tool_calls[i].complete) << label;
    }
}

TEST(OutputParserSplits, SameResultWhateverThePieces) {
    std::mt19937 random(7);
    const std::vector<Sample>& samples = all_samples();
    ASSERT_GT(samples.size(), 4050u) << "golden vectors missing?";
    for (const Sample& sample : samples) {
        Outcome whole = parse_in_pieces(sample, {sample.text});
        check_events(whole, sample.name + " (one piece)");
        std::vector<std::string> bytes;
        for (char c : sample.text) bytes.emplace_back(1, c);
        Outcome bytewise = parse_in_pieces(sample, bytes);
        check_events(bytewise, sample.name + " (bytes)");
        expect_same_result(bytewise.result, whole.result, sample.name + " (bytes)");
        for (int round = 0; round < 16; ++round) {
            Outcome split = parse_in_pieces(sample, random_split(sample.text, random));
            std::string label = sample.name + " (split " + std::to_string(round) + ")";
            check_events(split, label);
            expect_same_result(split.result, whole.result, label);
        }
        if (testing::Test::HasFailure()) return;  // one broken sample is enough to read
    }
}

// What the split test relies on must hold for real texts: some samples make calls, fail
// blocks, and split reasoning, so the properties are not checked on empty results only.
TEST(OutputParserSplits, SamplesExerciseEveryPath) {
    int with_calls = 0, malformed = 0, with_reasoning = 0, incomplete = 0;
    for (const Sample& sample : all_samples()) {
        CountingIds ids;
        ParsedOutput out = parse_output(sample.text, sample.end, sample.options, ids);
        with_calls += !out.tool_calls.empty();
        malformed += out.malformed_tool_calls;
        with_reasoning += out.reasoning_closed;
        for (const ParsedToolCall& call : out.tool_calls) incomplete += !call.complete;
    }
    EXPECT_GT(with_calls, 1000);
    EXPECT_GT(malformed, 500);
    EXPECT_GT(with_reasoning, 500);
    EXPECT_GT(incomplete, 200);
}

}  // namespace
}  // namespace dsv4::chat
