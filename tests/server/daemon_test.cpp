// The real dsv4d binary over loopback on the golden tiny model: endpoints and their shapes,
// every error status, concurrency, cancellation, keepalives, prefix reuse and exact tool-call
// replay, graceful shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/common/json.h"
#include "tests/server/daemon_harness.h"

namespace dsv4::test {
namespace {

using namespace std::chrono_literals;

const std::string kChat = "/v1/chat/completions";

std::string chat_body(const std::string& user, int max_tokens, bool stream = false,
                      const std::string& extra = {}) {
    return R"({"messages":[{"role":"user","content":")" + user + R"("}],"max_tokens":)" +
           std::to_string(max_tokens) + (stream ? R"(,"stream":true)" : "") + extra + "}";
}

const json::Value& member(const json::Value& v, std::string_view key) {
    const json::Value* found = v.find(key);
    if (!found)
        throw std::runtime_error("missing member " + std::string(key) + " in " +
                                 std::string(v.raw()));
    return *found;
}

int64_t usage_number(const std::string& body, std::string_view key) {
    const json::Document doc = json::parse(body);
    const json::Value& usage = member(doc.root(), "usage");
    if (key == "cached_tokens")
        return *member(member(usage, "prompt_tokens_details"), "cached_tokens").as_int64();
    return *member(usage, key).as_int64();
}

// The data payloads of an SSE body, comments and event names skipped.
std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < body.size()) {
        size_t end = body.find("\n\n", at);
        if (end == std::string::npos) end = body.size();
        const std::string event = body.substr(at, end - at);
        // One event: "event: name" and "data: payload" lines, or a ": comment".
        size_t line_at = 0;
        while (line_at < event.size()) {
            size_t line_end = event.find('\n', line_at);
            if (line_end == std::string::npos) line_end = event.size();
            if (event.compare(line_at, 6, "data: ") == 0)
                out.push_back(event.substr(line_at + 6, line_end - line_at - 6));
            line_at = line_end + 1;
        }
        at = end + 2;
    }
    return out;
}

class DaemonTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { shared_ = new Daemon({"--queue-length", "32"}); }
    static void TearDownTestSuite() {
        delete shared_;
        shared_ = nullptr;
    }
    static Daemon* shared_;
    uint16_t port() const { return shared_->port(); }
};
Daemon* DaemonTest::shared_ = nullptr;

