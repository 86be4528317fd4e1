// AVX-512 dot kernels of the 32-element block formats (Q8_0, Q4_0, MXFP4). Quantized activations
// go through vpdpbusd with the weights as unsigned bytes: the weight offset (128 or 8) times the
// activation block sum is subtracted exactly in the integer accumulator.
#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"
#include "engine/quant/simd_avx512.h"

namespace dsv4::quant::avx512 {
namespace {

// Two blocks per step: block b in lanes 0..7 of the int32 sums, block b + 1 in lanes 8..15.
// kPair == false is the odd last block alone, its upper half all zero.

// Broadcasts element 0 of a 128-bit vector to lanes 0..7 and element 1 to lanes 8..15.
inline __m512i block_lane_index() {
    return _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
}

// The 16 packed nibble bytes of each block, expanded to one byte per element, in block order:
// lane 0 low nibbles of block b, lane 1 its high nibbles, lanes 2-3 the same for block b + 1.
inline __m512i unpack_nibble_pair(__m256i packed) {
    const __m512i spread = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0),
                                                    _mm512_zextsi256_si512(packed));
    const long long four = 0x0004000400040004ll;
    const __m512i shifts = _mm512_set_epi64(four, four, 0, 0, four, four, 0, 0);
    return _mm512_and_si512(_mm512_srlv_epi16(spread, shifts), _mm512_set1_epi8(0x0f));
}

template <int kBlockBytes, int kQsOffset, bool kPair>
__m256i load_nibbles(const uint8_t* p) {
    const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kQsOffset));
    if constexpr (kPair) {
        const auto* second = reinterpret_cast<const __m128i*>(p + kBlockBytes + kQsOffset);
        return _mm256_inserti128_si256(_mm256_castsi128_si256(first), _mm_loadu_si128(second), 1);
    } else {
        return _mm256_zextsi128_si256(first);
    }
}

template <int kBlockBytes, bool kPair>
__m128 f16_scale_pair(const uint8_t* p) {
    uint32_t halves = load_u16(p);
    if constexpr (kPair) halves |= static_cast<uint32_t>(load_u16(p + kBlockBytes)) << 16;
    return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(halves)));
}

// The planar Q8_0 activation layout of kernels.h, computed inline (the library's view function
// is out of line).
inline ConstActQ8_0 act_view(const uint8_t* row, int64_t n) {
    const auto* d = reinterpret_cast<const float*>(row + n);
    return {reinterpret_cast<const int8_t*>(row), d,
            reinterpret_cast<const int32_t*>(d + n / kQK8_0)};
}

// The f16 scales of four consecutive blocks as f32 lanes 0..3.
template <int kBlockBytes>
__m128 f16_scales4(const uint8_t* p) {
    const uint64_t halves = load_u16(p) | static_cast<uint64_t>(load_u16(p + kBlockBytes)) << 16 |
                            static_cast<uint64_t>(load_u16(p + 2 * kBlockBytes)) << 32 |
                            static_cast<uint64_t>(load_u16(p + 3 * kBlockBytes)) << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(halves)));
}

// 2^(e - 128) as f32 bits; e = 0 and 1 are subnormal.
inline uint32_t e8m0_half_bits(uint8_t e) {
    return e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
}

struct Q8_0Format {
    static constexpr int kBlockBytes = sizeof(BlockQ8_0);
    static constexpr int kOffsetShift = 7;  // weights + 128

    template <bool kPair>
    static __m512i quants(const uint8_t* p) {
        const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
        const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
        if constexpr (kPair) {
            const auto* second = reinterpret_cast<const __m256i*>(p + kBlockBytes + 2);
            const __m512i q =
                _mm512_inserti64x4(_mm512_zextsi256_si512(first), _mm256_loadu_si256(second), 1);
            return _mm512_xor_si512(q, offset);
        } else {
            return _mm512_maskz_xor_epi32(0x00ff, _mm512_zextsi256_si512(first), offset);
        }
    }
    template <bool kPair>
    static __m128 scales(const uint8_t* p) {
        return f16_scale_pair<kBlockBytes, kPair>(p);
    }

    static __m128 scales4(const uint8_t* p) { return f16_scales4<kBlockBytes>(p); }

    // Block at p as 32 exact f32 weights.
    static void dequantize(const uint8_t* p, __m512& lo, __m512& hi) {
        const __m512 d = _mm512_set1_ps(f16_at(p));
        const auto* q = reinterpret_cast<const __m128i*>(p + 2);
        lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q))), d);
        hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q + 1))), d);
    }
};

struct Q4_0Format {
    static constexpr int kBlockBytes = sizeof(BlockQ4_0);
    static constexpr int kOffsetShift = 3;  // nibbles are the weights + 8

