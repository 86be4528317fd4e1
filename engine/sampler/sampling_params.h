// Sampling parameters, the reference engine's defaults, the thinking-mode override and the
// normalisation of out-of-range values. Owns no state; the per-request choice of thinking mode and
// the DSML greedy switch are decided by the caller.
#pragma once

#include <cstdint>
#include <optional>

namespace dsv4::sampler {

inline constexpr float kDefaultTemperature = 1.0f;
inline constexpr float kDefaultTopP = 1.0f;
inline constexpr float kDefaultMinP = 0.05f;
inline constexpr int kDefaultTopK = 0;  // 0: no cap
// The reference keeps its top-k candidates in a fixed array of this size; larger requests are
// silently capped, and we cap the same way so the draws agree.
inline constexpr int kMaxTopK = 1024;

struct SamplingParams {
    float temperature = kDefaultTemperature;  // <= 0: greedy
    int top_k = kDefaultTopK;                 // <= 0: the whole vocabulary
    float top_p = kDefaultTopP;               // outside (0, 1]: 1
    float min_p = kDefaultMinP;  // relative to the most likely token; negative or NaN: 0
    // Absent: the sampler draws a seed from the operating system. The API's "seed": 0 means
    // "server picks", so request mapping should pass nullopt for it; an explicit 0 here is used
    // as is (the generator treats state 0 as its fixed replacement constant).
    std::optional<uint64_t> seed;
};

// The reference server ignores a thinking-mode request's temperature, top_k, top_p and min_p and
// decodes with the defaults above, as the official API does for its reasoning model; only the
// seed survives. Non-thinking requests keep their own values.
SamplingParams apply_thinking_mode(const SamplingParams& requested, bool thinking_mode);

// The ranges the reference enforces at every draw: top_p outside (0, 1] becomes 1, min_p below
// zero becomes 0, top_k above kMaxTopK becomes kMaxTopK and below zero 0. Temperature is left as
// given: <= 0 means greedy. NaN top_p becomes 1 and NaN min_p 0; the reference leaves a NaN
// top_p in place, which would switch it to the sorted path with no cut-off, but JSON cannot
// carry NaN so no request reaches that case.
SamplingParams normalized(const SamplingParams& params);

}  // namespace dsv4::sampler
