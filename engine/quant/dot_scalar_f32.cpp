#include <algorithm>
#include <cstring>

#include "engine/quant/dequant_block.h"
#include "engine/quant/dot_scalar.h"

namespace dsv4::quant::detail {
namespace {

// A weight row read as consecutive chunks of f32. Block formats yield one block per chunk; the
// float formats use a fixed chunk so a row of any length fits a small stack buffer.
template <typename Block>
struct BlockRow {
    static constexpr int64_t kChunk = kBlockElems<Block>;
    static void load(const uint8_t* row, int64_t first, int64_t /*count*/, float* out) {
        dequantize_block(reinterpret_cast<const Block*>(row)[first / kChunk], out);
    }
};

constexpr int64_t kFloatChunk = 256;

struct F32Row {
    static constexpr int64_t kChunk = kFloatChunk;
    static void load(const uint8_t* row, int64_t first, int64_t count, float* out) {
        std::memcpy(out, row + sizeof(float) * first, sizeof(float) * count);
    }
};

struct F16Row {
    static constexpr int64_t kChunk = kFloatChunk;
    static void load(const uint8_t* row, int64_t first, int64_t count, float* out) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + first;
        for (int64_t i = 0; i < count; ++i) out[i] = f16_to_f32(h[i]);
    }
};

struct Bf16Row {
    static constexpr int64_t kChunk = kFloatChunk;
    static void load(const uint8_t* row, int64_t first, int64_t count, float* out) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + first;
        for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(h[i]);
    }
};

// Activations handled per pass over a weight row: each chunk is dequantized once for all of them.
constexpr int64_t kActTile = 8;

// Every (row, activation) pair keeps its own f32 accumulator, fed strictly in element order, so
// the result is the sequential sum whatever the tiling.
template <typename Row>
void dot_f32_rows(const DotArgs& args) {
    alignas(64) float w[Row::kChunk];
    for (int64_t r = 0; r < args.n_rows; ++r) {
        const uint8_t* row = args.w + r * static_cast<int64_t>(args.w_row_bytes);
        for (int64_t a0 = 0; a0 < args.n_acts; a0 += kActTile) {
            const int64_t tile = std::min(kActTile, args.n_acts - a0);
            const float* x[kActTile];
            float acc[kActTile] = {};
            for (int64_t t = 0; t < tile; ++t)
                x[t] = reinterpret_cast<const float*>(
                    args.act + (a0 + t) * static_cast<int64_t>(args.act_row_bytes));
            for (int64_t first = 0; first < args.n; first += Row::kChunk) {
                const int64_t count = std::min(Row::kChunk, args.n - first);
                Row::load(row, first, count, w);
                for (int64_t i = 0; i < count; ++i)
                    for (int64_t t = 0; t < tile; ++t) acc[t] += x[t][first + i] * w[i];
            }
            for (int64_t t = 0; t < tile; ++t) args.out[(a0 + t) * args.out_stride + r] = acc[t];
        }
    }
}

}  // namespace

DotKernel scalar_dot_f32(Type t) {
    switch (t) {
        case Type::F32:
            return dot_f32_rows<F32Row>;
        case Type::F16:
            return dot_f32_rows<F16Row>;
        case Type::BF16:
            return dot_f32_rows<Bf16Row>;
        case Type::Q8_0:
            return dot_f32_rows<BlockRow<BlockQ8_0>>;
        case Type::Q4_0:
            return dot_f32_rows<BlockRow<BlockQ4_0>>;
        case Type::MXFP4:
            return dot_f32_rows<BlockRow<BlockMxfp4>>;
        case Type::Q2_K:
            return dot_f32_rows<BlockRow<BlockQ2K>>;
        case Type::Q4_K:
            return dot_f32_rows<BlockRow<BlockQ4K>>;
        case Type::Q5_K:
            return dot_f32_rows<BlockRow<BlockQ5K>>;
        case Type::Q6_K:
            return dot_f32_rows<BlockRow<BlockQ6K>>;
        case Type::IQ2_XXS:
            return dot_f32_rows<BlockRow<BlockIq2xxs>>;
        default:
            return nullptr;
    }
}

}  // namespace dsv4::quant::detail