TEST_F(DaemonTest, HealthAndModels) {
    const ClientResponse health = http_request(port(), "GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(member(json::parse(health.body).root(), "status").as_string(), "ok");

    const ClientResponse models = http_request(port(), "GET", "/v1/models");
    ASSERT_EQ(models.status, 200);
    const json::Document doc = json::parse(models.body);
    EXPECT_EQ(member(doc.root(), "object").as_string(), "list");
    EXPECT_EQ(member(member(doc.root(), "data").at(0), "id").as_string(), "deepseek-v4-flash");

    EXPECT_EQ(http_request(port(), "GET", "/v1/models/deepseek-v4-flash").status, 200);
    const ClientResponse unknown = http_request(port(), "GET", "/v1/models/gpt-9");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(member(member(json::parse(unknown.body).root(), "error"), "code").as_string(),
              "model_not_found");
}

TEST_F(DaemonTest, ChatCompletionShapeAndUsage) {
    const ClientResponse r = http_request(port(), "POST", kChat, chat_body("hello", 6));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    const json::Document doc = json::parse(r.body);
    EXPECT_EQ(member(doc.root(), "object").as_string(), "chat.completion");
    const json::Value& choice = member(doc.root(), "choices").at(0);
    EXPECT_EQ(member(member(choice, "message"), "role").as_string(), "assistant");
    // Random weights may sample the end of sentence early; the budget is never exceeded.
    const int64_t generated = usage_number(r.body, "completion_tokens");
    EXPECT_GE(generated, 1);
    EXPECT_LE(generated, 6);
    EXPECT_EQ(member(choice, "finish_reason").as_string(), generated == 6 ? "length" : "stop");
    EXPECT_GT(usage_number(r.body, "prompt_tokens"), 3);
}

TEST_F(DaemonTest, StreamedChunksEndWithUsageAndDone) {
    const ClientResponse r = http_request(
        port(), "POST", kChat,
        chat_body("stream please", 5, true, R"(,"stream_options":{"include_usage":true})"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/event-stream");
    const std::vector<std::string> data = sse_data(r.body);
    ASSERT_GE(data.size(), 4u);
    EXPECT_EQ(data.back(), "[DONE]");
    const json::Document first = json::parse(data.front());
    EXPECT_EQ(member(first.root(), "object").as_string(), "chat.completion.chunk");
    EXPECT_EQ(member(member(member(first.root(), "choices").at(0), "delta"), "role").as_string(),
              "assistant");
    EXPECT_LE(usage_number(data[data.size() - 2], "completion_tokens"), 5);
    EXPECT_GE(usage_number(data[data.size() - 2], "completion_tokens"), 1);
}

TEST_F(DaemonTest, CompletionsEndpoint) {
    const ClientResponse r = http_request(port(), "POST", "/v1/completions",
                                          R"({"prompt":"Once upon a time","max_tokens":4})");
    ASSERT_EQ(r.status, 200) << r.body;
    const json::Document doc = json::parse(r.body);
    EXPECT_EQ(member(doc.root(), "object").as_string(), "text_completion");
    EXPECT_LE(usage_number(r.body, "completion_tokens"), 4);
}

TEST_F(DaemonTest, AnthropicAndResponsesEndpoints) {
    const ClientResponse m = http_request(
        port(), "POST", "/v1/messages",
        R"({"model":"deepseek-v4-flash","max_tokens":3,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(member(json::parse(m.body).root(), "type").as_string(), "message");
    const ClientResponse r =
        http_request(port(), "POST", "/v1/responses", R"({"input":"hi","max_output_tokens":3})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(member(json::parse(r.body).root(), "object").as_string(), "response");
}

TEST_F(DaemonTest, TokenizeDetokenizeAndTemplate) {
    const ClientResponse t =
        http_request(port(), "POST", "/tokenize", R"({"content":"Hello world"})");
    ASSERT_EQ(t.status, 200) << t.body;
    const json::Document tokens = json::parse(t.body);
    const json::Value& ids = member(tokens.root(), "tokens");
    ASSERT_GT(ids.children().size(), 0u);
    const ClientResponse d =
        http_request(port(), "POST", "/detokenize", "{\"tokens\":" + std::string(ids.raw()) + "}");
    ASSERT_EQ(d.status, 200);
    EXPECT_EQ(member(json::parse(d.body).root(), "content").as_string(), "Hello world");
    EXPECT_EQ(http_request(port(), "POST", "/detokenize", R"({"tokens":[-1]})").status, 400);

    const ClientResponse a = http_request(port(), "POST", "/apply-template", chat_body("x", 1));
    ASSERT_EQ(a.status, 200);
    EXPECT_NE(member(json::parse(a.body).root(), "prompt").as_string().find("x"),
              std::string::npos);
}

TEST_F(DaemonTest, ClientErrorsAreOpenAiShaped) {
    const ClientResponse bad_json = http_request(port(), "POST", kChat, "{not json");
    EXPECT_EQ(bad_json.status, 400);
    EXPECT_EQ(member(member(json::parse(bad_json.body).root(), "error"), "type").as_string(),
              "invalid_request_error");
    EXPECT_EQ(http_request(port(), "POST", kChat, R"({"messages":"no"})").status, 400);
    EXPECT_EQ(http_request(port(), "POST", kChat, R"({"messages":[],"max_tokens":"x"})").status,
              400);
    EXPECT_EQ(http_request(port(), "GET", "/v2/nothing").status, 404);
    const ClientResponse model = http_request(
        port(), "POST", kChat, R"({"model":"gpt-4o","messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(model.status, 404);
    const ClientResponse method = http_request(port(), "GET", kChat);
    EXPECT_EQ(method.status, 405);
    EXPECT_EQ(method.header("allow"), "POST");
}

TEST_F(DaemonTest, PromptLongerThanContextIsRefusedNamingBothNumbers) {
    Daemon small({"--ctx", "64"});
    std::string text;
    for (int i = 0; i < 200; ++i) text += "word ";
    const ClientResponse r = http_request(small.port(), "POST", kChat, chat_body(text, 4));
    ASSERT_EQ(r.status, 400);
    const json::Document doc = json::parse(r.body);
    const json::Value& error = member(doc.root(), "error");
    EXPECT_EQ(member(error, "code").as_string(), "context_length_exceeded");
    EXPECT_NE(member(error, "message").as_string().find("context size is 64 tokens"),
              std::string::npos);
}

TEST_F(DaemonTest, EightConcurrentClientsAllComplete) {
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back([&, i] {
            const ClientResponse r = http_request(
                port(), "POST", kChat, chat_body("client " + std::to_string(i), 4, i % 2 == 0));
            if (r.status == 200) ++ok;
        });
    }
    for (std::thread& t : clients) t.join();
    EXPECT_EQ(ok.load(), 8);
}

// The sampled tokens of a turn rarely match how its text tokenizes when sent back; the live
// tokens are kept when they spell a byte prefix of the next prompt.
TEST(DaemonReuse, SecondTurnReusesTheCachedPrefix) {
    Daemon daemon({"--debug-script-text", "Once there was a cat, and she napped."});
    const std::string first = R"({"messages":[{"role":"system","content":"You are terse."},)"
                              R"({"role":"user","content":"Tell me a story about a cat."}],)"
                              R"("thinking":false})";
    const ClientResponse r1 = http_request(daemon.port(), "POST", kChat, first);
    ASSERT_EQ(r1.status, 200) << r1.body;
    const int64_t prompt1 = usage_number(r1.body, "prompt_tokens");
    const int64_t generated1 = usage_number(r1.body, "completion_tokens");
    const json::Document doc1 = json::parse(r1.body);
    const std::string answer = std::string(
        member(member(member(doc1.root(), "choices").at(0), "message"), "content").raw());
    EXPECT_EQ(answer, "\"Once there was a cat, and she napped.\"");
    const std::string second = R"({"messages":[{"role":"system","content":"You are terse."},)"
                               R"({"role":"user","content":"Tell me a story about a cat."},)"
                               R"({"role":"assistant","content":)" +
                               answer +
                               R"(},{"role":"user","content":"Shorter."}],"thinking":false})";
    const ClientResponse r2 = http_request(daemon.port(), "POST", kChat, second);
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(usage_number(r2.body, "cached_tokens"), prompt1 + generated1);
    EXPECT_GT(usage_number(r2.body, "prompt_tokens"), prompt1 + generated1);
}

TEST(DaemonLimits, BodyLimitGives413) {
    Daemon daemon({"--max-body-bytes", "2000"});
    const ClientResponse r =
        http_request(daemon.port(), "POST", kChat, chat_body(std::string(3000, 'a'), 1));
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("2000 bytes"), std::string::npos);
}

TEST(DaemonLimits, ApiKeyGuardsEverythingButHealth) {
    Daemon daemon({"--api-key", "sekret-1"});
    EXPECT_EQ(http_request(daemon.port(), "GET", "/v1/models").status, 401);
    const ClientResponse wrong =
        http_request(daemon.port(), "GET", "/v1/models", {}, {"Authorization: Bearer sekret-2"});
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.header("www-authenticate"), "Bearer");
    EXPECT_EQ(
        http_request(daemon.port(), "GET", "/v1/models", {}, {"Authorization: Bearer sekret-1"})
            .status,
        200);
    EXPECT_EQ(http_request(daemon.port(), "GET", "/health").status, 200);
}

TEST(DaemonLimits, LoadingAnswers503) {
    Daemon daemon({"--debug-load-delay-ms", "1500"}, /*wait_until_ready=*/false);
    const ClientResponse health = http_request(daemon.port(), "GET", "/health");
    EXPECT_EQ(health.status, 503);
    EXPECT_EQ(member(json::parse(health.body).root(), "status").as_string(), "loading");
    EXPECT_EQ(http_request(daemon.port(), "POST", kChat, chat_body("x", 1)).status, 503);
}

TEST(DaemonLimits, CorsOnlyWhenConfigured) {
    Daemon plain({});
    EXPECT_EQ(http_request(plain.port(), "GET", "/health").header("access-control-allow-origin"),
              "");
    Daemon cors({"--cors-origin", "http://localhost:5173"});
    EXPECT_EQ(cors.port() > 0, true);
    EXPECT_EQ(http_request(cors.port(), "GET", "/health").header("access-control-allow-origin"),
              "http://localhost:5173");
    const ClientResponse preflight =
        http_request(cors.port(), "OPTIONS", kChat, {},
                     {"Origin: http://localhost:5173", "Access-Control-Request-Method: POST"});
    EXPECT_EQ(preflight.status, 204);
    EXPECT_NE(preflight.header("access-control-allow-methods").find("POST"), std::string::npos);
}

// A long generation keeps the only engine slot busy: with no queue the next request is 429.
TEST(DaemonScheduling, FullQueueGives429WithRetryAfter) {
    Daemon daemon({"--queue-length", "0", "--ctx", "8192"});
    RawConnection busy(daemon.port());
    busy.send(post_request_bytes(kChat, chat_body("go on forever", 6000, true)));
    busy.read_until("data: ", 10s);
    const ClientResponse refused = http_request(daemon.port(), "POST", kChat, chat_body("x", 1));
    EXPECT_EQ(refused.status, 429);
    EXPECT_FALSE(refused.header("retry-after").empty());
    EXPECT_EQ(member(member(json::parse(refused.body).root(), "error"), "type").as_string(),
              "rate_limit_error");
}

TEST(DaemonScheduling, DisconnectCancelsTheRunningJob) {
    Daemon daemon({"--queue-length", "0", "--ctx", "8192"});
    {
        RawConnection stream(daemon.port());
        stream.send(post_request_bytes(kChat, chat_body("talk", 6000, true)));
        stream.read_until("reasoning", 10s);
    }  // closed mid-stream
    // The slot frees within a token or two: a new request is accepted and completes.
    ClientResponse next;
    for (int attempt = 0; attempt < 100; ++attempt) {
        next = http_request(daemon.port(), "POST", kChat, chat_body("x", 2));
        if (next.status != 429) break;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(next.status, 200);
    const std::string metrics = http_request(daemon.port(), "GET", "/metrics").body;
    EXPECT_GE(metric_value(metrics, "dsv4d_jobs_cancelled_total"), 1);
    EXPECT_LT(metric_value(metrics, "dsv4d_generated_tokens_total"), 6000);
}

TEST(DaemonScheduling, KeepaliveCommentsDuringLongPrefill) {
    Daemon daemon({"--keepalive-interval-ms", "20", "--ctx", "16384"});
    std::string text;
    for (int i = 0; i < 500; ++i) text += "alpha beta gamma delta ";
    const ClientResponse r = http_request(daemon.port(), "POST", kChat, chat_body(text, 2, true));
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(": keepalive\n\n"), std::string::npos);
    EXPECT_EQ(sse_data(r.body).back(), "[DONE]");
}

TEST(DaemonScheduling, SigtermExitsZero) {
    Daemon daemon({});
    EXPECT_EQ(http_request(daemon.port(), "POST", kChat, chat_body("x", 2)).status, 200);
    EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// ---- tool calls through the token script ----

const std::string kToolScript =
    "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter "
    "name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" "
    "string=\"false\">3</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

const std::string kTools =
    R"([{"type":"function","function":{"name":"get_weather","description":"Weather",)"
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"},)"
    R"("days":{"type":"integer"}},"required":["city"]}}}])";

TEST(DaemonTools, ScriptedToolCallStreamsAndReplaysExactly) {
    Daemon daemon({"--debug-script-text", kToolScript});
    const std::string messages = R"([{"role":"user","content":"Weather in Paris?"}])";
    const std::string request = R"({"messages":)" + messages + R"(,"tools":)" + kTools +
                                R"(,"stream":true,"thinking":false,"max_tokens":200,)"
                                R"("stream_options":{"include_usage":true}})";
    const ClientResponse r = http_request(daemon.port(), "POST", kChat, request);
    ASSERT_EQ(r.status, 200) << r.body;
    std::string id, name, arguments, finish;
    int64_t prompt_tokens = 0, generated = 0;
    int deltas_with_id = 0;
    for (const std::string& data : sse_data(r.body)) {
        if (data == "[DONE]") continue;
        const json::Document chunk = json::parse(data);
        if (const json::Value* usage = chunk.root().find("usage"); usage && !usage->is_null()) {
            prompt_tokens = *member(*usage, "prompt_tokens").as_int64();
            generated = *member(*usage, "completion_tokens").as_int64();
        }
        const json::Value& choices = member(chunk.root(), "choices");
        if (choices.children().empty()) continue;
        const json::Value& choice = choices.at(0);
        if (const json::Value* f = choice.find("finish_reason"); f && f->is_string())
            finish = f->as_string();
        const json::Value* calls = member(choice, "delta").find("tool_calls");
        if (!calls) continue;
        const json::Value& call = calls->at(0);
        EXPECT_EQ(*member(call, "index").as_int64(), 0);
        if (const json::Value* call_id = call.find("id")) {
            ++deltas_with_id;
            id = call_id->as_string();
            name = member(member(call, "function"), "name").as_string();
        }
        if (const json::Value* fn = call.find("function"))
            if (const json::Value* args = fn->find("arguments")) arguments += args->as_string();
    }
    EXPECT_EQ(deltas_with_id, 1);
    EXPECT_EQ(name, "get_weather");
    EXPECT_EQ(finish, "tool_calls");
    EXPECT_GE(id.size(), 20u);
    const json::Document args = json::parse(arguments);
    EXPECT_EQ(member(args.root(), "city").as_string(), "Paris");
    EXPECT_EQ(*member(args.root(), "days").as_int64(), 3);

    // The client sends the call back, arguments re-serialized differently; exact replay keeps
    // the prefix byte-identical, so everything generated so far is cached.
    const std::string second = R"({"messages":[{"role":"user","content":"Weather in Paris?"},)"
                               R"({"role":"assistant","content":null,"tool_calls":[{"id":")" +
                               id +
                               R"(","type":"function","function":{"name":"get_weather",)"
                               R"("arguments":"{\"days\": 3, \"city\": \"Paris\"}"}}]},)"
                               R"({"role":"tool","tool_call_id":")" +
                               id + R"(","content":"sunny"}],"tools":)" + kTools +
                               R"(,"thinking":false,"max_tokens":2})";
    const ClientResponse r2 = http_request(daemon.port(), "POST", kChat, second);
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_GE(usage_number(r2.body, "cached_tokens"), prompt_tokens + generated - 1);
}

}  // namespace
}  // namespace dsv4::test
