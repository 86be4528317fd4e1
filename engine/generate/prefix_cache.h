// The generator's view of a persistent prefix cache: restore the longest stored prefix of a
// prompt into the sequence state, and offer the state at block boundaries for storing. The
// engine knows nothing of how or where blocks are kept (kvstore/ implements this).
#pragma once

#include <cstdint>
#include <span>

#include "engine/state/sequence_state.h"

namespace dsv4::generate {

class PrefixCache {
  public:
    virtual ~PrefixCache() = default;

    // Tokens per block; prefill pauses at every multiple of it so the state can be offered.
    virtual int64_t block_tokens() const = 0;
    // Restores into `state` the longest stored prefix of `tokens` that is a whole number of
    // blocks, no longer than `max_tokens` and longer than `min_tokens`. Returns its length, or 0
    // when nothing better was found (the state is then unchanged).
    virtual int64_t restore_longest(std::span<const int32_t> tokens, int64_t min_tokens,
                                    int64_t max_tokens, state::SequenceState& state) = 0;
    // The state sits at a block boundary: store the block that ends here (if new). Must not
    // block on storage; writing happens elsewhere.
    virtual void offer(const state::SequenceState& state) = 0;
};

}  // namespace dsv4::generate
