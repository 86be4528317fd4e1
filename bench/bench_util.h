// Shared pieces of the benchmark programs: large aligned buffers whose pages are resident before
// anything is timed, and the machine's streaming read bandwidth measured as PERF.md prescribes
// (every thread reads 8 interleaved streams with the widest vector loads the CPU has).
#pragma once

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "engine/common/cpu_features.h"
#include "engine/common/thread_pool.h"

namespace dsv4::bench {

inline constexpr size_t kMiB = size_t{1} << 20;
inline constexpr size_t kGiB = size_t{1} << 30;

// Anonymous memory aligned to 2 MiB and advised for transparent huge pages, written once on
// creation so that no page fault (and no shared zero page) ends up inside a timed region.
class LargeBuffer {
  public:
    LargeBuffer() = default;
    explicit LargeBuffer(size_t size_bytes, uint8_t fill_byte = 0x5a) {
        constexpr size_t kHugePageBytes = 2 * kMiB;
        const size_t rounded_bytes =
            (size_bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        void* p = std::aligned_alloc(kHugePageBytes, rounded_bytes);
        if (p == nullptr) throw std::bad_alloc();
        // Advice only: without huge pages the buffer still works, just with more TLB misses.
        (void)madvise(p, rounded_bytes, MADV_HUGEPAGE);
        std::memset(p, fill_byte, rounded_bytes);
        data_ = static_cast<uint8_t*>(p);
        size_bytes_ = size_bytes;
    }
    ~LargeBuffer() { std::free(data_); }
    LargeBuffer(LargeBuffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          size_bytes_(std::exchange(other.size_bytes_, 0)) {}
    LargeBuffer& operator=(LargeBuffer&& other) noexcept {
        if (this != &other) {
            std::free(data_);
            data_ = std::exchange(other.data_, nullptr);
            size_bytes_ = std::exchange(other.size_bytes_, 0);
        }
        return *this;
    }
    LargeBuffer(const LargeBuffer&) = delete;
    LargeBuffer& operator=(const LargeBuffer&) = delete;

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    size_t size_bytes() const { return size_bytes_; }

  private:
    uint8_t* data_ = nullptr;
    size_t size_bytes_ = 0;
};

// One thread's share of a bandwidth pass is cut into this many streams read in lockstep: a
// single stream per thread leaves the prefetchers and the memory controller under-used and
// understates the bandwidth by about 1.6x on the reference machine (see PERF.md).
inline constexpr int kReadStreams = 8;
// Each stream advances by two cache lines per step, so one step issues 16 independent loads.
inline constexpr size_t kStreamStepBytes = 128;
inline constexpr size_t kSliceGrainBytes = kReadStreams * kStreamStepBytes;

namespace detail {

// The accumulators fold every loaded byte into the result so the loads cannot be dropped.
__attribute__((target("avx512f"))) inline uint64_t read_streams_avx512(const uint8_t* slice,
                                                                       size_t stream_bytes) {
    const uint8_t* s0 = slice;
    const uint8_t* s1 = s0 + stream_bytes;
    const uint8_t* s2 = s1 + stream_bytes;
    const uint8_t* s3 = s2 + stream_bytes;
    const uint8_t* s4 = s3 + stream_bytes;
    const uint8_t* s5 = s4 + stream_bytes;
    const uint8_t* s6 = s5 + stream_bytes;
    const uint8_t* s7 = s6 + stream_bytes;
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
    __m512i a4 = _mm512_setzero_si512(), a5 = _mm512_setzero_si512();
    __m512i a6 = _mm512_setzero_si512(), a7 = _mm512_setzero_si512();
    for (size_t off = 0; off < stream_bytes; off += kStreamStepBytes) {
        a0 = _mm512_xor_si512(a0, _mm512_load_si512(s0 + off));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512(s1 + off));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512(s2 + off));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512(s3 + off));
        a4 = _mm512_xor_si512(a4, _mm512_load_si512(s4 + off));
        a5 = _mm512_xor_si512(a5, _mm512_load_si512(s5 + off));
        a6 = _mm512_xor_si512(a6, _mm512_load_si512(s6 + off));
        a7 = _mm512_xor_si512(a7, _mm512_load_si512(s7 + off));
        a0 = _mm512_xor_si512(a0, _mm512_load_si512(s0 + off + 64));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512(s1 + off + 64));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512(s2 + off + 64));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512(s3 + off + 64));
        a4 = _mm512_xor_si512(a4, _mm512_load_si512(s4 + off + 64));
        a5 = _mm512_xor_si512(a5, _mm512_load_si512(s5 + off + 64));
        a6 = _mm512_xor_si512(a6, _mm512_load_si512(s6 + off + 64));
        a7 = _mm512_xor_si512(a7, _mm512_load_si512(s7 + off + 64));
    }
    const __m512i all =
        _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                         _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
    // Through memory: gcc 12's reduction intrinsics trip -Wuninitialized.
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, all);
    uint64_t folded = 0;
    for (uint64_t lane : lanes) folded ^= lane;
    return folded;
}

