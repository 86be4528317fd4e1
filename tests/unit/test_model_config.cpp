#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/config.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::model {
namespace {

using gguf::MetaValue;
using gguf::ValueType;

MetaValue u32_array(const std::vector<uint32_t>& v) {
    std::vector<MetaValue> items;
    for (uint32_t x : v) items.push_back(MetaValue::u32(x));
    return MetaValue::array(ValueType::U32, items);
}

MetaValue f32_array(const std::vector<float>& v) {
    std::vector<MetaValue> items;
    for (float x : v) items.push_back(MetaValue::f32(x));
    return MetaValue::array(ValueType::F32, items);
}

// The metadata of a small DSV4 file with 6 layers (a shape no real file has), in a form the
// tests can edit before writing.
std::map<std::string, MetaValue> six_layer_metadata() {
    std::map<std::string, MetaValue> m;
    const std::string p = "deepseek4.";
    m.emplace("general.architecture", MetaValue::string("deepseek4"));
    m.emplace(p + "block_count", MetaValue::u32(6));
    m.emplace(p + "embedding_length", MetaValue::u32(512));
    m.emplace(p + "vocab_size", MetaValue::u32(1000));
    m.emplace(p + "attention.head_count", MetaValue::u32(8));
    m.emplace(p + "attention.head_count_kv", MetaValue::u32(1));
    m.emplace(p + "attention.key_length", MetaValue::u32(256));
    m.emplace(p + "attention.value_length", MetaValue::u32(256));
    m.emplace(p + "rope.dimension_count", MetaValue::u32(64));
    m.emplace(p + "attention.q_lora_rank", MetaValue::u32(128));
    m.emplace(p + "attention.output_lora_rank", MetaValue::u32(96));
    m.emplace(p + "attention.output_group_count", MetaValue::u32(4));
    m.emplace(p + "expert_count", MetaValue::u32(24));
    m.emplace(p + "expert_used_count", MetaValue::u32(4));
    m.emplace(p + "expert_feed_forward_length", MetaValue::u32(512));
    m.emplace(p + "expert_shared_count", MetaValue::u32(1));
    m.emplace(p + "hash_layer_count", MetaValue::u32(2));
    m.emplace(p + "attention.sliding_window", MetaValue::u32(32));
    m.emplace(p + "attention.indexer.head_count", MetaValue::u32(4));
    m.emplace(p + "attention.indexer.key_length", MetaValue::u32(128));
    m.emplace(p + "attention.indexer.top_k", MetaValue::u32(16));
    m.emplace(p + "hyper_connection.count", MetaValue::u32(4));
    m.emplace(p + "hyper_connection.sinkhorn_iterations", MetaValue::u32(20));
    m.emplace(p + "hyper_connection.epsilon", MetaValue::f32(1e-6f));
    m.emplace(p + "attention.compress_ratios", u32_array({0, 0, 4, 128, 4, 128, 0}));
    m.emplace(p + "swiglu_clamp_exp", f32_array({10, 10, 10, 10, 10, 7}));
    m.emplace(p + "rope.freq_base", MetaValue::f64(10000.0));
    m.emplace(p + "rope.scaling.factor", MetaValue::u32(16));
    m.emplace(p + "rope.scaling.original_context_length", MetaValue::u64(65536));
    m.emplace(p + "rope.scaling.yarn_beta_fast", MetaValue::f32(32));
    m.emplace(p + "rope.scaling.yarn_beta_slow", MetaValue::i32(1));
    m.emplace(p + "attention.compress_rope_freq_base", MetaValue::f32(160000));
    m.emplace(p + "expert_weights_scale", MetaValue::f32(1.5f));
    m.emplace(p + "attention.layer_norm_rms_epsilon", MetaValue::f32(1e-6f));
    m.emplace(p + "expert_weights_norm", MetaValue::boolean(true));
    return m;
}

ModelConfig config_from(const std::map<std::string, MetaValue>& metadata) {
    gguf::GgufWriter writer;
    for (const auto& [key, value] : metadata) writer.add(key, value);
    const auto file = gguf::GgufFile::from_owned_bytes(writer.to_bytes(), "edited.gguf");
    return read_model_config(file);
}

std::string error_of(const std::map<std::string, MetaValue>& metadata) {
    try {
        config_from(metadata);
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

TEST(ModelConfig, GoldenTinyModelLoads) {
    for (const char* name : {"dsv4-tiny-s1-iq2xxs.gguf", "dsv4-tiny-s1-q4k.gguf"}) {
        const auto file = gguf::GgufFile::open(test::golden_dir() + "/" + name);
        const ModelConfig c = read_model_config(file);
        EXPECT_EQ(c.n_layer, 5u);
        EXPECT_EQ(c.n_embd, 256u);
        EXPECT_EQ(c.n_vocab, 640u);
        EXPECT_EQ(c.n_head, 4u);
        EXPECT_EQ(c.head_dim, 192u);
        EXPECT_EQ(c.nope_dim(), 128u);
        EXPECT_EQ(c.q_lora_rank, 64u);
        EXPECT_EQ(c.n_out_group, 2u);
        EXPECT_EQ(c.n_expert, 16u);
        EXPECT_EQ(c.n_expert_used, 6u);
        EXPECT_EQ(c.n_hash_layer, 3u);
        EXPECT_EQ(c.sliding_window, 16u);
        EXPECT_EQ(c.indexer_n_head, 2u);
        EXPECT_EQ(c.indexer_top_k, 8u);
        EXPECT_EQ(c.hc_mix(), 24u);
        EXPECT_FLOAT_EQ(c.rope.compress_freq_base, 160000.0f);
        EXPECT_FLOAT_EQ(c.rope.scaling_factor, 16.0f);
        EXPECT_EQ(c.rope.original_context, 65536u);
        const std::vector<uint32_t> ratios = {0, 0, 4, 128, 4};
        const std::vector<AttentionKind> kinds = {AttentionKind::Window, AttentionKind::Window,
                                                  AttentionKind::Sparse, AttentionKind::Compressed,
                                                  AttentionKind::Sparse};
        ASSERT_EQ(c.layers.size(), 5u);
        for (size_t il = 0; il < 5; ++il) {
            EXPECT_EQ(c.layers[il].compress_ratio, ratios[il]) << il;
            EXPECT_EQ(c.layers[il].attention, kinds[il]) << il;
            EXPECT_EQ(c.layers[il].hash_routed, il < 3) << il;
            EXPECT_FLOAT_EQ(c.layers[il].swiglu_clamp, 10.0f);
        }
    }
}

TEST(ModelConfig, ShapeComesFromTheFileNotFromConstants) {
    const ModelConfig c = config_from(six_layer_metadata());
    EXPECT_EQ(c.n_layer, 6u);
    EXPECT_EQ(c.n_embd, 512u);
    EXPECT_EQ(c.n_expert_used, 4u);
    EXPECT_EQ(c.heads_per_group(), 2u);
    ASSERT_EQ(c.layers.size(), 6u);  // the extra trailing ratio entry is ignored
    EXPECT_EQ(c.layers[5].compress_ratio, 128u);
    EXPECT_FLOAT_EQ(c.layers[5].swiglu_clamp, 7.0f);
    EXPECT_TRUE(c.layers[1].hash_routed);
    EXPECT_FALSE(c.layers[2].hash_routed);
    // Integer-typed and f64-typed float keys are accepted.
    EXPECT_FLOAT_EQ(c.rope.scaling_factor, 16.0f);
    EXPECT_FLOAT_EQ(c.rope.yarn_beta_slow, 1.0f);
    EXPECT_FLOAT_EQ(c.rope.freq_base, 10000.0f);
}

TEST(ModelConfig, SignedRatioArrayIsAccepted) {
    auto m = six_layer_metadata();
    std::vector<MetaValue> items;
    for (int32_t r : {0, 0, 4, 128, 4, 128}) items.push_back(MetaValue::i32(r));
    m.insert_or_assign("deepseek4.attention.compress_ratios",
                       MetaValue::array(ValueType::I32, items));
    EXPECT_EQ(config_from(m).layers[3].compress_ratio, 128u);
}

TEST(ModelConfig, MissingKeyIsNamed) {
    auto m = six_layer_metadata();
    m.erase("deepseek4.attention.indexer.top_k");
    const std::string error = error_of(m);
    EXPECT_NE(error.find("deepseek4.attention.indexer.top_k"), std::string::npos) << error;
    EXPECT_NE(error.find("edited.gguf"), std::string::npos) << error;
}

TEST(ModelConfig, WrongTypeIsNamed) {
    auto m = six_layer_metadata();
    m.insert_or_assign("deepseek4.block_count", MetaValue::string("six"));
    const std::string error = error_of(m);
    EXPECT_NE(error.find("deepseek4.block_count"), std::string::npos) << error;
}

TEST(ModelConfig, ShortPerLayerArraysAreRefused) {
    auto m = six_layer_metadata();
    m.insert_or_assign("deepseek4.swiglu_clamp_exp", f32_array({10, 10, 10}));
    const std::string error = error_of(m);
    EXPECT_NE(error.find("swiglu_clamp_exp"), std::string::npos) << error;
    EXPECT_NE(error.find("3 entries"), std::string::npos) << error;
}

TEST(ModelConfig, InvalidValuesAreRefused) {
    struct Case {
        std::string key;
        MetaValue value;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {"general.architecture", MetaValue::string("llama"), "llama"},
        {"deepseek4.attention.head_count_kv", MetaValue::u32(2), "head_count_kv"},
        {"deepseek4.attention.value_length", MetaValue::u32(128), "value_length"},
        {"deepseek4.attention.output_group_count", MetaValue::u32(3), "output_group_count"},
        {"deepseek4.attention.indexer.key_length", MetaValue::u32(64), "indexer.key_length"},
        {"deepseek4.expert_used_count", MetaValue::u32(25), "expert_used_count"},
        {"deepseek4.embedding_length", MetaValue::u32(0), "embedding_length"},
        {"deepseek4.rope.freq_base", MetaValue::f32(-1), "rope.freq_base"},
        {"deepseek4.attention.compress_ratios", u32_array({0, 0, 2, 128, 4, 128}),
         "compress_ratios[2]"},
        {"deepseek4.expert_group_count", MetaValue::u32(8), "expert_group_count"},
        {"deepseek4.rope.dimension_count", MetaValue::u32(96), "multiple of 64"},
    };
    for (const Case& c : cases) {
        auto m = six_layer_metadata();
        m.insert_or_assign(c.key, c.value);
        const std::string error = error_of(m);
        EXPECT_NE(error.find(c.expect), std::string::npos) << c.key << ": '" << error << "'";
    }
}

}  // namespace
}  // namespace dsv4::model
