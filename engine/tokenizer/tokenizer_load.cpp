// Building a Tokenizer's tables from the GGUF vocabulary and merge list.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/gguf/gguf_error.h"
#include "engine/tokenizer/byte_symbols.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_tables.h"

namespace dsv4::tokenizer {
namespace {

// Tokens whose string contains U+FF5C (the fullwidth bar of <｜User｜>, ｜DSML｜, ...) are
// stored as literal text rather than in byte symbols; no byte-symbol spelling can contain it.
constexpr std::string_view kFullwidthBarUtf8 = "\xEF\xBD\x9C";

std::string quoted(std::string_view text) {
    constexpr size_t kShownBytes = 60;
    std::string out = "\"";
    out.append(text.substr(0, kShownBytes));
    if (text.size() > kShownBytes) out += "...";
    out += '"';
    return out;
}

std::vector<std::string_view> read_string_array(const gguf::GgufFile& file, std::string_view key) {
    std::optional<std::vector<std::string_view>> items;
    try {
        items = file.get_string_array(key);
    } catch (const gguf::GgufError& error) {
        throw TokenizerError(file.name() + ": " + std::string(key) +
                             " must be an array of strings: " + error.what());
    }
    if (!items) {
        throw TokenizerError(file.name() + " has no " + std::string(key) +
                             "; the file carries no tokenizer (is it a DeepSeek V4 model GGUF?)");
    }
    return std::move(*items);
}

void fill_token_tables(std::span<const std::string_view> tokens, std::string_view source,
                       detail::TokenizerTables& tables) {
    if (tokens.empty()) {
        throw TokenizerError(std::string(source) + ": " + std::string(kTokensKey) + " is empty");
    }
    size_t total_bytes = 0;
    for (const std::string_view token : tokens) total_bytes += token.size();
    if (tokens.size() > static_cast<size_t>(std::numeric_limits<TokenId>::max()) ||
        total_bytes > std::numeric_limits<uint32_t>::max() / 2) {
        throw TokenizerError(std::string(source) + ": " + std::string(kTokensKey) +
                             " is too large (" + std::to_string(tokens.size()) + " tokens, " +
                             std::to_string(total_bytes) + " bytes)");
    }
    tables.token_strings.bytes.reserve(total_bytes);
    for (const std::string_view token : tokens) {
        tables.token_strings.push_back(token);
        if (token.find(kFullwidthBarUtf8) != std::string_view::npos) {
            tables.token_texts.push_back(token);
        } else {
            tables.token_texts.push_back(decode_byte_symbols(token));
        }
    }
    // Built only now: the views point into token_strings, whose bytes no longer move.
    tables.ids_by_string.reserve(tokens.size());
    for (size_t id = 0; id < tokens.size(); ++id) {
        tables.ids_by_string[tables.token_strings[id]] = static_cast<TokenId>(id);
    }
}

std::array<TokenId, 256> find_byte_tokens(const detail::TokenizerTables& tables,
                                          std::string_view source) {
    std::array<TokenId, 256> byte_tokens{};
    for (int byte = 0; byte < 256; ++byte) {
        std::string symbol;
        append_byte_symbol(symbol, static_cast<uint8_t>(byte));
        const auto it = tables.ids_by_string.find(symbol);
        if (it == tables.ids_by_string.end()) {
            char hex[8];
            std::snprintf(hex, sizeof(hex), "0x%02X", byte);
            throw TokenizerError(std::string(source) + ": " + std::string(kTokensKey) +
                                 " has no token for byte " + hex + " (spelled " + quoted(symbol) +
                                 "); a byte-level BPE vocabulary needs all 256 byte tokens");
        }
        byte_tokens[byte] = it->second;
    }
    return byte_tokens;
}

// Gives every string a merge rule mentions a symbol id: its token id when the vocabulary has it,
// else a fresh id past the vocabulary.
class SymbolInterner {
  public:
    explicit SymbolInterner(const detail::TokenizerTables& tables)
        : ids_by_string_(tables.ids_by_string),
          next_extra_id_(static_cast<SymbolId>(tables.token_strings.size())) {}

    SymbolId intern(std::string_view text) {
        const auto token = ids_by_string_.find(text);
        if (token != ids_by_string_.end()) return token->second;
        const auto extra = extra_ids_.find(std::string(text));
        if (extra != extra_ids_.end()) return extra->second;
        if (next_extra_id_ == std::numeric_limits<SymbolId>::max()) {
            throw TokenizerError("too many merge results outside the vocabulary");
        }
        extra_ids_.emplace(std::string(text), next_extra_id_);
        return next_extra_id_++;
    }

  private:
    const std::unordered_map<std::string_view, TokenId>& ids_by_string_;
    std::unordered_map<std::string, SymbolId> extra_ids_;
    SymbolId next_extra_id_;
};

std::vector<MergeRule> read_merge_rules(std::span<const std::string_view> merges,
                                        const detail::TokenizerTables& tables,
                                        std::string_view source) {
    SymbolInterner interner(tables);
    std::vector<MergeRule> rules;
    rules.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const std::string_view merge = merges[rank];
        // Symbols never contain a raw space (byte 0x20 is spelled U+0120), so the first space is
        // the separator and a rule whose halves hold more spaces can simply never match.
        const size_t space = merge.find(' ');
        if (space == std::string_view::npos || space == 0 || space + 1 == merge.size()) {
            throw TokenizerError(std::string(source) + ": " + std::string(kMergesKey) + " entry " +
                                 std::to_string(rank) + " " + quoted(merge) +
                                 " is not two symbols separated by one space");
        }
        const std::string_view left = merge.substr(0, space);
        const std::string_view right = merge.substr(space + 1);
        joined.assign(left);
        joined.append(right);
        rules.push_back({interner.intern(left), interner.intern(right), interner.intern(joined)});
    }
    return rules;
}

void find_special_tokens(std::string_view source, detail::TokenizerTables& tables) {
    tables.is_special.assign(tables.token_strings.size(), 0);
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        const std::string_view text = special_token_text(static_cast<SpecialToken>(i));
        const auto it = tables.ids_by_string.find(text);
        if (it == tables.ids_by_string.end()) {
            throw TokenizerError(std::string(source) + ": " + std::string(kTokensKey) +
                                 " lacks the special token " + std::string(text) +
                                 "; this is not a DeepSeek V4 vocabulary");
        }
        tables.special_ids[i] = it->second;
        tables.is_special[static_cast<size_t>(it->second)] = 1;
    }
}

}  // namespace

Tokenizer Tokenizer::from_vocab(std::span<const std::string_view> tokens,
                                std::span<const std::string_view> merges, std::string_view source) {
    auto tables = std::make_shared<detail::TokenizerTables>();
    fill_token_tables(tokens, source, *tables);
    const std::array<TokenId, 256> byte_tokens = find_byte_tokens(*tables, source);
    find_special_tokens(source, *tables);
    const std::vector<MergeRule> rules = read_merge_rules(merges, *tables, source);
    tables->merger = BpeMerger(byte_tokens, rules, static_cast<int32_t>(tokens.size()));
    tables->merge_count = merges.size();
    return Tokenizer(std::move(tables));
}

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& file) {
    const std::vector<std::string_view> tokens = read_string_array(file, kTokensKey);
    const std::vector<std::string_view> merges = read_string_array(file, kMergesKey);
    return from_vocab(tokens, merges, file.name());
}

}  // namespace dsv4::tokenizer
