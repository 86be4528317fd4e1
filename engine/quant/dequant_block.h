// Internal to engine/quant: dequantization of one block of each weight format into f32, shared by
// dequantize_row and the scalar f32 dot kernels. Bit-exact with ggml's to_float; it must not loop
// over rows or know about activations.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "engine/quant/block_layouts.h"
#include "engine/quant/fp16.h"
#include "engine/quant/iq2xxs_grid.h"

namespace dsv4::quant::detail {

template <typename Block>
inline constexpr int kBlockElems = kQK_K;
template <>
inline constexpr int kBlockElems<BlockQ8_0> = kQK8_0;
template <>
inline constexpr int kBlockElems<BlockQ4_0> = kQK8_0;
template <>
inline constexpr int kBlockElems<BlockMxfp4> = kQK8_0;

// Every product below is exact in f32 (few significant bits on each side); only the final
// subtraction of the K-quant mins rounds, so the multiplication order is free but the
// "scale times quant, minus min" shape is not.

inline void dequantize_block(const BlockQ8_0& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

inline void dequantize_block(const BlockQ4_0& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>((b.qs[j] & 15) - 8) * d;
        y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
}

inline void dequantize_block(const BlockMxfp4& b, float* y) {
    const float d = mxfp4_half_scale(b.e);
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>(kMxfp4Values[b.qs[j] & 15]) * d;
        y[j + 16] = static_cast<float>(kMxfp4Values[b.qs[j] >> 4]) * d;
    }
}

inline void dequantize_block(const BlockQ2K& b, float* y) {
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    for (int half = 0; half < 2; ++half) {
        const uint8_t* qs = b.qs + 32 * half;
        for (int shift_index = 0; shift_index < 4; ++shift_index) {
            for (int sub = 0; sub < 2; ++sub) {
                const uint8_t sc = b.scales[8 * half + 2 * shift_index + sub];
                const float scale = d * static_cast<float>(sc & 15);
                const float min = dmin * static_cast<float>(sc >> 4);
                float* out = y + 128 * half + 32 * shift_index + 16 * sub;
                for (int l = 0; l < 16; ++l) {
                    const int q = (qs[16 * sub + l] >> (2 * shift_index)) & 3;
                    out[l] = scale * static_cast<float>(q) - min;
                }
            }
        }
    }
}

inline void dequantize_block(const BlockQ4K& b, float* y) {
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    for (int chunk = 0; chunk < 4; ++chunk) {
        const KQuantScaleMin lo = k_quant_scale_min(b.scales, 2 * chunk);
        const KQuantScaleMin hi = k_quant_scale_min(b.scales, 2 * chunk + 1);
        const float scale_lo = d * lo.scale, min_lo = dmin * lo.min;
        const float scale_hi = d * hi.scale, min_hi = dmin * hi.min;
        const uint8_t* qs = b.qs + 32 * chunk;
        for (int l = 0; l < 32; ++l) {
            y[64 * chunk + l] = scale_lo * static_cast<float>(qs[l] & 15) - min_lo;
            y[64 * chunk + 32 + l] = scale_hi * static_cast<float>(qs[l] >> 4) - min_hi;
        }
    }
}

inline void dequantize_block(const BlockQ5K& b, float* y) {
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    for (int chunk = 0; chunk < 4; ++chunk) {
        const KQuantScaleMin lo = k_quant_scale_min(b.scales, 2 * chunk);
        const KQuantScaleMin hi = k_quant_scale_min(b.scales, 2 * chunk + 1);
        const float scale_lo = d * lo.scale, min_lo = dmin * lo.min;
        const float scale_hi = d * hi.scale, min_hi = dmin * hi.min;
        const uint8_t* qs = b.qs + 32 * chunk;
        const uint8_t bit_lo = static_cast<uint8_t>(1u << (2 * chunk));
        const uint8_t bit_hi = static_cast<uint8_t>(2u << (2 * chunk));
        for (int l = 0; l < 32; ++l) {
            const int q_lo = (qs[l] & 15) + ((b.qh[l] & bit_lo) ? 16 : 0);
            const int q_hi = (qs[l] >> 4) + ((b.qh[l] & bit_hi) ? 16 : 0);
            y[64 * chunk + l] = scale_lo * static_cast<float>(q_lo) - min_lo;
            y[64 * chunk + 32 + l] = scale_hi * static_cast<float>(q_hi) - min_hi;
        }
    }
}

// The signed 6-bit quants (-32..31) of a Q6_K block in element order.
inline void unpack_q6_k(const BlockQ6K& b, int8_t* q) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        int8_t* out = q + 128 * half;
        for (int l = 0; l < 32; ++l) {
            out[l] = static_cast<int8_t>(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
            out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

inline void dequantize_block(const BlockQ6K& b, float* y) {
    const float d = f16_to_f32(b.d);
    int8_t q[kQK_K];
    unpack_q6_k(b, q);
    for (int group = 0; group < 16; ++group) {
        const float scale = d * static_cast<float>(b.scales[group]);
        for (int l = 0; l < 16; ++l)
            y[16 * group + l] = scale * static_cast<float>(q[16 * group + l]);
    }
}

inline void dequantize_block(const BlockQ8K& b, float* y) {
    for (int j = 0; j < kQK_K; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
}

// One 32-element group of an IQ2_XXS block: the grid-index word and the signs-and-scale word.
struct Iq2xxsGroup {
    uint32_t grid_indices;
    uint32_t signs_and_scale;
};
inline Iq2xxsGroup iq2xxs_group(const BlockIq2xxs& b, int group) {
    Iq2xxsGroup g;
    std::memcpy(&g.grid_indices, b.qs + 8 * group, 4);
    std::memcpy(&g.signs_and_scale, b.qs + 8 * group + 4, 4);
    return g;
}

inline void dequantize_block(const BlockIq2xxs& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int group = 0; group < 8; ++group) {
        const Iq2xxsGroup g = iq2xxs_group(b, group);
        const float db = d * (0.5f + static_cast<float>(g.signs_and_scale >> 28)) * 0.25f;
        for (int l = 0; l < 4; ++l) {
            const uint32_t grid = (g.grid_indices >> (8 * l)) & 0xffu;
            const uint8_t signs = kIq2xxsSignBytes[(g.signs_and_scale >> (7 * l)) & 127u];
            for (int j = 0; j < 8; ++j) {
                // Negation by flipping the sign bit: exact, and free of a data-dependent branch
                // (the signs are effectively random).
                const float v = db * static_cast<float>(iq2xxs_grid_value(grid, j));
                const uint32_t flip = static_cast<uint32_t>((signs >> j) & 1) << 31;
                y[32 * group + 8 * l + j] = std::bit_cast<float>(std::bit_cast<uint32_t>(v) ^ flip);
            }
        }
    }
}

}  // namespace dsv4::quant::detail
