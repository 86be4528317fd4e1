#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "engine/gguf/gguf_describe.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/model/config.h"
#include "engine/model/describe.h"
#include "engine/model/weights.h"
#include "engine/state/sequence_state.h"
#include "tools/cmd_inspect.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsage =
    "usage: dsv4 inspect [--items N] FILE.gguf\n"
    "  For a DSV4 model, first prints its shape, per-layer attention kind and experts, and\n"
    "  weight bytes by class; then the GGUF header, every metadata key with its type and value,\n"
    "  the tensor table and byte totals per tensor type.\n"
    "  --items N   array items shown per metadata value (default 8)\n"
    "  --ctx N     context size for the sequence-state memory figures (default 32768)\n";

bool parse_count(const char* text, uint64_t& count) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-') return false;
    count = value;
    return true;
}

void print_state_memory(const model::ModelConfig& config, uint64_t context_tokens) {
    const state::MemoryEstimate m =
        state::estimate_memory(config, static_cast<int64_t>(context_tokens));
    std::printf(
        "sequence state (f32 storage):\n"
        "  fixed:          %llu bytes (sliding windows, compressor windows)\n"
        "  per token:      %.1f bytes (compressed and indexer rows)\n"
        "  at %llu tokens: %.2f MiB\n\n",
        static_cast<unsigned long long>(m.fixed_bytes), m.bytes_per_token,
        static_cast<unsigned long long>(context_tokens),
        static_cast<double>(m.total_bytes) / (1024.0 * 1024.0));
    std::fflush(stdout);
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
    gguf::DescribeOptions options;
    uint64_t context_tokens = 32768;
    const char* path = nullptr;
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (std::strcmp(arg, "--items") == 0) {
            if (i + 1 >= argc || !parse_count(argv[i + 1], options.max_array_items)) {
                std::fprintf(stderr, "dsv4 inspect: --items needs a non-negative number\n%s",
                             kUsage);
                return 2;
            }
            ++i;
        } else if (std::strcmp(arg, "--ctx") == 0) {
            if (i + 1 >= argc || !parse_count(argv[i + 1], context_tokens) || context_tokens == 0) {
                std::fprintf(stderr, "dsv4 inspect: --ctx needs a positive number\n%s", kUsage);
                return 2;
            }
            ++i;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            std::fprintf(stderr, "dsv4 inspect: unknown option '%s'\n%s", arg, kUsage);
            return 2;
        } else if (path != nullptr) {
            std::fprintf(stderr, "dsv4 inspect: one file at a time ('%s' and '%s')\n%s", path, arg,
                         kUsage);
            return 2;
        } else {
            path = arg;
        }
    }
    if (path == nullptr) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    try {
        const gguf::GgufFile file = gguf::GgufFile::open(path);
        int status = 0;
        if (file.get_string("general.architecture") == "deepseek4") {
            try {
                const model::ModelConfig config = model::read_model_config(file);
                model::describe_model(config, model::bind_model_weights(file, config), std::cout);
                print_state_memory(config, context_tokens);
            } catch (const model::ModelError& error) {
                std::fprintf(stderr, "dsv4 inspect: not a usable DSV4 model: %s\n", error.what());
                status = 1;
            }
        }
        gguf::describe_gguf(file, std::cout, options);
        std::cout.flush();
        return std::cout.good() ? status : 1;
    } catch (const gguf::GgufError& error) {
        std::fprintf(stderr, "dsv4 inspect: %s\n", error.what());
        return 1;
    }
}

}  // namespace dsv4::tools
