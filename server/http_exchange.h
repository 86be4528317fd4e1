// The HTTP layer's Exchange: a mutex-guarded mailbox between a route (any thread) and the
// connection that writes the answer, plus the handle given to routes. Owns no sockets; must not
// include Beast or Asio (the connection wakes itself through the callback it passes in).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/http_types.h"

namespace dsv4::server {

// What the connection must write next, taken from the exchange in one piece so that everything
// queued since the last write goes out in one write.
struct ExchangeOutput {
    std::optional<HttpResponse> whole;
    bool stream_begun = false;
    HeaderList stream_headers;
    std::string stream_bytes;
    bool stream_ended = false;
};

class ServerExchange final : public Exchange {
  public:
    using Clock = std::chrono::steady_clock;
    // `wake` is called (under the exchange's lock) whenever new output is queued or the state
    // changes; it must not block. `server_stopping` outlives the server so that a route holding
    // the exchange longer never reads freed memory.
    ServerExchange(std::optional<Clock::time_point> deadline,
                   std::shared_ptr<const std::atomic<bool>> server_stopping,
                   std::function<void()> wake);

    void respond(HttpResponse response) override;
    void begin_stream(HeaderList extra_headers = {}) override;
    void send(std::string bytes) override;
    void end() override;
    ExchangeEnd state() const override;
    void set_log_detail(std::string detail) override;

    ExchangeOutput take();
    // respond() or begin_stream() was called.
    bool answered() const;
    // respond() or end() was called: nothing more will come.
    bool finished() const;
    std::string log_detail() const;
    std::optional<Clock::time_point> deadline() const { return deadline_; }

    void mark_client_gone();
    // Wakes the connection so that it re-reads the state (the server is stopping).
    void poke();
    // The server is gone: later calls must not touch its event loop.
    void detach();

    // The handle a route receives. When the route drops its last copy without answering, the
    // client gets a 500 "request dropped" (or its open stream is ended) instead of waiting
    // forever.
    static std::shared_ptr<Exchange> route_handle(const std::shared_ptr<ServerExchange>& exchange);

  private:
    void wake_locked();

    mutable std::mutex mutex_;
    ExchangeOutput pending_;
    bool answered_ = false;
    bool streaming_ = false;
    bool finished_ = false;
    std::string log_detail_;
    std::function<void()> wake_;
    std::atomic<bool> client_gone_{false};
    const std::optional<Clock::time_point> deadline_;
    const std::shared_ptr<const std::atomic<bool>> server_stopping_;
};

}  // namespace dsv4::server
