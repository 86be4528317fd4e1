#include "engine/quant/kernel_sets.h"

namespace dsv4::quant::detail {

TypeKernels scalar_kernels(Type) { return {}; }

}  // namespace dsv4::quant::detail
