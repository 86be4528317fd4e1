#include "tests/server/daemon_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace dsv4::test {
namespace {

using Clock = std::chrono::steady_clock;

int connect_loopback(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
    }
    return fd;
}

// -1: timeout, 0: end of stream, else bytes appended.
ssize_t read_with_timeout(int fd, std::string& out, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) out.append(buffer, static_cast<size_t>(n));
    return n < 0 ? 0 : n;
}

std::string dechunk(const std::string& body) {
    std::string out;
    size_t at = 0;
    while (at < body.size()) {
        const size_t line_end = body.find("\r\n", at);
        if (line_end == std::string::npos) break;
        const size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
        if (size == 0) break;
        out += body.substr(line_end + 2, size);
        at = line_end + 2 + size + 2;
    }
    return out;
}

ClientResponse parse_response(const std::string& raw) {
    ClientResponse response;
    const size_t header_end = raw.find("\r\n\r\n");
    if (header_end == std::string::npos) throw std::runtime_error("no HTTP response: " + raw);
    std::istringstream head(raw.substr(0, header_end));
    std::string line;
    std::getline(head, line);
    response.status = std::stoi(line.substr(9, 3));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    const std::string body = raw.substr(header_end + 4);
    response.body = response.header("transfer-encoding") == "chunked" ? dechunk(body) : body;
    return response;
}

}  // namespace

std::string ClientResponse::header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
}

std::string post_request_bytes(const std::string& path, const std::string& body, bool keep_alive) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
           (keep_alive ? "" : "Connection: close\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

ClientResponse http_request(uint16_t port, const std::string& method, const std::string& path,
                            const std::string& body, const std::vector<std::string>& extra_headers,
                            std::chrono::milliseconds timeout) {
    RawConnection connection(port);
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const std::string& header : extra_headers) request += header + "\r\n";
    request += "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    connection.send(request + body);
    std::string raw;
    const auto until = Clock::now() + timeout;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) throw std::runtime_error("response timed out: " + path);
        const std::string piece = connection.read_some(left);
        if (piece.empty()) break;
        raw += piece;
    }
    return parse_response(raw);
}

RawConnection::RawConnection(uint16_t port) : fd_(connect_loopback(port)) {}
RawConnection::~RawConnection() {
    close();
}

void RawConnection::send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        sent += static_cast<size_t>(n);
    }
}

std::string RawConnection::read_some(std::chrono::milliseconds timeout) {
    std::string out;
    read_with_timeout(fd_, out, timeout);
    received_ += out;
    return out;
}

std::string RawConnection::read_until(const std::string& needle,
                                      std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (received_.find(needle) == std::string::npos && Clock::now() < until) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        std::string piece;
        if (read_with_timeout(fd_, piece, left) == 0) break;
        received_ += piece;
    }
    return received_;
}

bool RawConnection::peer_closed(std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        std::string piece;
        const ssize_t n = read_with_timeout(fd_, piece, left);
        if (n == 0) return true;
        received_ += piece;
    }
    return false;
}

void RawConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

Daemon::Daemon(std::vector<std::string> args, bool wait_until_ready,
               uint64_t file_size_limit_bytes) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    args.insert(args.begin(), DSV4_DAEMON_PATH);
    args.push_back("--port");
    args.push_back("0");
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(pipe_fds[1], STDERR_FILENO);
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        if (file_size_limit_bytes > 0) {
            // Writes past the limit then fail with EFBIG instead of killing the process.
            ::signal(SIGXFSZ, SIG_IGN);
            const rlimit limit{file_size_limit_bytes, file_size_limit_bytes};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    stderr_fd_ = pipe_fds[0];
    reader_ = std::thread([this] {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::read(stderr_fd_, buffer, sizeof buffer);
            if (n <= 0) return;
            std::lock_guard lock(log_mutex_);
            log_.append(buffer, static_cast<size_t>(n));
        }
    });
    const std::regex listening("listening on http://[^:]+:([0-9]+)");
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (port_ == 0) {
        if (Clock::now() > until) throw std::runtime_error("dsv4d did not start: " + log());
        std::smatch match;
        const std::string text = log();
        if (std::regex_search(text, match, listening)) port_ = std::stoi(match[1]);
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("dsv4d exited at start: " + log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    while (wait_until_ready) {
        if (Clock::now() > until) throw std::runtime_error("dsv4d never became ready: " + log());
        if (http_request(port_, "GET", "/health").status == 200) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Daemon::~Daemon() {
    if (pid_ > 0) terminate(std::chrono::seconds(10));
    if (reader_.joinable()) reader_.join();
    if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

int Daemon::terminate(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const auto until = Clock::now() + timeout;
    int status = 0;
    while (Clock::now() < until) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
}

std::string Daemon::log() const {
    std::lock_guard lock(log_mutex_);
    return log_;
}

double metric_value(const std::string& metrics_text, const std::string& name_with_labels) {
    std::istringstream lines(metrics_text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(name_with_labels + " ", 0) == 0)
            return std::stod(line.substr(name_with_labels.size() + 1));
    }
    return -1;
}

}  // namespace dsv4::test
