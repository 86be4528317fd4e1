#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace dsv4::tokenizer {
namespace {

struct ByteRange {
    uint8_t low;
    uint8_t high;
};

constexpr ByteRange kContinuation{0x80, 0xBF};

// Sequence length and the allowed range of the second byte, keyed by the lead byte; length 0
// marks bytes that can never start a character.
struct LeadRule {
    uint8_t length;
    ByteRange second;
};

LeadRule lead_rule(uint8_t lead) {
    if (lead < 0x80) return {1, kContinuation};
    if (lead < 0xC2) return {0, kContinuation};
    if (lead < 0xE0) return {2, kContinuation};
    if (lead == 0xE0) return {3, {0xA0, 0xBF}};
    if (lead == 0xED) return {3, {0x80, 0x9F}};
    if (lead < 0xF0) return {3, kContinuation};
    if (lead == 0xF0) return {4, {0x90, 0xBF}};
    if (lead < 0xF4) return {4, kContinuation};
    if (lead == 0xF4) return {4, {0x80, 0x8F}};
    return {0, kContinuation};
}

bool in_range(uint8_t byte, ByteRange range) {
    return byte >= range.low && byte <= range.high;
}

}  // namespace

Utf8Step read_utf8_step(std::string_view bytes, size_t pos) {
    const LeadRule rule = lead_rule(static_cast<uint8_t>(bytes[pos]));
    if (rule.length == 0) return {Utf8Status::Invalid, 1};
    for (size_t i = 1; i < rule.length; ++i) {
        if (pos + i >= bytes.size()) return {Utf8Status::Incomplete, i};
        const ByteRange allowed = i == 1 ? rule.second : kContinuation;
        if (!in_range(static_cast<uint8_t>(bytes[pos + i]), allowed)) {
            return {Utf8Status::Invalid, i};
        }
    }
    return {Utf8Status::Complete, rule.length};
}

bool is_valid_utf8(std::string_view bytes) {
    for (size_t pos = 0; pos < bytes.size();) {
        const Utf8Step step = read_utf8_step(bytes, pos);
        if (step.status != Utf8Status::Complete) return false;
        pos += step.length;
    }
    return true;
}

size_t append_complete_utf8(std::string_view bytes, std::string& out) {
    size_t pos = 0;
    while (pos < bytes.size()) {
        size_t ascii_end = pos;
        while (ascii_end < bytes.size() && static_cast<uint8_t>(bytes[ascii_end]) < 0x80) {
            ++ascii_end;
        }
        out.append(bytes.substr(pos, ascii_end - pos));
        pos = ascii_end;
        if (pos == bytes.size()) break;
        const Utf8Step step = read_utf8_step(bytes, pos);
        if (step.status == Utf8Status::Incomplete) return bytes.size() - pos;
        if (step.status == Utf8Status::Complete) {
            out.append(bytes.substr(pos, step.length));
        } else {
            out.append(kReplacementCharacterUtf8);
        }
        pos += step.length;
    }
    return 0;
}

}  // namespace dsv4::tokenizer
