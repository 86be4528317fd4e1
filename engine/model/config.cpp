#include "engine/model/config.h"

#include <cmath>
#include <limits>
#include <string_view>

#include "engine/gguf/gguf_reader.h"

namespace dsv4::model {
namespace {

constexpr std::string_view kArchitecture = "deepseek4";
// The FP8 round trip of KV rows works on blocks of this many non-RoPE dims.
constexpr uint32_t kFp8BlockDims = 64;
// The indexer's Hadamard transform is defined on exactly this many dims.
constexpr uint32_t kIndexerHadamardDims = 128;
constexpr uint32_t kSparseRatio = 4;

[[noreturn]] void fail(const gguf::GgufFile& file, const std::string& message) {
    throw ModelError(file.name() + ": " + message);
}

// Reads keys under the architecture prefix and turns reader errors into model errors that
// name the key.
class KeyReader {
  public:
    explicit KeyReader(const gguf::GgufFile& file) : file_(file) {}

    template <typename Fn>
    auto guarded(std::string_view suffix, Fn&& fn) const {
        const std::string k = key(suffix);
        try {
            return fn(k);
        } catch (const gguf::GgufError& e) {
            fail(file_, std::string("metadata ") + k + ": " + e.what());
        }
    }

    std::string key(std::string_view suffix) const {
        return std::string(kArchitecture) + "." + std::string(suffix);
    }

    uint32_t u32(std::string_view suffix) const {
        const uint64_t v =
            guarded(suffix, [&](const std::string& k) { return file_.require_uint(k); });
        if (v > std::numeric_limits<uint32_t>::max())
            fail(file_, "metadata " + key(suffix) + " = " + std::to_string(v) + " is too large");
        return static_cast<uint32_t>(v);
    }
    uint32_t positive_u32(std::string_view suffix) const {
        const uint32_t v = u32(suffix);
        if (v == 0) fail(file_, "metadata " + key(suffix) + " must be positive, found 0");
        return v;
    }
    uint32_t optional_u32(std::string_view suffix, uint32_t fallback) const {
        if (!file_.has(key(suffix))) return fallback;
        return u32(suffix);
    }
    float positive_f32(std::string_view suffix) const {
        const double v =
            guarded(suffix, [&](const std::string& k) { return file_.require_float(k); });
        if (!(v > 0) || !std::isfinite(v))
            fail(file_, "metadata " + key(suffix) + " must be a positive number, found " +
                            std::to_string(v));
        return static_cast<float>(v);
    }
    bool boolean(std::string_view suffix, bool fallback) const {
        if (!file_.has(key(suffix))) return fallback;
        return guarded(suffix, [&](const std::string& k) { return file_.require_bool(k); });
    }
    std::vector<int64_t> int_array(std::string_view suffix) const {
        return guarded(suffix, [&](const std::string& k) { return file_.require_int_array(k); });
    }
    std::vector<double> float_array(std::string_view suffix) const {
        return guarded(suffix, [&](const std::string& k) { return file_.require_float_array(k); });
    }

