#include "engine/state/sequence_state.h"

#include <string>

#include "engine/common/xxh64.h"

namespace dsv4::state {
namespace {

constexpr float kEmptyScore = -1e30f;  // marks a window slot no token has written

uint32_t overlap_for(const model::LayerConfig& layer) {
    return layer.attention == model::AttentionKind::Sparse ? 2 : 1;
}

uint64_t rows_capacity(int64_t context_tokens, uint32_t ratio) {
    return static_cast<uint64_t>(context_tokens) / ratio;
}

uint64_t window_bytes(uint32_t ratio, uint32_t head_dim, uint32_t overlap) {
    // kv and score, each [overlap * ratio][overlap * head_dim] f32
    return 2ull * overlap * ratio * overlap * head_dim * sizeof(float);
}

}  // namespace

MemoryEstimate estimate_memory(const model::ModelConfig& config, int64_t context_tokens) {
    MemoryEstimate m;
    uint64_t row_bytes = 0;
    for (const model::LayerConfig& layer : config.layers) {
        m.fixed_bytes += uint64_t{config.sliding_window} * config.head_dim * sizeof(float);
        if (layer.compress_ratio == 0) continue;
        const uint32_t overlap = overlap_for(layer);
        m.fixed_bytes += window_bytes(layer.compress_ratio, config.head_dim, overlap);
        m.bytes_per_token +=
            static_cast<double>(config.head_dim * sizeof(float)) / layer.compress_ratio;
        row_bytes +=
            rows_capacity(context_tokens, layer.compress_ratio) * config.head_dim * sizeof(float);
        if (layer.attention != model::AttentionKind::Sparse) continue;
        m.fixed_bytes += window_bytes(layer.compress_ratio, config.indexer_head_dim, overlap);
        m.bytes_per_token +=
            static_cast<double>(config.indexer_head_dim * sizeof(float)) / layer.compress_ratio;
        row_bytes += rows_capacity(context_tokens, layer.compress_ratio) * config.indexer_head_dim *
                     sizeof(float);
    }
    m.total_bytes = m.fixed_bytes + row_bytes;
    return m;
}

SequenceState::SequenceState(const model::ModelConfig& config, backend::Backend& backend,
                             int64_t context_tokens)
    : config_(config), backend_(backend), context_tokens_(context_tokens) {
    if (context_tokens <= 0)
        throw StateError("the context size must be positive, got " +
                         std::to_string(context_tokens));
    layers_.resize(config.n_layer);
    for (uint32_t il = 0; il < config.n_layer; ++il) {
        const model::LayerConfig& lc = config.layers[il];
        LayerState& layer = layers_[il];
        layer.raw_ring =
            backend_.allocate(backend::DType::F32, config.sliding_window, config.head_dim);
        if (lc.compress_ratio == 0) continue;
        const uint32_t overlap = overlap_for(lc);
        init_compressor(layer.attention, lc.compress_ratio, config.head_dim, overlap);
        if (lc.attention == model::AttentionKind::Sparse)
            init_compressor(layer.indexer, lc.compress_ratio, config.indexer_head_dim, overlap);
    }
    reset();
}

void SequenceState::init_compressor(CompressorState& c, uint32_t ratio, uint32_t head_dim,
                                    uint32_t overlap) {
    c.ratio = ratio;
    c.head_dim = head_dim;
    c.overlap = overlap;
    c.window_kv = backend_.allocate(backend::DType::F32, int64_t{overlap} * ratio,
                                    int64_t{overlap} * head_dim);
    c.window_score = backend_.allocate(backend::DType::F32, int64_t{overlap} * ratio,
                                       int64_t{overlap} * head_dim);
    c.rows = backend_.allocate(
        backend::DType::F32, static_cast<int64_t>(rows_capacity(context_tokens_, ratio)), head_dim);
}

void SequenceState::clear_window(CompressorState& c) {
    if (!c.active()) return;
    backend_.fill(*c.window_kv, 0.0f);
    backend_.fill(*c.window_score, kEmptyScore);
    c.n_rows = 0;
}

void SequenceState::reset() {
    tokens_.clear();
    tail_pending_ = false;
    for (LayerState& layer : layers_) {
        // Ring rows are only read for positions already written, so they need no clearing.
        clear_window(layer.attention);
        clear_window(layer.indexer);
    }
}

void SequenceState::commit_tokens(std::span<const int32_t> tokens) {
    if (tail_pending_)
        throw StateError("the sequence holds restored rows without their resume tail");
    if (position() + static_cast<int64_t>(tokens.size()) > context_tokens_)
        throw StateError("the sequence would exceed its context of " +
                         std::to_string(context_tokens_) + " tokens");
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
}

uint64_t token_prefix_hash(std::span<const int32_t> tokens) {
    return xxh64({reinterpret_cast<const uint8_t*>(tokens.data()), tokens.size_bytes()});
}

}  // namespace dsv4::state
