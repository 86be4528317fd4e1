#include "engine/common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace dsv4::log {
namespace {

std::atomic<int> current_level{static_cast<int>(Level::Info)};

const char* level_name(Level level) {
    switch (level) {
        case Level::Error:
            return "error";
        case Level::Warn:
            return "warn";
        case Level::Info:
            return "info";
        case Level::Debug:
            return "debug";
    }
    return "info";
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    for (Level level : {Level::Error, Level::Warn, Level::Info, Level::Debug})
        if (name == level_name(level)) return level;
    return std::nullopt;
}

void set_level(Level level) {
    current_level.store(static_cast<int>(level));
}
Level level() {
    return static_cast<Level>(current_level.load());
}
bool enabled(Level level) {
    return static_cast<int>(level) <= current_level.load();
}

void vwrite(Level level, const char* format, va_list args) {
    if (!enabled(level)) return;
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "%s.%03dZ %s ", stamp, static_cast<int>(millis),
                  level_name(level));
    va_list copy;
    va_copy(copy, args);
    const int length = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    std::string line(prefix);
    if (length > 0) {
        const size_t start = line.size();
        line.resize(start + static_cast<size_t>(length) + 1);
        std::vsnprintf(line.data() + start, static_cast<size_t>(length) + 1, format, args);
        line.resize(start + static_cast<size_t>(length));
    }
    line.push_back('\n');
    // One write per line keeps lines from different threads whole.
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

void write(Level level, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vwrite(level, format, args);
    va_end(args);
}

}  // namespace dsv4::log
