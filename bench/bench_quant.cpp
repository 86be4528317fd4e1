// The quant kernel benchmarks: the machine's read bandwidth, single-token matvec over
// expert-shaped weights streamed from DRAM (GB/s of weights and the ratio to that bandwidth), and
// batched prefill matmul (GFLOP/s), at 1 thread and at all cores, at the level DSV4_ISA selects.

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "engine/common/cpu_features.h"
#include "engine/common/thread_pool.h"
#include "engine/quant/kernels.h"
#include "engine/quant/matmul.h"
#include "engine/quant/synth_blocks.h"
#include "engine/quant/types.h"

namespace {

using dsv4::ThreadPool;
using dsv4::bench::kGiB;
using dsv4::bench::kMiB;
using dsv4::bench::LargeBuffer;
using dsv4::quant::ActFormat;
using dsv4::quant::Numerics;
using dsv4::quant::Type;
using dsv4::quant::WeightMatrix;

// The routed-expert shapes of DSV4 Flash: hidden 4096, expert FF 2048. Both hold the same number
// of weights, so one working set serves both shapes.
struct ExpertShape {
    const char* name;
    int64_t n_in;
    int64_t n_out;
};
constexpr ExpertShape kGateUp{"gate_up_4096x2048", 4096, 2048};
constexpr ExpertShape kDown{"down_2048x4096", 2048, 4096};
constexpr int64_t kExpertWeights = 4096 * 2048;
constexpr int kExpertsPerStep = 6;

constexpr int64_t kPrefillDim = 4096;

constexpr Type kBenchTypes[] = {Type::IQ2_XXS, Type::Q2_K, Type::Q4_K, Type::Q5_K, Type::Q6_K,
                                Type::Q4_0,    Type::Q8_0, Type::F16,  Type::BF16};
// The types the exact-numerics (f32 activation) path is measured for.
constexpr Type kExactF32Types[] = {Type::Q8_0, Type::IQ2_XXS};

// Distinct matrices generated with the synthetic block generator; the rest of a working set is
// copies of them, which keeps generation at memcpy speed. DRAM traffic does not care that the
// data repeats.
constexpr int64_t kDistinctMatrices = 2;

struct Options {
    size_t working_set_bytes = 0;  // 0: max(512 MiB, 4 x L3)
    size_t bandwidth_buffer_bytes = kGiB;
    int bandwidth_rounds = 10;
};

std::string type_name(Type t) {
    return std::string(dsv4::quant::type_info(t).name);
}

bool has_kernel(Type t, Numerics numerics) {
    const dsv4::quant::TypeKernels& k = dsv4::quant::kernels(t);
    return (numerics == Numerics::F32 ? k.dot_f32 : k.dot_q) != nullptr;
}

// Fills bytes (a whole number of rows of row_elems weights) with valid blocks of type t:
// distinct_bytes from the generator, then doubling copies.
void fill_weights(Type t, uint8_t* dst, size_t bytes, int64_t row_elems, size_t distinct_bytes,
                  uint64_t seed) {
    const size_t row_bytes = dsv4::quant::row_bytes(t, row_elems);
    const size_t generated_rows = std::max<size_t>(1, std::min(bytes, distinct_bytes) / row_bytes);
    dsv4::quant::fill_random_rows(t, dst, static_cast<int64_t>(generated_rows), row_elems, seed);
    for (size_t filled = generated_rows * row_bytes; filled < bytes;) {
        const size_t chunk = std::min(filled, bytes - filled);
        std::memcpy(dst + filled, dst, chunk);
        filled += chunk;
    }
}

// Deterministic activations in [-1, 1): the values only have to be ordinary floats.
std::vector<float> random_activations(int64_t n, uint64_t seed) {
    std::vector<float> x(static_cast<size_t>(n));
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (float& v : x) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        v = static_cast<float>(static_cast<double>(state >> 11) * 0x1p-52 - 1.0);
    }
    return x;
}

// Activations in the format the kernels of (type, numerics) take, one row of n_in per token.
struct PreparedActivations {
    std::vector<float> f32;
    std::vector<uint8_t> bytes;
    size_t row_bytes = 0;
};

