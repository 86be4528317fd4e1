#include "engine/gguf/gguf_writer.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dsv4::gguf {
namespace {

void append_bits(std::vector<uint8_t>& out, uint64_t bits, uint32_t width_bytes) {
    for (uint32_t i = 0; i < width_bytes; ++i) out.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

void append_u32(std::vector<uint8_t>& out, uint32_t v) {
    append_bits(out, v, 4);
}
void append_u64(std::vector<uint8_t>& out, uint64_t v) {
    append_bits(out, v, 8);
}

void append_string(std::vector<uint8_t>& out, std::string_view text) {
    append_u64(out, text.size());
    out.insert(out.end(), text.begin(), text.end());
}

void pad_to(std::vector<uint8_t>& out, uint64_t alignment) {
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
}

uint64_t align_up(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

[[noreturn]] void invalid(const std::string& what) {
    throw GgufError(ErrorKind::InvalidArgument, "GGUF writer: " + what);
}

}  // namespace

// ---- MetaValue -------------------------------------------------------------------------------

MetaValue MetaValue::scalar(ValueType type, uint64_t raw_bits) {
    MetaValue v;
    v.type_ = type;
    v.raw_bits_ = raw_bits;
    return v;
}

MetaValue MetaValue::f32(float v) {
    return scalar(ValueType::F32, std::bit_cast<uint32_t>(v));
}
MetaValue MetaValue::f64(double v) {
    return scalar(ValueType::F64, std::bit_cast<uint64_t>(v));
}

MetaValue MetaValue::string(std::string text) {
    MetaValue v;
    v.type_ = ValueType::String;
    v.text_ = std::move(text);
    return v;
}

MetaValue MetaValue::array(ValueType element_type, std::vector<MetaValue> items) {
    if (static_cast<uint32_t>(element_type) >= kValueTypeCount) {
        invalid("unknown array element type " + value_type_name(element_type));
    }
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].type_ != element_type) {
            invalid("array of " + value_type_name(element_type) + ": item " + std::to_string(i) +
                    " is a " + value_type_name(items[i].type_));
        }
    }
    MetaValue v;
    v.type_ = ValueType::Array;
    v.element_type_ = element_type;
    v.nesting_ = 1;
    for (const MetaValue& item : items) v.nesting_ = std::max(v.nesting_, item.nesting_ + 1);
    if (v.nesting_ > kMaxArrayNesting) {
        invalid("arrays nested " + std::to_string(v.nesting_) + " deep; readers accept at most " +
                std::to_string(kMaxArrayNesting));
    }
    v.items_ = std::move(items);
    return v;
}

void MetaValue::encode(std::vector<uint8_t>& out) const {
    switch (type_) {
        case ValueType::String:
            append_string(out, text_);
            return;
        case ValueType::Array:
            append_u32(out, static_cast<uint32_t>(element_type_));
            append_u64(out, items_.size());
            for (const MetaValue& item : items_) item.encode(out);
            return;
        default:
            append_bits(out, raw_bits_, scalar_size_bytes(type_));
    }
}

// ---- GgufWriter ------------------------------------------------------------------------------

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        invalid("alignment " + std::to_string(alignment) + " is not a non-zero power of two");
    }
    if (alignment != kDefaultAlignment) {
        begin_entry(kAlignmentKey, ValueType::U32);
        append_u32(metadata_bytes_, alignment);
    }
}

void GgufWriter::begin_entry(std::string_view key, ValueType type) {
    if (key.empty()) invalid("metadata keys must not be empty");
    if (!keys_.emplace(key).second) {
        if (key == kAlignmentKey) {
            invalid("set the alignment through the GgufWriter constructor, not as a key");
        }
        invalid("duplicate metadata key '" + std::string(key) + "'");
    }
    append_string(metadata_bytes_, key);
    append_u32(metadata_bytes_, static_cast<uint32_t>(type));
    ++n_metadata_;
}

void GgufWriter::add(std::string_view key, const MetaValue& value) {
    if (key == kAlignmentKey) {
        invalid("set the alignment through the GgufWriter constructor, not as a key");
    }
    begin_entry(key, value.type());
    value.encode(metadata_bytes_);
}

void GgufWriter::add_numeric_array(std::string_view key, ValueType element_type, const void* items,
                                   size_t count) {
    begin_entry(key, ValueType::Array);
    append_u32(metadata_bytes_, static_cast<uint32_t>(element_type));
    append_u64(metadata_bytes_, count);
    const auto* first = static_cast<const uint8_t*>(items);
    metadata_bytes_.insert(metadata_bytes_.end(), first,
                           first + count * scalar_size_bytes(element_type));
}

