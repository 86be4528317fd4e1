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

// ---- GFNI kernel: two rows per pass, element-major lanes ----------------------------------------
//
// Without gathers. Byte lane e (0..63) stands for sub-group e % 32 (8 elements, one grid index)
// of row A (e < 32) or row B; vector j holds element j of every sub-group. So:
//  - two vpermi2b lookups per table turn the 64 grid indices into packed 2-bit codes (elements
//    0-3 in one table, 4-7 in the other; 0, 1, 2 stand for 8, 25, 43);
//  - one gf2p8affineqb per element picks its two bits and maps them onto the magnitude (the map
//    k -> {8, 25, 43} is affine over GF(2): 8 ^ 0x11 * k0 ^ 0x23 * k1);
//  - the 7-bit sign indices come out of vpmultishiftqb one per lane, and another affine map adds
//    the parity bit, so sign byte bit j is element j's sign (vptestmb) and negates the
//    activation byte (masked vpsubb) before vpdpbusd;
//  - vpdpbusd adds four adjacent lanes: exactly the four sub-groups of a 32-element group, so
//    dword lane t of the accumulator is group t % 8's sum over the 8 element vectors, and the
//    group scale 2 ls + 1 enters lane-wise in f32 (products < 2^23, exact) with d * y.d.
// The activation block is transposed into the same lanes once per tile and block.

template <typename Table>
constexpr Table pack_codes(int first) {
    Table t{};
    for (int g = 0; g < 256; ++g) {
        uint8_t code = 0;
        for (int j = 0; j < 4; ++j) {
            const uint8_t v =
                iq2xxs_grid_value(static_cast<uint32_t>(g), static_cast<uint32_t>(first + j));
            const int k = v == 8 ? 0 : v == 25 ? 1 : 2;
            code = static_cast<uint8_t>(code | k << (2 * j));
        }
        t[g] = code;
    }
    return t;
}
constexpr auto kLowCodes = pack_codes<std::array<uint8_t, 256>>(0);
constexpr auto kHighCodes = pack_codes<std::array<uint8_t, 256>>(4);
static_assert(kLowCodes[0] == 0 && kHighCodes[0] == 0);

// vpermt2d indices of one word per group: dword lane i takes word `word` (0: the grid indices,
// 1: signs and scale) of group i % 8 of row A (i < 8) or row B.
constexpr std::array<int32_t, 16> group_words(int word) {
    return make_table<int32_t, 16>(
        [word](int i) { return static_cast<int32_t>((i < 8 ? 0 : 16) + 2 * (i % 8) + word); });
}
// Byte lane e: the grid index of sub-group s = e % 32 (byte s % 4 of group s / 4's index word)
// of row A (e < 32) or row B. A dword permute gathers them: one uop, a byte permute two.
constexpr auto kIndexWords = group_words(0);
constexpr auto kScaleWords = group_words(1);
// Qword q of the sign/scale words holds groups 2q, 2q + 1: their four 7-bit fields each.
constexpr auto kSignFields = make_table<uint8_t, 64>([](int b) {
    constexpr uint8_t kBits[8] = {0, 7, 14, 21, 32, 39, 46, 53};
    return kBits[b % 8];
});
// vpermb that makes element-major rows of 8 sub-groups: byte 8j + r <- byte 8r + j.
constexpr auto kTranspose8 =
    make_table<uint8_t, 64>([](int b) { return static_cast<uint8_t>(8 * (b % 8) + b / 8); });

