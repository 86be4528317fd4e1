// Exact conversions between f32 and the 16-bit float formats (IEEE binary16, bfloat16).
// Pure functions on bit patterns; no tables, no state.
#pragma once

#include <bit>
#include <cstdint>

namespace dsv4::quant {

// Exact for every input, subnormals and signed zero included.
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal: normalise the mantissa.
        int shift = 0;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            ++shift;
        }
        mant &= 0x3ffu;
        bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

// Round to nearest, ties to even; overflow goes to infinity, NaN stays NaN.
inline uint16_t f32_to_f16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
    if (abs >= 0x38800000u) {                                              // normal in f16
        const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
        return static_cast<uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
    }
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
    // Subnormal in f16: shift the full mantissa into place with round-half-even.
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exp;  // 14..24
    const uint32_t half = 1u << (shift - 1);
    const uint32_t rest = mant & ((1u << shift) - 1u);
    uint32_t q = mant >> shift;
    if (rest > half || (rest == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
}

inline float bf16_to_f32(uint16_t h) {
    return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// Round to nearest, ties to even; NaN stays a quiet NaN.
inline uint16_t f32_to_bf16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace dsv4::quant
