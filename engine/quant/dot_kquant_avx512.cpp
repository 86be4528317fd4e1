// AVX-512 dot kernels of the K-quants (Q2_K, Q4_K, Q5_K, Q6_K) with Q8_K activations. The
// unsigned quants meet the activation bytes in vpmaddubsw, the sub-block scales enter through
// vpdpwssd, and the mins (or Q6_K's offset of 32) are applied with the activation block sums.
#include "engine/quant/simd_avx512.h"

#include <array>

#include "engine/quant/block_layouts.h"
#include "engine/quant/dot_tiling.h"

namespace dsv4::quant::avx512 {
namespace {

// Unpacked quants come out in one of two element orders; the activation bytes of a super-block
// are shuffled into the same order once and then serve every weight row.
//  Halves: vector j holds elements 32j..32j+31, then 128+32j..128+32j+31 (Q2_K, Q6_K).
//  Chunks: vectors hold elements [0,32)+[64,96), [32,64)+[96,128), [128,160)+[192,224),
//          [160,192)+[224,256) (Q4_K, Q5_K).
enum class Order { Halves, Chunks };

struct ActBlock {
    __m512i q[4];
    __m256i bsums;  // 16 int16 sums of 16 consecutive activation bytes, in element order
    __m128 d;       // the activation scale in every lane
    __m512 d_pair;  // (d, -d) in even and odd lanes: the factors of isum and of the mins
};

template <Order kOrder>
DSV4_INLINE ActBlock load_act(const uint8_t* y) {
    const uint8_t* q = y + offsetof(BlockQ8K, qs);
    const __m512i a0 = _mm512_loadu_si512(q);
    const __m512i a1 = _mm512_loadu_si512(q + 64);
    const __m512i a2 = _mm512_loadu_si512(q + 128);
    const __m512i a3 = _mm512_loadu_si512(q + 192);
    ActBlock block;
    // 0x44 takes the low 256 bits of both operands, 0xee the high ones.
    if constexpr (kOrder == Order::Halves) {
        block.q[0] = _mm512_shuffle_i64x2(a0, a2, 0x44);
        block.q[1] = _mm512_shuffle_i64x2(a0, a2, 0xee);
        block.q[2] = _mm512_shuffle_i64x2(a1, a3, 0x44);
        block.q[3] = _mm512_shuffle_i64x2(a1, a3, 0xee);
    } else {
        block.q[0] = _mm512_shuffle_i64x2(a0, a1, 0x44);
        block.q[1] = _mm512_shuffle_i64x2(a0, a1, 0xee);
        block.q[2] = _mm512_shuffle_i64x2(a2, a3, 0x44);
        block.q[3] = _mm512_shuffle_i64x2(a2, a3, 0xee);
    }
    block.bsums =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + offsetof(BlockQ8K, bsums)));
    block.d = _mm_set1_ps(load_f32(y));
    const __m512 d = _mm512_set1_ps(load_f32(y));
    block.d_pair = _mm512_mask_sub_ps(d, 0xaaaa, _mm512_setzero_ps(), d);
    return block;
}

// One super-block of a weight row, unpacked.
struct RowBlock {
    __m512i q[4];      // unsigned quants in the format's order
    __m512i scale[4];  // int16 sub-block scale for each pair of quants of q
    __m256i sums;      // int16 factor of each activation block sum (mins, or Q6_K scales)
    __m128 d_dmin;     // super-block scale and min scale in lanes 0 and 1
    __m512 d_dmin16;   // d and dmin in even and odd lanes (formats with mins, see accumulate_mins)
};

// Two adjacent f16 fields (d, dmin) repeated over 16 f32 lanes: a broadcast load and one
// conversion, no shuffle.
inline __m512 f16_pair16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_set1_epi32(static_cast<int>(load_u32(p))));
}

// Two adjacent f16 fields (d, dmin) as f32 lanes 0 and 1.
inline __m128 f16_pair(const uint8_t* p) {
    return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(p))));
}

// Byte indices for vpermb that put the scale of element pair i into the low byte of int16
// lane i (odd bytes are zeroed by the mask); sub_of_pair maps (vector, pair) to a sub-block.
template <typename SubOfPair>
constexpr std::array<uint8_t, 64> scale_index(int vector, SubOfPair sub_of_pair) {
    std::array<uint8_t, 64> index{};
    for (int pair = 0; pair < 32; ++pair)
        index[2 * pair] = static_cast<uint8_t>(sub_of_pair(vector, pair));
    return index;
}