PreparedActivations prepare_activations(Type t, Numerics numerics, int64_t n_in, int64_t n_rows,
                                        uint64_t seed) {
    PreparedActivations a;
    a.f32 = random_activations(n_in * n_rows, seed);
    const ActFormat format = dsv4::quant::activation_format(t, numerics);
    a.row_bytes = dsv4::quant::act_row_bytes(format, n_in);
    a.bytes.resize(a.row_bytes * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r)
        dsv4::quant::quantize_activation(format, a.f32.data() + r * n_in, n_in,
                                         a.bytes.data() + r * a.row_bytes);
    return a;
}

// Many expert-sized matrices of one type, together larger than the last-level cache, read in a
// cycle so that every matvec streams its weights from DRAM.
class WeightWorkingSet {
  public:
    WeightWorkingSet(Type type, size_t min_total_bytes)
        : type_(type), matrix_bytes_(dsv4::quant::row_bytes(type, kExpertWeights)) {
        matrix_count_ = static_cast<int64_t>((min_total_bytes + matrix_bytes_ - 1) / matrix_bytes_);
        buffer_ = LargeBuffer(matrix_bytes_ * static_cast<size_t>(matrix_count_));
        fill_weights(type, buffer_.data(), buffer_.size_bytes(), kGateUp.n_in,
                     kDistinctMatrices * matrix_bytes_, static_cast<uint64_t>(type) + 1);
    }

    Type type() const { return type_; }
    size_t matrix_bytes() const { return matrix_bytes_; }
    size_t total_bytes() const { return buffer_.size_bytes(); }

    // The next matrix of the cycle, viewed with the given shape. The cursor survives across
    // benchmark runs so a new run never starts on weights a previous run left in the cache.
    WeightMatrix next(const ExpertShape& shape) {
        const uint8_t* data = buffer_.data() + static_cast<size_t>(cursor_) * matrix_bytes_;
        cursor_ = (cursor_ + 1) % matrix_count_;
        return WeightMatrix{type_, data, shape.n_in, shape.n_out,
                            dsv4::quant::row_bytes(type_, shape.n_in)};
    }

  private:
    Type type_;
    size_t matrix_bytes_;
    int64_t matrix_count_ = 0;
    int64_t cursor_ = 0;
    LargeBuffer buffer_;
};

// Holds the working set of one type at a time; benchmarks are registered grouped by type so each
// set is generated once.
class WorkingSetCache {
  public:
    explicit WorkingSetCache(size_t bytes) : bytes_(bytes) {}
    size_t bytes() const { return bytes_; }

    WeightWorkingSet& get(Type t) {
        if (!held_ || held_->type() != t) {
            held_.reset();  // free first: two sets at once would double the footprint
            held_.emplace(t, bytes_);
        }
        return *held_;
    }
    void release() { held_.reset(); }

  private:
    size_t bytes_;
    std::optional<WeightWorkingSet> held_;
};

// One 4096 x 4096 weight per type for the prefill benchmarks (small enough to keep them all).
class PrefillWeights {
  public:
    WeightMatrix get(Type t) {
        auto it = buffers_.find(t);
        if (it == buffers_.end()) {
            const size_t row_bytes = dsv4::quant::row_bytes(t, kPrefillDim);
            LargeBuffer buffer(row_bytes * kPrefillDim);
            fill_weights(t, buffer.data(), buffer.size_bytes(), kPrefillDim, buffer.size_bytes(),
                         static_cast<uint64_t>(t) + 100);
            it = buffers_.emplace(t, std::move(buffer)).first;
        }
        return WeightMatrix{t, it->second.data(), kPrefillDim, kPrefillDim,
                            dsv4::quant::row_bytes(t, kPrefillDim)};
    }

  private:
    std::map<Type, LargeBuffer> buffers_;
};