  private:
    const gguf::GgufFile& file_;
};

void read_attention(const KeyReader& keys, ModelConfig& c) {
    c.n_head = keys.positive_u32("attention.head_count");
    c.n_head_kv = keys.positive_u32("attention.head_count_kv");
    c.head_dim = keys.positive_u32("attention.key_length");
    const uint32_t value_dim = keys.positive_u32("attention.value_length");
    c.q_lora_rank = keys.positive_u32("attention.q_lora_rank");
    c.o_lora_rank = keys.positive_u32("attention.output_lora_rank");
    c.n_out_group = keys.positive_u32("attention.output_group_count");
    c.sliding_window = keys.positive_u32("attention.sliding_window");
    c.indexer_n_head = keys.positive_u32("attention.indexer.head_count");
    c.indexer_head_dim = keys.positive_u32("attention.indexer.key_length");
    c.indexer_top_k = keys.positive_u32("attention.indexer.top_k");
    c.rms_eps = keys.positive_f32("attention.layer_norm_rms_epsilon");
    c.rope.n_rot = keys.positive_u32("rope.dimension_count");
    c.rope.freq_base = keys.positive_f32("rope.freq_base");
    c.rope.compress_freq_base = keys.positive_f32("attention.compress_rope_freq_base");
    c.rope.scaling_factor = keys.positive_f32("rope.scaling.factor");
    c.rope.yarn_beta_fast = keys.positive_f32("rope.scaling.yarn_beta_fast");
    c.rope.yarn_beta_slow = keys.positive_f32("rope.scaling.yarn_beta_slow");
    c.rope.original_context = keys.positive_u32("rope.scaling.original_context_length");
    if (value_dim != c.head_dim)
        throw ModelError("attention.value_length (" + std::to_string(value_dim) +
                         ") must equal attention.key_length (" + std::to_string(c.head_dim) +
                         "): keys double as values");
}

void read_experts(const KeyReader& keys, ModelConfig& c) {
    c.n_expert = keys.positive_u32("expert_count");
    c.n_expert_used = keys.positive_u32("expert_used_count");
    c.n_expert_shared = keys.u32("expert_shared_count");
    c.n_ff_expert = keys.positive_u32("expert_feed_forward_length");
    c.n_hash_layer = keys.u32("hash_layer_count");
    c.expert_weights_scale = keys.positive_f32("expert_weights_scale");
    c.expert_weights_norm = keys.boolean("expert_weights_norm", true);
    if (keys.optional_u32("expert_group_count", 0) != 0 ||
        keys.optional_u32("expert_group_used_count", 0) != 0)
        throw ModelError(keys.key("expert_group_count") +
                         " must be 0: group-limited routing is not part of DSV4");
}

void read_layers(const KeyReader& keys, ModelConfig& c) {
    const std::vector<int64_t> ratios = keys.int_array("attention.compress_ratios");
    const std::vector<double> clamps = keys.float_array("swiglu_clamp_exp");
    if (ratios.size() < c.n_layer)
        throw ModelError(keys.key("attention.compress_ratios") + " has " +
                         std::to_string(ratios.size()) + " entries, expected at least " +
                         std::to_string(c.n_layer) + " (one per layer)");
    if (clamps.size() < c.n_layer)
        throw ModelError(keys.key("swiglu_clamp_exp") + " has " + std::to_string(clamps.size()) +
                         " entries, expected at least " + std::to_string(c.n_layer));
    c.layers.resize(c.n_layer);
    for (uint32_t il = 0; il < c.n_layer; ++il) {
        LayerConfig& layer = c.layers[il];
        const int64_t ratio = ratios[il];
        if (ratio < 0 || ratio > (1 << 20) || (ratio != 0 && ratio < kSparseRatio))
            throw ModelError(keys.key("attention.compress_ratios") + "[" + std::to_string(il) +
                             "] = " + std::to_string(ratio) + " is not a valid compress ratio");
        layer.compress_ratio = static_cast<uint32_t>(ratio);
        layer.attention = attention_kind_for_ratio(layer.compress_ratio);
        if (!(clamps[il] > 0) || !std::isfinite(clamps[il]))
            throw ModelError(keys.key("swiglu_clamp_exp") + "[" + std::to_string(il) +
                             "] must be positive, found " + std::to_string(clamps[il]));
        layer.swiglu_clamp = static_cast<float>(clamps[il]);
        layer.hash_routed = il < c.n_hash_layer;
    }
}

void require(bool ok, const std::string& message) {
    if (!ok) throw ModelError(message);
}

void check_consistency(const ModelConfig& c) {
    const auto s = [](uint64_t v) { return std::to_string(v); };
    require(c.n_head_kv == 1,
            "attention.head_count_kv must be 1 (one shared KV head), found " + s(c.n_head_kv));
    require(c.rope.n_rot % 2 == 0 && c.rope.n_rot < c.head_dim,
            "rope.dimension_count (" + s(c.rope.n_rot) + ") must be even and below key_length (" +
                s(c.head_dim) + ")");
    require(c.nope_dim() % kFp8BlockDims == 0, "key_length - rope.dimension_count (" +
                                                   s(c.nope_dim()) + ") must be a multiple of " +
                                                   s(kFp8BlockDims) + " (FP8 blocks of KV rows)");
    require(c.n_head % c.n_out_group == 0, "attention.head_count (" + s(c.n_head) +
                                               ") must be a multiple of output_group_count (" +
                                               s(c.n_out_group) + ")");
    require(c.indexer_head_dim == kIndexerHadamardDims,
            "attention.indexer.key_length must be " + s(kIndexerHadamardDims) +
                " (the indexer's Hadamard size), found " + s(c.indexer_head_dim));
    require(c.rope.n_rot <= c.indexer_head_dim,
            "rope.dimension_count must fit in indexer.key_length");
    require(c.n_expert_used <= c.n_expert, "expert_used_count (" + s(c.n_expert_used) +
                                               ") exceeds expert_count (" + s(c.n_expert) + ")");
    require(c.n_hash_layer <= c.n_layer, "hash_layer_count (" + s(c.n_hash_layer) +
                                             ") exceeds block_count (" + s(c.n_layer) + ")");
    require(c.n_expert_shared <= 1,
            "expert_shared_count must be 0 or 1, found " + s(c.n_expert_shared));
    require(c.n_embd % 256 == 0 && c.n_ff_expert % 256 == 0,
            "embedding_length and expert_feed_forward_length must be multiples of 256 (the "
            "routed-expert activation block)");
    require(c.q_lora_rank % 32 == 0 && c.o_lora_rank % 32 == 0 && c.head_dim % 32 == 0,
            "q_lora_rank, output_lora_rank and key_length must be multiples of 32");
    require(c.sinkhorn_iterations >= 1, "hyper_connection.sinkhorn_iterations must be >= 1");
}

}  // namespace

AttentionKind attention_kind_for_ratio(uint32_t ratio) {
    if (ratio == 0) return AttentionKind::Window;
    return ratio == kSparseRatio ? AttentionKind::Sparse : AttentionKind::Compressed;
}

const char* attention_kind_name(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::Window:
            return "window";
        case AttentionKind::Sparse:
            return "sparse";
        case AttentionKind::Compressed:
            return "compressed";
    }
    return "unknown";
}