// Halves order with 16-element sub-blocks (Q2_K, Q6_K).
constexpr int halves_sub16(int vector, int pair) {
    return (pair < 16 ? 0 : 8) + 2 * vector + (pair % 16) / 8;
}
// Chunks order with 32-element sub-blocks (Q4_K, Q5_K).
constexpr int chunks_sub32(int vector, int pair) {
    return (vector / 2) * 4 + vector % 2 + (pair < 16 ? 0 : 2);
}

template <int (*kSubOfPair)(int, int)>
struct ScaleIndex {
    static constexpr std::array<std::array<uint8_t, 64>, 4> kBytes = {
        scale_index(0, kSubOfPair), scale_index(1, kSubOfPair), scale_index(2, kSubOfPair),
        scale_index(3, kSubOfPair)};
    static __m512i bytes(int vector) { return _mm512_loadu_si512(kBytes[vector].data()); }
};

// int16 lanes of pair scales from the sub-block scale bytes in the low bytes of table.
template <int (*kSubOfPair)(int, int)>
DSV4_INLINE void spread_scales(__m512i table, __m512i (&scale)[4]) {
    DSV4_UNROLL
    for (int k = 0; k < 4; ++k)
        scale[k] = _mm512_maskz_permutexvar_epi8(0x5555555555555555ull,
                                                 ScaleIndex<kSubOfPair>::bytes(k), table);
}

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

// Q2_K's scale (4 bits) times quant (2 bits) fits a byte: a per-block 64-entry table holds
// k * scale[s] at 4s + k, so one vpermb yields the scaled quants and a single vpdpbusd per
// vector does the rest; that leaves the multiply port far less loaded than pmaddubsw+pdpwssd.
struct Q2KFormat {
    static constexpr int kBlockBytes = sizeof(BlockQ2K);
    static constexpr Order kOrder = Order::Halves;
    static constexpr bool kHasMins = true;
    static constexpr bool kScaledQuants = true;

    // Byte b of vector j belongs to sub-block halves_sub16(j, b / 2); its table row, << 2.
    static constexpr std::array<std::array<uint8_t, 64>, 4> kRowBits = [] {
        std::array<std::array<uint8_t, 64>, 4> bits{};
        for (int j = 0; j < 4; ++j)
            for (int b = 0; b < 64; ++b)
                bits[j][b] = static_cast<uint8_t>(halves_sub16(j, b / 2) << 2);
        return bits;
    }();
    // Spreads scale byte s over table bytes 4s..4s+3.
    static constexpr std::array<uint8_t, 64> kSpread = [] {
        std::array<uint8_t, 64> index{};
        for (int b = 0; b < 64; ++b) index[b] = static_cast<uint8_t>(b / 4);
        return index;
    }();

    // The 2-bit quants of q_shifted (bits 0-1 of each byte) times their sub-block scale.
    DSV4_INLINE static __m512i scaled(__m512i q_shifted, int j, __m512i table) {
        constexpr int kLowBitsOr = 0xec;  // (a & c) | b
        const __m512i row = _mm512_loadu_si512(kRowBits[j].data());
        const __m512i index =
            _mm512_ternarylogic_epi32(q_shifted, row, _mm512_set1_epi8(3), kLowBitsOr);
        return _mm512_permutexvar_epi8(index, table);
    }

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i low4 = _mm_set1_epi8(0x0f);
        const __m128i scales = _mm_and_si128(packed, low4);
        const __m512i spread = _mm512_loadu_si512(kSpread.data());
        // k = 1, 3 take the scale, k = 2, 3 twice the scale.
        const __m512i odd = _mm512_maskz_permutexvar_epi8(0xaaaaaaaaaaaaaaaaull, spread,
                                                          _mm512_zextsi128_si512(scales));
        const __m512i twice = _mm512_maskz_permutexvar_epi8(
            0xccccccccccccccccull, spread, _mm512_zextsi128_si512(_mm_add_epi8(scales, scales)));
        const __m512i table = _mm512_add_epi8(odd, twice);
        const __m512i qs = _mm512_loadu_si512(p + offsetof(BlockQ2K, qs));
        w.q[0] = scaled(qs, 0, table);
        w.q[1] = scaled(_mm512_srli_epi16(qs, 2), 1, table);
        w.q[2] = scaled(_mm512_srli_epi16(qs, 4), 2, table);
        w.q[3] = scaled(_mm512_srli_epi16(qs, 6), 3, table);
        w.sums = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
        w.d_dmin = f16_pair(p + offsetof(BlockQ2K, d));
        return w;
    }
};