// Runs the benchmark loop and returns its wall-clock seconds. Counters are computed from this
// time as plain values: a Counter rate would print as "x/s", which reads wrong for a ratio.
template <typename Body>
double timed_loop(benchmark::State& state, Body&& body) {
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) body();
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    return seconds.count();
}

// Weight GB/s over a read pass made just before the benchmark (bench_util.h's paired_read_gbps).
constexpr const char* kPairedCounter = "paired_bw_ratio";

// The buffer of those passes, kept for the whole run.
class PairedBandwidth {
  public:
    explicit PairedBandwidth(size_t buffer_bytes) : buffer_(buffer_bytes) {}
    double measure(ThreadPool& pool) const { return dsv4::bench::paired_read_gbps(pool, buffer_); }

  private:
    LargeBuffer buffer_;
};

// Weight bytes per second against the machine's bandwidth (and against the paired pass when there
// is one), and weights per second for the types whose kernels are compute-bound.
void set_weight_counters(benchmark::State& state, double seconds, int64_t matrices_per_iteration,
                         size_t matrix_bytes, double machine_read_gbps,
                         int64_t weights_per_matrix = kExpertWeights, double paired_read_gbps = 0) {
    const double matrices =
        static_cast<double>(matrices_per_iteration) * static_cast<double>(state.iterations());
    const double weight_gbps = matrices * static_cast<double>(matrix_bytes) / seconds * 1e-9;
    state.counters["weight_gbps"] = weight_gbps;
    state.counters["bw_ratio"] = weight_gbps / machine_read_gbps;
    if (paired_read_gbps > 0) state.counters[kPairedCounter] = weight_gbps / paired_read_gbps;
    state.counters["gweights_per_s"] =
        matrices * static_cast<double>(weights_per_matrix) / seconds * 1e-9;
}

enum class MatvecPath {
    Prepared,    // activation quantized once, outside the timed loop
    Quantizing,  // through matmul(), which quantizes the activation on every call
};

void bench_matvec(benchmark::State& state, Type type, ExpertShape shape, Numerics numerics,
                  MatvecPath path, ThreadPool& pool, WorkingSetCache& sets,
                  double machine_read_gbps, const PairedBandwidth& paired) {
    if (!has_kernel(type, numerics)) {
        state.SkipWithError("no kernel for this type at this ISA level");
        return;
    }
    WeightWorkingSet& set = sets.get(type);
    const PreparedActivations act = prepare_activations(type, numerics, shape.n_in, 1, 7);
    std::vector<float> out(static_cast<size_t>(shape.n_out));
    dsv4::quant::MatmulScratch scratch;
    const double paired_read_gbps = paired.measure(pool);
    const double seconds = timed_loop(state, [&] {
        const WeightMatrix w = set.next(shape);
        if (path == MatvecPath::Quantizing)
            dsv4::quant::matmul(w, act.f32.data(), 1, out.data(), numerics, pool, scratch);
        else
            dsv4::quant::matmul_prepared(w, act.bytes.data(), act.row_bytes, 1, out.data(),
                                         shape.n_out, numerics, pool);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    });
    set_weight_counters(state, seconds, 1, set.matrix_bytes(), machine_read_gbps, kExpertWeights,
                        paired_read_gbps);
}

// The compute limit of a kernel: one 256 x 4096 matrix (at most 1.1 MB at 8.5 bits per weight)
// multiplied again and again, so its weights stay in the private L2 caches. `bw_ratio` is then
// how much faster than the machine's memory the kernel could consume weights: below ~1.1 the
// DRAM figures of `matvec/` are a compute limit, not a memory one.
void bench_matvec_cached(benchmark::State& state, Type type, ThreadPool& pool,
                         PrefillWeights& weights, double machine_read_gbps) {
    constexpr int64_t kCachedRows = 256;
    if (!has_kernel(type, Numerics::Q8)) {
        state.SkipWithError("no kernel for this type at this ISA level");
        return;
    }
    WeightMatrix w = weights.get(type);
    w.n_out = kCachedRows;
    const PreparedActivations act = prepare_activations(type, Numerics::Q8, w.n_in, 1, 7);
    std::vector<float> out(static_cast<size_t>(kCachedRows));
    const double seconds = timed_loop(state, [&] {
        dsv4::quant::matmul_prepared(w, act.bytes.data(), act.row_bytes, 1, out.data(), kCachedRows,
                                     Numerics::Q8, pool);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    });
    set_weight_counters(state, seconds, 1, w.row_bytes * kCachedRows, machine_read_gbps,
                        kCachedRows * w.n_in);
}

