// The GPT-2 byte-level alphabet: every byte value stands for one printable code point so that
// vocabulary strings and merges never contain raw control bytes or spaces. Owns that bijection
// and the decoding of vocabulary strings back to bytes; knows nothing about merges or splitting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsv4::tokenizer {

// Bytes 33-126, 161-172 and 174-255 stand for themselves; the 68 others take the code points
// from U+0100 upward in increasing byte order.
char32_t byte_to_symbol_codepoint(uint8_t byte);
// The byte a symbol code point stands for, or -1 when the code point is outside the alphabet.
int symbol_codepoint_to_byte(char32_t codepoint);

// Appends the UTF-8 encoding of the symbol that stands for byte.
void append_byte_symbol(std::string& out, uint8_t byte);
// The vocabulary spelling of raw bytes: one symbol per byte.
std::string encode_byte_symbols(std::string_view bytes);

// The bytes a vocabulary string stands for. Code points outside the alphabet are dropped, and a
// byte that does not start a complete UTF-8 sequence is read as the code point of the same value,
// so that even a damaged vocabulary string decodes to something rather than failing.
std::string decode_byte_symbols(std::string_view symbols);

}  // namespace dsv4::tokenizer
