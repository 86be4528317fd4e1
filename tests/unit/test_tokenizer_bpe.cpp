// BPE merging and encoding against a literal string-based reading of the spec, special-token
// handling, byte round trips and the errors for unusable vocabularies.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/byte_symbols.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::tokenizer {
namespace {

// A vocabulary laid out like the real one: BOS, EOS, the 256 byte tokens, merged tokens, then
// the other specials.
struct VocabSpec {
    std::vector<std::string> tokens;
    std::vector<std::string> merges;

    VocabSpec() {
        tokens.emplace_back(special_token_text(SpecialToken::BeginOfSentence));
        tokens.emplace_back(special_token_text(SpecialToken::EndOfSentence));
        for (int byte = 0; byte < 256; ++byte) {
            tokens.push_back(encode_byte_symbols(std::string(1, static_cast<char>(byte))));
        }
    }
    // left and right in raw bytes; the merged token is added unless add_token is false.
    void add_merge(const std::string& left, const std::string& right, bool add_token = true) {
        merges.push_back(encode_byte_symbols(left) + " " + encode_byte_symbols(right));
        if (add_token) tokens.push_back(encode_byte_symbols(left + right));
    }
    Tokenizer build() const {
        std::vector<std::string> all = tokens;
        for (size_t i = 2; i < kSpecialTokenCount; ++i) {
            all.emplace_back(special_token_text(static_cast<SpecialToken>(i)));
        }
        const std::vector<std::string_view> token_views(all.begin(), all.end());
        const std::vector<std::string_view> merge_views(merges.begin(), merges.end());
        return Tokenizer::from_vocab(token_views, merge_views, "test-vocab");
    }
    TokenId id_of(const std::string& raw) const {
        const std::string symbols = encode_byte_symbols(raw);
        for (size_t i = tokens.size(); i-- > 0;) {
            if (tokens[i] == symbols) return static_cast<TokenId>(i);
        }
        ADD_FAILURE() << "no token for " << raw;
        return -1;
    }
};

// The spec taken literally: symbols are strings, a pair merges when "left right" is in the
// merge list (the later entry wins for repeats), lowest rank first and leftmost on ties; a
// symbol without a token falls back to the tokens of its bytes.
std::vector<TokenId> reference_encode(const VocabSpec& vocab, std::string_view text) {
    std::map<std::string, int> rank_of;
    for (size_t i = 0; i < vocab.merges.size(); ++i) rank_of[vocab.merges[i]] = static_cast<int>(i);
    std::map<std::string, TokenId> id_of;
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        id_of[vocab.tokens[i]] = static_cast<TokenId>(i);
    }
    std::vector<TokenId> ids;
    for (const std::string_view piece : split_pretokens(text)) {
        std::vector<std::string> symbols;
        std::vector<std::string> raw;
        for (const char c : piece) {
            symbols.push_back(encode_byte_symbols(std::string(1, c)));
            raw.emplace_back(1, c);
        }
        for (;;) {
            int best_rank = INT32_MAX;
            size_t best = 0;
            for (size_t i = 0; i + 1 < symbols.size(); ++i) {
                const auto it = rank_of.find(symbols[i] + " " + symbols[i + 1]);
                if (it != rank_of.end() && it->second < best_rank) {
                    best_rank = it->second;
                    best = i;
                }
            }
            if (best_rank == INT32_MAX) break;
            symbols[best] += symbols[best + 1];
            raw[best] += raw[best + 1];
            symbols.erase(symbols.begin() + static_cast<ptrdiff_t>(best) + 1);
            raw.erase(raw.begin() + static_cast<ptrdiff_t>(best) + 1);
        }
        for (size_t i = 0; i < symbols.size(); ++i) {
            const auto it = id_of.find(symbols[i]);
            if (it != id_of.end()) {
                ids.push_back(it->second);
                continue;
            }
            for (const char c : raw[i])
                ids.push_back(id_of.at(encode_byte_symbols(std::string(1, c))));
        }
    }
    return ids;
}

TEST(TokenizerBpe, LowestRankMergesFirst) {
    VocabSpec vocab;
    vocab.add_merge("b", "c");
    vocab.add_merge("a", "b");
    const Tokenizer tokenizer = vocab.build();
    EXPECT_EQ(tokenizer.encode("abc", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("a"), vocab.id_of("bc")}));
    EXPECT_EQ(tokenizer.encode("abd", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("ab"), vocab.id_of("d")}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
    VocabSpec vocab;
    vocab.add_merge("a", "a");
    const Tokenizer tokenizer = vocab.build();
    EXPECT_EQ(tokenizer.encode("aaa", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("aa"), vocab.id_of("a")}));
}

