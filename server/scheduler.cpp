#include "server/scheduler.h"

#include <exception>

#include "engine/common/log.h"

namespace dsv4::server {

Scheduler::Scheduler(generate::Generator& generator, uint32_t queue_length)
    : generator_(generator), queue_length_(queue_length), worker_([this] { work(); }) {}

Scheduler::~Scheduler() {
    shutdown(std::chrono::milliseconds(0));
}

bool Scheduler::try_submit(std::shared_ptr<EngineJob> job) {
    {
        std::lock_guard lock(mutex_);
        if (closing_) return false;
        // The running job takes no queue place; an idle worker takes one job at once.
        if (queue_.size() >= queue_length_ + (running_ ? 0u : 1u)) return false;
        queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

size_t Scheduler::queue_depth() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

bool Scheduler::running_job() const {
    std::lock_guard lock(mutex_);
    return running_;
}

void Scheduler::work() {
    for (;;) {
        std::shared_ptr<EngineJob> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            running_ = true;
        }
        try {
            if (job->cancelled())
                job->drop(499, "the client went away while queued");
            else
                job->run(generator_, stop_now_);
        } catch (const std::exception& e) {
            DSV4_LOG_ERROR("engine job failed: %s", e.what());
        }
        job.reset();
        {
            std::lock_guard lock(mutex_);
            running_ = false;
        }
        idle_.notify_all();
    }
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
    std::deque<std::shared_ptr<EngineJob>> dropped;
    {
        std::lock_guard lock(mutex_);
        if (closing_ && !worker_.joinable()) return;
        closing_ = true;
        dropped.swap(queue_);
    }
    wake_.notify_all();
    for (const auto& job : dropped) job->drop(503, "server shutting down");
    {
        std::unique_lock lock(mutex_);
        if (!idle_.wait_for(lock, grace, [&] { return !running_; })) stop_now_.store(true);
    }
    if (worker_.joinable()) worker_.join();
}

}  // namespace dsv4::server
