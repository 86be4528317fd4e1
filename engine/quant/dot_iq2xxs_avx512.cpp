// AVX-512 dot kernels of IQ2_XXS. The grid magnitudes (8, 25, 43) come from gathers, the signs
// become bit masks (vpmultishiftqb, a vpermi2b lookup of the sign bytes, vpshufbitqmb) and are
// applied to the activation bytes, so vpmaddubsw sees unsigned magnitudes x signed activations.
#include "engine/quant/simd_avx512.h"

#include <array>

#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"
#include "engine/quant/iq2xxs_grid.h"

namespace dsv4::quant::avx512 {
namespace {

// A super-block's 64 quant bytes: 8 groups of 32 elements, one qword each (4 grid indices, then
// four 7-bit sign indices and the 4-bit group scale). Vector k covers groups 2k and 2k + 1.

template <typename T, size_t N, typename F>
constexpr std::array<T, N> make_table(F f) {
    std::array<T, N> t{};
    for (size_t i = 0; i < N; ++i) t[i] = f(static_cast<int>(i));
    return t;
}

// Byte 8i of vector k's index vector: grid index i of groups 2k, 2k + 1 (qword bytes 0..3).
constexpr auto kGridIndexBytes = make_table<std::array<uint8_t, 64>, 4>([](int k) {
    return make_table<uint8_t, 64>([k](int b) {
        const int i = b / 8;
        return static_cast<uint8_t>(16 * k + (i < 4 ? i : 4 + i));
    });
});
// vpmultishiftqb offsets of the four 7-bit sign indices in each qword (bits 32, 39, 46, 53).
constexpr auto kSignFieldBits =
    make_table<uint8_t, 64>([](int b) { return static_cast<uint8_t>(32 + 7 * (b % 4)); });
// Qword i of vector k's sign source: group 2k + i / 4.
constexpr auto kSignGroup = make_table<std::array<int64_t, 8>, 4>(
    [](int k) { return make_table<int64_t, 8>([k](int i) { return int64_t{2 * k + i / 4}; }); });
// vpshufbitqmb selectors: element j of sub-group i reads bit j of sign byte i % 4.
constexpr auto kSignBitSelect =
    make_table<uint8_t, 64>([](int b) { return static_cast<uint8_t>(8 * ((b / 8) % 4) + b % 8); });
// Word i of vector k: the scale word of group 2k + i / 16 (low word of that qword).
constexpr auto kScaleWord = make_table<std::array<int16_t, 32>, 4>([](int k) {
    return make_table<int16_t, 32>(
        [k](int i) { return static_cast<int16_t>(4 * (2 * k + i / 16)); });
});

template <typename T>
__m512i load_table(const T& table) {
    return _mm512_loadu_si512(table.data());
}

// The 64 magnitudes of vector k in element order.
DSV4_INLINE __m512i grid_magnitudes(__m512i qs, int k) {
    const __m512i index =
        _mm512_maskz_permutexvar_epi8(0x0101010101010101ull, load_table(kGridIndexBytes[k]), qs);
    return _mm512_i64gather_epi64(index, reinterpret_cast<const long long*>(kIq2xxsGrid), 8);
}

// Per qword: bytes 0..3 are the full sign bytes (bit j set: negate element j) of sub-groups 0..3.
DSV4_INLINE __m512i sign_bytes(__m512i qs) {
    const __m512i fields = _mm512_multishift_epi64_epi8(load_table(kSignFieldBits), qs);
    const __m512i lo = _mm512_loadu_si512(kIq2xxsSignBytes.data());
    const __m512i hi = _mm512_loadu_si512(kIq2xxsSignBytes.data() + 64);
    return _mm512_permutex2var_epi8(lo, fields, hi);  // uses bits 0..6 of each field
}

DSV4_INLINE __mmask64 sign_mask(__m512i signs, int k) {
    const __m512i source = _mm512_permutexvar_epi64(load_table(kSignGroup[k]), signs);
    return _mm512_bitshuffle_epi64_mask(source, load_table(kSignBitSelect));
}

struct RowBlock {
    __m512i magnitudes[4];
    __mmask64 negate[4];
    __m512i scale[4];  // int16 2 * ls + 1 of each element pair's group
    float d;
};

DSV4_INLINE RowBlock unpack(const uint8_t* p) {
    RowBlock w;
    const __m512i qs = _mm512_loadu_si512(p + offsetof(BlockIq2xxs, qs));
    const __m512i signs = sign_bytes(qs);
    // (qs >> 59) is 2 * ls plus one stray bit that the | 1 overwrites.
    const __m512i odd_scales = _mm512_or_si512(_mm512_srli_epi64(qs, 59), _mm512_set1_epi64(1));
    DSV4_UNROLL
    for (int k = 0; k < 4; ++k) {
        w.magnitudes[k] = grid_magnitudes(qs, k);
        w.negate[k] = sign_mask(signs, k);
        w.scale[k] = _mm512_permutexvar_epi16(load_table(kScaleWord[k]), odd_scales);
    }
    w.d = f16_at(p);
    return w;
}

struct ActBlock {
    __m512i q[4];
    __m512i negated[4];  // -q: activation bytes are in [-127, 127], so this is exact
    float d;
};

DSV4_INLINE ActBlock load_act(const uint8_t* y) {
    ActBlock a;
    DSV4_UNROLL
    for (int k = 0; k < 4; ++k) {
        a.q[k] = _mm512_loadu_si512(y + offsetof(BlockQ8K, qs) + 64 * k);
        a.negated[k] = _mm512_sub_epi8(_mm512_setzero_si512(), a.q[k]);
    }
    a.d = load_f32(y);
    return a;
}

// The reference sums (2 ls + 1) * (signed grid . q8) over groups and scales by d * y.d / 8.
DSV4_INLINE __m512 accumulate(const RowBlock& w, const ActBlock& y, __m512 acc) {
    __m512i isum[2];
    DSV4_UNROLL
    for (int k = 0; k < 4; ++k) {
        const __m512i signed_act = _mm512_mask_blend_epi8(w.negate[k], y.q[k], y.negated[k]);
        const __m512i products = _mm512_maddubs_epi16(w.magnitudes[k], signed_act);
        isum[k % 2] = k < 2 ? _mm512_madd_epi16(products, w.scale[k])
                            : _mm512_dpwssd_epi32(isum[k % 2], products, w.scale[k]);
    }
    const float scale = y.d * w.d * 0.125f;
    return _mm512_fmadd_ps(_mm512_set1_ps(scale),
                           _mm512_cvtepi32_ps(_mm512_add_epi32(isum[0], isum[1])), acc);
}

struct Iq2xxsDot {
    static constexpr int kDecodeRows = 8;
    static constexpr int kBatchRows = 2;
    static constexpr int kBatchActs = 8;
    static constexpr int kBlockBytes = sizeof(BlockIq2xxs);

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            if constexpr (NA == 1) prefetch_span<NR * kBlockBytes>(w[NR] + NR * kBlockBytes * b);
            ActBlock y[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) y[a] = load_act(act[a] + sizeof(BlockQ8K) * b);
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                const uint8_t* p = w[r] + kBlockBytes * b;
                const RowBlock wb = unpack(p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) acc[r][a] = accumulate(wb, y[a], acc[r][a]);
            }
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

struct Iq2xxsDequant {
    static constexpr int kBlockBytes = sizeof(BlockIq2xxs);
    static constexpr int kBlockElems = kQK_K;

