// libFuzzer target for the GGUF reader: parses the input from memory and, when it is accepted,
// walks every value, accessor and tensor so that the sanitizers see each byte the reader hands
// out. Any exception other than GgufError escapes and is reported as a finding.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <streambuf>

#include "engine/gguf/gguf_describe.h"
#include "engine/gguf/gguf_reader.h"

namespace {

using dsv4::gguf::GgufError;
using dsv4::gguf::GgufFile;
using dsv4::gguf::Value;

class DiscardBuffer : public std::streambuf {
  protected:
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// Makes value observable so the reads that produced it are not optimized away.
void keep(uint64_t value) {
    asm volatile("" : : "r"(value) : "memory");
}

template <typename Get>
void call_accessor(Get get) {
    try {
        get();
    } catch (const GgufError&) {
        // Wrong types and missing keys are expected on arbitrary input.
    }
}

void touch_value(const Value& value, uint32_t depth) {
    uint64_t acc = static_cast<uint64_t>(value.type());
    acc += value.as_uint().value_or(1) + static_cast<uint64_t>(value.as_int().value_or(2));
    acc += static_cast<uint64_t>(value.as_float().value_or(3.0) != 0.0);
    acc += value.as_bool().value_or(false);
    if (const auto text = value.as_string()) {
        for (char c : *text) acc += static_cast<unsigned char>(c);
    }
    if (value.is_array() && depth < 16) {
        for (uint64_t i = 0; i < value.size(); ++i) touch_value(value.element(i), depth + 1);
        call_accessor([&] { value.element(value.size()); });
    }
    keep(acc);
}

void touch_file(const GgufFile& file) {
    uint64_t acc = file.version() + file.alignment() + file.data_offset() + file.data_bytes();
    for (const auto& entry : file.metadata()) {
        touch_value(entry.value, 0);
        acc += entry.value.to_string(4).size();
        const std::string_view key = entry.key;
        acc += file.find(key) == &entry.value;
        call_accessor([&] { file.require_uint(key); });
        call_accessor([&] { file.require_int(key); });
        call_accessor([&] { file.require_float(key); });
        call_accessor([&] { file.require_bool(key); });
        call_accessor([&] { file.require_string(key); });
        call_accessor([&] { file.require_int_array(key); });
        call_accessor([&] { file.require_float_array(key); });
        call_accessor([&] { file.require_string_array(key); });
    }
    call_accessor([&] { file.require_uint("no.such.key"); });
    for (const auto& tensor : file.tensors()) {
        acc += file.tensor(tensor.name).n_elements + tensor.row_bytes();
        acc += tensor.data[0] + tensor.data[tensor.n_bytes - 1];
        for (uint64_t dim : tensor.shape()) acc += dim;
    }
    call_accessor([&] { file.tensor("no.such.tensor"); });
    DiscardBuffer discard;
    std::ostream out(&discard);
    dsv4::gguf::describe_gguf(file, out);
    keep(acc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const GgufFile file = GgufFile::from_memory(std::span<const uint8_t>(data, size), "fuzz");
        touch_file(file);
    } catch (const GgufError&) {
        // Rejecting malformed input with a GgufError is the correct outcome.
    }
    return 0;
}
