#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/render.h"
#include "tools/cmd_chat.h"
#include "tools/generate_cli.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsageHead =
    "usage: dsv4 chat -m MODEL.gguf [options]\n"
    "  Interactive conversation: one user message per line on stdin, answers streamed to\n"
    "  stdout. The sequence state is kept between turns, so each turn prefills only its new\n"
    "  tokens. Ctrl-C stops the current answer; /help lists the commands.\n";

constexpr const char* kCommandHelp =
    "  /think    reason before answering (the sampling options give way to the defaults)\n"
    "  /nothink  answer directly\n"
    "  /clear    forget the conversation\n"
    "  /quit     leave (so does end of input)\n";

// Set by SIGINT, read by the generation's cancel poll and the line reader.
volatile std::sig_atomic_t interrupt_requested = 0;

void on_interrupt(int) {
    interrupt_requested = 1;
}

// Without SA_RESTART, so that a Ctrl-C at the prompt interrupts the blocked read.
void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(SIGINT, &action, nullptr);
}

struct ChatArguments {
    GenerationCliOptions common;
};

ChatArguments parse_chat_arguments(int argc, char** argv) {
    ChatArguments a;
    for (int i = 1; i < argc; ++i) {
        if (parse_generation_option(argc, argv, i, a.common)) continue;
        throw CliUsageError(std::string("unknown argument '") + argv[i] + "'");
    }
    if (a.common.model.empty()) throw CliUsageError("the model is missing (-m MODEL.gguf)");
    return a;
}

enum class LineStatus { Line, Interrupted, EndOfInput };

LineStatus read_line(std::string& line) {
    char* buffer = nullptr;
    size_t capacity = 0;
    errno = 0;
    const ssize_t length = ::getline(&buffer, &capacity, stdin);
    const int read_errno = errno;
    if (length >= 0) line.assign(buffer, static_cast<size_t>(length));
    std::free(buffer);
    if (length >= 0) {
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        return LineStatus::Line;
    }
    if (read_errno == EINTR) {
        std::clearerr(stdin);
        return LineStatus::Interrupted;
    }
    return LineStatus::EndOfInput;
}

// The conversation as tokens, the way the model saw it: each turn's rendered user part, then
// the sampled tokens and an end-of-sentence, so the next turn extends the live state exactly.
class Transcript {
  public:
    Transcript(const tokenizer::Tokenizer& tokenizer, std::string system)
        : tokenizer_(tokenizer), system_(std::move(system)) {
        clear();
    }

    void clear() {
        tokens_.clear();
        tokenizer_.encode_append(std::string(chat::kBeginOfSentence) + system_,
                                 tokenizer::SpecialTokenMode::Recognise, tokens_);
    }

    void add_user_turn(std::string_view text, bool thinking) {
        std::string rendered(chat::kUserMarker);
        rendered += text;
        rendered += chat::kAssistantMarker;
        rendered += thinking ? chat::kThinkOpen : chat::kThinkClose;
        tokenizer_.encode_append(rendered, tokenizer::SpecialTokenMode::Recognise, tokens_);
    }

    void add_answer(const std::vector<tokenizer::TokenId>& answer) {
        tokens_.insert(tokens_.end(), answer.begin(), answer.end());
        tokens_.push_back(tokenizer_.eos());
    }

    const std::vector<tokenizer::TokenId>& tokens() const { return tokens_; }
    void truncate(size_t size) { tokens_.resize(size); }

  private:
    const tokenizer::Tokenizer& tokenizer_;
    std::string system_;
    std::vector<tokenizer::TokenId> tokens_;
};

// Runs one turn; the transcript is left unchanged when the turn cannot run.
void answer_turn(generate::Generator& generator, Transcript& transcript, const std::string& line,
                 const GenerationCliOptions& common, bool thinking) {
    const size_t size_before = transcript.tokens().size();
    transcript.add_user_turn(line, thinking);
    generate::GenerateOptions options;
    options.sampling = common.sampling;
    options.thinking = thinking;
    options.max_tokens = common.max_tokens < 0 ? INT_MAX : common.max_tokens;

    TerminalPrinter printer;
    ProgressLine progress;
    generate::GenerateCallbacks callbacks = terminal_callbacks(printer, progress);
    callbacks.cancel_requested = [] { return interrupt_requested != 0; };
    interrupt_requested = 0;
    try {
        const generate::GenerateResult result =
            generator.generate(transcript.tokens(), options, callbacks);
        progress.clear();
        printer.finish();
        if (result.finish == generate::FinishReason::Cancelled && result.tokens.empty() &&
            generator.state().position() < static_cast<int64_t>(transcript.tokens().size())) {
            // Stopped during prefill: the turn never happened.
            transcript.truncate(size_before);
        } else {
            transcript.add_answer(result.tokens);
        }
        print_generation_stats(result);
    } catch (const generate::GenerateError& error) {
        progress.clear();
        printer.finish();
        transcript.truncate(size_before);
        std::fprintf(stderr, "%s (use /clear to start over)\n", error.what());
    }
    interrupt_requested = 0;
}

int chat_loop(const ChatArguments& a) {
    GenerationSession session = open_generation_session(a.common);
    generate::Generator& generator = *session.generator;
    Transcript transcript(generator.tokenizer(), a.common.system);
    bool thinking = a.common.thinking;
    const bool interactive = ::isatty(STDIN_FILENO) != 0;
    install_interrupt_handler();
    if (interactive) std::fprintf(stderr, "type a message, /help for commands\n");
    std::string line;
    for (;;) {
        if (interactive) {
            std::fputs("> ", stdout);
            std::fflush(stdout);
        }
        const LineStatus status = read_line(line);
        if (status == LineStatus::EndOfInput) break;
        if (status == LineStatus::Interrupted) {
            interrupt_requested = 0;
            std::fputs("\n(/quit to leave)\n", stderr);
            continue;
        }
        if (line.empty()) continue;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/help") {
            std::fputs(kCommandHelp, stdout);
        } else if (line == "/think" || line == "/nothink") {
            thinking = line == "/think";
            std::fprintf(stderr, "thinking %s\n", thinking ? "on" : "off");
        } else if (line == "/clear") {
            transcript.clear();
            generator.reset();
            std::fputs("conversation cleared\n", stderr);
        } else if (line.starts_with('/')) {
            std::fprintf(stderr, "unknown command %s; /help lists them\n", line.c_str());
        } else {
            answer_turn(generator, transcript, line, a.common, thinking);
        }
    }
    if (interactive) std::fputc('\n', stdout);
    return 0;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(kUsageHead, stdout);
            std::fputs(kGenerationOptionsUsage, stdout);
            std::fputs("commands:\n", stdout);
            std::fputs(kCommandHelp, stdout);
            return 0;
        }
    }
    ChatArguments arguments;
    try {
        arguments = parse_chat_arguments(argc, argv);
    } catch (const CliUsageError& error) {
        std::fprintf(stderr, "dsv4 chat: %s\n%s%s", error.what(), kUsageHead,
                     kGenerationOptionsUsage);
        return 2;
    }
    return chat_loop(arguments);
}

}  // namespace dsv4::tools
