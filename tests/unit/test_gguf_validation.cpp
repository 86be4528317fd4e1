// One test per rule of the GGUF reader's validation: each builds a file that breaks exactly that
// rule and checks the error names the problem and where it is.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/gguf/gguf_reader.h"
#include "test_gguf_bytes.h"

namespace dsv4::gguf {
namespace {

using quant::Type;
using test::expect_malformed;
using test::RawGguf;

constexpr uint64_t kHeaderBytes = 24;

// A file whose only tensor "t" has the given shape, type and relative offset, followed by
// data_bytes zero bytes of data.
RawGguf one_tensor_file(std::initializer_list<uint64_t> dims, Type type, uint64_t offset,
                        size_t data_bytes) {
    RawGguf raw;
    raw.header(1, 0).tensor_info("t", dims, type, offset).pad().zeros(data_bytes);
    return raw;
}

TEST(GgufValidation, AcceptsTheMinimalFiles) {
    RawGguf empty;
    empty.header(0, 0);
    const GgufFile file = GgufFile::from_memory(empty.bytes);
    EXPECT_EQ(file.tensors().size(), 0u);
    EXPECT_EQ(file.metadata().size(), 0u);
    EXPECT_EQ(file.data_bytes(), 0u);

    const RawGguf one = one_tensor_file({4}, Type::F32, 0, 16);
    const GgufFile with_tensor = GgufFile::from_memory(one.bytes);
    ASSERT_EQ(with_tensor.tensors().size(), 1u);
    EXPECT_EQ(with_tensor.tensors()[0].n_bytes, 16u);
}

TEST(GgufValidation, BadMagic) {
    RawGguf raw;
    raw.u32(0x46554746).u32(3).u64(0).u64(0);  // "FGUF"
    expect_malformed(raw.bytes, {"byte offset 0", "bad magic", "'FGUF'"});
}

TEST(GgufValidation, VersionOneIsRejectedWithAReason) {
    RawGguf raw;
    raw.header(0, 0, 1);
    expect_malformed(raw.bytes, {"byte offset 4", "version 1 is not supported", "32-bit"});
}

TEST(GgufValidation, UnknownVersion) {
    RawGguf raw;
    raw.header(0, 0, 4);
    expect_malformed(raw.bytes, {"byte offset 4", "unsupported GGUF version 4", "2 and 3"});
}

TEST(GgufValidation, BigEndianFileIsNamedAsSuch) {
    RawGguf raw;
    raw.header(0, 0, 0x03000000);
    expect_malformed(raw.bytes, {"big-endian"});
}

TEST(GgufValidation, VersionTwoIsRead) {
    RawGguf raw;
    raw.header(0, 1, 2).kv_u32("a.b", 7);
    const GgufFile file = GgufFile::from_memory(raw.bytes);
    EXPECT_EQ(file.version(), 2u);
    EXPECT_EQ(file.get_uint("a.b"), 7u);
}

TEST(GgufValidation, TruncatedHeader) {
    expect_malformed({}, {"byte offset 0", "truncated", "magic"});
    RawGguf raw;
    raw.u32(kGgufMagic).u32(3).u32(0);
    expect_malformed(raw.bytes, {"byte offset 8", "truncated", "tensor count"});
}

TEST(GgufValidation, TruncatedMetadataValue) {
    RawGguf raw;
    raw.header(0, 1).str("k").u32(static_cast<uint32_t>(ValueType::U64)).u32(1);
    expect_malformed(raw.bytes, {"truncated", "metadata key 'k'", "needs 8 bytes"});
}

TEST(GgufValidation, StringLengthPastTheEnd) {
    RawGguf raw;
    raw.header(0, 1).str("k").u32(static_cast<uint32_t>(ValueType::String)).u64(1000000);
    raw.zeros(16);
    expect_malformed(raw.bytes, {"metadata key 'k'", "string length 1000000", "past the end"});
}

TEST(GgufValidation, KeyLengthPastTheEnd) {
    RawGguf raw;
    raw.header(0, 1).u64(uint64_t{1} << 62).zeros(16);
    expect_malformed(raw.bytes, {"byte offset " + std::to_string(kHeaderBytes), "metadata key 0",
                                 "string length 4611686018427387904"});
}

TEST(GgufValidation, AbsurdMetadataCount) {
    RawGguf raw;
    raw.header(0, uint64_t{1} << 60).zeros(64);
    expect_malformed(raw.bytes, {"byte offset 16", "metadata count 1152921504606846976"});
}

TEST(GgufValidation, AbsurdTensorCount) {
    RawGguf raw;
    raw.header(~uint64_t{0}, 0).zeros(64);
    expect_malformed(raw.bytes, {"byte offset 8", "tensor count 18446744073709551615"});
}

TEST(GgufValidation, AbsurdArrayCount) {
    RawGguf raw;
    raw.header(0, 1).str("arr").u32(static_cast<uint32_t>(ValueType::Array));
    raw.u32(static_cast<uint32_t>(ValueType::U32)).u64(uint64_t{1} << 60).zeros(64);
    expect_malformed(raw.bytes, {"metadata key 'arr'", "array of 1152921504606846976 u32"});
}

TEST(GgufValidation, AbsurdStringArrayCount) {
    RawGguf raw;
    raw.header(0, 1).str("tokens").u32(static_cast<uint32_t>(ValueType::Array));
    raw.u32(static_cast<uint32_t>(ValueType::String)).u64(1000).zeros(64);
    expect_malformed(raw.bytes, {"metadata key 'tokens'", "array of 1000 string"});
}

TEST(GgufValidation, UnknownMetadataValueType) {
    RawGguf raw;
    raw.header(0, 1).str("k").u32(13).u32(0);
    expect_malformed(raw.bytes, {"byte offset " + std::to_string(kHeaderBytes + 9),
                                 "metadata key 'k'", "unknown metadata value type 13"});
}

TEST(GgufValidation, UnknownArrayElementType) {
    RawGguf raw;
    raw.header(0, 1).str("k").u32(static_cast<uint32_t>(ValueType::Array)).u32(99).u64(0);
    expect_malformed(raw.bytes, {"metadata key 'k' array", "unknown metadata value type 99"});
}

TEST(GgufValidation, ArraysNestedTooDeep) {
    RawGguf raw;
    raw.header(0, 1).str("deep").u32(static_cast<uint32_t>(ValueType::Array));
    for (uint32_t level = 0; level < kMaxArrayNesting + 1; ++level) {
        raw.u32(static_cast<uint32_t>(ValueType::Array)).u64(1);
    }
    raw.zeros(64);
    expect_malformed(raw.bytes, {"metadata key 'deep'", "nested deeper than 8"});
}

TEST(GgufValidation, BoolOtherThanZeroOrOne) {
    RawGguf raw;
    raw.header(0, 1).str("flag").u32(static_cast<uint32_t>(ValueType::Bool)).u8(2);
    expect_malformed(raw.bytes, {"metadata key 'flag'", "bool value 2"});
}

TEST(GgufValidation, EmptyKey) {
    RawGguf raw;
    raw.header(0, 1).kv_u32("", 1);
    expect_malformed(raw.bytes, {"metadata key 0 is empty"});
}

TEST(GgufValidation, DuplicateMetadataKey) {
    RawGguf raw;
    raw.header(0, 2).kv_u32("dup.key", 1).kv_u32("dup.key", 2);
    const uint64_t second_entry = kHeaderBytes + 8 + 7 + 4 + 4;
    expect_malformed(raw.bytes, {"byte offset " + std::to_string(second_entry),
                                 "duplicate metadata key 'dup.key'",
                                 "first defined at byte offset " + std::to_string(kHeaderBytes)});
}

TEST(GgufValidation, AlignmentMustBeAPowerOfTwo) {
    for (uint32_t bad : {0u, 48u, 3u}) {
        RawGguf raw;
        raw.header(0, 1).kv_u32("general.alignment", bad);
        expect_malformed(raw.bytes,
                         {"general.alignment", "power of two", "found " + std::to_string(bad)});
    }
}

TEST(GgufValidation, AlignmentMustFitThirtyTwoBits) {
    RawGguf raw;
    raw.header(0, 1).str("general.alignment").u32(static_cast<uint32_t>(ValueType::U64));
    raw.u64(uint64_t{1} << 40);
    expect_malformed(raw.bytes, {"general.alignment", "fits 32 bits", "1099511627776"});
}

TEST(GgufValidation, AlignmentMustBeAnInteger) {
    RawGguf raw;
    raw.header(0, 1).str("general.alignment").u32(static_cast<uint32_t>(ValueType::String));
    raw.str("32");
    expect_malformed(raw.bytes, {"general.alignment", "unsigned integer", "found string"});
}

TEST(GgufValidation, AlignmentIsApplied) {
    RawGguf raw;
    raw.header(1, 1).kv_u32("general.alignment", 64);
    raw.tensor_info("t", {2}, Type::F32, 64).pad(64).zeros(72);
    const GgufFile file = GgufFile::from_memory(raw.bytes);
    EXPECT_EQ(file.alignment(), 64u);
    EXPECT_EQ(file.data_offset() % 64, 0u);
    EXPECT_EQ(file.tensors()[0].offset, file.data_offset() + 64);

    RawGguf misaligned;
    misaligned.header(1, 1).kv_u32("general.alignment", 64);
    misaligned.tensor_info("t", {2}, Type::F32, 32).pad(64).zeros(72);
    expect_malformed(misaligned.bytes, {"tensor 't'", "data offset 32", "alignment 64"});
}

TEST(GgufValidation, UnknownTensorType) {
    RawGguf raw;
    raw.header(1, 0).str("blk.0.w").u32(1).u64(32).u32(5).u64(0).pad().zeros(64);
    expect_malformed(raw.bytes, {"tensor 'blk.0.w'", "unknown ggml tensor type id 5"});
    RawGguf beyond;
    beyond.header(1, 0).str("blk.0.w").u32(1).u64(32).u32(4000).u64(0).pad().zeros(64);
    expect_malformed(beyond.bytes, {"tensor 'blk.0.w'", "unknown ggml tensor type id 4000"});
}

TEST(GgufValidation, DimensionCountOutOfRange) {
    RawGguf zero;
    zero.header(1, 0).str("w").u32(0).u32(0).u64(0).pad().zeros(32);
    expect_malformed(zero.bytes, {"tensor 'w'", "n_dims is 0", "expected 1 to 4"});
    const RawGguf five = one_tensor_file({1, 1, 1, 1, 1}, Type::F32, 0, 4);
    expect_malformed(five.bytes, {"tensor 't'", "n_dims is 5"});
}

TEST(GgufValidation, ZeroDimension) {
    const RawGguf raw = one_tensor_file({4, 0}, Type::F32, 0, 16);
    expect_malformed(raw.bytes, {"tensor 't'", "dim 1 is 0"});
}

TEST(GgufValidation, ElementCountOverflow) {
    const RawGguf raw = one_tensor_file({uint64_t{1} << 32, uint64_t{1} << 32}, Type::F32, 0, 16);
    expect_malformed(raw.bytes, {"tensor 't'", "element count overflows", "dim 1"});
    const RawGguf huge_dim = one_tensor_file({~uint64_t{0}}, Type::I8, 0, 16);
    expect_malformed(huge_dim.bytes, {"tensor 't'", "element count overflows", "dim 0"});
}

TEST(GgufValidation, FirstDimensionNotAMultipleOfTheBlock) {
    const RawGguf raw = one_tensor_file({33, 2}, Type::Q8_0, 0, 1024);
    expect_malformed(raw.bytes, {"tensor 't'", "dim 0 is 33", "Q8_0 block size 32"});
}

TEST(GgufValidation, ByteSizeOverflow) {
    // 2^62 f32 elements fit the element count but need 2^64 bytes.
    const RawGguf raw = one_tensor_file({uint64_t{1} << 31, uint64_t{1} << 31}, Type::F32, 0, 16);
    expect_malformed(raw.bytes, {"tensor 't'", "byte size overflows"});
}

TEST(GgufValidation, TensorDataOutsideTheFile) {
    const RawGguf raw = one_tensor_file({64}, Type::F32, 0, 255);
    expect_malformed(raw.bytes, {"tensor 't'", "256 bytes", "outside the file"});
    const RawGguf far = one_tensor_file({1}, Type::F32, uint64_t{1} << 63, 32);
    expect_malformed(far.bytes, {"tensor 't'", "outside the file"});
    const RawGguf wrap = one_tensor_file({1}, Type::F32, ~uint64_t{31}, 32);
    expect_malformed(wrap.bytes, {"tensor 't'", "outside the file"});
}

TEST(GgufValidation, TensorOffsetNotAligned) {
    const RawGguf raw = one_tensor_file({1}, Type::F32, 4, 64);
    expect_malformed(raw.bytes, {"tensor 't'", "data offset 4", "alignment 32"});
}

TEST(GgufValidation, DuplicateTensorName) {
    RawGguf raw;
    raw.header(2, 0).tensor_info("same", {8}, Type::F32, 0).tensor_info("same", {8}, Type::F32, 32);
    raw.pad().zeros(64);
    expect_malformed(raw.bytes, {"duplicate tensor name 'same'",
                                 "first defined at byte offset " + std::to_string(kHeaderBytes)});
}

TEST(GgufValidation, EmptyTensorName) {
    const RawGguf raw = [] {
        RawGguf r;
        r.header(1, 0).tensor_info("", {8}, Type::F32, 0).pad().zeros(32);
        return r;
    }();
    expect_malformed(raw.bytes, {"tensor 0 has an empty name"});
}

TEST(GgufValidation, TruncatedTensorInfo) {
    RawGguf raw;
    const std::string name = "blk.0.a_name_long_enough.weight";  // passes the count check
    raw.header(1, 0).str(name).u32(2).u64(8);
    expect_malformed(raw.bytes, {"truncated", "tensor '" + name + "' dim 1"});
}

TEST(GgufValidation, ControlBytesInNamesAreEscapedInMessages) {
    RawGguf raw;
    raw.header(0, 1).str(std::string("a\nb\x01", 4)).u32(42);
    expect_malformed(raw.bytes, {"'a\\x0ab\\x01'", "unknown metadata value type 42"});
}

TEST(GgufValidation, OpenReportsMissingFilesDirectoriesAndEmptyFiles) {
    const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "gguf_open";
    std::filesystem::create_directories(dir);
    const std::string missing = (dir / "missing.gguf").string();
    try {
        GgufFile::open(missing);
        ADD_FAILURE() << "opened a missing file";
    } catch (const GgufError& error) {
        EXPECT_EQ(error.kind(), ErrorKind::Io);
        EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("No such file"), std::string::npos);
    }
    try {
        GgufFile::open(dir.string());
        ADD_FAILURE() << "opened a directory";
    } catch (const GgufError& error) {
        EXPECT_NE(std::string(error.what()).find("not a regular file"), std::string::npos);
    }
    const std::string empty = (dir / "empty.gguf").string();
    std::fclose(std::fopen(empty.c_str(), "wb"));
    try {
        GgufFile::open(empty);
        ADD_FAILURE() << "opened an empty file";
    } catch (const GgufError& error) {
        EXPECT_EQ(error.kind(), ErrorKind::Malformed);
        EXPECT_NE(std::string(error.what()).find("empty"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace dsv4::gguf
