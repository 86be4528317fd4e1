#include "engine/common/json.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace dsv4::json {

JsonError::JsonError(size_t offset, const std::string& message)
    : std::runtime_error(message), offset_(offset) {}

std::string_view kind_name(Kind kind) {
    switch (kind) {
        case Kind::Null:
            return "null";
        case Kind::Bool:
            return "boolean";
        case Kind::Number:
            return "number";
        case Kind::String:
            return "string";
        case Kind::Array:
            return "array";
        case Kind::Object:
            return "object";
    }
    return "unknown";
}

// ---- Value accessors ----

void Value::require(Kind expected) const {
    if (kind_ == expected) return;
    throw JsonError(offset_, "expected a JSON " + std::string(kind_name(expected)) + " at byte " +
                                 std::to_string(offset_) + ", found " +
                                 std::string(kind_name(kind_)));
}

void Value::require_container() const {
    if (kind_ == Kind::Array || kind_ == Kind::Object) return;
    throw JsonError(offset_, "expected a JSON array or object at byte " + std::to_string(offset_) +
                                 ", found " + std::string(kind_name(kind_)));
}

bool Value::as_bool() const {
    require(Kind::Bool);
    return bool_;
}

const std::string& Value::as_string() const {
    require(Kind::String);
    return string_;
}

std::string_view Value::number_text() const {
    require(Kind::Number);
    return raw_;
}

