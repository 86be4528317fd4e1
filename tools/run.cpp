#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/chat_types.h"
#include "engine/chat/render.h"
#include "tools/cmd_run.h"
#include "tools/generate_cli.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsageHead =
    "usage: dsv4 run -m MODEL.gguf -p PROMPT [--raw] [options]\n"
    "  Renders PROMPT as a one-turn chat and streams the answer to stdout (reasoning faint on\n"
    "  a terminal); statistics go to stderr.\n"
    "  -p, --prompt TEXT  the user message\n"
    "  --raw              PROMPT is an already rendered chat text, tokenized as it is (also\n"
    "                     assumed when it starts with the begin-of-sentence token)\n";

struct RunArguments {
    GenerationCliOptions common;
    std::string prompt;
    bool have_prompt = false;
    bool raw = false;
};

RunArguments parse_run_arguments(int argc, char** argv) {
    RunArguments a;
    for (int i = 1; i < argc; ++i) {
        if (parse_generation_option(argc, argv, i, a.common)) continue;
        const std::string arg = argv[i];
        if (arg == "-p" || arg == "--prompt") {
            if (i + 1 >= argc) throw CliUsageError(arg + " needs a value");
            a.prompt = argv[++i];
            a.have_prompt = true;
        } else if (arg == "--raw") {
            a.raw = true;
        } else {
            throw CliUsageError("unknown argument '" + arg + "'");
        }
    }
    if (a.common.model.empty()) throw CliUsageError("the model is missing (-m MODEL.gguf)");
    if (!a.have_prompt) throw CliUsageError("the prompt is missing (-p TEXT)");
    return a;
}

// The rendered prompt text and whether it opens the reasoning.
struct PromptText {
    std::string text;
    bool thinking = false;
};

PromptText one_turn_prompt(const RunArguments& a) {
    if (a.raw || a.prompt.starts_with(chat::kBeginOfSentence)) {
        // A rendered chat says itself whether it opened the reasoning.
        return {a.prompt, a.prompt.ends_with(chat::kThinkOpen)};
    }
    chat::Conversation conversation;
    auto add_message = [&](chat::Role role, const std::string& content) {
        chat::Message message;
        message.role = role;
        message.content = content;
        conversation.messages.push_back(std::move(message));
    };
    if (!a.common.system.empty()) add_message(chat::Role::System, a.common.system);
    add_message(chat::Role::User, a.prompt);
    conversation.requested_think_mode =
        a.common.thinking ? chat::ThinkMode::High : chat::ThinkMode::None;
    conversation.context_size = static_cast<uint32_t>(a.common.context_tokens);
    const chat::RenderedPrompt rendered = chat::render_prompt(conversation);
    return {rendered.text, chat::thinking_enabled(rendered.think_mode)};
}

int run(const RunArguments& a) {
    const PromptText prompt = one_turn_prompt(a);
    GenerationSession session = open_generation_session(a.common);
    generate::Generator& generator = *session.generator;
    const std::vector<tokenizer::TokenId> tokens =
        generator.tokenizer().encode(prompt.text, tokenizer::SpecialTokenMode::Recognise);

    generate::GenerateOptions options;
    options.sampling = a.common.sampling;
    options.thinking = prompt.thinking;
    options.max_tokens = a.common.max_tokens < 0 ? INT_MAX : a.common.max_tokens;
    TerminalPrinter printer;
    ProgressLine progress;
    const generate::GenerateResult result =
        generator.generate(tokens, options, terminal_callbacks(printer, progress));
    progress.clear();
    printer.finish();
    print_generation_stats(result);
    return 0;
}

}  // namespace

int cmd_run(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(kUsageHead, stdout);
            std::fputs(kGenerationOptionsUsage, stdout);
            return 0;
        }
    }
    RunArguments arguments;
    try {
        arguments = parse_run_arguments(argc, argv);
    } catch (const CliUsageError& error) {
        std::fprintf(stderr, "dsv4 run: %s\n%s%s", error.what(), kUsageHead,
                     kGenerationOptionsUsage);
        return 2;
    }
    return run(arguments);
}

}  // namespace dsv4::tools
