// The DeepSeek V4 ("joyai-llm") pre-tokenizer: cuts text into the pieces that BPE then merges
// independently. Owns the split rules only, as the reference engine applies them (a hand scanner
// over bytes, no regex engine); it never looks at the vocabulary and never sees special tokens.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace dsv4::tokenizer {

// End of the piece that starts at start (start < text.size()); always > start. The first rule
// that applies at start decides:
//  1. 1-3 ASCII digits;
//  2. a run of CJK ideographs U+4E00-U+9FA5, hiragana or katakana;
//  3. one ASCII punctuation/symbol byte followed by ASCII letters: both together;
//  4. a run of "letter-like" characters: ASCII letters and every non-ASCII character;
//  5. one byte that is neither a line break nor ASCII punctuation, followed by letter-like
//     characters: that byte and the run (" word", "\tword");
//  6. a space followed by ASCII punctuation: space, punctuation run, following \r/\n run;
//  7. an ASCII punctuation run and the \r/\n run after it;
//  8. an ASCII whitespace run: up to its last line break if it holds one; else without its last
//     character when it is longer than one and a letter-like or punctuation character follows;
//     else all of it;
//  9. one character.
// Characters are stepped by the length their first byte announces (one byte when that runs past
// the end), without validating continuation bytes, exactly as the reference scanner does.
size_t pretoken_end(std::string_view text, size_t start);

// Every piece of text in order; their concatenation is text.
std::vector<std::string_view> split_pretokens(std::string_view text);

}  // namespace dsv4::tokenizer
