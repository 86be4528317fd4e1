#include "engine/backend/cpu/cpu_numerics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "engine/quant/fp16.h"

namespace dsv4::backend::cpu {
namespace {

constexpr int64_t kFp8Block = 64;
constexpr float kFp8Max = 448.0f;
constexpr float kFp8MinAmax = 1e-4f;  // keeps the scale finite for all-zero blocks
constexpr int kFp8Codes = 127;        // code 127 (all ones) is NaN in E4M3

constexpr int64_t kFp4Block = 32;
constexpr float kFp4Max = 6.0f;
constexpr float kFp4MinAmax = 7.052966104933725e-38f;
constexpr std::array<float, 8> kFp4Magnitudes = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

std::array<float, kFp8Codes> make_e4m3_magnitudes() {
    std::array<float, kFp8Codes> table{};
    for (int code = 0; code < kFp8Codes; ++code) {
        const int exponent = code >> 3;
        const int mantissa = code & 7;
        table[code] = exponent == 0
                          ? std::ldexp(static_cast<float>(mantissa), -9)
                          : std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
    }
    return table;
}

// Picks the entry of a sorted magnitude table nearest to a, ties to the even index.
template <size_t N>
float nearest_magnitude(const std::array<float, N>& table, float a) {
    const auto upper = std::upper_bound(table.begin(), table.end(), a);
    size_t index = static_cast<size_t>(upper - table.begin());
    index = index == 0 ? 0 : index - 1;
    if (index + 1 < N) {
        const float below = a - table[index];
        const float above = table[index + 1] - a;
        if (above < below || (above == below && (index + 1) % 2 == 0)) ++index;
    }
    return table[index];
}

float power_of_two_scale(float amax, float format_max) {
    return std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(amax / format_max))));
}

float block_amax(const float* x, int64_t n, float floor_value) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    return std::max(amax, floor_value);
}

}  // namespace

float rms_scale(const float* x, int64_t n, float eps) {
    double sum_squares = 0.0;
    for (int64_t i = 0; i < n; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
    return 1.0f / std::sqrt(static_cast<float>(sum_squares / static_cast<double>(n)) + eps);
}

void rms_scales(const float* x, int64_t n_rows, int64_t n, int64_t stride, float eps,
                float* scales) {
    constexpr int64_t kChains = 8;
    int64_t r0 = 0;
    for (; r0 + kChains <= n_rows; r0 += kChains) {
        double sum_squares[kChains] = {};
        for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < kChains; ++c) {
                const float v = x[(r0 + c) * stride + i];
                sum_squares[c] += static_cast<double>(v) * v;
            }
        for (int64_t c = 0; c < kChains; ++c)
            scales[r0 + c] =
                1.0f / std::sqrt(static_cast<float>(sum_squares[c] / static_cast<double>(n)) + eps);
    }
    for (; r0 < n_rows; ++r0) scales[r0] = rms_scale(x + r0 * stride, n, eps);
}

float round_e4m3(float v) {
    static const std::array<float, kFp8Codes> magnitudes = make_e4m3_magnitudes();
    return std::copysign(nearest_magnitude(magnitudes, std::fabs(v)), v);
}

void fp8_round_trip(float* x, int64_t n) {
    for (int64_t b = 0; b < n; b += kFp8Block) {
        const int64_t count = std::min(kFp8Block, n - b);
        float* block = x + b;
        const float scale = power_of_two_scale(block_amax(block, count, kFp8MinAmax), kFp8Max);
        for (int64_t i = 0; i < count; ++i) {
            const float v = std::clamp(block[i] / scale, -kFp8Max, kFp8Max);
            block[i] = round_e4m3(v) * scale;
        }
    }
}

float round_e2m1(float v) {
    return std::copysign(nearest_magnitude(kFp4Magnitudes, std::fabs(v)), v);
}

void fp4_round_trip(float* x, int64_t n) {
    for (int64_t b = 0; b < n; b += kFp4Block) {
        const int64_t count = std::min(kFp4Block, n - b);
        float* block = x + b;
        const float scale = power_of_two_scale(block_amax(block, count, kFp4MinAmax), kFp4Max);
        for (int64_t i = 0; i < count; ++i) {
            const float v = std::clamp(block[i] / scale, -kFp4Max, kFp4Max);
            block[i] = round_e2m1(v) * scale;
        }
    }
}

void hadamard_transform(float* x, int64_t n) {
    for (int64_t stride = 1; stride < n; stride *= 2) {
        for (int64_t base = 0; base < n; base += 2 * stride) {
            for (int64_t i = 0; i < stride; ++i) {
                const float a = x[base + i];
                const float b = x[base + stride + i];
                x[base + i] = a + b;
                x[base + stride + i] = a - b;
            }
        }
    }
    const auto norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
    for (int64_t i = 0; i < n; ++i) x[i] *= norm;
}

