// The daemon's routes: which path and method does what, request validation into engine jobs,
// and the small endpoints (health, models, metrics, tokenize, detokenize, apply-template).
// Owns no sockets (http_server) and no engine thread (scheduler); must not block an HTTP
// thread on the engine.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "server/generation_job.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/tool_registry.h"

namespace dsv4::tokenizer {
class Tokenizer;
}

namespace dsv4::server {

// What the routes need once the model is loaded.
struct ReadyEngine {
    const tokenizer::Tokenizer* tokenizer = nullptr;
    Scheduler* scheduler = nullptr;
    int64_t context_tokens = 0;
    std::string model_description;           // for /health
    std::function<std::string()> kv_status;  // empty: no persistent prefix store
};

class Routes final : public RequestHandler {
  public:
    Routes(const config::DaemonConfig& config, Metrics& metrics, ToolRegistry& registry);

    // Until this is called generation endpoints answer 503 and /health says "loading".
    // Parses the debug script (throws config::ConfigError when it does not tokenize).
    void set_ready(ReadyEngine engine);
    void set_load_failed(std::string reason);

    void handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange) override;

  private:
    struct Route;
    HttpResponse health() const;
    HttpResponse models(std::string_view id) const;
    HttpResponse tokenize(const HttpRequest& request) const;
    HttpResponse detokenize(const HttpRequest& request) const;
    HttpResponse apply_template(const HttpRequest& request) const;
    // Either answers at once (an error) or hands a job to the scheduler.
    void generate(const HttpRequest& request, std::string_view label,
                  const std::shared_ptr<Exchange>& exchange);
    std::shared_ptr<const ReadyEngine> ready() const;
    bool model_name_accepted(std::string_view name) const;

    const config::DaemonConfig config_;
    Metrics& metrics_;
    ToolRegistry& registry_;
    mutable std::mutex mutex_;
    std::shared_ptr<const ReadyEngine> ready_;
    std::string load_error_;
    std::shared_ptr<const std::vector<int32_t>> script_tokens_;
    LiveTextBinding live_binding_;  // used by jobs on the engine worker only
};

}  // namespace dsv4::server
