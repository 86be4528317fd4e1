// AVX2 dot kernels of the K-quants (Q2_K, Q4_K, Q5_K, Q6_K) with Q8_K activations, 32 elements
// per 256-bit vector in element order: vpmaddubsw of unsigned quants and activation bytes, then
// vpmaddwd with the sub-block scales; mins (or Q6_K's offset of 32) via the activation block sums.
#include "engine/quant/simd_avx2.h"

#include <array>
#include <type_traits>

#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"

namespace dsv4::quant::avx2 {
namespace {

template <typename T, size_t N, typename F>
constexpr std::array<T, N> make_table(F f) {
    std::array<T, N> t{};
    for (size_t i = 0; i < N; ++i) t[i] = f(static_cast<int>(i));
    return t;
}

template <typename T>
__m256i load_table(const T& table) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table.data()));
}

// vpshufb selectors that spread scale bytes into int16 lanes (high byte zeroed): chunk v of
// 32 elements spans sub-blocks 2v (low lane) and 2v + 1 (high lane) of 16 elements.
constexpr auto kSub16Bytes = make_table<std::array<uint8_t, 32>, 8>([](int v) {
    return make_table<uint8_t, 32>(
        [v](int b) { return static_cast<uint8_t>(b % 2 ? 0x80 : (2 * v + b / 16) % 16); });
});
// vpshufb selectors that broadcast int16 word j of each lane to the whole vector.
constexpr auto kWordBroadcast = make_table<std::array<uint8_t, 32>, 8>([](int j) {
    return make_table<uint8_t, 32>([j](int b) { return static_cast<uint8_t>(2 * j + b % 2); });
});
// vpshufb selectors for Q6_K: word 2j in the low lane, word 2j + 1 in the high lane.
constexpr auto kWordPair = make_table<std::array<uint8_t, 32>, 4>([](int j) {
    return make_table<uint8_t, 32>(
        [j](int b) { return static_cast<uint8_t>(2 * (2 * j + b / 16) + b % 2); });
});

struct ActBlock {
    const int8_t* q;
    __m256i bsums;
    float d;
};

inline ActBlock act_block(const uint8_t* y) {
    return {reinterpret_cast<const int8_t*>(y + offsetof(BlockQ8K, qs)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + offsetof(BlockQ8K, bsums))),
            load_f32(y)};
}

inline __m256i act_chunk(const ActBlock& y, int chunk) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.q + 32 * chunk));
}

// The 8 chunks of a super-block as unsigned quants with int16 pair scales.
struct RowBlock {
    __m256i q[8];
    __m256i scale[8];
    __m256i sums;  // int16 factor of each activation block sum (mins, or Q6_K scales)
    float d;
    float dmin;
};

// The K-quant close of a super-block for one (row, activation) pair: integer sums per chunk,
// then (y.d * d) * isum - (y.d * dmin) * summs in 8 f32 lanes.
template <bool kHasMins>
DSV4_INLINE __m256 accumulate(const RowBlock& w, const ActBlock& y, __m256 acc) {
    const __m256i weighted_sums = _mm256_madd_epi16(y.bsums, w.sums);
    __m256i isum[2] = {
        kHasMins ? _mm256_setzero_si256()
                 : _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(weighted_sums, 5)),
        _mm256_setzero_si256()};
    DSV4_UNROLL
    for (int c = 0; c < 8; ++c) {
        const __m256i products = _mm256_maddubs_epi16(w.q[c], act_chunk(y, c));
        isum[c % 2] = _mm256_add_epi32(isum[c % 2], _mm256_madd_epi16(products, w.scale[c]));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y.d * w.d),
                          _mm256_cvtepi32_ps(_mm256_add_epi32(isum[0], isum[1])), acc);
    if constexpr (kHasMins)
        acc =
            _mm256_fnmadd_ps(_mm256_set1_ps(y.d * w.dmin), _mm256_cvtepi32_ps(weighted_sums), acc);
    return acc;
}

struct Q2KFormat {
    static constexpr int kBlockBytes = sizeof(BlockQ2K);
    static constexpr bool kHasMins = true;

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i low4 = _mm_set1_epi8(0x0f);
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_and_si128(packed, low4));
        const __m256i three = _mm256_set1_epi8(3);
        DSV4_UNROLL
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(p + offsetof(BlockQ2K, qs) + 32 * h));
            DSV4_UNROLL
            for (int j = 0; j < 4; ++j) {
                // Chunk 4h + j: elements 128h + 32j .. +31, sub-blocks 8h + 2j and 8h + 2j + 1.
                w.q[4 * h + j] =
                    _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * j)), three);
                w.scale[4 * h + j] =
                    _mm256_shuffle_epi8(scales, load_table(kSub16Bytes[4 * h + j]));
            }
        }
        w.sums = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
        w.d = f16_at(p + offsetof(BlockQ2K, d));
        w.dmin = f16_at(p + offsetof(BlockQ2K, dmin));
        return w;
    }
};

