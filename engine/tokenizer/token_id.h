// The integer type of vocabulary ids, shared by the tokenizer, the detokenizer and their callers.
// Owns nothing else; ids are indices into tokenizer.ggml.tokens.
#pragma once

#include <cstdint>

namespace dsv4::tokenizer {

using TokenId = int32_t;

}  // namespace dsv4::tokenizer
