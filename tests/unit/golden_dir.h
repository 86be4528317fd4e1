// Where the oracle data lives: $DSV4_GOLDEN_DIR when set, else the repository's tests/golden.
#pragma once

#include <cstdlib>
#include <string>

namespace dsv4::test {

inline std::string golden_dir() {
    const char* env = std::getenv("DSV4_GOLDEN_DIR");
    if (env != nullptr && *env != '\0') return env;
    return std::string(DSV4_SOURCE_DIR) + "/tests/golden";
}

}  // namespace dsv4::test
