// Prefix reuse across turns through the real daemon: after a thinking turn the client sends
// back only the answer, and the live tokens (which still hold the reasoning) are kept.
#include <gtest/gtest.h>

#include "engine/common/json.h"
#include "tests/server/daemon_harness.h"

namespace dsv4::test {
namespace {

int64_t usage_field(const std::string& body, std::string_view key) {
    const json::Document doc = json::parse(body);
    const json::Value& usage = *doc.root().find("usage");
    if (key == "cached_tokens")
        return *usage.find("prompt_tokens_details")->find("cached_tokens")->as_int64();
    return *usage.find(key)->as_int64();
}

TEST(DaemonReuse, ThinkingTurnKeepsItsHiddenReasoningCached) {
    Daemon daemon({"--debug-script-text", "Two and two make four.</think>It is 4."});
    const std::string user1 = R"({"role":"user","content":"What is 2+2?"})";
    const ClientResponse r1 = http_request(daemon.port(), "POST", "/v1/chat/completions",
                                           R"({"messages":[)" + user1 + "]}");
    ASSERT_EQ(r1.status, 200) << r1.body;
    const json::Document doc1 = json::parse(r1.body);
    const json::Value& message = *doc1.root().find("choices")->at(0).find("message");
    ASSERT_EQ(message.find("reasoning_content")->as_string(), "Two and two make four.");
    ASSERT_EQ(message.find("content")->as_string(), "It is 4.");
    const int64_t live =
        usage_field(r1.body, "prompt_tokens") + usage_field(r1.body, "completion_tokens");

    // The history carries the answer only, as chat clients send it.
    const std::string turn2 = R"({"messages":[)" + user1 +
                              R"(,{"role":"assistant","content":"It is 4."},)"
                              R"({"role":"user","content":"And 3+3?"}]})";
    const ClientResponse r2 = http_request(daemon.port(), "POST", "/v1/chat/completions", turn2);
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(usage_field(r2.body, "cached_tokens"), live);

    // A history that differs from what was generated falls back to a fresh prefill.
    const std::string other = R"({"messages":[)" + user1 +
                              R"(,{"role":"assistant","content":"It is five."},)"
                              R"({"role":"user","content":"And 3+3?"}]})";
    const ClientResponse r3 = http_request(daemon.port(), "POST", "/v1/chat/completions", other);
    ASSERT_EQ(r3.status, 200) << r3.body;
    EXPECT_LT(usage_field(r3.body, "cached_tokens"), usage_field(r1.body, "prompt_tokens"));
}

}  // namespace
}  // namespace dsv4::test
