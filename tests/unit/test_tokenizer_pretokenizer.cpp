// The DSV4 pre-split on hand-made cases, one group per rule, and its invariants on random bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/pretokenizer.h"

namespace dsv4::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view text) {
    Pieces pieces;
    for (const std::string_view piece : split_pretokens(text)) pieces.emplace_back(piece);
    return pieces;
}

TEST(TokenizerPretokenizer, WordsTakeOneLeadingSpace) {
    EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
    EXPECT_EQ(split("\tword"), (Pieces{"\tword"}));
    EXPECT_EQ(split(" x"), (Pieces{" x"}));
}

TEST(TokenizerPretokenizer, ContractionsSplitAtTheApostrophe) {
    EXPECT_EQ(split("don't"), (Pieces{"don", "'t"}));
    EXPECT_EQ(split("I'm"), (Pieces{"I", "'m"}));
    EXPECT_EQ(split("they'll've"), (Pieces{"they", "'ll", "'ve"}));
    EXPECT_EQ(split("rock 'n' roll"), (Pieces{"rock", " '", "n", "'", " roll"}));
}

TEST(TokenizerPretokenizer, DigitsGroupByThreeFromTheLeft) {
    EXPECT_EQ(split("12345"), (Pieces{"123", "45"}));
    EXPECT_EQ(split("1234567"), (Pieces{"123", "456", "7"}));
    EXPECT_EQ(split("abc123def"), (Pieces{"abc", "123", "def"}));
    EXPECT_EQ(split("3.14"), (Pieces{"3", ".", "14"}));
    EXPECT_EQ(split("$100"), (Pieces{"$", "100"}));
    // A space before digits is not taken by them.
    EXPECT_EQ(split("x 42"), (Pieces{"x", " ", "42"}));
    EXPECT_EQ(split("x  42"), (Pieces{"x", "  ", "42"}));
}

TEST(TokenizerPretokenizer, WhitespaceRunsLeaveOneSpaceForTheNextWord) {
    EXPECT_EQ(split("    int"), (Pieces{"   ", " int"}));
    EXPECT_EQ(split("a  b"), (Pieces{"a", " ", " b"}));
    EXPECT_EQ(split("   ("), (Pieces{"  ", " ("}));
    EXPECT_EQ(split("x   "), (Pieces{"x", "   "}));
    EXPECT_EQ(split("x \t"), (Pieces{"x", " \t"}));
    EXPECT_EQ(split("a\v\fb"), (Pieces{"a", "\v", "\fb"}));
    // The kept-back character is the run's last one, whatever it is.
    EXPECT_EQ(split(" \tb"), (Pieces{" ", "\tb"}));
}

TEST(TokenizerPretokenizer, WhitespaceRunsEndAfterTheirLastLineBreak) {
    EXPECT_EQ(split("x\n\ny"), (Pieces{"x", "\n\n", "y"}));
    EXPECT_EQ(split("a\r\nb"), (Pieces{"a", "\r\n", "b"}));
    EXPECT_EQ(split("a \n b"), (Pieces{"a", " \n", " b"}));
    EXPECT_EQ(split("a\n  b"), (Pieces{"a", "\n", " ", " b"}));
    EXPECT_EQ(split("a\n\t\n  \n"), (Pieces{"a", "\n\t\n  \n"}));
}

TEST(TokenizerPretokenizer, PunctuationKeepsFollowingLineBreaks) {
    EXPECT_EQ(split(">;\n"), (Pieces{">;\n"}));
    EXPECT_EQ(split("foo;\n\nbar"), (Pieces{"foo", ";\n\n", "bar"}));
    EXPECT_EQ(split("x !=\ny"), (Pieces{"x", " !=\n", "y"}));
    // Spaces after the line breaks are a new piece.
    EXPECT_EQ(split("{\n  return"), (Pieces{"{\n", " ", " return"}));
}

