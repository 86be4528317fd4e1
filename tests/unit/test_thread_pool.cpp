#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "engine/common/thread_pool.h"

namespace dsv4 {
namespace {

TEST(ThreadPool, CoversEveryItemOnceWithGrainAlignedChunks) {
    for (unsigned threads = 1; threads <= 4; ++threads) {
        ThreadPool pool(threads);
        for (int64_t n : {1, 7, 16, 33, 1000}) {
            std::vector<std::atomic<int>> hits(n);
            std::atomic<int> misaligned{0};
            pool.parallel_for(n, 16, [&](int64_t b, int64_t e) {
                if (b % 16 != 0) misaligned++;
                for (int64_t i = b; i < e; ++i) hits[i]++;
            });
            for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
            EXPECT_EQ(misaligned.load(), 0);
        }
    }
}

TEST(ThreadPool, DynamicPiecesCoverEveryItemOnceOnGrainBoundaries) {
    for (unsigned threads = 1; threads <= 4; ++threads) {
        ThreadPool pool(threads);
        for (int64_t n : {1, 7, 16, 33, 1000, 100000}) {
            std::vector<std::atomic<int>> hits(n);
            std::atomic<int> misaligned{0};
            pool.parallel_for_dynamic(n, 16, [&](int64_t b, int64_t e) {
                if (b % 16 != 0 || (e % 16 != 0 && e != n)) misaligned++;
                for (int64_t i = b; i < e; ++i) hits[i]++;
            });
            for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
            EXPECT_EQ(misaligned.load(), 0);
        }
    }
}

TEST(ThreadPool, DynamicAndStaticJobsAlternate) {
    ThreadPool pool(2);
    for (int round = 0; round < 500; ++round) {
        std::vector<int64_t> out(300, 0);
        const auto fill = [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) out[i] += i + round;
        };
        if (round % 2 == 0) {
            pool.parallel_for_dynamic(300, 4, fill);
        } else {
            pool.parallel_for(300, 4, fill);
        }
        for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(out[i], i + round);
    }
}

TEST(ThreadPool, NestedCallsRunSerially) {
    ThreadPool pool(3);
    std::atomic<int64_t> total{0};
    pool.parallel_for(6, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
            pool.parallel_for(10, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
    });
    EXPECT_EQ(total.load(), 60);
}

TEST(ThreadPool, ManyBackToBackJobs) {
    ThreadPool pool(2);
    int64_t sum = 0;
    std::vector<int64_t> part(2);
    for (int round = 0; round < 2000; ++round) {
        std::vector<int64_t> out(64, 0);
        pool.parallel_for(64, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) out[i] = i + round;
        });
        for (int64_t v : out) sum += v;
    }
    int64_t expected = 0;
    for (int round = 0; round < 2000; ++round) expected += 64 * 63 / 2 + 64 * round;
    EXPECT_EQ(sum, expected);
}

}  // namespace
}  // namespace dsv4
