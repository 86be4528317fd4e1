// Binds every tensor of a DSV4 GGUF to its role and checks its type and shape against the
// model config. Owns the views into the mapped file; it must not compute anything and it never
// copies weight bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/config.h"
#include "engine/quant/matmul.h"

namespace dsv4::gguf {
class GgufFile;
}

namespace dsv4::model {

using quant::WeightMatrix;

// A 1-D f32 tensor (norm weights, biases, scales, sinks).
struct Vector {
    const float* data = nullptr;
    int64_t size = 0;
};

// A 3-D stack of expert matrices: expert e is n_out rows of n_in at data + e * expert_bytes.
struct ExpertStack {
    quant::Type type = quant::Type::F32;
    const uint8_t* data = nullptr;
    int64_t n_in = 0;
    int64_t n_out = 0;
    int64_t n_expert = 0;
    size_t row_bytes = 0;
    size_t expert_bytes = 0;

    WeightMatrix expert(int64_t e) const {
        return {type, data + static_cast<size_t>(e) * expert_bytes, n_in, n_out, row_bytes};
    }
};

// The compressor that pools windows of `ratio` tokens into one row of head_dim values.
struct CompressorWeights {
    WeightMatrix ape;   // n_in = coff * head_dim, n_out = ratio: additive score bias per slot
    WeightMatrix kv;    // n_embd -> coff * head_dim
    WeightMatrix gate;  // n_embd -> coff * head_dim
    Vector norm;        // head_dim
};

struct HyperConnectionWeights {
    WeightMatrix fn;  // hc_dim -> hc_mix
    Vector scale;     // 3: pre, post, comb
    Vector base;      // hc_mix
};

struct LayerWeights {
    HyperConnectionWeights hc_attn;
    Vector attn_norm;
    WeightMatrix q_a;
    Vector q_a_norm;
    WeightMatrix q_b;
    WeightMatrix kv;
    Vector kv_norm;
    Vector sinks;
    WeightMatrix out_a;  // n_in = heads_per_group * head_dim, n_out = n_out_group * o_lora
    WeightMatrix out_b;

    bool has_compressor = false;
    CompressorWeights compressor;
    bool has_indexer = false;
    CompressorWeights indexer_compressor;
    WeightMatrix indexer_q_b;   // q_lora -> indexer heads * indexer head dim
    WeightMatrix indexer_proj;  // n_embd -> indexer heads

    HyperConnectionWeights hc_ffn;
    Vector ffn_norm;
    WeightMatrix router;               // n_embd -> n_expert (this layer's)
    Vector router_bias;                // empty when absent: selection-only bias
    const int32_t* tid2eid = nullptr;  // [n_vocab][n_expert_used] on hash-routed layers
    ExpertStack gate_exps;
    ExpertStack up_exps;
    ExpertStack down_exps;
    bool has_shared_expert = false;
    WeightMatrix shared_gate;
    WeightMatrix shared_up;
    WeightMatrix shared_down;

    int64_t n_expert() const { return gate_exps.n_expert; }
};

struct ModelWeights {
    WeightMatrix token_embd;           // n_vocab rows of n_embd
    HyperConnectionWeights output_hc;  // fn: hc_dim -> n_hc; scale: 1; base: n_hc
    Vector output_norm;
    WeightMatrix output;  // n_embd -> n_vocab
    std::vector<LayerWeights> layers;
};

// Binds and validates every tensor. Throws ModelError naming the tensor, what was expected and
// what was found (missing, wrong type, wrong shape).
ModelWeights bind_model_weights(const gguf::GgufFile& file, const ModelConfig& config);

}  // namespace dsv4::model
