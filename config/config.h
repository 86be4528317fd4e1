// The daemon's effective configuration: defaults, the TOML file (config/dsv4d.toml documents
// every key), then command-line flags on top. Owns parsing and validation of settings only;
// must not open models, sockets or stores.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsv4::config {

// A setting the daemon refuses: unknown key or flag, wrong type, out of range, unreadable file.
// what() names the key or flag, the value and what was expected.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct HttpConfig {
    std::string host = "127.0.0.1";
    uint16_t port = 8000;
    uint64_t max_body_bytes = 64ull << 20;
    uint32_t max_header_bytes = 16u << 10;
    uint32_t read_timeout_ms = 30'000;   // a request's headers and body must arrive within this
    uint32_t write_timeout_ms = 30'000;  // one write may take at most this long
    uint32_t idle_timeout_ms = 60'000;   // an idle keep-alive connection is closed after this
    uint32_t max_connections = 64;       // further connections are refused with 503
    uint32_t io_threads = 1;             // Asio threads (the engine has its own)
    std::vector<std::string> api_keys;   // empty: no authentication
    std::string api_key_file;            // one key per line, read at start
    std::string cors_origin;             // empty: no CORS headers
};

struct ModelConfig {
    std::string path;  // empty: the golden tiny model with random weights (for trying the API)
    std::string name = "deepseek-v4-flash";  // the id /v1/models lists and responses echo
    int64_t context_tokens = 32768;
    uint32_t threads = 0;         // 0: one per CPU
    std::string numerics = "q8";  // q8 | f32
    std::string load = "copy";    // copy (anonymous huge pages) | mmap
};

struct SchedulerConfig {
    uint32_t queue_length = 16;              // waiting jobs beyond the running one; full: 429
    uint32_t request_timeout_ms = 0;         // wall-clock limit per request; 0: none
    uint32_t keepalive_interval_ms = 5'000;  // SSE comment when a stream was silent this long
    uint32_t shutdown_grace_ms = 10'000;     // on SIGTERM: how long the running job may finish
    int default_max_tokens = -1;  // when a request gives none; -1: up to the end of the context
    uint32_t tool_memory_entries = 4096;  // tool-call id -> exact DSML, least recently used out
    bool reasoning_alias = true;          // also send reasoning deltas under "reasoning"
};

struct DebugConfig {
    // Debugging aid (documented in dsv4d.toml): every generation emits this text (tokenized)
    // or these comma-separated token ids instead of sampling; the forward pass still runs.
    std::string script_text;
    std::string script_tokens;
    // Holds /health at 503 "loading" this long before the model is opened (tests of the
    // loading state).
    uint32_t load_delay_ms = 0;
};

struct KvConfig {
    std::string dir;  // empty: no persistent prefix store
    uint64_t max_bytes = 8ull << 30;
    uint32_t block_tokens = 512;  // a multiple of 128
    uint32_t checkpoint_blocks = 8;
};

struct DaemonConfig {
    std::string config_file;         // the TOML file read, if any
    std::string log_level = "info";  // error | warn | info | debug
    HttpConfig http;
    ModelConfig model;
    SchedulerConfig scheduler;
    KvConfig kv;
    DebugConfig debug;
    bool print_config = false;  // --print-config: print the effective config as TOML and exit
    bool show_help = false;
};

// Defaults, then the file given by --config (when any), then every other flag. Throws
// ConfigError naming the offending key or flag.
DaemonConfig load_config(int argc, const char* const* argv);
// Applies one TOML document over `config` (unknown keys are an error naming them).
void apply_toml(DaemonConfig& config, const std::string& toml_text, const std::string& origin);
// The effective configuration as a TOML document with every key.
std::string to_toml(const DaemonConfig& config);
// Usage text of the command-line flags.
std::string usage_text();

}  // namespace dsv4::config
