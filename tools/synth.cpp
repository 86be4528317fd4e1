#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/model/synth.h"
#include "tools/cmd_synth.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsage =
    "usage: dsv4 synth -o OUT.gguf [--preset tiny|layers-N] [--quant q2|q4|q8|f16]\n"
    "                  [--seed S] [--distinct-mib N] [--sparse]\n"
    "  Writes a DeepSeek V4 GGUF with random weights and a synthetic byte-level BPE vocabulary.\n"
    "  The same arguments always give the same bytes.\n"
    "  --preset   tiny (default): the golden test shape (5 layers, width 256, vocabulary 640);\n"
    "             layers-N: the real widths (4096, 64 x 512 heads, 256 experts, vocabulary\n"
    "             129280) with N layers (1..43)\n"
    "  --quant    routed experts: q2 (default) IQ2_XXS gate/up + Q2_K down, q4 Q4_K, q8 Q8_0,\n"
    "             f16 F16; every other tensor takes the published files' type\n"
    "  --seed S   default 1\n"
    "  --distinct-mib N  distinct random MiB per tensor before it repeats (default 8)\n"
    "  --sparse   header and tensor table only, the data a hole of the right size: the file\n"
    "             loads (weights read as zero) for shape checks, without the disk space\n";

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Arguments {
    std::string output;
    model::SynthOptions options;
    bool sparse = false;
};

uint64_t parse_count(const std::string& option, const char* text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || errno == ERANGE)
        throw UsageError(option + " needs a non-negative number, got '" + text + "'");
    return value;
}

Arguments parse_arguments(int argc, char** argv) {
    Arguments a;
    a.options.shape = model::synth_tiny_shape();
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "-o" || arg == "--output") {
            a.output = value();
        } else if (arg == "--preset") {
            const std::string preset = value();
            const auto shape = model::synth_shape_from_preset(preset);
            if (!shape)
                throw UsageError("--preset is tiny or layers-N (N 1..43), got '" + preset + "'");
            a.options.shape = *shape;
        } else if (arg == "--quant") {
            const std::string name = value();
            const auto quant = model::synth_expert_quant_from_name(name);
            if (!quant) throw UsageError("--quant is q2, q4, q8 or f16, got '" + name + "'");
            a.options.expert_quant = *quant;
        } else if (arg == "--seed") {
            a.options.seed = parse_count(arg, value());
        } else if (arg == "--distinct-mib") {
            const uint64_t mib = parse_count(arg, value());
            if (mib == 0 || mib > 4096) throw UsageError("--distinct-mib must be 1..4096");
            a.options.distinct_bytes_per_tensor = static_cast<size_t>(mib) << 20;
        } else if (arg == "--sparse") {
            a.sparse = true;
        } else {
            throw UsageError("unknown argument '" + arg + "'");
        }
    }
    if (a.output.empty()) throw UsageError("the output file is missing (-o OUT.gguf)");
    return a;
}

int run(const Arguments& a) {
    const auto start = std::chrono::steady_clock::now();
    const model::SyntheticModel synthetic(a.options);
    if (a.sparse) {
        synthetic.write_sparse_file(a.output);
    } else {
        synthetic.write_file(a.output);
    }
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    std::fprintf(stderr,
                 "dsv4 synth: wrote %s (%s, %s experts, seed %llu): %llu bytes%s in %.1f s\n",
                 a.output.c_str(), a.options.shape.preset.c_str(),
                 model::synth_expert_quant_name(a.options.expert_quant),
                 static_cast<unsigned long long>(a.options.seed),
                 static_cast<unsigned long long>(synthetic.file_bytes()),
                 a.sparse ? " (sparse)" : "", seconds.count());
    return 0;
}

}  // namespace

int cmd_synth(int argc, char** argv) {
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
        std::fprintf(stderr, "dsv4 synth: %s\n%s", error.what(), kUsage);
        return 2;
    }
    return run(arguments);
}

}  // namespace dsv4::tools