// Q2_K with GFNI: one gf2p8affineqb turns the packed byte into a vpshufb index (the quant's two
// bits, plus the vector number as bits 2-3, a constant) and vpshufb reads the scaled quant from a
// table of 16 bytes per 128-bit lane. That lane always covers one sub-block per vector, so the 16
// entries of lane c are k * scale of sub-block (vector j, lane c) at 4j + k. Three vector
// instructions per 64 quants instead of four, and the table costs three (vpmullw multiplies the
// spread scales by 256 and 770 at once: bytes (0, s) and (2s, 3s), no carry since 3 * 15 < 256).
struct Q2KGfniFormat {
    // Byte 2w of lane c: the scale of the sub-block that table word w of the lane serves.
    static constexpr std::array<uint8_t, 64> kSpread = [] {
        std::array<uint8_t, 64> index{};
        for (int c = 0; c < 4; ++c)
            for (int w = 0; w < 8; ++w)
                index[16 * c + 2 * w] =
                    static_cast<uint8_t>(halves_sub16(w / 2, 16 * (c / 2) + 8 * (c % 2)));
        return index;
    }();

    // GF(2) matrix moving bits 2j, 2j + 1 of each byte to bits 0, 1 (row i of the matrix, which
    // gives output bit i, is byte 7 - i of the qword).
    static constexpr long long field_matrix(int j) {
        return static_cast<long long>((uint64_t{1} << (2 * j)) << 56 | (uint64_t{1} << (2 * j + 1))
                                                                           << 48);
    }

    template <int J>
    [[DSV4_GFNI, gnu::always_inline]] static __m512i scaled(__m512i qs, __m512i table) {
        const __m512i index =
            _mm512_gf2p8affine_epi64_epi8(qs, _mm512_set1_epi64(field_matrix(J)), 4 * J);
        return _mm512_shuffle_epi8(table, index);
    }
};

