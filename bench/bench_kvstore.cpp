// The persistent prefix store against re-prefill: for prompts of several lengths, the time to
// prefill from nothing (blocks stored on the way), the time to restore the stored prefix in a
// fresh process-like setup (new store, new generator) and prefill the short rest, stored bytes
// per token and the writer's throughput.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/common/log.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"
#include "engine/state/sequence_state.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvstore/prefix_store.h"

namespace {

using namespace dsv4;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: bench_kvstore [MODEL.gguf] [--lengths 4096,32768] [--block N] [--threads N]\n"
    "  MODEL defaults to the golden tiny model; the store lives in a temporary directory\n";

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int64_t> parse_list(const std::string& text) {
    std::vector<int64_t> out;
    for (size_t at = 0; at < text.size();) {
        size_t end = text.find(',', at);
        if (end == std::string::npos) end = text.size();
        out.push_back(std::stoll(text.substr(at, end - at)));
        at = end + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path = DSV4_SOURCE_DIR "/tests/golden/dsv4-tiny-s1-iq2xxs.gguf";
    std::vector<int64_t> lengths = {4096, 32768};
    int64_t block = 512;
    unsigned threads = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--lengths" && i + 1 < argc) {
            lengths = parse_list(argv[++i]);
        } else if (arg == "--block" && i + 1 < argc) {
            block = std::stoll(argv[++i]);
        } else if (arg == "--threads" && i + 1 < argc) {
            threads = static_cast<unsigned>(std::stoul(argv[++i]));
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else {
            model_path = arg;
        }
    }
    log::set_level(log::Level::Warn);
    auto model = forward::load_model(model_path);
    backend::cpu::CpuBackend backend(threads);
    const size_t vocab = tokenizer::Tokenizer::from_gguf(model->file).vocab_size();
    const kvstore::Digest seed = kvstore::model_fingerprint(*model, "q8");
    std::printf("model: %s, block %lld tokens\n", model_path.c_str(),
                static_cast<long long>(block));
    std::printf("%8s %12s %12s %9s %14s %12s\n", "tokens", "prefill s", "request s", "ratio",
                "bytes/token", "write MB/s");
    for (const int64_t n : lengths) {
        const auto dir =
            std::filesystem::temp_directory_path() / ("dsv4-bench-kv-" + std::to_string(n));
        std::filesystem::remove_all(dir);
        kvstore::PrefixStoreOptions options;
        options.dir = dir.string();
        options.block_tokens = block;
        options.max_bytes = 64ull << 30;
        std::mt19937 random(static_cast<uint32_t>(n));
        std::vector<int32_t> prompt(static_cast<size_t>(n));
        for (int32_t& t : prompt) t = static_cast<int32_t>(10 + random() % (vocab - 20));
        generate::GeneratorConfig config;
        config.context_tokens = n + 64;
        config.prefill_chunk_tokens = 512;
        generate::GenerateOptions no_decode;
        no_decode.max_tokens = 0;

        double prefill_seconds = 0, restore_seconds = 0;
        kvstore::PrefixStoreStats written;
        {
            kvstore::PrefixStore store(options, seed);
            config.prefix_cache = &store;
            generate::Generator generator(*model, backend,
                                          tokenizer::Tokenizer::from_gguf(model->file), config);
            const auto start = Clock::now();
            generator.generate(prompt, no_decode);
            prefill_seconds = seconds_since(start);
            store.flush();
            written = store.stats();
        }
        // The stored prefix alone, read and applied to a fresh state (a new process's view).
        int64_t restored = 0;
        double apply_seconds = 0;
        {
            kvstore::PrefixStore store(options, seed);
            state::SequenceState state(model->config, backend, n + 64);
            const auto start = Clock::now();
            restored = store.restore_longest(prompt, 0, state).tokens;
            apply_seconds = seconds_since(start);
        }
        // A whole request through the generator: the stored prompt end carries its logits, so
        // nothing is prefilled.
        {
            kvstore::PrefixStore store(options, seed);
            config.prefix_cache = &store;
            generate::Generator generator(*model, backend,
                                          tokenizer::Tokenizer::from_gguf(model->file), config);
            const auto start = Clock::now();
            generator.generate(prompt, no_decode);
            restore_seconds = seconds_since(start);
        }
        const double write_mb_s =
            written.write_seconds_sum > 0 ? written.bytes / written.write_seconds_sum / 1e6 : 0;
        std::printf(
            "%8lld %12.3f %12.4f %8.1fx %14.0f %12.1f   (%lld tokens restored in "
            "%.4f s: %.0fx; %llu blocks, %llu resume points)\n",
            static_cast<long long>(n), prefill_seconds, restore_seconds,
            prefill_seconds / restore_seconds,
            static_cast<double>(written.bytes) / static_cast<double>(n), write_mb_s,
            static_cast<long long>(restored), apply_seconds, prefill_seconds / apply_seconds,
            static_cast<unsigned long long>(written.blocks),
            static_cast<unsigned long long>(written.tails));
        std::filesystem::remove_all(dir);
    }
    return 0;
}
