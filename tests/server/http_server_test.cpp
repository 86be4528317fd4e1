// The HTTP layer over real loopback sockets: the real Beast server with a test handler whose
// paths exercise whole answers, streams, silence, throws and dropped exchanges.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/common/log.h"
#include "server/http_auth.h"
#include "server/http_exchange.h"
#include "tests/server/http_test_client.h"

namespace dsv4::server {
namespace {

using namespace std::chrono_literals;
using http_test::request_bytes;
using http_test::round_trip;
using http_test::TestConnection;
using http_test::TestResponse;
using Clock = std::chrono::steady_clock;

// The number after `name=` in a query string, or `fallback`.
int query_int(const std::string& target, const std::string& name, int fallback) {
    const size_t at = target.find(name + "=");
    if (at == std::string::npos) return fallback;
    return std::stoi(target.substr(at + name.size() + 1));
}

bool query_flag(const std::string& target, const std::string& name) {
    return query_int(target, name, 0) != 0;
}

// Answers by path:
//   /echo     method, body and the X-Test header, as text
//   /health   {"status":"ok"}
//   /stream   ?n=&delay_ms=[&bytes=][&finish=1] n events "data: i" (padded with `bytes` x's),
//             from another thread; stops early when the exchange is cancelled (with finish=1
//             only when the client is gone)
//   /slow     never answers; records the ExchangeEnd it sees (with answer=1 it then answers 503)
//   /throw    throws; /drop drops the exchange
class TestRoutes final : public RequestHandler {
  public:
    ~TestRoutes() override {
        for (std::thread& worker : workers_) worker.join();
    }

    void handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange) override {
        if (request.path == "/echo") {
            HttpResponse response;
            response.content_type = "text/plain";
            response.body =
                request.method + "\n" + request.body + "\n" + std::string(request.header("X-Test"));
            exchange->set_log_detail("echoed=" + std::to_string(request.body.size()));
            exchange->respond(std::move(response));
        } else if (request.path == "/health") {
            HttpResponse response;
            response.body = "{\"status\":\"ok\"}\n";
            exchange->respond(std::move(response));
        } else if (request.path == "/stream") {
            start_stream(request.target, std::move(exchange));
        } else if (request.path == "/slow") {
            start_slow(request.target, std::move(exchange));
        } else if (request.path == "/throw") {
            throw std::runtime_error("boom from the route");
        } else if (request.path == "/drop") {
            return;
        } else {
            exchange->respond(error_response(404, "no route for " + request.path));
        }
    }

    // The first end state a stream or slow request saw, waiting up to `timeout` for it.
    std::optional<ExchangeEnd> wait_seen(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!seen_changed_.wait_for(lock, timeout, [&] { return !seen_.empty(); }))
            return std::nullopt;
        return seen_.front();
    }
    std::optional<ExchangeEnd> last_stream_state() {
        std::lock_guard lock(mutex_);
        return stream_end_;
    }

  private:
    void record(ExchangeEnd end) {
        std::lock_guard lock(mutex_);
        seen_.push_back(end);
        seen_changed_.notify_all();
    }

    void start_stream(const std::string& target, std::shared_ptr<Exchange> exchange) {
        const int n = query_int(target, "n", 3);
        const auto delay = std::chrono::milliseconds(query_int(target, "delay_ms", 0));
        const bool finish = query_flag(target, "finish");
        const std::string padding(static_cast<size_t>(query_int(target, "bytes", 0)), 'x');
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, exchange, n, delay, finish, padding] {
            exchange->begin_stream({{"X-Stream", "yes"}});
            for (int i = 0; i < n; ++i) {
                std::this_thread::sleep_for(delay);
                const ExchangeEnd state = exchange->state();
                if (state == ExchangeEnd::ClientGone || (!finish && state != ExchangeEnd::Open))
                    break;
                exchange->send("data: " + std::to_string(i) + padding + "\n\n");
            }
            const ExchangeEnd state = exchange->state();
            if (state != ExchangeEnd::Open) record(state);
            exchange->end();
        });
    }

    void start_slow(const std::string& target, std::shared_ptr<Exchange> exchange) {
        const bool answer = query_flag(target, "answer");
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, exchange, answer] {
            const auto give_up = Clock::now() + 10s;
            while (exchange->state() == ExchangeEnd::Open && Clock::now() < give_up)
                std::this_thread::sleep_for(5ms);
            record(exchange->state());
            if (answer) {
                exchange->respond(error_response(503, "shutting down"));
                return;
            }
            // Ignores the end it saw but keeps the exchange, as a stuck job would.
            while (Clock::now() < give_up && exchange->state() != ExchangeEnd::ClientGone &&
                   exchange->state() != ExchangeEnd::ShuttingDown)
                std::this_thread::sleep_for(5ms);
        });
    }

    std::mutex mutex_;
    std::condition_variable seen_changed_;
    std::vector<ExchangeEnd> seen_;
    std::optional<ExchangeEnd> stream_end_;
    std::vector<std::thread> workers_;
};