enum class ExpertSplit {
    Rows,     // every matvec split over all threads by output rows
    Experts,  // the matvecs of a step shared out among the threads, each on one thread
};

// One MoE decode step: gate and up of each of 6 experts, then their 6 down projections.
void bench_moe_step(benchmark::State& state, Type type, ExpertSplit split, ThreadPool& pool,
                    WorkingSetCache& sets, double machine_read_gbps,
                    const PairedBandwidth& paired) {
    if (!has_kernel(type, Numerics::Q8)) {
        state.SkipWithError("no kernel for this type at this ISA level");
        return;
    }
    WeightWorkingSet& set = sets.get(type);
    const PreparedActivations hidden = prepare_activations(type, Numerics::Q8, kGateUp.n_in, 1, 11);
    const PreparedActivations ff = prepare_activations(type, Numerics::Q8, kDown.n_in, 1, 13);
    std::vector<float> gate_up_out(2 * kExpertsPerStep * kGateUp.n_out);
    std::vector<float> down_out(kExpertsPerStep * kDown.n_out);
    std::vector<WeightMatrix> gate_up(2 * kExpertsPerStep), down(kExpertsPerStep);

    const double paired_read_gbps = paired.measure(pool);
    const double seconds = timed_loop(state, [&] {
        for (WeightMatrix& w : gate_up) w = set.next(kGateUp);
        for (WeightMatrix& w : down) w = set.next(kDown);
        auto run_gate_up = [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i)
                dsv4::quant::matmul_prepared(gate_up[i], hidden.bytes.data(), hidden.row_bytes, 1,
                                             gate_up_out.data() + i * kGateUp.n_out, kGateUp.n_out,
                                             Numerics::Q8, pool);
        };
        auto run_down = [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i)
                dsv4::quant::matmul_prepared(down[i], ff.bytes.data(), ff.row_bytes, 1,
                                             down_out.data() + i * kDown.n_out, kDown.n_out,
                                             Numerics::Q8, pool);
        };
        if (split == ExpertSplit::Experts) {
            // A matmul called from inside a pool chunk runs on that thread alone.
            pool.parallel_for(static_cast<int64_t>(gate_up.size()), 2, run_gate_up);
            pool.parallel_for(static_cast<int64_t>(down.size()), 1, run_down);
        } else {
            run_gate_up(0, static_cast<int64_t>(gate_up.size()));
            run_down(0, static_cast<int64_t>(down.size()));
        }
        benchmark::DoNotOptimize(down_out.data());
        benchmark::ClobberMemory();
    });
    set_weight_counters(state, seconds, 3 * kExpertsPerStep, set.matrix_bytes(), machine_read_gbps,
                        kExpertWeights, paired_read_gbps);
}

void bench_prefill(benchmark::State& state, Type type, int64_t n_acts, ThreadPool& pool,
                   PrefillWeights& weights) {
    if (!has_kernel(type, Numerics::Q8)) {
        state.SkipWithError("no kernel for this type at this ISA level");
        return;
    }
    const WeightMatrix w = weights.get(type);
    const PreparedActivations act = prepare_activations(type, Numerics::Q8, w.n_in, n_acts, 17);
    std::vector<float> out(static_cast<size_t>(n_acts * w.n_out));
    const double seconds = timed_loop(state, [&] {
        dsv4::quant::matmul_prepared(w, act.bytes.data(), act.row_bytes, n_acts, out.data(),
                                     w.n_out, Numerics::Q8, pool);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    });
    const double flop = 2.0 * static_cast<double>(w.n_in) * static_cast<double>(w.n_out) *
                        static_cast<double>(n_acts);
    state.counters["gflops"] = flop * static_cast<double>(state.iterations()) / seconds * 1e-9;
}

