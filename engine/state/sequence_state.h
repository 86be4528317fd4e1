// The state of one sequence: the tokens consumed so far and, per layer, the raw sliding-window
// ring, the compressed rows, the indexer rows and the compressors' partial windows, held in
// backend buffers. Owns sizing, memory accounting and (de)serialization; it computes nothing:
// the forward pass writes into these buffers through the backend ops.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/config.h"

namespace dsv4::state {

class StateError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One KV compressor: its window state and the rows it has emitted.
struct CompressorState {
    uint32_t ratio = 0;
    uint32_t head_dim = 0;
    uint32_t overlap = 1;             // 2 when consecutive windows overlap (ratio 4)
    backend::BufferPtr window_kv;     // [overlap * ratio][overlap * head_dim]
    backend::BufferPtr window_score;  // same shape
    backend::BufferPtr rows;          // [capacity][head_dim]
    int64_t n_rows = 0;

    bool active() const { return ratio != 0; }
};

struct LayerState {
    backend::BufferPtr raw_ring;  // [window][head_dim]; position p lives in row p % window
    CompressorState attention;    // active on layers with compression
    CompressorState indexer;      // active on layers with the lightning indexer
};

// Bytes a sequence state needs: fixed (rings and compressor windows) plus what grows with the
// number of tokens (compressed and indexer rows, f32 storage).
struct MemoryEstimate {
    uint64_t fixed_bytes = 0;
    double bytes_per_token = 0;
    uint64_t total_bytes = 0;  // fixed + rows allocated for the whole context
};
MemoryEstimate estimate_memory(const model::ModelConfig& config, int64_t context_tokens);

class SequenceState {
  public:
    // Allocates every buffer for a context of context_tokens positions.
    SequenceState(const model::ModelConfig& config, backend::Backend& backend,
                  int64_t context_tokens);

    int64_t position() const { return static_cast<int64_t>(tokens_.size()); }
    int64_t context_tokens() const { return context_tokens_; }
    std::span<const int32_t> tokens() const { return tokens_; }
    LayerState& layer(uint32_t il) { return layers_[il]; }
    const LayerState& layer(uint32_t il) const { return layers_[il]; }
    const model::ModelConfig& config() const { return config_; }

    // Back to an empty sequence (window state cleared, rows dropped).
    void reset();
    // Records tokens whose rows the forward pass has just written into every layer.
    void commit_tokens(std::span<const int32_t> tokens);

    // Serialized pieces (little-endian, fingerprinted with the model's shape, checksummed):
    // - rows: the tokens and the compressed and indexer rows appended since `since_position`;
    //   immutable once written and shared by every sequence with that prefix;
    // - tail: what resuming at the current position needs besides the rows (the sliding-window
    //   ring and the compressors' partial windows);
    // - serialize(): the rows since `since_position` and the tail; 0 gives the whole state.
    std::vector<uint8_t> serialize(int64_t since_position = 0) const;
    std::vector<uint8_t> serialize_rows(int64_t since_position) const;
    std::vector<uint8_t> serialize_tail() const;
    // Applies a serialized piece. Rows saved from position 0 replace this state; any other piece
    // requires this state to be at its position with the same tokens. Rows without a tail leave
    // the state waiting for one (resumable() false): only a tail, more rows or reset() may
    // follow. Throws StateError (leaving this state unchanged) when the bytes are corrupt or
    // belong to another model, context or prefix.
    void restore(std::span<const uint8_t> bytes);
    // False while restored rows wait for their resume tail; the state cannot be extended then.
    bool resumable() const { return !tail_pending_; }

  private:
    void init_compressor(CompressorState& c, uint32_t ratio, uint32_t head_dim, uint32_t overlap);
    void clear_window(CompressorState& c);
    std::vector<uint8_t> serialize_piece(uint32_t piece, int64_t since_position) const;

    model::ModelConfig config_;
    backend::Backend& backend_;
    int64_t context_tokens_;
    std::vector<int32_t> tokens_;
    std::vector<LayerState> layers_;
    bool tail_pending_ = false;
};

// XXH64 of the token ids (little-endian int32), used to tie a serialized suffix to its prefix.
uint64_t token_prefix_hash(std::span<const int32_t> tokens);

}  // namespace dsv4::state
