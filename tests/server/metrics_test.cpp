// The Prometheus text of the daemon's metrics: counters by label, histograms with cumulative
// buckets, and gauges from providers.
#include <gtest/gtest.h>

#include "server/metrics.h"
#include "tests/server/daemon_harness.h"

namespace dsv4::server {
namespace {

using test::metric_value;

TEST(Metrics, CountersAndLabels) {
    Metrics metrics;
    metrics.count_request("/v1/chat/completions", 200);
    metrics.count_request("/v1/chat/completions", 200);
    metrics.count_request("/v1/chat/completions", 429);
    metrics.add_tokens(100, 40, 7);
    metrics.count_cancelled();
    const std::string text = metrics.render();
    EXPECT_EQ(
        metric_value(text, R"(dsv4d_requests_total{endpoint="/v1/chat/completions",status="200"})"),
        2);
    EXPECT_EQ(
        metric_value(text, R"(dsv4d_requests_total{endpoint="/v1/chat/completions",status="429"})"),
        1);
    EXPECT_EQ(metric_value(text, "dsv4d_prompt_tokens_total"), 100);
    EXPECT_EQ(metric_value(text, "dsv4d_cached_tokens_total"), 40);
    EXPECT_EQ(metric_value(text, "dsv4d_generated_tokens_total"), 7);
    EXPECT_EQ(metric_value(text, "dsv4d_jobs_cancelled_total"), 1);
    EXPECT_NE(text.find("# TYPE dsv4d_requests_total counter"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
    Metrics metrics;
    metrics.observe_time_to_first_token(0.07);
    metrics.observe_time_to_first_token(0.3);
    metrics.observe_time_to_first_token(1000);
    const std::string text = metrics.render();
    EXPECT_EQ(metric_value(text, R"(dsv4d_time_to_first_token_seconds_bucket{le="0.05"})"), 0);
    EXPECT_EQ(metric_value(text, R"(dsv4d_time_to_first_token_seconds_bucket{le="0.1"})"), 1);
    EXPECT_EQ(metric_value(text, R"(dsv4d_time_to_first_token_seconds_bucket{le="0.5"})"), 2);
    EXPECT_EQ(metric_value(text, R"(dsv4d_time_to_first_token_seconds_bucket{le="+Inf"})"), 3);
    EXPECT_EQ(metric_value(text, "dsv4d_time_to_first_token_seconds_count"), 3);
    EXPECT_NEAR(metric_value(text, "dsv4d_time_to_first_token_seconds_sum"), 1000.37, 1e-6);
}

TEST(Metrics, ProvidersAddGauges) {
    Metrics metrics;
    metrics.add_provider([] {
        return std::vector<GaugeSample>{{"dsv4d_example_bytes", "bytes of something", 4096}};
    });
    metrics.set_queue_depth(3);
    metrics.set_model_loaded(true);
    const std::string text = metrics.render();
    EXPECT_EQ(metric_value(text, "dsv4d_example_bytes"), 4096);
    EXPECT_EQ(metric_value(text, "dsv4d_queue_depth"), 3);
    EXPECT_EQ(metric_value(text, "dsv4d_model_loaded"), 1);
}

}  // namespace
}  // namespace dsv4::server