// Read bandwidth in GB/s by thread count.
using BandwidthByThreads = std::map<unsigned, double>;

// The thread count a benchmark name carries in its "pool_threads:N" part (0 when it has none).
unsigned pool_threads_in_name(const std::string& name) {
    constexpr std::string_view kKey = "pool_threads:";
    const size_t at = name.find(kKey);
    return at == std::string::npos ? 0 : std::stoul(name.substr(at + kKey.size()));
}

// Console output without the mean/median/stddev rows, followed by the best value of every counter
// over the repetitions: on a shared machine the best round is the one that says what the code can
// do. The bandwidth is measured again at the end, and the summary's bw_ratio divides by the best
// of both measurements: a neighbour's load during the first one would otherwise inflate every
// ratio of the run.
class BestOfReporter : public benchmark::ConsoleReporter {
  public:
    // Colour only on a terminal: a custom display reporter does not see --benchmark_color.
    BestOfReporter(std::string isa, BandwidthByThreads read_gbps_before,
                   std::function<BandwidthByThreads()> measure_read_gbps)
        : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular),
          isa_(std::move(isa)),
          read_gbps_before_(std::move(read_gbps_before)),
          measure_read_gbps_(std::move(measure_read_gbps)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        std::vector<Run> shown;
        for (const Run& run : runs) {
            if (run.run_type == Run::RT_Aggregate) continue;
            shown.push_back(run);
            if (run.error_occurred) continue;
            const std::string name = run.run_name.str();
            auto [it, inserted] = best_.try_emplace(name);
            if (inserted) order_.push_back(name);
            for (const auto& [counter, value] : run.counters) {
                it->second[counter] = std::max(it->second[counter], value.value);
                if (counter == kPairedCounter) paired_[name].push_back(value.value);
            }
        }
        if (!shown.empty()) ConsoleReporter::ReportRuns(shown);
    }

    void Finalize() override {
        const BandwidthByThreads read_gbps_after = measure_read_gbps_();
        BandwidthByThreads read_gbps_best = read_gbps_before_;
        std::ostream& out = GetOutputStream();
        out << "\nBest of the repetitions:\nkernel_isa " << isa_ << "\n";
        for (const auto& [threads, before] : read_gbps_before_) {
            const double after = read_gbps_after.at(threads);
            read_gbps_best[threads] = std::max(before, after);
            char line[160];
            std::snprintf(line, sizeof(line),
                          "read_bandwidth_gbps_%u_threads %.2f (before the run %.2f, after %.2f)",
                          threads, read_gbps_best[threads], before, after);
            out << line << "\n";
        }
        // The paired ratio's best would favour a repetition whose own pass was disturbed: the
        // summary gives its median.
        for (auto& [name, values] : paired_) {
            std::sort(values.begin(), values.end());
            best_[name][kPairedCounter] = values[values.size() / 2];
        }
        for (auto& [name, counters] : best_) {
            const auto weight = counters.find("weight_gbps");
            const auto bandwidth = read_gbps_best.find(pool_threads_in_name(name));
            if (weight != counters.end() && bandwidth != read_gbps_best.end())
                counters["bw_ratio"] = weight->second / bandwidth->second;
        }
        size_t name_width = 0;
        for (const std::string& name : order_) name_width = std::max(name_width, name.size());
        for (const std::string& name : order_) {
            char line[256];
            out << name << std::string(name_width - name.size(), ' ');
            for (const auto& [counter, value] : best_[name]) {
                std::snprintf(line, sizeof(line), "  %s %8.3f", counter.c_str(), value);
                out << line;
            }
            out << "\n";
        }
        ConsoleReporter::Finalize();
    }

  private:
    std::string isa_;
    BandwidthByThreads read_gbps_before_;
    std::function<BandwidthByThreads()> measure_read_gbps_;
    std::vector<std::string> order_;
    std::map<std::string, std::map<std::string, double>> best_;
    std::map<std::string, std::vector<double>> paired_;
};

