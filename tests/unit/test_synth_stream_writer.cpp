// The streaming GGUF writer lays files out exactly like GgufWriter (byte for byte, any
// alignment), asks for every tensor byte once and in order, and its sparse files parse with the
// same table and zero data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_stream_writer.h"
#include "engine/gguf/gguf_writer.h"

namespace dsv4::gguf {
namespace {

using quant::Type;

struct Spec {
    std::string name;
    Type type;
    std::vector<uint64_t> dims;
};

const std::vector<Spec>& specs() {
    static const std::vector<Spec> s = {
        {"a.f32", Type::F32, {3}},
        {"b.q8_0", Type::Q8_0, {64, 5}},
        // Larger than one 4 MiB chunk, so it is produced in several pieces.
        {"c.f16", Type::F16, {1024, 2100}},
        {"d.i32", Type::I32, {6, 7}},
        {"e.iq2_xxs", Type::IQ2_XXS, {256, 3, 2}},
    };
    return s;
}

uint8_t pattern(size_t index, uint64_t offset) {
    return static_cast<uint8_t>(index * 37 + offset * 11 + (offset >> 9));
}

std::vector<uint8_t> tensor_bytes(size_t index, uint64_t n_bytes) {
    std::vector<uint8_t> bytes(static_cast<size_t>(n_bytes));
    for (uint64_t i = 0; i < n_bytes; ++i) bytes[i] = pattern(index, i);
    return bytes;
}

template <typename Writer>
void add_metadata(Writer& w) {
    w.add("general.architecture", MetaValue::string("test"));
    w.add("x.u32", MetaValue::u32(7));
    w.add("x.f32s", MetaValue::array(ValueType::F32, {MetaValue::f32(1.5f), MetaValue::f32(-2)}));
    const std::vector<std::string> words = {"alpha", "", "gamma delta"};
    w.add_string_array("x.words", words);
}

struct Produced {
    std::vector<uint8_t> bytes;
    std::vector<std::pair<size_t, uint64_t>> calls;  // (tensor, offset) of every fill call
    uint64_t filled_bytes = 0;
};

Produced stream(uint32_t alignment) {
    GgufStreamWriter w(alignment);
    add_metadata(w);
    for (const Spec& s : specs()) w.add_tensor(s.name, s.type, s.dims);
    Produced p;
    p.bytes = w.to_bytes([&](size_t index, uint64_t offset, std::span<uint8_t> chunk) {
        p.calls.emplace_back(index, offset);
        p.filled_bytes += chunk.size();
        for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(index, offset + i);
    });
    EXPECT_EQ(p.bytes.size(), w.file_bytes());
    return p;
}

std::vector<uint8_t> reference(uint32_t alignment) {
    GgufWriter w(alignment);
    add_metadata(w);
    size_t index = 0;
    for (const Spec& s : specs()) {
        const quant::TypeInfo& info = quant::type_info(s.type);
        uint64_t n = 1;
        for (uint64_t d : s.dims) n *= d;
        w.add_tensor(s.name, s.type, s.dims,
                     tensor_bytes(index++, n / info.block_elems * info.block_bytes));
    }
    return w.to_bytes();
}

TEST(SynthStreamWriter, SameBytesAsTheInMemoryWriter) {
    for (uint32_t alignment : {32u, 64u, 4096u}) {
        SCOPED_TRACE(alignment);
        const Produced p = stream(alignment);
        EXPECT_EQ(p.bytes, reference(alignment));
        const GgufFile file = GgufFile::from_memory(p.bytes);
        EXPECT_EQ(file.alignment(), alignment);
        EXPECT_EQ(file.require_string_array("x.words")[2], "gamma delta");
    }
}

TEST(SynthStreamWriter, FillsEveryTensorOnceInOrder) {
    const Produced p = stream(32);
    uint64_t expected_bytes = 0;
    const GgufFile file = GgufFile::from_memory(p.bytes);
    for (const TensorInfo& t : file.tensors()) expected_bytes += t.n_bytes;
    EXPECT_EQ(p.filled_bytes, expected_bytes);
    for (size_t i = 1; i < p.calls.size(); ++i) {
        const auto [prev_index, prev_offset] = p.calls[i - 1];
        const auto [index, offset] = p.calls[i];
        EXPECT_TRUE(index == prev_index + 1 ? offset == 0
                                            : index == prev_index && offset > prev_offset)
            << "call " << i;
    }
    EXPECT_GT(p.calls.size(), specs().size());  // the big tensor came in several chunks
}

TEST(SynthStreamWriter, SparseFileParsesWithZeroData) {
    GgufStreamWriter w;
    add_metadata(w);
    for (const Spec& s : specs()) w.add_tensor(s.name, s.type, s.dims);
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("dsv4-stream-sparse-" + std::to_string(::getpid()) + ".gguf"))
                                 .string();
    w.write_sparse_file(path);
    {
        const GgufFile file = GgufFile::open(path);
        EXPECT_EQ(file.file_bytes(), w.file_bytes());
        ASSERT_EQ(file.tensors().size(), specs().size());
        for (const TensorInfo& t : file.tensors())
            for (uint8_t b : t.bytes()) ASSERT_EQ(b, 0) << t.name;
    }
    std::remove(path.c_str());
}

TEST(SynthStreamWriter, RefusesWhatTheReaderWouldReject) {
    GgufStreamWriter w;
    w.add("k", MetaValue::u8(1));
    EXPECT_THROW(w.add("k", MetaValue::u8(2)), GgufError);
    EXPECT_THROW(w.add("general.alignment", MetaValue::u32(64)), GgufError);
    EXPECT_THROW(GgufStreamWriter(48), GgufError);
    const std::vector<uint64_t> bad_block = {33, 2};
    EXPECT_THROW(w.add_tensor("q", Type::Q8_0, bad_block), GgufError);
    const std::vector<uint64_t> ok = {32};
    w.add_tensor("t", Type::Q8_0, ok);
    EXPECT_THROW(w.add_tensor("t", Type::Q8_0, ok), GgufError);
    const std::vector<uint64_t> zero = {0};
    EXPECT_THROW(w.add_tensor("z", Type::F32, zero), GgufError);
}

}  // namespace
}  // namespace dsv4::gguf