// GF(2) matrices (output bit i is the parity of x & byte 7 - i).
constexpr long long gf2_matrix(const std::array<uint8_t, 8>& rows) {
    uint64_t m = 0;
    for (int i = 0; i < 8; ++i) m |= static_cast<uint64_t>(rows[i]) << (8 * (7 - i));
    return static_cast<long long>(m);
}
// Magnitude of the code in bits 2f, 2f + 1 (the constant 8 is the affine term), per qword.
constexpr auto kMagnitudeMatrices = make_table<std::array<long long, 8>, 4>([](int f) {
    std::array<uint8_t, 8> rows{};
    for (int i = 0; i < 8; ++i)
        rows[i] =
            static_cast<uint8_t>(((0x11 >> i) & 1) << (2 * f) | ((0x23 >> i) & 1) << (2 * f + 1));
    std::array<long long, 8> qwords{};
    qwords.fill(gf2_matrix(rows));
    return qwords;
});
// Bits 0-6 kept, bit 7 = their parity: the full sign byte of a 7-bit index.
constexpr auto kSignParity = make_table<long long, 8>([](int) {
    return gf2_matrix({1, 2, 4, 8, 16, 32, 64, 0x7f});
});
// Bit j of every byte.
constexpr auto kBitJ = make_table<std::array<uint8_t, 64>, 8>([](int j) {
    return make_table<uint8_t, 64>([j](int) { return static_cast<uint8_t>(1 << j); });
});

// One block of a row pair, unpacked.
struct PairBlock {
    __m512i magnitude[8];  // element j of every sub-group
    __m512i signs;         // sign byte of every sub-group
    __m512 scale;          // (2 ls + 1) * d of every group (lanes 0-7 row A, 8-15 row B)
};

[[DSV4_GFNI, gnu::always_inline]] inline PairBlock unpack_pair(const uint8_t* pa, const uint8_t* pb,
                                                               const __m512i (&codes)[8]) {
    PairBlock w;
    const __m512i qa = _mm512_loadu_si512(pa + offsetof(BlockIq2xxs, qs));
    const __m512i qb = _mm512_loadu_si512(pb + offsetof(BlockIq2xxs, qs));
    const __m512i index = _mm512_permutex2var_epi32(qa, load_table(kIndexWords), qb);
    // Codes 128..255 first, merged into the index itself (the lanes below 128 keep their
    // index), then 0..127 into the rest: no blend.
    const __mmask64 upper = _mm512_movepi8_mask(index);
    const __m512i low = _mm512_mask2_permutex2var_epi8(
        codes[0], _mm512_mask2_permutex2var_epi8(codes[2], index, upper, codes[3]),
        static_cast<__mmask64>(~upper), codes[1]);
    const __m512i high = _mm512_mask2_permutex2var_epi8(
        codes[4], _mm512_mask2_permutex2var_epi8(codes[6], index, upper, codes[7]),
        static_cast<__mmask64>(~upper), codes[5]);
    DSV4_UNROLL
    for (int f = 0; f < 4; ++f) {
        const __m512i matrix = load_table(kMagnitudeMatrices[f]);
        w.magnitude[f] = _mm512_gf2p8affine_epi64_epi8(low, matrix, 8);
        w.magnitude[4 + f] = _mm512_gf2p8affine_epi64_epi8(high, matrix, 8);
    }
    const __m512i words = _mm512_permutex2var_epi32(qa, load_table(kScaleWords), qb);
    const __m512i fields = _mm512_multishift_epi64_epi8(load_table(kSignFields), words);
    w.signs = _mm512_gf2p8affine_epi64_epi8(fields, load_table(kSignParity), 0);
    // (words >> 27) is 2 ls plus one stray bit that the | 1 overwrites.
    const __m512i odd = _mm512_or_si512(_mm512_srli_epi32(words, 27), _mm512_set1_epi32(1));
    const uint32_t d_bits =
        static_cast<uint32_t>(load_u16(pa)) | static_cast<uint32_t>(load_u16(pb)) << 16;
    const __m512 d = _mm512_permutexvar_ps(
        _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_bits)))));
    w.scale = _mm512_mul_ps(_mm512_cvtepi32_ps(odd), d);
    return w;
}

// Element-major activation bytes of one block, the 32 sub-groups twice (rows A and B).
struct ActColumns {
    __m512i q[8];
    float d;
};

