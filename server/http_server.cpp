#include "server/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "engine/common/log.h"
#include "server/http_auth.h"

namespace dsv4::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kKeepaliveComment = ": keepalive\n\n";
// A timed-out request whose route stays silent this long past the limit is answered here.
constexpr milliseconds kTimeoutAnswerDelay{2000};

// What the connection must write next, taken from the exchange under its lock.
struct Pending {
    std::optional<HttpResponse> whole;
    bool stream_begun = false;
    HeaderList stream_headers;
    std::string bytes;
    bool stream_ended = false;
};

// Exchange implementation: a mutex-guarded mailbox between the route (any thread) and the
// connection coroutine, which is woken through `wake`.
class ConnectionExchange final : public Exchange {
  public:
    ConnectionExchange(std::optional<Clock::time_point> deadline, std::function<void()> wake,
                       const std::atomic<bool>& server_stopping)
        : deadline_(deadline), wake_(std::move(wake)), server_stopping_(server_stopping) {}

    void respond(HttpResponse response) override {
        {
            std::lock_guard lock(mutex_);
            if (answered_) return;
            answered_ = true;
            pending_.whole = std::move(response);
        }
        wake_();
    }
    void begin_stream(HeaderList extra_headers) override {
        {
            std::lock_guard lock(mutex_);
            if (answered_) return;
            answered_ = true;
            streaming_ = true;
            pending_.stream_begun = true;
            pending_.stream_headers = std::move(extra_headers);
        }
        wake_();
    }
    void send(std::string bytes) override {
        {
            std::lock_guard lock(mutex_);
            if (!streaming_ || ended_) return;
            pending_.bytes += bytes;
        }
        wake_();
    }
    void end() override {
        {
            std::lock_guard lock(mutex_);
            if (!streaming_ || ended_) return;
            ended_ = true;
            pending_.stream_ended = true;
        }
        wake_();
    }
    ExchangeEnd state() const override {
        if (client_gone_.load()) return ExchangeEnd::ClientGone;
        if (server_stopping_.load()) return ExchangeEnd::ShuttingDown;
        if (deadline_ && Clock::now() >= *deadline_) return ExchangeEnd::TimedOut;
        return ExchangeEnd::Open;
    }
    void set_log_detail(std::string detail) override {
        std::lock_guard lock(mutex_);
        log_detail_ = std::move(detail);
    }

    Pending take() {
        std::lock_guard lock(mutex_);
        Pending out = std::move(pending_);
        pending_ = Pending{};
        return out;
    }
    bool answered() const {
        std::lock_guard lock(mutex_);
        return answered_;
    }
    std::string log_detail() const {
        std::lock_guard lock(mutex_);
        return log_detail_;
    }
    void mark_client_gone() {
        client_gone_.store(true);
        wake_();
    }
    void wake() { wake_(); }
    std::optional<Clock::time_point> deadline() const { return deadline_; }

  private:
    mutable std::mutex mutex_;
    Pending pending_;
    bool answered_ = false;
    bool streaming_ = false;
    bool ended_ = false;
    std::string log_detail_;
    std::atomic<bool> client_gone_{false};
    const std::optional<Clock::time_point> deadline_;
    const std::function<void()> wake_;
    const std::atomic<bool>& server_stopping_;
};

http::status to_status(int code) {
    return static_cast<http::status>(code);
}

}  // namespace

struct HttpServer::Impl {
    HttpServerOptions options;
    RequestHandler& handler;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::vector<std::thread> threads;
    std::atomic<bool> stopping{false};
    std::atomic<size_t> connections{0};
    std::atomic<size_t> deliveries{0};  // answers being produced or written
    uint16_t bound_port = 0;
    bool started = false;
    bool stopped = false;
    std::mutex exchanges_mutex;
    std::list<std::weak_ptr<ConnectionExchange>> exchanges;

    Impl(HttpServerOptions o, RequestHandler& h) : options(std::move(o)), handler(h) {}

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> refuse(tcp::socket socket);
    asio::awaitable<void> serve(tcp::socket socket);
    asio::awaitable<bool> deliver(beast::tcp_stream& stream,
                                  const std::shared_ptr<ConnectionExchange>& exchange,
                                  asio::steady_timer& wake_timer, int& status);
    void add_common_headers(http::fields& fields) const;
    std::optional<HttpResponse> precheck(const HttpRequest& request) const;
    std::shared_ptr<Exchange> handler_view(const std::shared_ptr<ConnectionExchange>& exchange);
};

