// The tensor element types of the GGUF/ggml world: ids, names, block geometry and which of them
// this engine can compute with. Owns only the table; the arithmetic lives in the kernel files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv4::quant {

// Values are ggml's type ids as stored in GGUF tensor infos.
enum class Type : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

// The format a weight type's dot kernels take their activation in.
enum class ActFormat {
    None,  // not a matmul weight type (I32, ...)
    F32,   // F32, F16, BF16 weights: f32 activations
    Q8_0,  // Q8_0, Q4_0, MXFP4 weights: blocks of 32 (see act_q8_0 in kernels.h)
    Q8_K,  // K-quants and IQ2_XXS: ggml's block_q8_K, blocks of 256
};

struct TypeInfo {
    Type type;
    std::string_view name;
    uint32_t block_elems;
    uint32_t block_bytes;
    ActFormat act;    // None when this engine has no dot kernel for the type
    bool dequantize;  // this engine can dequantize it
};

// nullopt for ids ggml does not define (or retired ids).
const TypeInfo* type_info(uint32_t ggml_id);
const TypeInfo& type_info(Type t);
std::optional<Type> type_from_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size (checked by callers).
inline size_t row_bytes(const TypeInfo& info, int64_t n) {
    return static_cast<size_t>(n / info.block_elems) * info.block_bytes;
}
size_t row_bytes(Type t, int64_t n);

}  // namespace dsv4::quant
