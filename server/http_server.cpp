#include "server/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "engine/common/log.h"
#include "server/http_auth.h"
#include "server/http_exchange.h"

namespace dsv4::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kKeepaliveComment = ": keepalive\n\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
// A timed-out request whose route stays silent this long past the limit is answered here.
constexpr milliseconds kTimeoutAnswerDelay{2000};
// After an error answer the connection reads (and drops) what the client still sends for at
// most this long, so that closing does not reset the connection before the answer is read.
constexpr milliseconds kMaxLinger{1000};
// After stop() closed every connection, how long the I/O threads get to unwind them.
constexpr milliseconds kCloseWait{1000};
// Bytes a client may send ahead (pipelining) while its answer is produced; beyond this the
// connection stops reading until the answer is written.
constexpr size_t kMaxBytesKeptWhileWaiting = 64u << 10;
// A wait with no keepalive or deadline due: only a wake-up (or stop) ends it.
constexpr auto kUntilWoken = std::chrono::hours(24);
constexpr milliseconds kAcceptRetryDelay{100};

// One accepted connection. Every member but wake_queued is used on the connection's strand only.
struct Connection {
    explicit Connection(tcp::socket socket, std::string remote_address)
        : stream(std::move(socket)),
          wake_timer(stream.get_executor()),
          remote(std::move(remote_address)) {}

    beast::tcp_stream stream;
    beast::flat_buffer buffer;  // bytes read past the current request
    asio::steady_timer wake_timer;
    const std::string remote;
    std::shared_ptr<ServerExchange> exchange;  // the request being answered, if any
    std::array<char, 4096> watch_bytes{};
    std::atomic<bool> wake_queued{false};  // any thread: a wake-up is already posted
    bool watching = false;                 // a read that notices the peer closing is outstanding
    bool peer_gone = false;                // the peer closed or the socket failed
    bool closed = false;                   // closed by stop()
};

struct Delivery {
    int status = 0;
    bool reusable = false;  // the connection may serve another request
};

