// The GGUF writer: everything it writes reads back bit for bit, it refuses what the reader
// would reject, and every truncation or byte corruption of its output fails cleanly.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"

namespace dsv4::gguf {
namespace {

using quant::Type;

std::vector<uint8_t> pattern_bytes(size_t n, uint8_t seed) {
    std::vector<uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 131 + (i >> 8));
    return bytes;
}

struct TensorSpec {
    std::string name;
    Type type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
};

std::vector<TensorSpec> tensor_specs() {
    const auto spec = [](std::string name, Type type, std::vector<uint64_t> dims, uint8_t seed) {
        uint64_t elements = 1;
        for (uint64_t d : dims) elements *= d;
        const quant::TypeInfo& info = quant::type_info(type);
        const size_t bytes = elements / info.block_elems * info.block_bytes;
        return TensorSpec{std::move(name), type, std::move(dims), pattern_bytes(bytes, seed)};
    };
    return {
        spec("scalar.f32", Type::F32, {1}, 1),
        spec("embd.f16", Type::F16, {8, 5}, 2),
        spec("w.q8_0", Type::Q8_0, {64, 3}, 3),
        spec("experts.q4_k", Type::Q4_K, {256, 2, 3}, 4),
        spec("ids.i32", Type::I32, {6, 7}, 5),
        spec("four.d.bf16", Type::BF16, {2, 3, 4, 5}, 6),
        spec("w.iq2_xxs", Type::IQ2_XXS, {256, 1}, 7),
    };
}

GgufWriter full_writer(uint32_t alignment, const std::vector<TensorSpec>& tensors) {
    GgufWriter writer(alignment);
    writer.add_u8("s.u8", 255);
    writer.add_i8("s.i8", -128);
    writer.add_u16("s.u16", 65535);
    writer.add_i16("s.i16", -32768);
    writer.add_u32("s.u32", 4000000000u);
    writer.add_i32("s.i32", std::numeric_limits<int32_t>::min());
    writer.add_f32("s.f32", -0.1f);
    writer.add_bool("s.bool", false);
    writer.add_string("s.string", std::string("nul\0inside ü", 13));
    writer.add_string("s.empty", "");
    writer.add_u64("s.u64", ~uint64_t{0} - 1);
    writer.add_i64("s.i64", std::numeric_limits<int64_t>::min() + 3);
    writer.add_f64("s.f64", 1e300);
    writer.add_array("a.u8", std::vector<uint8_t>{0, 1, 255});
    writer.add_array("a.i8", std::vector<int8_t>{-1, 127});
    writer.add_array("a.u16", std::vector<uint16_t>{1, 65535});
    writer.add_array("a.i16", std::vector<int16_t>{-2, 300});
    writer.add_array("a.u32", std::vector<uint32_t>{0, 0, 4, 128, 4});
    writer.add_array("a.i32", std::vector<int32_t>{-7, 7});
    writer.add_array("a.f32", std::vector<float>{10.0f, -0.5f, 1e-6f});
    writer.add_array("a.u64", std::vector<uint64_t>{~uint64_t{0}});
    writer.add_array("a.i64", std::vector<int64_t>{-9, 9});
    writer.add_array("a.f64", std::vector<double>{0.1, -1e-300});
    writer.add_array("a.empty", std::vector<uint32_t>{});
    writer.add_bool_array("a.bool", {true, false, true});
    writer.add_string_array("a.string", std::vector<std::string>{"Ġthe", "", "x y"});
    writer.add("a.nested",
               MetaValue::array(ValueType::Array,
                                {MetaValue::array(ValueType::U32, {MetaValue::u32(1)}),
                                 MetaValue::array(ValueType::String,
                                                  {MetaValue::string("s"), MetaValue::string("t")}),
                                 MetaValue::array(ValueType::Bool, {})}));
    for (const TensorSpec& t : tensors) writer.add_tensor(t.name, t.type, t.dims, t.data);
    return writer;
}

void expect_metadata_round_trip(const GgufFile& file) {
    EXPECT_EQ(file.require_uint("s.u8"), 255u);
    EXPECT_EQ(file.find("s.u8")->type(), ValueType::U8);
    EXPECT_EQ(file.require_int("s.i8"), -128);
    EXPECT_EQ(file.find("s.i8")->type(), ValueType::I8);
    EXPECT_EQ(file.require_uint("s.u16"), 65535u);
    EXPECT_EQ(file.require_int("s.i16"), -32768);
    EXPECT_EQ(file.require_uint("s.u32"), 4000000000u);
    EXPECT_EQ(file.require_int("s.i32"), std::numeric_limits<int32_t>::min());
    EXPECT_EQ(file.require_float("s.f32"), static_cast<double>(-0.1f));
    EXPECT_EQ(file.find("s.f32")->type(), ValueType::F32);
    EXPECT_EQ(file.require_bool("s.bool"), false);
    EXPECT_EQ(file.require_string("s.string"), std::string_view("nul\0inside ü", 13));
    EXPECT_EQ(file.require_string("s.empty"), "");
    EXPECT_EQ(file.require_uint("s.u64"), ~uint64_t{0} - 1);
    EXPECT_EQ(file.require_int("s.i64"), std::numeric_limits<int64_t>::min() + 3);
    EXPECT_EQ(file.require_float("s.f64"), 1e300);
    EXPECT_EQ(file.find("s.f64")->type(), ValueType::F64);

    EXPECT_EQ(file.require_int_array("a.u8"), (std::vector<int64_t>{0, 1, 255}));
    EXPECT_EQ(file.find("a.u8")->element_type(), ValueType::U8);
    EXPECT_EQ(file.require_int_array("a.i8"), (std::vector<int64_t>{-1, 127}));
    EXPECT_EQ(file.require_int_array("a.u16"), (std::vector<int64_t>{1, 65535}));
    EXPECT_EQ(file.require_int_array("a.i16"), (std::vector<int64_t>{-2, 300}));
    EXPECT_EQ(file.require_int_array("a.u32"), (std::vector<int64_t>{0, 0, 4, 128, 4}));
    EXPECT_EQ(file.require_int_array("a.i32"), (std::vector<int64_t>{-7, 7}));
    EXPECT_EQ(file.require_float_array("a.f32"),
              (std::vector<double>{10.0, -0.5, static_cast<double>(1e-6f)}));
    EXPECT_EQ(file.find("a.u64")->element(0).as_uint(), ~uint64_t{0});
    EXPECT_EQ(file.require_int_array("a.i64"), (std::vector<int64_t>{-9, 9}));
    EXPECT_EQ(file.require_float_array("a.f64"), (std::vector<double>{0.1, -1e-300}));
    EXPECT_EQ(file.find("a.empty")->size(), 0u);
    EXPECT_EQ(file.find("a.empty")->element_type(), ValueType::U32);
    const Value* bools = file.find("a.bool");
    ASSERT_EQ(bools->size(), 3u);
    EXPECT_EQ(bools->element(0).as_bool(), true);
    EXPECT_EQ(bools->element(1).as_bool(), false);
    EXPECT_EQ(bools->element(2).as_bool(), true);
    EXPECT_EQ(file.require_string_array("a.string"),
              (std::vector<std::string_view>{"Ġthe", "", "x y"}));

    const Value* nested = file.find("a.nested");
    ASSERT_EQ(nested->element_type(), ValueType::Array);
    ASSERT_EQ(nested->size(), 3u);
    EXPECT_EQ(nested->element(0).element_type(), ValueType::U32);
    EXPECT_EQ(nested->element(0).element(0).as_uint(), 1u);
    EXPECT_EQ(nested->element(1).element(1).as_string(), "t");
    EXPECT_EQ(nested->element(2).element_type(), ValueType::Bool);
    EXPECT_EQ(nested->element(2).size(), 0u);
    EXPECT_EQ(nested->to_string(), "[[1], [\"s\", \"t\"], []]");
}

class WriterRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(WriterRoundTrip, EveryValueAndTensorByteReadsBack) {
    const uint32_t alignment = GetParam();
    const std::vector<TensorSpec> specs = tensor_specs();
    const GgufFile file =
        GgufFile::from_owned_bytes(full_writer(alignment, specs).to_bytes(), "round-trip.gguf");
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(file.alignment(), alignment);
    EXPECT_EQ(file.has(kAlignmentKey), alignment != kDefaultAlignment);
    EXPECT_EQ(file.metadata().size(), 27u + (alignment != kDefaultAlignment ? 1 : 0));
    expect_metadata_round_trip(file);