// The 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K super-block, in vector
// registers: the scalar unpack costs about twenty integer instructions per row and block, on the
// ports the vector work needs. Reads 16 bytes from s; the 4 past the scales are the block's quants.
DSV4_INLINE __m128i unpack_scales_mins_vector(const uint8_t* s) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    // Dwords: u0 (low scales), u2 (high scale nibbles), u1 (low mins), u2 (high min nibbles).
    const __m128i low =
        _mm_shuffle_epi8(raw, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    // Dwords: 0, u0, 0, u1: the top two bits of u0 / u1 complete the high scales / mins.
    const __m128i top = _mm_shuffle_epi8(
        raw, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i shifted = _mm_srlv_epi32(low, _mm_setr_epi32(0, 0, 0, 4));
    const __m128i masked =
        _mm_and_si128(shifted, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    constexpr int kOrAnd = 0xf8;  // a | (b & c)
    return _mm_ternarylogic_epi32(masked, _mm_srli_epi32(top, 2), _mm_set1_epi8(0x30), kOrAnd);
}

// Scales into the table for spread_scales, mins doubled up to one per 16-element bsum.
DSV4_INLINE void set_scales_mins(const uint8_t* s, RowBlock& w) {
    const __m128i sm = unpack_scales_mins_vector(s);
    spread_scales<chunks_sub32>(_mm512_castsi128_si512(sm), w.scale);
    w.sums = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
}

DSV4_INLINE void unpack_nibbles(const uint8_t* qs, RowBlock& w) {
    const __m512i z0 = _mm512_loadu_si512(qs);
    const __m512i z1 = _mm512_loadu_si512(qs + 64);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    w.q[0] = _mm512_and_si512(z0, low4);
    w.q[1] = _mm512_and_si512(_mm512_srli_epi16(z0, 4), low4);
    w.q[2] = _mm512_and_si512(z1, low4);
    w.q[3] = _mm512_and_si512(_mm512_srli_epi16(z1, 4), low4);
}

struct Q4KFormat {
    static constexpr int kDecodeRows = 4;
    static constexpr bool kFoldedClose = true;
    static constexpr bool kScaledQuants = false;
    static constexpr int kBlockBytes = sizeof(BlockQ4K);
    static constexpr Order kOrder = Order::Chunks;
    static constexpr bool kHasMins = true;

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        unpack_nibbles(p + offsetof(BlockQ4K, qs), w);
        set_scales_mins(p + offsetof(BlockQ4K, scales), w);
        w.d_dmin16 = f16_pair16(p + offsetof(BlockQ4K, d));
        return w;
    }
};

struct Q5KFormat {
    static constexpr bool kScaledQuants = false;
    static constexpr int kBlockBytes = sizeof(BlockQ5K);
    static constexpr Order kOrder = Order::Chunks;
    static constexpr bool kHasMins = true;

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        unpack_nibbles(p + offsetof(BlockQ5K, qs), w);
        // Vector k takes the fifth bit of its two 32-element halves from qh bits (b0, b1).
        const __m512i qh = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + offsetof(BlockQ5K, qh))));
        const __m512i sixteen = _mm512_set1_epi8(16);
        constexpr int kBits[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};
        DSV4_UNROLL
        for (int k = 0; k < 4; ++k) {
            const __m512i select =
                _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << kBits[k][0])),
                                   _mm256_set1_epi8(static_cast<char>(1 << kBits[k][1])), 1);
            const __mmask64 high = _mm512_test_epi8_mask(qh, select);
            w.q[k] = _mm512_mask_add_epi8(w.q[k], high, w.q[k], sixteen);
        }
        set_scales_mins(p + offsetof(BlockQ5K, scales), w);
        w.d_dmin = f16_pair(p + offsetof(BlockQ5K, d));
        return w;
    }
};

struct Q6KFormat {
    static constexpr bool kScaledQuants = false;
    static constexpr int kBlockBytes = sizeof(BlockQ6K);
    static constexpr Order kOrder = Order::Halves;
    static constexpr bool kHasMins = false;

    // Word indices for vpermw: the (signed) scale of each quant pair.
    static constexpr std::array<std::array<int16_t, 32>, 4> kWordIndex = [] {
        std::array<std::array<int16_t, 32>, 4> index{};
        for (int vector = 0; vector < 4; ++vector)
            for (int pair = 0; pair < 32; ++pair)
                index[vector][pair] = static_cast<int16_t>(halves_sub16(vector, pair));
        return index;
    }();
    static __m512i word_index(int vector) { return _mm512_loadu_si512(kWordIndex[vector].data()); }

    DSV4_INLINE static RowBlock unpack(const uint8_t* p) {
        RowBlock w;
        const __m512i ql0 = _mm512_loadu_si512(p + offsetof(BlockQ6K, ql));
        const __m512i ql1 = _mm512_loadu_si512(p + offsetof(BlockQ6K, ql) + 64);
        const __m512i qh = _mm512_loadu_si512(p + offsetof(BlockQ6K, qh));
        // Low 256 bits: the first 128 elements; high: the second.
        const __m512i low_quarters = _mm512_shuffle_i64x2(ql0, ql1, 0x44);
        const __m512i high_quarters = _mm512_shuffle_i64x2(ql0, ql1, 0xee);
        const __m512i low4 = _mm512_set1_epi8(0x0f);
        const __m512i bits45 = _mm512_set1_epi8(0x30);
        // (a & 0x0f) | b, where b holds only bits 4-5.
        constexpr int kLowNibbleOr = 0xec;
        const __m512i h0 = _mm512_and_si512(_mm512_slli_epi16(qh, 4), bits45);
        const __m512i h1 = _mm512_and_si512(_mm512_slli_epi16(qh, 2), bits45);
        const __m512i h2 = _mm512_and_si512(qh, bits45);
        const __m512i h3 = _mm512_and_si512(_mm512_srli_epi16(qh, 2), bits45);
        w.q[0] = _mm512_ternarylogic_epi32(low_quarters, h0, low4, kLowNibbleOr);
        w.q[1] = _mm512_ternarylogic_epi32(high_quarters, h1, low4, kLowNibbleOr);
        w.q[2] =
            _mm512_ternarylogic_epi32(_mm512_srli_epi16(low_quarters, 4), h2, low4, kLowNibbleOr);
        w.q[3] =
            _mm512_ternarylogic_epi32(_mm512_srli_epi16(high_quarters, 4), h3, low4, kLowNibbleOr);
        const __m256i scales = _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + offsetof(BlockQ6K, scales))));
        DSV4_UNROLL
        for (int k = 0; k < 4; ++k)
            w.scale[k] = _mm512_permutexvar_epi16(word_index(k), _mm512_zextsi256_si512(scales));
        w.sums = scales;
        // The block ends with d: read only its two bytes.
        w.d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128(load_u16(p + offsetof(BlockQ6K, d))));
        return w;
    }
};