    template <bool kPair>
    static __m512i quants(const uint8_t* p) {
        return unpack_nibble_pair(load_nibbles<kBlockBytes, 2, kPair>(p));
    }
    template <bool kPair>
    static __m128 scales(const uint8_t* p) {
        return f16_scale_pair<kBlockBytes, kPair>(p);
    }

    static __m128 scales4(const uint8_t* p) { return f16_scales4<kBlockBytes>(p); }

    static void dequantize(const uint8_t* p, __m512& lo, __m512& hi) {
        const __m512 d = _mm512_set1_ps(f16_at(p));
        const __m512i q =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
        const __m512i eight = _mm512_set1_epi32(8);
        const __m512i q_lo = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight);
        const __m512i q_hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        lo = _mm512_mul_ps(_mm512_cvtepi32_ps(q_lo), d);
        hi = _mm512_mul_ps(_mm512_cvtepi32_ps(q_hi), d);
    }
};

struct Mxfp4Format {
    static constexpr int kBlockBytes = sizeof(BlockMxfp4);
    static constexpr int kOffsetShift = 7;  // code values + 128

    static __m128i values_s8() {
        return _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMxfp4Values));
    }

    template <bool kPair>
    static __m512i quants(const uint8_t* p) {
        const __m512i offset_values = _mm512_broadcast_i32x4(
            _mm_xor_si128(values_s8(), _mm_set1_epi8(static_cast<char>(0x80))));
        return _mm512_shuffle_epi8(offset_values,
                                   unpack_nibble_pair(load_nibbles<kBlockBytes, 1, kPair>(p)));
    }
    template <bool kPair>
    static __m128 scales(const uint8_t* p) {
        uint64_t bits = e8m0_half_bits(p[0]);
        if constexpr (kPair) bits |= static_cast<uint64_t>(e8m0_half_bits(p[kBlockBytes])) << 32;
        return _mm_castsi128_ps(_mm_cvtsi64_si128(static_cast<long long>(bits)));
    }

    static __m128 scales4(const uint8_t* p) {
        return _mm_castsi128_ps(
            _mm_setr_epi32(static_cast<int>(e8m0_half_bits(p[0])),
                           static_cast<int>(e8m0_half_bits(p[kBlockBytes])),
                           static_cast<int>(e8m0_half_bits(p[2 * kBlockBytes])),
                           static_cast<int>(e8m0_half_bits(p[3 * kBlockBytes]))));
    }

    static void dequantize(const uint8_t* p, __m512& lo, __m512& hi) {
        const __m512 d = _mm512_set1_ps(std::bit_cast<float>(e8m0_half_bits(p[0])));
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
        const __m128i low_mask = _mm_set1_epi8(0x0f);
        const __m128i v_lo = _mm_shuffle_epi8(values_s8(), _mm_and_si128(q, low_mask));
        const __m128i v_hi =
            _mm_shuffle_epi8(values_s8(), _mm_and_si128(_mm_srli_epi16(q, 4), low_mask));
        lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v_lo)), d);
        hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v_hi)), d);
    }
};

