// AVX-512 dot kernels of the float weight types (F16, BF16, F32) with f32 activations: weights
// widened exactly to f32, one FMA chain of 16 lanes per (row, activation) pair.
#include "engine/quant/simd_avx512.h"

#include "engine/quant/dot_tiling.h"

namespace dsv4::quant::avx512 {
namespace {

// Each format loads 16 weights starting at element i as f32; the masked variant zeroes lanes
// past the end of the row.
struct F16Weights {
    static constexpr int kElemBytes = 2;
    static __m512 load(const uint8_t* row, int64_t i) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
    }
    static __m512 load_masked(const uint8_t* row, int64_t i, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * i));
    }
};

struct BF16Weights {
    static constexpr int kElemBytes = 2;
    static __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static __m512 load(const uint8_t* row, int64_t i) {
        return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
    }
    static __m512 load_masked(const uint8_t* row, int64_t i, __mmask16 m) {
        return widen(_mm256_maskz_loadu_epi16(m, row + 2 * i));
    }
};

struct F32Weights {
    static constexpr int kElemBytes = 4;
    static __m512 load(const uint8_t* row, int64_t i) {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    }
    static __m512 load_masked(const uint8_t* row, int64_t i, __mmask16 m) {
        return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + i);
    }
};

template <class Weights>
struct FloatDot {
    static constexpr int kDecodeRows = 8;
    static constexpr int kBatchRows = 8;
    static constexpr int kBatchActs = 4;

    template <int NR, int NA, bool kMasked>
    DSV4_INLINE static void step(const uint8_t* const* w, const float* const* x, int64_t i,
                                 __mmask16 m, __m512 (&acc)[NR][NA]) {
        if constexpr (NA == 1 && !kMasked)
            prefetch_span<NR * 16 * Weights::kElemBytes>(w[NR] + NR * Weights::kElemBytes * i);
        __m512 xv[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a)
            xv[a] = kMasked ? _mm512_maskz_loadu_ps(m, x[a] + i) : _mm512_loadu_ps(x[a] + i);
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            const __m512 wv = kMasked ? Weights::load_masked(w[r], i, m) : Weights::load(w[r], i);
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_fmadd_ps(wv, xv[a], acc[r][a]);
        }
    }

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        const float* x[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) x[a] = reinterpret_cast<const float*>(act[a]);
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) step<NR, NA, false>(w, x, i, 0, acc);
        if (i < n) {
            const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
            step<NR, NA, true>(w, x, i, m, acc);
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

}  // namespace

void dot_f16(const DotArgs& args) {
    detail::run_tiled<FloatDot<F16Weights>>(args);
}
void dot_bf16(const DotArgs& args) {
    detail::run_tiled<FloatDot<BF16Weights>>(args);
}
void dot_f32(const DotArgs& args) {
    detail::run_tiled<FloatDot<F32Weights>>(args);
}

}  // namespace dsv4::quant::avx512
