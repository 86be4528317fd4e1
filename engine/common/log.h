// The process logger: leveled lines on stderr, one write per line so threads never interleave.
// The only global mutable state besides the CPU feature table; must not buffer or block on I/O
// beyond one write.
#pragma once

#include <cstdarg>
#include <optional>
#include <string_view>

namespace dsv4::log {

enum class Level : int { Error = 0, Warn = 1, Info = 2, Debug = 3 };

// "error", "warn", "info", "debug"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);
void set_level(Level level);
Level level();
bool enabled(Level level);

// "2026-11-22T10:30:00.123Z info <message>\n" on stderr when `level` is enabled.
void write(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* format, va_list args);

#define DSV4_LOG_ERROR(...) ::dsv4::log::write(::dsv4::log::Level::Error, __VA_ARGS__)
#define DSV4_LOG_WARN(...) ::dsv4::log::write(::dsv4::log::Level::Warn, __VA_ARGS__)
#define DSV4_LOG_INFO(...) ::dsv4::log::write(::dsv4::log::Level::Info, __VA_ARGS__)
#define DSV4_LOG_DEBUG(...) ::dsv4::log::write(::dsv4::log::Level::Debug, __VA_ARGS__)

}  // namespace dsv4::log
