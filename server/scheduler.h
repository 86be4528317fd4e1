// The bounded FIFO of engine jobs and the single worker thread that runs them one at a time on
// the live sequence. Owns the queue, the worker and shutdown order; must not know HTTP, JSON or
// how a job answers its client.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

namespace dsv4::generate {
class Generator;
}

namespace dsv4::server {

// A unit of engine work. run() and drop() are called on the worker thread, exactly one of them.
class EngineJob {
  public:
    virtual ~EngineJob() = default;
    // Cancelled jobs still queued are dropped rather than run.
    virtual bool cancelled() const = 0;
    // `stop_now` turns true when the daemon's shutdown grace has passed: cancel at once.
    virtual void run(generate::Generator& generator, const std::atomic<bool>& stop_now) = 0;
    // The job will not run: `status` (503 shutting down, 499-like client gone) and why.
    virtual void drop(int status, std::string_view reason) = 0;
};

class Scheduler {
  public:
    // `generator` must outlive the scheduler; queue_length jobs may wait behind the running one.
    Scheduler(generate::Generator& generator, uint32_t queue_length);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // False when the queue is full or shutdown has begun.
    bool try_submit(std::shared_ptr<EngineJob> job);
    size_t queue_depth() const;
    bool running_job() const;
    // Stops taking jobs, drops the queued ones (503), gives the running one `grace` to finish,
    // then asks it to stop now, and joins the worker.
    void shutdown(std::chrono::milliseconds grace);

  private:
    void work();

    generate::Generator& generator_;
    const uint32_t queue_length_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<std::shared_ptr<EngineJob>> queue_;
    bool running_ = false;
    bool closing_ = false;
    std::atomic<bool> stop_now_{false};
    std::thread worker_;
};

}  // namespace dsv4::server
