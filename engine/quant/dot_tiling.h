// Internal to the SIMD kernel files: walks a DotArgs call in tiles of weight rows x activation
// rows and hands each tile to a per-type tile function. Owns only the walk; the arithmetic of a
// tile belongs to the kernel, and nothing here may depend on the instruction set.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/quant/kernels.h"

// Tile loops run over compile-time row and activation counts; they must be unrolled so that
// the per-(row, activation) accumulators live in registers.
#define DSV4_UNROLL _Pragma("GCC unroll 16")
#define DSV4_INLINE [[gnu::always_inline]] inline

namespace dsv4::quant::detail {

// A tile kernel K provides
//   static constexpr int kDecodeRows;              // rows per tile when n_acts == 1
//   static constexpr int kBatchRows, kBatchActs;   // tile when n_acts > 1
//   template <int NR, int NA>
//   static void tile(const uint8_t* const* w, const uint8_t* const* act, int64_t n, float* out);
// where out[r * NA + a] receives dot(w[r], act[a]). The tile must compute each (r, a) with the
// same operation sequence whatever NR, NA and the slot of r and a: that is what makes results
// independent of how a call is split (contract point 1). Tiles always get NR real pointers:
// the rows past the end repeat the last row and their results are dropped. w[NR] is where the
// next decode tile's rows start (w[0] when there is none): a decode tile streams once through
// short rows, so it prefetches its successor rather than its own rows.

template <class K, int NR, int NA>
void run_tile(const DotArgs& args, int64_t r0, int64_t a0) {
    const uint8_t* w[NR + 1];
    const uint8_t* act[NA];
    for (int r = 0; r < NR; ++r) {
        const int64_t row = r0 + r < args.n_rows ? r0 + r : args.n_rows - 1;
        w[r] = args.w + static_cast<size_t>(row) * args.w_row_bytes;
    }
    w[NR] = r0 + NR < args.n_rows ? args.w + static_cast<size_t>(r0 + NR) * args.w_row_bytes : w[0];
    for (int a = 0; a < NA; ++a)
        act[a] = args.act + static_cast<size_t>(a0 + a) * args.act_row_bytes;
    float out[NR * NA];
    K::template tile<NR, NA>(w, act, args.n, out);
    for (int r = 0; r < NR && r0 + r < args.n_rows; ++r)
        for (int a = 0; a < NA; ++a)
            args.out[(a0 + a) * args.out_stride + r0 + r] = out[r * NA + a];
}

// Activation tiles narrower than kBatchActs take the instantiation of their exact width.
template <class K, int NA>
void run_act_tail(const DotArgs& args, int64_t r0, int64_t a0, int64_t n_left) {
    if constexpr (NA > 1) {
        if (n_left < NA) return run_act_tail<K, NA - 1>(args, r0, a0, n_left);
    }
    run_tile<K, K::kBatchRows, NA>(args, r0, a0);
}

template <class K>
void run_tiled(const DotArgs& args) {
    if (args.n_rows <= 0 || args.n_acts <= 0) return;
    if (args.n_acts == 1) {
        // A call's first tile has no predecessor to have prefetched it (the pool hands out rows
        // in pieces, each its own call): ask for all of it at once rather than meet it line by
        // line.
        const size_t first_tile_bytes =
            static_cast<size_t>(std::min<int64_t>(K::kDecodeRows, args.n_rows)) * args.w_row_bytes;
        for (size_t offset = 0; offset < first_tile_bytes; offset += 64)
            __builtin_prefetch(args.w + offset, 0, 2);
        for (int64_t r0 = 0; r0 < args.n_rows; r0 += K::kDecodeRows)
            run_tile<K, K::kDecodeRows, 1>(args, r0, 0);
        return;
    }
    // Rows outer: a tile of weight rows stays in L1 while the activation rows stream past it.
    for (int64_t r0 = 0; r0 < args.n_rows; r0 += K::kBatchRows) {
        int64_t a0 = 0;
        for (; a0 + K::kBatchActs <= args.n_acts; a0 += K::kBatchActs)
            run_tile<K, K::kBatchRows, K::kBatchActs>(args, r0, a0);
        if constexpr (K::kBatchActs > 1) {
            if (a0 < args.n_acts)
                run_act_tail<K, K::kBatchActs - 1>(args, r0, a0, args.n_acts - a0);
        }
    }
}

}  // namespace dsv4::quant::detail
