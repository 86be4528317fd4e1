// The row-level arithmetic of the CPU backend that decides exact logits: RMS scales, the FP8
// E4M3 / FP4 E2M1 round trips, the Hadamard transform, f16 storage rounding, RoPE angles and the
// hyper-connection split. Pure functions on caller memory; no buffers, threads or model state.
#pragma once

#include <cstdint>

#include "engine/backend/backend.h"

namespace dsv4::backend::cpu {

// 1 / sqrt(mean(x^2) + eps) with the sum of squares accumulated in double.
float rms_scale(const float* x, int64_t n, float eps);
// rms_scale of n_rows rows of n values, row r at x + r * stride, into scales[r]. Each row's sum
// runs in the same order as rms_scale's; several rows advance together (independent chains
// instead of one add waiting for the previous).
void rms_scales(const float* x, int64_t n_rows, int64_t n, int64_t stride, float eps,
                float* scales);

// Nearest FP8 E4M3 value to v (|v| <= 448), ties to the even code.
float round_e4m3(float v);
// Blocks of 64: power-of-two scale so the block's max fits 448, then the E4M3 round trip.
void fp8_round_trip(float* x, int64_t n);

// Nearest FP4 E2M1 value to v (|v| <= 6), ties to the even table entry.
float round_e2m1(float v);
// Blocks of 32: power-of-two scale so the block's max fits 6, then the E2M1 round trip.
void fp4_round_trip(float* x, int64_t n);

// Orthonormal Walsh-Hadamard transform of n (a power of two) values, in place.
void hadamard_transform(float* x, int64_t n);

// Each element rounded to the nearest f16 and back.
void round_to_f16(float* x, int64_t n);

// Rotates adjacent pairs of tail (n_rot values) by the angles of position pos.
void rope_rotate(float* tail, int64_t pos, const RopeParams& rope, bool inverse);
// The same in two steps, so that one position's angles serve every head: cos and sin (sin
// negated when inverse) of the n_rot / 2 pair angles, each times mscale; then the rotation.
void rope_angles(int64_t pos, const RopeParams& rope, bool inverse, float* cos_out, float* sin_out);
void rope_apply(float* tail, uint32_t n_rot, const float* cos_theta, const float* sin_theta);

// From one token's mix (hc_split_width values): pre = sigmoid + eps, post = 2 sigmoid, comb =
// row softmax + eps followed by alternating column/row normalisation. Writes hc_split_width
// values to split.
void hc_split(const float* mix, const float* scale, const float* base, const HyperParams& params,
              float* split);

// z * sigmoid(z) with an overflow-free sigmoid.
float silu(float z);
float stable_sigmoid(float z);

}  // namespace dsv4::backend::cpu
