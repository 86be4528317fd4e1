#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

#include "engine/chat/openai_request.h"
#include "engine/chat/render.h"
#include "tools/cmd_render.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsage =
    "usage: dsv4 render [--ctx N] [--endpoint chat|completions|messages|responses] < REQUEST.json\n"
    "  Reads an API request body on stdin and prints the prompt text the server would give the\n"
    "  model, byte for byte (no newline added).\n"
    "  --ctx N        context size in tokens (default 32768; Think-Max needs 393216)\n"
    "  --endpoint E   chat (/v1/chat/completions, default), completions (/v1/completions),\n"
    "                 messages (/v1/messages) or responses (/v1/responses)\n";

bool parse_context(const char* text, uint32_t& context) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || value == 0 || value > UINT32_MAX) {
        return false;
    }
    context = static_cast<uint32_t>(value);
    return true;
}

bool parse_endpoint(std::string_view name, chat::Endpoint& endpoint) {
    if (name == "chat") {
        endpoint = chat::Endpoint::ChatCompletions;
    } else if (name == "completions") {
        endpoint = chat::Endpoint::Completions;
    } else if (name == "messages") {
        endpoint = chat::Endpoint::AnthropicMessages;
    } else if (name == "responses") {
        endpoint = chat::Endpoint::Responses;
    } else if (const auto by_path = chat::endpoint_from_path(name)) {
        endpoint = *by_path;
    } else {
        return false;
    }
    return true;
}

}  // namespace

int cmd_render(int argc, char** argv) {
    chat::MappingOptions options;
    chat::Endpoint endpoint = chat::Endpoint::ChatCompletions;
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (std::strcmp(arg, "--ctx") == 0) {
            if (!has_value || !parse_context(argv[i + 1], options.context_size)) {
                std::fprintf(stderr, "dsv4 render: --ctx needs a positive token count\n%s", kUsage);
                return 2;
            }
            ++i;
        } else if (std::strcmp(arg, "--endpoint") == 0) {
            if (!has_value || !parse_endpoint(argv[i + 1], endpoint)) {
                std::fprintf(stderr, "dsv4 render: unknown endpoint '%s'\n%s",
                             has_value ? argv[i + 1] : "", kUsage);
                return 2;
            }
            ++i;
        } else {
            std::fprintf(stderr, "dsv4 render: unknown argument '%s'\n%s", arg, kUsage);
            return 2;
        }
    }

    const std::string body{std::istreambuf_iterator<char>(std::cin),
                           std::istreambuf_iterator<char>()};
    try {
        chat::MappedRequest request = chat::map_request(endpoint, body, options);
        // No tool memory outside the server: every tool call renders canonically.
        chat::attach_tool_replay(request.conversation, nullptr);
        const chat::RenderedPrompt prompt = chat::render_prompt(request.conversation);
        std::fwrite(prompt.text.data(), 1, prompt.text.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    } catch (const chat::RequestError& error) {
        std::fprintf(stderr, "dsv4 render: HTTP %d: %s\n", error.http_status(), error.what());
        return 1;
    }
}

}  // namespace dsv4::tools
