#include "server/daemon.h"

#include <condition_variable>
#include <thread>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/common/log.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvstore/prefix_store.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/routes.h"
#include "server/scheduler.h"
#include "server/tool_registry.h"

namespace dsv4::server {
namespace {

std::string model_path(const config::DaemonConfig& config) {
    if (!config.model.path.empty()) return config.model.path;
    return DSV4_DEFAULT_MODEL_PATH;
}

}  // namespace

struct Daemon::Parts {
    config::DaemonConfig config;
    Metrics metrics;
    ToolRegistry registry;
    Routes routes;
    HttpServer http;
    std::unique_ptr<forward::LoadedModel> model;
    std::unique_ptr<kvstore::PrefixStore> prefix_store;
    std::unique_ptr<backend::cpu::CpuBackend> backend;
    std::unique_ptr<generate::Generator> generator;
    std::unique_ptr<Scheduler> scheduler;
    std::thread loader;
    std::mutex mutex;
    std::condition_variable load_done;
    bool loaded = false;
    bool load_failed = false;
    bool stopped = false;

    explicit Parts(config::DaemonConfig c)
        : config(std::move(c)),
          registry(config.scheduler.tool_memory_entries),
          routes(config, metrics, registry),
          http(HttpServerOptions{config.http,
                                 std::chrono::milliseconds(config.scheduler.keepalive_interval_ms),
                                 std::chrono::milliseconds(config.scheduler.request_timeout_ms)},
               routes) {}

