// The contract between the HTTP layer (http_server, the only Beast code) and the routes: a parsed
// request, a whole response, and the Exchange through which a route answers, possibly later and
// from another thread, possibly as a stream. Owns no sockets and no engine state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv4::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: path and query
    std::string path;    // target without the query
    HeaderList headers;
    std::string body;
    std::string remote_address;  // "127.0.0.1:51234"

    // The first header of that name, compared case-insensitively; empty when absent.
    std::string_view header(std::string_view name) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    HeaderList headers;  // extra headers (Retry-After, ...)
    std::string body;
};

// An OpenAI-shaped error: {"error":{"message":…,"type":…,"param":…,"code":…}} and a newline.
// `type` defaults from the status: invalid_request_error (4xx), authentication_error (401),
// not_found_error (404), rate_limit_error (429), server_error (5xx).
HttpResponse error_response(int status, std::string_view message, std::string_view param = {},
                            std::string_view code = {});
std::string_view default_error_type(int status);

// What a route learns about the request's fate after it was handed over.
enum class ExchangeEnd : uint8_t {
    Open,          // the client is still waiting
    ClientGone,    // the connection closed or a write failed
    TimedOut,      // the request's wall-clock limit passed
    ShuttingDown,  // the daemon is stopping
};

// One request's answer. Every member is thread-safe and may be called from the engine worker.
// Exactly one of respond() or begin_stream() ... end() is used; calls after the first respond()
// or end() are ignored. Held by shared_ptr: the HTTP session keeps it until the answer is written,
// a queued job keeps it until the job is dropped.
class Exchange {
  public:
    virtual ~Exchange() = default;

    // A whole response.
    virtual void respond(HttpResponse response) = 0;
    // Starts a text/event-stream response (status 200, no-cache, keep-alive headers); the HTTP
    // layer sends ": keepalive" comments whenever nothing was sent for the keepalive interval.
    virtual void begin_stream(HeaderList extra_headers = {}) = 0;
    // Bytes already framed as SSE ("data: …\n\n").
    virtual void send(std::string bytes) = 0;
    virtual void end() = 0;

    // Open until the client goes away, the request's time limit passes or the daemon stops;
    // the engine polls this between tokens.
    virtual ExchangeEnd state() const = 0;
    bool cancelled() const { return state() != ExchangeEnd::Open; }

    // Facts for the access log line, filled by the route (any thread, before the answer ends).
    virtual void set_log_detail(std::string detail) = 0;
};

// Routes implement this; called on an HTTP thread for every request that passed the HTTP
// layer's own checks (size limits, API key, CORS preflight). Must not block for long: work for
// the engine goes through the scheduler.
class RequestHandler {
  public:
    virtual ~RequestHandler() = default;
    virtual void handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange) = 0;
};

}  // namespace dsv4::server
