// Random but valid weight rows of any dequantizable type, for tests, benchmarks and synthetic
// models. Owns only the generator (deterministic per seed); it must not compute, compare or
// quantize from real data.
#pragma once

#include <cstdint>

#include "engine/quant/types.h"

namespace dsv4::quant {

// Writes n_rows rows of n_per_row elements of type t to dst (row_bytes(t, n_per_row) each).
// Block scales are finite f16 values of realistic size (about 1e-3..1e-2, subnormal-free),
// quant bits are uniform, F32/F16/BF16 elements are roughly N(0, 0.02). Row r depends only on
// (t, n_per_row, seed, r). Throws std::invalid_argument for types without a dequantizer or a
// row length that is not a whole number of blocks.
void fill_random_rows(Type t, uint8_t* dst, int64_t n_rows, int64_t n_per_row, uint64_t seed);

}  // namespace dsv4::quant
