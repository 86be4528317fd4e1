// The daemon's counters, gauges and histograms, rendered as Prometheus text (format 0.0.4).
// Thread-safe; owns only numbers. Must not reach into the engine or the HTTP layer: callers
// report what happened, and extra gauges (e.g. a prefix store's) come in through providers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dsv4::server {

class Histogram {
  public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double value);
    // "<name>_bucket{le=…} n" lines, _sum and _count.
    void render(const std::string& name, std::string& out) const;
    uint64_t count() const;

  private:
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::vector<uint64_t> counts_;  // per bound, not cumulative; one more for +Inf
    double sum_ = 0;
    uint64_t total_ = 0;
};

struct GaugeSample {
    std::string name;  // full metric name, e.g. "dsv4d_kv_bytes"
    std::string help;
    double value = 0;
};

class Metrics {
  public:
    Metrics();

    void count_request(const std::string& endpoint, int status);
    void add_tokens(uint64_t prompt, uint64_t cached, uint64_t generated);
    void observe_time_to_first_token(double seconds) { ttft_.observe(seconds); }
    void observe_inter_token_latency(double seconds) { inter_token_.observe(seconds); }
    void set_throughput(double prefill_tokens_per_second, double decode_tokens_per_second);
    void count_cancelled() { cancelled_.fetch_add(1); }
    void set_queue_depth(size_t depth) { queue_depth_.store(depth); }
    void set_model_loaded(bool loaded) { model_loaded_.store(loaded); }
    // Gauges read at render time (for instance the prefix store's statistics).
    void add_provider(std::function<std::vector<GaugeSample>()> provider);

    uint64_t requests(const std::string& endpoint, int status) const;
    uint64_t cancelled() const { return cancelled_.load(); }
    std::string render() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    std::vector<std::function<std::vector<GaugeSample>()>> providers_;
    std::atomic<uint64_t> prompt_tokens_{0}, cached_tokens_{0}, generated_tokens_{0};
    std::atomic<uint64_t> cancelled_{0};
    std::atomic<size_t> queue_depth_{0};
    std::atomic<bool> model_loaded_{false};
    std::atomic<double> prefill_tps_{0}, decode_tps_{0};
    Histogram ttft_;
    Histogram inter_token_;
};

}  // namespace dsv4::server
