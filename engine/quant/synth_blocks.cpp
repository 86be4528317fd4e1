#include "engine/quant/synth_blocks.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/quant/block_layouts.h"
#include "engine/quant/fp16.h"

namespace dsv4::quant {
namespace {

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// xoshiro256**: fast, and good enough that every bit of a quant field looks uniform.
class Rng {
  public:
    explicit Rng(uint64_t seed) {
        for (uint64_t& word : s_) word = splitmix64(seed);
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 24 random bits.
    float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

    // Log-uniform in [lo, hi): block scales spread over a decade like real ones.
    float log_uniform(float lo, float hi) { return lo * std::exp(uniform() * std::log(hi / lo)); }

    bool coin() { return (next() >> 63) != 0; }

    // Standard normal by Box-Muller; the second value of each pair is kept for the next call.
    float normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const float u1 = 1.0f - uniform();  // (0, 1]: log stays finite
        const float u2 = uniform();
        const float radius = std::sqrt(-2.0f * std::log(u1));
        const float angle = 6.28318530717958648f * u2;
        spare_ = radius * std::sin(angle);
        has_spare_ = true;
        return radius * std::cos(angle);
    }

    void fill_bytes(uint8_t* dst, size_t n) {
        while (n >= 8) {
            const uint64_t word = next();
            std::memcpy(dst, &word, 8);
            dst += 8;
            n -= 8;
        }
        if (n > 0) {
            const uint64_t word = next();
            std::memcpy(dst, &word, n);
        }
    }

  private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    uint64_t s_[4];
    float spare_ = 0.0f;
    bool has_spare_ = false;
};

constexpr float kWeightSigma = 0.02f;

// Log-uniform range of a block's scale fields, chosen per format so that the dequantized
// weights have an RMS of roughly 0.007..0.07 given uniform quant bits; for the K-quants this
// puts some super-block scales in the f16 subnormal range, as in real files.
struct ScaleRange {
    float lo;
    float hi;
};

uint16_t random_scale_f16(Rng& rng, ScaleRange range, bool any_sign) {
    const float d = rng.log_uniform(range.lo, range.hi);
    return f32_to_f16(any_sign && rng.coin() ? -d : d);
}

void fill_q8_0(Rng& rng, BlockQ8_0& b) {
    b.d = random_scale_f16(rng, {1e-4f, 1e-3f}, false);  // q RMS ~74
    rng.fill_bytes(reinterpret_cast<uint8_t*>(b.qs), sizeof b.qs);
}

void fill_q4_0(Rng& rng, BlockQ4_0& b) {
    b.d = random_scale_f16(rng, {1.5e-3f, 1.5e-2f}, true);  // q - 8 RMS ~4.6
    rng.fill_bytes(b.qs, sizeof b.qs);
}

void fill_mxfp4(Rng& rng, BlockMxfp4& b) {
    // 2^(e - 128) for e in 118..121, about 1e-3..8e-3; code values have an RMS of ~5.9.
    b.e = static_cast<uint8_t>(118 + rng.next() % 4);
    rng.fill_bytes(b.qs, sizeof b.qs);
}

void fill_q2_k(Rng& rng, BlockQ2K& b) {
    rng.fill_bytes(b.scales, sizeof b.scales);
    rng.fill_bytes(b.qs, sizeof b.qs);
    b.d = random_scale_f16(rng, {3e-4f, 3e-3f}, false);  // scale * q RMS ~16
    b.dmin = random_scale_f16(rng, {3e-4f, 3e-3f}, false);
}

void fill_q4_k(Rng& rng, BlockQ4K& b) {
    b.d = random_scale_f16(rng, {2e-5f, 2e-4f}, false);  // scale * q RMS ~320
    b.dmin = random_scale_f16(rng, {2e-5f, 2e-4f}, false);
    rng.fill_bytes(b.scales, sizeof b.scales);
    rng.fill_bytes(b.qs, sizeof b.qs);
}

void fill_q5_k(Rng& rng, BlockQ5K& b) {
    b.d = random_scale_f16(rng, {1e-5f, 1e-4f}, false);  // scale * q RMS ~650
    b.dmin = random_scale_f16(rng, {2e-5f, 2e-4f}, false);
    rng.fill_bytes(b.scales, sizeof b.scales);
    rng.fill_bytes(b.qh, sizeof b.qh);
    rng.fill_bytes(b.qs, sizeof b.qs);
}

void fill_q6_k(Rng& rng, BlockQ6K& b) {
    rng.fill_bytes(b.ql, sizeof b.ql);
    rng.fill_bytes(b.qh, sizeof b.qh);
    rng.fill_bytes(reinterpret_cast<uint8_t*>(b.scales), sizeof b.scales);
    b.d = random_scale_f16(rng, {5e-6f, 5e-5f}, true);  // scale * (q - 32) RMS ~1400
}

void fill_iq2xxs(Rng& rng, BlockIq2xxs& b) {
    b.d = random_scale_f16(rng, {1.5e-4f, 1.5e-3f}, false);  // (0.5 + s) / 4 * grid RMS ~58
    rng.fill_bytes(b.qs, sizeof b.qs);  // every grid index, sign index and scale nibble is valid
}

// Q8_K is an activation format; its rows are only valid with bsums matching qs.
void fill_q8_k(Rng& rng, BlockQ8K& b) {
    const float d = rng.log_uniform(1e-3f, 1e-2f);
    b.d = rng.coin() ? -d : d;
    for (int8_t& q : b.qs) q = static_cast<int8_t>(static_cast<int>(rng.next() % 255) - 127);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += b.qs[16 * g + j];
        b.bsums[g] = static_cast<int16_t>(sum);
    }
}

template <typename Block, typename Fill>
void fill_blocks(Rng& rng, uint8_t* dst, int64_t n_blocks, Fill fill) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        Block block;
        fill(rng, block);
        std::memcpy(dst + i * sizeof(Block), &block, sizeof(Block));
    }
}

