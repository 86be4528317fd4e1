// The DeepSeek V4 tokenizer: byte-level BPE over the GGUF vocabulary and merge list, the "joyai"
// pre-split, and the special tokens that rendered chat text may contain. Owns text <-> id
// conversion only; chat rendering, sampling and the model's use of the ids live elsewhere.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/token_id.h"
#include "engine/tokenizer/tokenizer_error.h"

namespace dsv4::tokenizer {

namespace detail {
struct TokenizerTables;
}

inline constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
inline constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";

// The specials recognised inside rendered chat text, in the order they are tried at each
// position. The vocabulary holds more control tokens (<｜latest_reminder｜>, ...) that the
// reference engine does not recognise; they stay ordinary text here too.
enum class SpecialToken : uint8_t {
    BeginOfSentence,
    EndOfSentence,
    User,
    Assistant,
    ThinkOpen,
    ThinkClose,
    Dsml,
};
inline constexpr size_t kSpecialTokenCount = 7;
std::string_view special_token_text(SpecialToken special);

enum class SpecialTokenMode {
    Recognise,  // rendered chat: the literals above become their ids wherever they occur
    PlainText,  // everything is text, including those literals
};

// Immutable once built; copies share the tables, and every method may run on many threads.
class Tokenizer {
  public:
    // Reads tokenizer.ggml.tokens and tokenizer.ggml.merges. Throws TokenizerError naming the file
    // when a key is missing or mistyped, a merge entry is not "left right", a byte token or one
    // of the recognised specials is absent.
    static Tokenizer from_gguf(const gguf::GgufFile& file);
    // The same from arrays already in memory; source names them in error messages.
    static Tokenizer from_vocab(std::span<const std::string_view> tokens,
                                std::span<const std::string_view> merges,
                                std::string_view source = "<memory>");

    // Byte-exact with the reference engine on every input but two, where it loses bytes and this
    // does not: a NUL byte is ordinary text here (the reference stops at the first one), and a
    // merge result missing from the vocabulary falls back to the tokens of all its bytes (the
    // reference keeps only the bytes 0x21-0x7E). decode(encode(x)) == x for any bytes x.
    std::vector<TokenId> encode(std::string_view text, SpecialTokenMode mode) const;
    void encode_append(std::string_view text, SpecialTokenMode mode,
                       std::vector<TokenId>& out) const;

    // The bytes a token stands for (specials: their literal text). TokenizerError when id is
    // outside the vocabulary.
    std::string_view token_text(TokenId id) const;
    // The vocabulary entry as stored in the GGUF (byte symbols for ordinary tokens).
    std::string_view token_string(TokenId id) const;
    // Concatenated bytes of the tokens; may end inside a UTF-8 sequence (see StreamDetokenizer).
    std::string decode(std::span<const TokenId> ids) const;

    std::optional<TokenId> find_token(std::string_view token_string) const;
    TokenId special_id(SpecialToken special) const;
    TokenId bos() const { return special_id(SpecialToken::BeginOfSentence); }
    TokenId eos() const { return special_id(SpecialToken::EndOfSentence); }
    // True for the ids of the recognised specials.
    bool is_special(TokenId id) const;
    bool contains(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < vocab_size(); }

    size_t vocab_size() const;
    size_t merge_count() const;

  private:
    explicit Tokenizer(std::shared_ptr<const detail::TokenizerTables> tables)
        : tables_(std::move(tables)) {}

    std::shared_ptr<const detail::TokenizerTables> tables_;
};

}  // namespace dsv4::tokenizer