    void load();
    void open_prefix_store();
};

void Daemon::Parts::open_prefix_store() {
    if (config.kv.dir.empty()) return;
    kvstore::PrefixStoreOptions options;
    options.dir = config.kv.dir;
    options.max_bytes = config.kv.max_bytes;
    options.block_tokens = config.kv.block_tokens;
    options.checkpoint_blocks = config.kv.checkpoint_blocks;
    prefix_store = std::make_unique<kvstore::PrefixStore>(
        options, kvstore::model_fingerprint(*model, config.model.numerics));
    kvstore::PrefixStore* store = prefix_store.get();
    metrics.add_provider([store] {
        const kvstore::PrefixStoreStats s = store->stats();
        const auto n = [](uint64_t v) { return static_cast<double>(v); };
        return std::vector<GaugeSample>{
            {"dsv4d_kv_enabled", "1 while the persistent prefix store works",
             s.disabled_reason.empty() ? 1.0 : 0.0},
            {"dsv4d_kv_bytes", "bytes stored in the prefix store", n(s.bytes)},
            {"dsv4d_kv_blocks", "blocks stored", n(s.blocks)},
            {"dsv4d_kv_tails", "resume points stored", n(s.tails)},
            {"dsv4d_kv_hits_total", "prompts that restored a stored prefix", n(s.hits)},
            {"dsv4d_kv_hit_tokens_total", "tokens restored from the store", n(s.hit_tokens)},
            {"dsv4d_kv_misses_total", "prompts with no stored prefix", n(s.misses)},
            {"dsv4d_kv_evictions_total", "records evicted for the budget", n(s.evictions)},
            {"dsv4d_kv_dropped_writes_total", "records not written (queue full or error)",
             n(s.dropped_writes)},
            {"dsv4d_kv_corrupt_records_total", "records rejected and deleted",
             n(s.corrupt_records)},
            {"dsv4d_kv_write_seconds_sum", "time spent committing records", s.write_seconds_sum},
            {"dsv4d_kv_writes_total", "records committed", n(s.writes)},
            {"dsv4d_kv_write_seconds_max", "slowest record commit", s.write_seconds_max}};
    });
    if (store->enabled())
        DSV4_LOG_INFO(
            "prefix store at %s: %llu blocks, %llu resume points, %llu bytes (budget %llu)",
            config.kv.dir.c_str(), static_cast<unsigned long long>(store->stats().blocks),
            static_cast<unsigned long long>(store->stats().tails),
            static_cast<unsigned long long>(store->stats().bytes),
            static_cast<unsigned long long>(config.kv.max_bytes));
}

void Daemon::Parts::load() {
    try {
        if (config.debug.load_delay_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(config.debug.load_delay_ms));
        const std::string path = model_path(config);
        DSV4_LOG_INFO("loading %s", path.c_str());
        model = forward::load_model(path, *gguf::parse_load_mode(config.model.load));
        if (model->file.copied_into_memory())
            DSV4_LOG_INFO("weights copied into memory on huge pages");
        else if (!model->file.copy_fallback_reason().empty())
            DSV4_LOG_WARN("weights mapped from the file instead of copied (model.load = copy): %s",
                          model->file.copy_fallback_reason().c_str());
        else
            DSV4_LOG_INFO("weights mapped from the file");
        open_prefix_store();
        backend = std::make_unique<backend::cpu::CpuBackend>(config.model.threads);
        generate::GeneratorConfig generator_config;
        generator_config.prefix_cache = prefix_store.get();
        generator_config.context_tokens = config.model.context_tokens;
        generator_config.forward.numerics =
            config.model.numerics == "f32" ? quant::Numerics::F32 : quant::Numerics::Q8;
        generator = std::make_unique<generate::Generator>(
            *model, *backend, tokenizer::Tokenizer::from_gguf(model->file), generator_config);
        scheduler = std::make_unique<Scheduler>(*generator, config.scheduler.queue_length);
        ReadyEngine ready{
            &generator->tokenizer(), scheduler.get(), generator->context_tokens(), path, {}};
        if (kvstore::PrefixStore* store = prefix_store.get())
            ready.kv_status = [store] {
                const std::string reason = store->stats().disabled_reason;
                return reason.empty() ? std::string("enabled") : "disabled: " + reason;
            };
        routes.set_ready(std::move(ready));
        metrics.set_model_loaded(true);
        DSV4_LOG_INFO("model ready: %s, context %lld tokens, %s numerics", path.c_str(),
                      static_cast<long long>(generator->context_tokens()),
                      config.model.numerics.c_str());
        if (config.model.path.empty())
            DSV4_LOG_WARN(
                "no model configured: serving the tiny test model with RANDOM weights (its "
                "answers are noise; it is there to try the API). Serve a real DeepSeek V4 Flash "
                "GGUF with `dsv4d -m FILE.gguf` or model.path in the config file");
        std::lock_guard lock(mutex);
        loaded = true;
    } catch (const std::exception& e) {
        DSV4_LOG_ERROR("cannot load the model: %s", e.what());
        routes.set_load_failed(e.what());
        std::lock_guard lock(mutex);
        load_failed = true;
    }
    load_done.notify_all();
}

Daemon::Daemon(config::DaemonConfig config) : parts_(std::make_unique<Parts>(std::move(config))) {}

Daemon::~Daemon() {
    stop();
}

void Daemon::start() {
    parts_->http.start();
    DSV4_LOG_INFO("dsv4d listening on http://%s:%u", parts_->config.http.host.c_str(),
                  static_cast<unsigned>(parts_->http.port()));
    parts_->loader = std::thread([this] { parts_->load(); });
}

uint16_t Daemon::port() const {
    return parts_->http.port();
}

bool Daemon::wait_ready() {
    std::unique_lock lock(parts_->mutex);
    parts_->load_done.wait(lock, [&] { return parts_->loaded || parts_->load_failed; });
    return parts_->loaded;
}

void Daemon::stop() {
    if (parts_->stopped) return;
    parts_->stopped = true;
    const auto grace = std::chrono::milliseconds(parts_->config.scheduler.shutdown_grace_ms);
    DSV4_LOG_INFO("stopping: the running job may finish within %lld ms",
                  static_cast<long long>(grace.count()));
    if (parts_->loader.joinable()) parts_->loader.join();
    // The HTTP layer marks exchanges ShuttingDown only in stop(); the scheduler first gets the
    // grace to finish the running job while clients still receive it.
    if (parts_->scheduler) parts_->scheduler->shutdown(grace);
    parts_->http.stop(std::chrono::milliseconds(1000));
    // Blocks already handed to the store are committed before exit.
    if (parts_->prefix_store) parts_->prefix_store->flush();
    DSV4_LOG_INFO("stopped");
}

}  // namespace dsv4::server