HttpServerOptions test_options() {
    HttpServerOptions options;
    options.http.host = "127.0.0.1";
    options.http.port = 0;
    options.http.read_timeout_ms = 2000;
    options.http.write_timeout_ms = 2000;
    options.http.idle_timeout_ms = 2000;
    options.http.io_threads = 2;
    options.keepalive_interval = 5s;
    return options;
}

// Routes first: they must outlive the server, and their threads end once it is stopped.
struct Fixture {
    explicit Fixture(HttpServerOptions options = test_options())
        : server(std::move(options), routes) {
        server.start();
    }
    uint16_t port() const { return server.port(); }
    TestRoutes routes;
    HttpServer server;
};

bool is_error_json(const TestResponse& response, std::string_view type) {
    return response.header("Content-Type") == "application/json" &&
           response.body.rfind("{\"error\":{\"message\":", 0) == 0 &&
           response.body.find("\"type\":\"" + std::string(type) + "\"") != std::string::npos;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

TEST(HttpServer, TwoRequestsOnOneKeepAliveConnection) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("POST", "/echo", "first", {"X-Test: one"}));
    const TestResponse first = connection.read_response();
    connection.send(request_bytes("GET", "/echo", "", {"X-Test: two"}));
    const TestResponse second = connection.read_response();
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.body, "POST\nfirst\none");
    EXPECT_EQ(first.header("Server"), "dsv4d");
    EXPECT_EQ(first.header("Content-Type"), "text/plain");
    EXPECT_EQ(first.header("Content-Length"), std::to_string(first.body.size()));
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, "GET\n\ntwo");
    EXPECT_EQ(f.server.open_connections(), 1u);
}

TEST(HttpServer, PipelinedRequestsAreBothAnswered) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("POST", "/echo", "a") + request_bytes("POST", "/echo", "b"));
    EXPECT_EQ(connection.read_response().body, "POST\na\n");
    EXPECT_EQ(connection.read_response().body, "POST\nb\n");
}

TEST(HttpServer, RequestSentWhileAStreamIsOpenIsKeptForLater) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/stream?n=3&delay_ms=50"));
    ASSERT_TRUE(connection.read_until("data: 0\n\n", 3s));
    connection.send(request_bytes("POST", "/echo", "next"));
    const TestResponse stream = connection.read_response();
    EXPECT_EQ(stream.body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    const TestResponse echo = connection.read_response();
    EXPECT_EQ(echo.status, 200);
    EXPECT_EQ(echo.body, "POST\nnext\n");
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/health", "", {}, /*keep_alive=*/false));
    const TestResponse response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_TRUE(connection.closed_by_peer(2s));
}

TEST(HttpServer, BodyOverTheLimitGets413ErrorJson) {
    HttpServerOptions options = test_options();
    options.http.max_body_bytes = 1000;
    Fixture f(options);
    TestConnection connection(f.port());
    connection.send(request_bytes("POST", "/echo", std::string(2000, 'x')));
    const TestResponse response = connection.read_response();
    EXPECT_EQ(response.status, 413);
    EXPECT_TRUE(is_error_json(response, "invalid_request_error")) << response.body;
    EXPECT_NE(response.body.find("1000 bytes"), std::string::npos) << response.body;
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_TRUE(connection.closed_by_peer(3s));
    // A body within the limit still passes.
    EXPECT_EQ(round_trip(f.port(), "POST", "/echo", std::string(1000, 'y')).status, 200);
}

