// The GGUF reader on the golden models (known facts of the tiny DSV4 files) and its typed
// metadata accessors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "golden_dir.h"
#include "test_gguf_bytes.h"

namespace dsv4::gguf {
namespace {

using quant::Type;

std::string golden_model(const char* name) {
    return dsv4::test::golden_dir() + "/" + name;
}

class GoldenModel : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenModel, HeaderAndMetadataFacts) {
    const GgufFile file = GgufFile::open(golden_model(GetParam()));
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(file.alignment(), 32u);
    EXPECT_EQ(file.tensors().size(), 150u);
    EXPECT_EQ(file.metadata().size(), 52u);
    EXPECT_EQ(file.data_offset() % 32, 0u);

    EXPECT_EQ(file.require_string("general.architecture"), "deepseek4");
    EXPECT_EQ(file.require_uint("deepseek4.block_count"), 5u);
    EXPECT_EQ(file.require_uint("deepseek4.embedding_length"), 256u);
    EXPECT_EQ(file.require_int_array("deepseek4.attention.compress_ratios"),
              (std::vector<int64_t>{0, 0, 4, 128, 4}));
    EXPECT_EQ(file.require_float_array("deepseek4.swiglu_clamp_exp"),
              (std::vector<double>(5, 10.0)));
    EXPECT_FLOAT_EQ(static_cast<float>(file.require_float("deepseek4.rope.freq_base")), 10000.0f);
    EXPECT_FLOAT_EQ(
        static_cast<float>(file.require_float("deepseek4.attention.layer_norm_rms_epsilon")),
        1e-6f);
    EXPECT_TRUE(file.require_bool("deepseek4.expert_weights_norm"));

