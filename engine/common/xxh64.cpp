#include "engine/common/xxh64.h"

#include <bit>
#include <cstring>

namespace dsv4 {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ull;

static_assert(std::endian::native == std::endian::little, "XXH64 reads little-endian words");

uint64_t read64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

uint32_t read32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

uint64_t round(uint64_t acc, uint64_t input) {
    return std::rotl(acc + input * kPrime2, 31) * kPrime1;
}

uint64_t merge_round(uint64_t acc, uint64_t lane) {
    return (acc ^ round(0, lane)) * kPrime1 + kPrime4;
}

// Four independent lanes over the 32-byte stripes, folded into one value.
uint64_t stripes(const uint8_t*& p, const uint8_t* end) {
    uint64_t lane[4] = {kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
    for (; end - p >= 32; p += 32)
        for (int i = 0; i < 4; ++i) lane[i] = round(lane[i], read64(p + 8 * i));
    uint64_t h = std::rotl(lane[0], 1) + std::rotl(lane[1], 7) + std::rotl(lane[2], 12) +
                 std::rotl(lane[3], 18);
    for (const uint64_t l : lane) h = merge_round(h, l);
    return h;
}

}  // namespace

uint64_t xxh64(std::span<const uint8_t> bytes) {
    const uint8_t* p = bytes.data();
    const uint8_t* const end = p + bytes.size();
    uint64_t h = bytes.size() >= 32 ? stripes(p, end) : kPrime5;
    h += bytes.size();
    for (; end - p >= 8; p += 8) h = std::rotl(h ^ round(0, read64(p)), 27) * kPrime1 + kPrime4;
    if (end - p >= 4) {
        h = std::rotl(h ^ uint64_t{read32(p)} * kPrime1, 23) * kPrime2 + kPrime3;
        p += 4;
    }
    for (; p < end; ++p) h = std::rotl(h ^ *p * kPrime5, 11) * kPrime1;
    h ^= h >> 33;
    h *= kPrime2;
    h ^= h >> 29;
    h *= kPrime3;
    h ^= h >> 32;
    return h;
}

}  // namespace dsv4
