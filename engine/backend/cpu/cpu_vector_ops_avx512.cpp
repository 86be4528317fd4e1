// AVX-512 versions of cpu_vector_ops.h: the same f32 operations per element as the scalar ones.
// Products and sums go through the explicit-rounding intrinsics: the compiler may fuse a plain
// vector multiply and add into an FMA (one rounding instead of two), which would break equality
// with the scalar loops.
// GCC 12 flags the undefined pass-through operands inside its own AVX-512 headers as
// uninitialised (GCC bug 105593); silenced for those headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "engine/backend/cpu/cpu_vector_ops.h"

namespace dsv4::backend::cpu::detail {
namespace {

// Heads summed together: every row chunk is loaded once for all of them, and their partial sums
// stay in registers across the rows.
constexpr int kHeadBlock = 8;
constexpr int64_t kLanes = 16;

constexpr int kRounding = _MM_FROUND_CUR_DIRECTION;

inline __m512 mul(__m512 a, __m512 b) {
    return _mm512_mul_round_ps(a, b, kRounding);
}
inline __m512 add(__m512 a, __m512 b) {
    return _mm512_add_round_ps(a, b, kRounding);
}

// Columns [i, i + 16) masked to the row width: the tail takes the same vector path.
template <int NH>
void sum_head_block_columns(const WeightedRowSums& a, int64_t h0, int64_t i, __mmask16 lanes) {
    __m512 acc[NH];
    for (int h = 0; h < NH; ++h) acc[h] = _mm512_setzero_ps();
    for (int64_t r = 0; r < a.n_rows; ++r) {
        const __m512 row = _mm512_maskz_loadu_ps(lanes, a.rows + r * a.dim + i);
        for (int h = 0; h < NH; ++h) {
            const __m512 w = _mm512_set1_ps(a.weights[(h0 + h) * a.n_rows + r]);
            acc[h] = add(acc[h], mul(w, row));
        }
    }
    for (int h = 0; h < NH; ++h)
        _mm512_mask_storeu_ps(a.out + (h0 + h) * a.out_stride + i, lanes,
                              mul(acc[h], _mm512_set1_ps(a.scale[h0 + h])));
}

template <int NH>
void sum_head_block(const WeightedRowSums& a, int64_t h0) {
    int64_t i = 0;
    for (; i + kLanes <= a.dim; i += kLanes) sum_head_block_columns<NH>(a, h0, i, 0xffff);
    if (i < a.dim)
        sum_head_block_columns<NH>(a, h0, i, static_cast<__mmask16>((1u << (a.dim - i)) - 1));
}

inline __mmask16 tail_mask(int64_t n_left) {
    return n_left >= kLanes ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n_left) - 1);
}

}  // namespace

void combine_rows_avx512(const CombineRows& a) {
    const __m512 first_coef = _mm512_set1_ps(a.first_coef);
    for (int64_t d = 0; d < a.n; d += kLanes) {
        const __mmask16 lanes = tail_mask(a.n - d);
        __m512 acc = a.first != nullptr ? mul(_mm512_maskz_loadu_ps(lanes, a.first + d), first_coef)
                                        : _mm512_setzero_ps();
        for (int64_t i = 0; i < a.n_rows; ++i) {
            const __m512 row = _mm512_maskz_loadu_ps(lanes, a.rows + i * a.row_stride + d);
            acc = add(acc, mul(_mm512_set1_ps(a.coef[i * a.coef_stride]), row));
        }
        _mm512_mask_storeu_ps(a.out + d, lanes, acc);
    }
}

void scale_row_avx512(const float* x, float s, const float* weight, int64_t n, float* out) {
    const __m512 scale = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += kLanes) {
        const __mmask16 lanes = tail_mask(n - i);
        __m512 v = mul(_mm512_maskz_loadu_ps(lanes, x + i), scale);
        if (weight != nullptr) v = mul(v, _mm512_maskz_loadu_ps(lanes, weight + i));
        _mm512_mask_storeu_ps(out + i, lanes, v);
    }
}

void weighted_row_sums_avx512(const WeightedRowSums& a) {
    int64_t h0 = 0;
    for (; h0 + kHeadBlock <= a.n_heads; h0 += kHeadBlock) sum_head_block<kHeadBlock>(a, h0);
    for (; h0 < a.n_heads; ++h0) sum_head_block<1>(a, h0);
}

}  // namespace dsv4::backend::cpu::detail