namespace {

template <class Body>
void fill_response_fields(http::response<Body>& res, const HttpResponse& response) {
    res.set(http::field::server, "dsv4d");
    if (!response.content_type.empty()) res.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res.insert(name, value);
}

HttpRequest to_request(const http::request<http::string_body>& req, const std::string& remote) {
    HttpRequest out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    const size_t query = out.target.find('?');
    out.path = out.target.substr(0, query);
    for (const auto& field : req) out.headers.emplace_back(field.name_string(), field.value());
    out.body = req.body();
    out.remote_address = remote;
    return out;
}

std::string remote_of(const tcp::socket& socket) {
    boost::system::error_code ec;
    const tcp::endpoint endpoint = socket.remote_endpoint(ec);
    if (ec) return "?";
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace

void HttpServer::Impl::add_common_headers(http::fields& fields) const {
    if (options.http.cors_origin.empty()) return;
    fields.set(http::field::access_control_allow_origin, options.http.cors_origin);
    fields.set(http::field::vary, "Origin");
}

// The layer's own answers: CORS preflight and API keys.
std::optional<HttpResponse> HttpServer::Impl::precheck(const HttpRequest& request) const {
    if (request.method == "OPTIONS" && !options.http.cors_origin.empty()) {
        HttpResponse preflight;
        preflight.status = 204;
        preflight.content_type.clear();
        preflight.headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                             {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
                             {"Access-Control-Max-Age", "600"}};
        return preflight;
    }
    if (!options.http.api_keys.empty() && request.path != "/health" &&
        !authorized(request.header("Authorization"), options.http.api_keys)) {
        HttpResponse denied =
            error_response(401, "invalid or missing API key", {}, "invalid_api_key");
        denied.headers.emplace_back("WWW-Authenticate", "Bearer");
        return denied;
    }
    return std::nullopt;
}

// The handle given to the route: when the route drops its last copy without answering, the
// client gets a 500 rather than waiting forever.
std::shared_ptr<Exchange> HttpServer::Impl::handler_view(
    const std::shared_ptr<ConnectionExchange>& exchange) {
    return std::shared_ptr<Exchange>(exchange.get(), [exchange](Exchange*) {
        if (!exchange->answered()) exchange->respond(error_response(500, "request dropped"));
    });
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io),
                                                           asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (stopping.load() || ec == asio::error::operation_aborted) co_return;
            DSV4_LOG_WARN("accept failed: %s", ec.message().c_str());
            continue;
        }
        const auto executor = socket.get_executor();
        if (connections.load() >= options.http.max_connections) {
            asio::co_spawn(executor, refuse(std::move(socket)), asio::detached);
            continue;
        }
        connections.fetch_add(1);
        asio::co_spawn(executor, serve(std::move(socket)), [this](std::exception_ptr error) {
            connections.fetch_sub(1);
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                DSV4_LOG_ERROR("connection failed: %s", e.what());
            }
        });
    }
}

