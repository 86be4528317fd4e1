// AVX2 dot kernels of IQ2_XXS, one 32-element group per 256-bit vector: the four grid entries are
// loaded as qwords, the sign bytes expand to +-1 bytes that vpsignb applies to the activation,
// and vpmaddubsw / vpmaddwd take magnitudes, signed activations and the odd group scale.
#include "engine/quant/simd_avx2.h"

#include <array>

#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"
#include "engine/quant/iq2xxs_grid.h"

namespace dsv4::quant::avx2 {
namespace {

struct Group {
    __m256i magnitudes;
    __m256i signs;  // +1 or -1 per element
    __m256i scale;  // int16 2 * ls + 1
};

// The sign bytes expanded to 8 bytes of +1 / -1 each, indexed by the 7-bit sign index.
constexpr std::array<uint64_t, 128> kSignPatterns = [] {
    std::array<uint64_t, 128> patterns{};
    for (size_t k = 0; k < 128; ++k)
        for (int j = 0; j < 8; ++j)
            patterns[k] |= static_cast<uint64_t>((kIq2xxsSignBytes[k] >> j) & 1 ? 0xff : 0x01)
                           << (8 * j);
    return patterns;
}();

// Group g of the super-block at p (qs bytes 8g..8g+7: grid indices, then signs and scale).
DSV4_INLINE Group unpack_group(const uint8_t* p, int g) {
    const uint8_t* qs = p + offsetof(BlockIq2xxs, qs) + 8 * g;
    const uint32_t signs_and_scale = load_u32(qs + 4);
    Group group;
    group.magnitudes = _mm256_set_epi64x(
        static_cast<long long>(kIq2xxsGrid[qs[3]]), static_cast<long long>(kIq2xxsGrid[qs[2]]),
        static_cast<long long>(kIq2xxsGrid[qs[1]]), static_cast<long long>(kIq2xxsGrid[qs[0]]));
    group.signs =
        _mm256_set_epi64x(static_cast<long long>(kSignPatterns[(signs_and_scale >> 21) & 127]),
                          static_cast<long long>(kSignPatterns[(signs_and_scale >> 14) & 127]),
                          static_cast<long long>(kSignPatterns[(signs_and_scale >> 7) & 127]),
                          static_cast<long long>(kSignPatterns[signs_and_scale & 127]));
    group.scale = _mm256_set1_epi16(static_cast<int16_t>(2 * (signs_and_scale >> 28) + 1));
    return group;
}

struct Iq2xxsDot {
    static constexpr int kDecodeRows = 4;
    static constexpr int kBatchRows = 1;
    static constexpr int kBatchActs = 4;
    static constexpr int kBlockBytes = sizeof(BlockIq2xxs);

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        __m256 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            const uint8_t* y[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) y[a] = act[a] + sizeof(BlockQ8K) * b;
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                if constexpr (NA == 1) prefetch_share<kBlockBytes>(w[NR], NR, b, r);
                const uint8_t* p = w[r] + kBlockBytes * b;
                __m256i isum[NA][2];
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) isum[a][0] = isum[a][1] = _mm256_setzero_si256();
                for (int g = 0; g < 8; ++g) {
                    const Group group = unpack_group(p, g);
                    DSV4_UNROLL
                    for (int a = 0; a < NA; ++a) {
                        // Activation bytes are in [-127, 127], so the sign flip is exact.
                        const __m256i q8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                            y[a] + offsetof(BlockQ8K, qs) + 32 * g));
                        const __m256i products = _mm256_maddubs_epi16(
                            group.magnitudes, _mm256_sign_epi8(q8, group.signs));
                        isum[a][g % 2] = _mm256_add_epi32(isum[a][g % 2],
                                                          _mm256_madd_epi16(products, group.scale));
                    }
                }
                const float d = f16_at(p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a) {
                    const float scale = load_f32(y[a]) * d * 0.125f;
                    acc[r][a] = _mm256_fmadd_ps(
                        _mm256_set1_ps(scale),
                        _mm256_cvtepi32_ps(_mm256_add_epi32(isum[a][0], isum[a][1])), acc[r][a]);
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

struct Iq2xxsDequant {
    static constexpr int kBlockBytes = sizeof(BlockIq2xxs);
    static constexpr int kBlockElems = kQK_K;

    // y = (d * (0.5 + ls) * 0.25) * grid * sign: every product is exact; the sign multiplies
    // last so that a zero scale gives the reference's signed zeros.
    static void dequantize(const uint8_t* p, float* out) {
        const float d = f16_at(p);
        for (int g = 0; g < 8; ++g) {
            const Group group = unpack_group(p, g);
            const uint32_t ls = p[offsetof(BlockIq2xxs, qs) + 8 * g + 7] >> 4;
            const __m256 db = _mm256_set1_ps(d * (0.5f + static_cast<float>(ls)) * 0.25f);
            alignas(32) uint8_t magnitudes[32];
            alignas(32) int8_t signs[32];
            _mm256_store_si256(reinterpret_cast<__m256i*>(magnitudes), group.magnitudes);
            _mm256_store_si256(reinterpret_cast<__m256i*>(signs), group.signs);
            DSV4_UNROLL
            for (int i = 0; i < 4; ++i) {
                const __m256 m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(magnitudes + 8 * i))));
                const __m256 s = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(signs + 8 * i))));
                _mm256_store_ps(out + 32 * g + 8 * i, _mm256_mul_ps(_mm256_mul_ps(db, m), s));
            }
        }
    }
};

}  // namespace

void dot_q_iq2_xxs(const DotArgs& args) {
    detail::run_tiled<Iq2xxsDot>(args);
}
void dot_f32_iq2_xxs(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Iq2xxsDequant>>(args);
}

}  // namespace dsv4::quant::avx2