TEST(HttpServer, HeadersOverTheLimitGet431) {
    HttpServerOptions options = test_options();
    options.http.max_header_bytes = 1024;
    Fixture f(options);
    const TestResponse response =
        round_trip(f.port(), "GET", "/echo", "", {"X-Test: " + std::string(4000, 'h')});
    EXPECT_EQ(response.status, 431);
    EXPECT_TRUE(is_error_json(response, "invalid_request_error")) << response.body;
    EXPECT_NE(response.body.find("1024 bytes"), std::string::npos) << response.body;
}

TEST(HttpServer, MalformedRequestGets400) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send("THIS IS NOT HTTP\r\n\r\n");
    const TestResponse response = connection.read_response();
    EXPECT_EQ(response.status, 400);
    EXPECT_TRUE(is_error_json(response, "invalid_request_error")) << response.body;
    EXPECT_TRUE(connection.closed_by_peer(3s));
}

TEST(HttpServer, HalfRequestIsDisconnectedAfterReadTimeout) {
    HttpServerOptions options = test_options();
    options.http.read_timeout_ms = 200;
    Fixture f(options);
    TestConnection connection(f.port());
    connection.send("POST /echo HTTP/1.1\r\nHost: x\r\n");
    // Dripping a byte now and then must not extend the limit.
    bool closed = false;
    for (int i = 0; i < 60 && !closed; ++i) {
        try {
            connection.send("X");
        } catch (const std::runtime_error&) {
            closed = true;
            break;
        }
        closed = connection.closed_by_peer(50ms);
    }
    EXPECT_TRUE(closed);
    EXPECT_EQ(connection.received(), "");
    EXPECT_TRUE(wait_for([&] { return f.server.open_connections() == 0; }, 2s));
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
    HttpServerOptions options = test_options();
    options.http.idle_timeout_ms = 150;
    Fixture f(options);
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/health"));
    EXPECT_EQ(connection.read_response().status, 200);
    EXPECT_TRUE(connection.closed_by_peer(3s));
}

TEST(HttpServer, ConnectionBeyondTheCapGets503) {
    HttpServerOptions options = test_options();
    options.http.max_connections = 2;
    Fixture f(options);
    TestConnection first(f.port());
    TestConnection second(f.port());
    ASSERT_TRUE(wait_for([&] { return f.server.open_connections() == 2; }, 2s));
    TestConnection third(f.port());
    third.send(request_bytes("GET", "/health"));
    const TestResponse refused = third.read_response();
    EXPECT_EQ(refused.status, 503);
    EXPECT_TRUE(is_error_json(refused, "server_error")) << refused.body;
    EXPECT_NE(refused.body.find("too many connections"), std::string::npos);
    EXPECT_TRUE(third.closed_by_peer(3s));
    // The connections within the cap work.
    first.send(request_bytes("GET", "/health"));
    EXPECT_EQ(first.read_response().status, 200);
    // A freed slot is available again.
    second.close();
    ASSERT_TRUE(wait_for([&] { return f.server.open_connections() == 1; }, 2s));
    EXPECT_EQ(round_trip(f.port(), "GET", "/health").status, 200);
}

TEST(HttpServer, ApiKeyIsRequiredExceptForHealth) {
    HttpServerOptions options = test_options();
    options.http.api_keys = {"first-key", "second-key-longer"};
    Fixture f(options);
    const TestResponse missing = round_trip(f.port(), "POST", "/echo", "x");
    EXPECT_EQ(missing.status, 401);
    EXPECT_TRUE(is_error_json(missing, "authentication_error")) << missing.body;
    EXPECT_NE(missing.body.find("\"code\":\"invalid_api_key\""), std::string::npos);
    EXPECT_EQ(missing.header("WWW-Authenticate"), "Bearer");
    EXPECT_EQ(
        round_trip(f.port(), "POST", "/echo", "x", {"Authorization: Bearer first-kez"}).status,
        401);
    EXPECT_EQ(round_trip(f.port(), "POST", "/echo", "x", {"Authorization: Basic first-key"}).status,
              401);
    EXPECT_EQ(
        round_trip(f.port(), "POST", "/echo", "x", {"Authorization: Bearer first-key"}).status,
        200);
    EXPECT_EQ(
        round_trip(f.port(), "POST", "/echo", "x", {"Authorization: bearer second-key-longer"})
            .status,
        200);
    EXPECT_EQ(round_trip(f.port(), "GET", "/health").status, 200);
}

