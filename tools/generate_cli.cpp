#include "tools/generate_cli.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/tokenizer/tokenizer.h"

namespace dsv4::tools {
namespace {

constexpr const char* kFaint = "\x1b[2m";
constexpr const char* kResetStyle = "\x1b[0m";

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

uint64_t parse_unsigned(const std::string& option, const char* text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || errno == ERANGE)
        throw CliUsageError(option + " needs a non-negative number, got '" + text + "'");
    return value;
}

int parse_int(const std::string& option, const char* text) {
    const uint64_t value = parse_unsigned(option, text);
    if (value > INT32_MAX) throw CliUsageError(option + " is too large: " + text);
    return static_cast<int>(value);
}

float parse_float(const std::string& option, const char* text) {
    char* end = nullptr;
    errno = 0;
    const float value = std::strtof(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !std::isfinite(value))
        throw CliUsageError(option + " needs a number, got '" + text + "'");
    return value;
}

quant::Numerics parse_numerics(const char* text) {
    const std::string_view mode = text;
    if (mode == "q8") return quant::Numerics::Q8;
    if (mode == "f32") return quant::Numerics::F32;
    throw CliUsageError(std::string("--numerics is q8 or f32, got '") + text + "'");
}

}  // namespace

const char* const kGenerationOptionsUsage =
    "  -m, --model FILE   the DSV4 GGUF (required)\n"
    "  --think|--nothink  thinking mode (default --think: the reasoning comes first, and the\n"
    "                     sampling options below are replaced by the defaults, seed excepted)\n"
    "  -n N               most tokens to generate (default: up to the end of the context)\n"
    "  --temp T --top-p P --top-k K --min-p M --seed S\n"
    "                     sampling (defaults 1.0, 1.0, 0 = off, 0.05, random); --temp 0: greedy\n"
    "  --ctx N            context size in tokens (default 32768)\n"
    "  --threads N        worker threads (default: one per CPU)\n"
    "  --numerics q8|f32  q8 (default): activations quantized like the reference engine\n"
    "  --load mmap|copy   mmap (default): map the file; copy: read the weights onto huge pages\n"
    "                     (slower start, faster decode)\n"
    "  --system TEXT      system prompt (default \"You are a helpful assistant\"; \"\": none)\n";

bool parse_generation_option(int argc, char** argv, int& i, GenerationCliOptions& options) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
        if (i + 1 >= argc) throw CliUsageError(arg + " needs a value");
        return argv[++i];
    };
    if (arg == "-m" || arg == "--model") {
        options.model = value();
    } else if (arg == "--think") {
        options.thinking = true;
    } else if (arg == "--nothink") {
        options.thinking = false;
    } else if (arg == "-n" || arg == "--max-tokens") {
        options.max_tokens = parse_int(arg, value());
    } else if (arg == "--temp" || arg == "--temperature") {
        options.sampling.temperature = parse_float(arg, value());
    } else if (arg == "--top-p") {
        options.sampling.top_p = parse_float(arg, value());
    } else if (arg == "--top-k") {
        options.sampling.top_k = parse_int(arg, value());
    } else if (arg == "--min-p") {
        options.sampling.min_p = parse_float(arg, value());
    } else if (arg == "--seed") {
        options.sampling.seed = parse_unsigned(arg, value());
    } else if (arg == "--ctx") {
        const uint64_t ctx = parse_unsigned(arg, value());
        if (ctx == 0 || ctx > INT32_MAX)
            throw CliUsageError("--ctx must be between 1 and 2147483647");
        options.context_tokens = static_cast<int64_t>(ctx);
    } else if (arg == "--threads" || arg == "-t") {
        options.threads = parse_unsigned(arg, value());
    } else if (arg == "--numerics") {
        options.numerics = parse_numerics(value());
    } else if (arg == "--load") {
        const char* mode = value();
        const auto parsed = gguf::parse_load_mode(mode);
        if (!parsed) throw CliUsageError(std::string("--load is mmap or copy, got '") + mode + "'");
        options.load = *parsed;
    } else if (arg == "--system" || arg == "-sys") {
        options.system = value();
    } else {
        return false;
    }
    return true;
}

