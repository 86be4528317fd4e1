#include "server/metrics.h"

#include <cstdio>

namespace dsv4::server {
namespace {

std::string number(double value) {
    char text[40];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, double value) {
    out += name + " " + number(value) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
    std::lock_guard lock(mutex_);
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += value;
    ++total_;
}

uint64_t Histogram::count() const {
    std::lock_guard lock(mutex_);
    return total_;
}

void Histogram::render(const std::string& name, std::string& out) const {
    std::lock_guard lock(mutex_);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i];
        out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) +
               "\n";
    }
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(total_) + "\n";
    out += name + "_sum " + number(sum_) + "\n";
    out += name + "_count " + std::to_string(total_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      inter_token_({0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
    std::lock_guard lock(mutex_);
    ++requests_[{endpoint, status}];
}

uint64_t Metrics::requests(const std::string& endpoint, int status) const {
    std::lock_guard lock(mutex_);
    const auto found = requests_.find({endpoint, status});
    return found == requests_.end() ? 0 : found->second;
}

void Metrics::add_tokens(uint64_t prompt, uint64_t cached, uint64_t generated) {
    prompt_tokens_.fetch_add(prompt);
    cached_tokens_.fetch_add(cached);
    generated_tokens_.fetch_add(generated);
}

void Metrics::set_throughput(double prefill_tokens_per_second, double decode_tokens_per_second) {
    if (prefill_tokens_per_second > 0) prefill_tps_.store(prefill_tokens_per_second);
    if (decode_tokens_per_second > 0) decode_tps_.store(decode_tokens_per_second);
}

void Metrics::add_provider(std::function<std::vector<GaugeSample>()> provider) {
    std::lock_guard lock(mutex_);
    providers_.push_back(std::move(provider));
}

std::string Metrics::render() const {
    std::string out;
    header(out, "dsv4d_requests_total", "counter", "HTTP requests by endpoint and status");
    std::vector<std::function<std::vector<GaugeSample>()>> providers;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, count] : requests_)
            out += "dsv4d_requests_total{endpoint=\"" + key.first + "\",status=\"" +
                   std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
        providers = providers_;
    }
    const auto counter = [&](const char* name, const char* help, uint64_t value) {
        header(out, name, "counter", help);
        sample(out, name, static_cast<double>(value));
    };
    const auto gauge = [&](const std::string& name, const std::string& help, double value) {
        header(out, name, "gauge", help);
        sample(out, name, value);
    };
    gauge("dsv4d_queue_depth", "jobs waiting for the engine", static_cast<double>(queue_depth_));
    gauge("dsv4d_model_loaded", "1 once the model is ready", model_loaded_ ? 1 : 0);
    counter("dsv4d_prompt_tokens_total", "prompt tokens of finished jobs", prompt_tokens_);
    counter("dsv4d_cached_tokens_total", "prompt tokens reused from the cache", cached_tokens_);
    counter("dsv4d_generated_tokens_total", "tokens generated", generated_tokens_);
    counter("dsv4d_jobs_cancelled_total", "jobs cancelled (client gone, timeout, shutdown)",
            cancelled_);
    gauge("dsv4d_prefill_tokens_per_second", "prefill speed of the last job", prefill_tps_);
    gauge("dsv4d_decode_tokens_per_second", "decode speed of the last job", decode_tps_);
    header(out, "dsv4d_time_to_first_token_seconds", "histogram",
           "from request to the first generated token");
    ttft_.render("dsv4d_time_to_first_token_seconds", out);
    header(out, "dsv4d_inter_token_latency_seconds", "histogram",
           "time between consecutive generated tokens");
    inter_token_.render("dsv4d_inter_token_latency_seconds", out);
    for (const auto& provider : providers)
        for (const GaugeSample& g : provider()) gauge(g.name, g.help, g.value);
    return out;
}

}  // namespace dsv4::server
