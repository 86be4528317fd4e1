// The GGUF writer: collects metadata and tensors and lays them out as a version 3 file with the
// chosen alignment. It refuses anything the reader would reject, so what it writes reads back;
// it knows nothing about which keys or tensors a model needs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/gguf/gguf_error.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_value.h"
#include "engine/quant/types.h"

namespace dsv4::gguf {

// An owned metadata value for the shapes the typed GgufWriter::add_* calls do not cover,
// such as arrays of arrays.
class MetaValue {
  public:
    static MetaValue u8(uint8_t v) { return scalar(ValueType::U8, v); }
    static MetaValue i8(int8_t v) { return scalar(ValueType::I8, static_cast<uint8_t>(v)); }
    static MetaValue u16(uint16_t v) { return scalar(ValueType::U16, v); }
    static MetaValue i16(int16_t v) { return scalar(ValueType::I16, static_cast<uint16_t>(v)); }
    static MetaValue u32(uint32_t v) { return scalar(ValueType::U32, v); }
    static MetaValue i32(int32_t v) { return scalar(ValueType::I32, static_cast<uint32_t>(v)); }
    static MetaValue f32(float v);
    static MetaValue boolean(bool v) { return scalar(ValueType::Bool, v ? 1 : 0); }
    static MetaValue u64(uint64_t v) { return scalar(ValueType::U64, v); }
    static MetaValue i64(int64_t v) { return scalar(ValueType::I64, static_cast<uint64_t>(v)); }
    static MetaValue f64(double v);
    static MetaValue string(std::string text);
    // Every item must have type element_type, and arrays may nest at most kMaxArrayNesting
    // deep; GgufError(InvalidArgument) otherwise.
    static MetaValue array(ValueType element_type, std::vector<MetaValue> items);

    ValueType type() const { return type_; }
    // Appends the value's encoding without its type id (the caller writes that).
    void encode(std::vector<uint8_t>& out) const;

  private:
    static MetaValue scalar(ValueType type, uint64_t raw_bits);

    ValueType type_ = ValueType::U8;
    uint64_t raw_bits_ = 0;
    std::string text_;
    ValueType element_type_ = ValueType::U8;
    std::vector<MetaValue> items_;
    uint32_t nesting_ = 0;  // 1 for an array of scalars, 2 for an array of those, ...
};

class GgufWriter {
  public:
    // alignment must be a non-zero power of two; a non-default one is recorded as the first
    // metadata key, general.alignment (which therefore cannot be added by hand).
    explicit GgufWriter(uint32_t alignment = kDefaultAlignment);

    // Keys must be non-empty and unique; GgufError(InvalidArgument) otherwise.
    void add(std::string_view key, const MetaValue& value);
    void add_u8(std::string_view key, uint8_t v) { add(key, MetaValue::u8(v)); }
    void add_i8(std::string_view key, int8_t v) { add(key, MetaValue::i8(v)); }
    void add_u16(std::string_view key, uint16_t v) { add(key, MetaValue::u16(v)); }
    void add_i16(std::string_view key, int16_t v) { add(key, MetaValue::i16(v)); }
    void add_u32(std::string_view key, uint32_t v) { add(key, MetaValue::u32(v)); }
    void add_i32(std::string_view key, int32_t v) { add(key, MetaValue::i32(v)); }
    void add_f32(std::string_view key, float v) { add(key, MetaValue::f32(v)); }
    void add_bool(std::string_view key, bool v) { add(key, MetaValue::boolean(v)); }
    void add_u64(std::string_view key, uint64_t v) { add(key, MetaValue::u64(v)); }
    void add_i64(std::string_view key, int64_t v) { add(key, MetaValue::i64(v)); }
    void add_f64(std::string_view key, double v) { add(key, MetaValue::f64(v)); }
    void add_string(std::string_view key, std::string_view v) {
        add(key, MetaValue::string(std::string(v)));
    }

    // Arrays of scalars are encoded straight from the caller's items.
    void add_array(std::string_view key, std::span<const uint8_t> items);
    void add_array(std::string_view key, std::span<const int8_t> items);
    void add_array(std::string_view key, std::span<const uint16_t> items);
    void add_array(std::string_view key, std::span<const int16_t> items);
    void add_array(std::string_view key, std::span<const uint32_t> items);
    void add_array(std::string_view key, std::span<const int32_t> items);
    void add_array(std::string_view key, std::span<const float> items);
    void add_array(std::string_view key, std::span<const uint64_t> items);
    void add_array(std::string_view key, std::span<const int64_t> items);
    void add_array(std::string_view key, std::span<const double> items);
    void add_bool_array(std::string_view key, const std::vector<bool>& items);
    void add_string_array(std::string_view key, std::span<const std::string> items);
    void add_string_array(std::string_view key, std::span<const std::string_view> items);

    // dims in ggml order (dims[0] fastest), 1 to 4 of them, none zero, dims[0] a multiple of
    // the type's block size, and data exactly the tensor's byte size. The bytes are copied.
    void add_tensor(std::string_view name, quant::Type type, std::span<const uint64_t> dims,
                    std::span<const uint8_t> data);

    std::vector<uint8_t> to_bytes() const;
    // Writes to a temporary file next to path and renames it into place.
    void write_file(const std::string& path) const;

  private:
    struct PendingTensor {
        std::string name;
        quant::Type type;
        std::vector<uint64_t> dims;
        std::vector<uint8_t> data;
    };

    void begin_entry(std::string_view key, ValueType type);
    void add_numeric_array(std::string_view key, ValueType element_type, const void* items,
                           size_t count);

    uint32_t alignment_;
    uint64_t n_metadata_ = 0;
    std::vector<uint8_t> metadata_bytes_;  // encoded entries, in the order they were added
    std::unordered_set<std::string> keys_;
    std::vector<PendingTensor> tensors_;
    std::unordered_set<std::string> tensor_names_;
};

}  // namespace dsv4::gguf