    const std::vector<std::string_view> tokens = file.require_string_array("tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.size(), 640u);
    EXPECT_EQ(tokens[0], "<｜begin▁of▁sentence｜>");
    EXPECT_EQ(tokens[1], "<｜end▁of▁sentence｜>");
    EXPECT_EQ(file.require_string_array("tokenizer.ggml.merges")[0], "h e");
    EXPECT_EQ(file.require_int_array("tokenizer.ggml.token_type").size(), 640u);
}

TEST_P(GoldenModel, KnownTensors) {
    const GgufFile file = GgufFile::open(golden_model(GetParam()));
    const TensorInfo& q_a = file.tensor("blk.0.attn_q_a.weight");
    EXPECT_EQ(q_a.type(), Type::Q8_0);
    EXPECT_EQ(q_a.n_dims, 2u);
    EXPECT_EQ(q_a.dims[0], 256u);
    EXPECT_EQ(q_a.dims[1], 64u);
    EXPECT_EQ(q_a.n_bytes, 256u / 32 * 34 * 64);
    EXPECT_EQ(q_a.row_bytes(), 256u / 32 * 34);

    const TensorInfo& embd = file.tensor("token_embd.weight");
    EXPECT_EQ(embd.type(), Type::F16);
    EXPECT_EQ(embd.offset, file.data_offset());  // the first tensor starts the data section

    const TensorInfo& tid2eid = file.tensor("blk.0.ffn_gate_tid2eid.weight");
    EXPECT_EQ(tid2eid.type(), Type::I32);
    ASSERT_EQ(tid2eid.shape().size(), 2u);
    EXPECT_EQ(tid2eid.shape()[0], 6u);
    EXPECT_EQ(tid2eid.shape()[1], 640u);
    EXPECT_EQ(tid2eid.n_elements, 6u * 640);
    // Hash routing maps each token to expert ids, which must lie in [0, expert_count).
    const uint64_t n_experts = file.require_uint("deepseek4.expert_count");
    for (uint64_t i = 0; i < tid2eid.n_elements; ++i) {
        int32_t expert = 0;
        std::memcpy(&expert, tid2eid.data + i * 4, 4);
        ASSERT_GE(expert, 0) << "item " << i;
        ASSERT_LT(static_cast<uint64_t>(expert), n_experts) << "item " << i;
    }

    const TensorInfo& exps = file.tensor("blk.0.ffn_gate_exps.weight");
    EXPECT_EQ(exps.n_dims, 3u);
    EXPECT_EQ(exps.dims[2], n_experts);
    EXPECT_EQ(file.find_tensor("blk.3.ffn_gate_tid2eid.weight"), nullptr);  // learned routing
}

TEST_P(GoldenModel, EveryTensorLiesInsideTheFileAndIsAligned) {
    const GgufFile file = GgufFile::open(golden_model(GetParam()));
    uint64_t previous_end = file.data_offset();
    for (const TensorInfo& tensor : file.tensors()) {
        EXPECT_EQ(tensor.offset % file.alignment(), 0u) << tensor.name;
        EXPECT_GE(tensor.offset, previous_end) << tensor.name << " overlaps its predecessor";
        EXPECT_LE(tensor.offset + tensor.n_bytes, file.file_bytes()) << tensor.name;
        EXPECT_EQ(tensor.data, file.bytes().data() + tensor.offset) << tensor.name;
        EXPECT_EQ(&file.tensor(tensor.name), &tensor);
        previous_end = tensor.offset + tensor.n_bytes;
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenModel,
                         ::testing::Values("dsv4-tiny-s1-iq2xxs.gguf", "dsv4-tiny-s1-q4k.gguf"));

TEST(GgufLoadMode, CopyFitsOnlyWithAGibibyteToSpare) {
    constexpr std::string_view kMeminfo =
        "MemTotal:       24576000 kB\nMemFree:        20000000 kB\n"
        "MemAvailable:    4194304 kB\nBuffers:           1000 kB\n";  // 4 GiB available
    constexpr uint64_t kGiB = uint64_t{1} << 30;
    EXPECT_EQ(copy_refusal(3 * kGiB, kMeminfo), std::nullopt);
    const std::optional<std::string> refusal = copy_refusal(3 * kGiB + 1, kMeminfo);
    ASSERT_TRUE(refusal.has_value());
    EXPECT_NE(refusal->find("3072 MiB"), std::string::npos) << *refusal;
    EXPECT_NE(refusal->find("4096 MiB are available"), std::string::npos) << *refusal;
    const std::optional<std::string> unknown = copy_refusal(1024, "MemTotal: 1000 kB\n");
    ASSERT_TRUE(unknown.has_value());
    EXPECT_NE(unknown->find("MemAvailable"), std::string::npos) << *unknown;
    EXPECT_TRUE(copy_refusal(1024, "MemAvailable: lots\n").has_value());
    EXPECT_TRUE(copy_refusal(1024, "").has_value());
}

TEST_P(GoldenModel, CopiedIntoMemoryHoldsTheSameBytesOnHugePageAlignment) {
    const GgufFile mapped = GgufFile::open(golden_model(GetParam()));
    const GgufFile copied = GgufFile::open(golden_model(GetParam()), LoadMode::Copy);
    EXPECT_FALSE(mapped.copied_into_memory());
    EXPECT_EQ(mapped.copy_fallback_reason(), "");
    ASSERT_TRUE(copied.copied_into_memory()) << copied.copy_fallback_reason();  // a few MiB fit
    EXPECT_EQ(copied.copy_fallback_reason(), "");
    ASSERT_EQ(copied.file_bytes(), mapped.file_bytes());
    EXPECT_TRUE(std::ranges::equal(copied.bytes(), mapped.bytes()));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copied.bytes().data()) % (uintptr_t{1} << 21), 0u);
    ASSERT_EQ(copied.tensors().size(), mapped.tensors().size());
    for (size_t i = 0; i < copied.tensors().size(); ++i)
        EXPECT_TRUE(std::ranges::equal(copied.tensors()[i].bytes(), mapped.tensors()[i].bytes()));
    EXPECT_EQ(parse_load_mode("copy"), LoadMode::Copy);
    EXPECT_EQ(parse_load_mode("mmap"), LoadMode::Map);
    EXPECT_FALSE(parse_load_mode("Copy").has_value());
}

TEST(GgufReader, CopyOfAMissingFileNamesIt) {
    try {
        GgufFile::open("/nonexistent/dsv4.gguf", LoadMode::Copy);
        ADD_FAILURE() << "opened a missing file";
    } catch (const GgufError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/dsv4.gguf"), std::string::npos);
    }
}

TEST(GgufReader, BothGoldenModelsShareEverythingButTheRoutedExperts) {
    const GgufFile iq2 = GgufFile::open(golden_model("dsv4-tiny-s1-iq2xxs.gguf"));
    const GgufFile q4k = GgufFile::open(golden_model("dsv4-tiny-s1-q4k.gguf"));
    ASSERT_EQ(iq2.tensors().size(), q4k.tensors().size());
    int routed = 0;
    for (const TensorInfo& a : iq2.tensors()) {
        const TensorInfo& b = q4k.tensor(a.name);
        if (a.name.find("_exps.") != std::string_view::npos) {
            ++routed;
            EXPECT_EQ(b.type(), Type::Q4_K) << a.name;
            continue;
        }
        ASSERT_EQ(a.type(), b.type()) << a.name;
        ASSERT_EQ(a.n_bytes, b.n_bytes) << a.name;
        EXPECT_TRUE(std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin())) << a.name;
    }
    EXPECT_EQ(routed, 15);
    EXPECT_EQ(iq2.tensor("blk.0.ffn_gate_exps.weight").type(), Type::IQ2_XXS);
    EXPECT_EQ(iq2.tensor("blk.0.ffn_down_exps.weight").type(), Type::Q2_K);
}

