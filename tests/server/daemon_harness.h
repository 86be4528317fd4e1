// Test support for the daemon tests: starts the real dsv4d binary on an ephemeral port and
// talks to it with a small blocking HTTP/1.1 client over loopback sockets.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dsv4::test {

struct ClientResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked
    std::string header(const std::string& name) const;
};

// One request on a fresh connection ("Connection: close"), read to the end.
ClientResponse http_request(uint16_t port, const std::string& method, const std::string& path,
                            const std::string& body = {},
                            const std::vector<std::string>& extra_headers = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A connection whose response is read piece by piece (streams, disconnect tests).
class RawConnection {
  public:
    explicit RawConnection(uint16_t port);
    ~RawConnection();
    void send(const std::string& bytes);
    // Reads whatever arrives within `timeout`; empty at end of stream or timeout.
    std::string read_some(std::chrono::milliseconds timeout);
    // Reads until `needle` has been seen in everything read so far, or the timeout.
    std::string read_until(const std::string& needle, std::chrono::milliseconds timeout);
    bool peer_closed(std::chrono::milliseconds timeout);
    void close();

  private:
    int fd_ = -1;
    std::string received_;
};

std::string post_request_bytes(const std::string& path, const std::string& body,
                               bool keep_alive = false);

class Daemon {
  public:
    // Starts dsv4d with `args` plus "--port 0"; waits until it listens (and, when
    // wait_until_ready, until /health answers 200). A non-zero file_size_limit_bytes caps the
    // size of every file the daemon writes (RLIMIT_FSIZE): a disk that refuses writes.
    explicit Daemon(std::vector<std::string> args, bool wait_until_ready = true,
                    uint64_t file_size_limit_bytes = 0);
    ~Daemon();

    uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    // Sends SIGTERM and waits; returns the exit status (-1 on timeout, then SIGKILL).
    int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    std::string log() const;

  private:
    pid_t pid_ = -1;
    uint16_t port_ = 0;
    int stderr_fd_ = -1;
    std::thread reader_;
    mutable std::mutex log_mutex_;
    std::string log_;
};

// A counter of a Prometheus text body ("name value" or "name{labels} value"); -1 if absent.
double metric_value(const std::string& metrics_text, const std::string& name_with_labels);

}  // namespace dsv4::test
