// AVX-512 activation quantizers, byte for byte the scalar ones of act_quant.cpp: the same f32
// operations per element (IEEE division and multiplication), rounding half to even by the
// instruction's embedded rounding mode (never the MXCSR), the same saturation and NaN handling.
#include "engine/quant/simd_avx512.h"

#include "engine/quant/block_layouts.h"
#include "engine/quant/kernel_sets.h"

namespace dsv4::quant::detail {
namespace {

// round_to_int8 of act_quant.cpp for 16 values: clamping to [-128, 127] before rounding gives
// what rounding and then saturating gives (127.5 rounds to 128 and saturates to 127 either way),
// and a NaN becomes 0.
inline __m128i round_to_int8(__m512 v) {
    const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    const __m512 clamped =
        _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    const __m512i rounded = _mm512_maskz_cvt_roundps_epi32(
        ordered, clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvtepi32_epi8(rounded);
}

// |x| with the sign bit cleared, so -0.0 counts as 0 and NaN stays NaN (then loses every max).
inline __m512 abs_ps(__m512 x) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

inline int32_t sum_bytes(__m128i q) {
    return _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q));
}

}  // namespace

void quantize_act_q8_0_avx512(const float* x, int64_t n, void* dst, Q8_0Rounding rounding) {
    const ActQ8_0 view = act_q8_0_view(dst, n);
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const __m512 x0 = _mm512_loadu_ps(x + kQK8_0 * b);
        const __m512 x1 = _mm512_loadu_ps(x + kQK8_0 * b + 16);
        // max_ps returns its second operand when the first is NaN: NaN never wins, as in the
        // scalar loop's `ax > amax`.
        const float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(abs_ps(x1), _mm512_max_ps(abs_ps(x0), _mm512_setzero_ps())));
        const float scale = amax / 127.0f;
        float inverse = 0.0f;
        if (rounding == Q8_0Rounding::GgmlX86) {
            inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
        } else {
            inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
        }
        const __m512 id = _mm512_set1_ps(inverse);
        const __m128i q0 = round_to_int8(_mm512_mul_ps(x0, id));
        const __m128i q1 = round_to_int8(_mm512_mul_ps(x1, id));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(view.q + kQK8_0 * b), q0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(view.q + kQK8_0 * b + 16), q1);
        view.d[b] = scale;
        view.sum[b] = sum_bytes(q0) + sum_bytes(q1);
    }
}

void quantize_act_q8_k_avx512(const float* x, int64_t n, void* dst) {
    auto* blocks = static_cast<BlockQ8K*>(dst);
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float* xb = x + kQK_K * b;
        BlockQ8K& out = blocks[b];
        __m512 amax_v = _mm512_setzero_ps();
        for (int k = 0; k < 16; ++k)
            amax_v = _mm512_max_ps(abs_ps(_mm512_loadu_ps(xb + 16 * k)), amax_v);
        const float amax = _mm512_reduce_max_ps(amax_v);
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof out);
            continue;
        }
        // The scalar loop keeps the first element of largest magnitude.
        float max = 0.0f;
        for (int k = 0; k < 16; ++k) {
            const __m512 v = _mm512_loadu_ps(xb + 16 * k);
            const __mmask16 hit = _mm512_cmp_ps_mask(abs_ps(v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit != 0) {
                max = xb[16 * k + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        for (int k = 0; k < 16; ++k) {
            const __m128i q = round_to_int8(_mm512_mul_ps(is, _mm512_loadu_ps(xb + 16 * k)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out.qs + 16 * k), q);
            out.bsums[k] = static_cast<int16_t>(sum_bytes(q));
        }
        out.d = 1.0f / iscale;
    }
}

}  // namespace dsv4::quant::detail