template <class Format>
DSV4_INLINE __m512 accumulate(const RowBlock& w, const ActBlock& y, __m512 acc) {
    const __m256i weighted_sums = _mm256_madd_epi16(y.bsums, w.sums);
    // Q6_K stores q + 32: start from -32 * sum(scale * bsum).
    const __m512i init = Format::kHasMins
                             ? _mm512_setzero_si512()
                             : _mm512_zextsi256_si512(_mm256_sub_epi32(
                                   _mm256_setzero_si256(), _mm256_slli_epi32(weighted_sums, 5)));
    // Two chains of integer sums (exact, so the split does not change the result).
    __m512i isum0, isum1;
    if constexpr (Format::kScaledQuants) {
        isum0 = _mm512_dpbusd_epi32(init, w.q[0], y.q[0]);
        isum1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.q[2], y.q[2]);
        isum0 = _mm512_dpbusd_epi32(isum0, w.q[1], y.q[1]);
        isum1 = _mm512_dpbusd_epi32(isum1, w.q[3], y.q[3]);
    } else {
        isum0 = _mm512_dpwssd_epi32(init, _mm512_maddubs_epi16(w.q[0], y.q[0]), w.scale[0]);
        isum1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(w.q[2], y.q[2]),
                                    w.scale[2]);
        isum0 = _mm512_dpwssd_epi32(isum0, _mm512_maddubs_epi16(w.q[1], y.q[1]), w.scale[1]);
        isum1 = _mm512_dpwssd_epi32(isum1, _mm512_maddubs_epi16(w.q[3], y.q[3]), w.scale[3]);
    }
    const __m512i isum = _mm512_add_epi32(isum0, isum1);
    // Lane 0: activation scale * d, lane 1: activation scale * dmin.
    const __m512 scales = _mm512_zextps128_ps512(_mm_mul_ps(y.d, w.d_dmin));
    acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(_mm512_castps512_ps128(scales)),
                          _mm512_cvtepi32_ps(isum), acc);
    if constexpr (Format::kHasMins) {
        acc = _mm512_fnmadd_ps(_mm512_permutexvar_ps(_mm512_set1_epi32(1), scales),
                               _mm512_cvtepi32_ps(_mm512_zextsi256_si512(weighted_sums)), acc);
    }
    return acc;
}

// Formats with mins: the integer sums of a super-block fold to 8 lanes and interleave with the 8
// weighted min sums, so one conversion and one FMA against (d * y.d, -dmin * y.d) close the block.
template <class Format>
DSV4_INLINE __m512 accumulate_mins(const RowBlock& w, const ActBlock& y, __m512 acc) {
    static_assert(Format::kHasMins);
    const __m256i weighted_sums = _mm256_madd_epi16(y.bsums, w.sums);
    __m512i isum;
    if constexpr (Format::kScaledQuants) {
        isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.q[0], y.q[0]);
        isum = _mm512_dpbusd_epi32(isum, w.q[1], y.q[1]);
        isum = _mm512_dpbusd_epi32(isum, w.q[2], y.q[2]);
        isum = _mm512_dpbusd_epi32(isum, w.q[3], y.q[3]);
    } else {
        isum = _mm512_madd_epi16(_mm512_maddubs_epi16(w.q[0], y.q[0]), w.scale[0]);
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(w.q[1], y.q[1]), w.scale[1]);
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(w.q[2], y.q[2]), w.scale[2]);
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(w.q[3], y.q[3]), w.scale[3]);
    }
    const __m256i folded =
        _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
    const __m512i interleave =
        _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i sums = _mm512_permutex2var_epi32(_mm512_castsi256_si512(folded), interleave,
                                                   _mm512_castsi256_si512(weighted_sums));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(w.d_dmin16, y.d_pair), acc);
}

