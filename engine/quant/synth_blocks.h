// Random but valid weight rows of any dequantizable type, for tests, benchmarks and synthetic
// models. Owns only the generator (deterministic per seed); it must not compute, compare or
// quantize from real data.
#pragma once

#include <cstdint>

#include "engine/quant/types.h"

namespace dsv4::quant {

// Writes n_rows rows of n_per_row elements of type t to dst (row_bytes(t, n_per_row) each).
// Quant bits are uniform; block scales are finite, log-uniform over a decade sized per format so
// the weights come out with an RMS of about 0.007..0.07 (K-quant super-block scales then include
// f16 subnormals, as real files do); F32/F16/BF16 elements are N(0, 0.02). Row r depends only on
// (t, n_per_row, seed, r). Throws std::invalid_argument for types without a dequantizer or a
// row length that is not a whole number of blocks.
void fill_random_rows(Type t, uint8_t* dst, int64_t n_rows, int64_t n_per_row, uint64_t seed);

}  // namespace dsv4::quant
