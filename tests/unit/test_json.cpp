// The strict JSON parser, its DOM accessors and the writer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "engine/common/json.h"

namespace dsv4::json {
namespace {

// Offset reported for a text the parser must reject.
size_t rejection_offset(std::string_view text) {
    try {
        parse(text);
    } catch (const JsonError& error) {
        EXPECT_NE(std::string(error.what()).find("byte " + std::to_string(error.offset())),
                  std::string::npos)
            << "the message must name the offset: " << error.what();
        return error.offset();
    }
    ADD_FAILURE() << "accepted: " << text;
    return SIZE_MAX;
}

std::string rejection_message(std::string_view text) {
    try {
        parse(text);
    } catch (const JsonError& error) {
        return error.what();
    }
    return "accepted";
}

TEST(JsonParse, ScalarsAndTheirKinds) {
    EXPECT_TRUE(parse("null").root().is_null());
    EXPECT_TRUE(parse(" true ").root().as_bool());
    EXPECT_FALSE(parse("false").root().as_bool());
    EXPECT_EQ(parse("\"hi\"").root().as_string(), "hi");
    EXPECT_EQ(parse("-12").root().as_int64(), -12);
    EXPECT_EQ(parse("\t\r\n 7 \n").root().raw(), "7");
}

TEST(JsonParse, ObjectsKeepOrderDuplicatesAndRawBytes) {
    const std::string text = R"({ "b" : [1, 2 ,3], "a":{"x" : "y"}, "b": null })";
    const Document document = parse(text);
    const Value& root = document.root();
    ASSERT_TRUE(root.is_object());
    ASSERT_EQ(root.size(), 3u);
    EXPECT_EQ(root.key_at(0), "b");
    EXPECT_EQ(root.key_at(1), "a");
    EXPECT_EQ(root.key_at(2), "b");
    EXPECT_EQ(root.at(0).raw(), "[1, 2 ,3]");
    EXPECT_EQ(root.at(1).raw(), R"({"x" : "y"})");
    EXPECT_EQ(root.at(1).offset(), text.find("{\"x\""));
    EXPECT_TRUE(root.find("b")->is_null()) << "the last duplicate wins in find()";
    EXPECT_EQ(root.find("zz"), nullptr);
    EXPECT_EQ(root.raw(), text.substr(0, text.size()));
}

TEST(JsonParse, RawSpansSurviveMovingTheDocument) {
    Document moved = parse(R"(["short"])");
    Document target = std::move(moved);
    EXPECT_EQ(target.root().at(0).raw(), "\"short\"");
    EXPECT_EQ(target.text(), R"(["short"])");
}

TEST(JsonParse, StringEscapesDecodeToUtf8) {
    const Document document =
        parse(R"("caf\u00e9 \ud83d\ude00 \u4e2d \"q\" \\ \/ \b\f\n\r\t \u0000!")");
    EXPECT_EQ(document.root().as_string(),
              std::string("café 😀 中 \"q\" \\ / \b\f\n\r\t ") + std::string(1, '\0') + "!");
    EXPECT_EQ(parse("\"é中😀\"").root().as_string(), "é中😀");
}

TEST(JsonParse, RejectsLoneSurrogatesNamingTheEscape) {
    EXPECT_EQ(rejection_offset(R"("ab\ud800")"), 3u);
    EXPECT_EQ(rejection_offset(R"("ab\ud800\u0041")"), 3u);
    EXPECT_EQ(rejection_offset(R"("\udc00")"), 1u);
    EXPECT_NE(rejection_message(R"("\udc00")").find("lone low surrogate"), std::string::npos);
}

TEST(JsonParse, RejectsInvalidUtf8NamingTheByte) {
    EXPECT_EQ(rejection_offset("\"ab\xff\""), 3u);
    EXPECT_EQ(rejection_offset("\"\xc3\x28\""), 2u);          // bad continuation
    EXPECT_EQ(rejection_offset("\"\xc0\xaf\""), 1u);          // overlong lead
    EXPECT_EQ(rejection_offset("\"\xe0\x80\xaf\""), 2u);      // overlong 3-byte
    EXPECT_EQ(rejection_offset("\"\xed\xa0\x80\""), 2u);      // UTF-8 encoded surrogate
    EXPECT_EQ(rejection_offset("\"\xf4\x90\x80\x80\""), 2u);  // above U+10FFFF
    EXPECT_EQ(rejection_offset("\"\xe4\xb8"), 3u);            // truncated at end of input
    EXPECT_NE(rejection_message("\"ab\xff\"").find("0xFF"), std::string::npos);
}

TEST(JsonParse, RejectsWhatRfc8259Rejects) {
    EXPECT_EQ(rejection_offset(""), 0u);
    EXPECT_EQ(rejection_offset("[1,]"), 3u);
    EXPECT_EQ(rejection_offset("{\"a\":1,}"), 7u);
    EXPECT_EQ(rejection_offset("{\"a\" 1}"), 5u);
    EXPECT_EQ(rejection_offset("{'a':1}"), 1u);
    EXPECT_EQ(rejection_offset("[01]"), 2u);
    EXPECT_EQ(rejection_offset("[1.]"), 3u);
    EXPECT_EQ(rejection_offset("[.5]"), 1u);
    EXPECT_EQ(rejection_offset("[1e]"), 3u);
    EXPECT_EQ(rejection_offset("[+1]"), 1u);
    EXPECT_EQ(rejection_offset("NaN"), 0u);
    EXPECT_EQ(rejection_offset("[Infinity]"), 1u);
    EXPECT_EQ(rejection_offset("tru"), 0u);
    EXPECT_EQ(rejection_offset("\"a\nb\""), 2u);
    EXPECT_EQ(rejection_offset("\"\\x\""), 1u);
    EXPECT_EQ(rejection_offset("\"\\u12G4\""), 5u);
    EXPECT_EQ(rejection_offset("\"open"), 0u);
    EXPECT_EQ(rejection_offset("{} {}"), 3u);
    EXPECT_EQ(rejection_offset("[1 2]"), 3u);
    EXPECT_EQ(rejection_offset("/* c */ 1"), 0u);
    EXPECT_EQ(rejection_offset("\v1"), 0u) << "only space, tab, CR and LF are whitespace";
}

TEST(JsonParse, DepthLimit) {
    const std::string deep_ok = std::string(256, '[') + std::string(256, ']');
    EXPECT_NO_THROW(parse(deep_ok));
    const std::string too_deep = std::string(257, '[') + std::string(257, ']');
    EXPECT_EQ(rejection_offset(too_deep), 256u);
    ParseOptions shallow;
    shallow.max_depth = 2;
    EXPECT_NO_THROW(parse("{\"a\":[1]}", shallow));
    EXPECT_THROW(parse("{\"a\":[[1]]}", shallow), JsonError);
}

TEST(JsonNumbers, KeepSourceTextAndConvert) {
    const Document document = parse(
        "[12345678901234567890, -0.5e-3, 9223372036854775807, "
        "-9223372036854775808, 1E400, -1e-400, 3]");
    const Value& items = document.root();
    EXPECT_EQ(items.at(0).number_text(), "12345678901234567890");
    EXPECT_FALSE(items.at(0).as_int64().has_value()) << "beyond int64";
    EXPECT_DOUBLE_EQ(items.at(0).as_double(), 12345678901234567890.0);
    EXPECT_EQ(items.at(1).number_text(), "-0.5e-3");
    EXPECT_FALSE(items.at(1).as_int64().has_value());
    EXPECT_DOUBLE_EQ(items.at(1).as_double(), -0.0005);
    EXPECT_EQ(items.at(2).as_int64(), INT64_MAX);
    EXPECT_EQ(items.at(3).as_int64(), INT64_MIN);
    EXPECT_TRUE(std::isinf(items.at(4).as_double()));
    EXPECT_GT(items.at(4).as_double(), 0);
    EXPECT_EQ(items.at(5).as_double(), 0.0);
    EXPECT_TRUE(std::signbit(items.at(5).as_double()));
    EXPECT_EQ(items.at(6).as_int64(), 3);
}

TEST(JsonAccessors, WrongKindThrowsNamingBothKinds) {
    const Document document = parse(R"({"a": [true]})");
    try {
        (void)document.root().as_string();
        FAIL() << "no exception";
    } catch (const JsonError& error) {
        EXPECT_EQ(std::string(error.what()), "expected a JSON string at byte 0, found object");
    }
    EXPECT_THROW((void)document.root().at(1), JsonError);
    EXPECT_THROW((void)document.root().find("a")->at(0).as_int64(), JsonError);
    EXPECT_THROW((void)document.root().find("a")->key_at(0), JsonError);
    EXPECT_THROW((void)document.root().find("a")->at(0).size(), JsonError);
}

TEST(JsonWriter, QuotedUsesTheReferenceEscapes) {
    EXPECT_EQ(quote("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
    EXPECT_EQ(quote(std::string("\x01\b\f\x1f", 4)), R"("\u0001\u0008\u000c\u001f")");
    EXPECT_EQ(quote(std::string(1, '\0')), R"("\u0000")");
    EXPECT_EQ(quote("/ é 😀 \x7f </x>"), "\"/ é 😀 \x7f </x>\"");
}

TEST(JsonWriter, SerializeIsCompactAndRoundTrips) {
    const std::string text =
        R"( { "k" : [ 1 , -0.5e-3 , "a\u00e9\n" , true , null , { } , [ ] ], "k":{"z":1} } )";
    const Document document = parse(text);
    const std::string compact = serialize(document.root());
    EXPECT_EQ(compact, "{\"k\":[1,-0.5e-3,\"aé\\n\",true,null,{},[]],\"k\":{\"z\":1}}");
    EXPECT_EQ(serialize(parse(compact).root()), compact);
}

TEST(JsonWriter, MinifyDropsOnlyWhitespaceOutsideStrings) {
    EXPECT_EQ(minify("{ \"a b\" : [ 1 ,\n\t\"x\\\" y\" ] }"), "{\"a b\":[1,\"x\\\" y\"]}");
    EXPECT_EQ(minify(" \"\\\\\" 1 "), "\"\\\\\"1");
    EXPECT_EQ(minify("not json"), "notjson");
}

TEST(JsonWriter, BuilderInsertsSeparators) {
    Writer writer;
    writer.begin_object()
        .key("a")
        .number(int64_t{-3})
        .key("b")
        .begin_array()
        .string("x\"")
        .boolean(true)
        .null()
        .number(0.25)
        .number(uint64_t{18446744073709551615ull})
        .end_array()
        .key("c")
        .raw(R"({"raw": 1})")
        .end_object();
    EXPECT_EQ(writer.take(),
              R"({"a":-3,"b":["x\"",true,null,0.25,18446744073709551615],"c":{"raw": 1}})");
}

TEST(JsonWriter, BuilderRejectsMisuse) {
    Writer value_without_key;
    value_without_key.begin_object();
    EXPECT_THROW(value_without_key.string("x"), std::logic_error);
    Writer unbalanced;
    unbalanced.begin_array();
    EXPECT_THROW(unbalanced.end_object(), std::logic_error);
    EXPECT_THROW(unbalanced.take(), std::logic_error);
    Writer two_values;
    two_values.null();
    EXPECT_THROW(two_values.null(), std::logic_error);
    Writer nan;
    nan.number(std::nan(""));
    EXPECT_EQ(nan.take(), "null");
}

}  // namespace
}  // namespace dsv4::json
