#include "engine/quant/dequant_block.h"
#include "engine/quant/dot_scalar.h"

namespace dsv4::quant::detail {
namespace {

// Integer sums inside a block (exact), f32 across blocks in block order. Every integer sum stays
// far inside int32: the largest, Q6_K's, is bounded by 256 * 32 * 128 * 128 < 2^28.

using RowDot = float (*)(const uint8_t* w, const uint8_t* act, int64_t n);

template <RowDot kRowDot>
void dot_rows(const DotArgs& args) {
    for (int64_t a = 0; a < args.n_acts; ++a) {
        const uint8_t* act = args.act + a * static_cast<int64_t>(args.act_row_bytes);
        float* out = args.out + a * args.out_stride;
        for (int64_t r = 0; r < args.n_rows; ++r)
            out[r] = kRowDot(args.w + r * static_cast<int64_t>(args.w_row_bytes), act, args.n);
    }
}

// ---- Q8_0-family weights, planar Q8_0 activations ----------------------------------------------

// The reference engine's Q8_0 order: (weight scale * activation scale) * integer block sum.
float dot_row_q8_0(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(w);
    const ConstActQ8_0 y = act_q8_0_view(act, n);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const int8_t* q8 = y.q + kQK8_0 * b;
        int32_t isum = 0;
        for (int j = 0; j < kQK8_0; ++j) isum += blocks[b].qs[j] * q8[j];
        acc += (f16_to_f32(blocks[b].d) * y.d[b]) * static_cast<float>(isum);
    }
    return acc;
}

float dot_row_q4_0(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* blocks = reinterpret_cast<const BlockQ4_0*>(w);
    const ConstActQ8_0 y = act_q8_0_view(act, n);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const int8_t* q8 = y.q + kQK8_0 * b;
        int32_t isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += ((blocks[b].qs[j] & 15) - 8) * q8[j];
            isum += ((blocks[b].qs[j] >> 4) - 8) * q8[j + 16];
        }
        acc += (f16_to_f32(blocks[b].d) * y.d[b]) * static_cast<float>(isum);
    }
    return acc;
}

float dot_row_mxfp4(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* blocks = reinterpret_cast<const BlockMxfp4*>(w);
    const ConstActQ8_0 y = act_q8_0_view(act, n);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const int8_t* q8 = y.q + kQK8_0 * b;
        int32_t isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += kMxfp4Values[blocks[b].qs[j] & 15] * q8[j];
            isum += kMxfp4Values[blocks[b].qs[j] >> 4] * q8[j + 16];
        }
        acc += (mxfp4_half_scale(blocks[b].e) * y.d[b]) * static_cast<float>(isum);
    }
    return acc;
}

// ---- Super-block weights, Q8_K activations -----------------------------------------------------

// The K-quant close of a super-block: (y.d * d) * isum - (y.d * dmin) * summs.
float k_quant_block_sum(const BlockQ8K& y, uint16_t d, uint16_t dmin, int32_t isum, int32_t summs) {
    const float dall = y.d * f16_to_f32(d);
    const float dmins = y.d * f16_to_f32(dmin);
    return dall * static_cast<float>(isum) - dmins * static_cast<float>(summs);
}

float dot_row_q2_k(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* x = reinterpret_cast<const BlockQ2K*>(w);
    const auto* y = reinterpret_cast<const BlockQ8K*>(act);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        int32_t isum = 0;
        for (int half = 0; half < 2; ++half) {
            for (int shift_index = 0; shift_index < 4; ++shift_index) {
                for (int sub = 0; sub < 2; ++sub) {
                    const uint8_t* qs = x[i].qs + 32 * half + 16 * sub;
                    const int8_t* q8 = y[i].qs + 128 * half + 32 * shift_index + 16 * sub;
                    int32_t sub_sum = 0;
                    for (int l = 0; l < 16; ++l)
                        sub_sum += q8[l] * ((qs[l] >> (2 * shift_index)) & 3);
                    isum += (x[i].scales[8 * half + 2 * shift_index + sub] & 15) * sub_sum;
                }
            }
        }
        sumf += k_quant_block_sum(y[i], x[i].d, x[i].dmin, isum, summs);
    }
    return sumf;
}

// Q4_K and Q5_K share everything but the fifth bit, which is 0 for Q4_K (qh == nullptr).
int32_t k_quant_mins(const BlockQ8K& y, const uint8_t* scales) {
    int32_t summs = 0;
    for (int j = 0; j < 8; ++j)
        summs += k_quant_scale_min(scales, j).min * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
    return summs;
}

