// The sampler's random source: 64-bit xorshift* with the reference engine's constants and its
// 24-bit uniform draw, so a given seed replays the reference's token choices. Owns only its state;
// seeding from the operating system lives in sampler.cpp, never here.
#pragma once

#include <cstdint>

namespace dsv4::sampler {

class XorShift64Star {
  public:
    // A zero state would stay zero forever; the reference substitutes this odd constant
    // (2^64 / golden ratio) at every step that starts from zero.
    static constexpr uint64_t kZeroStateReplacement = 0x9E3779B97F4A7C15ULL;
    static constexpr uint64_t kOutputMultiplier = 0x2545F4914F6CDD1DULL;

    explicit XorShift64Star(uint64_t seed) : state_(seed) {}

    uint64_t next() {
        uint64_t x = state_ == 0 ? kZeroStateReplacement : state_;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state_ = x;
        return x * kOutputMultiplier;
    }

    // Bits 40..63 of the output over 2^24: a float in [0, 1) with every value exact.
    float uniform() {
        const uint64_t bits = (next() >> 40) & 0xFFFFFFu;
        return static_cast<float>(bits) / 16777216.0f;
    }

    uint64_t state() const { return state_; }

  private:
    uint64_t state_;
};

}  // namespace dsv4::sampler
