// The dsv4d process: config -> HTTP server (up first, so /health answers while loading) ->
// model, backend and generator loaded in the background -> scheduler and routes ready; and the
// graceful stop. Owns every long-lived part and their order; must not handle requests itself.
#pragma once

#include <chrono>
#include <memory>

#include "config/config.h"

namespace dsv4::server {

class Daemon {
  public:
    explicit Daemon(config::DaemonConfig config);
    ~Daemon();

    // Starts listening and the background model load; throws when the port cannot be bound.
    void start();
    uint16_t port() const;
    // Blocks until the model is loaded or failed; true when ready.
    bool wait_ready();
    // Stops accepting, lets the running job finish within the shutdown grace, then closes.
    void stop();

  private:
    struct Parts;
    std::unique_ptr<Parts> parts_;
};

}  // namespace dsv4::server
