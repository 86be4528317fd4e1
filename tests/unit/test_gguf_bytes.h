// Test helpers for the GGUF tests: a byte builder that writes any sequence of GGUF fields,
// valid or not, and a checker for the errors the reader raises. Test-only; no engine code
// may depend on it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_reader.h"

namespace dsv4::gguf::test {

class RawGguf {
  public:
    RawGguf& u8(uint8_t v) { return bits(v, 1); }
    RawGguf& u32(uint32_t v) { return bits(v, 4); }
    RawGguf& u64(uint64_t v) { return bits(v, 8); }
    RawGguf& str(std::string_view text) {
        u64(text.size());
        bytes.insert(bytes.end(), text.begin(), text.end());
        return *this;
    }
    // magic, version, tensor count, metadata count
    RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        return u32(kGgufMagic).u32(version).u64(n_tensors).u64(n_kv);
    }
    // key, value type, value for a u32 entry
    RawGguf& kv_u32(std::string_view key, uint32_t v) {
        return str(key).u32(static_cast<uint32_t>(ValueType::U32)).u32(v);
    }
    // name, n_dims, dims, type, relative offset
    RawGguf& tensor_info(std::string_view name, std::initializer_list<uint64_t> dims,
                         quant::Type type, uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) u64(d);
        return u32(static_cast<uint32_t>(type)).u64(offset);
    }
    RawGguf& pad(uint64_t alignment = kDefaultAlignment) {
        bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0);
        return *this;
    }
    RawGguf& zeros(size_t n) {
        bytes.resize(bytes.size() + n, 0);
        return *this;
    }

    std::vector<uint8_t> bytes;

  private:
    RawGguf& bits(uint64_t v, int width) {
        for (int i = 0; i < width; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
};

// Parses bytes as "bad.gguf" and expects a GgufError of kind Malformed whose message contains
// every one of parts.
inline void expect_malformed(const std::vector<uint8_t>& bytes,
                             std::initializer_list<std::string_view> parts) {
    try {
        GgufFile::from_memory(bytes, "bad.gguf");
        ADD_FAILURE() << "expected a GgufError, the file parsed";
    } catch (const GgufError& error) {
        const std::string message = error.what();
        EXPECT_EQ(error.kind(), ErrorKind::Malformed) << message;
        EXPECT_NE(message.find("bad.gguf"), std::string::npos) << message;
        for (std::string_view part : parts) {
            EXPECT_NE(message.find(part), std::string::npos)
                << "message lacks \"" << part << "\": " << message;
        }
    }
}

}  // namespace dsv4::gguf::test
