// Every chat-completions and completions case of the golden parse.jsonl and stream.jsonl (ds4
// reference output) through the output parser and the OpenAI projection: non-stream bodies equal
// after normalisation (ids renamed consistently, timestamps and usage numbers ignored), streams
// equal as sequences of deltas (adjacent text and argument fragments joined, since where a delta
// boundary falls depends on how long each side holds bytes back). Cases come from the files
// only, so any vector file of the same format can be checked through DSV4_GOLDEN_DIR. Where the
// reference does something a client cannot use, a named test states what is sent instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/chat/openai_request.h"
#include "engine/chat/openai_response.h"
#include "engine/chat/output_parser.h"
#include "engine/common/json.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::chat {
namespace {

constexpr int64_t kReferenceTime = 1700000000;

// The reference's id source in these vectors: the n-th draw is n repeated.
class CountingIds final : public ToolCallIdSource {
  public:
    explicit CountingIds(std::string prefix) : prefix_(std::move(prefix)) {}
    std::string next_id() override {
        ++count_;
        char byte[3];
        std::snprintf(byte, sizeof byte, "%02x", count_ & 0xFF);
        std::string id = prefix_;
        for (int i = 0; i < 16; ++i) id += byte;
        return id;
    }

  private:
    std::string prefix_;
    int count_ = 0;
};

// ---- normalisation ----

// Renames ids to "<prefix>#<n>" in order of first appearance, so two bodies compare equal when
// their ids correspond one to one.
class IdRenamer {
  public:
    std::string rename(const std::string& text) {
        static const std::regex kId(
            "^(call_|toolu_)[0-9a-f]{32}$|^(resp_|rs_|msg_|fc_)[0-9a-f]{24}$");
        if (!std::regex_match(text, kId)) return text;
        auto found = names_.find(text);
        if (found != names_.end()) return found->second;
        std::string prefix = text.substr(0, text.find('_') + 1);
        std::string name = prefix + "#" + std::to_string(++counts_[prefix]);
        names_.emplace(text, name);
        return name;
    }

