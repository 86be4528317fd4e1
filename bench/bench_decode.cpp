// The whole-model benchmark: on a DSV4 GGUF (typically `dsv4 synth --preset layers-4 --quant q2`)
// it measures decode ms per token and per layer, tokens/s, the weight bytes a decode step reads
// and the effective bandwidth against the machine's read bandwidth, with 1 thread and with all
// cores, and prefill tokens/s. Prints figures only; it never passes or fails on a timing.

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/backend/cpu/cpu_backend.h"
#include "engine/common/cpu_features.h"
#include "engine/common/thread_pool.h"
#include "engine/forward/forward.h"

namespace {

using dsv4::ThreadPool;
using dsv4::backend::Buffer;
using dsv4::backend::BufferPtr;
using dsv4::backend::DType;
using dsv4::backend::cpu::CpuBackend;
using dsv4::forward::Forward;
using dsv4::forward::LoadedModel;
using dsv4::model::LayerWeights;
using dsv4::model::ModelWeights;
using dsv4::model::WeightMatrix;
using dsv4::state::SequenceState;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: bench_decode [MODEL.gguf] [--threads 1,2] [--decode-tokens N] [--rounds N]\n"
    "                    [--prefill 512,2048] [--bandwidth-mib N] [--no-profile]\n"
    "                    [--load copy|mmap]\n"
    "  MODEL defaults to $DSV4_BENCH_MODEL; without either the benchmark is skipped.\n"
    "  --threads        thread counts to measure (default: 1 and all cores)\n"
    "  --decode-tokens  decode steps per round after a short prompt (default 16)\n"
    "  --rounds         decode rounds; the best round counts (default 3)\n"
    "  --prefill        prompt lengths for prefill tokens/s (default 512,2048; 0 = none)\n"
    "  --bandwidth-mib  buffer of the read-bandwidth pass (default 1024)\n"
    "  --no-profile     skip the per-sublayer decode timing\n"
    "  --load           copy (default): weights on anonymous huge pages; mmap: the file mapping\n";

// Decode steps start after this many prompt tokens: a short context.
constexpr int64_t kPromptTokens = 8;

struct Options {
    std::string model_path;
    std::vector<unsigned> threads;
    int64_t decode_tokens = 16;
    int rounds = 3;
    std::vector<int64_t> prefill_lengths = {512, 2048};
    size_t bandwidth_bytes = dsv4::bench::kGiB;
    bool profile = true;
    dsv4::gguf::LoadMode load = dsv4::gguf::LoadMode::Copy;
};

std::vector<int64_t> parse_list(const std::string& text) {
    std::vector<int64_t> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find(',', at);
        if (end == std::string::npos) end = text.size();
        out.push_back(std::stoll(text.substr(at, end - at)));
        at = end + 1;
    }
    return out;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--threads") {
            for (int64_t t : parse_list(value())) o.threads.push_back(static_cast<unsigned>(t));
        } else if (arg == "--decode-tokens") {
            o.decode_tokens = std::max<int64_t>(1, std::stoll(value()));
        } else if (arg == "--rounds") {
            o.rounds = std::max(1, std::stoi(value()));
        } else if (arg == "--prefill") {
            o.prefill_lengths.clear();
            for (int64_t n : parse_list(value()))
                if (n > 0) o.prefill_lengths.push_back(n);
        } else if (arg == "--bandwidth-mib") {
            o.bandwidth_bytes = static_cast<size_t>(std::stoll(value())) * dsv4::bench::kMiB;
        } else if (arg == "--no-profile") {
            o.profile = false;
        } else if (arg == "--load") {
            const std::string mode = value();
            const auto parsed = dsv4::gguf::parse_load_mode(mode);
            if (!parsed) throw std::invalid_argument("--load is copy or mmap, got '" + mode + "'");
            o.load = *parsed;
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (!arg.empty() && arg[0] != '-' && o.model_path.empty()) {
            o.model_path = arg;
        } else {
            throw std::invalid_argument("unknown argument '" + arg + "'\n" + kUsage);
        }
    }
    if (o.model_path.empty()) {
        const char* env = std::getenv("DSV4_BENCH_MODEL");
        if (env != nullptr) o.model_path = env;
    }
    if (o.threads.empty()) {
        o.threads.push_back(1);
        const unsigned all = ThreadPool::default_thread_count();
        if (all > 1) o.threads.push_back(all);
    }
    return o;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- weight bytes a decode step reads --------------------------------------------------------

size_t matrix_bytes(const WeightMatrix& w) {
    return w.data == nullptr ? 0 : w.row_bytes * static_cast<size_t>(w.n_out);
}

