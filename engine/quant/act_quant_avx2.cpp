// AVX2 activation quantizers, byte for byte the scalar ones of act_quant.cpp: the same f32
// operations per element, rounding half to even by the instruction's immediate (never the
// MXCSR), the same saturation and NaN handling.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/quant/block_layouts.h"
#include "engine/quant/kernel_sets.h"

namespace dsv4::quant::detail {
namespace {

// round_to_int8 of act_quant.cpp for 8 values, as int32: NaN becomes 0, and clamping to
// [-128, 127] before rounding gives what rounding and then saturating gives.
inline __m256i round_to_int(__m256 v) {
    const __m256 ordered = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    const __m256 clamped =
        _mm256_min_ps(_mm256_max_ps(ordered, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvttps_epi32(
        _mm256_round_ps(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// 32 int32 in [-128, 127] to bytes, in order.
inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline __m256 abs_ps(__m256 x) {
    return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

inline float max_lanes(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

inline int32_t sum_lanes(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

}  // namespace

void quantize_act_q8_0_avx2(const float* x, int64_t n, void* dst, Q8_0Rounding rounding) {
    const ActQ8_0 view = act_q8_0_view(dst, n);
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        __m256 v[4];
        // max_ps returns its second operand when the first is NaN: NaN never wins, as in the
        // scalar loop's `ax > amax`.
        __m256 amax_v = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + kQK8_0 * b + 8 * k);
            amax_v = _mm256_max_ps(abs_ps(v[k]), amax_v);
        }
        const float amax = max_lanes(amax_v);
        const float scale = amax / 127.0f;
        float inverse = 0.0f;
        if (rounding == Q8_0Rounding::GgmlX86) {
            inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
        } else {
            inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
        }
        const __m256 id = _mm256_set1_ps(inverse);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) q[k] = round_to_int(_mm256_mul_ps(v[k], id));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(view.q + kQK8_0 * b),
                            pack_bytes(q[0], q[1], q[2], q[3]));
        view.d[b] = scale;
        view.sum[b] =
            sum_lanes(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    }
}

void quantize_act_q8_k_avx2(const float* x, int64_t n, void* dst) {
    auto* blocks = static_cast<BlockQ8K*>(dst);
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float* xb = x + kQK_K * b;
        BlockQ8K& out = blocks[b];
        __m256 amax_v = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k)
            amax_v = _mm256_max_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)), amax_v);
        const float amax = max_lanes(amax_v);
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof out);
            continue;
        }
        // The scalar loop keeps the first element of largest magnitude.
        float max = 0.0f;
        for (int k = 0; k < 32; ++k) {
            const __m256 hit = _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)),
                                             _mm256_set1_ps(amax), _CMP_EQ_OQ);
            const int mask = _mm256_movemask_ps(hit);
            if (mask != 0) {
                max = xb[8 * k + __builtin_ctz(static_cast<unsigned>(mask))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int k = 0; k < 8; ++k) {
            __m256i q[4];
            for (int h = 0; h < 4; ++h)
                q[h] = round_to_int(_mm256_mul_ps(is, _mm256_loadu_ps(xb + 32 * k + 8 * h)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs + 32 * k),
                                pack_bytes(q[0], q[1], q[2], q[3]));
            out.bsums[2 * k] = static_cast<int16_t>(sum_lanes(_mm256_add_epi32(q[0], q[1])));
            out.bsums[2 * k + 1] = static_cast<int16_t>(sum_lanes(_mm256_add_epi32(q[2], q[3])));
        }
        out.d = 1.0f / iscale;
    }
}

}  // namespace dsv4::quant::detail
