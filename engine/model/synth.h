// Synthetic DSV4 models: the metadata, tensor table, random but valid weights and a synthetic
// byte-level BPE vocabulary of a loadable DeepSeek V4 GGUF, deterministic per seed. Owns the
// shapes of the presets and the weight statistics; it must not compute a forward pass, and it
// never reads a real model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_stream_writer.h"

namespace dsv4::model {

// The routed-expert types of the published files (q2, q4) and two plain ones.
enum class SynthExpertQuant {
    Q2,   // IQ2_XXS gate/up, Q2_K down
    Q4,   // Q4_K gate/up/down
    Q8,   // Q8_0
    F16,  // F16
};

std::optional<SynthExpertQuant> synth_expert_quant_from_name(std::string_view name);
const char* synth_expert_quant_name(SynthExpertQuant quant);

struct SynthShape {
    std::string preset;
    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_vocab = 0;
    uint32_t n_head = 0;
    uint32_t head_dim = 0;
    uint32_t n_rot = 0;
    uint32_t q_lora_rank = 0;
    uint32_t o_lora_rank = 0;
    uint32_t n_out_group = 0;
    uint32_t n_expert = 0;
    uint32_t n_expert_used = 0;
    uint32_t n_ff_expert = 0;
    uint32_t n_expert_shared = 0;
    uint32_t n_hash_layer = 0;
    uint32_t sliding_window = 0;
    uint32_t indexer_n_head = 0;
    uint32_t indexer_head_dim = 0;
    uint32_t indexer_top_k = 0;
    uint32_t n_hc = 0;
    uint32_t sinkhorn_iterations = 0;

    // The real schedule: none on layers 0-1, then 4 on even and 128 on odd layers.
    std::vector<uint32_t> compress_ratios() const;
};

// The shape of the golden test models (5 layers, width 256, vocabulary 640).
SynthShape synth_tiny_shape();
// DeepSeek V4 Flash's real widths with n_layer layers (hash-routed layers: min(3, n_layer)).
SynthShape synth_full_width_shape(uint32_t n_layer);
// "tiny" or "layers-N" (1 <= N <= 43); nullopt for anything else.
std::optional<SynthShape> synth_shape_from_preset(std::string_view preset);

struct SynthOptions {
    SynthShape shape;
    SynthExpertQuant expert_quant = SynthExpertQuant::Q2;
    uint64_t seed = 1;
    // Each tensor gets this many bytes of distinct random rows; larger tensors repeat them,
    // which keeps a 10 GB model quick to write (memory traffic does not care about repeats).
    size_t distinct_bytes_per_tensor = size_t{8} << 20;
};

// The vocabulary: BOS and EOS (ids 0 and 1), the 256 byte tokens in byte order, merged tokens
// (one per merge rule, in rank order), then <｜User｜>, <｜Assistant｜>, <｜latest_reminder｜>,
// <think>, </think> and ｜DSML｜.
struct SynthVocab {
    std::vector<std::string> tokens;
    std::vector<std::string> merges;
    std::vector<int32_t> token_types;  // 3 for control tokens, 1 for the others
};
SynthVocab synth_vocab(uint32_t n_vocab, uint64_t seed);

class SyntheticModel {
  public:
    // Plans metadata, vocabulary and tensor table; no weight bytes are produced yet.
    explicit SyntheticModel(SynthOptions options);

    const SynthOptions& options() const { return options_; }
    const gguf::GgufStreamWriter& layout() const { return writer_; }
    uint64_t file_bytes() const { return writer_.file_bytes(); }

    void write_file(const std::string& path) const;
    // Header and tensor table only, data left as a hole: loads and binds (weights read as zero,
    // which keeps the token -> expert tables valid), for shape checks without the disk space.
    void write_sparse_file(const std::string& path) const;
    std::vector<uint8_t> to_bytes() const;

  private:
    enum class Init { Random, Uniform, ExpertIds };
    struct TensorPlan {
        Init init = Init::Random;
        float rms = 0;  // Random: target root mean square of the weights
        float lo = 0;   // Uniform: range
        float hi = 0;
        uint64_t seed = 0;
    };
    class Filler;

    void add_metadata();
    void add_layer_tensors(uint32_t il, uint32_t ratio);
    void add_tensor(const std::string& name, quant::Type type, std::vector<uint64_t> dims,
                    TensorPlan plan);
    void add_matrix(const std::string& name, quant::Type type, std::vector<uint64_t> dims,
                    float gain = 1.0f);
    void add_uniform(const std::string& name, uint64_t size, float lo, float hi);
    gguf::TensorFiller filler() const;

    SynthOptions options_;
    gguf::GgufStreamWriter writer_;
    std::vector<TensorPlan> plans_;  // one per tensor, in table order
};

}  // namespace dsv4::model