size_t default_working_set_bytes() {
    const long l3_bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
    const size_t four_l3 = l3_bytes > 0 ? 4 * static_cast<size_t>(l3_bytes) : 0;
    return std::max<size_t>(512 * kMiB, four_l3);
}

std::optional<long> flag_value(std::string_view arg, std::string_view name) {
    if (arg.substr(0, name.size()) != name || arg.size() <= name.size() || arg[name.size()] != '=')
        return std::nullopt;
    const std::string value(arg.substr(name.size() + 1));
    char* end = nullptr;
    const long parsed = std::strtol(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || parsed <= 0)
        throw std::invalid_argument("bad value in " + std::string(arg));
    return parsed;
}

// The arguments Google Benchmark left over are this program's own.
Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (auto v = flag_value(arg, "--working_set_mib")) {
            options.working_set_bytes = static_cast<size_t>(*v) * kMiB;
        } else if (auto v = flag_value(arg, "--bandwidth_mib")) {
            options.bandwidth_buffer_bytes = static_cast<size_t>(*v) * kMiB;
        } else if (auto v = flag_value(arg, "--bandwidth_rounds")) {
            options.bandwidth_rounds = static_cast<int>(*v);
        } else {
            throw std::invalid_argument("unknown argument " + std::string(arg) +
                                        " (own flags: --working_set_mib=N "
                                        "--bandwidth_mib=N --bandwidth_rounds=N; "
                                        "see --help for Google Benchmark's)");
        }
    }
    if (options.working_set_bytes == 0) options.working_set_bytes = default_working_set_bytes();
    return options;
}

std::string fixed(double v, int decimals) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.*f", decimals, v);
    return text;
}

std::string pool_suffix(const ThreadPool& pool) {
    return "/pool_threads:" + std::to_string(pool.size());
}

void register_benchmarks(const std::vector<ThreadPool*>& pools, const BandwidthByThreads& read_gbps,
                         WorkingSetCache& sets, PrefillWeights& prefill_weights,
                         const PairedBandwidth& paired) {
    auto finish = [](benchmark::internal::Benchmark* b) {
        // The pool threads do the work, so only wall-clock time means anything.
        b->UseRealTime()->Unit(benchmark::kMillisecond);
    };
    for (Type t : kBenchTypes) {
        const std::string name = type_name(t);
        for (ThreadPool* pool : pools) {
            const double gbps = read_gbps.at(pool->size());
            for (const ExpertShape& shape : {kGateUp, kDown}) {
                finish(benchmark::RegisterBenchmark(
                    ("matvec/" + name + "/" + shape.name + pool_suffix(*pool)).c_str(),
                    [t, shape, pool, &sets, gbps, &paired](benchmark::State& s) {
                        bench_matvec(s, t, shape, Numerics::Q8, MatvecPath::Prepared, *pool, sets,
                                     gbps, paired);
                    }));
            }
            finish(benchmark::RegisterBenchmark(
                ("matvec_cached/" + name + "/256x4096" + pool_suffix(*pool)).c_str(),
                [t, pool, &prefill_weights, gbps](benchmark::State& s) {
                    bench_matvec_cached(s, t, *pool, prefill_weights, gbps);
                }));
            finish(benchmark::RegisterBenchmark(
                ("matvec_quantizing/" + name + "/" + kGateUp.name + pool_suffix(*pool)).c_str(),
                [t, pool, &sets, gbps, &paired](benchmark::State& s) {
                    bench_matvec(s, t, kGateUp, Numerics::Q8, MatvecPath::Quantizing, *pool, sets,
                                 gbps, paired);
                }));
            if (std::find(std::begin(kExactF32Types), std::end(kExactF32Types), t) !=
                std::end(kExactF32Types)) {
                finish(benchmark::RegisterBenchmark(
                    ("matvec_f32/" + name + "/" + kGateUp.name + pool_suffix(*pool)).c_str(),
                    [t, pool, &sets, gbps, &paired](benchmark::State& s) {
                        bench_matvec(s, t, kGateUp, Numerics::F32, MatvecPath::Prepared, *pool,
                                     sets, gbps, paired);
                    }));
            }
            finish(benchmark::RegisterBenchmark(
                ("moe_step_6_experts/" + name + "/split_rows" + pool_suffix(*pool)).c_str(),
                [t, pool, &sets, gbps, &paired](benchmark::State& s) {
                    bench_moe_step(s, t, ExpertSplit::Rows, *pool, sets, gbps, paired);
                }));
            if (pool->size() > 1) {
                finish(benchmark::RegisterBenchmark(
                    ("moe_step_6_experts/" + name + "/split_experts" + pool_suffix(*pool)).c_str(),
                    [t, pool, &sets, gbps, &paired](benchmark::State& s) {
                        bench_moe_step(s, t, ExpertSplit::Experts, *pool, sets, gbps, paired);
                    }));
            }
        }
    }
    for (Type t : kBenchTypes) {
        for (int64_t n_acts : {64, 512}) {
            for (ThreadPool* pool : pools) {
                finish(benchmark::RegisterBenchmark(
                    ("prefill/" + type_name(t) + "/4096x4096/acts:" + std::to_string(n_acts) +
                     pool_suffix(*pool))
                        .c_str(),
                    [t, n_acts, pool, &prefill_weights](benchmark::State& s) {
                        bench_prefill(s, t, n_acts, *pool, prefill_weights);
                    }));
            }
        }
    }
}

