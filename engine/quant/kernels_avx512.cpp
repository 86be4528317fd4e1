#include "engine/quant/kernel_sets.h"
#include "engine/quant/simd_avx512.h"

namespace dsv4::quant::detail {

TypeKernels avx512_kernels(Type t) {
    switch (t) {
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
        default:
            return {};
    }
}

}  // namespace dsv4::quant::detail
