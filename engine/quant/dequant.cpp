#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/quant/dequant_block.h"
#include "engine/quant/kernels.h"

namespace dsv4::quant {
namespace {

template <typename Block>
void dequantize_blocks(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const Block*>(src);
    constexpr int kElems = detail::kBlockElems<Block>;
    for (int64_t b = 0; b < n / kElems; ++b) detail::dequantize_block(blocks[b], dst + b * kElems);
}

void widen_f16(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}

void widen_bf16(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

}  // namespace

void dequantize_row(Type t, const void* src, float* dst, int64_t n) {
    const TypeInfo& info = type_info(t);
    if (!info.dequantize)
        throw std::invalid_argument("dequantize_row: type " + std::string(info.name) +
                                    " is not supported");
    if (n < 0 || n % info.block_elems != 0)
        throw std::invalid_argument("dequantize_row: " + std::to_string(n) +
                                    " elements is not a whole number of " + std::string(info.name) +
                                    " blocks");
    switch (t) {
        case Type::F32:
            std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
            return;
        case Type::F16:
            widen_f16(src, dst, n);
            return;
        case Type::BF16:
            widen_bf16(src, dst, n);
            return;
        case Type::Q8_0:
            dequantize_blocks<BlockQ8_0>(src, dst, n);
            return;
        case Type::Q4_0:
            dequantize_blocks<BlockQ4_0>(src, dst, n);
            return;
        case Type::MXFP4:
            dequantize_blocks<BlockMxfp4>(src, dst, n);
            return;
        case Type::Q2_K:
            dequantize_blocks<BlockQ2K>(src, dst, n);
            return;
        case Type::Q4_K:
            dequantize_blocks<BlockQ4K>(src, dst, n);
            return;
        case Type::Q5_K:
            dequantize_blocks<BlockQ5K>(src, dst, n);
            return;
        case Type::Q6_K:
            dequantize_blocks<BlockQ6K>(src, dst, n);
            return;
        case Type::Q8_K:
            dequantize_blocks<BlockQ8K>(src, dst, n);
            return;
        case Type::IQ2_XXS:
            dequantize_blocks<BlockIq2xxs>(src, dst, n);
            return;
        default:
            break;
    }
    // The type table claims a dequantizer this file does not have.
    throw std::logic_error("dequantize_row: no dequantizer for " + std::string(info.name));
}

}  // namespace dsv4::quant