// The 6-bit scales and mins of a Q4_K/Q5_K super-block as 8 bytes each (sub-block order).
struct ScalesMins {
    uint64_t scales;
    uint64_t mins;
};
inline ScalesMins unpack_scales_mins(const uint8_t* s) {
    const uint32_t u0 = load_u32(s), u1 = load_u32(s + 4), u2 = load_u32(s + 8);
    const uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, top2 = 0x03030303u;
    const uint32_t sc_hi = (u2 & low4) | (((u0 >> 6) & top2) << 4);
    const uint32_t m_hi = ((u2 >> 4) & low4) | (((u1 >> 6) & top2) << 4);
    return {(u0 & low6) | (static_cast<uint64_t>(sc_hi) << 32),
            (u1 & low6) | (static_cast<uint64_t>(m_hi) << 32)};
}

// Q4_K and Q5_K: chunk c holds sub-block c (32 elements); kFifthBit adds qh's bit c as 16.
template <int kScalesOffset, int kQsOffset, int kQhOffset>
DSV4_INLINE RowBlock unpack_q45(const uint8_t* p) {
    RowBlock w;
    const ScalesMins sm = unpack_scales_mins(p + kScalesOffset);
    const __m256i scale_words = _mm256_broadcastsi128_si256(
        _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sm.scales))));
    const __m128i mins = _mm_cvtsi64_si128(static_cast<long long>(sm.mins));
    w.sums = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQhOffset >= 0)
        qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kQhOffset));
    DSV4_UNROLL
    for (int c = 0; c < 4; ++c) {
        const __m256i qs =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kQsOffset + 32 * c));
        w.q[2 * c] = _mm256_and_si256(qs, low4);
        w.q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(qs, 4), low4);
        if constexpr (kQhOffset >= 0) {
            // Bit b of qh[l] (b = 2c low nibble, 2c + 1 high nibble) becomes 16.
            DSV4_UNROLL
            for (int half = 0; half < 2; ++half) {
                const int bit = 2 * c + half;
                const __m256i moved = bit <= 4 ? _mm256_sll_epi16(qh, _mm_cvtsi32_si128(4 - bit))
                                               : _mm256_srl_epi16(qh, _mm_cvtsi32_si128(bit - 4));
                w.q[2 * c + half] = _mm256_or_si256(
                    w.q[2 * c + half], _mm256_and_si256(moved, _mm256_set1_epi8(0x10)));
            }
        }
        w.scale[2 * c] = _mm256_shuffle_epi8(scale_words, load_table(kWordBroadcast[2 * c]));
        w.scale[2 * c + 1] =
            _mm256_shuffle_epi8(scale_words, load_table(kWordBroadcast[2 * c + 1]));
    }
    w.d = f16_at(p);
    w.dmin = f16_at(p + 2);
    return w;
}

struct Q4KFormat {
    static constexpr int kBlockBytes = sizeof(BlockQ4K);
    static constexpr bool kHasMins = true;
    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        return unpack_q45<offsetof(BlockQ4K, scales), offsetof(BlockQ4K, qs), -1>(p);
    }
};

struct Q5KFormat {
    static constexpr int kBlockBytes = sizeof(BlockQ5K);
    static constexpr bool kHasMins = true;
    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        return unpack_q45<offsetof(BlockQ5K, scales), offsetof(BlockQ5K, qs),
                          offsetof(BlockQ5K, qh)>(p);
    }
};

struct Q6KFormat {
    static constexpr int kBlockBytes = sizeof(BlockQ6K);
    static constexpr bool kHasMins = false;

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        const __m256i scale_words = _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + offsetof(BlockQ6K, scales))));
        w.sums = scale_words;
        const __m256i low4 = _mm256_set1_epi8(0x0f);
        const __m256i bits45 = _mm256_set1_epi8(0x30);
        DSV4_UNROLL
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = p + offsetof(BlockQ6K, ql) + 64 * h;
            const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
            const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
            const __m256i qh = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(p + offsetof(BlockQ6K, qh) + 32 * h));
            // Chunk 4h + j: elements 128h + 32j + l; qh bits 2j, 2j + 1 move to bits 4, 5.
            const __m256i low[4] = {ql0, ql1, _mm256_srli_epi16(ql0, 4), _mm256_srli_epi16(ql1, 4)};
            const __m256i high[4] = {_mm256_slli_epi16(qh, 4), _mm256_slli_epi16(qh, 2), qh,
                                     _mm256_srli_epi16(qh, 2)};
            const __m256i lane_scales =
                _mm256_permute2x128_si256(scale_words, scale_words, h == 0 ? 0x00 : 0x11);
            DSV4_UNROLL
            for (int j = 0; j < 4; ++j) {
                w.q[4 * h + j] = _mm256_or_si256(_mm256_and_si256(low[j], low4),
                                                 _mm256_and_si256(high[j], bits45));
                w.scale[4 * h + j] = _mm256_shuffle_epi8(lane_scales, load_table(kWordPair[j]));
            }
        }
        w.d = f16_at(p + offsetof(BlockQ6K, d));
        w.dmin = 0.0f;
        return w;
    }
};