ModelConfig read_model_config(const gguf::GgufFile& file) {
    ModelConfig c;
    try {
        const auto arch = file.get_string("general.architecture");
        if (!arch) fail(file, "metadata general.architecture is missing");
        if (*arch != kArchitecture)
            fail(file, "architecture '" + std::string(*arch) + "' is not supported (expected '" +
                           std::string(kArchitecture) + "')");
        c.architecture = std::string(*arch);
        if (auto name = file.get_string("general.name")) c.name = std::string(*name);
    } catch (const gguf::GgufError& e) {
        fail(file, e.what());
    }
    const KeyReader keys(file);
    try {
        c.n_layer = keys.positive_u32("block_count");
        c.n_embd = keys.positive_u32("embedding_length");
        c.n_vocab = keys.positive_u32("vocab_size");
        if (file.has(keys.key("context_length"))) c.context_length = keys.u32("context_length");
        read_attention(keys, c);
        read_experts(keys, c);
        c.n_hc = keys.positive_u32("hyper_connection.count");
        c.sinkhorn_iterations = keys.positive_u32("hyper_connection.sinkhorn_iterations");
        c.hc_eps = keys.positive_f32("hyper_connection.epsilon");
        read_layers(keys, c);
        check_consistency(c);
    } catch (const ModelError& e) {
        const std::string what = e.what();
        if (what.rfind(file.name(), 0) == 0) throw;
        fail(file, what);
    }
    return c;
}

}  // namespace dsv4::model
