// libFuzzer target for the JSON module and everything that reads client JSON: the strict
// parser (and, on accepted input, that serialize/minify round-trip to the same document), the
// permissive tool-argument reader, and request mapping plus rendering for every endpoint. Only
// JsonError / RequestError may escape from those; anything else, a crash, or a broken round trip
// is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/chat/openai_request.h"
#include "engine/chat/render.h"
#include "engine/chat/render_dsml.h"
#include "engine/common/json.h"

namespace {

using dsv4::json::Value;

void keep(uint64_t value) {
    asm volatile("" : : "r"(value) : "memory");
}

void check(bool condition) {
    if (!condition) std::abort();
}

void walk(const Value& value) {
    keep(value.raw().size() + value.offset());
    switch (value.kind()) {
        case dsv4::json::Kind::Number:
            keep(static_cast<uint64_t>(value.as_int64().value_or(0)));
            keep(static_cast<uint64_t>(value.as_double() != 0.0));
            break;
        case dsv4::json::Kind::String:
            keep(value.as_string().size());
            break;
        case dsv4::json::Kind::Object:
            for (size_t i = 0; i < value.size(); ++i) keep(value.key_at(i).size());
            keep(value.find("messages") != nullptr);
            [[fallthrough]];
        case dsv4::json::Kind::Array:
            for (const Value& child : value.children()) walk(child);
            break;
        default:
            break;
    }
}

void fuzz_json(std::string_view text) {
    try {
        const auto document = dsv4::json::parse(text);
        walk(document.root());
        const std::string compact = dsv4::json::serialize(document.root());
        check(dsv4::json::serialize(dsv4::json::parse(compact).root()) == compact);
        const std::string minified = dsv4::json::minify(document.root().raw());
        check(dsv4::json::serialize(dsv4::json::parse(minified).root()) == compact);
    } catch (const dsv4::json::JsonError&) {
        // Rejected input is the common case.
    }
}

void fuzz_request(std::string_view body) {
    using namespace dsv4::chat;
    for (const Endpoint endpoint : {Endpoint::ChatCompletions, Endpoint::Completions,
                                    Endpoint::AnthropicMessages, Endpoint::Responses}) {
        try {
            MappingOptions options;
            options.context_size = kThinkMaxMinContext;
            options.is_live_call_id = [](std::string_view id) { return id == "live"; };
            MappedRequest request = map_request(endpoint, body, options);
            MapToolReplay memory;
            memory.remember("call_1", "\n\n<｜DSML｜tool_calls>\n</｜DSML｜tool_calls>");
            keep(static_cast<uint64_t>(attach_tool_replay(request.conversation, &memory).memory));
            const RenderedPrompt prompt = render_prompt(request.conversation);
            check(prompt.text.rfind(kBeginOfSentence, 0) == 0);
        } catch (const RequestError& error) {
            check(error.http_status() == 400);
            keep(error.error_body().size());
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    fuzz_json(text);
    if (const auto arguments = dsv4::chat::split_tool_arguments(text)) keep(arguments->size());
    keep(dsv4::chat::canonical_tool_calls_dsml({{"id", "name", std::string(text)}}).size());
    fuzz_request(text);
    return 0;
}
