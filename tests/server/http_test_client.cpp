#include "tests/server/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace dsv4::http_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return std::string(text);
}

}  // namespace

std::string TestResponse::header(std::string_view name) const {
    const auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

bool TestResponse::has_header(std::string_view name) const {
    return headers.count(lower(name)) != 0;
}

std::string request_bytes(std::string_view method, std::string_view target, std::string_view body,
                          const std::vector<std::string>& extra_headers, bool keep_alive) {
    std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    out += "Host: 127.0.0.1\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    for (const std::string& header : extra_headers) out += header + "\r\n";
    if (!body.empty() || method == "POST")
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
    return out;
}

TestConnection::TestConnection(uint16_t port, int receive_buffer_bytes) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (receive_buffer_bytes > 0)
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                     sizeof receive_buffer_bytes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const std::string reason = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + reason);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

TestConnection::~TestConnection() {
    close();
}

void TestConnection::close(bool reset) {
    if (fd_ < 0) return;
    if (reset) {
        const linger abort_on_close{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }
    ::close(fd_);
    fd_ = -1;
}

void TestConnection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

bool TestConnection::fill(Clock::time_point deadline) {
    if (peer_closed_ || fd_ < 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd entry{fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready <= 0) return false;
    char bytes[8192];
    const ssize_t n = ::recv(fd_, bytes, sizeof bytes, 0);
    if (n <= 0) {
        peer_closed_ = true;
        return false;
    }
    received_.append(bytes, static_cast<size_t>(n));
    return true;
}

std::string TestConnection::take_line(Clock::time_point deadline) {
    for (;;) {
        const size_t end = received_.find("\r\n");
        if (end != std::string::npos) {
            std::string line = received_.substr(0, end);
            received_.erase(0, end + 2);
            return line;
        }
        if (!fill(deadline))
            throw std::runtime_error("no complete line before timeout or close; have: " +
                                     received_);
    }
}

std::string TestConnection::take_bytes(size_t n, Clock::time_point deadline) {
    while (received_.size() < n)
        if (!fill(deadline))
            throw std::runtime_error("connection closed or timed out inside a body");
    std::string out = received_.substr(0, n);
    received_.erase(0, n);
    return out;
}

TestResponse TestConnection::read_response(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    TestResponse response;
    std::string status_line = take_line(deadline);
    // Interim answers (100 Continue) come before the real one.
    while (status_line.rfind("HTTP/1.1 1", 0) == 0) {
        while (!take_line(deadline).empty()) {
        }
        status_line = take_line(deadline);
    }
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
        throw std::runtime_error("not an HTTP status line: " + status_line);
    response.status = std::stoi(status_line.substr(9, 3));
    for (std::string line = take_line(deadline); !line.empty(); line = take_line(deadline)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) throw std::runtime_error("bad header line: " + line);
        response.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    response.chunked = lower(response.header("Transfer-Encoding")) == "chunked";
    if (response.chunked) {
        for (;;) {
            const size_t size = std::stoul(take_line(deadline), nullptr, 16);
            if (size == 0) {
                while (!take_line(deadline).empty()) {
                }
                break;
            }
            std::string chunk = take_bytes(size, deadline);
            if (take_line(deadline) != "") throw std::runtime_error("chunk not followed by CRLF");
            response.body += chunk;
            response.chunks.push_back(std::move(chunk));
        }
    } else if (response.has_header("Content-Length")) {
        response.body = take_bytes(std::stoul(response.header("Content-Length")), deadline);
    }
    return response;
}

bool TestConnection::read_until(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (received_.find(needle) == std::string::npos)
        if (!fill(deadline)) return false;
    return true;
}

bool TestConnection::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!peer_closed_)
        if (!fill(deadline) && !peer_closed_) return false;
    return true;
}

TestResponse round_trip(uint16_t port, std::string_view method, std::string_view target,
                        std::string_view body, const std::vector<std::string>& extra_headers) {
    TestConnection connection(port);
    connection.send(request_bytes(method, target, body, extra_headers, false));
    return connection.read_response();
}

}  // namespace dsv4::http_test
