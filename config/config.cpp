#include "config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

#include "engine/common/log.h"
#include "engine/gguf/gguf_reader.h"

namespace dsv4::config {
namespace {

enum class Kind : uint8_t { Integer, Text, Boolean, TextList };

// One setting: its TOML key ("section.name", or "name" at the top level), its flag, and how to
// read and write it. Every key the file may hold and every flag comes from this table.
struct Setting {
    std::string_view key;
    std::string_view flag;
    Kind kind;
    int64_t min = 0;
    int64_t max = 0;
    std::string_view help;
    std::function<void(DaemonConfig&, int64_t)> set_integer;
    std::function<int64_t(const DaemonConfig&)> get_integer;
    std::function<void(DaemonConfig&, std::string)> set_text;
    std::function<std::string(const DaemonConfig&)> get_text;
};

#define DSV4_INT_SETTING(KEY, FLAG, MEMBER, MIN, MAX, HELP)                                        \
    Setting {                                                                                      \
        KEY, FLAG, Kind::Integer, MIN, MAX, HELP,                                                  \
            [](DaemonConfig& c, int64_t v) { c.MEMBER = static_cast<decltype(c.MEMBER)>(v); },     \
            [](const DaemonConfig& c) { return static_cast<int64_t>(c.MEMBER); }, nullptr, nullptr \
    }
#define DSV4_TEXT_SETTING(KEY, FLAG, MEMBER, HELP)                           \
    Setting {                                                                \
        KEY, FLAG, Kind::Text, 0, 0, HELP, nullptr, nullptr,                 \
            [](DaemonConfig& c, std::string v) { c.MEMBER = std::move(v); }, \
            [](const DaemonConfig& c) { return c.MEMBER; }                   \
    }
#define DSV4_BOOL_SETTING(KEY, FLAG, MEMBER, HELP)                                                 \
    Setting {                                                                                      \
        KEY, FLAG, Kind::Boolean, 0, 1, HELP,                                                      \
            [](DaemonConfig& c, int64_t v) { c.MEMBER = v != 0; },                                 \
            [](const DaemonConfig& c) { return static_cast<int64_t>(c.MEMBER); }, nullptr, nullptr \
    }

constexpr int64_t kU16 = std::numeric_limits<uint16_t>::max();
constexpr int64_t kU32 = std::numeric_limits<uint32_t>::max();
constexpr int64_t kI32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kI64 = std::numeric_limits<int64_t>::max();

const std::vector<Setting>& settings() {
    static const std::vector<Setting> table = {
        DSV4_TEXT_SETTING("log_level", "--log-level", log_level, "error | warn | info | debug"),
        DSV4_TEXT_SETTING("http.host", "--host", http.host, "address to listen on"),
        DSV4_INT_SETTING("http.port", "--port", http.port, 0, kU16,
                         "TCP port (0: any free port, printed at start)"),
        DSV4_INT_SETTING("http.max_body_bytes", "--max-body-bytes", http.max_body_bytes, 1, kI64,
                         "largest request body; larger ones get 413"),
        DSV4_INT_SETTING("http.max_header_bytes", "--max-header-bytes", http.max_header_bytes, 256,
                         kU32, "largest request header block; larger ones get 431"),
        DSV4_INT_SETTING("http.read_timeout_ms", "--read-timeout-ms", http.read_timeout_ms, 1, kU32,
                         "a request must arrive whole within this"),
        DSV4_INT_SETTING("http.write_timeout_ms", "--write-timeout-ms", http.write_timeout_ms, 1,
                         kU32, "one write to a client may take at most this"),
        DSV4_INT_SETTING("http.idle_timeout_ms", "--idle-timeout-ms", http.idle_timeout_ms, 1, kU32,
                         "idle keep-alive connections are closed after this"),
        DSV4_INT_SETTING("http.max_connections", "--max-connections", http.max_connections, 1, kU32,
                         "connections beyond this are answered 503 and closed"),
        DSV4_INT_SETTING("http.io_threads", "--io-threads", http.io_threads, 1, 64,
                         "threads serving HTTP (the engine has its own)"),
        Setting{"http.api_keys", "--api-key", Kind::TextList, 0, 0,
                "accepted bearer keys (repeat the flag for several); none: no authentication",
                nullptr, nullptr,
                [](DaemonConfig& c, std::string v) { c.http.api_keys.push_back(std::move(v)); },
                nullptr},
        DSV4_TEXT_SETTING("http.api_key_file", "--api-key-file", http.api_key_file,
                          "file with one accepted key per line (# comments)"),
        DSV4_TEXT_SETTING("http.cors_origin", "--cors-origin", http.cors_origin,
                          "origin allowed by CORS (\"*\" for any); empty: CORS off"),
        DSV4_TEXT_SETTING("model.path", "--model", model.path,
                          "DSV4 GGUF to serve; empty: the tiny random-weight test model"),
        DSV4_TEXT_SETTING("model.name", "--model-name", model.name,
                          "model id listed by /v1/models and accepted in requests"),
        DSV4_INT_SETTING("model.context_tokens", "--ctx", model.context_tokens, 1, kI32,
                         "context size in tokens"),
        DSV4_INT_SETTING("model.threads", "--threads", model.threads, 0, 1024,
                         "engine threads (0: one per CPU)"),
        DSV4_TEXT_SETTING("model.numerics", "--numerics", model.numerics,
                          "q8 (activations quantized like the reference) | f32"),
        DSV4_TEXT_SETTING("model.load", "--load", model.load,
                          "copy (weights on huge pages, faster decode) | mmap (file mapping)"),
        DSV4_INT_SETTING("scheduler.queue_length", "--queue-length", scheduler.queue_length, 0,
                         kU32, "jobs waiting behind the running one; more get 429"),
        DSV4_INT_SETTING("scheduler.request_timeout_ms", "--request-timeout-ms",
                         scheduler.request_timeout_ms, 0, kU32,
                         "wall-clock limit of one request (0: none)"),
        DSV4_INT_SETTING("scheduler.keepalive_interval_ms", "--keepalive-interval-ms",
                         scheduler.keepalive_interval_ms, 1, kU32,
                         "SSE comment after this long without output"),
        DSV4_INT_SETTING("scheduler.shutdown_grace_ms", "--shutdown-grace-ms",
                         scheduler.shutdown_grace_ms, 0, kU32,
                         "on SIGTERM the running job may finish within this"),
        DSV4_INT_SETTING("scheduler.default_max_tokens", "--max-tokens",
                         scheduler.default_max_tokens, -1, kI32,
                         "tokens generated when a request sets no limit (-1: to the context end)"),
        DSV4_INT_SETTING("scheduler.tool_memory_entries", "--tool-memory-entries",
                         scheduler.tool_memory_entries, 1, kU32,
                         "tool-call ids remembered for exact DSML replay"),
        DSV4_BOOL_SETTING("scheduler.reasoning_alias", "--reasoning-alias",
                          scheduler.reasoning_alias,
                          "also stream reasoning under \"reasoning\" (--no-reasoning-alias: off)"),
        DSV4_TEXT_SETTING("kv.dir", "--kv-dir", kv.dir,
                          "directory of the persistent prefix store; empty: none"),
        DSV4_INT_SETTING("kv.max_bytes", "--kv-max-bytes", kv.max_bytes, 1 << 20, kI64,
                         "byte budget of the prefix store"),
        DSV4_INT_SETTING("kv.block_tokens", "--kv-block-tokens", kv.block_tokens, 128, 1 << 20,
                         "tokens per stored block (a multiple of 128)"),
        DSV4_INT_SETTING("kv.checkpoint_blocks", "--kv-checkpoint-blocks", kv.checkpoint_blocks, 1,
                         kU32, "a resume point is stored every this many blocks"),
        DSV4_TEXT_SETTING("debug.script_text", "--debug-script-text", debug.script_text,
                          "every generation emits this text instead of sampling"),
        DSV4_TEXT_SETTING("debug.script_tokens", "--debug-script-tokens", debug.script_tokens,
                          "every generation emits these comma-separated token ids"),
        DSV4_INT_SETTING("debug.load_delay_ms", "--debug-load-delay-ms", debug.load_delay_ms, 0,
                         kU32, "wait this long before loading the model"),
    };
    return table;
}

#undef DSV4_INT_SETTING
#undef DSV4_TEXT_SETTING
#undef DSV4_BOOL_SETTING

const Setting* find_by_key(std::string_view key) {
    for (const Setting& s : settings())
        if (s.key == key) return &s;
    return nullptr;
}

const Setting* find_by_flag(std::string_view flag) {
    if (flag == "-m") flag = "--model";
    for (const Setting& s : settings())
        if (s.flag == flag) return &s;
    return nullptr;
}

void set_checked_integer(DaemonConfig& config, const Setting& s, int64_t value,
                         const std::string& where) {
    if (value < s.min || value > s.max)
        throw ConfigError(where + ": " + std::string(s.key) + " = " + std::to_string(value) +
                          " is out of range [" + std::to_string(s.min) + ", " +
                          std::to_string(s.max) + "]");
    s.set_integer(config, value);
}

int64_t parse_integer_text(const Setting& s, std::string_view text, const std::string& where) {
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        throw ConfigError(where + ": " + std::string(s.flag) + " needs an integer, got '" +
                          std::string(text) + "'");
    return value;
}

std::string toml_quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string where_of(const toml::node& node, const std::string& origin) {
    return origin + ":" + std::to_string(node.source().begin.line);
}

void apply_toml_value(DaemonConfig& config, const Setting& s, const toml::node& node,
                      const std::string& where) {
    const auto wrong_type = [&](std::string_view expected) {
        return ConfigError(where + ": " + std::string(s.key) + " must be " + std::string(expected));
    };
    switch (s.kind) {
        case Kind::Integer: {
            const auto value = node.value<int64_t>();
            if (!node.is_integer() || !value) throw wrong_type("an integer");
            set_checked_integer(config, s, *value, where);
            break;
        }
        case Kind::Boolean:
            if (!node.is_boolean()) throw wrong_type("true or false");
            s.set_integer(config, *node.value<bool>() ? 1 : 0);
            break;
        case Kind::Text:
            if (!node.is_string()) throw wrong_type("a string");
            s.set_text(config, *node.value<std::string>());
            break;
        case Kind::TextList: {
            const toml::array* array = node.as_array();
            if (!array) throw wrong_type("an array of strings");
            config.http.api_keys.clear();
            for (const toml::node& item : *array) {
                if (!item.is_string()) throw wrong_type("an array of strings");
                s.set_text(config, *item.value<std::string>());
            }
            break;
        }
    }
}

void read_api_key_file(DaemonConfig& config) {
    const std::string& path = config.http.api_key_file;
    if (path.empty()) return;
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read the API key file '" + path + "'");
    std::string line;
    while (std::getline(in, line)) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto last = line.find_last_not_of(" \t\r");
        config.http.api_keys.push_back(line.substr(first, last - first + 1));
    }
}

void validate(const DaemonConfig& config) {
    if (config.model.numerics != "q8" && config.model.numerics != "f32")
        throw ConfigError("model.numerics must be q8 or f32, got '" + config.model.numerics + "'");
    if (!gguf::parse_load_mode(config.model.load))
        throw ConfigError("model.load must be copy or mmap, got '" + config.model.load + "'");
    if (!log::parse_level(config.log_level))
        throw ConfigError("log_level must be error, warn, info or debug, got '" + config.log_level +
                          "'");
    if (config.kv.block_tokens % 128 != 0)
        throw ConfigError("kv.block_tokens must be a multiple of 128, got " +
                          std::to_string(config.kv.block_tokens));
    if (config.http.host.empty()) throw ConfigError("http.host must not be empty");
    for (const std::string& key : config.http.api_keys)
        if (key.empty()) throw ConfigError("an API key must not be empty");
    if (!config.debug.script_text.empty() && !config.debug.script_tokens.empty())
        throw ConfigError("debug.script_text and debug.script_tokens exclude each other");
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError("cannot read the config file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Splits "--flag=value" and "--flag value"; advances i past a consumed value.
struct FlagArgument {
    std::string name;
    std::optional<std::string> inline_value;
};

FlagArgument split_flag(std::string_view arg) {
    const size_t equals = arg.find('=');
    if (arg.starts_with("--") && equals != std::string_view::npos)
        return {std::string(arg.substr(0, equals)), std::string(arg.substr(equals + 1))};
    return {std::string(arg), std::nullopt};
}

void apply_flag(DaemonConfig& config, const Setting& s, const FlagArgument& flag, int argc,
                const char* const* argv, int& i) {
    const auto value = [&]() -> std::string {
        if (flag.inline_value) return *flag.inline_value;
        if (i + 1 >= argc) throw ConfigError(flag.name + " needs a value");
        return argv[++i];
    };
    switch (s.kind) {
        case Kind::Boolean:
            s.set_integer(config, flag.inline_value ? *flag.inline_value != "false" : 1);
            break;
        case Kind::Integer:
            set_checked_integer(config, s, parse_integer_text(s, value(), "flag"), "flag");
            break;
        case Kind::Text:
        case Kind::TextList:
            s.set_text(config, value());
            break;
    }
}

}  // namespace

void apply_toml(DaemonConfig& config, const std::string& toml_text, const std::string& origin) {
    toml::table root;
    try {
        root = toml::parse(toml_text, origin);
    } catch (const toml::parse_error& error) {
        throw ConfigError(origin + ":" + std::to_string(error.source().begin.line) + ": " +
                          std::string(error.description()));
    }
    for (const auto& [key, node] : root) {
        const std::string name(key.str());
        if (const toml::table* section = node.as_table()) {
            for (const auto& [inner_key, inner] : *section) {
                const std::string full = name + "." + std::string(inner_key.str());
                const Setting* s = find_by_key(full);
                if (!s || s->key.find('.') == std::string_view::npos)
                    throw ConfigError(where_of(inner, origin) + ": unknown key '" + full + "'");
                apply_toml_value(config, *s, inner, where_of(inner, origin));
            }
            continue;
        }
        const Setting* s = find_by_key(name);
        if (!s) throw ConfigError(where_of(node, origin) + ": unknown key '" + name + "'");
        apply_toml_value(config, *s, node, where_of(node, origin));
    }
}

DaemonConfig load_config(int argc, const char* const* argv) {
    DaemonConfig config;
    // The file first, wherever --config appears, so that every other flag overrides it.
    for (int i = 1; i < argc; ++i) {
        const FlagArgument flag = split_flag(argv[i]);
        if (flag.name != "--config") continue;
        if (flag.inline_value)
            config.config_file = *flag.inline_value;
        else if (i + 1 < argc)
            config.config_file = argv[++i];
        else
            throw ConfigError("--config needs a value");
    }
    if (!config.config_file.empty()) {
        const std::string file = config.config_file;
        apply_toml(config, read_file(file), file);
        config.config_file = file;
    }
    bool keys_from_flags = false;
    for (int i = 1; i < argc; ++i) {
        const FlagArgument flag = split_flag(argv[i]);
        if (flag.name == "--config") {
            if (!flag.inline_value) ++i;
        } else if (flag.name == "--print-config") {
            config.print_config = true;
        } else if (flag.name == "-h" || flag.name == "--help") {
            config.show_help = true;
        } else if (flag.name == "--no-reasoning-alias") {
            config.scheduler.reasoning_alias = false;
        } else if (const Setting* s = find_by_flag(flag.name)) {
            // Keys given by flags replace those of the file rather than adding to them.
            if (s->kind == Kind::TextList && !keys_from_flags) {
                config.http.api_keys.clear();
                keys_from_flags = true;
            }
            apply_flag(config, *s, flag, argc, argv, i);
        } else {
            throw ConfigError("unknown flag '" + flag.name + "' (see --help)");
        }
    }
    read_api_key_file(config);
    validate(config);
    return config;
}

std::string to_toml(const DaemonConfig& config) {
    std::string out = "# dsv4d effective configuration\n";
    std::string section;
    for (const Setting& s : settings()) {
        const size_t dot = s.key.find('.');
        const std::string this_section =
            dot == std::string_view::npos ? "" : std::string(s.key.substr(0, dot));
        if (this_section != section) {
            out += "\n[" + this_section + "]\n";
            section = this_section;
        }
        out += std::string(dot == std::string_view::npos ? s.key : s.key.substr(dot + 1)) + " = ";
        switch (s.kind) {
            case Kind::Integer:
                out += std::to_string(s.get_integer(config));
                break;
            case Kind::Boolean:
                out += s.get_integer(config) ? "true" : "false";
                break;
            case Kind::Text:
                out += toml_quote(s.get_text(config));
                break;
            case Kind::TextList: {
                out += "[";
                // Secrets never leave the process.
                for (size_t k = 0; k < config.http.api_keys.size(); ++k)
                    out += std::string(k ? ", " : "") + "\"***\"";
                out += "]";
                break;
            }
        }
        out += "\n";
    }
    return out;
}

std::string usage_text() {
    std::string out =
        "usage: dsv4d [--config FILE] [flags]\n"
        "Serves a DeepSeek V4 Flash GGUF over an OpenAI-compatible HTTP API.\n"
        "Settings come from the defaults, then the TOML file of --config, then these flags\n"
        "(config/dsv4d.toml documents every key):\n"
        "  --config FILE                 TOML configuration file\n"
        "  --print-config                print the effective configuration and exit\n"
        "  -h, --help                    this text\n"
        "  --no-reasoning-alias          stream reasoning under reasoning_content only\n";
    const DaemonConfig defaults;
    for (const Setting& s : settings()) {
        std::string left = "  " + std::string(s.flag);
        if (s.flag == "--model") left = "  -m, --model";
        if (s.kind != Kind::Boolean) left += s.kind == Kind::Integer ? " N" : " TEXT";
        if (left.size() < 31) left.resize(31, ' ');
        std::string default_text;
        if (s.kind == Kind::Integer) default_text = std::to_string(s.get_integer(defaults));
        if (s.kind == Kind::Text && !s.get_text(defaults).empty())
            default_text = s.get_text(defaults);
        out += left + " " + std::string(s.help) + " [" + std::string(s.key) +
               (default_text.empty() ? "" : "; default " + default_text) + "]\n";
    }
    return out;
}

}  // namespace dsv4::config
