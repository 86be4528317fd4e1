// API-key checks of the HTTP layer: bearer-token extraction and a comparison whose time does not
// depend on where the first differing byte is. Owns no keys and no sockets.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv4::server {

// True when a and b are equal; the time taken depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

// The token of an "Authorization: Bearer <token>" value (scheme case-insensitive); empty when
// the value is not a bearer credential.
std::string_view bearer_token(std::string_view authorization);

// True when `authorization` carries one of `keys`. Every key is compared, whatever matched.
bool authorized(std::string_view authorization, const std::vector<std::string>& keys);

}  // namespace dsv4::server
