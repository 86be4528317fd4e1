// The shape and hyper-parameters of a DSV4 model, read from GGUF metadata and checked for
// consistency. Owns no tensors (see weights.h) and never assumes a layer count, width or
// expert count: everything here comes from the file.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsv4::gguf {
class GgufFile;
}

namespace dsv4::model {

class ModelError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// How a layer's attention sees the past beyond its sliding window.
enum class AttentionKind {
    Window,      // compress ratio 0: raw sliding window only
    Sparse,      // overlapping ratio-4 windows, lightning indexer picks the top-k rows
    Compressed,  // non-overlapping windows of a larger ratio, every compressed row visible
};

struct RopeConfig {
    float freq_base = 0;           // dense (ratio-0) layers
    float compress_freq_base = 0;  // layers with compression
    float scaling_factor = 1;      // YaRN factor on compressed layers
    float yarn_beta_fast = 0;
    float yarn_beta_slow = 0;
    uint32_t original_context = 0;
    uint32_t n_rot = 0;  // rotated tail dims of each head
};

struct LayerConfig {
    uint32_t compress_ratio = 0;
    AttentionKind attention = AttentionKind::Window;
    float swiglu_clamp = 0;
    bool hash_routed = false;  // experts chosen by token id (tid2eid) instead of the router
};

struct ModelConfig {
    std::string architecture;
    std::string name;

    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_vocab = 0;
    uint64_t context_length = 0;  // 0 when the file does not say

    // Attention
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim = 0;  // key length = value length
    uint32_t q_lora_rank = 0;
    uint32_t o_lora_rank = 0;
    uint32_t n_out_group = 0;
    uint32_t sliding_window = 0;
    uint32_t indexer_n_head = 0;
    uint32_t indexer_head_dim = 0;
    uint32_t indexer_top_k = 0;
    RopeConfig rope;

    // Mixture of experts
    uint32_t n_expert = 0;  // as the metadata says; per-layer counts come from tensor shapes
    uint32_t n_expert_used = 0;
    uint32_t n_expert_shared = 0;
    uint32_t n_ff_expert = 0;
    uint32_t n_hash_layer = 0;
    float expert_weights_scale = 0;
    bool expert_weights_norm = true;

    // Hyper-connections
    uint32_t n_hc = 0;
    uint32_t sinkhorn_iterations = 0;
    float hc_eps = 0;

    float rms_eps = 0;

    std::vector<LayerConfig> layers;

    // Derived sizes.
    uint32_t q_dim() const { return n_head * head_dim; }
    uint32_t hc_dim() const { return n_hc * n_embd; }
    uint32_t hc_mix() const { return 2 * n_hc + n_hc * n_hc; }
    uint32_t heads_per_group() const { return n_head / n_out_group; }
    uint32_t nope_dim() const { return head_dim - rope.n_rot; }
};

// Reads and validates every key; throws ModelError naming the key, what was expected and what
// was found.
ModelConfig read_model_config(const gguf::GgufFile& file);

// The attention kind the reference schedule gives a compress ratio (0, 4 or another ratio).
AttentionKind attention_kind_for_ratio(uint32_t ratio);

const char* attention_kind_name(AttentionKind kind);

}  // namespace dsv4::model
