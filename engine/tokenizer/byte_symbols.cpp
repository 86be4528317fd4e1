#include "engine/tokenizer/byte_symbols.h"

#include <array>

namespace dsv4::tokenizer {
namespace {

constexpr bool stands_for_itself(uint32_t byte) {
    return (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
}

constexpr uint32_t kFirstShiftedCodepoint = 256;

struct ByteSymbolTables {
    std::array<char32_t, 256> codepoint_of_byte{};
    // Every symbol code point is below 256 + 68, so a dense reverse table covers them all.
    std::array<int16_t, kFirstShiftedCodepoint + 68> byte_of_codepoint{};
};

constexpr ByteSymbolTables make_tables() {
    ByteSymbolTables tables;
    for (int16_t& entry : tables.byte_of_codepoint) entry = -1;
    uint32_t shifted_count = 0;
    for (uint32_t byte = 0; byte < 256; ++byte) {
        const uint32_t codepoint =
            stands_for_itself(byte) ? byte : kFirstShiftedCodepoint + shifted_count++;
        tables.codepoint_of_byte[byte] = codepoint;
        tables.byte_of_codepoint[codepoint] = static_cast<int16_t>(byte);
    }
    return tables;
}

constexpr ByteSymbolTables kTables = make_tables();
static_assert(kTables.codepoint_of_byte[' '] == 0x120, "space is the symbol G-dot (U+0120)");
static_assert(kTables.codepoint_of_byte['\n'] == 0x10A, "newline is the symbol U+010A");

void append_utf8_codepoint(std::string& out, char32_t codepoint) {
    if (codepoint < 0x80) {
        out += static_cast<char>(codepoint);
    } else if (codepoint < 0x800) {
        out += static_cast<char>(0xC0 | (codepoint >> 6));
        out += static_cast<char>(0x80 | (codepoint & 0x3F));
    } else if (codepoint < 0x10000) {
        out += static_cast<char>(0xE0 | (codepoint >> 12));
        out += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (codepoint & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (codepoint >> 18));
        out += static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (codepoint & 0x3F));
    }
}

// Reads one code point without validating continuation bytes: vocabulary strings are normally
// well-formed, and a lenient reading keeps a damaged one usable.
char32_t read_codepoint_leniently(std::string_view text, size_t& pos) {
    const auto byte_at = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t lead = byte_at(pos);
    const size_t remaining = text.size() - pos;
    if (lead >= 0xC0 && lead < 0xE0 && remaining >= 2) {
        const char32_t cp = (char32_t{lead & 0x1Fu} << 6) | (byte_at(pos + 1) & 0x3Fu);
        pos += 2;
        return cp;
    }
    if (lead >= 0xE0 && lead < 0xF0 && remaining >= 3) {
        const char32_t cp = (char32_t{lead & 0x0Fu} << 12) |
                            (char32_t{byte_at(pos + 1) & 0x3Fu} << 6) | (byte_at(pos + 2) & 0x3Fu);
        pos += 3;
        return cp;
    }
    if (lead >= 0xF0 && lead < 0xF8 && remaining >= 4) {
        const char32_t cp = (char32_t{lead & 0x07u} << 18) |
                            (char32_t{byte_at(pos + 1) & 0x3Fu} << 12) |
                            (char32_t{byte_at(pos + 2) & 0x3Fu} << 6) | (byte_at(pos + 3) & 0x3Fu);
        pos += 4;
        return cp;
    }
    pos += 1;
    return lead;
}

}  // namespace

char32_t byte_to_symbol_codepoint(uint8_t byte) {
    return kTables.codepoint_of_byte[byte];
}

int symbol_codepoint_to_byte(char32_t codepoint) {
    if (codepoint >= kTables.byte_of_codepoint.size()) return -1;
    return kTables.byte_of_codepoint[codepoint];
}

void append_byte_symbol(std::string& out, uint8_t byte) {
    append_utf8_codepoint(out, kTables.codepoint_of_byte[byte]);
}

std::string encode_byte_symbols(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) append_byte_symbol(out, static_cast<uint8_t>(c));
    return out;
}

std::string decode_byte_symbols(std::string_view symbols) {
    std::string out;
    out.reserve(symbols.size());
    size_t pos = 0;
    while (pos < symbols.size()) {
        const int byte = symbol_codepoint_to_byte(read_codepoint_leniently(symbols, pos));
        if (byte >= 0) out += static_cast<char>(byte);
    }
    return out;
}

}  // namespace dsv4::tokenizer
