#include "engine/quant/kernel_sets.h"

namespace dsv4::quant::detail {

TypeKernels avx2_kernels(Type) { return {}; }

}  // namespace dsv4::quant::detail
