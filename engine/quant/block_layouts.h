// Byte layouts of the ggml block formats this engine reads (GGUF weights and Q8_K activations),
// plus the small decoding helpers every kernel needs. Layout only: no loops over rows, no dots.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "engine/quant/kernels.h"

namespace dsv4::quant {

inline constexpr int kQK8_0 = 32;  // elements per Q8_0 / Q4_0 / MXFP4 block
inline constexpr int kQK_K = 256;  // elements per K-quant / IQ2_XXS / Q8_K super-block

// Half-precision fields are raw IEEE binary16 bit patterns (convert with fp16.h). Blocks are read
// in place from byte buffers, hence may_alias.
struct [[gnu::may_alias]] BlockQ8_0 {
    uint16_t d;
    int8_t qs[32];
};

struct [[gnu::may_alias]] BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];  // element j in the low nibble of qs[j], element j + 16 in the high nibble
};

struct [[gnu::may_alias]] BlockMxfp4 {
    uint8_t e;  // E8M0 shared exponent
    uint8_t qs[16];
};

struct [[gnu::may_alias]] BlockQ2K {
    uint8_t scales[16];  // low nibble scale, high nibble min, per 16 elements
    uint8_t qs[64];
    uint16_t d;
    uint16_t dmin;
};

struct [[gnu::may_alias]] BlockQ4K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, see k_quant_scale_min
    uint8_t qs[128];
};

struct [[gnu::may_alias]] BlockQ5K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[32];  // fifth bit: bit 2c of qh[l] for element 64c + l, bit 2c+1 for 64c + 32 + l
    uint8_t qs[128];
};

struct [[gnu::may_alias]] BlockQ6K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};

struct [[gnu::may_alias]] BlockIq2xxs {
    uint16_t d;
    // 8 groups of 32 elements, 8 bytes each: u32 grid indices (one byte per 8 elements), then
    // u32 holding four 7-bit sign indices and a 4-bit scale in the top bits. Kept as bytes so the
    // u32 reads are explicit (memcpy) and alignment-free.
    uint8_t qs[64];
};

static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockMxfp4) == 17 && offsetof(BlockMxfp4, qs) == 1);
static_assert(sizeof(BlockQ2K) == 84 && offsetof(BlockQ2K, qs) == 16 &&
              offsetof(BlockQ2K, d) == 80 && offsetof(BlockQ2K, dmin) == 82);
static_assert(sizeof(BlockQ4K) == 144 && offsetof(BlockQ4K, scales) == 4 &&
              offsetof(BlockQ4K, qs) == 16);
static_assert(sizeof(BlockQ5K) == 176 && offsetof(BlockQ5K, qh) == 16 &&
              offsetof(BlockQ5K, qs) == 48);
static_assert(sizeof(BlockQ6K) == 210 && offsetof(BlockQ6K, qh) == 128 &&
              offsetof(BlockQ6K, scales) == 192 && offsetof(BlockQ6K, d) == 208);
static_assert(sizeof(BlockIq2xxs) == 66 && offsetof(BlockIq2xxs, qs) == 2);
static_assert(sizeof(BlockQ8K) == 292 && offsetof(BlockQ8K, qs) == 4 &&
              offsetof(BlockQ8K, bsums) == 260);

// Scale and min (6 bits each) of sub-block j (0..7) of a Q4_K / Q5_K super-block.
struct KQuantScaleMin {
    uint8_t scale;
    uint8_t min;
};
constexpr KQuantScaleMin k_quant_scale_min(const uint8_t* scales, int j) {
    if (j < 4) {
        return {static_cast<uint8_t>(scales[j] & 63), static_cast<uint8_t>(scales[j + 4] & 63)};
    }
    return {static_cast<uint8_t>((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4)),
            static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))};
}

// MXFP4 code points: E2M1 values doubled so they are integers; the block scale is halved to match.
inline constexpr int8_t kMxfp4Values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

// Half of the E8M0 scale, 2^(e - 128), exactly (e = 0 and 1 give f32 subnormals).
inline float mxfp4_half_scale(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
    return std::bit_cast<float>(bits);
}

}  // namespace dsv4::quant