DSV4_INLINE ActColumns load_act_columns(const uint8_t* y) {
    ActColumns a;
    const __m512i transpose = load_table(kTranspose8);
    __m512i z[4];
    DSV4_UNROLL
    for (int k = 0; k < 4; ++k)
        z[k] = _mm512_permutexvar_epi8(transpose,
                                       _mm512_loadu_si512(y + offsetof(BlockQ8K, qs) + 64 * k));
    // Qword j of z[k]: element j of sub-groups 8k..8k+7.
    const __m512i lo_even = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const __m512i hi_even = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    const __m512i w01[2] = {_mm512_permutex2var_epi64(z[0], lo_even, z[1]),
                            _mm512_permutex2var_epi64(z[0], hi_even, z[1])};
    const __m512i w23[2] = {_mm512_permutex2var_epi64(z[2], lo_even, z[3]),
                            _mm512_permutex2var_epi64(z[2], hi_even, z[3])};
    DSV4_UNROLL
    for (int j = 0; j < 8; ++j) {
        const int p = 2 * (j % 4);
        const __m512i pick = _mm512_set_epi64(9 + p, 8 + p, 1 + p, p, 9 + p, 8 + p, 1 + p, p);
        a.q[j] = _mm512_permutex2var_epi64(w01[j / 4], pick, w23[j / 4]);
    }
    a.d = load_f32(y);
    return a;
}

DSV4_INLINE __m512 accumulate_pair(const PairBlock& w, const ActColumns& y, __m512 acc) {
    // Two chains of integer sums (exact, so the split does not change the result).
    __m512i isum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    DSV4_UNROLL
    for (int j = 0; j < 8; ++j) {
        const __mmask64 negate = _mm512_test_epi8_mask(w.signs, load_table(kBitJ[j]));
        const __m512i signed_act =
            _mm512_mask_sub_epi8(y.q[j], negate, _mm512_setzero_si512(), y.q[j]);
        isum[j % 2] = _mm512_dpbusd_epi32(isum[j % 2], w.magnitude[j], signed_act);
    }
    const __m512i total = _mm512_add_epi32(isum[0], isum[1]);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(w.scale, _mm512_set1_ps(y.d)),
                           acc);
}

// ---- Batches: the signs go onto the weights once, not onto every activation ------------------
//
// A decoded block serves every activation of the tile, so the per-activation work should be the
// dot products alone. The weight bytes become signed (magnitude, negated where the sign says),
// and vpdpbusd, which wants one unsigned operand, gets the activation plus 128 (its bytes lie in
// [-127, 127], so y ^ 0x80 is that sum as an unsigned byte). Then
//     sum (y + 128) w = sum y w + 128 sum w,
// and 128 sum w of each group comes from the weights alone, once per block: the integer sums are
// exactly the decode kernel's, so both paths give bit-identical results.

struct SignedPairBlock {
    __m512i weight[8];  // element j of every sub-group, signed
    __m512i offset;     // 128 * (sum of the group's signed weights), per group lane
    __m512 scale;
};

[[DSV4_GFNI, gnu::always_inline]] inline SignedPairBlock signed_pair(const uint8_t* pa,
                                                                     const uint8_t* pb,
                                                                     const __m512i (&codes)[8]) {
    const PairBlock w = unpack_pair(pa, pb, codes);
    SignedPairBlock s;
    s.offset = _mm512_setzero_si512();
    const __m512i u128 = _mm512_set1_epi8(static_cast<char>(0x80));
    DSV4_UNROLL
    for (int j = 0; j < 8; ++j) {
        const __mmask64 negate = _mm512_test_epi8_mask(w.signs, load_table(kBitJ[j]));
        s.weight[j] =
            _mm512_mask_sub_epi8(w.magnitude[j], negate, _mm512_setzero_si512(), w.magnitude[j]);
        s.offset = _mm512_dpbusd_epi32(s.offset, u128, s.weight[j]);
    }
    s.scale = w.scale;
    return s;
}

// A block's activation columns plus 128 as unsigned bytes, kept in memory: vpdpbusd reloads
// them, which costs a load port rather than a vector register per column.
struct OffsetColumns {
    alignas(64) uint8_t q[8][64];
    float d;
};

