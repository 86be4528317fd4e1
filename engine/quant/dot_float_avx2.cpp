// AVX2 dot kernels of the float weight types (F16, BF16, F32) with f32 activations: weights
// widened exactly to f32, one FMA chain of 8 lanes per (row, activation) pair.
#include "engine/quant/simd_avx2.h"

#include "engine/quant/dot_tiling.h"

namespace dsv4::quant::avx2 {
namespace {

// Each format loads 8 weights starting at element i as f32 from a row of n elements; the
// partial variant zero-pads past the end of the row.
struct F16Weights {
    static constexpr int kElemBytes = 2;
    static __m256 widen(__m128i h) { return _mm256_cvtph_ps(h); }
};

struct BF16Weights {
    static constexpr int kElemBytes = 2;
    static __m256 widen(__m128i h) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
};

template <class Half>
struct HalfWeights {
    static constexpr int kElemBytes = 2;
    static __m256 load(const uint8_t* row, int64_t i) {
        return Half::widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    }
    static __m256 load_partial(const uint8_t* row, int64_t i, int64_t count) {
        alignas(16) uint16_t padded[8] = {};
        std::memcpy(padded, row + 2 * i, 2 * static_cast<size_t>(count));
        return Half::widen(_mm_load_si128(reinterpret_cast<const __m128i*>(padded)));
    }
};

inline __m256 load_partial_f32(const float* x, int64_t count) {
    alignas(32) float padded[8] = {};
    std::memcpy(padded, x, sizeof(float) * static_cast<size_t>(count));
    return _mm256_load_ps(padded);
}

struct F32Weights {
    static constexpr int kElemBytes = 4;
    static __m256 load(const uint8_t* row, int64_t i) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
    }
    static __m256 load_partial(const uint8_t* row, int64_t i, int64_t count) {
        return load_partial_f32(reinterpret_cast<const float*>(row) + i, count);
    }
};

template <class Weights>
struct FloatDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 4;
    static constexpr int kBatchActs = 3;

    template <int NR, int NA, bool kPartial>
    DSV4_INLINE static void step(const uint8_t* const* w, const float* const* x, int64_t i,
                                 int64_t count, __m256 (&acc)[NR][NA]) {
        if constexpr (NA == 1 && !kPartial)
            prefetch_span<NR * 8 * Weights::kElemBytes>(w[NR] + NR * Weights::kElemBytes * i);
        __m256 xv[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a)
            xv[a] = kPartial ? load_partial_f32(x[a] + i, count) : _mm256_loadu_ps(x[a] + i);
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            const __m256 wv =
                kPartial ? Weights::load_partial(w[r], i, count) : Weights::load(w[r], i);
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm256_fmadd_ps(wv, xv[a], acc[r][a]);
        }
    }

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        const float* x[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) x[a] = reinterpret_cast<const float*>(act[a]);
        __m256 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm256_setzero_ps();
        }
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) step<NR, NA, false>(w, x, i, 8, acc);
        if (i < n) step<NR, NA, true>(w, x, i, n - i, acc);
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

}  // namespace

void dot_f16(const DotArgs& args) {
    detail::run_tiled<FloatDot<HalfWeights<F16Weights>>>(args);
}
void dot_bf16(const DotArgs& args) {
    detail::run_tiled<FloatDot<HalfWeights<BF16Weights>>>(args);
}
void dot_f32(const DotArgs& args) {
    detail::run_tiled<FloatDot<F32Weights>>(args);
}

}  // namespace dsv4::quant::avx2