asio::awaitable<void> HttpServer::Impl::refuse(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    const HttpResponse busy = error_response(503, "too many connections");
    http::response<http::string_body> res{http::status::service_unavailable, 11};
    fill_response_fields(res, busy);
    res.body() = busy.body;
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(milliseconds(options.http.write_timeout_ms));
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> HttpServer::Impl::serve(tcp::socket socket) {
    const std::string remote = remote_of(socket);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        if (stopping.load()) break;
        // Idle keep-alive wait: at most idle_timeout for the next request's first byte.
        if (buffer.size() == 0) {
            stream.expires_after(milliseconds(options.http.idle_timeout_ms));
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096),
                                                           asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            buffer.commit(n);
        }
        http::request_parser<http::string_body> parser;
        parser.header_limit(options.http.max_header_bytes);
        parser.body_limit(options.http.max_body_bytes);
        const auto start = Clock::now();
        stream.expires_after(milliseconds(options.http.read_timeout_ms));
        auto [read_error, read_bytes] =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        (void)read_bytes;
        std::optional<HttpResponse> refusal;
        if (read_error == http::error::body_limit) {
            refusal =
                error_response(413, "request body larger than the limit of " +
                                        std::to_string(options.http.max_body_bytes) + " bytes");
        } else if (read_error == http::error::header_limit) {
            refusal =
                error_response(431, "request headers larger than the limit of " +
                                        std::to_string(options.http.max_header_bytes) + " bytes");
        } else if (read_error == beast::error::timeout ||
                   read_error == http::error::end_of_stream || read_error == asio::error::eof ||
                   read_error == asio::error::connection_reset ||
                   read_error == asio::error::operation_aborted) {
            break;
        } else if (read_error) {
            refusal = error_response(400, "bad HTTP request: " + read_error.message());
        }
        if (refusal) {
            http::response<http::string_body> res{to_status(refusal->status), 11};
            fill_response_fields(res, *refusal);
            add_common_headers(res.base());
            res.body() = refusal->body;
            res.keep_alive(false);
            res.prepare_payload();
            stream.expires_after(milliseconds(options.http.write_timeout_ms));
            co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            DSV4_LOG_INFO("%s - - %d 0ms %s", remote.c_str(), refusal->status,
                          read_error.message().c_str());
            break;
        }
        const http::request<http::string_body>& req = parser.get();
        const HttpRequest request = to_request(req, remote);
        const bool keep_alive = req.keep_alive();

        const auto strand = stream.get_executor();
        auto timer = std::make_shared<asio::steady_timer>(strand);
        std::optional<Clock::time_point> deadline;
        if (options.request_timeout.count() > 0) deadline = start + options.request_timeout;
        auto exchange = std::make_shared<ConnectionExchange>(
            deadline, [timer, strand] { asio::post(strand, [timer] { timer->cancel(); }); },
            stopping);
        {
            std::lock_guard lock(exchanges_mutex);
            exchanges.remove_if([](const auto& weak) { return weak.expired(); });
            exchanges.push_back(exchange);
        }
        deliveries.fetch_add(1);
        if (std::optional<HttpResponse> own = precheck(request)) {
            exchange->respond(std::move(*own));
        } else {
            try {
                handler.handle(request, handler_view(exchange));
            } catch (const std::exception& e) {
                DSV4_LOG_ERROR("%s %s: handler failed: %s", request.method.c_str(),
                               request.target.c_str(), e.what());
                exchange->respond(error_response(500, std::string("internal error: ") + e.what()));
            }
        }
        int status = 0;
        bool connection_usable = false;
        try {
            connection_usable = co_await deliver(stream, exchange, *timer, status);
        } catch (...) {
            deliveries.fetch_sub(1);
            throw;
        }
        deliveries.fetch_sub(1);
        const auto elapsed_ms =
            std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
        DSV4_LOG_INFO("%s %s %s %d %lldms %s", remote.c_str(), request.method.c_str(),
                      request.target.c_str(), status, static_cast<long long>(elapsed_ms),
                      exchange->log_detail().c_str());
        if (!connection_usable || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
}

// Writes the exchange's answer as it is produced. Returns whether the connection can serve
// another request.
// The coroutine runs on the connection's strand and the exchange posts its wake-up (a cancel of
// wake_timer) to the same strand, so a wake-up can never slip in between the check of the
// mailbox and the wait.
asio::awaitable<bool> HttpServer::Impl::deliver(beast::tcp_stream& stream,
                                                const std::shared_ptr<ConnectionExchange>& exchange,
                                                asio::steady_timer& wake_timer, int& status) {
    bool header_sent = false;
    bool watching_peer = false;
    auto last_write = Clock::now();
    const milliseconds keepalive = options.keepalive_interval;
    const milliseconds write_timeout{options.http.write_timeout_ms};

    auto write_failed = [&] {
        exchange->mark_client_gone();
        return false;
    };
    // Notices a peer that closes while its answer is being produced.
    auto watch_peer = [&] {
        if (watching_peer) return;
        watching_peer = true;
        stream.socket().async_wait(
            tcp::socket::wait_read, [exchange, &stream, this](boost::system::error_code ec) {
                if (ec == asio::error::operation_aborted) return;
                char probe;
                boost::system::error_code peek_error;
                const size_t n = stream.socket().receive(asio::buffer(&probe, 1),
                                                         tcp::socket::message_peek, peek_error);
                if (ec || peek_error || n == 0) exchange->mark_client_gone();
                (void)this;
            });
    };
    struct WatchGuard {
        beast::tcp_stream& stream;
        ~WatchGuard() {
            boost::system::error_code ignored;
            stream.socket().cancel(ignored);
        }
    } guard{stream};

    for (;;) {
        Pending pending = exchange->take();
        if (pending.whole) {
            HttpResponse& answer = *pending.whole;
            status = answer.status;
            if (exchange->state() == ExchangeEnd::ClientGone) co_return false;
            boost::system::error_code ignored;
            stream.socket().cancel(ignored);
            http::response<http::string_body> res{to_status(answer.status), 11};
            fill_response_fields(res, answer);
            add_common_headers(res.base());
            res.body() = std::move(answer.body);
            res.keep_alive(!stopping.load());
            res.prepare_payload();
            stream.expires_after(write_timeout);
            auto [ec, n] =
                co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) co_return write_failed();
            co_return !stopping.load();
        }
        if (pending.stream_begun && !header_sent) {
            status = 200;
            boost::system::error_code ignored;
            stream.socket().cancel(ignored);
            watching_peer = false;
            http::response<http::empty_body> res{http::status::ok, 11};
            res.set(http::field::server, "dsv4d");
            res.set(http::field::content_type, "text/event-stream");
            res.set(http::field::cache_control, "no-cache");
            res.set("X-Accel-Buffering", "no");
            for (const auto& [name, value] : pending.stream_headers) res.insert(name, value);
            add_common_headers(res.base());
            res.chunked(true);
            http::response_serializer<http::empty_body> serializer{res};
            stream.expires_after(write_timeout);
            auto [ec, n] = co_await http::async_write_header(stream, serializer,
                                                             asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) co_return write_failed();
            header_sent = true;
            last_write = Clock::now();
        }
        if (header_sent && !pending.bytes.empty()) {
            boost::system::error_code ignored;
            stream.socket().cancel(ignored);
            watching_peer = false;
            stream.expires_after(write_timeout);
            auto [ec, n] =
                co_await asio::async_write(stream, http::make_chunk(asio::buffer(pending.bytes)),
                                           asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) co_return write_failed();
            last_write = Clock::now();
        }
        if (header_sent && pending.stream_ended) {
            stream.expires_after(write_timeout);
            auto [ec, n] = co_await asio::async_write(stream, http::make_chunk_last(),
                                                      asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) co_return write_failed();
            co_return !stopping.load();
        }
        const ExchangeEnd state = exchange->state();
        if (state == ExchangeEnd::ClientGone) co_return false;
        const auto now = Clock::now();
        if (state == ExchangeEnd::TimedOut && now >= *exchange->deadline() + kTimeoutAnswerDelay) {
            if (!header_sent) {
                exchange->respond(error_response(504, "request timed out"));
                continue;
            }
            exchange->end();
            continue;
        }
        if (header_sent && now - last_write >= keepalive) {
            stream.expires_after(write_timeout);
            auto [ec, n] = co_await asio::async_write(
                stream, http::make_chunk(asio::buffer(kKeepaliveComment)),
                asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (ec) co_return write_failed();
            last_write = Clock::now();
            continue;
        }
        watch_peer();
        // Sleep until the exchange wakes us, the next keepalive is due or the deadline checks.
        auto wait = milliseconds(250);
        if (header_sent)
            wait = std::min(
                wait, std::chrono::duration_cast<milliseconds>(keepalive - (now - last_write)) +
                          milliseconds(1));
        wake_timer.expires_after(wait);
        co_await wake_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

HttpServer::~HttpServer() {
    stop(milliseconds(0));
}

void HttpServer::start() {
    if (impl_->started) throw std::logic_error("HttpServer::start called twice");
    const std::string address =
        impl_->options.http.host + ":" + std::to_string(impl_->options.http.port);
    try {
        std::string host = impl_->options.http.host;
        if (host == "localhost") host = "127.0.0.1";
        const tcp::endpoint endpoint(asio::ip::make_address(host), impl_->options.http.port);
        impl_->acceptor.open(endpoint.protocol());
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
        impl_->acceptor.bind(endpoint);
        impl_->acceptor.listen(asio::socket_base::max_listen_connections);
        impl_->bound_port = impl_->acceptor.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on " + address + ": " + e.code().message());
    }
    impl_->started = true;
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    const uint32_t n_threads = std::max<uint32_t>(1, impl_->options.http.io_threads);
    for (uint32_t i = 0; i < n_threads; ++i)
        impl_->threads.emplace_back([this] { impl_->io.run(); });
}

uint16_t HttpServer::port() const {
    return impl_->bound_port;
}

size_t HttpServer::open_connections() const {
    return impl_->connections.load();
}

void HttpServer::stop(milliseconds grace) {
    if (!impl_->started || impl_->stopped) return;
    impl_->stopped = true;
    impl_->stopping.store(true);
    asio::post(impl_->io, [this] {
        boost::system::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    {
        std::lock_guard lock(impl_->exchanges_mutex);
        for (const auto& weak : impl_->exchanges)
            if (auto exchange = weak.lock()) exchange->wake();
    }
    const auto until = Clock::now() + grace;
    while (impl_->deliveries.load() > 0 && Clock::now() < until)
        std::this_thread::sleep_for(milliseconds(5));
    impl_->io.stop();
    for (std::thread& thread : impl_->threads) thread.join();
    impl_->threads.clear();
}

}  // namespace dsv4::server
