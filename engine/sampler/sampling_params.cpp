#include "engine/sampler/sampling_params.h"

namespace dsv4::sampler {

SamplingParams apply_thinking_mode(const SamplingParams& requested, bool thinking_mode) {
    if (!thinking_mode) return requested;
    SamplingParams defaults;
    defaults.seed = requested.seed;
    return defaults;
}

SamplingParams normalized(const SamplingParams& params) {
    SamplingParams out = params;
    if (!(out.top_p > 0.0f && out.top_p <= 1.0f)) out.top_p = 1.0f;
    if (!(out.min_p >= 0.0f)) out.min_p = 0.0f;
    if (out.top_k < 0) out.top_k = 0;
    if (out.top_k > kMaxTopK) out.top_k = kMaxTopK;
    return out;
}

}  // namespace dsv4::sampler