TEST(TokenizerBpe, RepeatedMergeAndTokenEntriesTakeTheLastOne) {
    VocabSpec vocab;
    vocab.add_merge("a", "b");
    vocab.add_merge("b", "c");
    vocab.add_merge("a", "b", false);  // "a b" now ranks after "b c"
    vocab.tokens.push_back(encode_byte_symbols("ab"));
    const Tokenizer tokenizer = vocab.build();
    EXPECT_EQ(tokenizer.encode("abc", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("a"), vocab.id_of("bc")}));
    const TokenId later_ab = static_cast<TokenId>(vocab.tokens.size() - 1);
    EXPECT_EQ(tokenizer.encode("abd", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{later_ab, vocab.id_of("d")}));
}

TEST(TokenizerBpe, MergeResultsOutsideTheVocabularyStillMergeFurther) {
    VocabSpec vocab;
    vocab.add_merge("x", "y", false);
    vocab.add_merge("xy", "z");
    const Tokenizer tokenizer = vocab.build();
    EXPECT_EQ(tokenizer.encode("xyz", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("xyz")}));
    // "xy" alone has no token: its bytes come out instead.
    EXPECT_EQ(tokenizer.encode("xy", SpecialTokenMode::PlainText),
              (std::vector<TokenId>{vocab.id_of("x"), vocab.id_of("y")}));
}

// Random merge lists over a small alphabet so that many merges interact, long letter runs
// (which take the heap path) and many repeated pieces (which take the cache).
TEST(TokenizerBpe, MatchesLiteralReferenceOnRandomVocabularies) {
    std::mt19937 rng(7);
    const std::vector<std::string> alphabet = {"a", "b", "c", " ", "\xC3\xA9", "1", ".", "\n"};
    for (int vocab_round = 0; vocab_round < 20; ++vocab_round) {
        VocabSpec vocab;
        std::vector<std::string> symbols = alphabet;
        std::set<std::string> merged;
        for (int i = 0; i < 120; ++i) {
            const std::string& left = symbols[rng() % symbols.size()];
            const std::string& right = symbols[rng() % symbols.size()];
            const std::string joined = left + right;
            if (joined.size() > 12) continue;
            const bool add_token = rng() % 5 != 0 && !merged.count(joined);
            vocab.add_merge(left, right, add_token);
            if (merged.insert(joined).second) symbols.push_back(joined);
        }
        const Tokenizer tokenizer = vocab.build();
        for (int text_round = 0; text_round < 30; ++text_round) {
            std::string text;
            const size_t length = rng() % 300;
            for (size_t i = 0; i < length; ++i) {
                // Few separators, so that letter runs grow long.
                text += rng() % 10 == 0 ? alphabet[rng() % alphabet.size()] : alphabet[rng() % 3];
            }
            SCOPED_TRACE("vocab round " + std::to_string(vocab_round) + ", text \"" + text + "\"");
            const std::vector<TokenId> ids = tokenizer.encode(text, SpecialTokenMode::PlainText);
            ASSERT_EQ(ids, reference_encode(vocab, text));
            ASSERT_EQ(tokenizer.decode(ids), text);
        }
    }
}

TEST(TokenizerBpe, SpecialsAreRecognisedOnlyOnRequest) {
    VocabSpec vocab;
    vocab.add_merge("h", "i");
    const Tokenizer tokenizer = vocab.build();
    const TokenId think = tokenizer.special_id(SpecialToken::ThinkOpen);
    const TokenId user = tokenizer.special_id(SpecialToken::User);
    EXPECT_EQ(tokenizer.encode("<think>hi", SpecialTokenMode::Recognise),
              (std::vector<TokenId>{think, vocab.id_of("hi")}));
    EXPECT_EQ(tokenizer.encode("hi<｜User｜>hi", SpecialTokenMode::Recognise),
              (std::vector<TokenId>{vocab.id_of("hi"), user, vocab.id_of("hi")}));

    const std::vector<TokenId> plain = tokenizer.encode("<think>", SpecialTokenMode::PlainText);
    EXPECT_EQ(plain, (std::vector<TokenId>{vocab.id_of("<"), vocab.id_of("t"), vocab.id_of("hi"),
                                           vocab.id_of("n"), vocab.id_of("k"), vocab.id_of(">")}));
    EXPECT_EQ(tokenizer.decode(plain), "<think>");
    for (const TokenId id : plain) EXPECT_FALSE(tokenizer.is_special(id));

    // A cut-off literal is text.
    const std::string partial = "<｜Use";
    EXPECT_EQ(tokenizer.encode(partial, SpecialTokenMode::Recognise),
              tokenizer.encode(partial, SpecialTokenMode::PlainText));
    // Every recognised literal round-trips through its id.
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        const auto special = static_cast<SpecialToken>(i);
        const std::string text = "a" + std::string(special_token_text(special)) + "b";
        const std::vector<TokenId> ids = tokenizer.encode(text, SpecialTokenMode::Recognise);
        ASSERT_EQ(ids.size(), 3u) << text;
        EXPECT_EQ(ids[1], tokenizer.special_id(special));
        EXPECT_TRUE(tokenizer.is_special(ids[1]));
        EXPECT_EQ(tokenizer.decode(ids), text);
    }
    EXPECT_EQ(tokenizer.bos(), 0);
    EXPECT_EQ(tokenizer.eos(), 1);
}