// Google Benchmark flags given on the command line come later and so override these defaults.
std::vector<char*> with_default_flags(int argc, char** argv, std::string& default_repetitions) {
    std::vector<char*> args{argv[0], default_repetitions.data()};
    args.insert(args.end(), argv + 1, argv + argc);
    args.push_back(nullptr);
    return args;
}

int run(int argc, char** argv) {
    std::string default_repetitions = "--benchmark_repetitions=3";
    std::vector<char*> args = with_default_flags(argc, argv, default_repetitions);
    int n_args = static_cast<int>(args.size()) - 1;
    benchmark::Initialize(&n_args, args.data());
    const Options options = parse_options(n_args, args.data());

    ThreadPool single(1);
    ThreadPool all_cores(0);
    std::vector<ThreadPool*> pools{&single};
    if (all_cores.size() > 1) pools.push_back(&all_cores);

    auto measure_read_gbps = [&] {
        BandwidthByThreads gbps;
        const LargeBuffer buffer(options.bandwidth_buffer_bytes);
        for (ThreadPool* pool : pools)
            gbps[pool->size()] =
                dsv4::bench::best_read_gbps(*pool, buffer, options.bandwidth_rounds);
        return gbps;
    };
    const BandwidthByThreads read_gbps = measure_read_gbps();

    const std::string isa = dsv4::isa_name(dsv4::active_isa());
    benchmark::AddCustomContext("kernel_isa", isa);
    benchmark::AddCustomContext("read_bandwidth_method",
                                std::to_string(options.bandwidth_buffer_bytes / kMiB) + " MiB, " +
                                    std::to_string(dsv4::bench::kReadStreams) +
                                    " streams per thread, " + dsv4::bench::read_loads_name() +
                                    " loads, best of " + std::to_string(options.bandwidth_rounds));
    for (const auto& [threads, gbps] : read_gbps)
        benchmark::AddCustomContext("read_bandwidth_gbps_" + std::to_string(threads) + "_threads",
                                    fixed(gbps, 2));
    benchmark::AddCustomContext("weight_working_set_mib",
                                std::to_string(options.working_set_bytes / kMiB));

    WorkingSetCache sets(options.working_set_bytes);
    PrefillWeights prefill_weights;
    const PairedBandwidth paired(options.bandwidth_buffer_bytes);
    register_benchmarks(pools, read_gbps, sets, prefill_weights, paired);

    BestOfReporter reporter(isa, read_gbps, [&] {
        sets.release();  // room for the bandwidth buffer
        return measure_read_gbps();
    });
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_quant: %s\n", e.what());
        return 1;
    }
}
