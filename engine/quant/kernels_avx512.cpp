#include "engine/quant/kernel_sets.h"
#include "engine/quant/simd_avx512.h"

namespace dsv4::quant::detail {

TypeKernels avx512_kernels(Type t) {
    switch (t) {
        case Type::F32:
            return {avx512::dot_f32, avx512::dot_f32};
        case Type::F16:
            return {avx512::dot_f16, avx512::dot_f16};
        case Type::BF16:
            return {avx512::dot_bf16, avx512::dot_bf16};
        case Type::Q8_0:
            return {avx512::dot_q_q8_0, avx512::dot_f32_q8_0};
        case Type::Q4_0:
            return {avx512::dot_q_q4_0, avx512::dot_f32_q4_0};
        case Type::MXFP4:
            return {avx512::dot_q_mxfp4, avx512::dot_f32_mxfp4};
        case Type::Q2_K:
            return {avx512::dot_q_q2_k, avx512::dot_f32_q2_k};
        case Type::Q4_K:
            return {avx512::dot_q_q4_k, avx512::dot_f32_q4_k};
        case Type::Q5_K:
            return {avx512::dot_q_q5_k, avx512::dot_f32_q5_k};
        case Type::Q6_K:
            return {avx512::dot_q_q6_k, avx512::dot_f32_q6_k};
        case Type::IQ2_XXS:
            return {avx512::dot_q_iq2_xxs, avx512::dot_f32_iq2_xxs};
        default:
            return {};
    }
}

TypeKernels avx512_kernels_without_gfni(Type t) {
    TypeKernels k = avx512_kernels(t);
    if (t == Type::Q2_K) k.dot_q = avx512::dot_q_q2_k_no_gfni;
    if (t == Type::IQ2_XXS) k.dot_q = avx512::dot_q_iq2_xxs_no_gfni;
    return k;
}

}  // namespace dsv4::quant::detail
