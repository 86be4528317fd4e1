// GGUF metadata values as read from a file: the value-type ids and a read-only view of one value
// (scalar, string, or array, arrays possibly nested). Values point into the file's bytes and stay
// valid while the GgufFile that produced them lives; this module never allocates copies of them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::gguf {

// Ids as stored in GGUF metadata.
enum class ValueType : uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;

// "u8", "i32", "string", "array", ...; "type#N" for ids outside the table.
std::string value_type_name(ValueType type);
bool is_integer_type(ValueType type);
bool is_float_type(ValueType type);
// Bytes of one stored scalar; 0 for String and Array, whose size depends on their content.
uint32_t scalar_size_bytes(ValueType type);

class Value {
  public:
    ValueType type() const { return type_; }

    // Conversions that succeed only when the stored value is representable exactly:
    // as_uint accepts any integer type holding a non-negative value, as_int any integer type
    // holding a value within int64, as_float f32, f64 and every integer type.
    std::optional<uint64_t> as_uint() const;
    std::optional<int64_t> as_int() const;
    std::optional<double> as_float() const;
    std::optional<bool> as_bool() const;
    std::optional<std::string_view> as_string() const;

    // Arrays. element_type() and size() are meaningful only when type() == Array.
    bool is_array() const { return type_ == ValueType::Array; }
    ValueType element_type() const { return element_type_; }
    uint64_t size() const { return count_; }
    // Element i as a value of its own; cheap for every element type. GgufError(InvalidArgument)
    // when this is not an array or i >= size().
    Value element(uint64_t index) const;

    // A readable rendering: numbers, quoted strings with escapes, arrays as
    // [a, b, c, ... (N items)] showing at most max_items elements.
    std::string to_string(uint64_t max_items = 8) const;

    // Built only by the reader (and tests through the reader).
    static Value scalar(ValueType type, uint64_t raw_bits);
    static Value string(std::string_view text);
    static Value numeric_array(ValueType element_type, uint64_t count, const uint8_t* data);
    static Value string_array(std::shared_ptr<const std::vector<std::string_view>> items);
    static Value nested_array(std::shared_ptr<const std::vector<Value>> items);

  private:
    ValueType type_ = ValueType::U8;
    uint64_t raw_bits_ = 0;  // scalars: the little-endian bits, zero-extended
    std::string_view text_;  // String
    ValueType element_type_ = ValueType::U8;
    uint64_t count_ = 0;
    const uint8_t* numeric_data_ = nullptr;  // arrays of scalars: the stored elements
    std::shared_ptr<const std::vector<std::string_view>> strings_;
    std::shared_ptr<const std::vector<Value>> nested_;
};

}  // namespace dsv4::gguf