TEST(GgufReader, MissingTensorIsReportedByName) {
    const GgufFile file = GgufFile::open(golden_model("dsv4-tiny-s1-q4k.gguf"));
    try {
        file.tensor("blk.99.attn_q_a.weight");
        ADD_FAILURE() << "found a tensor that does not exist";
    } catch (const GgufError& error) {
        EXPECT_EQ(error.kind(), ErrorKind::MissingTensor);
        EXPECT_NE(std::string(error.what()).find("'blk.99.attn_q_a.weight'"), std::string::npos);
    }
}

// ---- typed accessors -------------------------------------------------------------------------

GgufFile accessor_file() {
    GgufWriter writer;
    writer.add_u8("u8", 200);
    writer.add_i8("i8.negative", -5);
    writer.add_i32("i32.positive", 77);
    writer.add_u64("u64.huge", ~uint64_t{0});
    writer.add_i64("i64.min", INT64_MIN);
    writer.add_f32("f32", 1.5f);
    writer.add_f64("f64", -2.25);
    writer.add_bool("flag", true);
    writer.add_string("text", "hello");
    writer.add_array("ratios.i32", std::vector<int32_t>{0, -1, 4});
    writer.add_array("ratios.u64", std::vector<uint64_t>{0, 128, 4});
    writer.add_array("big.u64", std::vector<uint64_t>{1, ~uint64_t{0}});
    writer.add_array("clamp.f64", std::vector<double>{10.0, 0.5});
    writer.add_array("clamp.u16", std::vector<uint16_t>{10, 11});
    writer.add_string_array("words", std::vector<std::string>{"a", "bc"});
    return GgufFile::from_owned_bytes(writer.to_bytes(), "accessors.gguf");
}

void expect_error(ErrorKind kind, const std::function<void()>& access,
                  std::initializer_list<std::string_view> parts) {
    try {
        access();
        ADD_FAILURE() << "expected a GgufError";
    } catch (const GgufError& error) {
        EXPECT_EQ(error.kind(), kind) << error.what();
        for (std::string_view part : parts) {
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
                << "lacks \"" << part << "\": " << error.what();
        }
    }
}

TEST(GgufAccessors, IntegersOfEveryWidthConvertWhenTheValueFits) {
    const GgufFile file = accessor_file();
    EXPECT_EQ(file.get_uint("u8"), 200u);
    EXPECT_EQ(file.get_int("u8"), 200);
    EXPECT_EQ(file.get_uint("i32.positive"), 77u);
    EXPECT_EQ(file.get_int("i8.negative"), -5);
    EXPECT_EQ(file.get_uint("u64.huge"), ~uint64_t{0});
    EXPECT_EQ(file.get_int("i64.min"), INT64_MIN);
    EXPECT_EQ(file.get_float("i8.negative"), -5.0);
    EXPECT_EQ(file.get_float("f32"), 1.5);
    EXPECT_EQ(file.get_float("f64"), -2.25);
    EXPECT_EQ(file.get_bool("flag"), true);
    EXPECT_EQ(file.get_string("text"), "hello");
}

