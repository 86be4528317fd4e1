#include "server/http_exchange.h"

#include <utility>

namespace dsv4::server {

ServerExchange::ServerExchange(std::optional<Clock::time_point> deadline,
                               std::shared_ptr<const std::atomic<bool>> server_stopping,
                               std::function<void()> wake)
    : wake_(std::move(wake)), deadline_(deadline), server_stopping_(std::move(server_stopping)) {}

void ServerExchange::wake_locked() {
    if (wake_) wake_();
}

void ServerExchange::respond(HttpResponse response) {
    std::lock_guard lock(mutex_);
    if (answered_) return;
    answered_ = true;
    finished_ = true;
    pending_.whole = std::move(response);
    wake_locked();
}

void ServerExchange::begin_stream(HeaderList extra_headers) {
    std::lock_guard lock(mutex_);
    if (answered_) return;
    answered_ = true;
    streaming_ = true;
    pending_.stream_begun = true;
    pending_.stream_headers = std::move(extra_headers);
    wake_locked();
}

void ServerExchange::send(std::string bytes) {
    std::lock_guard lock(mutex_);
    if (!streaming_ || finished_ || bytes.empty()) return;
    pending_.stream_bytes += bytes;
    wake_locked();
}

void ServerExchange::end() {
    std::lock_guard lock(mutex_);
    if (!streaming_ || finished_) return;
    finished_ = true;
    pending_.stream_ended = true;
    wake_locked();
}

ExchangeEnd ServerExchange::state() const {
    if (client_gone_.load()) return ExchangeEnd::ClientGone;
    if (server_stopping_->load()) return ExchangeEnd::ShuttingDown;
    if (deadline_ && Clock::now() >= *deadline_) return ExchangeEnd::TimedOut;
    return ExchangeEnd::Open;
}

void ServerExchange::set_log_detail(std::string detail) {
    std::lock_guard lock(mutex_);
    log_detail_ = std::move(detail);
}

ExchangeOutput ServerExchange::take() {
    std::lock_guard lock(mutex_);
    return std::exchange(pending_, ExchangeOutput{});
}

bool ServerExchange::answered() const {
    std::lock_guard lock(mutex_);
    return answered_;
}

bool ServerExchange::finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
}

std::string ServerExchange::log_detail() const {
    std::lock_guard lock(mutex_);
    return log_detail_;
}

void ServerExchange::mark_client_gone() {
    std::lock_guard lock(mutex_);
    client_gone_.store(true);
    wake_locked();
}

void ServerExchange::poke() {
    std::lock_guard lock(mutex_);
    wake_locked();
}

void ServerExchange::detach() {
    std::lock_guard lock(mutex_);
    wake_ = nullptr;
}

std::shared_ptr<Exchange> ServerExchange::route_handle(
    const std::shared_ptr<ServerExchange>& exchange) {
    // An aliasing owner whose "deleter" only answers for a route that forgot to: the exchange
    // itself stays owned by the connection.
    return std::shared_ptr<Exchange>(exchange.get(), [exchange](Exchange*) {
        if (!exchange->answered())
            exchange->respond(
                error_response(500, "request dropped: the server produced no answer"));
        else
            exchange->end();
    });
}

}  // namespace dsv4::server
