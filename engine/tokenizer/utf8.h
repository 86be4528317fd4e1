// Strict UTF-8 reading for text that leaves the engine: which bytes form complete well-formed
// characters, which are a sequence cut short by the end of the buffer, and which can never be
// completed. Owns validation and the U+FFFD policy; the tokenizer's lenient scanning is elsewhere.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsv4::tokenizer {

enum class Utf8Status {
    Complete,    // a well-formed character of `length` bytes
    Incomplete,  // the `length` bytes left are a valid start that the buffer's end cuts short
    Invalid,     // `length` bytes (the maximal ill-formed subpart) that no byte can complete
};

struct Utf8Step {
    Utf8Status status;
    size_t length;  // always >= 1
};

// Classifies the bytes at pos (pos < bytes.size()) by the well-formed sequences of Unicode's
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF.
Utf8Step read_utf8_step(std::string_view bytes, size_t pos);

bool is_valid_utf8(std::string_view bytes);

inline constexpr std::string_view kReplacementCharacterUtf8 = "\xEF\xBF\xBD";  // U+FFFD

// Appends the complete characters of bytes to out and returns how many bytes at the end are an
// incomplete sequence that was held back. Each maximal ill-formed subpart becomes one U+FFFD,
// the substitution Unicode recommends (and WHATWG encoders use).
size_t append_complete_utf8(std::string_view bytes, std::string& out);

}  // namespace dsv4::tokenizer