    ASSERT_EQ(file.tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
        const TensorSpec& spec = specs[i];
        const TensorInfo& info = file.tensors()[i];
        EXPECT_EQ(info.name, spec.name);
        EXPECT_EQ(info.type(), spec.type) << spec.name;
        EXPECT_EQ(std::vector<uint64_t>(info.shape().begin(), info.shape().end()), spec.dims);
        EXPECT_EQ(info.offset % alignment, 0u) << spec.name;
        ASSERT_EQ(info.n_bytes, spec.data.size()) << spec.name;
        EXPECT_TRUE(std::equal(spec.data.begin(), spec.data.end(), info.data)) << spec.name;
    }
}

INSTANTIATE_TEST_SUITE_P(Alignments, WriterRoundTrip, ::testing::Values(32u, 1u, 64u, 4096u));

TEST(GgufWriter, WritesAFileThatOpensThroughTheMapping) {
    const std::vector<TensorSpec> specs = tensor_specs();
    const std::string path =
        (std::filesystem::path(::testing::TempDir()) / "gguf_writer_round_trip.gguf").string();
    full_writer(kDefaultAlignment, specs).write_file(path);
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
    const GgufFile file = GgufFile::open(path);
    expect_metadata_round_trip(file);
    const TensorInfo& experts = file.tensor("experts.q4_k");
    EXPECT_TRUE(std::equal(specs[3].data.begin(), specs[3].data.end(), experts.data));
    std::filesystem::remove(path);
}

TEST(GgufWriter, RefusesWhatTheReaderWouldReject) {
    const auto expect_invalid = [](const std::function<void()>& action, std::string_view part) {
        try {
            action();
            ADD_FAILURE() << "expected a GgufError mentioning " << part;
        } catch (const GgufError& error) {
            EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument) << error.what();
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
        }
    };
    expect_invalid([] { GgufWriter writer(48); }, "alignment 48");
    expect_invalid([] { GgufWriter writer(0); }, "alignment 0");
    GgufWriter writer;
    writer.add_u32("k", 1);
    expect_invalid([&] { writer.add_u32("k", 2); }, "duplicate metadata key 'k'");
    expect_invalid([&] { writer.add_string("", "x"); }, "must not be empty");
    expect_invalid([&] { writer.add_u32("general.alignment", 64); }, "constructor");
    const std::vector<uint8_t> data(34);
    const std::vector<uint64_t> dims{32};
    writer.add_tensor("t", Type::Q8_0, dims, data);
    expect_invalid([&] { writer.add_tensor("t", Type::Q8_0, dims, data); }, "duplicate tensor 't'");
    expect_invalid([&] { writer.add_tensor("u", Type::Q8_0, std::vector<uint64_t>{33}, data); },
                   "Q8_0 block size 32");
    expect_invalid([&] { writer.add_tensor("u", Type::Q8_0, std::vector<uint64_t>{64}, data); },
                   "34 bytes of data given");
    expect_invalid([&] { writer.add_tensor("u", Type::F32, std::vector<uint64_t>{}, data); },
                   "0 dims");
    expect_invalid(
        [&] {
            writer.add_tensor("u", Type::F32, std::vector<uint64_t>{1, 1, 1, 1, 1}, data);
        },
        "5 dims");
    expect_invalid([&] { writer.add_tensor("u", Type::F32, std::vector<uint64_t>{0}, data); },
                   "dim 0 is 0");
    expect_invalid([] { MetaValue::array(ValueType::U32, {MetaValue::i32(1)}); },
                   "item 0 is a i32");
    MetaValue deep = MetaValue::array(ValueType::U8, {});
    for (uint32_t level = 1; level < kMaxArrayNesting; ++level) {
        deep = MetaValue::array(ValueType::Array, {deep});
    }
    GgufWriter nesting_writer;
    nesting_writer.add("deep.ok", deep);
    expect_invalid([&] { MetaValue::array(ValueType::Array, {deep}); }, "nested 9 deep");
    EXPECT_NO_THROW(GgufFile::from_owned_bytes(nesting_writer.to_bytes()));
}

