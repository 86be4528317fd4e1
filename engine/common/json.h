// JSON text (RFC 8259): a strict parser into a read-only DOM that remembers the exact source bytes
// of every value, and a compact writer. Owns JSON syntax only; what a field means to an API lives
// with the API's reader (engine/chat), and nothing here knows about requests or prompts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::json {

// Every parse failure and every wrong-kind access. offset() is the byte offset, in the parsed
// text, of the offending byte (parse) or of the value that was accessed (accessors).
class JsonError : public std::runtime_error {
  public:
    JsonError(size_t offset, const std::string& message);

    size_t offset() const noexcept { return offset_; }

  private:
    size_t offset_;
};

enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

// "null", "boolean", "number", "string", "array", "object".
std::string_view kind_name(Kind kind);

// One parsed value. Values are views: raw() points into the text owned by the Document that
// produced them, so a Value must not outlive its Document.
class Value {
  public:
    Kind kind() const noexcept { return kind_; }
    bool is_null() const noexcept { return kind_ == Kind::Null; }
    bool is_bool() const noexcept { return kind_ == Kind::Bool; }
    bool is_number() const noexcept { return kind_ == Kind::Number; }
    bool is_string() const noexcept { return kind_ == Kind::String; }
    bool is_array() const noexcept { return kind_ == Kind::Array; }
    bool is_object() const noexcept { return kind_ == Kind::Object; }

    // The value's bytes exactly as written in the source, from its first to its last byte
    // (whitespace inside containers included, surrounding whitespace excluded).
    std::string_view raw() const noexcept { return raw_; }
    // Byte offset of raw() within the parsed text.
    size_t offset() const noexcept { return offset_; }

    // Accessors throw JsonError naming the expected and the actual kind on a kind mismatch.
    bool as_bool() const;
    // Decoded UTF-8 (escapes resolved; may contain NUL bytes written as \u0000).
    const std::string& as_string() const;
    // The number's source text, e.g. "-0.5e-3" or "12345678901234567890".
    std::string_view number_text() const;
    // Set only when the number is written as an integer (no fraction, no exponent) that fits.
    std::optional<int64_t> as_int64() const;
    // Nearest double; +-infinity beyond the double range, +-0 below it.
    double as_double() const;

    // Arrays and objects: element count / member count (duplicate keys count separately).
    size_t size() const;
    // Array element i, or the value of object member i, in source order.
    const Value& at(size_t index) const;
    // Key of object member i, decoded.
    const std::string& key_at(size_t index) const;
    // Array elements or object member values, in source order.
    const std::vector<Value>& children() const;
    // Object member with this key; with duplicate keys the last one, as most readers resolve
    // them. nullptr when absent.
    const Value* find(std::string_view key) const;

  private:
    friend class Parser;

    void require(Kind expected) const;
    void require_container() const;

    Kind kind_ = Kind::Null;
    bool bool_ = false;
    size_t offset_ = 0;
    std::string_view raw_;
    std::string string_;
    std::vector<std::string> keys_;
    std::vector<Value> children_;
};

struct ParseOptions {
    // Arrays and objects nested deeper than this are rejected (the top-level container is 1).
    size_t max_depth = 256;
};

// A parsed text and its root value; owns the bytes every Value::raw() points into. Every value
// costs on the order of a hundred bytes of DOM, so callers bound the size of untrusted input.
class Document {
  public:
    const Value& root() const noexcept { return root_; }
    std::string_view text() const noexcept { return *text_; }

  private:
    friend Document parse(std::string_view text, const ParseOptions& options);
    Document(std::unique_ptr<const std::string> text, Value root)
        : text_(std::move(text)), root_(std::move(root)) {}

    std::unique_ptr<const std::string> text_;  // heap-held so moving the Document keeps views valid
    Value root_;
};

// Parses exactly one JSON value surrounded by optional whitespace. Rejects anything RFC 8259
// rejects: trailing commas, comments, single quotes, leading zeros, NaN/Infinity, unescaped
// control bytes in strings, invalid UTF-8, lone UTF-16 surrogates, trailing bytes. The error
// message names the byte offset and what was expected there.
Document parse(std::string_view text, const ParseOptions& options = {});

// ---- writing ----

// Appends `text` as a quoted JSON string: '"' and '\\' escaped with a backslash, \n \r \t by
// name, other bytes below 0x20 as \u00XX (lowercase hex), every other byte (UTF-8 included)
// unchanged. These are the escaping rules of the ds4 reference wherever it writes JSON.
void append_quoted(std::string& out, std::string_view text);
std::string quote(std::string_view text);

// Compact serialization: no insignificant whitespace, member order and duplicate keys kept,
// strings and keys re-escaped with append_quoted, numbers written as their source text.
std::string serialize(const Value& value);

// Removes the bytes outside strings that the C locale calls whitespace (space \t \n \v \f \r)
// from JSON text, copying strings byte for byte (escapes stay as written). Text that is not
// JSON is processed the same way, never rejected.
std::string minify(std::string_view json_text);

// Builds compact JSON incrementally; commas and colons are inserted automatically. Misuse (a
// value where a key is due, unbalanced ends) throws std::logic_error.
class Writer {
  public:
    Writer& begin_object();
    Writer& end_object();
    Writer& begin_array();
    Writer& end_array();
    Writer& key(std::string_view name);
    Writer& string(std::string_view text);
    Writer& number(int64_t value);
    Writer& number(uint64_t value);
    Writer& number(int value) { return number(static_cast<int64_t>(value)); }
    // Shortest text that reads back as the same double; non-finite values are written as null.
    Writer& number(double value);
    Writer& boolean(bool value);
    Writer& null();
    // Inserts already-serialized JSON (e.g. a client's raw schema) as one value, unchecked.
    Writer& raw(std::string_view json_text);

    const std::string& str() const noexcept { return out_; }
    // The finished text; throws std::logic_error while a container is still open.
    std::string take();

  private:
    void before_value();

    struct Frame {
        bool is_object;
        bool empty;
        bool expects_value;  // objects: a key was written and its value is due
    };
    std::string out_;
    std::vector<Frame> frames_;
    bool wrote_top_level_ = false;
};

}  // namespace dsv4::json
