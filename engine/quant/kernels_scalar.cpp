#include "engine/quant/dot_scalar.h"
#include "engine/quant/kernel_sets.h"

namespace dsv4::quant::detail {

TypeKernels scalar_kernels(Type t) {
    return {scalar_dot_q(t), scalar_dot_f32(t)};
}

}  // namespace dsv4::quant::detail
