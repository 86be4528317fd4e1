#include "server/http_auth.h"

#include <algorithm>

namespace dsv4::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned difference = a.size() != b.size() ? 1u : 0u;
    for (size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        difference |= static_cast<unsigned>(x ^ y);
    }
    // Keeps the compiler from turning the loop into an early-exit comparison.
    volatile unsigned result = difference;
    return result == 0;
}

std::string_view bearer_token(std::string_view authorization) {
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() <= kScheme.size()) return {};
    for (size_t i = 0; i < kScheme.size(); ++i) {
        char c = authorization[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kScheme[i]) return {};
    }
    std::string_view token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    return token;
}

bool authorized(std::string_view authorization, const std::vector<std::string>& keys) {
    const std::string_view token = bearer_token(authorization);
    bool match = false;
    for (const std::string& key : keys) match |= constant_time_equal(token, key) && !token.empty();
    return match;
}

}  // namespace dsv4::server
