#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/common/cpu_features.h"
#include "engine/quant/block_layouts.h"
#include "engine/quant/kernel_sets.h"
#include "engine/quant/kernels.h"

namespace dsv4::quant {
namespace {

enum class Ties { ToEven, AwayFromZero };

// Rounds v to an integer and saturates to int8. Deliberately independent of the FP environment:
// the float-to-int conversion truncates in every rounding mode and v - trunc(v) is exact, so the
// tie decision is explicit. NaN (only reachable from non-finite inputs) becomes 0.
int8_t round_to_int8(float v, Ties ties) {
    if (!(v > -129.0f)) return v != v ? 0 : -128;
    if (v >= 128.0f) return 127;
    const int truncated = static_cast<int>(v);
    const float frac = v - static_cast<float>(truncated);
    const float abs_frac = std::fabs(frac);
    int rounded = truncated;
    const bool up = abs_frac > 0.5f ||
                    (abs_frac == 0.5f && (ties == Ties::AwayFromZero || (truncated & 1) != 0));
    if (up) rounded += frac > 0.0f ? 1 : -1;
    if (rounded > 127) return 127;
    if (rounded < -128) return -128;
    return static_cast<int8_t>(rounded);
}

void require_blocks(const char* what, int64_t n, int64_t block) {
    if (n < 0 || n % block != 0)
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) +
                                    " elements is not a multiple of " + std::to_string(block));
}

float max_abs(const float* x, int count) {
    float amax = 0.0f;
    for (int j = 0; j < count; ++j) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) amax = ax;
    }
    return amax;
}

void quantize_q8_0_block(const float* x, Q8_0Rounding rounding, int8_t* q, float* d, int32_t* sum) {
    const float amax = max_abs(x, kQK8_0);
    const float scale = amax / 127.0f;
    float inverse = 0.0f;
    if (rounding == Q8_0Rounding::GgmlX86) {
        inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
    } else {
        inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    }
    const Ties ties = rounding == Q8_0Rounding::GgmlRef ? Ties::AwayFromZero : Ties::ToEven;
    int32_t total = 0;
    for (int j = 0; j < kQK8_0; ++j) {
        q[j] = round_to_int8(x[j] * inverse, ties);
        total += q[j];
    }
    *d = scale;
    *sum = total;
}

void quantize_q8_k_block(const float* x, BlockQ8K& out) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        std::memset(&out, 0, sizeof out);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) out.qs[j] = round_to_int8(iscale * x[j], Ties::ToEven);
    for (int group = 0; group < kQK_K / 16; ++group) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += out.qs[16 * group + l];
        out.bsums[group] = static_cast<int16_t>(sum);
    }
    out.d = 1.0f / iscale;
}

}  // namespace

ActQ8_0 act_q8_0_view(void* row, int64_t n) {
    auto* bytes = static_cast<uint8_t*>(row);
    const int64_t nb = n / kQK8_0;
    return {reinterpret_cast<int8_t*>(bytes), reinterpret_cast<float*>(bytes + n),
            reinterpret_cast<int32_t*>(bytes + n + static_cast<int64_t>(sizeof(float)) * nb)};
}

ConstActQ8_0 act_q8_0_view(const void* row, int64_t n) {
    const ActQ8_0 view = act_q8_0_view(const_cast<void*>(row), n);
    return {view.q, view.d, view.sum};
}

size_t act_row_bytes(ActFormat f, int64_t n) {
    const auto elems = static_cast<size_t>(n);
    switch (f) {
        case ActFormat::F32:
            return sizeof(float) * elems;
        case ActFormat::Q8_0:
            return elems + (sizeof(float) + sizeof(int32_t)) * (elems / kQK8_0);
        case ActFormat::Q8_K:
            return elems / kQK_K * sizeof(BlockQ8K);
        case ActFormat::None:
            break;
    }
    throw std::invalid_argument("act_row_bytes: no activation format");
}

namespace detail {

void quantize_act_q8_0_scalar(const float* x, int64_t n, void* dst, Q8_0Rounding rounding) {
    const ActQ8_0 view = act_q8_0_view(dst, n);
    for (int64_t b = 0; b < n / kQK8_0; ++b)
        quantize_q8_0_block(x + kQK8_0 * b, rounding, view.q + kQK8_0 * b, view.d + b,
                            view.sum + b);
}

void quantize_act_q8_k_scalar(const float* x, int64_t n, void* dst) {
    auto* blocks = static_cast<BlockQ8K*>(dst);
    for (int64_t b = 0; b < n / kQK_K; ++b) quantize_q8_k_block(x + kQK_K * b, blocks[b]);
}

}  // namespace detail

void quantize_act_q8_0(const float* x, int64_t n, void* dst, Q8_0Rounding rounding) {
    require_blocks("quantize_act_q8_0", n, kQK8_0);
    const IsaLevel isa = rounding == Q8_0Rounding::GgmlRef ? IsaLevel::Scalar : active_isa();
    if (isa == IsaLevel::Avx512) return detail::quantize_act_q8_0_avx512(x, n, dst, rounding);
    if (isa == IsaLevel::Avx2) return detail::quantize_act_q8_0_avx2(x, n, dst, rounding);
    detail::quantize_act_q8_0_scalar(x, n, dst, rounding);
}

void quantize_act_q8_k(const float* x, int64_t n, void* dst) {
    require_blocks("quantize_act_q8_k", n, kQK_K);
    const IsaLevel isa = active_isa();
    if (isa == IsaLevel::Avx512) return detail::quantize_act_q8_k_avx512(x, n, dst);
    if (isa == IsaLevel::Avx2) return detail::quantize_act_q8_k_avx2(x, n, dst);
    detail::quantize_act_q8_k_scalar(x, n, dst);
}

void quantize_activation(ActFormat f, const float* x, int64_t n, void* dst) {
    switch (f) {
        case ActFormat::F32:
            std::memcpy(dst, x, sizeof(float) * static_cast<size_t>(n));
            return;
        case ActFormat::Q8_0:
            quantize_act_q8_0(x, n, dst, Q8_0Rounding::Ds4);
            return;
        case ActFormat::Q8_K:
            quantize_act_q8_k(x, n, dst);
            return;
        case ActFormat::None:
            break;
    }
    throw std::invalid_argument("quantize_activation: no activation format");
}

}  // namespace dsv4::quant
