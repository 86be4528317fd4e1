// The CPU implementation of the op interface: host buffers, plain loops over f32 rows and the
// quant matmul kernels, work split over the engine thread pool. It owns its pool and scratch
// memory; it must not keep anything between calls that changes results (no caches of inputs).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/backend/cpu/cpu_row_jobs.h"
#include "engine/common/thread_pool.h"

namespace dsv4::backend::cpu {

// Host memory, 64-byte aligned; the dtype decides which accessor is used, never both.
class CpuBuffer final : public Buffer {
  public:
    CpuBuffer(DType dtype, int64_t rows, int64_t cols);

    float* f32() { return static_cast<float*>(storage_.get()); }
    const float* f32() const { return static_cast<const float*>(storage_.get()); }
    int32_t* i32() { return static_cast<int32_t*>(storage_.get()); }
    const int32_t* i32() const { return static_cast<const int32_t*>(storage_.get()); }
    float* row(int64_t r) { return f32() + r * cols(); }
    const float* row(int64_t r) const { return f32() + r * cols(); }
    size_t bytes() const { return static_cast<size_t>(rows() * cols()) * 4; }

  private:
    struct Free {
        void operator()(void* p) const;
    };
    std::unique_ptr<void, Free> storage_;
};

// One (token, slot) that chose a given routed expert.
struct Assignment {
    int64_t token;
    int64_t slot;
};

class CpuBackend final : public Backend {
  public:
    // n_threads == 0: one per online CPU.
    explicit CpuBackend(unsigned n_threads = 0);

    std::string name() const override { return "cpu"; }
    ThreadPool& pool() { return pool_; }

    BufferPtr allocate(DType dtype, int64_t rows, int64_t cols) override;
    void fill(Buffer& buffer, float value) override;
    void write_rows(Buffer& dst, int64_t row0, int64_t n_rows, const void* src) override;
    void read_rows(const Buffer& src, int64_t row0, int64_t n_rows, void* dst) override;
    void copy_rows(const Buffer& src, int64_t src_row0, Buffer& dst, int64_t dst_row0,
                   int64_t n_rows) override;

    void embed(const WeightMatrix& table, std::span<const int32_t> tokens, Buffer& hc) override;
    void matmul(const WeightMatrix& w, const Buffer& x, int64_t n_tokens, Buffer& out,
                Numerics numerics) override;
    void matmul_many(std::span<const MatmulTarget> targets, const Buffer& x, int64_t n_tokens,
                     Numerics numerics) override;
    void grouped_matmul(const WeightMatrix& w, uint32_t n_groups, const Buffer& x, int64_t n_tokens,
                        Buffer& out, Numerics numerics) override;
    void rms_norm(const Buffer& x, int64_t n_tokens, const float* weight, float eps,
                  Buffer& out) override;
    void rms_norm_heads(Buffer& x, int64_t n_tokens, uint32_t head_dim, float eps) override;
    void add(const Buffer& a, const Buffer& b, int64_t n_tokens, Buffer& out) override;
    void swiglu(const Buffer& gate, const Buffer& up, int64_t n_tokens, float clamp,
                Buffer& out) override;
    void scale(Buffer& x, int64_t n_tokens, float factor) override;

    void hc_pre(const Buffer& hc, int64_t n_tokens, const model::HyperConnectionWeights& w,
                const HyperParams& params, Buffer& x, Buffer& split) override;
    void hc_post(const Buffer& f, const Buffer& hc_in, const Buffer& split, int64_t n_tokens,
                 uint32_t n_hc, Buffer& hc_out) override;
    void hc_collapse(const Buffer& hc, int64_t n_tokens, const model::HyperConnectionWeights& w,
                     const HyperParams& params, Buffer& out) override;

    void rope_tail(Buffer& x, int64_t n_tokens, uint32_t head_dim, int64_t pos0,
                   const RopeParams& rope, bool inverse) override;
    void round_kv_rows(Buffer& x, int64_t n_tokens, uint32_t nope_dim) override;
    void hadamard_fp4(Buffer& x, int64_t n_tokens, uint32_t head_dim) override;
    void compressor_step(const CompressorStep& step) override;
    void indexer_select(const IndexerStep& step) override;
    void attention(const AttentionStep& step) override;
    void ring_store(const Buffer& kv, int64_t n_tokens, int64_t pos0, uint32_t window,
                    Buffer& ring) override;

    void route(const RouterStep& step) override;
    void routed_moe(const MoeStep& step) override;

  private:
    // Routed experts: (token, slot) pairs grouped by expert, and the per-step buffers, kept
    // across calls so that a decode step allocates nothing.
    struct MoeScratch {
        std::vector<Assignment> order;  // pairs in expert order
        std::vector<int64_t> first;     // first[e]: index in `order` of expert e's first pair
        std::vector<int64_t> fill;
        std::vector<int64_t> position;  // position[t * k + slot]: index of that pair in `order`
        std::vector<uint8_t> gathered;  // quantized input rows in `order`
        std::vector<float> gate_out, up_out, down_out;
        std::vector<RowJob> jobs;
    };
    void group_by_expert(const MoeStep& step, int64_t n_expert);
    // Gate and up (or down) of every chosen expert in one dispatch over the pool; act holds one
    // prepared row per pair in `order`.
    void run_expert_matrices(const MoeStep& step, bool down_projection, const uint8_t* act,
                             size_t act_row_bytes, Numerics numerics);
    // SwiGLU and routing weight on the gate rows, then their quantization into act_mid_;
    // returns the bytes of one prepared row.
    size_t quantize_mid_rows(const MoeStep& step, Numerics numerics);
    // Multiplies n rows of x (stride x_stride floats) into out (stride out_stride floats).
    void matmul_rows(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t n_rows,
                     float* out, int64_t out_stride, Numerics numerics);
    // Quantizes n rows of n_in values into act_ (the weight's activation format) and returns
    // the bytes of one prepared row.
    size_t prepare_activations(quant::Type weight, Numerics numerics, const float* x,
                               int64_t x_stride, int64_t n_rows, int64_t n_in,
                               std::vector<uint8_t>& act);

    ThreadPool pool_;
    // Scratch reused across calls; sized on demand.
    std::vector<uint8_t> act_;
    std::vector<uint8_t> act_mid_;
    std::vector<float> scratch_a_;
    std::vector<float> scratch_b_;
    MoeScratch moe_;
    std::vector<RowJob> group_jobs_;
    // matmul_many: one prepared copy of x per activation format.
    std::array<std::vector<uint8_t>, 4> act_by_format_;  // indexed by quant::ActFormat
};

// The CPU buffer behind a handle; throws BackendError for buffers of another backend or dtype.
CpuBuffer& cpu_buffer(Buffer& buffer, DType dtype = DType::F32);
const CpuBuffer& cpu_buffer(const Buffer& buffer, DType dtype = DType::F32);

}  // namespace dsv4::backend::cpu
