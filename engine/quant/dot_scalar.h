// Internal to engine/quant: the scalar dot kernels of each weight type, split by activation kind
// (quantized activations in dot_scalar_q.cpp, f32 activations in dot_scalar_f32.cpp). Looked up
// by kernels_scalar.cpp only; these must not consult the CPU or any other kernel level.
#pragma once

#include "engine/quant/kernels.h"

namespace dsv4::quant::detail {

// DotArgs::n must be a whole number of the weight type's blocks; callers check it (matmul does,
// through the tensor shapes), the kernels do not.

// Kernel taking activations in type_info(t).act (for F32/F16/BF16 the same as the f32 kernel);
// nullptr when t has none.
DotKernel scalar_dot_q(Type t);

// Kernel taking f32 activations, weights dequantized block by block; nullptr when t has none.
DotKernel scalar_dot_f32(Type t);

}  // namespace dsv4::quant::detail