struct DecodeBytes {
    size_t head = 0;
    size_t attention = 0;
    size_t routed_experts = 0;
    size_t shared_expert = 0;
    size_t compressors = 0;
    size_t router = 0;
    size_t hyper_connections = 0;
    size_t embedding_row = 0;
    size_t indexer_long_context = 0;  // only read once the indexer has more rows than its top-k

    size_t short_context_total() const {
        return head + attention + routed_experts + shared_expert + compressors + router +
               hyper_connections + embedding_row;
    }
};

size_t compressor_bytes(const dsv4::model::CompressorWeights& c) {
    return matrix_bytes(c.kv) + matrix_bytes(c.gate) + matrix_bytes(c.ape);
}

DecodeBytes decode_bytes(const LoadedModel& model) {
    const ModelWeights& w = model.weights;
    const size_t n_used = model.config.n_expert_used;
    DecodeBytes b;
    b.head = matrix_bytes(w.output);
    b.hyper_connections = matrix_bytes(w.output_hc.fn);
    b.embedding_row = w.token_embd.row_bytes;
    for (const LayerWeights& l : w.layers) {
        b.hyper_connections += matrix_bytes(l.hc_attn.fn) + matrix_bytes(l.hc_ffn.fn);
        b.attention += matrix_bytes(l.q_a) + matrix_bytes(l.q_b) + matrix_bytes(l.kv) +
                       matrix_bytes(l.out_a) + matrix_bytes(l.out_b);
        if (l.has_compressor) b.compressors += compressor_bytes(l.compressor);
        if (l.has_indexer) {
            b.compressors += compressor_bytes(l.indexer_compressor);
            b.indexer_long_context += matrix_bytes(l.indexer_q_b) + matrix_bytes(l.indexer_proj);
        }
        b.router += matrix_bytes(l.router);
        if (l.has_shared_expert)
            b.shared_expert += matrix_bytes(l.shared_gate) + matrix_bytes(l.shared_up) +
                               matrix_bytes(l.shared_down);
        b.routed_experts +=
            n_used * (l.gate_exps.expert_bytes + l.up_exps.expert_bytes + l.down_exps.expert_bytes);
    }
    return b;
}

void print_decode_bytes(const DecodeBytes& b) {
    const auto mb = [](size_t bytes) { return static_cast<double>(bytes) * 1e-6; };
    std::printf("weight bytes per decode token (short context): %.1f MB\n",
                mb(b.short_context_total()));
    std::printf(
        "  output head %.1f, attention %.1f, routed experts %.1f, shared expert %.1f,\n"
        "  compressors %.1f, router %.1f, hyper-connections %.1f, embedding row %.3f MB\n"
        "  (+ %.1f MB of indexer weights once a sparse layer holds more rows than its top-k)\n",
        mb(b.head), mb(b.attention), mb(b.routed_experts), mb(b.shared_expert), mb(b.compressors),
        mb(b.router), mb(b.hyper_connections), mb(b.embedding_row), mb(b.indexer_long_context));
}

// Touches every page of the mapping so that page faults stay out of the timed steps.
void prefault(const LoadedModel& model) {
    const std::span<const uint8_t> bytes = model.file.bytes();
    (void)madvise(const_cast<uint8_t*>(bytes.data()), bytes.size(), MADV_WILLNEED);
    ThreadPool pool;
    constexpr size_t kPageBytes = 4096;
    std::atomic<uint64_t> folded{0};
    const auto n_pages = static_cast<int64_t>(bytes.size() / kPageBytes);
    pool.parallel_for(n_pages, 1024, [&](int64_t begin, int64_t end) {
        uint64_t sum = 0;
        for (int64_t p = begin; p < end; ++p) sum += bytes[static_cast<size_t>(p) * kPageBytes];
        folded += sum;
    });
    const uint64_t result = folded.load();
    asm volatile("" : : "r"(result));
}

// Token ids spread over the vocabulary (a fixed sequence): routing varies from step to step.
std::vector<int32_t> bench_tokens(int64_t n, uint32_t n_vocab) {
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    uint64_t state = 0x2545f4914f6cdd1dull;
    for (int32_t& t : tokens) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        t = static_cast<int32_t>(state % n_vocab);
    }
    return tokens;
}

// ---- decode -----------------------------------------------------------------------------------

struct DecodeResult {
    double best_round_ms_per_token = 0;
    double median_ms_per_token = 0;
    // Each round against a read pass made just before it (bench_util.h's paired_read_gbps).
    std::vector<double> round_ratios;  // bandwidth-bound ms per token / the round's ms per token
    double best_read_gbps = 0;         // over the passes made between rounds
};