// A small file whose last tensor ends exactly at the end of the file, so that every shorter
// prefix lacks some byte the reader needs.
struct SmallFile {
    std::vector<uint8_t> bytes;
    uint64_t last_tensor_end;
};

SmallFile small_file() {
    GgufWriter writer;
    writer.add_string("general.architecture", "deepseek4");
    writer.add_array("ratios", std::vector<uint32_t>{0, 4, 128});
    writer.add_string_array("tokens", std::vector<std::string>{"a", "bc", ""});
    writer.add("nested",
               MetaValue::array(ValueType::Array,
                                {MetaValue::array(ValueType::I16, {MetaValue::i16(-1)})}));
    writer.add_f64("eps", 1e-6);
    writer.add_bool("flag", true);
    const std::vector<uint8_t> q8 = pattern_bytes(34, 9);
    const std::vector<uint8_t> f32 = pattern_bytes(32, 3);
    writer.add_tensor("w", Type::Q8_0, std::vector<uint64_t>{32}, q8);
    writer.add_tensor("v", Type::F32, std::vector<uint64_t>{8}, f32);
    SmallFile file{writer.to_bytes(), 0};
    const GgufFile parsed = GgufFile::from_memory(file.bytes);
    file.last_tensor_end = parsed.tensors().back().offset + parsed.tensors().back().n_bytes;
    return file;
}