TEST(HttpAuth, ConstantTimeEqualComparesWholeStrings) {
    EXPECT_TRUE(constant_time_equal("secret", "secret"));
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_FALSE(constant_time_equal("secret", "secreT"));
    EXPECT_FALSE(constant_time_equal("secret", "Secret"));
    EXPECT_FALSE(constant_time_equal("secret", "secret2"));
    EXPECT_FALSE(constant_time_equal("secret", "secre"));
    EXPECT_FALSE(constant_time_equal("", "x"));
    // Equal up to the shorter length and zero-padded: the length still counts.
    EXPECT_FALSE(constant_time_equal(std::string_view("ab\0", 3), "ab"));
}

TEST(HttpAuth, BearerTokenAndAuthorized) {
    EXPECT_EQ(bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(bearer_token("BEARER  abc "), "abc");
    EXPECT_EQ(bearer_token("Basic abc"), "");
    EXPECT_EQ(bearer_token("Bearer"), "");
    const std::vector<std::string> keys = {"k1", "key-two"};
    EXPECT_TRUE(authorized("Bearer key-two", keys));
    EXPECT_FALSE(authorized("Bearer key-tw", keys));
    EXPECT_FALSE(authorized("Bearer ", keys));
    EXPECT_FALSE(authorized("", keys));
}

TEST(HttpServer, NoCorsHeadersByDefault) {
    Fixture f;
    const TestResponse response =
        round_trip(f.port(), "GET", "/health", "", {"Origin: http://localhost:5173"});
    EXPECT_EQ(response.status, 200);
    for (const auto& [name, value] : response.headers)
        EXPECT_EQ(name.rfind("access-control-", 0), std::string::npos) << name;
    // Without CORS an OPTIONS request is the route's business.
    const TestResponse options =
        round_trip(f.port(), "OPTIONS", "/echo", "",
                   {"Origin: http://localhost:5173", "Access-Control-Request-Method: POST"});
    EXPECT_EQ(options.status, 200);
    EXPECT_FALSE(options.has_header("Access-Control-Allow-Origin"));
}

TEST(HttpServer, CorsHeadersAndPreflightWhenConfigured) {
    HttpServerOptions options = test_options();
    options.http.cors_origin = "http://localhost:5173";
    options.http.api_keys = {"key"};
    Fixture f(options);
    const TestResponse plain =
        round_trip(f.port(), "GET", "/echo", "", {"Authorization: Bearer key"});
    EXPECT_EQ(plain.header("Access-Control-Allow-Origin"), "http://localhost:5173");
    EXPECT_EQ(plain.header("Vary"), "Origin");
    const TestResponse denied = round_trip(f.port(), "GET", "/echo");
    EXPECT_EQ(denied.status, 401);
    EXPECT_EQ(denied.header("Access-Control-Allow-Origin"), "http://localhost:5173");
    const TestResponse stream =
        round_trip(f.port(), "GET", "/stream?n=1", "", {"Authorization: Bearer key"});
    EXPECT_EQ(stream.header("Access-Control-Allow-Origin"), "http://localhost:5173");
    EXPECT_EQ(stream.header("Vary"), "Origin");
    // Preflights carry no credentials and are answered before the key check.
    const TestResponse preflight =
        round_trip(f.port(), "OPTIONS", "/v1/chat/completions", "",
                   {"Origin: http://localhost:5173", "Access-Control-Request-Method: POST",
                    "Access-Control-Request-Headers: authorization, content-type"});
    EXPECT_EQ(preflight.status, 204);
    EXPECT_EQ(preflight.header("Access-Control-Allow-Origin"), "http://localhost:5173");
    EXPECT_EQ(preflight.header("Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
    EXPECT_EQ(preflight.header("Access-Control-Allow-Headers"), "Authorization, Content-Type");
    EXPECT_EQ(preflight.header("Access-Control-Max-Age"), "600");
    EXPECT_EQ(preflight.body, "");
    EXPECT_FALSE(preflight.has_header("Content-Type"));
}

TEST(HttpServer, StreamEventsArriveInOrderAsChunks) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/stream?n=5&delay_ms=10"));
    const TestResponse response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.chunked);
    EXPECT_EQ(response.header("Content-Type"), "text/event-stream");
    EXPECT_EQ(response.header("Cache-Control"), "no-cache");
    EXPECT_EQ(response.header("X-Accel-Buffering"), "no");
    EXPECT_EQ(response.header("X-Stream"), "yes");
    EXPECT_EQ(response.header("Server"), "dsv4d");
    EXPECT_FALSE(response.has_header("Content-Length"));
    EXPECT_EQ(response.body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
    // The connection stays usable after the last chunk.
    connection.send(request_bytes("GET", "/health"));
    EXPECT_EQ(connection.read_response().status, 200);
}

TEST(HttpServer, OutputQueuedDuringAWriteIsNotLeftWaiting) {
    // Events sent back to back: most arrive while the previous write is in progress, and the
    // last one must go out at once, not at the next keepalive tick.
    HttpServerOptions options = test_options();
    options.keepalive_interval = 10s;
    Fixture f(options);
    for (int round = 0; round < 20; ++round) {
        TestConnection connection(f.port());
        connection.send(request_bytes("GET", "/stream?n=50&bytes=1000"));
        const TestResponse response = connection.read_response(5s);
        EXPECT_EQ(response.status, 200);
        EXPECT_NE(response.body.find("data: 49"), std::string::npos);
    }
}

TEST(HttpServer, KeepaliveCommentsWhileAStreamIsSilent) {
    HttpServerOptions options = test_options();
    options.keepalive_interval = 30ms;
    Fixture f(options);
    const TestResponse response = round_trip(f.port(), "GET", "/stream?n=2&delay_ms=200");
    EXPECT_EQ(response.status, 200);
    size_t keepalives = 0;
    std::string events;
    for (const std::string& chunk : response.chunks) {
        if (chunk == ": keepalive\n\n")
            ++keepalives;
        else
            events += chunk;
    }
    EXPECT_GE(keepalives, 2u);
    EXPECT_EQ(events, "data: 0\n\ndata: 1\n\n");
}

TEST(HttpServer, ClientGoneWhileWaitingForTheAnswer) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/slow"));
    std::this_thread::sleep_for(50ms);
    connection.close();
    EXPECT_EQ(f.routes.wait_seen(2s), ExchangeEnd::ClientGone);
    EXPECT_TRUE(wait_for([&] { return f.server.open_connections() == 0; }, 2s));
}

TEST(HttpServer, ClientGoneMidStream) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/stream?n=1000&delay_ms=10"));
    ASSERT_TRUE(connection.read_until("data: 2\n\n", 3s));
    connection.close();
    EXPECT_EQ(f.routes.wait_seen(2s), ExchangeEnd::ClientGone);
}

