// Incremental detokenization for streamed generation: ids go in one at a time and only complete
// UTF-8 characters come out, so no chunk ever ends inside a character. Owns the held-back bytes
// between calls; the token -> bytes mapping itself belongs to Tokenizer.
#pragma once

#include <string>

#include "engine/tokenizer/token_id.h"
#include "engine/tokenizer/tokenizer.h"

namespace dsv4::tokenizer {

// Output is always well-formed UTF-8: byte sequences that cannot become a character (a stray
// continuation byte, an overlong form, a lead byte followed by a non-continuation) are replaced
// by U+FFFD, one per maximal ill-formed subpart, as soon as they are known to be bad. For token
// streams whose bytes are valid UTF-8, the concatenated output equals Tokenizer::decode.
class StreamDetokenizer {
  public:
    // Keeps its own handle on the tokenizer's shared tables.
    explicit StreamDetokenizer(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

    // Appends to out every character completed by id; TokenizerError for an unknown id.
    void feed(TokenId id, std::string& out);
    std::string feed(TokenId id);

    // Appends what is still held back (an unfinished sequence becomes one U+FFFD) and resets.
    void flush(std::string& out);
    std::string flush();

    // Bytes of an unfinished character waiting for the next token (0-3).
    size_t pending_bytes() const { return pending_.size(); }

  private:
    Tokenizer tokenizer_;
    std::string pending_;
};

}  // namespace dsv4::tokenizer
