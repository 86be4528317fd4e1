// Internal to engine/quant: the per-ISA kernel sets that dispatch.cpp merges. Each returns the
// kernels it implements for t (entries may be null); it must not consult the CPU itself.
#pragma once

#include "engine/quant/kernels.h"

namespace dsv4::quant::detail {

TypeKernels scalar_kernels(Type t);
TypeKernels avx2_kernels(Type t);
TypeKernels avx512_kernels(Type t);
// The AVX-512 kernels a CPU without GFNI gets (avx512_kernels() hands out kernels that choose at
// run time); for tests that check that fallback on CPUs that have GFNI.
TypeKernels avx512_kernels_without_gfni(Type t);

// Activation quantizers per level, byte for byte equal (quantize_act_q8_0/q8_k pick one by the
// active level). The SIMD Q8_0 quantizer takes Ds4 and GgmlX86 rounding (GgmlRef, ties away from
// zero, stays scalar: it only serves oracle comparisons).
void quantize_act_q8_0_scalar(const float* x, int64_t n, void* dst, Q8_0Rounding rounding);
void quantize_act_q8_k_scalar(const float* x, int64_t n, void* dst);
void quantize_act_q8_0_avx2(const float* x, int64_t n, void* dst, Q8_0Rounding rounding);
void quantize_act_q8_k_avx2(const float* x, int64_t n, void* dst);
void quantize_act_q8_0_avx512(const float* x, int64_t n, void* dst, Q8_0Rounding rounding);
void quantize_act_q8_k_avx512(const float* x, int64_t n, void* dst);

}  // namespace dsv4::quant::detail