TEST(HttpServer, TimedOutRequestIsAnswered504WhenTheRouteStaysSilent) {
    HttpServerOptions options = test_options();
    options.request_timeout = 100ms;
    Fixture f(options);
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/slow"));
    EXPECT_EQ(f.routes.wait_seen(2s), ExchangeEnd::TimedOut);
    const TestResponse response = connection.read_response(5s);
    EXPECT_EQ(response.status, 504);
    EXPECT_TRUE(is_error_json(response, "server_error")) << response.body;
}

TEST(HttpServer, TimedOutStreamIsEndedWhenTheRouteStaysSilent) {
    HttpServerOptions options = test_options();
    options.request_timeout = 100ms;
    Fixture f(options);
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/stream?n=1&delay_ms=2500"));
    const TestResponse response = connection.read_response(5s);
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.chunked);
    EXPECT_EQ(response.body, "");
    EXPECT_EQ(f.routes.wait_seen(3s), ExchangeEnd::TimedOut);
}

TEST(HttpServer, ClientThatStopsReadingIsDroppedAfterWriteTimeout) {
    HttpServerOptions options = test_options();
    options.http.write_timeout_ms = 200;
    Fixture f(options);
    TestConnection connection(f.port(), /*receive_buffer_bytes=*/4096);
    connection.send(request_bytes("GET", "/stream?n=100000&delay_ms=1&bytes=16384"));
    EXPECT_EQ(f.routes.wait_seen(10s), ExchangeEnd::ClientGone);
    EXPECT_TRUE(wait_for([&] { return f.server.open_connections() == 0; }, 2s));
}