    // y = (d * (0.5 + ls) * 0.25) * grid, negated by flipping the sign bit: every step is exact
    // and a zero keeps the sign the reference gives it.
    static void dequantize(const uint8_t* p, float* out) {
        const RowBlock w = unpack(p);
        const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
        DSV4_UNROLL
        for (int k = 0; k < 4; ++k) {
            alignas(64) uint8_t magnitudes[64];
            _mm512_store_si512(magnitudes, w.magnitudes[k]);
            DSV4_UNROLL
            for (int part = 0; part < 4; ++part) {
                const int group = 2 * k + part / 2;
                const uint32_t ls = p[offsetof(BlockIq2xxs, qs) + 8 * group + 7] >> 4;
                const float db = w.d * (0.5f + static_cast<float>(ls)) * 0.25f;
                const __m512 v = _mm512_mul_ps(
                    _mm512_set1_ps(db),
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                        _mm_load_si128(reinterpret_cast<const __m128i*>(magnitudes + 16 * part)))));
                const __mmask16 negate = static_cast<__mmask16>(w.negate[k] >> (16 * part));
                const __m512i bits = _mm512_castps_si512(v);
                _mm512_store_si512(out + 64 * k + 16 * part,
                                   _mm512_mask_xor_epi32(bits, negate, bits, sign_bit));
            }
        }
    }
};

}  // namespace

void dot_q_iq2_xxs(const DotArgs& args) {
    detail::run_tiled<Iq2xxsDot>(args);
}
void dot_q_iq2_xxs_no_gfni(const DotArgs& args) {
    detail::run_tiled<Iq2xxsDot>(args);
}
void dot_f32_iq2_xxs(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Iq2xxsDequant>>(args);
}

}  // namespace dsv4::quant::avx512