int32_t k_quant_scaled_sum(const BlockQ8K& y, const uint8_t* scales, const uint8_t* qs,
                           const uint8_t* qh) {
    int32_t isum = 0;
    for (int chunk = 0; chunk < 4; ++chunk) {
        const int8_t* q8 = y.qs + 64 * chunk;
        const uint8_t* q4 = qs + 32 * chunk;
        int32_t sum_lo = 0, sum_hi = 0;
        for (int l = 0; l < 32; ++l) {
            int lo = q4[l] & 15, hi = q4[l] >> 4;
            if (qh != nullptr) {
                lo += (qh[l] >> (2 * chunk)) & 1 ? 16 : 0;
                hi += (qh[l] >> (2 * chunk + 1)) & 1 ? 16 : 0;
            }
            sum_lo += lo * q8[l];
            sum_hi += hi * q8[l + 32];
        }
        isum += k_quant_scale_min(scales, 2 * chunk).scale * sum_lo;
        isum += k_quant_scale_min(scales, 2 * chunk + 1).scale * sum_hi;
    }
    return isum;
}

float dot_row_q4_k(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* x = reinterpret_cast<const BlockQ4K*>(w);
    const auto* y = reinterpret_cast<const BlockQ8K*>(act);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const int32_t isum = k_quant_scaled_sum(y[i], x[i].scales, x[i].qs, nullptr);
        const int32_t summs = k_quant_mins(y[i], x[i].scales);
        sumf += k_quant_block_sum(y[i], x[i].d, x[i].dmin, isum, summs);
    }
    return sumf;
}

float dot_row_q5_k(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* x = reinterpret_cast<const BlockQ5K*>(w);
    const auto* y = reinterpret_cast<const BlockQ8K*>(act);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const int32_t isum = k_quant_scaled_sum(y[i], x[i].scales, x[i].qs, x[i].qh);
        const int32_t summs = k_quant_mins(y[i], x[i].scales);
        sumf += k_quant_block_sum(y[i], x[i].d, x[i].dmin, isum, summs);
    }
    return sumf;
}

float dot_row_q6_k(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* x = reinterpret_cast<const BlockQ6K*>(w);
    const auto* y = reinterpret_cast<const BlockQ8K*>(act);
    float sumf = 0.0f;
    int8_t q6[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        unpack_q6_k(x[i], q6);
        int32_t isum = 0;
        for (int group = 0; group < 16; ++group) {
            int32_t group_sum = 0;
            for (int l = 0; l < 16; ++l) group_sum += q6[16 * group + l] * y[i].qs[16 * group + l];
            isum += x[i].scales[group] * group_sum;
        }
        sumf += (f16_to_f32(x[i].d) * y[i].d) * static_cast<float>(isum);
    }
    return sumf;
}

// The reference engine's IQ2_XXS order: the group scale enters as the odd integer 2*ls + 1
// (= 4 * (0.5 + ls) / 2), the common factor 1/8 is applied once at the end.
float dot_row_iq2_xxs(const uint8_t* w, const uint8_t* act, int64_t n) {
    const auto* x = reinterpret_cast<const BlockIq2xxs*>(w);
    const auto* y = reinterpret_cast<const BlockQ8K*>(act);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(x[i].d) * y[i].d;
        int32_t bsum = 0;
        for (int group = 0; group < 8; ++group) {
            const Iq2xxsGroup g = iq2xxs_group(x[i], group);
            const int8_t* q8 = y[i].qs + 32 * group;
            int32_t group_sum = 0;
            for (int l = 0; l < 4; ++l) {
                const uint32_t grid = (g.grid_indices >> (8 * l)) & 0xffu;
                const uint8_t signs = kIq2xxsSignBytes[(g.signs_and_scale >> (7 * l)) & 127u];
                for (int j = 0; j < 8; ++j) {
                    // (v ^ -1) + 1 == -v: a branch-free negation for the random sign bits.
                    const int negate = -static_cast<int>((signs >> j) & 1);
                    const int v = (iq2xxs_grid_value(grid, j) ^ negate) - negate;
                    group_sum += q8[8 * l + j] * v;
                }
            }
            bsum += group_sum * static_cast<int32_t>(2 * (g.signs_and_scale >> 28) + 1);
        }
        sumf += d * static_cast<float>(bsum);
    }
    return 0.125f * sumf;
}

}  // namespace

DotKernel scalar_dot_q(Type t) {
    switch (t) {
        case Type::F32:
        case Type::F16:
        case Type::BF16:
            return scalar_dot_f32(t);
        case Type::Q8_0:
            return dot_rows<dot_row_q8_0>;
        case Type::Q4_0:
            return dot_rows<dot_row_q4_0>;
        case Type::MXFP4:
            return dot_rows<dot_row_mxfp4>;
        case Type::Q2_K:
            return dot_rows<dot_row_q2_k>;
        case Type::Q4_K:
            return dot_rows<dot_row_q4_k>;
        case Type::Q5_K:
            return dot_rows<dot_row_q5_k>;
        case Type::Q6_K:
            return dot_rows<dot_row_q6_k>;
        case Type::IQ2_XXS:
            return dot_rows<dot_row_iq2_xxs>;
        default:
            return nullptr;
    }
}

}  // namespace dsv4::quant::detail