DSV4_INLINE void load_offset_columns(const uint8_t* y, OffsetColumns& out) {
    const ActColumns a = load_act_columns(y);
    DSV4_UNROLL
    for (int j = 0; j < 8; ++j)
        _mm512_store_si512(out.q[j],
                           _mm512_xor_si512(a.q[j], _mm512_set1_epi8(static_cast<char>(0x80))));
    out.d = a.d;
}

DSV4_INLINE __m512 accumulate_signed(const SignedPairBlock& w, const OffsetColumns& y, __m512 acc) {
    __m512i isum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    DSV4_UNROLL
    for (int j = 0; j < 8; ++j)
        isum[j % 2] = _mm512_dpbusd_epi32(isum[j % 2], _mm512_load_si512(y.q[j]), w.weight[j]);
    const __m512i total = _mm512_sub_epi32(_mm512_add_epi32(isum[0], isum[1]), w.offset);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(w.scale, _mm512_set1_ps(y.d)),
                           acc);
}

// The 8 group lanes of one row in a fixed order, then the reference's common factor 1/8.
inline float reduce_half(__m256 v) {
    const __m128 four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    return 0.125f * _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)));
}

struct Iq2xxsPairDot {
    static constexpr int kDecodeRows = 16;
    static constexpr int kBatchRows = 16;
    static constexpr int kBatchActs = 12;
    static constexpr int kBlockBytes = sizeof(BlockIq2xxs);

    template <int NR, int NA>
    [[DSV4_GFNI]] static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n,
                                   float* out) {
        static_assert(NR % 2 == 0);
        constexpr int kPairs = NR / 2;
        __m512i codes[8];
        DSV4_UNROLL
        for (int k = 0; k < 4; ++k) {
            codes[k] = _mm512_loadu_si512(kLowCodes.data() + 64 * k);
            codes[4 + k] = _mm512_loadu_si512(kHighCodes.data() + 64 * k);
        }
        __m512 acc[kPairs][NA];
        DSV4_UNROLL
        for (int p = 0; p < kPairs; ++p) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[p][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            if constexpr (NA == 1) {
                const ActColumns y = load_act_columns(act[0] + sizeof(BlockQ8K) * b);
                DSV4_UNROLL
                for (int p = 0; p < kPairs; ++p) {
                    prefetch_share<2 * kBlockBytes>(w[NR], kPairs, b, p);
                    const PairBlock wb = unpack_pair(w[2 * p] + kBlockBytes * b,
                                                     w[2 * p + 1] + kBlockBytes * b, codes);
                    acc[p][0] = accumulate_pair(wb, y, acc[p][0]);
                }
            } else {
                OffsetColumns y[NA];
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a)
                    load_offset_columns(act[a] + sizeof(BlockQ8K) * b, y[a]);
                DSV4_UNROLL
                for (int p = 0; p < kPairs; ++p) {
                    const SignedPairBlock wb = signed_pair(w[2 * p] + kBlockBytes * b,
                                                           w[2 * p + 1] + kBlockBytes * b, codes);
                    DSV4_UNROLL
                    for (int a = 0; a < NA; ++a) acc[p][a] = accumulate_signed(wb, y[a], acc[p][a]);
                }
            }
        }
        DSV4_UNROLL
        for (int p = 0; p < kPairs; ++p) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) {
                out[2 * p * NA + a] = reduce_half(_mm512_castps512_ps256(acc[p][a]));
                out[(2 * p + 1) * NA + a] = reduce_half(_mm512_extractf32x8_ps(acc[p][a], 1));
            }
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
    if (has_gfni()) return detail::run_tiled<Iq2xxsPairDot>(args);
    detail::run_tiled<Iq2xxsDot>(args);
}
void dot_q_iq2_xxs_no_gfni(const DotArgs& args) {
    detail::run_tiled<Iq2xxsDot>(args);
}
void dot_f32_iq2_xxs(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Iq2xxsDequant>>(args);
}

}  // namespace dsv4::quant::avx512