template <class Format>
DSV4_INLINE __m512 accumulate_any(const RowBlock& w, const ActBlock& y, __m512 acc) {
    if constexpr (requires { Format::kFoldedClose; })
        return accumulate_mins<Format>(w, y, acc);
    else
        return accumulate<Format>(w, y, acc);
}

// Rows per decode tile: 8 unless the format says otherwise. Fewer rows means fewer concurrent
// weight streams; Q4_K, whose blocks are the largest here, streams faster from DRAM with 4.
template <class Format>
constexpr int decode_rows() {
    if constexpr (requires { Format::kDecodeRows; })
        return Format::kDecodeRows;
    else
        return 8;
}

template <class Format>
struct KQuantDot {
    static constexpr int kDecodeRows = decode_rows<Format>();
    static constexpr int kBatchRows = 8;
    static constexpr int kBatchActs = 8;

    template <int NR, int NA>
    static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out) {
        __m512 acc[NR][NA];
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[r][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            ActBlock y[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a)
                y[a] = load_act<Format::kOrder>(act[a] + sizeof(BlockQ8K) * b);
            DSV4_UNROLL
            for (int r = 0; r < NR; ++r) {
                if constexpr (NA == 1) prefetch_share<Format::kBlockBytes>(w[NR], NR, b, r);
                const uint8_t* p = w[r] + Format::kBlockBytes * b;
                const RowBlock wb = Format::unpack(p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a)
                    acc[r][a] = accumulate_any<Format>(wb, y[a], acc[r][a]);
            }
        }
        DSV4_UNROLL
        for (int r = 0; r < NR; ++r) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) out[r * NA + a] = reduce(acc[r][a]);
        }
    }
};

// Q2_K with GFNI, two rows per pass: the quants of each row as Q2KGfniFormat unpacks them, but
// the close of a block serves both rows at once. Lanes 0-7 of the pair's accumulator belong to
// row A, 8-15 to row B, and both halves see the same operations: the integer sums fold to 8 lanes
// per row in one step, the min sums of both rows come from one vpmaddwd, and d, dmin of both
// rows from one conversion.
struct Q2KGfniPairDot {
    static constexpr int kDecodeRows = 8;
    static constexpr int kBatchRows = 8;
    static constexpr int kBatchActs = 8;
    static constexpr int kBlockBytes = sizeof(BlockQ2K);

    struct Act {
        ActBlock y;
        __m512i bsums2;  // the 16 bsums, once per row of the pair
    };