DecodeResult measure_decode(const LoadedModel& model, CpuBackend& backend, const Options& o,
                            const dsv4::bench::LargeBuffer& bandwidth_buffer, double gb_per_token) {
    Forward fwd(model, backend);
    const std::vector<int32_t> tokens =
        bench_tokens(kPromptTokens + o.decode_tokens, model.config.n_vocab);
    SequenceState seq(model.config, backend, kPromptTokens + o.decode_tokens);
    std::vector<double> step_ms;
    DecodeResult result;
    result.best_round_ms_per_token = 1e30;
    for (int round = 0; round < o.rounds; ++round) {
        seq.reset();
        fwd.prefill(seq, std::span(tokens).first(kPromptTokens));
        // The engine's own pool reads the buffer: no second set of threads competes for cores.
        const double read_gbps = dsv4::bench::paired_read_gbps(backend.pool(), bandwidth_buffer);
        result.best_read_gbps = std::max(result.best_read_gbps, read_gbps);
        const auto round_start = Clock::now();
        for (int64_t i = 0; i < o.decode_tokens; ++i) {
            const auto start = Clock::now();
            fwd.decode(seq, tokens[static_cast<size_t>(kPromptTokens + i)]);
            step_ms.push_back(seconds_since(start) * 1e3);
        }
        const double ms_per_token =
            seconds_since(round_start) * 1e3 / static_cast<double>(o.decode_tokens);
        result.best_round_ms_per_token = std::min(result.best_round_ms_per_token, ms_per_token);
        result.round_ratios.push_back(gb_per_token / read_gbps * 1e3 / ms_per_token);
    }
    std::sort(step_ms.begin(), step_ms.end());
    result.median_ms_per_token = step_ms[step_ms.size() / 2];
    std::sort(result.round_ratios.begin(), result.round_ratios.end());
    return result;
}

