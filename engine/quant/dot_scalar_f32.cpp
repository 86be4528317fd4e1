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

// Every (row, activation) pair keeps its own f32 accumulator, fed strictly in element order, so
// each result is the sequential sum whatever the tiling. Tiles of rows and activations only give
// the processor independent chains to overlap and reuse each dequantized chunk.
template <typename Row, int kRows, int kActs>
void dot_f32_tile(const DotArgs& args, int64_t r0, int64_t a0) {
    alignas(64) float w[kRows][Row::kChunk];
    const uint8_t* rows[kRows];
    const float* x[kActs];
    float acc[kRows][kActs] = {};
    for (int r = 0; r < kRows; ++r)
        rows[r] = args.w + (r0 + r) * static_cast<int64_t>(args.w_row_bytes);
    for (int a = 0; a < kActs; ++a)
        x[a] = reinterpret_cast<const float*>(args.act +
                                              (a0 + a) * static_cast<int64_t>(args.act_row_bytes));
    for (int64_t first = 0; first < args.n; first += Row::kChunk) {
        const int64_t count = std::min(Row::kChunk, args.n - first);
        for (int r = 0; r < kRows; ++r) Row::load(rows[r], first, count, w[r]);
        for (int64_t i = 0; i < count; ++i)
            for (int r = 0; r < kRows; ++r)
                for (int a = 0; a < kActs; ++a) acc[r][a] += x[a][first + i] * w[r][i];
    }
    for (int r = 0; r < kRows; ++r)
        for (int a = 0; a < kActs; ++a) args.out[(a0 + a) * args.out_stride + r0 + r] = acc[r][a];
}

constexpr int64_t kRowTile = 4;
constexpr int64_t kActTile = 4;

template <typename Row, int kRows>
void dot_f32_row_tile(const DotArgs& args, int64_t r0) {
    int64_t a0 = 0;
    for (; a0 + kActTile <= args.n_acts; a0 += kActTile)
        dot_f32_tile<Row, kRows, kActTile>(args, r0, a0);
    for (; a0 < args.n_acts; ++a0) dot_f32_tile<Row, kRows, 1>(args, r0, a0);
}

template <typename Row>
void dot_f32_rows(const DotArgs& args) {
    int64_t r0 = 0;
    for (; r0 + kRowTile <= args.n_rows; r0 += kRowTile) dot_f32_row_tile<Row, kRowTile>(args, r0);
    for (; r0 < args.n_rows; ++r0) dot_f32_row_tile<Row, 1>(args, r0);
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
