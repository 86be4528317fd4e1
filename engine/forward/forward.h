// The DSV4 forward pass, written once against the backend op interface: embedding,
// hyper-connected attention and MoE sublayers per layer, and the output head. Owns the order of
// operations and the per-batch scratch buffers; the sequence's KV state belongs to
// engine/state and the arithmetic to the backend.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/forward/loaded_model.h"
#include "engine/state/sequence_state.h"

namespace dsv4::forward {

class ForwardError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ForwardOptions {
    // Q8: activations quantized like the reference engine; F32: f32 activations everywhere.
    quant::Numerics numerics = quant::Numerics::Q8;
    // Prefill runs layer-major over chunks of at most this many tokens. Results do not depend
    // on it; it bounds the scratch memory.
    int64_t max_batch_tokens = 256;
};

// Which positions of a batch get logits.
enum class LogitRows { None, Last, All };

// The RoPE of a layer (dense layers: plain RoPE; compressed layers: YaRN with the compressed
// base), derived from the config.
backend::RopeParams layer_rope(const model::ModelConfig& config, uint32_t layer);

class Forward {
  public:
    Forward(const LoadedModel& model, backend::Backend& backend, ForwardOptions options = {});

    const model::ModelConfig& config() const { return model_.config; }
    const ForwardOptions& options() const { return options_; }

    // Feeds tokens at positions state.position() onward and returns logits, row-major
    // [rows][n_vocab]: one row for Last, one per token for All.
    std::vector<float> prefill(state::SequenceState& state, std::span<const int32_t> tokens,
                               LogitRows rows = LogitRows::Last);
    // One token; returns the logits predicting the next one.
    std::vector<float> decode(state::SequenceState& state, int32_t token);

    // ---- single sublayers, for checking one step at a time ----------------------------------
    // The hyper-connection state of a batch: [max_batch_tokens][n_hc * n_embd].
    backend::Buffer& hc_buffer() { return *hc_; }
    // Runs one sublayer of layer il on the batch's tokens at positions state.position() + t,
    // updating hc_buffer() in place (and the layer's state, for attention). The state's
    // position is not advanced.
    void attention_sublayer(uint32_t il, state::SequenceState& state,
                            std::span<const int32_t> tokens);
    void ffn_sublayer(uint32_t il, std::span<const int32_t> tokens);

  private:
    enum class Slot {
        X,
        Split,
        Xn,
        QLatent,
        Q,
        Kv,
        CompKv,
        CompScore,
        IndexCompKv,
        IndexCompScore,
        IndexQ,
        IndexWeights,
        Selection,
        Heads,
        Low,
        SubOut,
        RouterLogits,
        ExpertIds,
        ExpertWeights,
        MoeOut,
        SharedGate,
        SharedUp,
        HeadRows,
        Logits
    };
    // A scratch buffer of max_batch_tokens rows and the given width, allocated on first use.
    backend::Buffer& scratch(Slot slot, int64_t cols, backend::DType dtype = backend::DType::F32);

    void check_tokens(const state::SequenceState& state, std::span<const int32_t> tokens) const;
    void run_batch(state::SequenceState& state, std::span<const int32_t> tokens);
    std::vector<float> output_logits(int64_t first_row, int64_t n_rows);

    // Pieces of the attention sublayer.
    // Feeds the compressor its KV and score projections of the batch (kv, score).
    void compress(const model::CompressorWeights& weights, state::CompressorState& compressor,
                  backend::Buffer& kv, backend::Buffer& score, int64_t pos0, int64_t n, uint32_t il,
                  backend::RowRounding rounding);
    backend::Buffer* select_rows(uint32_t il, state::LayerState& layer, const backend::Buffer& xn,
                                 const backend::Buffer& q_latent, int64_t pos0, int64_t n);
    // SwiGLU and down projection of the shared expert, whose gate and up projections of the
    // batch are already in the SharedGate and SharedUp scratch buffers.
    void shared_expert(const model::LayerWeights& w, float clamp, int64_t n, backend::Buffer& out);

    const LoadedModel& model_;
    backend::Backend& backend_;
    ForwardOptions options_;
    backend::HyperParams hyper_;
    std::vector<backend::RopeParams> rope_;  // per layer
    backend::BufferPtr hc_;
    std::map<std::pair<Slot, int64_t>, backend::BufferPtr> scratch_;
};

}  // namespace dsv4::forward
