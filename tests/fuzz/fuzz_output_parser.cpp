// libFuzzer target for the output parser and its OpenAI projection: random generated text in
// random piece splits. A finding is a crash, a result that depends on the split, a delta that
// is not valid UTF-8, a call whose arguments are not a JSON object when it ends, or a chunk that
// is not valid JSON.
//
// Input: byte 0 chooses thinking / tools / schemas / how generation ends, byte 1 seeds the piece
// lengths, the rest is the generated text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/openai_response.h"
#include "engine/chat/output_parser.h"
#include "engine/common/json.h"

namespace {

using namespace dsv4::chat;

void check(bool condition) {
    if (!condition) std::abort();
}

class CountingIds final : public ToolCallIdSource {
  public:
    std::string next_id() override { return "call_" + std::to_string(++count_); }

  private:
    int count_ = 0;
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

bool is_json_object(const std::string& text) {
    try {
        return dsv4::json::parse(text).root().is_object();
    } catch (const dsv4::json::JsonError&) {
        return false;
    }
}

struct Outcome {
    ParsedOutput result;
    std::vector<OutputEvent> events;
};

Outcome parse_pieces(std::string_view text, OutputParserOptions options, GenerationEnd end,
                     uint32_t seed) {
    CountingIds ids;
    OutputParser parser(options, ids);
    Outcome outcome;
    size_t at = 0;
    while (at < text.size()) {
        size_t length = seed == 0 ? text.size() : 1 + (seed % 13);
        seed = seed * 1103515245u + 12345u;
        parser.feed(text.substr(at, length), outcome.events);
        at += length;
    }
    parser.finish(end, outcome.events);
    outcome.result = parser.result();
    return outcome;
}

void check_events(const Outcome& outcome) {
    std::string content, reasoning;
    std::map<size_t, std::string> arguments;
    for (const OutputEvent& event : outcome.events) {
        check(valid_utf8(event.text) == event.text);
        switch (event.kind) {
            case OutputEventKind::ReasoningDelta:
                reasoning += event.text;
                break;
            case OutputEventKind::ContentDelta:
                content += event.text;
                break;
            case OutputEventKind::ToolArgumentsDelta:
                arguments[event.tool_index] += event.text;
                break;
            case OutputEventKind::ToolCallEnd:
                check(is_json_object(arguments[event.tool_index]));
                break;
            case OutputEventKind::ToolCallBegin:
                check(!event.tool_id.empty());
                break;
        }
    }
    check(content == outcome.result.content);
    check(reasoning == outcome.result.reasoning);
    check(arguments.size() == outcome.result.tool_calls.size());
    for (size_t i = 0; i < outcome.result.tool_calls.size(); ++i) {
        check(arguments[i] == outcome.result.tool_calls[i].arguments);
    }
}

bool same(const ParsedOutput& a, const ParsedOutput& b) {
    if (a.content != b.content || a.reasoning != b.reasoning ||
        a.tool_calls_dsml != b.tool_calls_dsml || a.finish_reason != b.finish_reason ||
        a.tool_calls.size() != b.tool_calls.size()) {
        return false;
    }
    for (size_t i = 0; i < a.tool_calls.size(); ++i) {
        if (a.tool_calls[i].name != b.tool_calls[i].name ||
            a.tool_calls[i].arguments != b.tool_calls[i].arguments ||
            a.tool_calls[i].complete != b.tool_calls[i].complete) {
            return false;
        }
    }
    return true;
}

void check_projection(const Outcome& outcome) {
    ResponseMeta meta{"chatcmpl-1", "m", 0};
    ChatCompletionStream stream(meta, true);
    std::vector<std::string> payloads{stream.role_chunk()};
    stream.add(outcome.events, payloads);
    stream.finish(outcome.result.finish_reason, {}, payloads);
    payloads.push_back(chat_completion_body(meta, outcome.result, {}));
    for (const std::string& payload : payloads) {
        if (payload == kStreamDone) continue;
        dsv4::json::parse(payload);  // throws (a finding) on invalid JSON
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    uint8_t flags = data[0];
    uint32_t seed = data[1] | 1u;
    std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
    OutputParserOptions options{(flags & 1) != 0, (flags & 2) != 0,
                                (flags & 4) != 0 ? &schemas() : nullptr};
    GenerationEnd end = (flags & 8) != 0 ? GenerationEnd::Length : GenerationEnd::Stop;

    Outcome whole = parse_pieces(text, options, end, 0);
    check_events(whole);
    check_projection(whole);
    Outcome split = parse_pieces(text, options, end, seed);
    check_events(split);
    check(same(split.result, whole.result));
    return 0;
}
