#include "engine/common/thread_pool.h"

#include <algorithm>

namespace dsv4 {
namespace {
thread_local bool t_inside_pool_job = false;

// Spinning a little before sleeping keeps the wake-up latency of back-to-back matvecs short.
constexpr int kSpinIterations = 20000;
// Past this many spins a waiting thread yields its core: on a busy machine a spinning thread
// otherwise holds the core another worker of the same job needs.
constexpr int kPauseSpins = 2000;

inline void spin_wait(int spin) {
    if (spin < kPauseSpins)
        __builtin_ia32_pause();
    else
        std::this_thread::yield();
}
}  // namespace

unsigned ThreadPool::default_thread_count() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

ThreadPool::ThreadPool(unsigned n_threads)
    : n_threads_(n_threads == 0 ? default_thread_count() : n_threads) {
    workers_.reserve(n_threads_ - 1);
    for (unsigned i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_.store(true, std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_pieces() {
    const int64_t n_groups = (job_items_ + job_grain_ - 1) / job_grain_;
    // Each claim takes a share of what is left: the first pieces are long (few claims, long
    // contiguous streams), the last ones a single group (the threads finish together).
    const int64_t share_divisor = 2 * static_cast<int64_t>(n_threads_);
    t_inside_pool_job = true;
    int64_t first = next_piece_.load(std::memory_order_relaxed);
    for (;;) {
        int64_t take = 0;
        do {
            if (first >= n_groups) break;
            take = std::max<int64_t>(1, (n_groups - first) / share_divisor);
        } while (
            !next_piece_.compare_exchange_weak(first, first + take, std::memory_order_relaxed));
        if (first >= n_groups) break;
        (*job_)(first * job_grain_, std::min(job_items_, (first + take) * job_grain_));
        first = next_piece_.load(std::memory_order_relaxed);
    }
    t_inside_pool_job = false;
}

void ThreadPool::run_chunk(unsigned index) {
    if (job_chunks_ == 0) return run_pieces();
    if (index >= job_chunks_) return;
    const int64_t groups = (job_items_ + job_grain_ - 1) / job_grain_;
    const int64_t per_chunk = (groups + job_chunks_ - 1) / job_chunks_;
    const int64_t begin = std::min<int64_t>(job_items_, index * per_chunk * job_grain_);
    const int64_t end = std::min<int64_t>(job_items_, (index + 1) * per_chunk * job_grain_);
    if (begin < end) {
        t_inside_pool_job = true;
        (*job_)(begin, end);
        t_inside_pool_job = false;
    }
}

void ThreadPool::parallel_for(int64_t n_items, int64_t grain, const RangeFn& fn) {
    if (n_items <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t groups = (n_items + grain - 1) / grain;
    const unsigned chunks = static_cast<unsigned>(std::min<int64_t>(n_threads_, groups));
    if (chunks <= 1 || t_inside_pool_job) {
        fn(0, n_items);
        return;
    }
    job_ = &fn;
    job_items_ = n_items;
    job_grain_ = grain;
    job_chunks_ = chunks;
    dispatch();
}

void ThreadPool::parallel_for_dynamic(int64_t n_items, int64_t grain, const RangeFn& fn) {
    if (n_items <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (n_threads_ <= 1 || n_items <= grain || t_inside_pool_job) {
        fn(0, n_items);
        return;
    }
    job_ = &fn;
    job_items_ = n_items;
    job_grain_ = grain;
    job_chunks_ = 0;
    next_piece_.store(0, std::memory_order_relaxed);
    dispatch();
}

void ThreadPool::dispatch() {
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) spin_wait(spin);
    job_ = nullptr;
}

void ThreadPool::worker_loop(unsigned index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t current = generation_.load(std::memory_order_acquire);
        for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
            spin_wait(spin);
            current = generation_.load(std::memory_order_acquire);
        }
        if (current == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            current = generation_.load(std::memory_order_acquire);
        }
        seen = current;
        if (stopping_.load(std::memory_order_acquire)) return;
        run_chunk(index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

}  // namespace dsv4
