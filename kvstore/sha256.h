// SHA-256 (FIPS 180-4), for the prefix store's block keys and model fingerprints. Owns only the
// hash; must not know what is hashed.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace dsv4::kvstore {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
  public:
    Sha256();
    void update(std::span<const uint8_t> bytes);
    void update(const void* data, size_t n) {
        update(std::span<const uint8_t>(static_cast<const uint8_t*>(data), n));
    }
    Digest finish();

  private:
    void compress(const uint8_t* block);
    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
};

Digest sha256(std::span<const uint8_t> bytes);
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace dsv4::kvstore