__attribute__((target("avx2"))) inline uint64_t read_streams_avx2(const uint8_t* slice,
                                                                  size_t stream_bytes) {
    const uint8_t* s[kReadStreams];
    for (int i = 0; i < kReadStreams; ++i) s[i] = slice + i * stream_bytes;
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    __m256i a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
    __m256i a4 = _mm256_setzero_si256(), a5 = _mm256_setzero_si256();
    __m256i a6 = _mm256_setzero_si256(), a7 = _mm256_setzero_si256();
    for (size_t off = 0; off < stream_bytes; off += kStreamStepBytes) {
        // Four 32-byte loads cover the two cache lines of each stream's step.
        for (size_t part = 0; part < kStreamStepBytes; part += 32) {
            const size_t at = off + part;
            a0 = _mm256_xor_si256(a0,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[0] + at)));
            a1 = _mm256_xor_si256(a1,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[1] + at)));
            a2 = _mm256_xor_si256(a2,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[2] + at)));
            a3 = _mm256_xor_si256(a3,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[3] + at)));
            a4 = _mm256_xor_si256(a4,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[4] + at)));
            a5 = _mm256_xor_si256(a5,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[5] + at)));
            a6 = _mm256_xor_si256(a6,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[6] + at)));
            a7 = _mm256_xor_si256(a7,
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(s[7] + at)));
        }
    }
    const __m256i all =
        _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                         _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)));
    return static_cast<uint64_t>(_mm256_extract_epi64(all, 0) ^ _mm256_extract_epi64(all, 1) ^
                                 _mm256_extract_epi64(all, 2) ^ _mm256_extract_epi64(all, 3));
}

inline uint64_t read_streams_portable(const uint8_t* slice, size_t stream_bytes) {
    uint64_t acc[kReadStreams] = {};
    for (size_t off = 0; off < stream_bytes; off += sizeof(uint64_t)) {
        for (int i = 0; i < kReadStreams; ++i) {
            uint64_t word;
            std::memcpy(&word, slice + i * stream_bytes + off, sizeof(word));
            acc[i] ^= word;
        }
    }
    uint64_t all = 0;
    for (uint64_t a : acc) all ^= a;
    return all;
}

}  // namespace detail

// The vector width the bandwidth pass reads with: a property of the hardware, so DSV4_ISA (which
// only caps the kernels) does not lower it.
inline const char* read_loads_name() {
    const CpuFeatures& f = cpu_features();
    return f.avx512 ? "avx512" : f.avx2 ? "avx2" : "64-bit scalar";
}

// Reads slice_bytes (a multiple of kSliceGrainBytes, 64-byte aligned) as 8 interleaved streams.
inline uint64_t read_slice(const uint8_t* slice, size_t slice_bytes) {
    const size_t stream_bytes = slice_bytes / kReadStreams;
    const CpuFeatures& f = cpu_features();
    if (f.avx512) return detail::read_streams_avx512(slice, stream_bytes);
    if (f.avx2) return detail::read_streams_avx2(slice, stream_bytes);
    return detail::read_streams_portable(slice, stream_bytes);
}

// One pass over the buffer split into one contiguous slice per pool thread; returns the bytes
// read. The folded data goes to sink so that the reads stay observable.
inline size_t read_pass(ThreadPool& pool, const LargeBuffer& buffer, std::vector<uint64_t>& sink) {
    const unsigned n_threads = pool.size();
    const size_t slice_bytes =
        buffer.size_bytes() / n_threads / kSliceGrainBytes * kSliceGrainBytes;
    // One cache line per thread keeps the result writes from sharing lines.
    constexpr size_t kSinkStride = 64 / sizeof(uint64_t);
    sink.assign(n_threads * kSinkStride, 0);
    pool.parallel_for(n_threads, 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t)
            sink[t * kSinkStride] = read_slice(buffer.data() + t * slice_bytes, slice_bytes);
    });
    return slice_bytes * n_threads;
}

// Best read bandwidth over several passes, in GB/s (10^9 bytes per second).
inline double best_read_gbps(ThreadPool& pool, const LargeBuffer& buffer, int rounds) {
    std::vector<uint64_t> sink;
    read_pass(pool, buffer, sink);  // wakes the workers and warms the TLB
    double best_gbps = 0;
    for (int round = 0; round < rounds; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const size_t bytes = read_pass(pool, buffer, sink);
        const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
        best_gbps = std::max(best_gbps, static_cast<double>(bytes) / seconds.count() * 1e-9);
    }
    uint64_t folded = 0;
    for (uint64_t v : sink) folded ^= v;
    asm volatile("" : : "r"(folded));
    return best_gbps;
}

// A short pass made right next to a measurement, on the measurement's own pool. The machine
// drifts by tens of percent between minutes, so a ratio against a pass taken minutes earlier says
// as much about the drift as about the code.
inline double paired_read_gbps(ThreadPool& pool, const LargeBuffer& buffer) {
    return best_read_gbps(pool, buffer, 2);
}

}  // namespace dsv4::bench