TEST(HttpServer, ExpectContinueGetsAnInterimAnswer) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    ASSERT_TRUE(connection.read_until("HTTP/1.1 100 Continue\r\n\r\n", 2s));
    connection.send("hello");
    const TestResponse response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "POST\nhello\n");
}

TEST(HttpServer, HandlerThrowGets500Json) {
    Fixture f;
    const TestResponse response = round_trip(f.port(), "GET", "/throw");
    EXPECT_EQ(response.status, 500);
    EXPECT_TRUE(is_error_json(response, "server_error")) << response.body;
    EXPECT_NE(response.body.find("boom from the route"), std::string::npos) << response.body;
}

TEST(HttpServer, DroppedExchangeGets500) {
    Fixture f;
    const TestResponse response = round_trip(f.port(), "GET", "/drop");
    EXPECT_EQ(response.status, 500);
    EXPECT_TRUE(is_error_json(response, "server_error")) << response.body;
    EXPECT_NE(response.body.find("request dropped"), std::string::npos) << response.body;
}

TEST(HttpServer, StopLetsAStreamFinishWithinTheGraceThenRefusesConnections) {
    Fixture f;
    const uint16_t port = f.port();
    TestConnection connection(port);
    connection.send(request_bytes("GET", "/stream?n=6&delay_ms=40&finish=1"));
    ASSERT_TRUE(connection.read_until("data: 0\n\n", 3s));
    TestConnection idle(port);
    ASSERT_TRUE(wait_for([&] { return f.server.open_connections() == 2; }, 2s));
    f.server.stop(5s);
    EXPECT_EQ(f.server.open_connections(), 0u);
    EXPECT_TRUE(connection.read_until("0\r\n\r\n", 1s));
    for (int i = 0; i < 6; ++i)
        EXPECT_NE(connection.received().find("data: " + std::to_string(i) + "\n\n"),
                  std::string::npos);
    EXPECT_TRUE(idle.closed_by_peer(1s));
    EXPECT_THROW(TestConnection{port}, std::runtime_error);
    f.server.stop(0ms);  // idempotent
}

TEST(HttpServer, StopTurnsWaitingExchangesShuttingDown) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/slow?answer=1"));
    std::this_thread::sleep_for(50ms);
    f.server.stop(3s);
    EXPECT_EQ(f.routes.wait_seen(1s), ExchangeEnd::ShuttingDown);
    const TestResponse response = connection.read_response(2s);
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.header("Connection"), "close");
}

TEST(HttpServer, StopAfterGraceClosesAnswersStillInFlight) {
    Fixture f;
    TestConnection connection(f.port());
    connection.send(request_bytes("GET", "/stream?n=40&delay_ms=20&finish=1"));
    ASSERT_TRUE(connection.read_until("data: 0\n\n", 3s));
    f.server.stop(100ms);
    EXPECT_TRUE(connection.closed_by_peer(2s));
    EXPECT_EQ(connection.received().find("0\r\n\r\n"), std::string::npos);
}

TEST(HttpServer, EightConcurrentClientsAreAllAnswered) {
    Fixture f;
    std::vector<std::future<TestResponse>> answers;
    for (int i = 0; i < 8; ++i)
        answers.push_back(std::async(std::launch::async, [&f, i] {
            return round_trip(f.port(), "POST", "/echo", "client " + std::to_string(i));
        }));
    for (int i = 0; i < 8; ++i) {
        const TestResponse response = answers[static_cast<size_t>(i)].get();
        EXPECT_EQ(response.status, 200);
        EXPECT_EQ(response.body, "POST\nclient " + std::to_string(i) + "\n");
    }
}

TEST(HttpServer, BindFailureNamesTheAddress) {
    Fixture f;
    HttpServerOptions options = test_options();
    options.http.port = f.port();
    TestRoutes routes;
    HttpServer second(options, routes);
    try {
        second.start();
        FAIL() << "a second server bound the same port";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(f.port())),
                  std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
    }
}

