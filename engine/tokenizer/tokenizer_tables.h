// The tables behind a Tokenizer, shared by its loader (tokenizer_load.cpp) and its encode and
// decode paths (tokenizer.cpp). Private to the tokenizer module: nothing outside it includes this.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/bpe_merger.h"
#include "engine/tokenizer/tokenizer.h"

namespace dsv4::tokenizer::detail {

// Strings laid end to end with their start offsets (one more offset than strings).
struct StringTable {
    std::string bytes;
    std::vector<uint32_t> offsets{0};

    void push_back(std::string_view text) {
        bytes.append(text);
        offsets.push_back(static_cast<uint32_t>(bytes.size()));
    }
    size_t size() const { return offsets.size() - 1; }
    std::string_view operator[](size_t i) const {
        return std::string_view(bytes).substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
};

struct TokenizerTables {
    StringTable token_strings;  // as stored in the GGUF
    StringTable token_texts;    // the bytes each token stands for
    // Views into token_strings; a string listed twice maps to its last id.
    std::unordered_map<std::string_view, TokenId> ids_by_string;
    std::array<TokenId, kSpecialTokenCount> special_ids{};
    std::vector<uint8_t> is_special;  // per id
    BpeMerger merger;
    size_t merge_count = 0;
};

}  // namespace dsv4::tokenizer::detail