    [[DSV4_GFNI, gnu::always_inline]] static __m512i quant_sums(const uint8_t* p,
                                                                const ActBlock& y) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i scales = _mm_and_si128(packed, _mm_set1_epi8(0x0f));
        const __m512i spread = _mm512_maskz_permutexvar_epi8(
            0x5555555555555555ull, _mm512_loadu_si512(Q2KGfniFormat::kSpread.data()),
            _mm512_castsi128_si512(scales));  // indices stay below 16
        const __m512i table = _mm512_mullo_epi16(spread, _mm512_set1_epi32((770 << 16) | 256));
        const __m512i qs = _mm512_loadu_si512(p + offsetof(BlockQ2K, qs));
        __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                           Q2KGfniFormat::scaled<0>(qs, table), y.q[0]);
        isum = _mm512_dpbusd_epi32(isum, Q2KGfniFormat::scaled<1>(qs, table), y.q[1]);
        isum = _mm512_dpbusd_epi32(isum, Q2KGfniFormat::scaled<2>(qs, table), y.q[2]);
        return _mm512_dpbusd_epi32(isum, Q2KGfniFormat::scaled<3>(qs, table), y.q[3]);
    }

    [[DSV4_GFNI, gnu::always_inline]] static __m512 accumulate(const uint8_t* pa, const uint8_t* pb,
                                                               const Act& a, __m512 acc) {
        const __m512i isum_a = quant_sums(pa, a.y);
        const __m512i isum_b = quant_sums(pb, a.y);
        // 0x44 takes the low 256 bits of both operands, 0xee the high ones.
        const __m512i sums = _mm512_add_epi32(_mm512_shuffle_i64x2(isum_a, isum_b, 0x44),
                                              _mm512_shuffle_i64x2(isum_a, isum_b, 0xee));
        const __m256i packed = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)), 1);
        const __m512i mins = _mm512_srli_epi16(_mm512_cvtepu8_epi16(packed), 4);
        const __m512i min_sums = _mm512_madd_epi16(a.bsums2, mins);
        // (d, dmin) of A four times, then of B, times (y.d, -y.d).
        const __m256i halves = _mm256_inserti128_si256(
            _mm256_castsi128_si256(
                _mm_set1_epi32(static_cast<int>(load_u32(pa + offsetof(BlockQ2K, d))))),
            _mm_set1_epi32(static_cast<int>(load_u32(pb + offsetof(BlockQ2K, d)))), 1);
        const __m512 factors = _mm512_mul_ps(_mm512_cvtph_ps(halves), a.y.d_pair);
        const __m512 d = _mm512_permute_ps(factors, 0x88);         // lanes 0, 2, 0, 2
        const __m512 neg_dmin = _mm512_permute_ps(factors, 0xdd);  // lanes 1, 3, 1, 3
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), d, acc);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(min_sums), neg_dmin, acc);
    }

    // The 8 lanes of one row in a fixed order.
    static float reduce_half(__m256 v) {
        const __m128 four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
        return _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)));
    }

    template <int NR, int NA>
    [[DSV4_GFNI]] static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n,
                                   float* out) {
        static_assert(NR % 2 == 0);
        constexpr int kPairs = NR / 2;
        __m512 acc[kPairs][NA];
        DSV4_UNROLL
        for (int p = 0; p < kPairs; ++p) {
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) acc[p][a] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            Act y[NA];
            DSV4_UNROLL
            for (int a = 0; a < NA; ++a) {
                y[a].y = load_act<Order::Halves>(act[a] + sizeof(BlockQ8K) * b);
                y[a].bsums2 = _mm512_broadcast_i64x4(y[a].y.bsums);
            }
            DSV4_UNROLL
            for (int p = 0; p < kPairs; ++p) {
                if constexpr (NA == 1) prefetch_share<2 * kBlockBytes>(w[NR], NR / 2, b, p);
                DSV4_UNROLL
                for (int a = 0; a < NA; ++a)
                    acc[p][a] = accumulate(w[2 * p] + kBlockBytes * b,
                                           w[2 * p + 1] + kBlockBytes * b, y[a], acc[p][a]);
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

// ---- Exact dequantization for the f32-activation kernels -----------------------------------

// out[0..16) = (d * scale) * q - dmin * min for 16 quant bytes; every product is exact, the
// subtraction rounds once, as in the reference dequantization.
DSV4_INLINE void store_affine16(__m128i q, float d_scale, float dmin_min, float* out) {
    const __m512 qf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
    _mm512_store_ps(out, _mm512_fmsub_ps(_mm512_set1_ps(d_scale), qf, _mm512_set1_ps(dmin_min)));
}

struct Q2KDequant {
    static constexpr int kBlockBytes = sizeof(BlockQ2K);
    static constexpr int kBlockElems = kQK_K;
    static void dequantize(const uint8_t* p, float* out) {
        const __m128 d_dmin = f16_pair(p + offsetof(BlockQ2K, d));
        const float d = _mm_cvtss_f32(d_dmin), dmin = _mm_cvtss_f32(_mm_movehdup_ps(d_dmin));
        const __m512i qs = _mm512_loadu_si512(p + offsetof(BlockQ2K, qs));
        // Vector j holds sub-blocks 2j, 2j+1 (first half) and 8+2j, 9+2j (second half).
        DSV4_UNROLL
        for (int j = 0; j < 4; ++j) {
            alignas(64) uint8_t q[64];
            _mm512_store_si512(q, _mm512_and_si512(_mm512_srl_epi16(qs, _mm_cvtsi32_si128(2 * j)),
                                                   _mm512_set1_epi8(3)));
            DSV4_UNROLL
            for (int part = 0; part < 4; ++part) {
                const int sub = (part < 2 ? 0 : 8) + 2 * j + part % 2;
                const uint8_t packed = p[sub];
                store_affine16(_mm_load_si128(reinterpret_cast<const __m128i*>(q + 16 * part)),
                               d * static_cast<float>(packed & 15),
                               dmin * static_cast<float>(packed >> 4), out + 16 * sub);
            }
        }
    }
};

template <class Format, int kScalesOffset>
struct Q45KDequant {
    static constexpr int kBlockBytes = Format::kBlockBytes;
    static constexpr int kBlockElems = kQK_K;
    static void dequantize(const uint8_t* p, float* out) {
        const RowBlock w = Format::unpack(p);
        // Both formats start with d, dmin.
        const __m128 d_dmin = f16_pair(p);
        const float d = _mm_cvtss_f32(d_dmin), dmin = _mm_cvtss_f32(_mm_movehdup_ps(d_dmin));
        const ScalesMins sm = unpack_scales_mins(p + kScalesOffset);
        // Vector k holds sub-blocks (k / 2) * 4 + k % 2 and that + 2.
        DSV4_UNROLL
        for (int k = 0; k < 4; ++k) {
            alignas(64) uint8_t q[64];
            _mm512_store_si512(q, w.q[k]);
            DSV4_UNROLL
            for (int part = 0; part < 4; ++part) {
                const int sub = (k / 2) * 4 + k % 2 + (part < 2 ? 0 : 2);
                const float d_scale = d * static_cast<float>((sm.scales >> (8 * sub)) & 0xff);
                const float dmin_min = dmin * static_cast<float>((sm.mins >> (8 * sub)) & 0xff);
                store_affine16(_mm_load_si128(reinterpret_cast<const __m128i*>(q + 16 * part)),
                               d_scale, dmin_min, out + 32 * sub + 16 * (part % 2));
            }
        }
    }
};

struct Q6KDequant {
    static constexpr int kBlockBytes = sizeof(BlockQ6K);
    static constexpr int kBlockElems = kQK_K;
    static void dequantize(const uint8_t* p, float* out) {
        const RowBlock w = Q6KFormat::unpack(p);
        const float d = _mm_cvtss_f32(w.d_dmin);
        const auto* scales = reinterpret_cast<const int8_t*>(p + offsetof(BlockQ6K, scales));
        const __m512i offset = _mm512_set1_epi32(32);
        DSV4_UNROLL
        for (int j = 0; j < 4; ++j) {
            alignas(64) uint8_t q[64];
            _mm512_store_si512(q, w.q[j]);
            DSV4_UNROLL
            for (int part = 0; part < 4; ++part) {
                const int sub = (part < 2 ? 0 : 8) + 2 * j + part % 2;
                const __m512i qi = _mm512_sub_epi32(
                    _mm512_cvtepu8_epi32(
                        _mm_load_si128(reinterpret_cast<const __m128i*>(q + 16 * part))),
                    offset);
                const __m512 d_scale = _mm512_set1_ps(d * static_cast<float>(scales[sub]));
                _mm512_store_ps(out + 16 * sub, _mm512_mul_ps(d_scale, _mm512_cvtepi32_ps(qi)));
            }
        }
    }
};

}  // namespace

void dot_q_q2_k(const DotArgs& args) {
    if (has_gfni()) return detail::run_tiled<Q2KGfniPairDot>(args);
    detail::run_tiled<KQuantDot<Q2KFormat>>(args);
}
void dot_q_q2_k_no_gfni(const DotArgs& args) {
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
    detail::run_tiled<DequantizingDot<Q2KDequant>>(args);
}
void dot_f32_q4_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Q45KDequant<Q4KFormat, offsetof(BlockQ4K, scales)>>>(args);
}
void dot_f32_q5_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Q45KDequant<Q5KFormat, offsetof(BlockQ5K, scales)>>>(args);
}
void dot_f32_q6_k(const DotArgs& args) {
    detail::run_tiled<DequantizingDot<Q6KDequant>>(args);
}

}  // namespace dsv4::quant::avx512