GenerationSession open_generation_session(const GenerationCliOptions& options) {
    const bool interactive = ::isatty(STDERR_FILENO) != 0;
    if (interactive) std::fprintf(stderr, "loading %s ...", options.model.c_str());
    GenerationSession session;
    session.model = forward::load_model(options.model, options.load);
    if (!session.model->file.copy_fallback_reason().empty())
        std::fprintf(stderr, "%sdsv4: --load copy fell back to mapping the file: %s\n",
                     interactive ? "\n" : "", session.model->file.copy_fallback_reason().c_str());
    session.backend =
        std::make_unique<backend::cpu::CpuBackend>(static_cast<unsigned>(options.threads));
    generate::GeneratorConfig config;
    config.context_tokens = options.context_tokens;
    config.forward.numerics = options.numerics;
    session.generator = std::make_unique<generate::Generator>(
        *session.model, *session.backend, tokenizer::Tokenizer::from_gguf(session.model->file),
        config);
    if (interactive) std::fprintf(stderr, "\r\x1b[K");
    return session;
}

TerminalPrinter::TerminalPrinter() : styled_(::isatty(STDOUT_FILENO) != 0) {}

void TerminalPrinter::print(const chat::OutputEvent& event) {
    const bool reasoning = event.kind == chat::OutputEventKind::ReasoningDelta;
    if (event.kind != chat::OutputEventKind::ReasoningDelta &&
        event.kind != chat::OutputEventKind::ContentDelta)
        return;  // no tools are offered, so no tool-call events arrive
    if (reasoning != in_reasoning_) {
        if (styled_) std::fputs(reasoning ? kFaint : kResetStyle, stdout);
        // The answer starts on its own line after the reasoning.
        if (!reasoning && printed_anything_ && !at_line_start_) std::fputc('\n', stdout);
        in_reasoning_ = reasoning;
    }
    std::fwrite(event.text.data(), 1, event.text.size(), stdout);
    printed_anything_ = true;
    at_line_start_ = event.text.back() == '\n';
    std::fflush(stdout);
}

void TerminalPrinter::finish() {
    if (styled_ && in_reasoning_) std::fputs(kResetStyle, stdout);
    in_reasoning_ = false;
    if (!at_line_start_) std::fputc('\n', stdout);
    at_line_start_ = true;
    printed_anything_ = false;
    std::fflush(stdout);
}

ProgressLine::ProgressLine() : enabled_(::isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(int64_t done, int64_t total) {
    if (!enabled_) return;
    const double now = now_seconds();
    if (first_done_ < 0) {
        // The first chunk's own time is unknown here; rates count from its end.
        first_done_ = done;
        start_seconds_ = now;
    }
    if (done >= total && !shown_) return;  // a prefill done in one step needs no progress
    const double elapsed = now - start_seconds_;
    const double rate = elapsed > 0 ? static_cast<double>(done - first_done_) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
    std::fprintf(stderr, "\r\x1b[Kprefill %lld/%lld tokens  %.1f tok/s  ETA %.0fs",
                 static_cast<long long>(done), static_cast<long long>(total), rate, eta);
    shown_ = true;
}

void ProgressLine::clear() {
    if (shown_) std::fprintf(stderr, "\r\x1b[K");
    shown_ = false;
    first_done_ = -1;
}

generate::GenerateCallbacks terminal_callbacks(TerminalPrinter& printer, ProgressLine& progress) {
    generate::GenerateCallbacks callbacks;
    callbacks.on_prefill_progress = [&progress](int64_t done, int64_t total) {
        progress.update(done, total);
        if (done >= total) progress.clear();
    };
    callbacks.on_output = [&printer](const chat::OutputEvent& event) { printer.print(event); };
    return callbacks;
}

void print_generation_stats(const generate::GenerateResult& result) {
    std::fprintf(stderr,
                 "prompt %lld tokens (%lld cached), prefill %.1f tok/s, %lld generated, "
                 "decode %.1f tok/s, finish %s\n",
                 static_cast<long long>(result.prompt_tokens),
                 static_cast<long long>(result.cached_tokens), result.prefill_tokens_per_second(),
                 static_cast<long long>(result.generated_tokens), result.decode_tokens_per_second(),
                 std::string(generate::finish_reason_name(result.finish)).c_str());
}

}  // namespace dsv4::tools