  private:
    std::map<std::string, std::string> names_;
    std::map<std::string, int> counts_;
};

void write_normalized(json::Writer& out, const json::Value& value, IdRenamer& ids, bool in_usage) {
    switch (value.kind()) {
        case json::Kind::Object:
            out.begin_object();
            for (size_t i = 0; i < value.size(); ++i) {
                const std::string& key = value.key_at(i);
                out.key(key);
                if (key == "created" || key == "created_at") {
                    out.number(0);
                } else {
                    write_normalized(out, value.at(i), ids, in_usage || key == "usage");
                }
            }
            out.end_object();
            break;
        case json::Kind::Array:
            out.begin_array();
            for (const json::Value& element : value.children()) {
                write_normalized(out, element, ids, in_usage);
            }
            out.end_array();
            break;
        case json::Kind::String:
            out.string(ids.rename(value.as_string()));
            break;
        case json::Kind::Number:
            // By value: the reference respells numbers it re-serializes (-1.5e-3 as -0.0015).
            if (in_usage) {
                out.number(0);
            } else {
                out.number(value.as_double());
            }
            break;
        default:
            out.raw(value.raw());
            break;
    }
}

std::string normalized(const json::Value& value, IdRenamer& ids, bool usage = false) {
    json::Writer out;
    write_normalized(out, value, ids, usage);
    return out.take();
}

std::string normalized(std::string_view json_text, IdRenamer& ids) {
    return normalized(json::parse(json_text).root(), ids);
}

// ---- vector files ----

std::string chat_file(const std::string& name) {
    return test::golden_dir() + "/chat/" + name;
}

const json::Value& member(const json::Value& object, std::string_view key) {
    const json::Value* value = object.find(key);
    if (value == nullptr) throw std::runtime_error("missing \"" + std::string(key) + "\"");
    return *value;
}

// Lines of a JSONL file, parsed; a line that cannot be read becomes an entry naming the problem.
struct VectorLine {
    std::string id;
    std::string load_error;
    std::shared_ptr<json::Document> document;
};

void PrintTo(const VectorLine& line, std::ostream* out) {
    *out << line.id;
}

std::vector<VectorLine> load_lines(const std::string& path) {
    std::vector<VectorLine> lines;
    std::ifstream in(path, std::ios::binary);
    if (!in) return {{"file-missing", "cannot open " + path, nullptr}};
    std::string text;
    for (size_t number = 1; std::getline(in, text); ++number) {
        if (text.empty()) continue;
        try {
            auto document = std::make_shared<json::Document>(json::parse(text));
            lines.push_back({member(document->root(), "id").as_string(), {}, document});
        } catch (const std::exception& error) {
            lines.push_back({"line-" + std::to_string(number),
                             path + ":" + std::to_string(number) + ": " + error.what(), nullptr});
        }
    }
    if (lines.empty()) lines.push_back({"file-empty", path + " holds no case", nullptr});
    return lines;
}

const std::vector<VectorLine>& parse_lines() {
    static const std::vector<VectorLine> lines = load_lines(chat_file("parse.jsonl"));
    return lines;
}

const std::vector<VectorLine>& stream_lines() {
    static const std::vector<VectorLine> lines = load_lines(chat_file("stream.jsonl"));
    return lines;
}

const json::Value* find_case(const std::vector<VectorLine>& lines, std::string_view id) {
    for (const VectorLine& line : lines) {
        if (line.id == id && line.document) return &line.document->root();
    }
    return nullptr;
}

std::string test_name(const testing::TestParamInfo<VectorLine>& info) {
    std::string name = std::to_string(info.index) + "_";
    for (char c : info.param.id) {
        name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    }
    return name;
}

std::string from_hex(const std::string& hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return bytes;
}

// ---- running a parse case ----

enum class Api : uint8_t { OpenAI, Anthropic, Responses };

struct ApiInfo {
    Endpoint endpoint;
    std::string_view request_key;   // in request_bodies
    std::string_view expected_key;  // in expected
    std::string_view call_prefix;
};

ApiInfo api_info(Api api) {
    switch (api) {
        case Api::Anthropic:
            return {Endpoint::AnthropicMessages, "anthropic", "anthropic_response", "toolu_"};
        case Api::Responses:
            return {Endpoint::Responses, "responses", "responses_response", "call_"};
        case Api::OpenAI:
            break;
    }
    return {Endpoint::ChatCompletions, "openai", "openai_response", "call_"};
}

// Item ids as the reference draws them: prefix + 24 hex of one repeated byte.
std::function<std::string(std::string_view)> counting_item_ids() {
    auto count = std::make_shared<int>(0);
    return [count](std::string_view prefix) {
        char byte[3];
        std::snprintf(byte, sizeof byte, "%02x", ++*count & 0xFF);
        std::string id(prefix);
        for (int i = 0; i < 12; ++i) id += byte;
        return id;
    };
}

struct ParseRun {
    ParsedOutput output;
    std::string body;            // ours, normalised
    std::string reference_body;  // the reference's, normalised ("null" when it sent none)
    std::string text;            // the generated text
    bool thinking = false;
};

ParseRun run_parse_case(const json::Value& c, Api api = Api::OpenAI) {
    ApiInfo info = api_info(api);
    const json::Value& expected = member(c, "expected");
    const std::string& request_body =
        member(member(c, "request_bodies"), info.request_key).as_string();
    MappedRequest request = map_request(info.endpoint, request_body, {});
    ParseRun run;
    run.thinking = thinking_enabled(request.conversation.think_mode());
    bool tools = request.conversation.tools_active();
    if (run.thinking != member(c, "think").as_bool() ||
        tools != member(c, "tools_active").as_bool()) {
        throw std::runtime_error("the request maps to other think/tools flags than the case's");
    }
    run.text = member(c, "text").as_string();
    GenerationEnd end =
        member(c, "end").as_string() == "eos" ? GenerationEnd::Stop : GenerationEnd::Length;
    CountingIds ids{std::string(info.call_prefix)};
    ToolSchemaIndex schemas(request.conversation.tools);
    run.output = parse_output(run.text, end, {run.thinking, tools, &schemas}, ids);
    ResponseMeta meta{"chatcmpl-1", request.options.model, kReferenceTime};
    std::string body;
    if (api == Api::OpenAI) {
        body = chat_completion_body(meta, run.output, {});
    } else if (api == Api::Anthropic) {
        body = anthropic_message_body(meta, run.output, {});
    } else {
        ResponsesMeta responses{"resp_000000000000000000000000",
                                request.options.model,
                                kReferenceTime,
                                request.options.emit_reasoning_summary,
                                &request.conversation.tools,
                                counting_item_ids()};
        body = responses_body(responses, run.output, {});
    }
    IdRenamer ours, theirs;
    run.body = normalized(body, ours);
    run.reference_body = normalized(member(expected, info.expected_key), theirs);
    return run;
}

// Cases whose expected output the reference gets wrong for clients; each has its named test.
const std::map<std::string, std::string, std::less<>>& parse_differences() {
    static const std::map<std::string, std::string, std::less<>> cases = {
        {"parse-think-unclosed-length", "ThinkingCutShortStaysReasoning"},
        {"parse-tool-dsml-think-unclosed", "ThinkingCutShortStaysReasoning"},
        {"parse-nothink-literal-think-close", "NoneModeThinkCloseIsContent"},
        {"parse-tool-string-entities", "OnlyTheEscapedCloseTagIsDecoded"},
        {"parse-tool-roundtrip-entity-asymmetry", "OnlyTheEscapedCloseTagIsDecoded"},
        {"parse-tool-invalid-json-nonstring", "NonJsonValueBecomesString"},
        {"parse-tool-string-attr-uppercase", "NonJsonValueBecomesString"},
        {"parse-tool-strtod-nonjson-numbers", "NonJsonValueBecomesString"},
        {"parse-malformed-unclosed-block-eos", "UnclosedBlockKeepsItsCompleteCalls"},
        {"parse-malformed-unclosed-block-length", "CallCutByMaxTokensIsClosedWithLength"},
        {"parse-malformed-unclosed-param", "InvokeCloseEndsAnUnclosedParameter"},
        {"parse-malformed-invoke-not-closed", "BlockCloseEndsAnUnclosedInvoke"},
        {"parse-malformed-param-outside-invoke", "MalformedBlockIsContentAfterReasoning"},
        {"parse-malformed-unknown-tag", "MalformedBlockIsContentAfterReasoning"},
        {"parse-malformed-invoke-no-name", "MalformedBlockIsContentAfterReasoning"},
        {"parse-malformed-single-quotes", "MalformedBlockIsContentAfterReasoning"},
        {"parse-malformed-text-inside-block", "MalformedBlockIsContentAfterReasoning"},
        {"parse-prose-mentions-plain-tool-calls", "ProseNamingTheTagIsContent"},
        {"parse-no-tools-dsml-still-parsed", "WithoutToolsDsmlIsContent"},
        {"parse-no-tools-unclosed-block", "WithoutToolsDsmlIsContent"},
    };
    return cases;
}

class GoldenParse : public testing::TestWithParam<VectorLine> {};

TEST_P(GoldenParse, ChatCompletionBodyMatchesReference) {
    const VectorLine& line = GetParam();
    ASSERT_TRUE(line.load_error.empty()) << line.load_error;
    auto difference = parse_differences().find(line.id);
    if (difference != parse_differences().end()) {
        GTEST_SKIP() << "deliberate difference, see ParseGoldenDifference." << difference->second;
    }
    const json::Value& c = line.document->root();
    ParseRun run = run_parse_case(c);
    EXPECT_EQ(run.body, run.reference_body);

    const json::Value& parser = member(member(c, "expected"), "parser");
    const json::Value* raw = parser.find("raw_dsml");
    std::string reference_dsml = raw != nullptr && raw->is_string() ? raw->as_string() : "";
    if (run.output.tool_calls_dsml.empty()) {
        EXPECT_EQ(reference_dsml, "") << "the reference remembers a block for replay, we do not";
        return;
    }
    // Replay must give back the generated bytes after the reasoning (the decode loop stops at
    // the block's close, so anything later is not part of the turn).
    std::string after_reasoning = run.text;
    if (run.thinking) after_reasoning = run.text.substr(run.text.find("</think>") + 8);
    EXPECT_TRUE(after_reasoning.starts_with(run.output.content + run.output.tool_calls_dsml));
    if (line.id != "parse-tool-content-trailing-ws-trimmed" &&
        line.id != "parse-tool-plain-xml-variant") {
        EXPECT_EQ(run.output.tool_calls_dsml, reference_dsml);
    }
}

TEST_P(GoldenParse, AnthropicAndResponsesBodiesMatchReference) {
    const VectorLine& line = GetParam();
    ASSERT_TRUE(line.load_error.empty()) << line.load_error;
    auto difference = parse_differences().find(line.id);
    if (difference != parse_differences().end()) {
        GTEST_SKIP() << "deliberate difference, see ParseGoldenDifference." << difference->second;
    }
    for (Api api : {Api::Anthropic, Api::Responses}) {
        ParseRun run = run_parse_case(line.document->root(), api);
        EXPECT_EQ(run.body, run.reference_body) << api_info(api).expected_key;
    }
}

INSTANTIATE_TEST_SUITE_P(ParseJsonl, GoldenParse, testing::ValuesIn(parse_lines()), test_name);

// ---- deliberate differences, non-stream ----

struct ExpectedCall {
    std::string name;
    std::string arguments;
};

struct ExpectedMessage {
    std::string content;
    std::optional<std::string> reasoning;
    std::vector<ExpectedCall> calls;
    std::string finish_reason;
};

// Checks our body against `want` and that the reference says something else, so that an entry
// becomes visible once the reference agrees with us.
void expect_parse_difference(std::string_view id, const ExpectedMessage& want) {
    const json::Value* c = find_case(parse_lines(), id);
    if (c == nullptr) GTEST_SKIP() << id << " is not in this vector file";
    ParseRun run = run_parse_case(*c);
    EXPECT_NE(run.body, run.reference_body) << id << ": the reference now agrees";
    json::Document body = json::parse(run.body);
    const json::Value& choice = body.root().find("choices")->at(0);
    const json::Value& message = member(choice, "message");
    EXPECT_EQ(member(choice, "finish_reason").as_string(), want.finish_reason) << id;
    EXPECT_EQ(member(message, "content").as_string(), want.content) << id;
    const json::Value* reasoning = message.find("reasoning_content");
    EXPECT_EQ(reasoning != nullptr, want.reasoning.has_value()) << id;
    if (reasoning != nullptr && want.reasoning) {
        EXPECT_EQ(reasoning->as_string(), *want.reasoning) << id;
    }
    const json::Value* calls = message.find("tool_calls");
    ASSERT_EQ(calls == nullptr ? 0 : calls->size(), want.calls.size()) << id;
    for (size_t i = 0; i < want.calls.size(); ++i) {
        const json::Value& function = member(calls->at(i), "function");
        EXPECT_EQ(member(function, "name").as_string(), want.calls[i].name) << id;
        const std::string& arguments = member(function, "arguments").as_string();
        EXPECT_EQ(arguments, want.calls[i].arguments) << id;
        EXPECT_NO_THROW(json::parse(arguments)) << id;
    }
}

// The reference returns a generation cut short inside <think> as content; streams send it as
// reasoning. Both paths here keep it reasoning, so a client sees the same message either way.
TEST(ParseGoldenDifference, ThinkingCutShortStaysReasoning) {
    expect_parse_difference("parse-think-unclosed-length",
                            {"", "Still thinking about", {}, "length"});
    const json::Value* c = find_case(parse_lines(), "parse-tool-dsml-think-unclosed");
    if (c == nullptr) GTEST_SKIP();
    expect_parse_difference("parse-tool-dsml-think-unclosed",
                            {"", member(*c, "text").as_string(), {}, "stop"});
}

// Without thinking the prompt already closed the think block: a literal "</think>" the model
// writes is text, as the reference's own stream sends it.
TEST(ParseGoldenDifference, NoneModeThinkCloseIsContent) {
    expect_parse_difference("parse-nothink-literal-think-close",
                            {"before</think>after", std::nullopt, {}, "stop"});
}

// The tool prompt tells the model to write string values raw and to escape nothing but the
// parameter close tag; the renderer replays values that way. Decoding &amp; and friends would
// corrupt values that contain them literally (HTML, shell), so only the close tag is decoded.
TEST(ParseGoldenDifference, OnlyTheEscapedCloseTagIsDecoded) {
    expect_parse_difference(
        "parse-tool-string-entities",
        {"",
         std::nullopt,
         {{"bash",
           R"({"command":"echo &lt;x&gt; &amp;&amp; a &quot;q&quot; &apos;s&apos; &nbsp; & done",)"
           R"("note":"tag: </｜DSML｜parameter> end"})"}},
         "tool_calls"});
    expect_parse_difference("parse-tool-roundtrip-entity-asymmetry",
                            {"",
                             std::nullopt,
                             {{"bash", R"({"command":"echo '&amp;' and &lt;tag&gt;"})"}},
                             "tool_calls"});
}

// A string="false" value that is not JSON is sent as a JSON string: the reference sends "{}"
// (losing every argument) or, for what C strtod accepts, invalid JSON.
TEST(ParseGoldenDifference, NonJsonValueBecomesString) {
    expect_parse_difference("parse-tool-invalid-json-nonstring",
                            {"",
                             std::nullopt,
                             {{"bash", R"({"command":"ls","timeout":"hello world"})"}},
                             "tool_calls"});
    expect_parse_difference(
        "parse-tool-string-attr-uppercase",
        {"", std::nullopt, {{"bash", R"({"command":"ls -la"})"}}, "tool_calls"});
    expect_parse_difference("parse-tool-strtod-nonjson-numbers",
                            {"",
                             std::nullopt,
                             {{"calc", R"({"hex":"0x1F","n":"nan","inf":"Infinity"})"}},
                             "tool_calls"});
}

// The stream has already sent a complete call when generation ends before the block close;
// the reference then reports "error" and returns the raw text. The call stands.
TEST(ParseGoldenDifference, UnclosedBlockKeepsItsCompleteCalls) {
    expect_parse_difference(
        "parse-malformed-unclosed-block-eos",
        {"Trying", std::nullopt, {{"bash", R"({"command":"ls"})"}}, "tool_calls"});
}

// max_tokens inside a call: its arguments are closed so they parse, and finish_reason "length"
// tells the client the call is cut short (as OpenAI reports truncated calls).
TEST(ParseGoldenDifference, CallCutByMaxTokensIsClosedWithLength) {
    expect_parse_difference("parse-malformed-unclosed-block-length",
                            {"", std::nullopt, {{"bash", R"({"command":"ls -"})"}}, "length"});
}

// The model closed the invoke and the block but not the parameter; generation ended there, so
// the close tags end the value.
TEST(ParseGoldenDifference, InvokeCloseEndsAnUnclosedParameter) {
    expect_parse_difference("parse-malformed-unclosed-param",
                            {"x", std::nullopt, {{"bash", R"({"command":"ls"})"}}, "tool_calls"});
}

TEST(ParseGoldenDifference, BlockCloseEndsAnUnclosedInvoke) {
    expect_parse_difference("parse-malformed-invoke-not-closed",
                            {"", std::nullopt, {{"bash", R"({"command":"ls"})"}}, "tool_calls"});
}

// A block that is not DSML before its first call is content, byte for byte, in the stream and
// here alike; the reference returns the whole raw generation (reasoning and "</think>"
// included) as content, while its stream never sends that text at all.
TEST(ParseGoldenDifference, MalformedBlockIsContentAfterReasoning) {
    for (std::string_view id :
         {"parse-malformed-param-outside-invoke", "parse-malformed-unknown-tag",
          "parse-malformed-invoke-no-name", "parse-malformed-single-quotes",
          "parse-malformed-text-inside-block"}) {
        const json::Value* c = find_case(parse_lines(), id);
        if (c == nullptr) continue;
        std::string text = member(*c, "text").as_string();
        ASSERT_TRUE(text.starts_with("</think>")) << id;
        expect_parse_difference(id, {text.substr(8), std::nullopt, {}, "stop"});
    }
}

// Prose that names the plain-XML tag is not a tool call and not an error.
TEST(ParseGoldenDifference, ProseNamingTheTagIsContent) {
    expect_parse_difference(
        "parse-prose-mentions-plain-tool-calls",
        {"Wrap calls in <tool_calls> tags like this.", std::nullopt, {}, "stop"});
}

// Without tools in the request (or with tool_choice "none") the client cannot take calls: DSML
// is text, as the reference streams it (its non-stream path returns calls).
TEST(ParseGoldenDifference, WithoutToolsDsmlIsContent) {
    for (std::string_view id :
         {"parse-no-tools-dsml-still-parsed", "parse-no-tools-unclosed-block"}) {
        const json::Value* c = find_case(parse_lines(), id);
        if (c == nullptr) continue;
        std::string text = member(*c, "text").as_string();
        ASSERT_TRUE(text.starts_with("</think>")) << id;
        expect_parse_difference(id, {text.substr(8), std::nullopt, {}, "stop"});
    }
}

// The remembered block starts with all of the whitespace that separates it from the content
// (the reference keeps only a "\n\n" it matched), so that content + block is exactly the
// generated text the KV cache holds.
TEST(ParseGoldenDifference, ReplayBlockKeepsAllSeparatorWhitespace) {
    const json::Value* c = find_case(parse_lines(), "parse-tool-content-trailing-ws-trimmed");
    if (c == nullptr) GTEST_SKIP();
    ParseRun run = run_parse_case(*c);
    EXPECT_EQ(run.body, run.reference_body);
    const std::string& reference =
        member(member(member(*c, "expected"), "parser"), "raw_dsml").as_string();
    EXPECT_EQ(run.output.tool_calls_dsml, " \t \n" + reference);
    EXPECT_EQ("</think>" + run.output.content + run.output.tool_calls_dsml, run.text);
}

// ---- streams ----

// A stream as a list of deltas. Chat and completions: "role:…", "reasoning:…", "content:…",
// "text:…", "tool#i:<id>:<type>:<name>", "args#i:…", "finish:…", "usage:<normalised>", "[DONE]".
// Anthropic: "thinking#i:…", "text#i:…", "json#i:…" for deltas, "<event name>:<normalised data>"
// otherwise. Responses: "reasoning@i:…", "text@i:…" for deltas, "<type>:<normalised data>"
// otherwise. Adjacent deltas of one kind and block are joined; each chunk's envelope (chat and
// completions: id, object, created, model) goes to `envelopes`.
class Segments {
  public:
    explicit Segments(IdRenamer& ids) : ids_(ids) {}

