#include "engine/gguf/gguf_value.h"

#include "engine/gguf/gguf_error.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dsv4::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "GGUF stores little-endian values and this reader maps them in place");

constexpr const char* kTypeNames[kValueTypeCount] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

// Sign-extends the low `width_bytes` bytes of bits.
int64_t sign_extend(uint64_t bits, uint32_t width_bytes) {
    if (width_bytes >= 8) return static_cast<int64_t>(bits);
    const uint32_t shift = 64 - 8 * width_bytes;
    return static_cast<int64_t>(bits << shift) >> shift;
}

bool is_signed_integer(ValueType type) {
    return type == ValueType::I8 || type == ValueType::I16 || type == ValueType::I32 ||
           type == ValueType::I64;
}

void append_escaped(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
            out += hex;
        } else {
            out += c;
        }
    }
    out += '"';
}

// Shortest text that reads back to the same value, so f32 1e-6 prints as 1e-06, not
// 9.99999997e-07.
template <typename Float>
std::string format_float(Float v) {
    char text[64];
    const auto result = std::to_chars(text, text + sizeof(text), v);
    return std::string(text, result.ptr);
}

}  // namespace

std::string value_type_name(ValueType type) {
    const auto id = static_cast<uint32_t>(type);
    if (id < kValueTypeCount) return kTypeNames[id];
    return "type#" + std::to_string(id);
}

bool is_integer_type(ValueType type) {
    switch (type) {
        case ValueType::U8:
        case ValueType::I8:
        case ValueType::U16:
        case ValueType::I16:
        case ValueType::U32:
        case ValueType::I32:
        case ValueType::U64:
        case ValueType::I64:
            return true;
        default:
            return false;
    }
}

bool is_float_type(ValueType type) {
    return type == ValueType::F32 || type == ValueType::F64;
}

uint32_t scalar_size_bytes(ValueType type) {
    switch (type) {
        case ValueType::U8:
        case ValueType::I8:
        case ValueType::Bool:
            return 1;
        case ValueType::U16:
        case ValueType::I16:
            return 2;
        case ValueType::U32:
        case ValueType::I32:
        case ValueType::F32:
            return 4;
        case ValueType::U64:
        case ValueType::I64:
        case ValueType::F64:
            return 8;
        default:
            return 0;
    }
}

std::optional<uint64_t> Value::as_uint() const {
    if (!is_integer_type(type_)) return std::nullopt;
    if (is_signed_integer(type_)) {
        const int64_t v = sign_extend(raw_bits_, scalar_size_bytes(type_));
        if (v < 0) return std::nullopt;
        return static_cast<uint64_t>(v);
    }
    return raw_bits_;
}

std::optional<int64_t> Value::as_int() const {
    if (!is_integer_type(type_)) return std::nullopt;
    if (is_signed_integer(type_)) return sign_extend(raw_bits_, scalar_size_bytes(type_));
    if (raw_bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(raw_bits_);
}

std::optional<double> Value::as_float() const {
    if (type_ == ValueType::F32) {
        return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(raw_bits_)));
    }
    if (type_ == ValueType::F64) return std::bit_cast<double>(raw_bits_);
    if (is_signed_integer(type_)) {
        return static_cast<double>(sign_extend(raw_bits_, scalar_size_bytes(type_)));
    }
    if (is_integer_type(type_)) return static_cast<double>(raw_bits_);
    return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
    if (type_ != ValueType::Bool) return std::nullopt;
    return raw_bits_ != 0;
}

std::optional<std::string_view> Value::as_string() const {
    if (type_ != ValueType::String) return std::nullopt;
    return text_;
}

Value Value::element(uint64_t index) const {
    if (type_ != ValueType::Array) {
        throw GgufError(ErrorKind::InvalidArgument, "element " + std::to_string(index) + " of a " +
                                                        value_type_name(type_) +
                                                        " value, which is not an array");
    }
    if (index >= count_) {
        throw GgufError(ErrorKind::InvalidArgument, "array index " + std::to_string(index) +
                                                        " is out of range (the array has " +
                                                        std::to_string(count_) + " items)");
    }
    if (element_type_ == ValueType::String) return string((*strings_)[index]);
    if (element_type_ == ValueType::Array) return (*nested_)[index];
    const uint32_t width = scalar_size_bytes(element_type_);
    uint64_t bits = 0;
    std::memcpy(&bits, numeric_data_ + index * width, width);
    return scalar(element_type_, bits);
}

std::string Value::to_string(uint64_t max_items) const {
    switch (type_) {
        case ValueType::String: {
            std::string out;
            append_escaped(out, text_);
            return out;
        }
        case ValueType::Bool:
            return raw_bits_ != 0 ? "true" : "false";
        case ValueType::F32:
            return format_float(std::bit_cast<float>(static_cast<uint32_t>(raw_bits_)));
        case ValueType::F64:
            return format_float(std::bit_cast<double>(raw_bits_));
        case ValueType::Array: {
            std::string out = "[";
            const uint64_t shown = count_ < max_items ? count_ : max_items;
            for (uint64_t i = 0; i < shown; ++i) {
                if (i > 0) out += ", ";
                out += element(i).to_string(max_items);
            }
            if (shown < count_)
                out += (shown > 0 ? ", ... (" : "... (") + std::to_string(count_) + " items)";
            out += "]";
            return out;
        }
        default:
            break;
    }
    if (is_signed_integer(type_)) return std::to_string(*as_int());
    return std::to_string(raw_bits_);
}

Value Value::scalar(ValueType type, uint64_t raw_bits) {
    Value v;
    v.type_ = type;
    v.raw_bits_ = raw_bits;
    return v;
}

Value Value::string(std::string_view text) {
    Value v;
    v.type_ = ValueType::String;
    v.text_ = text;
    return v;
}

Value Value::numeric_array(ValueType element_type, uint64_t count, const uint8_t* data) {
    Value v;
    v.type_ = ValueType::Array;
    v.element_type_ = element_type;
    v.count_ = count;
    v.numeric_data_ = data;
    return v;
}

Value Value::string_array(std::shared_ptr<const std::vector<std::string_view>> items) {
    Value v;
    v.type_ = ValueType::Array;
    v.element_type_ = ValueType::String;
    v.count_ = items->size();
    v.strings_ = std::move(items);
    return v;
}

Value Value::nested_array(std::shared_ptr<const std::vector<Value>> items) {
    Value v;
    v.type_ = ValueType::Array;
    v.element_type_ = ValueType::Array;
    v.count_ = items->size();
    v.nested_ = std::move(items);
    return v;
}

}  // namespace dsv4::gguf