template <class Format>
struct KQuantDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 2;
    static constexpr int kBatchActs = 4;

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        __m256 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            ActBlock y[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) y[a] = act_block(act[a] + sizeof(BlockQ8K) * b);
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                if constexpr (NA == 1) prefetch_share<Format::kBlockBytes>(w[NR], NR, b, r);
                const uint8_t* p = w[r] + Format::kBlockBytes * b;
                const RowBlock wb = Format::unpack(p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a)
                    acc[r][a] = accumulate<Format::kHasMins>(wb, y[a], acc[r][a]);
            }
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

// ---- Exact dequantization for the f32-activation kernels -----------------------------------

// out[i] = (d * scale) * q - (dmin * min) over the 32 elements of chunk c, with the scale and
// min of each 16-element half; products are exact, the subtraction rounds once (as ggml does).
DSV4_INLINE void store_affine32(__m256i q, const float (&d_scale)[2], const float (&dmin_min)[2],
                                float* out) {
    alignas(32) uint8_t bytes[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), q);
    DSV4_UNROLL
    for (int i = 0; i < 4; ++i) {
        const __m256 qf = _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * i))));
        _mm256_store_ps(out + 8 * i, _mm256_fmsub_ps(_mm256_set1_ps(d_scale[i / 2]), qf,
                                                     _mm256_set1_ps(dmin_min[i / 2])));
    }
}

template <class Format>
struct KQuantDequant {
    static constexpr int kBlockBytes = Format::kBlockBytes;
    static constexpr int kBlockElems = kQK_K;

    // Scale and min of each 16-element group, as floats.
    static void group_scales(const uint8_t* p, const RowBlock& w, float* d_scale, float* dmin_min) {
        if constexpr (std::is_same_v<Format, Q2KFormat>) {
            for (int g = 0; g < 16; ++g) {
                d_scale[g] = w.d * static_cast<float>(p[g] & 15);
                dmin_min[g] = w.dmin * static_cast<float>(p[g] >> 4);
            }
        } else if constexpr (std::is_same_v<Format, Q6KFormat>) {
            // d * sc * (q - 32) = (d * sc) * q - 32 * (d * sc), all exact but the last step.
            const auto* scales = reinterpret_cast<const int8_t*>(p + offsetof(BlockQ6K, scales));
            for (int g = 0; g < 16; ++g) {
                d_scale[g] = w.d * static_cast<float>(scales[g]);
                dmin_min[g] = 32.0f * d_scale[g];
            }
        } else {
            const ScalesMins sm = unpack_scales_mins(p + 4);
            for (int g = 0; g < 16; ++g) {
                d_scale[g] = w.d * static_cast<float>((sm.scales >> (8 * (g / 2))) & 0xff);
                dmin_min[g] = w.dmin * static_cast<float>((sm.mins >> (8 * (g / 2))) & 0xff);
            }
        }
    }

    static void dequantize(const uint8_t* p, float* out) {
        const RowBlock w = Format::unpack(p);
        float d_scale[16], dmin_min[16];
        group_scales(p, w, d_scale, dmin_min);
        DSV4_UNROLL
        for (int c = 0; c < 8; ++c)
            store_affine32(w.q[c], {d_scale[2 * c], d_scale[2 * c + 1]},
                           {dmin_min[2 * c], dmin_min[2 * c + 1]}, out + 32 * c);
    }
};

}  // namespace

void dot_q_q2_k(const DotArgs& args) {
    detail::run_tiled<KQuantDot<Q2KFormat>>(args);
}
void dot_q_q4_k(const DotArgs& args) {
    detail::run_tiled<KQuantDot<Q4KFormat>>(args);
}
void dot_q_q5_k(const DotArgs& args) {
    detail::run_tiled<KQuantDot<Q5KFormat>>(args);
}
void dot_q_q6_k(const DotArgs& args) {
    detail::run_tiled<KQuantDot<Q6KFormat>>(args);
}

void dot_f32_q2_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<KQuantDequant<Q2KFormat>>>(args);
}
void dot_f32_q4_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<KQuantDequant<Q4KFormat>>>(args);
}
void dot_f32_q5_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<KQuantDequant<Q5KFormat>>>(args);
}
void dot_f32_q6_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<KQuantDequant<Q6KFormat>>>(args);
}

}  // namespace dsv4::quant::avx2