template <class Format>
struct QuantizedDot {
    static constexpr int kDecodeRows = 8;
    static constexpr int kBatchRows = 8;
    static constexpr int kBatchActs = 8;

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        const int64_t nb = n / kQK8_0;
        ConstActQ8_0 y[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) y[a] = act_view(act[a], n);
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        int64_t b = 0;
        for (; b + 4 <= nb; b += 4) step4<NR, NA>(w, y, b, acc);
        for (; b + 2 <= nb; b += 2) step<true, NR, NA>(w, y, b, acc);
        if (b < nb) step<false, NR, NA>(w, y, b, acc);
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }

    // Four blocks as two pairs, with the scales of all four read at once; each pair is
    // accumulated exactly as step<true> would.
    template <int NR, int NA>
    DSV4_INLINE static void step4(const uint8_t* const* w, const ConstActQ8_0* y, int64_t b,
                                  __m512 (&acc)[NR][NA]) {
        const __m512i lanes[2] = {block_lane_index(),
                                  _mm512_add_epi32(block_lane_index(), _mm512_set1_epi32(2))};
        __m512i q[NA][2], offset_sum[NA][2];
        __m512 da[NA][2];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) {
            const __m512i sums = _mm512_zextsi128_si512(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[a].sum + b)));
            const __m512 d = _mm512_zextps128_ps512(_mm_loadu_ps(y[a].d + b));
            DSV4_UNROLL
            for (int half = 0; half < 2; ++half) {
                q[a][half] = _mm512_loadu_si512(y[a].q + kQK8_0 * (b + 2 * half));
                const __m512i spread = _mm512_maskz_permutexvar_epi32(0x0101, lanes[half], sums);
                offset_sum[a][half] = _mm512_sub_epi32(
                    _mm512_setzero_si512(), _mm512_slli_epi32(spread, Format::kOffsetShift));
                da[a][half] = _mm512_permutexvar_ps(lanes[half], d);
            }
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            // Steps are 4 blocks long: b / 4 is the step.
            if constexpr (NA == 1) prefetch_share<4 * Format::kBlockBytes>(w[NR], NR, b / 4, r);
            const uint8_t* p = w[r] + Format::kBlockBytes * b;
            const __m512 scales = _mm512_zextps128_ps512(Format::scales4(p));
            DSV4_UNROLL
            for (int half = 0; half < 2; ++half) {
                const __m512i wq =
                    Format::template quants<true>(p + 2 * half * Format::kBlockBytes);
                const __m512 dw = _mm512_permutexvar_ps(lanes[half], scales);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) {
                    const __m512i isum = _mm512_dpbusd_epi32(offset_sum[a][half], wq, q[a][half]);
                    acc[r][a] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da[a][half]),
                                                _mm512_cvtepi32_ps(isum), acc[r][a]);
                }
            }
        }
    }

    template <bool kPair, int NR, int NA>
    DSV4_INLINE static void step(const uint8_t* const* w, const ConstActQ8_0* y, int64_t b,
                                 __m512 (&acc)[NR][NA]) {
        const __m512i lanes = block_lane_index();
        __m512i q[NA], offset_sum[NA];
        __m512 da[NA];
        DSV4_UNROLL
        for (int a = 0; a < NA; ++a) {
            if constexpr (kPair) {
                q[a] = _mm512_loadu_si512(y[a].q + kQK8_0 * b);
            } else {
                q[a] = _mm512_maskz_loadu_epi8(0xffffffffull, y[a].q + kQK8_0 * b);
            }
            const __m128i sums =
                kPair ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(y[a].sum + b))
                      : _mm_cvtsi32_si128(y[a].sum[b]);
            const __m512i spread =
                _mm512_maskz_permutexvar_epi32(0x0101, lanes, _mm512_zextsi128_si512(sums));
            offset_sum[a] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                             _mm512_slli_epi32(spread, Format::kOffsetShift));
            const __m128 d = kPair ? _mm_castsi128_ps(_mm_loadl_epi64(
                                         reinterpret_cast<const __m128i*>(y[a].d + b)))
                                   : _mm_load_ss(y[a].d + b);
            da[a] = _mm512_permutexvar_ps(lanes, _mm512_zextps128_ps512(d));
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            const uint8_t* p = w[r] + Format::kBlockBytes * b;
            const __m512i wq = Format::template quants<kPair>(p);
            const __m512 dw = _mm512_permutexvar_ps(
                lanes, _mm512_zextps128_ps512(Format::template scales<kPair>(p)));
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) {
                const __m512i isum = _mm512_dpbusd_epi32(offset_sum[a], wq, q[a]);
                acc[r][a] =
                    _mm512_fmadd_ps(_mm512_mul_ps(dw, da[a]), _mm512_cvtepi32_ps(isum), acc[r][a]);
            }
        }
    }
};

template <class Format>
struct FloatDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 4;
    static constexpr int kBatchActs = 4;

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK8_0; ++b) {
            if constexpr (NA == 1)
                prefetch_span<NR * Format::kBlockBytes>(w[NR] + NR * Format::kBlockBytes * b);
            __m512 x_lo[NA], x_hi[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) {
                const float* x = reinterpret_cast<const float*>(act[a]) + kQK8_0 * b;
                x_lo[a] = _mm512_loadu_ps(x);
                x_hi[a] = _mm512_loadu_ps(x + 16);
            }
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                const uint8_t* p = w[r] + Format::kBlockBytes * b;
                __m512 lo, hi;
                Format::dequantize(p, lo, hi);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) {
                    acc[r][a] = _mm512_fmadd_ps(lo, x_lo[a], acc[r][a]);
                    acc[r][a] = _mm512_fmadd_ps(hi, x_hi[a], acc[r][a]);
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
    detail::run_tiled<FloatDot<Q8_0Format>>(args);
}
void dot_f32_q4_0(const DotArgs& args) {
    detail::run_tiled<FloatDot<Q4_0Format>>(args);
}
void dot_f32_mxfp4(const DotArgs& args) {
    detail::run_tiled<FloatDot<Mxfp4Format>>(args);
}

}  // namespace dsv4::quant::avx512
