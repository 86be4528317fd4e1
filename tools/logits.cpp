#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tools/cmd_logits.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsage =
    "usage: dsv4 logits -m MODEL.gguf (--tokens 1,2,3 | --tokens-file FILE) [--gen N]\n"
    "                   [--numerics q8|f32] [--threads N] [--batch N] [--ctx N] -o OUT.f32\n"
    "  Prefills the token ids, then runs N greedy decode steps. OUT gets little-endian float32\n"
    "  logits, one row of n_vocab per prompt position, then one per decode step (the logits\n"
    "  after feeding each generated token). stdout gets the N+1 greedy ids: the prediction\n"
    "  after the prompt and after each decode step.\n"
    "  --tokens-file    ids separated by commas or whitespace\n"
    "  --numerics       q8 (default): activations quantized like the reference engine;\n"
    "                   f32: f32 activations into every matmul\n"
    "  --threads N      worker threads (default: one per CPU)\n"
    "  --batch N        prefill chunk in tokens (default 256; results do not depend on it)\n"
    "  --ctx N          context size (default: prompt + N)\n";

struct Arguments {
    std::string model;
    std::string output;
    std::vector<int32_t> tokens;
    bool have_tokens = false;
    uint64_t gen = 0;
    quant::Numerics numerics = quant::Numerics::Q8;
    uint64_t threads = 0;
    uint64_t batch = 256;
    uint64_t ctx = 0;
};

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

uint64_t parse_count(const std::string& option, const char* text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || errno == ERANGE)
        throw UsageError(option + " needs a non-negative number, got '" + text + "'");
    return value;
}

// Ids separated by commas and/or whitespace.
std::vector<int32_t> parse_token_list(const std::string& text, const std::string& source) {
    std::vector<int32_t> tokens;
    size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < text.size() && text[end] != ',' &&
               !std::isspace(static_cast<unsigned char>(text[end])))
            ++end;
        const std::string item = text.substr(i, end - i);
        char* stop = nullptr;
        errno = 0;
        const long value = std::strtol(item.c_str(), &stop, 10);
        if (*stop != '\0' || errno == ERANGE || value < 0 || value > INT32_MAX)
            throw UsageError(source + ": '" + item + "' is not a token id");
        tokens.push_back(static_cast<int32_t>(value));
        i = end;
    }
    if (tokens.empty()) throw UsageError(source + " holds no token ids");
    return tokens;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

Arguments parse_arguments(int argc, char** argv) {
    Arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "-m" || arg == "--model") {
            a.model = value();
        } else if (arg == "-o" || arg == "--output") {
            a.output = value();
        } else if (arg == "--tokens" || arg == "--tokens-file") {
            if (a.have_tokens) throw UsageError("give the tokens once (--tokens or --tokens-file)");
            const std::string text = value();
            a.tokens = arg == "--tokens" ? parse_token_list(text, "--tokens")
                                         : parse_token_list(read_file(text), text);
            a.have_tokens = true;
        } else if (arg == "--gen") {
            a.gen = parse_count(arg, value());
        } else if (arg == "--threads" || arg == "-t") {
            a.threads = parse_count(arg, value());
        } else if (arg == "--batch") {
            a.batch = parse_count(arg, value());
            if (a.batch == 0) throw UsageError("--batch must be at least 1");
        } else if (arg == "--ctx") {
            a.ctx = parse_count(arg, value());
        } else if (arg == "--numerics") {
            const std::string mode = value();
            if (mode == "q8") {
                a.numerics = quant::Numerics::Q8;
            } else if (mode == "f32") {
                a.numerics = quant::Numerics::F32;
            } else {
                throw UsageError("--numerics is q8 or f32, got '" + mode + "'");
            }
        } else {
            throw UsageError("unknown argument '" + arg + "'");
        }
    }
    if (a.model.empty()) throw UsageError("the model is missing (-m MODEL.gguf)");
    if (!a.have_tokens) throw UsageError("the prompt is missing (--tokens or --tokens-file)");
    if (a.output.empty()) throw UsageError("the output file is missing (-o OUT.f32)");
    return a;
}

// First index of the largest value.
int32_t greedy(const std::vector<float>& logits, size_t row, size_t n_vocab) {
    const float* begin = logits.data() + row * n_vocab;
    size_t best = 0;
    for (size_t i = 1; i < n_vocab; ++i)
        if (begin[i] > begin[best]) best = i;
    return static_cast<int32_t>(best);
}

void write_rows(std::FILE* out, const std::vector<float>& rows, const std::string& path) {
    if (std::fwrite(rows.data(), sizeof(float), rows.size(), out) != rows.size())
        throw std::runtime_error("writing " + path + " failed: " + std::strerror(errno));
}

int run(const Arguments& a) {
    const auto model = forward::load_model(a.model);
    const size_t n_vocab = model->config.n_vocab;
    backend::cpu::CpuBackend backend(static_cast<unsigned>(a.threads));
    forward::ForwardOptions options;
    options.numerics = a.numerics;
    options.max_batch_tokens = static_cast<int64_t>(a.batch);
    forward::Forward fwd(*model, backend, options);
    const uint64_t needed = a.tokens.size() + a.gen;
    const uint64_t ctx = a.ctx != 0 ? a.ctx : needed;
    if (ctx < needed)
        throw std::runtime_error("--ctx " + std::to_string(ctx) + " is smaller than the " +
                                 std::to_string(needed) + " tokens the run feeds");
    state::SequenceState seq(model->config, backend, static_cast<int64_t>(ctx));

    std::FILE* out = std::fopen(a.output.c_str(), "wb");
    if (out == nullptr)
        throw std::runtime_error("cannot create " + a.output + ": " + std::strerror(errno));
    std::vector<int32_t> generated;
    try {
        const std::vector<float> prompt_rows = fwd.prefill(seq, a.tokens, forward::LogitRows::All);
        write_rows(out, prompt_rows, a.output);
        generated.push_back(greedy(prompt_rows, a.tokens.size() - 1, n_vocab));
        for (uint64_t step = 0; step < a.gen; ++step) {
            const std::vector<float> row = fwd.decode(seq, generated.back());
            write_rows(out, row, a.output);
            generated.push_back(greedy(row, 0, n_vocab));
        }
    } catch (...) {
        // A partial file would look like a valid shorter run.
        std::fclose(out);
        std::remove(a.output.c_str());
        throw;
    }
    if (std::fclose(out) != 0)
        throw std::runtime_error("closing " + a.output + " failed: " + std::strerror(errno));
    for (size_t i = 0; i < generated.size(); ++i)
        std::printf("%s%d", i == 0 ? "" : " ", generated[i]);
    std::printf("\n");
    return 0;
}

}  // namespace

int cmd_logits(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
    }
    Arguments arguments;
    try {
        arguments = parse_arguments(argc, argv);
    } catch (const UsageError& error) {
        std::fprintf(stderr, "dsv4 logits: %s\n%s", error.what(), kUsage);
        return 2;
    }
    return run(arguments);
}

}  // namespace dsv4::tools