TEST(GgufAccessors, ValuesThatDoNotFitAreWrongType) {
    const GgufFile file = accessor_file();
    expect_error(ErrorKind::WrongType, [&] { file.get_uint("i8.negative"); },
                 {"accessors.gguf", "'i8.negative'", "non-negative integer", "i8 -5"});
    expect_error(ErrorKind::WrongType, [&] { file.get_int("u64.huge"); },
                 {"'u64.huge'", "64 signed bits"});
    expect_error(ErrorKind::WrongType, [&] { file.get_uint("f32"); }, {"'f32'", "f32 1.5"});
    expect_error(ErrorKind::WrongType, [&] { file.get_string("u8"); }, {"a string", "u8 200"});
    expect_error(ErrorKind::WrongType, [&] { file.get_bool("u8"); }, {"a bool"});
    expect_error(ErrorKind::WrongType, [&] { file.get_float("text"); }, {"a number"});
    expect_error(ErrorKind::WrongType, [&] { file.get_int_array("u8"); }, {"array of integers"});
    expect_error(ErrorKind::WrongType, [&] { file.require_int_array("big.u64"); },
                 {"'big.u64'", "array of 2 u64"});
    expect_error(ErrorKind::WrongType, [&] { file.get_string_array("ratios.i32"); },
                 {"array of strings", "array of 3 i32"});
    expect_error(ErrorKind::WrongType, [&] { file.get_int_array("clamp.f64"); },
                 {"array of integers"});
}

TEST(GgufAccessors, MissingKeysAreDistinguishableFromWrongTypes) {
    const GgufFile file = accessor_file();
    EXPECT_FALSE(file.get_uint("absent").has_value());
    EXPECT_FALSE(file.get_string_array("absent").has_value());
    EXPECT_FALSE(file.has("absent"));
    EXPECT_TRUE(file.has("u8"));
    expect_error(ErrorKind::MissingKey, [&] { file.require_uint("absent.key"); },
                 {"accessors.gguf", "'absent.key'", "missing"});
    expect_error(ErrorKind::MissingKey, [&] { file.require_float_array("absent.key"); },
                 {"'absent.key'"});
}

TEST(GgufAccessors, ArraysOfAnyIntegerOrFloatWidth) {
    const GgufFile file = accessor_file();
    EXPECT_EQ(file.require_int_array("ratios.i32"), (std::vector<int64_t>{0, -1, 4}));
    EXPECT_EQ(file.require_int_array("ratios.u64"), (std::vector<int64_t>{0, 128, 4}));
    EXPECT_EQ(file.require_int_array("clamp.u16"), (std::vector<int64_t>{10, 11}));
    EXPECT_EQ(file.require_float_array("clamp.f64"), (std::vector<double>{10.0, 0.5}));
    EXPECT_EQ(file.require_float_array("clamp.u16"), (std::vector<double>{10.0, 11.0}));
    EXPECT_EQ(file.require_string_array("words"), (std::vector<std::string_view>{"a", "bc"}));
    const Value* words = file.find("words");
    ASSERT_NE(words, nullptr);
    EXPECT_EQ(words->element(1).as_string(), "bc");
    expect_error(ErrorKind::InvalidArgument, [&] { words->element(2); },
                 {"index 2 is out of range", "2 items"});
    expect_error(ErrorKind::InvalidArgument, [&] { file.find("u8")->element(0); },
                 {"not an array"});
}

TEST(GgufAccessors, MetadataKeepsFileOrderAndOffsets) {
    const GgufFile file = accessor_file();
    ASSERT_EQ(file.metadata().size(), 15u);
    EXPECT_EQ(file.metadata()[0].key, "u8");
    EXPECT_EQ(file.metadata()[0].offset, 24u);
    EXPECT_EQ(file.metadata()[14].key, "words");
}

}  // namespace
}  // namespace dsv4::gguf
