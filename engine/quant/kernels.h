// Activation quantizers, reference dequantization and the dot-product kernel table of every
// weight type, per instruction-set level. Owns the numeric contract of a weight row times an
// activation row; it must not know about tensors, models or threads (see matmul.h for those).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/common/cpu_features.h"
#include "engine/quant/types.h"

namespace dsv4::quant {

// ---- Activation formats -------------------------------------------------------------------

// A Q8_0-family activation row of n elements (n % 32 == 0, nb = n / 32 blocks), planar:
//   int8 q[n] | float d[nb] | int32 sum[nb]
// d stays f32 (the reference engine keeps the activation scale in f32, unlike ggml's f16);
// sum[b] is the sum of the 32 q of block b, used by unsigned-by-signed dot instructions.
struct ActQ8_0 {
    int8_t* q;
    float* d;
    int32_t* sum;
};
struct ConstActQ8_0 {
    const int8_t* q;
    const float* d;
    const int32_t* sum;
};
ActQ8_0 act_q8_0_view(void* row, int64_t n);
ConstActQ8_0 act_q8_0_view(const void* row, int64_t n);

// A Q8_K activation row is n / 256 of ggml's block_q8_K, back to back (292 bytes each).
struct BlockQ8K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};
static_assert(sizeof(BlockQ8K) == 292);

// Bytes of one activation row of n elements in format f (F32: 4 n).
size_t act_row_bytes(ActFormat f, int64_t n);

// How Q8_0 activation blocks are rounded. Ds4 is what the engine uses; the ggml variants exist
// so the oracle vectors can be reproduced bit for bit.
enum class Q8_0Rounding {
    Ds4,      // d = amax/127, id = d ? 1/d : 0, q = round-half-even(x*id), d kept in f32
    GgmlRef,  // ggml's scalar reference: same d and id, q = roundf(x*id) (ties away from zero)
    GgmlX86,  // ggml's AVX path: id = 127/amax, q = round-half-even(x*id)
};
// For the ggml variants the stored d is still f32 (amax/127); ggml's fp16 rounding of d is the
// caller's business when it compares bytes.
void quantize_act_q8_0(const float* x, int64_t n, void* dst, Q8_0Rounding rounding);
// ggml's quantize_row_q8_K_ref semantics (= the reference engine's): per 256-block, the element
// of largest |x| (first on ties) sets iscale = -127/max, q = min(127, round-half-even(iscale*x)),
// d = 1/iscale, bsums per 16. An all-zero block gets d = 0, q = 0, bsums = 0.
void quantize_act_q8_k(const float* x, int64_t n, void* dst);
// Quantizes (or copies, for F32) one row into the format; Q8_0 uses Q8_0Rounding::Ds4.
void quantize_activation(ActFormat f, const float* x, int64_t n, void* dst);

// ---- Reference dequantization ---------------------------------------------------------------

// Exact (bit for bit with ggml's to_float) for every type whose TypeInfo::dequantize is true.
void dequantize_row(Type t, const void* src, float* dst, int64_t n);

// ---- Dot kernels ----------------------------------------------------------------------------

// out[a * out_stride + r] = dot(weight row r, activation row a) for r < n_rows, a < n_acts.
struct DotArgs {
    const uint8_t* w;
    size_t w_row_bytes;
    int64_t n_rows;
    const uint8_t* act;
    size_t act_row_bytes;
    int64_t n_acts;
    int64_t n;  // elements per row
    float* out;
    int64_t out_stride;
};
using DotKernel = void (*)(const DotArgs&);

// Contract of every kernel:
//  1. The value written for (r, a) depends only on weight row r and activation row a: never on
//     n_rows, n_acts or where r and a sit in the call. Splitting rows over threads, or batching
//     tokens, cannot change a result.
//  2. SIMD kernels agree with the scalar kernel of the same type within 1e-5 of the sum of
//     absolute terms (they may sum in another order).
//  3. Quantized activation bytes lie in [-127, 127] (every quantizer here guarantees it: the
//     scale maps the largest magnitude to 127); SIMD kernels negate them freely.
//  4. Scalar dot_q follows the reference engine's order (integer per block, f32 across blocks
//     in block order); scalar dot_f32 dequantizes and accumulates sequentially in f32.
struct TypeKernels {
    DotKernel dot_q = nullptr;    // activation in type_info(t).act
    DotKernel dot_f32 = nullptr;  // f32 activation, weights dequantized
};

// The kernels for t at the given level, falling back to a lower level for what a level lacks.
const TypeKernels& kernels(Type t, IsaLevel isa);
inline const TypeKernels& kernels(Type t) {
    return kernels(t, active_isa());
}

}  // namespace dsv4::quant