void round_to_f16(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = quant::f16_to_f32(quant::f32_to_f16(x[i]));
}

void rope_angles(int64_t pos, const RopeParams& rope, bool inverse, float* cos_out,
                 float* sin_out) {
    const float theta_scale = std::pow(rope.freq_base, -2.0f / static_cast<float>(rope.n_rot));
    float theta_extrap = static_cast<float>(pos);
    for (uint32_t pair = 0; pair < rope.n_rot / 2; ++pair) {
        float theta = theta_extrap;
        if (rope.yarn) {
            const float interp = rope.freq_scale * theta_extrap;
            const float y = (static_cast<float>(pair) - rope.corr_low) /
                            std::max(0.001f, rope.corr_high - rope.corr_low);
            const float ramp = 1.0f - std::min(1.0f, std::max(0.0f, y));
            theta = interp * (1.0f - ramp) + theta_extrap * ramp;
        } else {
            theta = rope.freq_scale * theta_extrap;
        }
        cos_out[pair] = std::cos(theta) * rope.mscale;
        const float sin_theta = std::sin(theta) * rope.mscale;
        sin_out[pair] = inverse ? -sin_theta : sin_theta;
        theta_extrap *= theta_scale;
    }
}

void rope_apply(float* tail, uint32_t n_rot, const float* cos_theta, const float* sin_theta) {
    for (uint32_t pair = 0; pair < n_rot / 2; ++pair) {
        const float x0 = tail[2 * pair];
        const float x1 = tail[2 * pair + 1];
        tail[2 * pair] = x0 * cos_theta[pair] - x1 * sin_theta[pair];
        tail[2 * pair + 1] = x0 * sin_theta[pair] + x1 * cos_theta[pair];
    }
}

void rope_rotate(float* tail, int64_t pos, const RopeParams& rope, bool inverse) {
    std::vector<float> cos_theta(rope.n_rot / 2);
    std::vector<float> sin_theta(rope.n_rot / 2);
    rope_angles(pos, rope, inverse, cos_theta.data(), sin_theta.data());
    rope_apply(tail, rope.n_rot, cos_theta.data(), sin_theta.data());
}

float stable_sigmoid(float z) {
    const float e = std::exp(-std::fabs(z));
    return z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

float silu(float z) {
    return z * stable_sigmoid(z);
}

namespace {

void normalise_columns(float* comb, uint32_t n, float eps) {
    for (uint32_t c = 0; c < n; ++c) {
        float sum = 0.0f;
        for (uint32_t r = 0; r < n; ++r) sum += comb[r * n + c];
        const float inverse = 1.0f / (sum + eps);
        for (uint32_t r = 0; r < n; ++r) comb[r * n + c] *= inverse;
    }
}

void normalise_rows(float* comb, uint32_t n, float eps) {
    for (uint32_t r = 0; r < n; ++r) {
        float sum = 0.0f;
        for (uint32_t c = 0; c < n; ++c) sum += comb[r * n + c];
        const float inverse = 1.0f / (sum + eps);
        for (uint32_t c = 0; c < n; ++c) comb[r * n + c] *= inverse;
    }
}

void softmax_rows_plus_eps(float* comb, uint32_t n, float eps) {
    for (uint32_t r = 0; r < n; ++r) {
        float* row = comb + r * n;
        float max = row[0];
        for (uint32_t c = 1; c < n; ++c) max = std::max(max, row[c]);
        float sum = 0.0f;
        for (uint32_t c = 0; c < n; ++c) {
            row[c] = std::exp(row[c] - max);
            sum += row[c];
        }
        const float inverse = 1.0f / sum;
        for (uint32_t c = 0; c < n; ++c) row[c] = row[c] * inverse + eps;
    }
}

}  // namespace

void hc_split(const float* mix, const float* scale, const float* base, const HyperParams& params,
              float* split) {
    const uint32_t n = params.n_hc;
    float* pre = split;
    float* post = split + n;
    float* comb = split + 2 * n;
    for (uint32_t i = 0; i < n; ++i) {
        pre[i] = 1.0f / (1.0f + std::exp(-(mix[i] * scale[0] + base[i]))) + params.hc_eps;
        post[i] = 2.0f / (1.0f + std::exp(-(mix[n + i] * scale[1] + base[n + i])));
    }
    for (uint32_t i = 0; i < n * n; ++i) comb[i] = mix[2 * n + i] * scale[2] + base[2 * n + i];
    softmax_rows_plus_eps(comb, n, params.hc_eps);
    normalise_columns(comb, n, params.hc_eps);
    for (uint32_t iteration = 1; iteration < params.sinkhorn_iterations; ++iteration) {
        normalise_rows(comb, n, params.hc_eps);
        normalise_columns(comb, n, params.hc_eps);
    }
}

}  // namespace dsv4::backend::cpu
