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

}  // namespace dsv4::quant::detail
