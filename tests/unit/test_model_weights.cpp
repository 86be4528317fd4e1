#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::model {
namespace {

using gguf::MetaValue;
using gguf::Value;
using gguf::ValueType;

MetaValue copy_value(const Value& v) {
    switch (v.type()) {
        case ValueType::String:
            return MetaValue::string(std::string(*v.as_string()));
        case ValueType::Bool:
            return MetaValue::boolean(*v.as_bool());
        case ValueType::F32:
            return MetaValue::f32(static_cast<float>(*v.as_float()));
        case ValueType::F64:
            return MetaValue::f64(*v.as_float());
        case ValueType::U8:
            return MetaValue::u8(static_cast<uint8_t>(*v.as_uint()));
        case ValueType::U16:
            return MetaValue::u16(static_cast<uint16_t>(*v.as_uint()));
        case ValueType::U32:
            return MetaValue::u32(static_cast<uint32_t>(*v.as_uint()));
        case ValueType::U64:
            return MetaValue::u64(*v.as_uint());
        case ValueType::I8:
            return MetaValue::i8(static_cast<int8_t>(*v.as_int()));
        case ValueType::I16:
            return MetaValue::i16(static_cast<int16_t>(*v.as_int()));
        case ValueType::I32:
            return MetaValue::i32(static_cast<int32_t>(*v.as_int()));
        case ValueType::I64:
            return MetaValue::i64(*v.as_int());
        case ValueType::Array: {
            std::vector<MetaValue> items;
            for (uint64_t i = 0; i < v.size(); ++i) items.push_back(copy_value(v.element(i)));
            return MetaValue::array(v.element_type(), items);
        }
    }
    throw std::logic_error("unhandled value type");
}

struct TensorEdit {
    std::string name;
    quant::Type type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
};

// Rewrites the golden tiny model through edit(), which may change, drop or add tensors.
std::string error_after(const std::function<void(std::vector<TensorEdit>&)>& edit) {
    const auto golden = gguf::GgufFile::open(test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    gguf::GgufWriter writer;
    for (const auto& entry : golden.metadata())
        if (entry.key != "general.alignment") writer.add(entry.key, copy_value(entry.value));
    std::vector<TensorEdit> tensors;
    for (const auto& t : golden.tensors())
        tensors.push_back({std::string(t.name), t.type(),
                           std::vector<uint64_t>(t.dims.begin(), t.dims.begin() + t.n_dims),
                           std::vector<uint8_t>(t.data, t.data + t.n_bytes)});
    edit(tensors);
    for (const auto& t : tensors) writer.add_tensor(t.name, t.type, t.dims, t.data);
    const auto file = gguf::GgufFile::from_owned_bytes(writer.to_bytes(), "edited.gguf");
    try {
        bind_model_weights(file, read_model_config(file));
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

TensorEdit& find(std::vector<TensorEdit>& tensors, const std::string& name) {
    for (auto& t : tensors)
        if (t.name == name) return t;
    throw std::logic_error("no tensor " + name);
}

TEST(ModelWeights, GoldenModelsBind) {
    for (const char* name : {"dsv4-tiny-s1-iq2xxs.gguf", "dsv4-tiny-s1-q4k.gguf"}) {
        const auto file = gguf::GgufFile::open(test::golden_dir() + "/" + name);
        const ModelConfig c = read_model_config(file);
        const ModelWeights w = bind_model_weights(file, c);
        ASSERT_EQ(w.layers.size(), 5u);
        EXPECT_EQ(w.output.n_out, 640);
        EXPECT_EQ(w.output.type, quant::Type::Q8_0);
        for (uint32_t il = 0; il < 5; ++il) {
            const LayerWeights& l = w.layers[il];
            EXPECT_EQ(l.n_expert(), 16) << il;
            EXPECT_EQ(l.has_compressor, il >= 2) << il;
            EXPECT_EQ(l.has_indexer, il == 2 || il == 4) << il;
            EXPECT_EQ(l.tid2eid != nullptr, il < 3) << il;
            EXPECT_EQ(l.router_bias.size != 0, il >= 3) << il;
            EXPECT_EQ(l.out_a.n_in, 384);
            EXPECT_EQ(l.out_a.n_out, 128);
        }
        EXPECT_EQ(w.layers[3].compressor.ape.n_out, 128);
        EXPECT_EQ(w.layers[2].compressor.kv.n_out, 384);  // overlapping ratio-4 windows
        const bool q4k = std::string(name).find("q4k") != std::string::npos;
        EXPECT_EQ(w.layers[0].gate_exps.type, q4k ? quant::Type::Q4_K : quant::Type::IQ2_XXS);
        EXPECT_EQ(w.layers[0].down_exps.type, q4k ? quant::Type::Q4_K : quant::Type::Q2_K);
    }
}

TEST(ModelWeights, UnmodifiedCopyBinds) {
    EXPECT_EQ(error_after([](std::vector<TensorEdit>&) {}), "");
}

TEST(ModelWeights, MissingTensorIsNamed) {
    const std::string error = error_after([](std::vector<TensorEdit>& t) {
        std::erase_if(t, [](const TensorEdit& e) { return e.name == "blk.4.indexer.proj.weight"; });
    });
    EXPECT_NE(error.find("blk.4.indexer.proj.weight is missing"), std::string::npos) << error;
}

TEST(ModelWeights, WrongTypeIsNamedWithExpectedAndFound) {
    const std::string error = error_after([](std::vector<TensorEdit>& t) {
        TensorEdit& e = find(t, "blk.1.attn_norm.weight");
        e.type = quant::Type::F16;
        e.data.resize(e.data.size() / 2);
    });
    EXPECT_NE(error.find("blk.1.attn_norm.weight has type F16, expected F32"), std::string::npos)
        << error;
}

TEST(ModelWeights, WrongShapeIsNamedWithExpectedAndFound) {
    const std::string error = error_after([](std::vector<TensorEdit>& t) {
        TensorEdit& e = find(t, "blk.2.attn_kv.weight");
        e.dims = {256, 96};
        e.data.resize(e.data.size() / 2);
    });
    EXPECT_NE(error.find("blk.2.attn_kv.weight has shape [256, 96], expected [256, 192]"),
              std::string::npos)
        << error;
}

TEST(ModelWeights, GateAndUpExpertTypesMustMatch) {
    const std::string error = error_after([](std::vector<TensorEdit>& t) {
        TensorEdit& e = find(t, "blk.3.ffn_up_exps.weight");
        e.type = quant::Type::Q2_K;
        e.data.resize(quant::row_bytes(quant::Type::Q2_K, 256) * 256 * 16);
    });
    EXPECT_NE(error.find("blk.3.ffn_up_exps.weight has type Q2_K"), std::string::npos) << error;
}

TEST(ModelWeights, PerLayerExpertCountComesFromTheTensors) {
    // A pruned layer: 12 experts in layer 3 while the metadata says 16.
    std::string error = error_after([](std::vector<TensorEdit>& t) {
        for (const char* n : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
            TensorEdit& e = find(t, std::string("blk.3.") + n + ".weight");
            e.dims[2] = 12;
            e.data.resize(e.data.size() / 16 * 12);
        }
        TensorEdit& router = find(t, "blk.3.ffn_gate_inp.weight");
        router.dims[1] = 12;
        router.data.resize(router.data.size() / 16 * 12);
        TensorEdit& bias = find(t, "blk.3.exp_probs_b.bias");
        bias.dims[0] = 12;
        bias.data.resize(12 * 4);
    });
    EXPECT_EQ(error, "");
    // A router that disagrees with the stack is refused.
    error = error_after([](std::vector<TensorEdit>& t) {
        for (const char* n : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
            TensorEdit& e = find(t, std::string("blk.3.") + n + ".weight");
            e.dims[2] = 12;
            e.data.resize(e.data.size() / 16 * 12);
        }
    });
    EXPECT_NE(error.find("blk.3.ffn_gate_inp.weight has shape [256, 16], expected [256, 12]"),
              std::string::npos)
        << error;
}

TEST(ModelWeights, OutOfRangeHashTableEntryIsRefused) {
    const std::string error = error_after([](std::vector<TensorEdit>& t) {
        TensorEdit& e = find(t, "blk.0.ffn_gate_tid2eid.weight");
        const int32_t bad = 16;
        std::memcpy(e.data.data() + 4 * 7, &bad, 4);
    });
    EXPECT_NE(error.find("ffn_gate_tid2eid.weight entry 7 = 16"), std::string::npos) << error;
}

}  // namespace
}  // namespace dsv4::model