template <typename Element, typename Convert>
void fill_floats(Rng& rng, uint8_t* dst, int64_t n, Convert convert) {
    for (int64_t i = 0; i < n; ++i) {
        const Element e = convert(kWeightSigma * rng.normal());
        std::memcpy(dst + i * sizeof(Element), &e, sizeof(Element));
    }
}

void fill_row(Type t, Rng& rng, uint8_t* dst, int64_t n) {
    const int64_t nb = n / type_info(t).block_elems;
    switch (t) {
        case Type::F32:
            return fill_floats<float>(rng, dst, n, [](float x) { return x; });
        case Type::F16:
            return fill_floats<uint16_t>(rng, dst, n, f32_to_f16);
        case Type::BF16:
            return fill_floats<uint16_t>(rng, dst, n, f32_to_bf16);
        case Type::Q8_0:
            return fill_blocks<BlockQ8_0>(rng, dst, nb, fill_q8_0);
        case Type::Q4_0:
            return fill_blocks<BlockQ4_0>(rng, dst, nb, fill_q4_0);
        case Type::MXFP4:
            return fill_blocks<BlockMxfp4>(rng, dst, nb, fill_mxfp4);
        case Type::Q2_K:
            return fill_blocks<BlockQ2K>(rng, dst, nb, fill_q2_k);
        case Type::Q4_K:
            return fill_blocks<BlockQ4K>(rng, dst, nb, fill_q4_k);
        case Type::Q5_K:
            return fill_blocks<BlockQ5K>(rng, dst, nb, fill_q5_k);
        case Type::Q6_K:
            return fill_blocks<BlockQ6K>(rng, dst, nb, fill_q6_k);
        case Type::IQ2_XXS:
            return fill_blocks<BlockIq2xxs>(rng, dst, nb, fill_iq2xxs);
        case Type::Q8_K:
            return fill_blocks<BlockQ8K>(rng, dst, nb, fill_q8_k);
        default:
            throw std::invalid_argument("fill_random_rows: no generator for type " +
                                        std::string(type_info(t).name));
    }
}

}  // namespace

void fill_random_rows(Type t, uint8_t* dst, int64_t n_rows, int64_t n_per_row, uint64_t seed) {
    const TypeInfo& info = type_info(t);
    if (n_per_row < 0 || n_per_row % info.block_elems != 0)
        throw std::invalid_argument("fill_random_rows: " + std::to_string(n_per_row) +
                                    " elements is not a whole number of " + std::string(info.name) +
                                    " blocks");
    const size_t bytes = row_bytes(info, n_per_row);
    for (int64_t r = 0; r < n_rows; ++r) {
        uint64_t mix = seed ^ (0x632be59bd9b4e019ull * static_cast<uint64_t>(r + 1));
        Rng rng(splitmix64(mix));
        fill_row(t, rng, dst + static_cast<size_t>(r) * bytes, n_per_row);
    }
}

}  // namespace dsv4::quant
