// XXH64 (seed 0): the checksum of serialized states and prefix-store records and the hash that
// ties a state suffix to its token prefix, fast enough (~6 GB/s on one core here) to cost little
// next to reading the bytes. A pure function on bytes; knows nothing of what they are.
#pragma once

#include <cstdint>
#include <span>

namespace dsv4 {

// The 64-bit xxHash of bytes with seed 0, as the published algorithm (and xxhsum -H1) gives it.
uint64_t xxh64(std::span<const uint8_t> bytes);

}  // namespace dsv4