std::optional<int64_t> Value::as_int64() const {
    require(Kind::Number);
    if (raw_.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
    int64_t value = 0;
    const auto [end, error] = std::from_chars(raw_.data(), raw_.data() + raw_.size(), value);
    if (error != std::errc() || end != raw_.data() + raw_.size()) return std::nullopt;
    return value;
}

double Value::as_double() const {
    require(Kind::Number);
    double value = 0.0;
    const auto [end, error] = std::from_chars(raw_.data(), raw_.data() + raw_.size(), value);
    if (error == std::errc()) return value;
    // Out of range: from_chars leaves the value untouched, strtod gives the saturated result
    // (infinity or zero with the right sign). The text is a validated JSON number, so the C
    // locale's decimal point is the only one that can matter.
    const std::string copy(raw_);
    return std::strtod(copy.c_str(), nullptr);
}

size_t Value::size() const {
    require_container();
    return children_.size();
}

const Value& Value::at(size_t index) const {
    require_container();
    if (index >= children_.size()) {
        throw JsonError(offset_, "index " + std::to_string(index) + " is past the end of the " +
                                     std::string(kind_name(kind_)) + " at byte " +
                                     std::to_string(offset_) + " (size " +
                                     std::to_string(children_.size()) + ")");
    }
    return children_[index];
}

const std::string& Value::key_at(size_t index) const {
    require(Kind::Object);
    if (index >= keys_.size()) {
        throw JsonError(offset_, "member " + std::to_string(index) +
                                     " is past the end of the object at byte " +
                                     std::to_string(offset_));
    }
    return keys_[index];
}

const std::vector<Value>& Value::children() const {
    require_container();
    return children_;
}

const Value* Value::find(std::string_view key) const {
    require(Kind::Object);
    for (size_t i = keys_.size(); i-- > 0;) {
        if (keys_[i] == key) return &children_[i];
    }
    return nullptr;
}

// ---- Parser ----

namespace {

bool is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, uint32_t code_point) {
    if (code_point < 0x80) {
        out.push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
}

std::string describe_byte(unsigned char byte) {
    char buffer[32];
    if (byte >= 0x20 && byte < 0x7F) {
        std::snprintf(buffer, sizeof buffer, "'%c'", byte);
    } else {
        std::snprintf(buffer, sizeof buffer, "byte 0x%02X", byte);
    }
    return buffer;
}

}  // namespace

class Parser {
  public:
    Parser(std::string_view text, const ParseOptions& options) : text_(text), options_(options) {}

    Value parse_document() {
        skip_space();
        Value root = parse_value(0);
        skip_space();
        if (pos_ != text_.size()) fail("unexpected " + found() + " after the top-level value");
        return root;
    }

  private:
    [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
        throw JsonError(offset, "invalid JSON at byte " + std::to_string(offset) + ": " + what);
    }
    [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

    std::string found() const {
        if (pos_ >= text_.size()) return "end of input";
        return describe_byte(static_cast<unsigned char>(text_[pos_]));
    }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return text_[pos_]; }

    void skip_space() {
        while (!at_end() && is_json_space(peek())) ++pos_;
    }

    void expect_literal(std::string_view literal) {
        if (text_.substr(pos_, literal.size()) != literal) {
            fail("expected '" + std::string(literal) + "'");
        }
        pos_ += literal.size();
    }

    Value parse_value(size_t depth) {
        if (at_end()) fail("expected a value, found end of input");
        Value value;
        value.offset_ = pos_;
        switch (peek()) {
            case '{':
                parse_object(value, depth + 1);
                break;
            case '[':
                parse_array(value, depth + 1);
                break;
            case '"':
                value.kind_ = Kind::String;
                parse_string(value.string_);
                break;
            case 't':
                expect_literal("true");
                value.kind_ = Kind::Bool;
                value.bool_ = true;
                break;
            case 'f':
                expect_literal("false");
                value.kind_ = Kind::Bool;
                break;
            case 'n':
                expect_literal("null");
                value.kind_ = Kind::Null;
                break;
            default:
                if (peek() == '-' || is_digit(peek())) {
                    parse_number();
                    value.kind_ = Kind::Number;
                } else {
                    fail("expected a value, found " + found());
                }
        }
        value.raw_ = text_.substr(value.offset_, pos_ - value.offset_);
        return value;
    }

    void enter_container(size_t depth) const {
        if (depth > options_.max_depth) {
            fail("nesting deeper than " + std::to_string(options_.max_depth) + " levels");
        }
    }

    void parse_object(Value& value, size_t depth) {
        enter_container(depth);
        value.kind_ = Kind::Object;
        ++pos_;  // '{'
        skip_space();
        if (!at_end() && peek() == '}') {
            ++pos_;
            return;
        }
        for (;;) {
            if (at_end() || peek() != '"') fail("expected a string key, found " + found());
            std::string key;
            parse_string(key);
            skip_space();
            if (at_end() || peek() != ':')
                fail("expected ':' after an object key, found " + found());
            ++pos_;
            skip_space();
            value.keys_.push_back(std::move(key));
            value.children_.push_back(parse_value(depth));
            skip_space();
            if (at_end()) fail("expected ',' or '}' in an object, found end of input");
            if (peek() == '}') {
                ++pos_;
                return;
            }
            if (peek() != ',') fail("expected ',' or '}' in an object, found " + found());
            ++pos_;
            skip_space();
        }
    }

    void parse_array(Value& value, size_t depth) {
        enter_container(depth);
        value.kind_ = Kind::Array;
        ++pos_;  // '['
        skip_space();
        if (!at_end() && peek() == ']') {
            ++pos_;
            return;
        }
        for (;;) {
            value.children_.push_back(parse_value(depth));
            skip_space();
            if (at_end()) fail("expected ',' or ']' in an array, found end of input");
            if (peek() == ']') {
                ++pos_;
                return;
            }
            if (peek() != ',') fail("expected ',' or ']' in an array, found " + found());
            ++pos_;
            skip_space();
        }
    }

    void parse_digits(const char* what) {
        if (at_end() || !is_digit(peek())) fail(std::string("expected a digit ") + what);
        while (!at_end() && is_digit(peek())) ++pos_;
    }

    void parse_number() {
        if (peek() == '-') ++pos_;
        if (at_end() || !is_digit(peek())) fail("expected a digit after '-'");
        if (peek() == '0') {
            ++pos_;
            if (!at_end() && is_digit(peek())) fail("leading zeros are not allowed in numbers");
        } else {
            parse_digits("");
        }
        if (!at_end() && peek() == '.') {
            ++pos_;
            parse_digits("after the decimal point");
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            parse_digits("in the exponent");
        }
    }

    uint32_t parse_hex4() {
        uint32_t code_unit = 0;
        for (int i = 0; i < 4; ++i) {
            const int digit = at_end() ? -1 : hex_value(peek());
            if (digit < 0) fail("expected 4 hex digits after \\u, found " + found());
            code_unit = (code_unit << 4) | static_cast<uint32_t>(digit);
            ++pos_;
        }
        return code_unit;
    }

    // Called after "\u" was consumed; escape_start is the offset of the backslash.
    void parse_unicode_escape(std::string& out, size_t escape_start) {
        uint32_t code_point = parse_hex4();
        if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
            fail_at(escape_start, "lone low surrogate \\u" +
                                      std::string(text_.substr(escape_start + 2, 4)) +
                                      " (not preceded by a high surrogate)");
        }
        if (code_point >= 0xD800 && code_point <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") {
                fail_at(escape_start, "lone high surrogate \\u" +
                                          std::string(text_.substr(escape_start + 2, 4)) +
                                          " (not followed by a \\u low surrogate)");
            }
            pos_ += 2;
            const uint32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) {
                fail_at(escape_start,
                        "high surrogate \\u" + std::string(text_.substr(escape_start + 2, 4)) +
                            " followed by \\u" + std::string(text_.substr(pos_ - 4, 4)) +
                            ", which is not a low surrogate");
            }
            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, code_point);
    }

    void parse_escape(std::string& out) {
        const size_t escape_start = pos_;
        ++pos_;  // '\\'
        if (at_end()) fail("unterminated escape sequence at end of input");
        const char c = peek();
        ++pos_;
        switch (c) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u':
                parse_unicode_escape(out, escape_start);
                break;
            default:
                fail_at(escape_start, "invalid escape sequence '\\" +
                                          describe_byte(static_cast<unsigned char>(c)) + "'");
        }
    }

    // Length of the well-formed UTF-8 sequence starting at pos_ (lead byte >= 0x80), or fails.
    size_t utf8_sequence_length() const {
        const auto byte = [&](size_t i) -> unsigned {
            return pos_ + i < text_.size() ? static_cast<unsigned char>(text_[pos_ + i]) : 0x100;
        };
        const unsigned lead = byte(0);
        size_t length = 0;
        unsigned second_min = 0x80, second_max = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) second_min = 0xA0;  // overlong
            if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) second_min = 0x90;  // overlong
            if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
        } else {
            fail("invalid UTF-8 lead byte 0x" + hex_byte(lead) + " in a string");
        }
        for (size_t i = 1; i < length; ++i) {
            const unsigned next = byte(i);
            const unsigned lo = i == 1 ? second_min : 0x80;
            const unsigned hi = i == 1 ? second_max : 0xBF;
            if (next < lo || next > hi) {
                fail_at(pos_ + i, next > 0xFF
                                      ? std::string("truncated UTF-8 sequence at end of input")
                                      : "invalid UTF-8 continuation byte 0x" + hex_byte(next) +
                                            " in a string");
            }
        }
        return length;
    }

    static std::string hex_byte(unsigned byte) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "%02X", byte & 0xFF);
        return buffer;
    }

    void parse_string(std::string& out) {
        const size_t start = pos_;
        ++pos_;  // opening quote
        for (;;) {
            if (at_end()) fail_at(start, "unterminated string");
            const auto c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++pos_;
                return;
            }
            if (c == '\\') {
                parse_escape(out);
            } else if (c < 0x20) {
                fail("unescaped control " + describe_byte(c) + " in a string");
            } else if (c < 0x80) {
                out.push_back(static_cast<char>(c));
                ++pos_;
            } else {
                const size_t length = utf8_sequence_length();
                out.append(text_.substr(pos_, length));
                pos_ += length;
            }
        }
    }

    std::string_view text_;
    ParseOptions options_;
    size_t pos_ = 0;
};

Document parse(std::string_view text, const ParseOptions& options) {
    auto owned = std::make_unique<const std::string>(text);
    Parser parser(*owned, options);
    Value root = parser.parse_document();
    return Document(std::move(owned), std::move(root));
}

}  // namespace dsv4::json
