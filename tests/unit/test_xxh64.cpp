// XXH64 against values from the reference implementation (xxhsum -H1, seed 0), around the
// 4-, 8- and 32-byte steps where the algorithm changes path.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "engine/common/xxh64.h"

namespace dsv4::test {
namespace {

uint64_t of_text(std::string_view text) {
    return xxh64({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

TEST(Xxh64, MatchesTheReferenceValues) {
    EXPECT_EQ(of_text(""), 0xef46db3751d8e999ull);
    EXPECT_EQ(of_text("a"), 0xd24ec4f1a98c6e5bull);
    EXPECT_EQ(of_text("abc"), 0x44bc2cf5ad770999ull);
    EXPECT_EQ(of_text("0123456789abcdef0123456789abcde"), 0x1fdfc63febacfde7ull);
    EXPECT_EQ(of_text("0123456789abcdef0123456789abcdef"), 0x642a94958e71e6c5ull);
    EXPECT_EQ(of_text("0123456789abcdef0123456789abcdef0"), 0xe87684f08d6d0816ull);
    EXPECT_EQ(of_text("The quick brown fox jumps over the lazy dog"), 0x0b242d361fda71bcull);
    std::vector<uint8_t> pattern(1000);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
    EXPECT_EQ(xxh64(pattern), 0x5f235fa033f1a3fbull);
}

TEST(Xxh64, EveryFlippedBitChangesTheHash) {
    std::vector<uint8_t> bytes(77);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + 5);
    const uint64_t original = xxh64(bytes);
    for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
        bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_NE(xxh64(bytes), original) << "bit " << bit;
        bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
}

}  // namespace
}  // namespace dsv4::test
