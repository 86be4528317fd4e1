// Encoding and decoding with a loaded Tokenizer (loading is in tokenizer_load.cpp).
#include "engine/tokenizer/tokenizer.h"

#include <optional>

#include "engine/tokenizer/piece_cache.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer_tables.h"

namespace dsv4::tokenizer {
namespace {

constexpr std::array<std::string_view, kSpecialTokenCount> kSpecialTexts = {
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
    "｜DSML｜",
};

// Every special literal starts with '<' or with the first byte of U+FF5C.
bool may_start_special(char c) {
    return c == '<' || c == '\xEF';
}

std::optional<SpecialToken> special_at(std::string_view text, size_t pos) {
    const std::string_view rest = text.substr(pos);
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        if (rest.starts_with(kSpecialTexts[i])) return static_cast<SpecialToken>(i);
    }
    return std::nullopt;
}

// Working state of one encode call: merge scratch and the memo of pieces seen so far.
class SpanEncoder {
  public:
    explicit SpanEncoder(const detail::TokenizerTables& tables) : tables_(tables) {}

    void encode(std::string_view text, std::vector<TokenId>& out) {
        for (size_t start = 0; start < text.size();) {
            const size_t end = pretoken_end(text, start);
            encode_piece(text.substr(start, end - start), out);
            start = end;
        }
    }

  private:
    void encode_piece(std::string_view piece, std::vector<TokenId>& out) {
        if (piece.size() > PieceCache::kLongestCachedPieceBytes) {
            tables_.merger.encode_piece(piece, scratch_, out);
            return;
        }
        const PieceCache::Lookup cached = cache_.find(piece);
        if (cached.found) {
            out.insert(out.end(), cached.tokens.begin(), cached.tokens.end());
            return;
        }
        const size_t first = out.size();
        tables_.merger.encode_piece(piece, scratch_, out);
        cache_.insert(piece, std::span<const TokenId>(out).subspan(first));
    }

    const detail::TokenizerTables& tables_;
    BpeScratch scratch_;
    PieceCache cache_;
};

}  // namespace

std::string_view special_token_text(SpecialToken special) {
    return kSpecialTexts[static_cast<size_t>(special)];
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, SpecialTokenMode mode) const {
    std::vector<TokenId> ids;
    // Typical text runs at 3-5 bytes per token; one reservation avoids most regrowth.
    ids.reserve(text.size() / 3 + 8);
    encode_append(text, mode, ids);
    return ids;
}

void Tokenizer::encode_append(std::string_view text, SpecialTokenMode mode,
                              std::vector<TokenId>& out) const {
    SpanEncoder encoder(*tables_);
    if (mode == SpecialTokenMode::PlainText) {
        encoder.encode(text, out);
        return;
    }
    size_t span_start = 0;
    for (size_t pos = 0; pos < text.size();) {
        if (!may_start_special(text[pos])) {
            ++pos;
            continue;
        }
        const std::optional<SpecialToken> special = special_at(text, pos);
        if (!special) {
            ++pos;
            continue;
        }
        encoder.encode(text.substr(span_start, pos - span_start), out);
        out.push_back(special_id(*special));
        pos += special_token_text(*special).size();
        span_start = pos;
    }
    encoder.encode(text.substr(span_start), out);
}

std::string_view Tokenizer::token_text(TokenId id) const {
    if (!contains(id)) {
        throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                             std::to_string(vocab_size() - 1) + ")");
    }
    return tables_->token_texts[static_cast<size_t>(id)];
}

std::string_view Tokenizer::token_string(TokenId id) const {
    token_text(id);  // range check with the same message
    return tables_->token_strings[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
    std::string text;
    for (const TokenId id : ids) text.append(token_text(id));
    return text;
}

std::optional<TokenId> Tokenizer::find_token(std::string_view token_string) const {
    const auto it = tables_->ids_by_string.find(token_string);
    if (it == tables_->ids_by_string.end()) return std::nullopt;
    return it->second;
}

TokenId Tokenizer::special_id(SpecialToken special) const {
    return tables_->special_ids[static_cast<size_t>(special)];
}

bool Tokenizer::is_special(TokenId id) const {
    return contains(id) && tables_->is_special[static_cast<size_t>(id)] != 0;
}

size_t Tokenizer::vocab_size() const {
    return tables_->token_strings.size();
}

size_t Tokenizer::merge_count() const {
    return tables_->merge_count;
}

}  // namespace dsv4::tokenizer
