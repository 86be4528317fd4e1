// The engine-wide worker pool: a fixed set of threads that split index ranges into contiguous
// chunks. It owns scheduling only; what a chunk computes, and so every numeric result, belongs to
// the caller, so results never depend on the thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dsv4 {

class ThreadPool {
  public:
    // n_threads == 0 means one per online CPU. The calling thread is one of the n_threads.
    explicit ThreadPool(unsigned n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return n_threads_; }

    // Calls fn(begin, end) over [0, n_items) split into at most size() contiguous chunks whose
    // boundaries are multiples of grain (the last chunk takes the remainder). Blocks until all
    // chunks are done. Calls from inside a chunk run serially on the calling thread.
    using RangeFn = std::function<void(int64_t begin, int64_t end)>;
    void parallel_for(int64_t n_items, int64_t grain, const RangeFn& fn);

    // Calls fn(begin, end) over [0, n_items) in contiguous pieces that the threads claim one
    // after another until none is left, each a share of the items still unclaimed (at least
    // grain items, boundaries multiples of grain, the last piece takes the remainder): a
    // thread that runs slower (a busier core, slower memory) takes less instead of holding the
    // others at the barrier. Which thread runs an item varies from call to call, so fn must
    // give every item the same result wherever it runs. Blocks until all pieces are done;
    // nested calls run serially.
    void parallel_for_dynamic(int64_t n_items, int64_t grain, const RangeFn& fn);

    static unsigned default_thread_count();

  private:
    void worker_loop(unsigned index);
    void run_chunk(unsigned index);
    void run_pieces();
    // Wakes the workers for the job described in the job_ fields and runs the calling thread's
    // share; returns when every worker is done.
    void dispatch();

    unsigned n_threads_;
    std::vector<std::thread> workers_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<unsigned> pending_{0};
    std::atomic<bool> stopping_{false};

    // The job of the current generation; written by the caller before generation_ is bumped.
    const RangeFn* job_ = nullptr;
    int64_t job_items_ = 0;
    int64_t job_grain_ = 1;
    unsigned job_chunks_ = 0;             // 0: the job's pieces are claimed through next_piece_
    std::atomic<int64_t> next_piece_{0};  // first group of grain items not yet claimed
};

}  // namespace dsv4
