// The generator's view of a persistent prefix cache: restore the longest stored resume point of a
// prompt into the sequence state, and offer the state at block boundaries and resume points for
// storing. The engine knows nothing of how or where blocks are kept (kvstore/ implements this).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/state/sequence_state.h"

namespace dsv4::generate {

class PrefixCache {
  public:
    virtual ~PrefixCache() = default;

    struct Restored {
        int64_t tokens = 0;  // prompt tokens now in the state; 0: nothing restored
        // Logits predicting the token after them; always present when tokens is the whole
        // prompt, possibly empty otherwise.
        std::vector<float> logits;
    };

    // Tokens per block; prefill pauses at every multiple of it so the state can be offered.
    virtual int64_t block_tokens() const = 0;
    // Restores into `state` the longest stored resume point of `tokens` that is longer than
    // `min_tokens`; one at the very end of `tokens` counts only with its logits. When nothing
    // is restored the state is unchanged, unless a stored record proved corrupt half way: the
    // state is then reset — callers must look at it again.
    virtual Restored restore_longest(std::span<const int32_t> tokens, int64_t min_tokens,
                                     state::SequenceState& state) = 0;
    // The state sits at a block boundary: store the block that ends here (if new) and, at
    // checkpoints, a resume point. Must not block on storage; writing happens elsewhere.
    virtual void offer_block(const state::SequenceState& state) = 0;
    // Store a resume point at the state's position (a prompt's end, a generation's end);
    // `logits` predict the next token (may be empty). Must not block on storage.
    virtual void offer_resume_point(const state::SequenceState& state,
                                    std::span<const float> logits) = 0;
};

}  // namespace dsv4::generate
