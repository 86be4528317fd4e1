// Stop conditions: token budget, end-of-sequence ids, stop strings across token boundaries,
// several and prefix-related stop strings, how much text is held back while a stop string may
// still complete, and UTF-8 characters that must not be streamed half-finished.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/sampler/stop_conditions.h"

namespace dsv4::sampler {
namespace {

constexpr tokenizer::TokenId kEos = 1;
constexpr tokenizer::TokenId kText = 100;  // any id that is not an end-of-sequence id

StopRules rules(int max_tokens, std::vector<std::string> stops) {
    StopRules r;
    r.max_tokens = max_tokens;
    r.end_of_sequence_ids = {kEos};
    r.stop_strings = std::move(stops);
    return r;
}

// Feeds pieces until one finishes generation; returns everything streamed.
std::string feed_all(StopConditions& stop, const std::vector<std::string>& pieces) {
    std::string streamed;
    for (const std::string& piece : pieces) {
        stop.accept(kText, piece);
        streamed += stop.take_streamable();
        if (stop.finished()) break;
    }
    return streamed;
}

TEST(SamplerStop, FinishReasonNames) {
    EXPECT_EQ(finish_reason_name(FinishReason::Stop), "stop");
    EXPECT_EQ(finish_reason_name(FinishReason::Length), "length");
}

TEST(SamplerStop, EffectiveMaxTokens) {
    EXPECT_EQ(effective_max_tokens(100, 50), 50);
    EXPECT_EQ(effective_max_tokens(10, 50), 10);
    EXPECT_EQ(effective_max_tokens(-5, 50), 0);
    EXPECT_EQ(effective_max_tokens(10, 0), 0);
}

TEST(SamplerStop, BudgetEndsWithLength) {
    StopConditions stop(rules(3, {}));
    EXPECT_FALSE(stop.accept(kText, "a").has_value());
    EXPECT_FALSE(stop.accept(kText, "b").has_value());
    EXPECT_EQ(stop.accept(kText, "c"), FinishReason::Length);
    EXPECT_EQ(stop.text(), "abc");
    EXPECT_EQ(stop.generated_tokens(), 3);
    EXPECT_EQ(stop.take_streamable(), "abc");
    EXPECT_THROW(stop.accept(kText, "d"), std::logic_error);
}

TEST(SamplerStop, ZeroBudgetFinishesBeforeTheFirstToken) {
    StopConditions stop(rules(0, {}));
    EXPECT_TRUE(stop.finished());
    EXPECT_EQ(stop.finish_reason(), FinishReason::Length);
    EXPECT_EQ(stop.generated_tokens(), 0);
}

TEST(SamplerStop, EndOfSequenceStopsWithoutTextOrCount) {
    StopRules r = rules(10, {});
    r.end_of_sequence_ids = {7, kEos};
    StopConditions stop(r);
    stop.accept(kText, "hi");
    EXPECT_EQ(stop.accept(kEos, "<eos>"), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "hi");
    EXPECT_EQ(stop.generated_tokens(), 1);
    EXPECT_FALSE(stop.matched_stop().has_value());

    StopConditions other(r);
    EXPECT_EQ(other.accept(7, "x"), FinishReason::Stop);
    EXPECT_EQ(other.text(), "");
}

TEST(SamplerStop, StopStringBeatsTheBudgetOnTheSameToken) {
    StopConditions stop(rules(2, {"END"}));
    stop.accept(kText, "ok");
    EXPECT_EQ(stop.accept(kText, "END"), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "ok");
}

TEST(SamplerStop, StopStringAcrossTokenBoundaries) {
    StopConditions stop(rules(100, {"STOP"}));
    const std::string streamed = feed_all(stop, {"abc S", "T", "OP", " never"});
    EXPECT_EQ(stop.finish_reason(), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "abc ");
    EXPECT_EQ(streamed, "abc ");
    EXPECT_EQ(stop.matched_stop(), std::optional<size_t>(0));
    EXPECT_EQ(stop.generated_tokens(), 3);
}

TEST(SamplerStop, PartialStopIsHeldBackThenReleased) {
    StopConditions stop(rules(100, {"STOP"}));
    stop.accept(kText, "abc ST");
    EXPECT_EQ(stop.take_streamable(), "abc ");  // "ST" may still become "STOP"
    stop.accept(kText, "O");
    EXPECT_EQ(stop.take_streamable(), "");
    stop.accept(kText, "RM");  // "STORM" cannot: released, nothing of it was a match
    EXPECT_EQ(stop.take_streamable(), "STORM");
    EXPECT_FALSE(stop.finished());
}

TEST(SamplerStop, HeldTailIsReleasedAtTheEnd) {
    StopConditions stop(rules(2, {"STOP"}));
    stop.accept(kText, "x");
    EXPECT_EQ(stop.accept(kText, "ST"), FinishReason::Length);
    EXPECT_EQ(stop.take_streamable(), "xST");
}

TEST(SamplerStop, ReleaseForOutsideEndings) {
    StopConditions stop(rules(10, {"STOP"}));
    stop.accept(kText, "tool S");
    EXPECT_EQ(stop.take_streamable(), "tool ");
    stop.release_held_text();
    EXPECT_EQ(stop.take_streamable(), "S");
    EXPECT_FALSE(stop.finish_reason().has_value());
    EXPECT_THROW(stop.accept(kText, "x"), std::logic_error);
}

TEST(SamplerStop, EarliestOfSeveralStopsWins) {
    // "bc" completes inside "abcd" before "abcd" could: the text is cut at "bc".
    StopConditions stop(rules(100, {"abcd", "bc"}));
    feed_all(stop, {"x a", "b", "c", "d"});
    EXPECT_EQ(stop.text(), "x a");
    EXPECT_EQ(stop.matched_stop(), std::optional<size_t>(1));

    // Both complete with one token: the one starting first wins.
    StopConditions both(rules(100, {"cd", "bcd"}));
    both.accept(kText, "abcde");
    EXPECT_EQ(both.text(), "a");
    EXPECT_EQ(both.matched_stop(), std::optional<size_t>(1));
}

TEST(SamplerStop, StopThatIsAPrefixOfAnother) {
    StopConditions stop(rules(100, {"ab", "abcd"}));
    stop.accept(kText, "xa");
    EXPECT_EQ(stop.take_streamable(), "x");
    EXPECT_EQ(stop.accept(kText, "b"), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "x");
    EXPECT_EQ(stop.matched_stop(), std::optional<size_t>(0));

    // Listed the other way round the cut is the same.
    StopConditions reversed(rules(100, {"abcd", "ab"}));
    reversed.accept(kText, "xabc");
    EXPECT_EQ(reversed.text(), "x");
    EXPECT_EQ(reversed.matched_stop(), std::optional<size_t>(1));
}

TEST(SamplerStop, HoldBackIsTheLongestPartialMatch) {
    const StopStringSet stops({"hello", "lol", ""});
    EXPECT_EQ(stops.size(), 2u);  // the empty stop string is dropped
    EXPECT_EQ(stops.longest(), 5u);
    EXPECT_EQ(stops.partial_match_length("say hell"), 4u);
    EXPECT_EQ(stops.partial_match_length("lo"), 2u);
    EXPECT_EQ(stops.partial_match_length("xyz"), 0u);
    EXPECT_EQ(stops.partial_match_length(""), 0u);
    // A complete stop string is a match, not a partial one.
    EXPECT_EQ(stops.partial_match_length("lol"), 1u);
}

TEST(SamplerStop, RepeatedPrefixCharacters) {
    // "aab" inside "aaab": the tail "aa" is held, then the match starts one byte later.
    StopConditions stop(rules(100, {"aab"}));
    stop.accept(kText, "aaa");
    EXPECT_EQ(stop.take_streamable(), "a");
    EXPECT_EQ(stop.accept(kText, "b"), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "a");
    EXPECT_EQ(stop.take_streamable(), "");
}

TEST(SamplerStop, IncompleteUtf8IsHeldBack) {
    StopConditions stop(rules(100, {}));
    stop.accept(kText, "caf\xC3");  // the first byte of U+00E9
    EXPECT_EQ(stop.take_streamable(), "caf");
    stop.accept(kText, "\xA9 \xE2\x82");  // completes it, starts U+20AC
    EXPECT_EQ(stop.take_streamable(), "\xC3\xA9 ");
    stop.accept(kText, "\xAC");
    EXPECT_EQ(stop.take_streamable(), "\xE2\x82\xAC");
}

TEST(SamplerStop, StopHoldBackNeverSplitsACharacter) {
    // A stop string starting with U+00E9: the held tail starts on a character boundary.
    StopConditions stop(rules(100, {"\xC3\xA9t\xC3\xA9"}));
    stop.accept(kText, "x\xC3\xA9t");
    EXPECT_EQ(stop.take_streamable(), "x");
    stop.accept(kText, "\xC3");
    EXPECT_EQ(stop.take_streamable(), "");
    EXPECT_EQ(stop.accept(kText, "\xA9"), FinishReason::Stop);
    EXPECT_EQ(stop.text(), "x");

    // A stop string that starts with a continuation byte would hold back only the second byte
    // of U+00E9; the streamable prefix stops before the whole character instead.
    StopConditions odd(rules(100, {"\xA9!"}));
    odd.accept(kText, "ab\xC3\xA9");
    EXPECT_EQ(odd.take_streamable(), "ab");
    odd.accept(kText, "?");
    EXPECT_EQ(odd.take_streamable(), "\xC3\xA9?");
}

TEST(SamplerStop, Utf8SafeCut) {
    const std::string euro = "a\xE2\x82\xAC";
    EXPECT_EQ(utf8_safe_cut(euro, 4), 4u);
    EXPECT_EQ(utf8_safe_cut(euro, 3), 1u);
    EXPECT_EQ(utf8_safe_cut(euro, 2), 1u);
    EXPECT_EQ(utf8_safe_cut(euro, 1), 1u);
    EXPECT_EQ(utf8_safe_cut(euro, 0), 0u);
    const std::string emoji = "\xF0\x9F\x98\x80";
    EXPECT_EQ(utf8_safe_cut(emoji, 3), 0u);
    EXPECT_EQ(utf8_safe_cut(emoji, 4), 4u);
    // Bytes that can never form a character are not held: a stray continuation, a lead byte
    // followed by ASCII, a lead byte that no sequence uses.
    EXPECT_EQ(utf8_safe_cut("a\x80", 2), 2u);
    EXPECT_EQ(utf8_safe_cut("\xE2(", 2), 2u);
    EXPECT_EQ(utf8_safe_cut("a\xFF", 2), 2u);
    EXPECT_EQ(utf8_safe_cut("\xC3\x80\x80", 3), 3u);
}

TEST(SamplerStop, StreamedTextIsAlwaysAPrefixOfTheFinalText) {
    const std::vector<std::string> pieces{"The ", "en", "d is", " n", "ear", ": E", "N", "D!", "x"};
    for (const char* stop_string : {"END", "end is", "near:", "zzz", "EN"}) {
        StopConditions stop(rules(100, {stop_string}));
        std::string streamed;
        for (const std::string& piece : pieces) {
            stop.accept(kText, piece);
            streamed += stop.take_streamable();
            ASSERT_EQ(std::string(stop.text()).substr(0, streamed.size()), streamed);
            if (stop.finished()) break;
        }
        stop.release_held_text();
        streamed += stop.take_streamable();
        EXPECT_EQ(streamed, stop.text()) << stop_string;
    }
}

}  // namespace
}  // namespace dsv4::sampler
