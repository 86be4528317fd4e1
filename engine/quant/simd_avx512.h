// Internal to the *_avx512.cpp kernel files: their entry points and the small vector helpers they
// share. Include it from AVX-512 translation units only; everything lives in namespace avx512 so
// no function compiled with AVX-512 can stand in for a baseline one at link time.
#pragma once

// GCC 12 reports the deliberately undefined pass-through operands inside its own AVX-512
// intrinsic headers as uninitialised (GCC bug 105593); the warning is silenced for those headers
// only, so it still applies to this project's code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

#include "engine/quant/kernels.h"

namespace dsv4::quant::avx512 {

// Entry points, one per weight type and activation kind (kernels_avx512.cpp builds the table).
void dot_q_q8_0(const DotArgs& args);
void dot_q_q4_0(const DotArgs& args);
void dot_q_mxfp4(const DotArgs& args);
void dot_f32_q8_0(const DotArgs& args);
void dot_f32_q4_0(const DotArgs& args);
void dot_f32_mxfp4(const DotArgs& args);

void dot_q_q2_k(const DotArgs& args);
void dot_q_q4_k(const DotArgs& args);
void dot_q_q5_k(const DotArgs& args);
void dot_q_q6_k(const DotArgs& args);
void dot_f32_q2_k(const DotArgs& args);
void dot_f32_q4_k(const DotArgs& args);
void dot_f32_q5_k(const DotArgs& args);
void dot_f32_q6_k(const DotArgs& args);

void dot_q_iq2_xxs(const DotArgs& args);
void dot_f32_iq2_xxs(const DotArgs& args);

void dot_f16(const DotArgs& args);
void dot_bf16(const DotArgs& args);
void dot_f32(const DotArgs& args);

// How far ahead of the current block the decode loops prefetch weight bytes.
inline constexpr int kPrefetchBytes = 768;

inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline float load_f32(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline float f16_at(const uint8_t* p) {
    return _cvtsh_ss(load_u16(p));
}

inline void prefetch(const uint8_t* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

// Sum of the 16 lanes in a fixed order, so one accumulator always reduces to the same value.
inline float reduce(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

// f32 activation elements [i, i + 16) with the lanes past n zeroed.
inline __m512 load_act_f32(const float* x, int64_t i, int64_t n) {
    if (i + 16 <= n) return _mm512_loadu_ps(x + i);
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n - i)) - 1u), x + i);
}

}  // namespace dsv4::quant::avx512