TEST(TokenizerPretokenizer, PunctuationBeforeLettersJoinsThem) {
    EXPECT_EQ(split(".foo"), (Pieces{".foo"}));
    EXPECT_EQ(split("_bar"), (Pieces{"_bar"}));
    EXPECT_EQ(split("(x)"), (Pieces{"(x", ")"}));
    EXPECT_EQ(split("::std"), (Pieces{"::", "std"}));
    EXPECT_EQ(split("hello, world!"), (Pieces{"hello", ",", " world", "!"}));
    EXPECT_EQ(split("a -> b"), (Pieces{"a", " ->", " b"}));
    EXPECT_EQ(split(" ..."), (Pieces{" ..."}));
    // Only ASCII letters join a punctuation byte.
    EXPECT_EQ(split("(\xC3\xA9)"), (Pieces{"(", "\xC3\xA9", ")"}));
}

TEST(TokenizerPretokenizer, CjkAndKanaRunsStandAlone) {
    EXPECT_EQ(split("你好世界"), (Pieces{"你好世界"}));
    EXPECT_EQ(split("日本語のテキスト"), (Pieces{"日本語のテキスト"}));
    EXPECT_EQ(split("中文abc"), (Pieces{"中文", "abc"}));
    // Inside a letter run CJK is just another non-ASCII character.
    EXPECT_EQ(split("abc中文"), (Pieces{"abc中文"}));
    EXPECT_EQ(split(" 中文"), (Pieces{" 中文"}));
    // U+FF0C (fullwidth comma) is outside the CJK ranges: it starts a letter-like run.
    EXPECT_EQ(split("中文，好"), (Pieces{"中文", "，好"}));
    // U+9FA6 is just past the range the reference treats as CJK.
    EXPECT_EQ(split("\xE9\xBE\xA6中"), (Pieces{"\xE9\xBE\xA6中"}));
}

TEST(TokenizerPretokenizer, NonAsciiCountsAsLetters) {
    EXPECT_EQ(split("café au lait"), (Pieces{"café", " au", " lait"}));
    EXPECT_EQ(split("naïve—word"), (Pieces{"naïve—word"}));
    EXPECT_EQ(split("hi 😀!"), (Pieces{"hi", " 😀", "!"}));
    EXPECT_EQ(split("e\xCC\x81t\xC3\xA9"), (Pieces{"e\xCC\x81t\xC3\xA9"}));  // combining acute
}

TEST(TokenizerPretokenizer, ControlBytesStandAloneUnlessALetterFollows) {
    EXPECT_EQ(split(std::string_view("\x01\x02"
                                     "a")),
              (Pieces{"\x01",
                      "\x02"
                      "a"}));
    EXPECT_EQ(split(std::string_view("a\0b", 3)), (Pieces{"a", std::string("\0b", 2)}));
    EXPECT_EQ(split("\x7F"), (Pieces{"\x7F"}));
}

TEST(TokenizerPretokenizer, IllFormedUtf8IsSteppedByItsLeadByte) {
    // A lead byte cut by the end of the text is one byte.
    EXPECT_EQ(split("a\xE4"), (Pieces{"a\xE4"}));
    // Continuation bytes are not checked, so E4 38 80 reads as U+4E00 and swallows the '8'.
    EXPECT_EQ(split("\xE4\x38\x80x"), (Pieces{"\xE4\x38\x80", "x"}));
    // A stray continuation byte is letter-like.
    EXPECT_EQ(split("\x80x y"), (Pieces{"\x80x", " y"}));
}

TEST(TokenizerPretokenizer, PiecesCoverRandomBytesExactly) {
    std::mt19937 rng(20240611);
    const std::string alphabet = std::string("aZ09 \t\n\r.,'(_") + "\xC3\xA9\xE4\xB8\xAD\xF0\x9F";
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        const size_t length = rng() % 40 + 1;
        for (size_t i = 0; i < length; ++i) {
            text += (rng() % 8 == 0) ? static_cast<char>(rng() % 256)
                                     : alphabet[rng() % alphabet.size()];
        }
        std::string joined;
        for (const std::string_view piece : split_pretokens(text)) {
            ASSERT_FALSE(piece.empty());
            joined.append(piece);
        }
        ASSERT_EQ(joined, text);
    }
}

}  // namespace
}  // namespace dsv4::tokenizer
