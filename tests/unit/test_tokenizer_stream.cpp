// Strict UTF-8 classification and the streaming detokenizer: chunks never end inside a character,
// their concatenation is the decoded text, and ill-formed bytes become U+FFFD.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_symbols.h"
#include "engine/tokenizer/stream_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace dsv4::tokenizer {
namespace {

// Well-formedness by decoding the code point and checking it against the definition: shortest
// form, no surrogate, at most U+10FFFF. Independent of the table-driven reader under test.
bool reference_well_formed(const std::vector<uint8_t>& bytes) {
    const uint8_t lead = bytes[0];
    size_t length = 0;
    uint32_t cp = 0;
    if (lead < 0x80) {
        length = 1;
        cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
        length = 2;
        cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3;
        cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4;
        cp = lead & 0x07u;
    } else {
        return false;
    }
    if (bytes.size() != length) return false;
    for (size_t i = 1; i < length; ++i) {
        if ((bytes[i] & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (bytes[i] & 0x3Fu);
    }
    const uint32_t shortest_min[] = {0, 0, 0x80, 0x800, 0x10000};
    return cp >= shortest_min[length] && !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
}

std::string as_string(const std::vector<uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

TEST(TokenizerUtf8, AgreesWithTheDefinitionOnEverySequenceUpToThreeBytes) {
    std::vector<uint8_t> bytes;
    for (uint32_t value = 0; value < (1u << 24); ++value) {
        const uint8_t b0 = static_cast<uint8_t>(value >> 16);
        const uint8_t b1 = static_cast<uint8_t>(value >> 8);
        const uint8_t b2 = static_cast<uint8_t>(value);
        // One- and two-byte sequences are covered by the rows whose later bytes are zero.
        for (size_t length = 1; length <= 3; ++length) {
            if ((length < 3 && b2 != 0) || (length < 2 && b1 != 0)) continue;
            bytes.assign({b0, b1, b2});
            bytes.resize(length);
            const bool expected = reference_well_formed(bytes);
            const std::string text = as_string(bytes);
            const Utf8Step step = read_utf8_step(text, 0);
            const bool got = step.status == Utf8Status::Complete && step.length == length;
            if (got != expected) {
                FAIL() << "bytes " << std::hex << value << " length " << length;
            }
        }
    }
}

TEST(TokenizerUtf8, AgreesWithTheDefinitionOnRandomFourByteSequences) {
    std::mt19937 rng(3);
    for (int round = 0; round < 2'000'000; ++round) {
        const uint32_t value = rng();
        std::vector<uint8_t> bytes = {
            static_cast<uint8_t>(0xF0 | (value >> 29)), static_cast<uint8_t>(value >> 16),
            static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
        // Bias the continuation bytes into 80..BF most of the time.
        for (size_t i = 1; i < 4; ++i) {
            if (rng() % 4 != 0) bytes[i] = static_cast<uint8_t>(0x80 | (bytes[i] & 0x3F));
        }
        const Utf8Step step = read_utf8_step(as_string(bytes), 0);
        const bool got = step.status == Utf8Status::Complete && step.length == 4;
        ASSERT_EQ(got, reference_well_formed(bytes)) << std::hex << value;
    }
}

TEST(TokenizerUtf8, ReportsCutSequencesAndMaximalSubparts) {
    EXPECT_EQ(read_utf8_step("\xE4\xB8", 0).status, Utf8Status::Incomplete);
    EXPECT_EQ(read_utf8_step("\xE4\xB8", 0).length, 2u);
    EXPECT_EQ(read_utf8_step("\xF0\x9F\x98", 0).status, Utf8Status::Incomplete);
    // E0 80 can never be completed (overlong): the lead alone is the bad subpart.
    EXPECT_EQ(read_utf8_step("\xE0\x80", 0).status, Utf8Status::Invalid);
    EXPECT_EQ(read_utf8_step("\xE0\x80", 0).length, 1u);
    // F0 9F 41: two good bytes then an ASCII letter.
    EXPECT_EQ(read_utf8_step("\xF0\x9F\x41", 0).status, Utf8Status::Invalid);
    EXPECT_EQ(read_utf8_step("\xF0\x9F\x41", 0).length, 2u);
}

TEST(TokenizerUtf8, ReplacesEachMaximalSubpartOnce) {
    const auto replaced = [](std::string_view bytes) {
        std::string out;
        const size_t held = append_complete_utf8(bytes, out);
        return std::make_pair(out, held);
    };
    const std::string fffd(kReplacementCharacterUtf8);
    EXPECT_EQ(replaced("a\x80"
                       "b"),
              std::make_pair("a" + fffd + "b", size_t{0}));
    EXPECT_EQ(replaced("\xC0\x80"), std::make_pair(fffd + fffd, size_t{0}));
    EXPECT_EQ(replaced("\xED\xA0\x80"), std::make_pair(fffd + fffd + fffd, size_t{0}));
    EXPECT_EQ(replaced("\xF0\x9F\x41"), std::make_pair(fffd + "A", size_t{0}));
    EXPECT_EQ(replaced("x\xF0\x9F\x98"), std::make_pair(std::string("x"), size_t{3}));
    EXPECT_EQ(replaced("\xE4\xB8\xAD"), std::make_pair(std::string("\xE4\xB8\xAD"), size_t{0}));
}

// A vocabulary whose tokens are exactly the given raw chunks (plus what every vocabulary needs).
Tokenizer chunk_vocabulary(const std::set<std::string>& chunks) {
    std::vector<std::string> tokens;
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        tokens.emplace_back(special_token_text(static_cast<SpecialToken>(i)));
    }
    for (int byte = 0; byte < 256; ++byte) {
        tokens.push_back(encode_byte_symbols(std::string(1, static_cast<char>(byte))));
    }
    for (const std::string& chunk : chunks) {
        if (chunk.size() > 1) tokens.push_back(encode_byte_symbols(chunk));
    }
    const std::vector<std::string_view> views(tokens.begin(), tokens.end());
    return Tokenizer::from_vocab(views, {}, "chunks");
}

std::string random_multibyte_text(std::mt19937& rng) {
    static const std::vector<std::string> fragments = {"a",
                                                       " ",
                                                       "\xC3\xA9",
                                                       "\xE4\xB8\xAD",
                                                       "\xE6\x96\x87",
                                                       "\xF0\x9F\x98\x80",
                                                       "e\xCC\x81",
                                                       "\xE2\x80\x8D",
                                                       "\xF0\x9F\x91\xA9",
                                                       "\xD0\x96",
                                                       "\n",
                                                       "\x01"};
    std::string text;
    const size_t count = rng() % 40 + 1;
    for (size_t i = 0; i < count; ++i) text += fragments[rng() % fragments.size()];
    return text;
}

TEST(TokenizerStreamDetokenizer, RandomSplitsNeverEmitPartialCharacters) {
    std::mt19937 rng(11);
    for (int round = 0; round < 300; ++round) {
        const std::string text = random_multibyte_text(rng);
        std::vector<std::string> chunks;
        for (size_t pos = 0; pos < text.size();) {
            const size_t length = std::min<size_t>(rng() % 5 + 1, text.size() - pos);
            chunks.push_back(text.substr(pos, length));
            pos += length;
        }
        const Tokenizer tokenizer = chunk_vocabulary({chunks.begin(), chunks.end()});
        StreamDetokenizer stream(tokenizer);
        std::string joined;
        for (const std::string& chunk : chunks) {
            const std::string symbols = encode_byte_symbols(chunk);
            const std::optional<TokenId> id = tokenizer.find_token(symbols);
            ASSERT_TRUE(id.has_value());
            const std::string out = stream.feed(*id);
            ASSERT_TRUE(is_valid_utf8(out)) << "chunk ends inside a character";
            ASSERT_LE(stream.pending_bytes(), 3u);
            joined += out;
        }
        EXPECT_EQ(stream.flush(), "");
        EXPECT_EQ(joined, text);
    }
}

TEST(TokenizerStreamDetokenizer, IllFormedBytesBecomeReplacementCharacters) {
    const Tokenizer tokenizer = chunk_vocabulary({});
    const auto byte_id = [&](uint8_t byte) {
        return *tokenizer.find_token(encode_byte_symbols(std::string(1, static_cast<char>(byte))));
    };
    const std::string fffd(kReplacementCharacterUtf8);
    StreamDetokenizer stream(tokenizer);
    EXPECT_EQ(stream.feed(byte_id(0xE4)), "");
    EXPECT_EQ(stream.feed(byte_id('a')), fffd + "a");
    EXPECT_EQ(stream.feed(byte_id(0x80)), fffd);
    EXPECT_EQ(stream.feed(byte_id(0xF0)), "");
    EXPECT_EQ(stream.feed(byte_id(0x9F)), "");
    EXPECT_EQ(stream.pending_bytes(), 2u);
    EXPECT_EQ(stream.flush(), fffd);
    EXPECT_EQ(stream.pending_bytes(), 0u);
    EXPECT_EQ(stream.flush(), "");
    // After a flush the stream starts clean.
    EXPECT_EQ(stream.feed(byte_id(0xC3)), "");
    EXPECT_EQ(stream.feed(byte_id(0xA9)), "\xC3\xA9");
}

TEST(TokenizerStreamDetokenizer, SpecialsComeOutAsTheirLiteralText) {
    const Tokenizer tokenizer = chunk_vocabulary({});
    StreamDetokenizer stream(tokenizer);
    const auto byte_id = [&](uint8_t byte) {
        return *tokenizer.find_token(encode_byte_symbols(std::string(1, static_cast<char>(byte))));
    };
    EXPECT_EQ(stream.feed(byte_id(0xE4)), "");
    // A complete special after a cut sequence: the dangling byte is replaced, then the literal.
    EXPECT_EQ(stream.feed(tokenizer.special_id(SpecialToken::User)),
              std::string(kReplacementCharacterUtf8) + "<｜User｜>");
    EXPECT_THROW(stream.feed(static_cast<TokenId>(tokenizer.vocab_size())), TokenizerError);
}

}  // namespace
}  // namespace dsv4::tokenizer
