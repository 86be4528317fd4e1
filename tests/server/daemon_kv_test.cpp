// The persistent prefix store through the real daemon: a long conversation survives a restart
// (its prefix is restored, not prefilled) and continues exactly as without the restart.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "engine/common/json.h"
#include "tests/server/daemon_harness.h"

namespace dsv4::test {
namespace {

const std::string kChat = "/v1/chat/completions";

int64_t usage_of(const std::string& body, std::string_view key) {
    const json::Document doc = json::parse(body);
    const json::Value& usage = *doc.root().find("usage");
    if (key == "cached_tokens")
        return *usage.find("prompt_tokens_details")->find("cached_tokens")->as_int64();
    return *usage.find(key)->as_int64();
}

std::string content_of(const std::string& body) {
    const json::Document doc = json::parse(body);
    return std::string(doc.root().find("choices")->at(0).find("message")->find("content")->raw());
}

std::string long_text() {
    std::string text;
    for (int i = 0; i < 120; ++i)
        text += "Paragraph " + std::to_string(i) + " of the design notes: keep the cache warm. ";
    return text;
}

std::string turn(const std::string& history_json) {
    return R"({"messages":)" + history_json +
           R"(,"thinking":false,"temperature":0,"max_tokens":6})";
}

TEST(DaemonKv, ConversationSurvivesARestart) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("dsv4-kv-daemon-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const std::vector<std::string> kv_args = {"--kv-dir", dir.string(), "--kv-block-tokens",
                                              "256",      "--ctx",      "8192"};
    const std::string first_history = R"([{"role":"user","content":")" + long_text() + R"("}])";

    std::string reply1, second_history;
    int64_t prompt1 = 0;
    {
        Daemon before(kv_args);
        const ClientResponse r1 = http_request(before.port(), "POST", kChat, turn(first_history));
        ASSERT_EQ(r1.status, 200) << r1.body.substr(0, 300);
        prompt1 = usage_of(r1.body, "prompt_tokens");
        ASSERT_GE(prompt1, 2000);
        reply1 = content_of(r1.body);
        ASSERT_EQ(before.terminate(), 0);
    }
    second_history = first_history.substr(0, first_history.size() - 1) +
                     R"(,{"role":"assistant","content":)" + reply1 +
                     R"(},{"role":"user","content":"Summarize that."}])";

    Daemon after(kv_args);
    const ClientResponse r2 = http_request(after.port(), "POST", kChat, turn(second_history));
    ASSERT_EQ(r2.status, 200) << r2.body;
    // The first prompt's end is a stored resume point: all of it is cached, not just its blocks.
    EXPECT_GE(usage_of(r2.body, "cached_tokens"), prompt1);
    const std::string metrics = http_request(after.port(), "GET", "/metrics").body;
    EXPECT_GE(metric_value(metrics, "dsv4d_kv_tails"), 2);  // prompt end, generation end
    EXPECT_GE(metric_value(metrics, "dsv4d_kv_hits_total"), 1);
    EXPECT_GE(metric_value(metrics, "dsv4d_kv_hit_tokens_total"), 2048);

    // The same two turns without a restart (and without a store) give the same answer.
    Daemon uninterrupted({"--ctx", "8192"});
    const ClientResponse u1 =
        http_request(uninterrupted.port(), "POST", kChat, turn(first_history));
    ASSERT_EQ(content_of(u1.body), reply1);
    const ClientResponse u2 =
        http_request(uninterrupted.port(), "POST", kChat, turn(second_history));
    EXPECT_EQ(content_of(u2.body), content_of(r2.body));
    std::filesystem::remove_all(dir);
}

TEST(DaemonKv, UnwritableDirectoryKeepsServing) {
    Daemon daemon({"--kv-dir", "/proc/dsv4-cannot-be-here"});
    const ClientResponse health = http_request(daemon.port(), "GET", "/health");
    EXPECT_NE(health.body.find("disabled: "), std::string::npos) << health.body;
    const ClientResponse r =
        http_request(daemon.port(), "POST", kChat, turn(R"([{"role":"user","content":"hi"}])"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(metric_value(http_request(daemon.port(), "GET", "/metrics").body, "dsv4d_kv_enabled"),
              0);
}

TEST(DaemonKv, ADiskThatRefusesWritesTurnsPersistenceOffAndKeepsServing) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("dsv4-kv-full-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Daemon daemon({"--kv-dir", dir.string(), "--kv-block-tokens", "256"}, true, 64 * 1024);
    const std::string history = R"([{"role":"user","content":")" + long_text() + R"("}])";
    ASSERT_EQ(http_request(daemon.port(), "POST", kChat, turn(history)).status, 200);
    // The writer turns persistence off on the first refused commit; give it a moment.
    std::string health;
    for (int i = 0; i < 200 && health.find("disabled: ") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        health = http_request(daemon.port(), "GET", "/health").body;
    }
    EXPECT_NE(health.find("disabled: cannot write the prefix store"), std::string::npos) << health;
    const std::string metrics = http_request(daemon.port(), "GET", "/metrics").body;
    EXPECT_EQ(metric_value(metrics, "dsv4d_kv_enabled"), 0);
    EXPECT_NE(daemon.log().find("writes turned off"), std::string::npos);
    EXPECT_EQ(http_request(daemon.port(), "POST", kChat, turn(history)).status, 200);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsv4::test
