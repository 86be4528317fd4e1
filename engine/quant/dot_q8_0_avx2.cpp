// AVX2 dot kernels of the 32-element block formats (Q8_0, Q4_0, MXFP4), one block per 256-bit
// vector. Signed weights go through vpmaddubsw as |w| x (a with w's sign); Q4_0's unsigned
// nibbles go in directly and the offset of 8 comes back through the activation block sum.
#include "engine/quant/simd_avx2.h"

#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"

namespace dsv4::quant::avx2 {
namespace {

inline ConstActQ8_0 act_view(const uint8_t* row, int64_t n) {
    const auto* d = reinterpret_cast<const float*>(row + n);
    return {reinterpret_cast<const int8_t*>(row), d,
            reinterpret_cast<const int32_t*>(d + n / kQK8_0)};
}

// The 16 packed nibble bytes as 32 unsigned bytes in element order (low nibbles first).
inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 2^(e - 128) as f32 bits; e = 0 and 1 are subnormal.
inline uint32_t e8m0_half_bits(uint8_t e) {
    return e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
}

inline __m128i mxfp4_values() {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMxfp4Values));
}

struct Q8_0Format {
    static constexpr int kBlockBytes = sizeof(BlockQ8_0);
    static constexpr int kOffset = 0;  // weights are signed bytes
    static __m256i quants(const uint8_t* p) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    }
    static float scale(const uint8_t* p) { return f16_at(p); }
    static void dequantize(const uint8_t* p, float* out) {
        const __m256 d = _mm256_set1_ps(scale(p));
        DSV4_UNROLL
        for (int i = 0; i < 4; ++i) {
            const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 2 + 8 * i));
            _mm256_store_ps(out + 8 * i,
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
};

struct Q4_0Format {
    static constexpr int kBlockBytes = sizeof(BlockQ4_0);
    static constexpr int kOffset = 8;  // nibbles are the weights + 8
    static __m256i quants(const uint8_t* p) { return unpack_nibbles(p + 2); }
    static float scale(const uint8_t* p) { return f16_at(p); }
    static void dequantize(const uint8_t* p, float* out) {
        const __m256 d = _mm256_set1_ps(scale(p));
        const __m256i q = _mm256_sub_epi8(quants(p), _mm256_set1_epi8(8));
        alignas(32) int8_t bytes[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), q);
        DSV4_UNROLL
        for (int i = 0; i < 4; ++i) {
            const __m128i part = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * i));
            _mm256_store_ps(out + 8 * i,
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part)), d));
        }
    }
};

struct Mxfp4Format {
    static constexpr int kBlockBytes = sizeof(BlockMxfp4);
    static constexpr int kOffset = 0;  // code values are signed bytes
    static __m256i quants(const uint8_t* p) {
        const __m256i table = _mm256_broadcastsi128_si256(mxfp4_values());
        return _mm256_shuffle_epi8(table, unpack_nibbles(p + 1));
    }
    static float scale(const uint8_t* p) { return std::bit_cast<float>(e8m0_half_bits(p[0])); }
    static void dequantize(const uint8_t* p, float* out) {
        const __m256 d = _mm256_set1_ps(scale(p));
        alignas(32) int8_t bytes[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), quants(p));
        DSV4_UNROLL
        for (int i = 0; i < 4; ++i) {
            const __m128i part = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * i));
            _mm256_store_ps(out + 8 * i,
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part)), d));
        }
    }
};

template <class Format>
struct QuantizedDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 2;
    static constexpr int kBatchActs = 4;

    // Activation bytes are in [-127, 127] (the quantizers' range), so flipping their sign and
    // the pair sums of vpmaddubsw (at most 2 * 128 * 127) are exact.
    DSV4_INLINE static __m256i block_sum(__m256i wq, __m256i aq, __m256i offset_sum) {
        if constexpr (Format::kOffset == 0) {
            const __m256i magnitude = _mm256_sign_epi8(wq, wq);
            const __m256i signed_act = _mm256_sign_epi8(aq, wq);
            return pair_sums(_mm256_maddubs_epi16(magnitude, signed_act));
        } else {
            return _mm256_add_epi32(pair_sums(_mm256_maddubs_epi16(wq, aq)), offset_sum);
        }
    }

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        const int64_t nb = n / kQK8_0;
        ConstActQ8_0 y[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) y[a] = act_view(act[a], n);
        __m256 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            if constexpr (NA == 1)
                prefetch_span<NR * Format::kBlockBytes>(w[NR] + NR * Format::kBlockBytes * b);
            __m256i aq[NA], offset_sum[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) {
                aq[a] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[a].q + kQK8_0 * b));
                offset_sum[a] =
                    _mm256_zextsi128_si256(_mm_cvtsi32_si128(-Format::kOffset * y[a].sum[b]));
            }
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                const uint8_t* p = w[r] + Format::kBlockBytes * b;
                const __m256i wq = Format::quants(p);
                const float dw = Format::scale(p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) {
                    const __m256i isum = block_sum(wq, aq[a], offset_sum[a]);
                    acc[r][a] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[a].d[b]),
                                                _mm256_cvtepi32_ps(isum), acc[r][a]);
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

template <class Format>
struct Dequant32 : Format {
    static constexpr int kBlockElems = kQK8_0;
};

}  // namespace

void dot_q_q8_0(const DotArgs& args) {
    detail::run_tiled<QuantizedDot<Q8_0Format>>(args);
}
void dot_q_q4_0(const DotArgs& args) {
    detail::run_tiled<QuantizedDot<Q4_0Format>>(args);
}
void dot_q_mxfp4(const DotArgs& args) {
    detail::run_tiled<QuantizedDot<Mxfp4Format>>(args);
}
void dot_f32_q8_0(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Dequant32<Q8_0Format>>>(args);
}
void dot_f32_q4_0(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Dequant32<Q4_0Format>>>(args);
}
void dot_f32_mxfp4(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Dequant32<Mxfp4Format>>>(args);
}

}  // namespace dsv4::quant::avx2