template <class Socket>
std::string remote_of(const Socket& socket) {
    boost::system::error_code ec;
    const tcp::endpoint endpoint = socket.remote_endpoint(ec);
    if (ec) return "?";
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

HttpRequest to_request(const http::request<http::string_body>& message, const std::string& remote) {
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.path = request.target.substr(0, request.target.find('?'));
    for (const auto& field : message)
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    request.body = message.body();
    request.remote_address = remote;
    return request;
}

bool body_forbidden(int status) {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

bool is_http_parse_error(const beast::error_code& ec) {
    return &ec.category() == &http::make_error_code(http::error::bad_method).category();
}

// The answer to a request that could not be read: 413, 431 or 400; nothing for a timeout or a
// peer that went away (there is no one to tell).
std::optional<HttpResponse> refusal_for(const beast::error_code& ec,
                                        const config::HttpConfig& limits) {
    if (ec == http::error::body_limit)
        return error_response(413,
                              "request body larger than the limit of " +
                                  std::to_string(limits.max_body_bytes) +
                                  " bytes (http.max_body_bytes)",
                              {}, "request_too_large");
    if (ec == http::error::header_limit)
        return error_response(431,
                              "request headers larger than the limit of " +
                                  std::to_string(limits.max_header_bytes) +
                                  " bytes (http.max_header_bytes)",
                              {}, "headers_too_large");
    if (is_http_parse_error(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
        return error_response(400, "malformed HTTP request: " + ec.message());
    return std::nullopt;
}

void append_chunk(std::string& wire, std::string_view payload) {
    char size_hex[24];
    const int n = std::snprintf(size_hex, sizeof size_hex, "%zx\r\n", payload.size());
    wire.append(size_hex, static_cast<size_t>(n));
    wire.append(payload);
    wire.append("\r\n");
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

}  // namespace

struct HttpServer::Impl {
    HttpServerOptions options;
    RequestHandler& handler;
    asio::io_context io;
    tcp::acceptor acceptor{asio::make_strand(io)};
    std::vector<std::thread> threads;
    // Shared with every exchange, which may outlive the server.
    std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
    std::atomic<size_t> open_connections{0};
    uint16_t bound_port = 0;
    bool started = false;
    bool stopped = false;

    std::mutex registry_mutex;
    std::condition_variable registry_changed;
    std::list<std::weak_ptr<Connection>> connections;
    std::list<std::weak_ptr<ServerExchange>> exchanges;
    size_t answers_in_flight = 0;

    Impl(HttpServerOptions o, RequestHandler& h) : options(std::move(o)), handler(h) {}

    milliseconds read_timeout() const { return milliseconds(options.http.read_timeout_ms); }
    milliseconds write_timeout() const { return milliseconds(options.http.write_timeout_ms); }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> refuse(std::shared_ptr<Connection> connection);
    asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
    asio::awaitable<std::optional<HttpRequest>> read_request(Connection& connection,
                                                             Clock::time_point read_deadline,
                                                             bool& keep_alive);
    asio::awaitable<Delivery> answer(const std::shared_ptr<Connection>& connection,
                                     const HttpRequest& request, bool keep_alive);
    asio::awaitable<Delivery> deliver(const std::shared_ptr<Connection>& connection,
                                      ServerExchange& exchange, bool keep_alive);
    asio::awaitable<beast::error_code> write_whole(Connection& connection, HttpResponse response,
                                                   bool keep_alive);
    asio::awaitable<beast::error_code> write_stream_header(Connection& connection,
                                                           const HeaderList& extra_headers,
                                                           bool keep_alive);
    asio::awaitable<beast::error_code> write_bytes(Connection& connection,
                                                   const std::string& bytes);
    asio::awaitable<void> linger_close(Connection& connection);
    asio::awaitable<void> stop_watching(Connection& connection);
    void watch_peer(const std::shared_ptr<Connection>& connection);

    std::optional<HttpResponse> own_answer(const HttpRequest& request) const;
    std::shared_ptr<ServerExchange> open_exchange(const std::shared_ptr<Connection>& connection,
                                                  std::optional<Clock::time_point> deadline);
    void add_cors_headers(http::fields& fields) const;
    void close_connections(bool only_idle);
    template <class Predicate>
    bool wait_registry(milliseconds limit, Predicate done);
};

void HttpServer::Impl::add_cors_headers(http::fields& fields) const {
    if (options.http.cors_origin.empty()) return;
    fields.set(http::field::access_control_allow_origin, options.http.cors_origin);
    fields.set(http::field::vary, "Origin");
}

// The layer's own answers, before any route: CORS preflight (browsers send it without
// credentials, so it precedes the key check) and API keys.
std::optional<HttpResponse> HttpServer::Impl::own_answer(const HttpRequest& request) const {
    if (request.method == "OPTIONS" && !options.http.cors_origin.empty() &&
        !request.header("Origin").empty() &&
        !request.header("Access-Control-Request-Method").empty()) {
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

std::shared_ptr<ServerExchange> HttpServer::Impl::open_exchange(
    const std::shared_ptr<Connection>& connection, std::optional<Clock::time_point> deadline) {
    // The route may call in from any thread: the wake-up is posted to the connection's strand,
    // where the connection checks its mailbox and then waits on the timer without yielding in
    // between, so no wake-up is lost.
    // A burst of sends from the engine posts one wake-up: the flag is cleared before the timer
    // is cancelled, so output queued after the clear posts again.
    std::weak_ptr<Connection> weak = connection;
    auto exchange = std::make_shared<ServerExchange>(deadline, stopping, [weak] {
        auto alive = weak.lock();
        if (!alive || alive->wake_queued.exchange(true)) return;
        asio::post(alive->stream.get_executor(), [alive] {
            alive->wake_queued.store(false);
            alive->wake_timer.cancel();
        });
    });
    std::lock_guard lock(registry_mutex);
    exchanges.remove_if([](const auto& entry) { return entry.expired(); });
    exchanges.push_back(exchange);
    return exchange;
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io),
                                                           asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (stopping->load() || ec == asio::error::operation_aborted || !acceptor.is_open())
                co_return;
            // Out of descriptors, typically: retrying at once would only spin.
            DSV4_LOG_WARN("accept failed: %s", ec.message().c_str());
            asio::steady_timer pause(acceptor.get_executor(), kAcceptRetryDelay);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        std::string remote = remote_of(socket);
        auto connection =
            std::make_shared<Connection>(tcp::socket(std::move(socket)), std::move(remote));
        const auto executor = connection->stream.get_executor();
        if (open_connections.load() >= options.http.max_connections) {
            asio::co_spawn(executor, refuse(connection), asio::detached);
            continue;
        }
        open_connections.fetch_add(1);
        {
            std::lock_guard lock(registry_mutex);
            connections.remove_if([](const auto& entry) { return entry.expired(); });
            connections.push_back(connection);
        }
        asio::co_spawn(executor, serve(connection), [this, connection](std::exception_ptr error) {
            if (error) {
                try {
                    std::rethrow_exception(error);
                } catch (const std::exception& e) {
                    DSV4_LOG_ERROR("%s: connection failed: %s", connection->remote.c_str(),
                                   e.what());
                } catch (...) {
                    DSV4_LOG_ERROR("%s: connection failed", connection->remote.c_str());
                }
            }
            std::lock_guard lock(registry_mutex);
            open_connections.fetch_sub(1);
            registry_changed.notify_all();
        });
    }
}

asio::awaitable<void> HttpServer::Impl::refuse(std::shared_ptr<Connection> connection) {
    DSV4_LOG_WARN("%s: refused, %u connections open (max_connections)", connection->remote.c_str(),
                  options.http.max_connections);
    HttpResponse busy = error_response(503, "too many connections: the server allows " +
                                                std::to_string(options.http.max_connections) +
                                                " at a time; retry later");
    busy.headers.emplace_back("Retry-After", "1");
    if (!co_await write_whole(*connection, std::move(busy), false))
        co_await linger_close(*connection);
}

asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<Connection> connection) {
    Connection& c = *connection;
    // The first request must be complete within read_timeout of the accept; later ones get
    // idle_timeout to start and read_timeout from their first byte.
    auto read_deadline = Clock::now() + read_timeout();
    for (bool first = true; !stopping->load(); first = false) {
        if (!first && c.buffer.size() == 0) {
            c.stream.expires_after(milliseconds(options.http.idle_timeout_ms));
            auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(4096),
                                                             asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            c.buffer.commit(n);
            read_deadline = Clock::now() + read_timeout();
        }
        bool keep_alive = false;
        std::optional<HttpRequest> request = co_await read_request(c, read_deadline, keep_alive);
        if (!request) break;
        const Delivery delivery = co_await answer(connection, *request, keep_alive);
        if (!delivery.reusable || c.closed) break;
        co_await stop_watching(c);
        if (c.peer_gone) break;
        read_deadline = Clock::now() + read_timeout();
    }
    beast::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c.stream.close();
}

// Reads one request. On a size or syntax error it answers it and closes (nullopt); on timeout
// or a closed peer it returns nullopt silently.
asio::awaitable<std::optional<HttpRequest>> HttpServer::Impl::read_request(
    Connection& c, Clock::time_point read_deadline, bool& keep_alive) {
    const auto started = Clock::now();
    http::request_parser<http::string_body> parser;
    parser.header_limit(options.http.max_header_bytes);
    parser.body_limit(options.http.max_body_bytes);
    c.stream.expires_at(read_deadline);
    auto [ec, n_header] = co_await http::async_read_header(c.stream, c.buffer, parser,
                                                           asio::as_tuple(asio::use_awaitable));
    (void)n_header;
    if (!ec && !parser.is_done()) {
        // Clients such as curl hold large bodies back until told to go on.
        const auto expect = parser.get()[http::field::expect];
        if (beast::iequals(expect, "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            c.stream.expires_after(write_timeout());
            auto [write_error, n] = co_await asio::async_write(c.stream, asio::buffer(kContinue),
                                                               asio::as_tuple(asio::use_awaitable));
            (void)n;
            if (write_error) co_return std::nullopt;
        }
        c.stream.expires_at(read_deadline);
        auto [body_error, n_body] = co_await http::async_read(c.stream, c.buffer, parser,
                                                              asio::as_tuple(asio::use_awaitable));
        (void)n_body;
        ec = body_error;
    }
    if (!ec) {
        keep_alive = parser.get().keep_alive();
        co_return to_request(parser.get(), c.remote);
    }
    std::optional<HttpResponse> refusal = refusal_for(ec, options.http);
    if (!refusal) {
        if (ec == beast::error::timeout)
            DSV4_LOG_INFO("%s: request not complete within %u ms, closed", c.remote.c_str(),
                          options.http.read_timeout_ms);
        co_return std::nullopt;
    }
    const int status = refusal->status;
    const bool header_known = parser.is_header_done();
    const std::string method = header_known ? std::string(parser.get().method_string()) : "-";
    const std::string target = header_known ? std::string(parser.get().target()) : "-";
    const beast::error_code write_error = co_await write_whole(c, std::move(*refusal), false);
    DSV4_LOG_INFO("%s %s %s %d %lldms %s", c.remote.c_str(), method.c_str(), target.c_str(), status,
                  elapsed_ms(started), ec.message().c_str());
    if (!write_error) co_await linger_close(c);
    co_return std::nullopt;
}

asio::awaitable<Delivery> HttpServer::Impl::answer(const std::shared_ptr<Connection>& connection,
                                                   const HttpRequest& request, bool keep_alive) {
    const auto started = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (options.request_timeout.count() > 0) deadline = started + options.request_timeout;
    auto exchange = open_exchange(connection, deadline);
    connection->exchange = exchange;
    {
        std::lock_guard lock(registry_mutex);
        ++answers_in_flight;
    }
    if (std::optional<HttpResponse> own = own_answer(request)) {
        exchange->respond(std::move(*own));
    } else {
        // The handle lives in this scope only, so that a route that keeps no copy has dropped
        // the request by the time the answer is awaited.
        std::shared_ptr<Exchange> handle = ServerExchange::route_handle(exchange);
        try {
            handler.handle(request, handle);
        } catch (const std::exception& e) {
            DSV4_LOG_ERROR("%s %s %s: the handler threw: %s", connection->remote.c_str(),
                           request.method.c_str(), request.target.c_str(), e.what());
            exchange->respond(error_response(500, std::string("internal error: ") + e.what()));
        } catch (...) {
            DSV4_LOG_ERROR("%s %s %s: the handler threw a non-standard exception",
                           connection->remote.c_str(), request.method.c_str(),
                           request.target.c_str());
            exchange->respond(error_response(500, "internal error"));
        }
    }
    Delivery delivery{};
    try {
        delivery = co_await deliver(connection, *exchange, keep_alive);
    } catch (...) {
        // The connection is lost: the route must learn it instead of producing into the void.
        exchange->mark_client_gone();
        std::lock_guard lock(registry_mutex);
        --answers_in_flight;
        registry_changed.notify_all();
        throw;
    }
    connection->exchange.reset();
    {
        std::lock_guard lock(registry_mutex);
        --answers_in_flight;
        registry_changed.notify_all();
    }
    const std::string detail = exchange->log_detail();
    DSV4_LOG_INFO("%s %s %s %d %lldms %s", connection->remote.c_str(), request.method.c_str(),
                  request.target.c_str(), delivery.status, elapsed_ms(started), detail.c_str());
    co_return delivery;
}

// Writes the exchange's answer as it is produced: a whole response, or a stream's header,
// chunks and last chunk; keepalive comments while a stream is silent; the layer's own 504 when
// a timed-out route stays silent.
asio::awaitable<Delivery> HttpServer::Impl::deliver(const std::shared_ptr<Connection>& connection,
                                                    ServerExchange& exchange, bool keep_alive) {
    Connection& c = *connection;
    Delivery delivery;
    bool header_sent = false;
    bool timeout_handled = false;
    auto last_write = Clock::now();
    const milliseconds keepalive = options.keepalive_interval;
    const auto failed = [&] {
        exchange.mark_client_gone();
        return delivery;
    };
    for (;;) {
        if (c.closed) co_return delivery;
        ExchangeOutput output = exchange.take();
        if (output.whole) {
            delivery.status = output.whole->status;
            const bool reuse = keep_alive && !stopping->load() && !c.peer_gone;
            if (co_await write_whole(c, std::move(*output.whole), reuse)) co_return failed();
            delivery.reusable = reuse;
            co_return delivery;
        }
        if (output.stream_begun) {
            delivery.status = 200;
            if (co_await write_stream_header(c, output.stream_headers,
                                             keep_alive && !stopping->load()))
                co_return failed();
            header_sent = true;
            last_write = Clock::now();
        }
        std::string wire;
        if (!output.stream_bytes.empty()) append_chunk(wire, output.stream_bytes);
        if (output.stream_ended) wire.append(kLastChunk);
        if (!wire.empty()) {
            if (co_await write_bytes(c, wire)) co_return failed();
            last_write = Clock::now();
        }
        if (output.stream_ended) {
            delivery.reusable = keep_alive && !stopping->load() && !c.peer_gone;
            co_return delivery;
        }
        if (c.peer_gone) co_return delivery;
        // A write suspends this coroutine, and a wake-up that arrives meanwhile finds no wait to
        // cancel: look at the mailbox again before waiting.
        if (output.stream_begun || !wire.empty()) continue;

        const auto now = Clock::now();
        const auto deadline = exchange.deadline();
        if (deadline && !timeout_handled && now >= *deadline + kTimeoutAnswerDelay) {
            timeout_handled = true;
            if (exchange.answered()) {
                exchange.end();
            } else {
                exchange.respond(error_response(
                    504,
                    "request timed out after " + std::to_string(options.request_timeout.count()) +
                        " ms (scheduler.request_timeout_ms)",
                    {}, "request_timeout"));
            }
            continue;
        }
        if (header_sent && keepalive.count() > 0 && now - last_write >= keepalive) {
            std::string comment;
            append_chunk(comment, kKeepaliveComment);
            if (co_await write_bytes(c, comment)) co_return failed();
            last_write = Clock::now();
            continue;
        }
        watch_peer(connection);
        auto wake_at = now + kUntilWoken;
        if (header_sent && keepalive.count() > 0)
            wake_at = std::min(wake_at, last_write + keepalive);
        if (deadline && !timeout_handled)
            wake_at = std::min(wake_at, *deadline + kTimeoutAnswerDelay);
        c.wake_timer.expires_at(wake_at);
        co_await c.wake_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<beast::error_code> HttpServer::Impl::write_whole(Connection& c,
                                                                 HttpResponse response,
                                                                 bool keep_alive) {
    http::response<http::string_body> message{static_cast<http::status>(response.status), 11};
    message.set(http::field::server, "dsv4d");
    if (body_forbidden(response.status)) {
        response.body.clear();
    } else if (!response.content_type.empty()) {
        message.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) message.insert(name, value);
    add_cors_headers(message.base());
    message.body() = std::move(response.body);
    message.keep_alive(keep_alive);
    message.prepare_payload();
    c.stream.expires_after(write_timeout());
    auto [ec, n] =
        co_await http::async_write(c.stream, message, asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec;
}

asio::awaitable<beast::error_code> HttpServer::Impl::write_stream_header(
    Connection& c, const HeaderList& extra_headers, bool keep_alive) {
    http::response<http::empty_body> message{http::status::ok, 11};
    message.set(http::field::server, "dsv4d");
    message.set(http::field::content_type, "text/event-stream");
    message.set(http::field::cache_control, "no-cache");
    message.set("X-Accel-Buffering", "no");
    for (const auto& [name, value] : extra_headers) message.insert(name, value);
    add_cors_headers(message.base());
    message.keep_alive(keep_alive);
    message.chunked(true);
    http::response_serializer<http::empty_body> serializer{message};
    c.stream.expires_after(write_timeout());
    auto [ec, n] = co_await http::async_write_header(c.stream, serializer,
                                                     asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec;
}

asio::awaitable<beast::error_code> HttpServer::Impl::write_bytes(Connection& c,
                                                                 const std::string& bytes) {
    c.stream.expires_after(write_timeout());
    auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(bytes),
                                              asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec;
}

asio::awaitable<void> HttpServer::Impl::linger_close(Connection& c) {
    beast::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    c.stream.expires_after(std::min(read_timeout(), kMaxLinger));
    std::array<char, 4096> discard;
    for (;;) {
        auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(discard),
                                                         asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) break;
    }
    c.stream.close();
}

// Keeps one read outstanding while an answer is produced: with HTTP/1.1 and no pipelining the
// client sends nothing meanwhile, so end of stream or an error means it went away. Bytes that do
// arrive are kept for the next request.
void HttpServer::Impl::watch_peer(const std::shared_ptr<Connection>& connection) {
    Connection& c = *connection;
    if (c.watching || c.peer_gone || c.closed || c.buffer.size() >= kMaxBytesKeptWhileWaiting)
        return;
    c.watching = true;
    c.stream.socket().async_read_some(
        asio::buffer(c.watch_bytes), [connection](beast::error_code ec, size_t n) {
            Connection& c = *connection;
            c.watching = false;
            if (n > 0) {
                asio::buffer_copy(c.buffer.prepare(n), asio::buffer(c.watch_bytes.data(), n));
                c.buffer.commit(n);
            }
            if (ec && ec != asio::error::operation_aborted && !c.closed) {
                c.peer_gone = true;
                if (c.exchange) c.exchange->mark_client_gone();
            }
            c.wake_timer.cancel();
        });
}

asio::awaitable<void> HttpServer::Impl::stop_watching(Connection& c) {
    while (c.watching) {
        beast::error_code ignored;
        c.stream.socket().cancel(ignored);
        c.wake_timer.expires_after(kMaxLinger);
        co_await c.wake_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

// Posts a close to every connection (only those not answering a request when only_idle).
void HttpServer::Impl::close_connections(bool only_idle) {
    std::lock_guard lock(registry_mutex);
    for (const auto& entry : connections) {
        auto connection = entry.lock();
        if (!connection) continue;
        asio::post(connection->stream.get_executor(), [connection, only_idle] {
            Connection& c = *connection;
            if (only_idle && c.exchange) {
                c.wake_timer.cancel();
                return;
            }
            c.closed = true;
            beast::error_code ignored;
            c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            c.stream.close();
            c.wake_timer.cancel();
        });
    }
}

template <class Predicate>
bool HttpServer::Impl::wait_registry(milliseconds limit, Predicate done) {
    std::unique_lock lock(registry_mutex);
    return registry_changed.wait_for(lock, limit, done);
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

HttpServer::~HttpServer() {
    stop(milliseconds(0));
}

void HttpServer::start() {
    if (impl_->started) throw std::logic_error("HttpServer::start called twice");
    const config::HttpConfig& http = impl_->options.http;
    const std::string address = http.host + ":" + std::to_string(http.port);
    try {
        tcp::resolver resolver(impl_->io);
        const auto results =
            resolver.resolve(http.host, std::to_string(http.port), tcp::resolver::passive);
        const tcp::endpoint endpoint = results.begin()->endpoint();
        impl_->acceptor.open(endpoint.protocol());
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
        impl_->acceptor.bind(endpoint);
        impl_->acceptor.listen(asio::socket_base::max_listen_connections);
        impl_->bound_port = impl_->acceptor.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
        boost::system::error_code ignored;
        impl_->acceptor.close(ignored);
        throw std::runtime_error("cannot listen on " + address + ": " + e.code().message() +
                                 " (http.host / http.port)");
    }
    impl_->started = true;
    asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached);
    const uint32_t n_threads = std::max<uint32_t>(1, http.io_threads);
    for (uint32_t i = 0; i < n_threads; ++i)
        impl_->threads.emplace_back([this] { impl_->io.run(); });
}

uint16_t HttpServer::port() const {
    return impl_->bound_port;
}

size_t HttpServer::open_connections() const {
    return impl_->open_connections.load();
}

void HttpServer::stop(milliseconds grace) {
    Impl& impl = *impl_;
    if (!impl.started || impl.stopped) return;
    impl.stopped = true;
    impl.stopping->store(true);
    asio::post(impl.acceptor.get_executor(), [&impl] {
        boost::system::error_code ignored;
        impl.acceptor.close(ignored);
    });
    {
        // Routes poll state(); the poke lets each connection re-check it now.
        std::lock_guard lock(impl.registry_mutex);
        for (const auto& entry : impl.exchanges)
            if (auto exchange = entry.lock()) exchange->poke();
    }
    impl.close_connections(/*only_idle=*/true);
    impl.wait_registry(grace, [&impl] { return impl.answers_in_flight == 0; });
    impl.close_connections(/*only_idle=*/false);
    impl.wait_registry(kCloseWait, [&impl] { return impl.open_connections.load() == 0; });
    impl.io.stop();
    for (std::thread& thread : impl.threads) thread.join();
    impl.threads.clear();
    boost::system::error_code ignored;
    impl.acceptor.close(ignored);
    std::lock_guard lock(impl.registry_mutex);
    for (const auto& entry : impl.exchanges)
        if (auto exchange = entry.lock()) exchange->detach();
}

}  // namespace dsv4::server