TEST(TokenizerBpe, SpecialLiteralsSplitWordsAndPieces) {
    VocabSpec vocab;
    vocab.add_merge("a", "b");
    const Tokenizer tokenizer = vocab.build();
    const TokenId dsml = tokenizer.special_id(SpecialToken::Dsml);
    // Without the scan "ab｜DSML｜ab" would be one letter run.
    EXPECT_EQ(tokenizer.encode("ab｜DSML｜ab", SpecialTokenMode::Recognise),
              (std::vector<TokenId>{vocab.id_of("ab"), dsml, vocab.id_of("ab")}));
    EXPECT_EQ(tokenizer.encode("</｜DSML｜", SpecialTokenMode::Recognise),
              (std::vector<TokenId>{vocab.id_of("<"), vocab.id_of("/"), dsml}));
}

std::string random_text(std::mt19937& rng) {
    static const std::vector<std::string> fragments = {
        "hello",
        " world",
        "\xF0\x9F\x98\x80",
        "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB",
        "中文",
        "日本語",
        "e\xCC\x81",
        "\xE2\x80\x94",
        "\t",
        "\n",
        "\r\n",
        "  ",
        "123",
        "{}();",
        "\x01",
        std::string(1, '\0'),
        "\x7F",
        "\xFF",
        "\xC3",
        "caf\xC3\xA9",
        "'s",
        "｜",
        "\xEF\xBD\x9C\xE2\x96\x81"};
    std::string text;
    const size_t count = rng() % 30;
    for (size_t i = 0; i < count; ++i) text += fragments[rng() % fragments.size()];
    return text;
}

class TokenizerGoldenVocab : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const gguf::GgufFile file =
            gguf::GgufFile::open(test::golden_dir() + "/dsv4-tiny-s1-q4k.gguf");
        tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(file));
    }
    static void TearDownTestSuite() { tokenizer_.reset(); }
    static std::unique_ptr<Tokenizer> tokenizer_;
};

std::unique_ptr<Tokenizer> TokenizerGoldenVocab::tokenizer_;

TEST_F(TokenizerGoldenVocab, RandomTextRoundTrips) {
    std::mt19937 rng(99);
    for (int round = 0; round < 3000; ++round) {
        const std::string text = random_text(rng);
        SCOPED_TRACE(text);
        ASSERT_EQ(tokenizer_->decode(tokenizer_->encode(text, SpecialTokenMode::PlainText)), text);
        ASSERT_EQ(tokenizer_->decode(tokenizer_->encode(text, SpecialTokenMode::Recognise)), text);
    }
}

TEST_F(TokenizerGoldenVocab, CacheDoesNotChangeResults) {
    // Encoding pieces one by one (fresh cache each time) equals encoding the whole text.
    std::mt19937 rng(5);
    for (int round = 0; round < 200; ++round) {
        std::string text;
        for (int i = 0; i < 20; ++i) text += random_text(rng);
        std::vector<TokenId> one_by_one;
        for (const std::string_view piece : split_pretokens(text)) {
            tokenizer_->encode_append(piece, SpecialTokenMode::PlainText, one_by_one);
        }
        ASSERT_EQ(tokenizer_->encode(text, SpecialTokenMode::PlainText), one_by_one);
    }
}

TEST_F(TokenizerGoldenVocab, TokenTextOfUnknownIdsThrows) {
    const auto size = static_cast<TokenId>(tokenizer_->vocab_size());
    EXPECT_THROW(tokenizer_->token_text(size), TokenizerError);
    EXPECT_THROW(tokenizer_->token_text(-1), TokenizerError);
    EXPECT_THROW(tokenizer_->decode(std::vector<TokenId>{1, size}), TokenizerError);
    EXPECT_FALSE(tokenizer_->is_special(-1));
    EXPECT_FALSE(tokenizer_->is_special(size));
    EXPECT_EQ(tokenizer_->token_text(size - 1), tokenizer_->token_string(size - 1));
    // Byte tokens decode to their byte.
    EXPECT_EQ(tokenizer_->token_text(*tokenizer_->find_token("\xC4\x8A")), "\n");  // U+010A
}