// Decode steps run sublayer by sublayer through the public single-sublayer entry points, with the
// output head rebuilt from backend ops: where a token's time goes. Medians over the steps.
struct DecodeProfile {
    std::vector<double> attention_ms;  // per layer
    std::vector<double> ffn_ms;
    double head_ms = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

DecodeProfile profile_decode(const LoadedModel& model, CpuBackend& backend, const Options& o) {
    const auto& c = model.config;
    const ModelWeights& w = model.weights;
    Forward fwd(model, backend);
    const std::vector<int32_t> tokens = bench_tokens(kPromptTokens + o.decode_tokens, c.n_vocab);
    SequenceState seq(c, backend, kPromptTokens + o.decode_tokens);
    fwd.prefill(seq, std::span(tokens).first(kPromptTokens));
    const BufferPtr head_rows = backend.allocate(DType::F32, 1, c.hc_dim());
    const BufferPtr collapsed = backend.allocate(DType::F32, 1, c.n_embd);
    const BufferPtr logits = backend.allocate(DType::F32, 1, c.n_vocab);
    dsv4::backend::HyperParams hyper{c.n_hc, c.sinkhorn_iterations, c.hc_eps, c.rms_eps};
    std::vector<std::vector<double>> attention(c.n_layer), ffn(c.n_layer);
    std::vector<double> head;
    for (int64_t i = 0; i < o.decode_tokens; ++i) {
        const auto token = std::span(tokens).subspan(static_cast<size_t>(kPromptTokens + i), 1);
        backend.embed(w.token_embd, token, fwd.hc_buffer());
        for (uint32_t il = 0; il < c.n_layer; ++il) {
            auto start = Clock::now();
            fwd.attention_sublayer(il, seq, token);
            attention[il].push_back(seconds_since(start) * 1e3);
            start = Clock::now();
            fwd.ffn_sublayer(il, token);
            ffn[il].push_back(seconds_since(start) * 1e3);
        }
        seq.commit_tokens(token);
        const auto start = Clock::now();
        backend.copy_rows(fwd.hc_buffer(), 0, *head_rows, 0, 1);
        backend.hc_collapse(*head_rows, 1, w.output_hc, hyper, *collapsed);
        backend.rms_norm(*collapsed, 1, w.output_norm.data, c.rms_eps, *collapsed);
        backend.matmul(w.output, *collapsed, 1, *logits, fwd.options().numerics);
        head.push_back(seconds_since(start) * 1e3);
    }
    DecodeProfile p;
    for (uint32_t il = 0; il < c.n_layer; ++il) {
        p.attention_ms.push_back(median(attention[il]));
        p.ffn_ms.push_back(median(ffn[il]));
    }
    p.head_ms = median(head);
    return p;
}

void print_profile(const LoadedModel& model, const DecodeProfile& p) {
    std::printf("  per sublayer (median ms):\n");
    double total = p.head_ms;
    for (uint32_t il = 0; il < model.config.n_layer; ++il) {
        std::printf("    layer %u (ratio %3u): attention %7.2f  ffn %7.2f  layer %7.2f\n", il,
                    model.config.layers[il].compress_ratio, p.attention_ms[il], p.ffn_ms[il],
                    p.attention_ms[il] + p.ffn_ms[il]);
        total += p.attention_ms[il] + p.ffn_ms[il];
    }
    std::printf("    output head %.2f; sum %.2f ms\n", p.head_ms, total);
}

double measure_prefill(const LoadedModel& model, CpuBackend& backend, int64_t n_tokens) {
    Forward fwd(model, backend);
    const std::vector<int32_t> tokens = bench_tokens(n_tokens, model.config.n_vocab);
    SequenceState seq(model.config, backend, n_tokens);
    const auto start = Clock::now();
    fwd.prefill(seq, tokens);
    return static_cast<double>(n_tokens) / seconds_since(start);
}

int run(const Options& o) {
    if (o.model_path.empty()) {
        std::printf(
            "bench_decode: skipped, no model (give a path or set DSV4_BENCH_MODEL; e.g.\n"
            "  dsv4 synth -o /tmp/dsv4-layers4-q2.gguf --preset layers-4 --quant q2)\n");
        return 0;
    }
    const auto load_start = Clock::now();
    const std::unique_ptr<LoadedModel> model = dsv4::forward::load_model(o.model_path, o.load);
    prefault(*model);
    std::printf("model: %s (%s), %u layers, %.2f GB, %s and paged in in %.1f s\n",
                o.model_path.c_str(), model->config.name.c_str(), model->config.n_layer,
                static_cast<double>(model->file.file_bytes()) * 1e-9,
                model->file.copied_into_memory() ? "copied onto huge pages" : "mapped",
                seconds_since(load_start));
    if (!model->file.copy_fallback_reason().empty())
        std::printf("  (not copied: %s)\n", model->file.copy_fallback_reason().c_str());
    const DecodeBytes bytes = decode_bytes(*model);
    print_decode_bytes(bytes);
    const double gb_per_token = static_cast<double>(bytes.short_context_total()) * 1e-9;

    const dsv4::bench::LargeBuffer bandwidth_buffer(o.bandwidth_bytes);
    for (unsigned threads : o.threads) {
        double read_gbps = 0;
        {
            ThreadPool pool(threads);
            read_gbps = dsv4::bench::best_read_gbps(pool, bandwidth_buffer, 10);
        }
        CpuBackend backend(threads);
        std::printf(
            "\n== %u thread%s: read bandwidth %.1f GB/s (%s loads, 8 streams per thread); "
            "bandwidth-bound decode %.1f tokens/s\n",
            threads, threads == 1 ? "" : "s", read_gbps, dsv4::bench::read_loads_name(),
            read_gbps / gb_per_token);
        const DecodeResult d = measure_decode(*model, backend, o, bandwidth_buffer, gb_per_token);
        const double tps = 1e3 / d.best_round_ms_per_token;
        std::printf(
            "decode: %.1f ms/token (best round of %d x %lld), median step %.1f ms, "
            "%.2f tokens/s, %.2f ms per layer\n",
            d.best_round_ms_per_token, o.rounds, static_cast<long long>(o.decode_tokens),
            d.median_ms_per_token, tps, d.best_round_ms_per_token / model->config.n_layer);
        std::printf("  effective weight bandwidth %.1f GB/s = %.2f of the read bandwidth\n",
                    gb_per_token * tps, gb_per_token * tps / read_gbps);
        const double best_gbps = std::max(read_gbps, d.best_read_gbps);
        std::printf(
            "  each round against a read pass just before it: median %.2f (%.2f-%.2f); "
            "best round against the best pass of the run (%.1f GB/s): %.2f\n",
            d.round_ratios[d.round_ratios.size() / 2], d.round_ratios.front(),
            d.round_ratios.back(), best_gbps, gb_per_token * tps / best_gbps);
        if (o.profile) print_profile(*model, profile_decode(*model, backend, o));
        for (int64_t n : o.prefill_lengths)
            std::printf("prefill %lld tokens: %.1f tokens/s\n", static_cast<long long>(n),
                        measure_prefill(*model, backend, n));
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse_options(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_decode: %s\n", e.what());
        return 1;
    }
}
