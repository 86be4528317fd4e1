// A small blocking HTTP/1.1 client over loopback sockets for the HTTP layer's tests: raw bytes
// out, one response (Content-Length or chunked, chunks kept apart) in. Owns its socket only;
// must not depend on Beast, so that it checks the server's bytes independently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::http_test {

struct TestResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked
    std::vector<std::string> chunks;             // each chunk's payload, when chunked
    bool chunked = false;
    // The value of a header (any case); empty when absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
};

// The bytes of one request; adds Host, and Content-Length when there is a body.
std::string request_bytes(std::string_view method, std::string_view target,
                          std::string_view body = {},
                          const std::vector<std::string>& extra_headers = {},
                          bool keep_alive = true);

class TestConnection {
  public:
    // Connects to 127.0.0.1:port; throws std::runtime_error when the connection is refused.
    // A small `receive_buffer_bytes` makes a client that stops reading stall the server soon.
    explicit TestConnection(uint16_t port, int receive_buffer_bytes = 0);
    ~TestConnection();
    TestConnection(const TestConnection&) = delete;
    TestConnection& operator=(const TestConnection&) = delete;

    void send(std::string_view bytes);
    // Reads one whole response; throws std::runtime_error on timeout or a closed connection.
    TestResponse read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Reads until `needle` was received (true) or the timeout/close (false); everything read stays
    // buffered for read_response().
    bool read_until(std::string_view needle, std::chrono::milliseconds timeout);
    // True when the server closes the connection within `timeout` (bytes before the close are
    // kept).
    bool closed_by_peer(std::chrono::milliseconds timeout);
    // Closes at once; with `reset` the peer sees a reset instead of an orderly close.
    void close(bool reset = false);
    const std::string& received() const { return received_; }

  private:
    // Appends what arrives within the time left; false on timeout or close.
    bool fill(std::chrono::steady_clock::time_point deadline);
    std::string take_line(std::chrono::steady_clock::time_point deadline);
    std::string take_bytes(size_t n, std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    bool peer_closed_ = false;
    std::string received_;
};

// One request on a fresh connection; the response is read whole.
TestResponse round_trip(uint16_t port, std::string_view method, std::string_view target,
                        std::string_view body = {},
                        const std::vector<std::string>& extra_headers = {});

}  // namespace dsv4::http_test
