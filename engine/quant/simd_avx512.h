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

#include "engine/quant/dot_tiling.h"
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

// The kernels above pick a GFNI variant when the CPU has it; these are the variants without it
// (the fallback, reachable on any CPU of this level so that tests compare both).
void dot_q_q2_k_no_gfni(const DotArgs& args);
void dot_q_iq2_xxs_no_gfni(const DotArgs& args);
void dot_f32_iq2_xxs(const DotArgs& args);

void dot_f16(const DotArgs& args);
void dot_bf16(const DotArgs& args);
void dot_f32(const DotArgs& args);

// GFNI is not part of the AVX-512 level (cpu_features does not test it), so the functions that
// use it carry the target themselves and are only entered after this check.
#define DSV4_GFNI gnu::target("gfni")
inline bool has_gfni() {
    static const bool supported = __builtin_cpu_supports("gfni");
    return supported;
}

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

// Into L2 (prefetcht1): what is prefetched is the next tile, which may be larger than L1.
// Always inlined: an out-of-line helper whose only effect is a prefetch is judged side-effect
// free by gcc, and its calls are then deleted.
DSV4_INLINE void prefetch(const uint8_t* p) {
    __builtin_prefetch(p, 0, 2);
}

// Sum of the 16 lanes in a fixed order, so one accumulator always reduces to the same value.
inline float reduce(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

// Prefetches kBytes from p, one request per cache line: a decode tile calls it once per step for
// the matching share of the next tile's rows (see dot_tiling.h).
template <int kBytes>
DSV4_INLINE void prefetch_span(const uint8_t* p) {
    for (int offset = 0; offset < kBytes; offset += 64) prefetch(p + offset);
}

// Part `part` of `parts` of step `step` of the next tile (which starts at next_tile): a decode
// step asks for the next tile's matching bytes in parts, each just before one of its rows (or row
// pairs), rather than all at once: spread over the step, the same requests streamed 1-12 %
// faster from DRAM than one burst per step (bench/README).
template <int kShareBytes>
DSV4_INLINE void prefetch_share(const uint8_t* next_tile, int parts, int64_t step, int part) {
    prefetch_span<kShareBytes>(next_tile + kShareBytes * (parts * step + part));
}

// The f32-activation kernel of a block format with kBlockElems (a multiple of 16) elements:
// each weight block is dequantized once (exactly) into f32 and used for every activation row.
// Format provides kBlockBytes, kBlockElems and dequantize(const uint8_t* block, float* out).
template <class Format>
struct DequantizingDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 4;
    static constexpr int kBatchActs = 4;
    static constexpr int kChunks = Format::kBlockElems / 16;

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        alignas(64) float weights[NR][Format::kBlockElems];
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / Format::kBlockElems; ++b) {
            if constexpr (NA == 1)
                prefetch_span<NR * Format::kBlockBytes>(w[NR] + NR * Format::kBlockBytes * b);
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r)
                Format::dequantize(w[r] + Format::kBlockBytes * b, weights[r]);
            for (int c = 0; c < kChunks; ++c) {
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) {
                    const float* x =
                        reinterpret_cast<const float*>(act[a]) + Format::kBlockElems * b + 16 * c;
                    const __m512 xv = _mm512_loadu_ps(x);
                    DSV4_UNROLL
                    for (int r = 0; r < NR; ++r)
                        acc[r][a] =
                            _mm512_fmadd_ps(_mm512_load_ps(weights[r] + 16 * c), xv, acc[r][a]);
                }
            }
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

}  // namespace dsv4::quant::avx512