// ---- vocabularies that cannot be used ----

std::string load_error(const gguf::GgufWriter& writer) {
    const gguf::GgufFile file = gguf::GgufFile::from_owned_bytes(writer.to_bytes(), "bad.gguf");
    try {
        Tokenizer::from_gguf(file);
    } catch (const TokenizerError& error) {
        return error.what();
    }
    return "(loaded without error)";
}

void add_vocab(gguf::GgufWriter& writer, const VocabSpec& vocab) {
    std::vector<std::string> all = vocab.tokens;
    for (size_t i = 2; i < kSpecialTokenCount; ++i) {
        all.emplace_back(special_token_text(static_cast<SpecialToken>(i)));
    }
    writer.add_string_array(kTokensKey, all);
    writer.add_string_array(kMergesKey, vocab.merges);
}

TEST(TokenizerLoad, AWellFormedVocabularyLoads) {
    VocabSpec vocab;
    vocab.add_merge("a", "b");
    gguf::GgufWriter writer;
    add_vocab(writer, vocab);
    EXPECT_EQ(load_error(writer), "(loaded without error)");
}

TEST(TokenizerLoad, MissingKeysAreNamed) {
    gguf::GgufWriter no_tokens;
    no_tokens.add_string_array(kMergesKey, std::vector<std::string>{});
    EXPECT_NE(load_error(no_tokens).find("bad.gguf has no tokenizer.ggml.tokens"),
              std::string::npos)
        << load_error(no_tokens);

    gguf::GgufWriter no_merges;
    no_merges.add_string_array(kTokensKey, VocabSpec().tokens);
    EXPECT_NE(load_error(no_merges).find("no tokenizer.ggml.merges"), std::string::npos)
        << load_error(no_merges);
}

TEST(TokenizerLoad, MistypedTokensAreReported) {
    gguf::GgufWriter writer;
    const std::vector<uint32_t> numbers = {1, 2, 3};
    writer.add_array(kTokensKey, std::span<const uint32_t>(numbers));
    writer.add_string_array(kMergesKey, std::vector<std::string>{});
    const std::string error = load_error(writer);
    EXPECT_NE(error.find("tokenizer.ggml.tokens must be an array of strings"), std::string::npos)
        << error;
}

TEST(TokenizerLoad, EmptyVocabularyIsReported) {
    gguf::GgufWriter writer;
    writer.add_string_array(kTokensKey, std::vector<std::string>{});
    writer.add_string_array(kMergesKey, std::vector<std::string>{});
    EXPECT_NE(load_error(writer).find("is empty"), std::string::npos) << load_error(writer);
}

TEST(TokenizerLoad, MergeWithoutSeparatorIsReported) {
    VocabSpec vocab;
    vocab.add_merge("a", "b");
    vocab.merges.push_back("abc");
    gguf::GgufWriter writer;
    add_vocab(writer, vocab);
    const std::string error = load_error(writer);
    EXPECT_NE(error.find("tokenizer.ggml.merges entry 1 \"abc\""), std::string::npos) << error;
}

TEST(TokenizerLoad, MissingByteTokenIsReported) {
    VocabSpec vocab;
    vocab.tokens[2 + '\n'] = "placeholder";
    gguf::GgufWriter writer;
    add_vocab(writer, vocab);
    const std::string error = load_error(writer);
    EXPECT_NE(error.find("no token for byte 0x0A"), std::string::npos) << error;
}

TEST(TokenizerLoad, MissingSpecialIsReported) {
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        const std::string_view special = special_token_text(static_cast<SpecialToken>(i));
        VocabSpec vocab;
        std::vector<std::string> all = vocab.tokens;
        for (size_t j = 2; j < kSpecialTokenCount; ++j) {
            all.emplace_back(special_token_text(static_cast<SpecialToken>(j)));
        }
        std::erase(all, std::string(special));
        gguf::GgufWriter writer;
        writer.add_string_array(kTokensKey, all);
        writer.add_string_array(kMergesKey, vocab.merges);
        const std::string error = load_error(writer);
        EXPECT_NE(error.find("lacks the special token " + std::string(special)), std::string::npos)
            << error;
    }
}

}  // namespace
}  // namespace dsv4::tokenizer
