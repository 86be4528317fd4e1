#include "engine/tokenizer/pretokenizer.h"

#include <array>
#include <cstdint>

namespace dsv4::tokenizer {
namespace {

enum ByteClass : uint8_t {
    kAsciiLetter = 1 << 0,
    kAsciiDigit = 1 << 1,
    kAsciiWhitespace = 1 << 2,
    kLineBreak = 1 << 3,
    kAsciiPunct = 1 << 4,  // every printable ASCII byte that is not a letter, digit or space
    kNonAscii = 1 << 5,
};

constexpr std::array<uint8_t, 256> make_byte_classes() {
    std::array<uint8_t, 256> classes{};
    for (int c = 0; c < 256; ++c) {
        uint8_t bits = 0;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) bits |= kAsciiLetter;
        if (c >= '0' && c <= '9') bits |= kAsciiDigit;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            bits |= kAsciiWhitespace;
        }
        if (c == '\n' || c == '\r') bits |= kLineBreak;
        if ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
            (c >= '{' && c <= '~')) {
            bits |= kAsciiPunct;
        }
        if (c >= 0x80) bits |= kNonAscii;
        classes[c] = bits;
    }
    return classes;
}

constexpr std::array<uint8_t, 256> kByteClasses = make_byte_classes();

class Scanner {
  public:
    explicit Scanner(std::string_view text) : text_(text) {}

    size_t size() const { return text_.size(); }
    uint8_t byte(size_t pos) const { return static_cast<uint8_t>(text_[pos]); }
    bool has(size_t pos, uint8_t classes) const {
        return pos < text_.size() && (kByteClasses[byte(pos)] & classes) != 0;
    }
    bool letter_like(size_t pos) const { return has(pos, kAsciiLetter | kNonAscii); }

    // Length announced by the first byte: bytes that cannot start a sequence count as one, and
    // so does a sequence that would run past the end.
    size_t char_end(size_t pos) const {
        const uint8_t lead = byte(pos);
        size_t length = 1;
        if ((lead & 0xE0) == 0xC0) {
            length = 2;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4;
        }
        return pos + length > text_.size() ? pos + 1 : pos + length;
    }

    // The code point is assembled from the payload bits without checking the continuation
    // bytes, so an ill-formed sequence can still count as CJK, as it does in the reference.
    bool kana_or_cjk(size_t pos) const {
        const size_t length = char_end(pos) - pos;
        char32_t cp = 0;
        if (length == 3) {
            cp = (char32_t{byte(pos) & 0x0Fu} << 12) | (char32_t{byte(pos + 1) & 0x3Fu} << 6) |
                 (byte(pos + 2) & 0x3Fu);
        } else if (length == 4) {
            cp = (char32_t{byte(pos) & 0x07u} << 18) | (char32_t{byte(pos + 1) & 0x3Fu} << 12) |
                 (char32_t{byte(pos + 2) & 0x3Fu} << 6) | (byte(pos + 3) & 0x3Fu);
        } else {
            return false;
        }
        return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF);
    }

    size_t skip_letter_like(size_t pos) const {
        while (letter_like(pos)) pos = char_end(pos);
        return pos;
    }
    size_t skip_bytes(size_t pos, uint8_t classes) const {
        while (has(pos, classes)) ++pos;
        return pos;
    }

    size_t whitespace_run_end(size_t start) const {
        size_t pos = start;
        size_t after_last_line_break = 0;
        while (has(pos, kAsciiWhitespace)) {
            if (has(pos, kLineBreak)) after_last_line_break = pos + 1;
            ++pos;
        }
        if (after_last_line_break != 0) return after_last_line_break;
        // A word or punctuation run takes one leading space with it: "   int" ends as "  ", " int".
        if (pos - start > 1 && (letter_like(pos) || has(pos, kAsciiPunct))) return pos - 1;
        return pos;
    }

    size_t piece_end(size_t start) const {
        const uint8_t lead = byte(start);
        const uint8_t lead_classes = kByteClasses[lead];
        if (lead_classes & kAsciiDigit) {
            size_t pos = start + 1;
            while (pos < start + 3 && has(pos, kAsciiDigit)) ++pos;
            return pos;
        }
        if ((lead_classes & kNonAscii) && kana_or_cjk(start)) {
            size_t pos = char_end(start);
            while (pos < size() && byte(pos) >= 0x80 && kana_or_cjk(pos)) pos = char_end(pos);
            return pos;
        }
        if ((lead_classes & kAsciiPunct) && has(start + 1, kAsciiLetter)) {
            return skip_bytes(start + 1, kAsciiLetter);
        }
        if (lead_classes & (kAsciiLetter | kNonAscii)) return skip_letter_like(start);
        if (!(lead_classes & (kLineBreak | kAsciiPunct)) && letter_like(start + 1)) {
            return skip_letter_like(start + 1);
        }
        if (lead == ' ' && has(start + 1, kAsciiPunct)) {
            return skip_bytes(skip_bytes(start + 1, kAsciiPunct), kLineBreak);
        }
        if (lead_classes & kAsciiPunct) {
            return skip_bytes(skip_bytes(start, kAsciiPunct), kLineBreak);
        }
        if (lead_classes & kAsciiWhitespace) return whitespace_run_end(start);
        return char_end(start);
    }

  private:
    std::string_view text_;
};

}  // namespace

size_t pretoken_end(std::string_view text, size_t start) {
    return Scanner(text).piece_end(start);
}

std::vector<std::string_view> split_pretokens(std::string_view text) {
    std::vector<std::string_view> pieces;
    const Scanner scanner(text);
    for (size_t start = 0; start < text.size();) {
        const size_t end = scanner.piece_end(start);
        pieces.push_back(text.substr(start, end - start));
        start = end;
    }
    return pieces;
}

}  // namespace dsv4::tokenizer
