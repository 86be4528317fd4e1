// The HTTP/1.1 listener (Boost.Beast; the only translation unit that includes Beast): accepts
// connections, enforces size limits, timeouts, the connection cap, API keys and CORS, writes
// whole and streamed (SSE) answers, and logs one line per request. Must not know routes, JSON
// bodies beyond errors, or the engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "config/config.h"
#include "server/http_types.h"

namespace dsv4::server {

struct HttpServerOptions {
    config::HttpConfig http;
    std::chrono::milliseconds keepalive_interval{5000};
    std::chrono::milliseconds request_timeout{0};  // 0: none
};

class HttpServer {
  public:
    // `handler` must outlive the server.
    HttpServer(HttpServerOptions options, RequestHandler& handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds host:port and starts the I/O threads; throws std::runtime_error naming the address
    // and the system's reason when it cannot bind.
    void start();
    // The bound port (the chosen one when the configured port is 0).
    uint16_t port() const;
    // Stops accepting; open exchanges turn ShuttingDown; waits up to `grace` for answers in
    // flight to be written, then closes every connection and joins the I/O threads. Idempotent.
    // Must not be called from a RequestHandler (it joins the threads that call it).
    void stop(std::chrono::milliseconds grace);
    size_t open_connections() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dsv4::server