TEST(GgufWriter, EveryTruncationThrowsAndNeverCrashes) {
    const SmallFile file = small_file();
    ASSERT_EQ(file.last_tensor_end, file.bytes.size());
    for (size_t length = 0; length < file.bytes.size(); ++length) {
        // A fresh heap copy of exactly `length` bytes lets the sanitizers see any overread.
        std::vector<uint8_t> prefix(file.bytes.begin(), file.bytes.begin() + length);
        try {
            GgufFile::from_owned_bytes(std::move(prefix), "prefix.gguf");
            ADD_FAILURE() << "a prefix of " << length << " bytes parsed";
        } catch (const GgufError& error) {
            EXPECT_EQ(error.kind(), ErrorKind::Malformed) << error.what();
        }
    }
    EXPECT_NO_THROW(GgufFile::from_memory(file.bytes));
}

TEST(GgufWriter, EveryByteCorruptionParsesOrThrowsGgufError) {
    const SmallFile file = small_file();
    size_t rejected = 0;
    for (size_t position = 0; position < file.last_tensor_end; ++position) {
        for (uint8_t replacement : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
            std::vector<uint8_t> corrupt = file.bytes;
            if (corrupt[position] == replacement) continue;
            corrupt[position] = replacement;
            try {
                const GgufFile parsed = GgufFile::from_owned_bytes(std::move(corrupt));
                for (const MetadataEntry& entry : parsed.metadata()) entry.value.to_string();
            } catch (const GgufError&) {
                ++rejected;
            }
        }
    }
    EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace dsv4::gguf