    void add(std::string segment) {
        size_t colon = segment.find(':');
        std::string head = segment.substr(0, colon + 1);
        bool joinable = false;
        for (std::string_view prefix :
             {"reasoning", "content:", "text", "args#", "thinking#", "json#"}) {
            joinable = joinable || head.starts_with(prefix);
        }
        if (joinable && !list.empty() && list.back().starts_with(head)) {
            list.back() += segment.substr(head.size());
        } else {
            list.push_back(std::move(segment));
        }
    }

    std::string json(const json::Value& value) { return normalized(value, ids_); }
    std::string id(const std::string& text) { return ids_.rename(text); }

    std::vector<std::string> list;
    std::vector<std::string> envelopes;

  private:
    IdRenamer& ids_;
};

void add_chat_chunk(const json::Value& chunk, Segments& out) {
    json::Writer envelope;
    envelope.begin_object();
    for (std::string_view key : {"id", "object", "created", "model"}) {
        envelope.key(key).raw(key == "created" ? "0" : member(chunk, key).raw());
    }
    out.envelopes.push_back(envelope.end_object().take());
    const json::Value& choices = member(chunk, "choices");
    if (choices.size() == 0) {
        IdRenamer unused;
        out.add("usage:" + normalized(member(chunk, "usage"), unused, true));
        return;
    }
    const json::Value& choice = choices.at(0);
    if (const json::Value* text = choice.find("text")) {
        if (!text->as_string().empty()) out.add("text:" + text->as_string());
    } else {
        const json::Value& delta = member(choice, "delta");
        for (size_t i = 0; i < delta.size(); ++i) {
            const std::string& key = delta.key_at(i);
            const json::Value& value = delta.at(i);
            if (key == "role") out.add("role:" + value.as_string());
            if (key == "content") out.add("content:" + value.as_string());
            if (key == "reasoning_content") out.add("reasoning:" + value.as_string());
            if (key != "tool_calls") continue;
            for (const json::Value& call : value.children()) {
                std::string index = std::to_string(*member(call, "index").as_int64());
                const json::Value& function = member(call, "function");
                if (call.find("id") != nullptr) {
                    out.add("tool#" + index + ":" + out.id(member(call, "id").as_string()) + ":" +
                            member(call, "type").as_string() + ":" +
                            member(function, "name").as_string());
                }
                const json::Value* arguments = function.find("arguments");
                if (arguments != nullptr && !arguments->as_string().empty()) {
                    out.add("args#" + index + ":" + arguments->as_string());
                }
            }
        }
    }
    const json::Value& finish = member(choice, "finish_reason");
    if (!finish.is_null()) out.add("finish:" + finish.as_string());
}

void add_anthropic_event(const SseEvent& event, const json::Value& data, Segments& out) {
    const std::string& type = member(data, "type").as_string();
    if (type != event.name) out.add("event-name-mismatch:" + event.name + "/" + type);
    if (type == "content_block_delta") {
        std::string index = std::to_string(*member(data, "index").as_int64());
        const json::Value& delta = member(data, "delta");
        const std::string& kind = member(delta, "type").as_string();
        if (kind == "thinking_delta")
            out.add("thinking#" + index + ":" + delta.find("thinking")->as_string());
        if (kind == "text_delta") out.add("text#" + index + ":" + delta.find("text")->as_string());
        if (kind == "input_json_delta") {
            out.add("json#" + index + ":" + delta.find("partial_json")->as_string());
        }
        if (kind == "signature_delta") out.add("signature#" + index + ":" + out.json(delta));
        return;
    }
    out.add(type + ":" + out.json(data));
}

void add_responses_event(const json::Value& data, size_t position, Segments& out) {
    const std::string& type = member(data, "type").as_string();
    if (*member(data, "sequence_number").as_int64() != static_cast<int64_t>(position)) {
        out.add("sequence-number-out-of-order:" + type);
    }
    std::string index = data.find("output_index") != nullptr
                            ? std::to_string(*data.find("output_index")->as_int64())
                            : "";
    if (type == "response.reasoning_summary_text.delta") {
        out.add("reasoning@" + index + ":" + member(data, "delta").as_string());
        return;
    }
    if (type == "response.output_text.delta") {
        out.add("text@" + index + ":" + member(data, "delta").as_string());
        return;
    }
    json::Writer rest;
    rest.begin_object();
    for (size_t i = 0; i < data.size(); ++i) {
        if (data.key_at(i) == "sequence_number") continue;
        rest.key(data.key_at(i)).raw(out.json(data.at(i)));
    }
    out.add(type + ":" + rest.end_object().take());
}

Segments stream_segments(const std::string& api, const std::vector<SseEvent>& events,
                         IdRenamer& ids) {
    Segments out(ids);
    for (size_t position = 0; position < events.size(); ++position) {
        const SseEvent& event = events[position];
        if (event.data == kStreamDone) {
            out.add("[DONE]");
            continue;
        }
        json::Document document = json::parse(event.data);
        if (api == "anthropic") {
            add_anthropic_event(event, document.root(), out);
        } else if (api == "responses") {
            add_responses_event(document.root(), position, out);
        } else {
            add_chat_chunk(document.root(), out);
        }
    }
    return out;
}

struct StreamRun {
    std::string api;
    std::vector<bool> greedy;  // per decode step: the parser asked for greedy sampling
    std::vector<SseEvent> events;
    int consumed = 0;
    ParsedOutput output;
    std::vector<std::string> segments, reference_segments;
    std::vector<std::string> envelopes, reference_envelopes;
};

// The four projections behind one interface, for the decode loop below.
class Projection {
  public:
    Projection(const std::string& api, const MappedRequest& request) : api_(api) {
        ResponseMeta meta{api == "completions" ? "cmpl-1" : "chatcmpl-1", request.options.model,
                          kReferenceTime};
        bool usage = request.options.include_usage;
        chat_.emplace(meta, usage);
        completion_.emplace(meta, usage);
        anthropic_.emplace(meta);
        responses_.emplace(ResponsesMeta{"resp_000000000000000000000000", request.options.model,
                                         kReferenceTime, request.options.emit_reasoning_summary,
                                         &request.conversation.tools, counting_item_ids()});
    }