// What the process writes on stderr (where the logger writes) while it lives.
class StderrCapture {
  public:
    StderrCapture() : file_(std::tmpfile()), saved_fd_(::dup(STDERR_FILENO)) {
        ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~StderrCapture() {
        restore();
        std::fclose(file_);
    }
    std::string finish() {
        restore();
        std::string text;
        std::rewind(file_);
        char bytes[4096];
        for (size_t n; (n = std::fread(bytes, 1, sizeof bytes, file_)) > 0;) text.append(bytes, n);
        return text;
    }

  private:
    void restore() {
        if (saved_fd_ < 0) return;
        ::dup2(saved_fd_, STDERR_FILENO);
        ::close(saved_fd_);
        saved_fd_ = -1;
    }
    std::FILE* file_;
    int saved_fd_;
};

// True when `log_text` has a line "… info 127.0.0.1:<port> <request_and_status> <n>ms <detail>".
bool has_access_line(const std::string& log_text, const std::string& request_and_status,
                     const std::string& detail) {
    const auto skip_digits = [](std::string_view& text) {
        const size_t n = text.find_first_not_of("0123456789");
        if (n == 0 || n == std::string_view::npos) return false;
        text.remove_prefix(n);
        return true;
    };
    const auto skip = [](std::string_view& text, std::string_view prefix) {
        if (text.substr(0, prefix.size()) != prefix) return false;
        text.remove_prefix(prefix.size());
        return true;
    };
    std::string_view rest = log_text;
    for (size_t end; (end = rest.find('\n')) != std::string_view::npos;
         rest.remove_prefix(end + 1)) {
        std::string_view line = rest.substr(0, end);
        const size_t at = line.find(" info 127.0.0.1:");
        if (at == std::string_view::npos) continue;
        line.remove_prefix(at + std::string_view(" info 127.0.0.1:").size());
        if (skip_digits(line) && skip(line, " " + request_and_status + " ") && skip_digits(line) &&
            skip(line, "ms ") && line == detail)
            return true;
    }
    return false;
}

TEST(HttpServer, AccessLogHasOneLinePerRequestWithTheRouteDetail) {
    const log::Level previous = log::level();
    log::set_level(log::Level::Info);
    StderrCapture capture;
    {
        Fixture f;
        EXPECT_EQ(round_trip(f.port(), "POST", "/echo?x=1", "hello").status, 200);
        EXPECT_EQ(round_trip(f.port(), "GET", "/stream?n=2").status, 200);
        EXPECT_EQ(round_trip(f.port(), "GET", "/nowhere").status, 404);
    }
    const std::string text = capture.finish();
    log::set_level(previous);
    EXPECT_TRUE(has_access_line(text, "POST /echo?x=1 200", "echoed=5")) << text;
    EXPECT_TRUE(has_access_line(text, "GET /stream?n=2 200", "")) << text;
    EXPECT_TRUE(has_access_line(text, "GET /nowhere 404", "")) << text;
}

TEST(ServerExchange, CallsAfterTheAnswerAreIgnored) {
    auto stopping = std::make_shared<std::atomic<bool>>(false);
    int wakes = 0;
    ServerExchange exchange(std::nullopt, stopping, [&] { ++wakes; });
    exchange.begin_stream();
    exchange.send("data: a\n\n");
    exchange.respond(error_response(500, "late"));
    exchange.send("data: b\n\n");
    exchange.end();
    exchange.send("data: c\n\n");
    ExchangeOutput output = exchange.take();
    EXPECT_FALSE(output.whole);
    EXPECT_TRUE(output.stream_begun);
    EXPECT_EQ(output.stream_bytes, "data: a\n\ndata: b\n\n");
    EXPECT_TRUE(output.stream_ended);
    EXPECT_EQ(wakes, 4);
    EXPECT_EQ(exchange.state(), ExchangeEnd::Open);
    stopping->store(true);
    EXPECT_EQ(exchange.state(), ExchangeEnd::ShuttingDown);
    exchange.mark_client_gone();
    EXPECT_EQ(exchange.state(), ExchangeEnd::ClientGone);
}

}  // namespace
}  // namespace dsv4::server