void GgufWriter::add_array(std::string_view key, std::span<const uint8_t> items) {
    add_numeric_array(key, ValueType::U8, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const int8_t> items) {
    add_numeric_array(key, ValueType::I8, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const uint16_t> items) {
    add_numeric_array(key, ValueType::U16, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const int16_t> items) {
    add_numeric_array(key, ValueType::I16, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const uint32_t> items) {
    add_numeric_array(key, ValueType::U32, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const int32_t> items) {
    add_numeric_array(key, ValueType::I32, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const float> items) {
    add_numeric_array(key, ValueType::F32, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const uint64_t> items) {
    add_numeric_array(key, ValueType::U64, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const int64_t> items) {
    add_numeric_array(key, ValueType::I64, items.data(), items.size());
}
void GgufWriter::add_array(std::string_view key, std::span<const double> items) {
    add_numeric_array(key, ValueType::F64, items.data(), items.size());
}

void GgufWriter::add_bool_array(std::string_view key, const std::vector<bool>& items) {
    std::vector<uint8_t> bytes(items.begin(), items.end());
    add_numeric_array(key, ValueType::Bool, bytes.data(), bytes.size());
}

void GgufWriter::add_string_array(std::string_view key, std::span<const std::string> items) {
    std::vector<std::string_view> views(items.begin(), items.end());
    add_string_array(key, std::span<const std::string_view>(views));
}

void GgufWriter::add_string_array(std::string_view key, std::span<const std::string_view> items) {
    begin_entry(key, ValueType::Array);
    append_u32(metadata_bytes_, static_cast<uint32_t>(ValueType::String));
    append_u64(metadata_bytes_, items.size());
    for (std::string_view item : items) append_string(metadata_bytes_, item);
}

void GgufWriter::add_tensor(std::string_view name, quant::Type type, std::span<const uint64_t> dims,
                            std::span<const uint8_t> data) {
    const std::string context = "tensor '" + std::string(name) + "'";
    if (name.empty()) invalid("tensor names must not be empty");
    if (tensor_names_.count(std::string(name)) != 0) invalid("duplicate " + context);
    if (dims.empty() || dims.size() > kMaxDims) {
        invalid(context + ": " + std::to_string(dims.size()) + " dims, expected 1 to " +
                std::to_string(kMaxDims));
    }
    const quant::TypeInfo& info = quant::type_info(type);
    uint64_t n_elements = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
        if (dims[d] == 0) invalid(context + ": dim " + std::to_string(d) + " is 0");
        if (__builtin_mul_overflow(n_elements, dims[d], &n_elements) ||
            n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            invalid(context + ": element count overflows 63 bits");
        }
    }
    if (dims[0] % info.block_elems != 0) {
        invalid(context + ": dim 0 is " + std::to_string(dims[0]) + ", not a multiple of the " +
                std::string(info.name) + " block size " + std::to_string(info.block_elems));
    }
    uint64_t n_bytes = 0;
    if (__builtin_mul_overflow(n_elements / info.block_elems, uint64_t{info.block_bytes},
                               &n_bytes) ||
        n_bytes != data.size()) {
        invalid(context + ": " + std::to_string(data.size()) +
                " bytes of data given, the shape "
                "and type need " +
                std::to_string(n_elements / info.block_elems) + " blocks of " +
                std::to_string(info.block_bytes) + " bytes");
    }
    tensor_names_.emplace(name);
    tensors_.push_back(PendingTensor{std::string(name), type,
                                     std::vector<uint64_t>(dims.begin(), dims.end()),
                                     std::vector<uint8_t>(data.begin(), data.end())});
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out;
    append_u32(out, kGgufMagic);
    append_u32(out, 3);
    append_u64(out, tensors_.size());
    append_u64(out, n_metadata_);
    out.insert(out.end(), metadata_bytes_.begin(), metadata_bytes_.end());

    uint64_t relative_offset = 0;
    for (const PendingTensor& tensor : tensors_) {
        append_string(out, tensor.name);
        append_u32(out, static_cast<uint32_t>(tensor.dims.size()));
        for (uint64_t dim : tensor.dims) append_u64(out, dim);
        append_u32(out, static_cast<uint32_t>(tensor.type));
        append_u64(out, relative_offset);
        relative_offset = align_up(relative_offset + tensor.data.size(), alignment_);
    }
    pad_to(out, alignment_);
    for (const PendingTensor& tensor : tensors_) {
        out.insert(out.end(), tensor.data.begin(), tensor.data.end());
        pad_to(out, alignment_);
    }
    return out;
}

void GgufWriter::write_file(const std::string& path) const {
    const std::vector<uint8_t> bytes = to_bytes();
    const std::string temporary = path + ".partial";
    std::FILE* file = std::fopen(temporary.c_str(), "wb");
    if (file == nullptr) {
        throw GgufError(ErrorKind::Io,
                        "cannot create '" + temporary + "': " + std::strerror(errno));
    }
    const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
    const int saved = errno;
    const bool closed = std::fclose(file) == 0;
    if (written != bytes.size() || !closed) {
        std::remove(temporary.c_str());
        throw GgufError(ErrorKind::Io, "cannot write '" + temporary + "': " +
                                           std::strerror(written != bytes.size() ? saved : errno));
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        const int rename_errno = errno;
        std::remove(temporary.c_str());
        throw GgufError(ErrorKind::Io, "cannot rename '" + temporary + "' to '" + path +
                                           "': " + std::strerror(rename_errno));
    }
}

}  // namespace dsv4::gguf