    void start(std::vector<SseEvent>& out) {
        if (api_ == "openai") out.push_back({"", chat_->role_chunk()});
        if (api_ == "anthropic") out.push_back(anthropic_->message_start({}));
        if (api_ == "responses") out.push_back({"", responses_->created_event()});
    }

    void add(const std::vector<OutputEvent>& events, std::vector<SseEvent>& out) {
        std::vector<std::string> payloads;
        if (api_ == "openai") chat_->add(events, payloads);
        if (api_ == "completions") completion_->add(events, payloads);
        if (api_ == "anthropic") anthropic_->add(events, out);
        if (api_ == "responses") responses_->add(events, payloads);
        for (std::string& payload : payloads) out.push_back({"", std::move(payload)});
    }

    void finish(const ParsedOutput& output, std::vector<SseEvent>& out) {
        std::vector<std::string> payloads;
        if (api_ == "openai") chat_->finish(output.finish_reason, {}, payloads);
        if (api_ == "completions") completion_->finish(output.finish_reason, {}, payloads);
        if (api_ == "anthropic") anthropic_->finish(output.finish_reason, {}, out);
        if (api_ == "responses") responses_->finish(output, {}, payloads);
        for (std::string& payload : payloads) out.push_back({"", std::move(payload)});
    }

  private:
    std::string api_;
    std::optional<ChatCompletionStream> chat_;
    std::optional<CompletionStream> completion_;
    std::optional<AnthropicMessageStream> anthropic_;
    std::optional<ResponsesStream> responses_;
};

// The decode loop as the reference runs it over scripted pieces: stop at the block close, at
// max_tokens, at a stop sequence, else end-of-sentence after the last piece.
StreamRun run_stream_case(const json::Value& c) {
    StreamRun run;
    run.api = member(c, "api").as_string();
    std::optional<Endpoint> endpoint = endpoint_from_path(member(c, "endpoint").as_string());
    if (!endpoint) throw std::runtime_error("unknown endpoint");
    MappedRequest request = map_request(*endpoint, member(c, "request_body").as_string(), {});
    bool completions = *endpoint == Endpoint::Completions;
    bool thinking = thinking_enabled(request.conversation.think_mode());
    bool tools = request.conversation.tools_active();
    if (thinking != member(c, "think").as_bool() || tools != member(c, "tools_active").as_bool()) {
        throw std::runtime_error("the request maps to other think/tools flags than the case's");
    }
    ToolSchemaIndex schemas(request.conversation.tools);
    OutputParserOptions options{thinking && !completions, tools && !completions, &schemas};
    CountingIds ids(run.api == "anthropic" ? "toolu_" : "call_");
    OutputParser parser(options, ids);
    Projection projection(run.api, request);
    std::vector<OutputEvent> events;
    auto project = [&] {
        projection.add(events, run.events);
        events.clear();
    };
    projection.start(run.events);

    std::optional<int> max_tokens = request.options.max_tokens;
    GenerationEnd end = GenerationEnd::Stop;
    std::string generated;
    bool stopped = false;
    for (const json::Value& hex : member(c, "pieces_hex").children()) {
        if (max_tokens && run.consumed >= *max_tokens) {
            end = GenerationEnd::Length;
            stopped = true;
            break;
        }
        run.greedy.push_back(parser.wants_greedy_sampling());
        std::string piece = from_hex(hex.as_string());
        ++run.consumed;
        size_t before = generated.size();
        generated += piece;
        size_t stop_at = std::string::npos;
        for (const std::string& stop : request.options.stop) {
            stop_at = std::min(stop_at, generated.find(stop));
        }
        if (stop_at != std::string::npos) {
            if (stop_at > before) parser.feed(piece.substr(0, stop_at - before), events);
            project();
            stopped = true;
            break;
        }
        parser.feed(piece, events);
        project();
        stopped = parser.tool_calls_complete() || (max_tokens && run.consumed >= *max_tokens);
        if (stopped) {
            if (!parser.tool_calls_complete()) end = GenerationEnd::Length;
            break;
        }
    }
    if (!stopped) run.greedy.push_back(parser.wants_greedy_sampling());  // the step that drew EOS
    parser.finish(end, events);
    project();
    run.output = parser.result();
    projection.finish(run.output, run.events);

    std::vector<SseEvent> reference;
    for (const json::Value& event : member(member(c, "expected"), "events").children()) {
        const json::Value& name = member(event, "event");
        const json::Value& data = member(event, "data");
        reference.push_back({name.is_null() ? "" : name.as_string(),
                             data.is_string() ? data.as_string() : json::serialize(data)});
    }
    IdRenamer ours, theirs;
    Segments our_segments = stream_segments(run.api, run.events, ours);
    Segments reference_segments = stream_segments(run.api, reference, theirs);
    run.segments = our_segments.list;
    run.envelopes = our_segments.envelopes;
    run.reference_segments = reference_segments.list;
    run.reference_envelopes = reference_segments.envelopes;
    return run;
}

// Whatever the reference says, our own chat stream must add up to our own final message.
void expect_stream_matches_message(const StreamRun& run) {
    std::string content, reasoning;
    std::map<std::string, std::string> arguments;
    for (const std::string& segment : run.segments) {
        if (segment.starts_with("content:")) content += segment.substr(8);
        if (segment.starts_with("text:")) content += segment.substr(5);
        if (segment.starts_with("reasoning:")) reasoning += segment.substr(10);
        if (segment.starts_with("args#")) {
            size_t colon = segment.find(':');
            arguments[segment.substr(5, colon - 5)] += segment.substr(colon + 1);
        }
    }
    EXPECT_EQ(content, run.output.content);
    EXPECT_EQ(reasoning, run.output.reasoning);
    ASSERT_EQ(arguments.size(), run.output.tool_calls.size());
    for (size_t i = 0; i < run.output.tool_calls.size(); ++i) {
        EXPECT_EQ(arguments[std::to_string(i)], run.output.tool_calls[i].arguments);
        EXPECT_NO_THROW(json::parse(arguments[std::to_string(i)]));
    }
}

const std::map<std::string, std::string, std::less<>>& stream_differences() {
    static const std::map<std::string, std::string, std::less<>> cases = {
        {"stream-openai-bytewise-tool", "OnlyTheEscapedCloseTagIsDecoded"},
        {"stream-openai-malformed-projection", "MalformedBlockIsStreamedAsContent"},
        {"stream-openai-unclosed-eos", "UnclosedBlockEndsWithValidArguments"},
        {"stream-openai-no-tools-dsml", "WithoutToolsDsmlIsContent"},
        {"stream-openai-json-param-raw-forwarding", "JsonValuesAreSentMinified"},
        {"stream-openai-loose-nested-stream", "LooseNestedParametersAreStreamed"},
        {"stream-responses-malformed-recovered", "MalformedBlockIsStreamedAsResponsesText"},
    };
    return cases;
}

class GoldenStream : public testing::TestWithParam<VectorLine> {};

TEST_P(GoldenStream, DeltasMatchReference) {
    const VectorLine& line = GetParam();
    ASSERT_TRUE(line.load_error.empty()) << line.load_error;
    const json::Value& c = line.document->root();
    StreamRun run = run_stream_case(c);
    EXPECT_EQ(run.consumed, *member(member(c, "expected"), "consumed_pieces").as_int64());
    if (run.api == "openai" || run.api == "completions") expect_stream_matches_message(run);
    for (const SseEvent& event : run.events) {
        EXPECT_EQ(event.name.empty(), run.api != "anthropic") << event.name;
    }
    auto difference = stream_differences().find(line.id);
    if (difference != stream_differences().end()) {
        GTEST_SKIP() << "deliberate difference, see StreamGoldenDifference." << difference->second;
    }
    EXPECT_EQ(run.segments, run.reference_segments);
    EXPECT_EQ(run.envelopes.empty(), run.reference_envelopes.empty());
    if (!run.envelopes.empty() && !run.reference_envelopes.empty()) {
        EXPECT_EQ(run.envelopes.front(), run.reference_envelopes.front());
    }
    for (const std::string& envelope : run.envelopes) {
        EXPECT_EQ(envelope, run.envelopes.front());
    }
}

std::vector<bool> reference_greedy_steps(const json::Value& c) {
    std::vector<bool> steps;
    for (const json::Value& step : member(member(c, "expected"), "sampling").children()) {
        steps.push_back(member(step, "t").as_double() == 0.0);
    }
    return steps;
}

const std::map<std::string, std::string, std::less<>>& greedy_differences() {
    static const std::map<std::string, std::string, std::less<>> cases = {
        {"stream-openai-dsml-inside-think", "DsmlQuotedInReasoningIsSampled"},
        {"stream-openai-malformed-projection", "AMalformedBlockIsSampledAsProse"},
        {"stream-responses-malformed-recovered", "AMalformedBlockIsSampledAsProse"},
        {"stream-openai-bytewise-tool", "TagsSplitInsideACharacterStayGreedy"},
        {"stream-openai-loose-nested-stream", "NestedParameterTagsAreGreedy"},
    };
    return cases;
}

// DSML structure is sampled greedily (temperature 0 in the reference's sampler log), payload
// with the request's sampling.
TEST_P(GoldenStream, GreedyStepsMatchReference) {
    const VectorLine& line = GetParam();
    ASSERT_TRUE(line.load_error.empty()) << line.load_error;
    const json::Value& c = line.document->root();
    auto difference = greedy_differences().find(line.id);
    if (difference != greedy_differences().end()) {
        GTEST_SKIP() << "deliberate difference, see StreamGoldenDifference." << difference->second;
    }
    std::vector<bool> reference = reference_greedy_steps(c);
    StreamRun run = run_stream_case(c);
    bool sampled_anyway = std::find(reference.begin(), reference.end(), false) != reference.end();
    if (!sampled_anyway && !reference.empty()) GTEST_SKIP() << "the request asks for greedy";
    EXPECT_EQ(run.greedy, reference);
    const json::Value& pieces = member(c, "pieces_hex");
    for (size_t i = 0; i < std::min(run.greedy.size(), reference.size()); ++i) {
        if (run.greedy[i] != reference[i]) {
            std::string before = i > 0 ? from_hex(pieces.at(i - 1).as_string()) : "";
            ADD_FAILURE() << "step " << i << " after \"" << before << "\": ours " << run.greedy[i];
        }
    }
}

INSTANTIATE_TEST_SUITE_P(StreamJsonl, GoldenStream, testing::ValuesIn(stream_lines()), test_name);

// ---- deliberate differences, streams ----

void expect_stream_difference(std::string_view id, const std::vector<std::string>& want) {
    const json::Value* c = find_case(stream_lines(), id);
    if (c == nullptr) GTEST_SKIP() << id << " is not in this vector file";
    StreamRun run = run_stream_case(*c);
    EXPECT_EQ(run.segments, want) << id;
    EXPECT_NE(run.segments, run.reference_segments) << id << ": the reference now agrees";
}

// As ParseGoldenDifference.OnlyTheEscapedCloseTagIsDecoded; string=false JSON is sent
// minified, as in the final message.
TEST(StreamGoldenDifference, OnlyTheEscapedCloseTagIsDecoded) {
    expect_stream_difference(
        "stream-openai-bytewise-tool",
        {"role:assistant", "reasoning:ok", "content:é", "tool#0:call_#1:function:bash",
         R"(args#0:{"command":"echo &amp;&lt; 🎉 done","n":[1,2]})", "finish:tool_calls", "[DONE]"});
}

// The reference stops sending anything once the block turns out malformed, so the client never
// sees that text; it is content, as in the final message.
TEST(StreamGoldenDifference, MalformedBlockIsStreamedAsContent) {
    expect_stream_difference(
        "stream-openai-malformed-projection",
        {"role:assistant", "reasoning:x",
         "content:Try.\n\n<｜DSML｜tool_calls>\n<｜DSML｜parameter name=\"command\" "
         "string=\"true\">ls</｜DSML｜parameter>\n</｜DSML｜tool_calls>",
         "finish:stop", "[DONE]"});
}

// Responses: the reference recovers the text but drops the separator before the block and sends
// it after the reasoning was closed; it is sent as content as it comes, byte for byte.
TEST(StreamGoldenDifference, MalformedBlockIsStreamedAsResponsesText) {
    const json::Value* c = find_case(stream_lines(), "stream-responses-malformed-recovered");
    if (c == nullptr) GTEST_SKIP();
    StreamRun run = run_stream_case(*c);
    std::string text = "Text.\n\n<｜DSML｜tool_calls>\n<｜DSML｜foo>\n</｜DSML｜tool_calls>";
    EXPECT_NE(std::find(run.segments.begin(), run.segments.end(), "text@1:" + text),
              run.segments.end());
    EXPECT_EQ(
        std::find(run.reference_segments.begin(), run.reference_segments.end(), "text@1:" + text),
        run.reference_segments.end());
    EXPECT_EQ(run.output.content, text);
    EXPECT_EQ(run.output.reasoning, "r");
    EXPECT_EQ(run.output.finish_reason, FinishReason::Stop);
    EXPECT_TRUE(run.segments.back().starts_with("response.completed:"));
}

// The reference forces greedy decoding on DSML the model quotes inside its reasoning too; that
// text is never executed, so it keeps the request's sampling like the rest of the reasoning.
// `want`: one digit per decode step, 1 where the step is sampled greedily.
void expect_greedy_difference(std::string_view id, std::string_view want) {
    const json::Value* c = find_case(stream_lines(), id);
    if (c == nullptr) GTEST_SKIP() << id << " is not in this vector file";
    StreamRun run = run_stream_case(*c);
    std::string got;
    for (bool greedy : run.greedy) got += greedy ? '1' : '0';
    std::string reference;
    for (bool greedy : reference_greedy_steps(*c)) reference += greedy ? '1' : '0';
    EXPECT_EQ(got, want) << id;
    EXPECT_NE(reference, want) << id << ": the reference now agrees";
}

TEST(StreamGoldenDifference, DsmlQuotedInReasoningIsSampled) {
    expect_greedy_difference("stream-openai-dsml-inside-think", std::string(52, '0'));
}

// The reference keeps decoding greedily through a block after it turned out not to be DSML
// (and stops generation at its close tag); here it is prose again from the offending tag on,
// and generation goes on to the end-of-sentence token.
TEST(StreamGoldenDifference, AMalformedBlockIsSampledAsProse) {
    expect_greedy_difference("stream-openai-malformed-projection",
                             "00000000011110000000000000000000000");
    expect_greedy_difference("stream-responses-malformed-recovered", "00000000011110000000");
}

// With one byte per token the reference loses the structure at the first close tag whose
// full-width bar arrives split ("</" then the bar's three bytes) and samples the rest of the
// block; tags stay greedy here, only the string value is sampled.
TEST(StreamGoldenDifference, TagsSplitInsideACharacterStayGreedy) {
    expect_greedy_difference(
        "stream-openai-bytewise-tool",
        std::string(36, '0') + std::string(82, '1') + std::string(26, '0') + std::string(138, '1'));
}

// The reference reads a parameter without string="…" as a string body and samples the nested
// parameter tags inside it; they are structure, and only "Rome" is sampled.
TEST(StreamGoldenDifference, NestedParameterTagsAreGreedy) {
    expect_greedy_difference(
        "stream-openai-loose-nested-stream",
        std::string(6, '0') + std::string(35, '1') + "00" + std::string(18, '1'));
}

// The reference leaves the client with '{"command":"ls"' and finish_reason "error"; the call
// was complete but for its close tags, so its arguments are closed and it is reported.
TEST(StreamGoldenDifference, UnclosedBlockEndsWithValidArguments) {
    expect_stream_difference("stream-openai-unclosed-eos",
                             {"role:assistant", "reasoning:x", "tool#0:call_#1:function:bash",
                              R"(args#0:{"command":"ls"})", "finish:tool_calls", "[DONE]"});
}

// The reference streams the DSML as content and then also sends it as a call. Without tools it
// is content only.
TEST(StreamGoldenDifference, WithoutToolsDsmlIsContent) {
    const json::Value* c = find_case(stream_lines(), "stream-openai-no-tools-dsml");
    if (c == nullptr) GTEST_SKIP();
    std::string text = member(member(*c, "expected"), "consumed_text").as_string();
    expect_stream_difference(
        "stream-openai-no-tools-dsml",
        {"role:assistant", "reasoning:r", "content:" + text.substr(text.find("</think>") + 8),
         "finish:stop", "[DONE]"});
}

// The reference forwards string=false values raw, so the streamed arguments differ from the
// final ones (and could be invalid); values are checked and minified first.
TEST(StreamGoldenDifference, JsonValuesAreSentMinified) {
    expect_stream_difference(
        "stream-openai-json-param-raw-forwarding",
        {"role:assistant", "tool#0:call_#1:function:get_weather",
         R"(args#0:{"location":{"city":"Paris"},"days":3})", "finish:tool_calls", "[DONE]"});
}

// The reference stops projecting at a parameter without string="…" and leaves the client
// with "{"; nested parameters are streamed as the object the final message holds.
TEST(StreamGoldenDifference, LooseNestedParametersAreStreamed) {
    expect_stream_difference(
        "stream-openai-loose-nested-stream",
        {"role:assistant", "tool#0:call_#1:function:get_weather",
         R"(args#0:{"location":{"city":"Rome"}})", "finish:tool_calls", "[DONE]"});
}

}  // namespace
}  // namespace dsv4::chat
