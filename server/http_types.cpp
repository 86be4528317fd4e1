#include "server/http_types.h"

#include "engine/common/json.h"

namespace dsv4::server {
namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (equal_ignoring_case(key, name)) return value;
    return {};
}

std::string_view default_error_type(int status) {
    if (status == 401) return "authentication_error";
    if (status == 403) return "permission_error";
    if (status == 404) return "not_found_error";
    if (status == 429) return "rate_limit_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

HttpResponse error_response(int status, std::string_view message, std::string_view param,
                            std::string_view code) {
    json::Writer writer;
    writer.begin_object();
    writer.key("error");
    writer.begin_object();
    writer.key("message");
    writer.string(message);
    writer.key("type");
    writer.string(default_error_type(status));
    writer.key("param");
    if (param.empty())
        writer.null();
    else
        writer.string(param);
    writer.key("code");
    if (code.empty())
        writer.null();
    else
        writer.string(code);
    writer.end_object();
    writer.end_object();
    HttpResponse response;
    response.status = status;
    response.body = writer.take() + "\n";
    return response;
}

}  // namespace dsv4::server
