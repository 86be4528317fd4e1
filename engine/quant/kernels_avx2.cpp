#include "engine/quant/kernel_sets.h"
#include "engine/quant/simd_avx2.h"

namespace dsv4::quant::detail {

TypeKernels avx2_kernels(Type t) {
    switch (t) {
        case Type::F32:
            return {avx2::dot_f32, avx2::dot_f32};
        case Type::F16:
            return {avx2::dot_f16, avx2::dot_f16};
        case Type::BF16:
            return {avx2::dot_bf16, avx2::dot_bf16};
        case Type::Q8_0:
            return {avx2::dot_q_q8_0, avx2::dot_f32_q8_0};
        case Type::Q4_0:
            return {avx2::dot_q_q4_0, avx2::dot_f32_q4_0};
        case Type::MXFP4:
            return {avx2::dot_q_mxfp4, avx2::dot_f32_mxfp4};
        case Type::Q2_K:
            return {avx2::dot_q_q2_k, avx2::dot_f32_q2_k};
        case Type::Q4_K:
            return {avx2::dot_q_q4_k, avx2::dot_f32_q4_k};
        case Type::Q5_K:
            return {avx2::dot_q_q5_k, avx2::dot_f32_q5_k};
        case Type::Q6_K:
            return {avx2::dot_q_q6_k, avx2::dot_f32_q6_k};
        case Type::IQ2_XXS:
            return {avx2::dot_q_iq2_xxs, avx2::dot_f32_iq2_xxs};
        default:
            return {};
    }
}

}  // namespace dsv4::quant::detail
