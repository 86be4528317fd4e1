#include "engine/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/backend/cpu/cpu_vector_ops.h"
#include "engine/quant/kernels.h"

namespace dsv4::backend::cpu {
namespace {

constexpr std::align_val_t kAlignment{64};

void check_rows(const Buffer& b, int64_t row0, int64_t n_rows, const char* op) {
    if (row0 < 0 || n_rows < 0 || row0 + n_rows > b.rows())
        throw BackendError(std::string(op) + ": rows [" + std::to_string(row0) + ", " +
                           std::to_string(row0 + n_rows) + ") outside a buffer of " +
                           std::to_string(b.rows()) + " rows");
}

void check_cols(const Buffer& b, int64_t cols, const char* op, const char* what) {
    if (b.cols() != cols)
        throw BackendError(std::string(op) + ": " + what + " has " + std::to_string(b.cols()) +
                           " columns, expected " + std::to_string(cols));
}

// F16/F32 weights have no quantized form: their "Q8" kernels are the f32 ones.
Numerics effective_numerics(quant::Type weight, Numerics numerics) {
    return quant::type_info(weight).act == quant::ActFormat::F32 ? Numerics::F32 : numerics;
}

}  // namespace

void CpuBuffer::Free::operator()(void* p) const {
    ::operator delete(p, kAlignment);
}

CpuBuffer::CpuBuffer(DType dtype, int64_t rows, int64_t cols) : Buffer(dtype, rows, cols) {
    if (rows < 0 || cols < 0)
        throw BackendError("cannot allocate a buffer of " + std::to_string(rows) + " x " +
                           std::to_string(cols));
    // At least one byte so that every buffer has a distinct, valid address.
    storage_.reset(::operator new(std::max<size_t>(1, bytes()), kAlignment));
}

CpuBuffer& cpu_buffer(Buffer& buffer, DType dtype) {
    auto* cpu = dynamic_cast<CpuBuffer*>(&buffer);
    if (cpu == nullptr) throw BackendError("the CPU backend was given a buffer of another backend");
    if (cpu->dtype() != dtype)
        throw BackendError(std::string("the CPU backend expected an ") +
                           (dtype == DType::F32 ? "f32" : "i32") + " buffer");
    return *cpu;
}

const CpuBuffer& cpu_buffer(const Buffer& buffer, DType dtype) {
    return cpu_buffer(const_cast<Buffer&>(buffer), dtype);
}

CpuBackend::CpuBackend(unsigned n_threads) : pool_(n_threads) {}

BufferPtr CpuBackend::allocate(DType dtype, int64_t rows, int64_t cols) {
    return std::make_unique<CpuBuffer>(dtype, rows, cols);
}

void CpuBackend::fill(Buffer& buffer, float value) {
    CpuBuffer& b = cpu_buffer(buffer, buffer.dtype());
    const size_t n = b.bytes() / 4;
    if (b.dtype() == DType::F32) {
        std::fill_n(b.f32(), n, value);
    } else {
        std::fill_n(b.i32(), n, static_cast<int32_t>(value));
    }
}

void CpuBackend::write_rows(Buffer& dst, int64_t row0, int64_t n_rows, const void* src) {
    check_rows(dst, row0, n_rows, "write_rows");
    CpuBuffer& b = cpu_buffer(dst, dst.dtype());
    std::memcpy(b.row(row0), src, static_cast<size_t>(n_rows * b.cols()) * 4);
}

void CpuBackend::read_rows(const Buffer& src, int64_t row0, int64_t n_rows, void* dst) {
    check_rows(src, row0, n_rows, "read_rows");
    const CpuBuffer& b = cpu_buffer(src, src.dtype());
    std::memcpy(dst, b.row(row0), static_cast<size_t>(n_rows * b.cols()) * 4);
}

void CpuBackend::copy_rows(const Buffer& src, int64_t src_row0, Buffer& dst, int64_t dst_row0,
                           int64_t n_rows) {
    check_rows(src, src_row0, n_rows, "copy_rows");
    check_rows(dst, dst_row0, n_rows, "copy_rows");
    check_cols(dst, src.cols(), "copy_rows", "the destination");
    const CpuBuffer& s = cpu_buffer(src, src.dtype());
    CpuBuffer& d = cpu_buffer(dst, src.dtype());
    std::memmove(d.row(dst_row0), s.row(src_row0), static_cast<size_t>(n_rows * s.cols()) * 4);
}

void CpuBackend::embed(const WeightMatrix& table, std::span<const int32_t> tokens, Buffer& hc) {
    CpuBuffer& out = cpu_buffer(hc);
    const auto n = static_cast<int64_t>(tokens.size());
    check_rows(hc, 0, n, "embed");
    if (out.cols() % table.n_in != 0)
        throw BackendError("embed: state width is not a multiple of the embedding width");
    const int64_t n_streams = out.cols() / table.n_in;
    for (int64_t t = 0; t < n; ++t) {
        const int32_t token = tokens[static_cast<size_t>(t)];
        if (token < 0 || token >= table.n_out)
            throw BackendError("embed: token id " + std::to_string(token) +
                               " is outside the vocabulary of " + std::to_string(table.n_out));
        float* row = out.row(t);
        quant::dequantize_row(table.type, table.data + static_cast<size_t>(token) * table.row_bytes,
                              row, table.n_in);
        for (int64_t s = 1; s < n_streams; ++s)
            std::memcpy(row + s * table.n_in, row, sizeof(float) * static_cast<size_t>(table.n_in));
    }
}

size_t CpuBackend::prepare_activations(quant::Type weight, Numerics numerics, const float* x,
                                       int64_t x_stride, int64_t n_rows, int64_t n_in,
                                       std::vector<uint8_t>& act) {
    const quant::ActFormat format = quant::activation_format(weight, numerics);
    const size_t row_bytes = quant::act_row_bytes(format, n_in);
    act.resize(row_bytes * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r)
        quant::quantize_activation(format, x + r * x_stride, n_in,
                                   act.data() + static_cast<size_t>(r) * row_bytes);
    return row_bytes;
}

void CpuBackend::matmul_rows(const WeightMatrix& w, const float* x, int64_t x_stride,
                             int64_t n_rows, float* out, int64_t out_stride, Numerics numerics) {
    numerics = effective_numerics(w.type, numerics);
    if (quant::activation_format(w.type, numerics) == quant::ActFormat::F32) {
        quant::matmul_prepared(w, reinterpret_cast<const uint8_t*>(x),
                               sizeof(float) * static_cast<size_t>(x_stride), n_rows, out,
                               out_stride, numerics, pool_);
        return;
    }
    const size_t row_bytes =
        prepare_activations(w.type, numerics, x, x_stride, n_rows, w.n_in, act_);
    quant::matmul_prepared(w, act_.data(), row_bytes, n_rows, out, out_stride, numerics, pool_);
}

void CpuBackend::matmul(const WeightMatrix& w, const Buffer& x, int64_t n_tokens, Buffer& out,
                        Numerics numerics) {
    check_cols(x, w.n_in, "matmul", "the input");
    check_cols(out, w.n_out, "matmul", "the output");
    check_rows(x, 0, n_tokens, "matmul");
    check_rows(out, 0, n_tokens, "matmul");
    matmul_rows(w, cpu_buffer(x).f32(), x.cols(), n_tokens, cpu_buffer(out).f32(), out.cols(),
                numerics);
}

void CpuBackend::matmul_many(std::span<const MatmulTarget> targets, const Buffer& x,
                             int64_t n_tokens, Numerics numerics) {
    check_rows(x, 0, n_tokens, "matmul_many");
    const float* in = cpu_buffer(x).f32();
    // Which formats x is needed in, each prepared once; F32 reads x in place.
    std::array<size_t, 4> row_bytes{};
    std::array<bool, 4> prepared{};
    std::vector<RowJob>& jobs = group_jobs_;
    jobs.assign(targets.size(), RowJob{});
    for (size_t i = 0; i < targets.size(); ++i) {
        const WeightMatrix& w = *targets[i].w;
        Buffer& out = *targets[i].out;
        check_cols(x, w.n_in, "matmul_many", "the input");
        check_cols(out, w.n_out, "matmul_many", "the output");
        check_rows(out, 0, n_tokens, "matmul_many");
        RowJob& job = jobs[i];
        job.w = w;
        job.numerics = effective_numerics(w.type, numerics);
        job.n_acts = n_tokens;
        job.out = cpu_buffer(out).f32();
        job.out_stride = out.cols();
        const quant::ActFormat format = quant::activation_format(w.type, job.numerics);
        if (format == quant::ActFormat::F32) {
            job.act = reinterpret_cast<const uint8_t*>(in);
            job.act_row_bytes = sizeof(float) * static_cast<size_t>(x.cols());
            continue;
        }
        const auto slot = static_cast<size_t>(format);
        if (slot >= act_by_format_.size())
            throw BackendError("matmul_many: unexpected activation format");
        if (!prepared[slot]) {
            row_bytes[slot] = prepare_activations(w.type, job.numerics, in, x.cols(), n_tokens,
                                                  w.n_in, act_by_format_[slot]);
            prepared[slot] = true;
        }
        job.act = act_by_format_[slot].data();
        job.act_row_bytes = row_bytes[slot];
    }
    run_row_jobs(jobs, pool_);
}

void CpuBackend::grouped_matmul(const WeightMatrix& w, uint32_t n_groups, const Buffer& x,
                                int64_t n_tokens, Buffer& out, Numerics numerics) {
    check_cols(x, w.n_in * n_groups, "grouped_matmul", "the input");
    check_cols(out, w.n_out, "grouped_matmul", "the output");
    check_rows(x, 0, n_tokens, "grouped_matmul");
    check_rows(out, 0, n_tokens, "grouped_matmul");
    if (n_groups == 0 || w.n_out % n_groups != 0)
        throw BackendError("grouped_matmul: " + std::to_string(w.n_out) +
                           " rows do not split into " + std::to_string(n_groups) + " groups");
    const int64_t rows_per_group = w.n_out / n_groups;
    const float* in = cpu_buffer(x).f32();
    float* result = cpu_buffer(out).f32();
    numerics = effective_numerics(w.type, numerics);
    const quant::ActFormat format = quant::activation_format(w.type, numerics);
    // Every group's activations first, then all groups in one dispatch over the pool.
    const size_t row_bytes = quant::act_row_bytes(format, w.n_in);
    const size_t group_bytes = row_bytes * static_cast<size_t>(n_tokens);
    act_.resize(group_bytes * n_groups);
    for (uint32_t g = 0; g < n_groups; ++g)
        for (int64_t t = 0; t < n_tokens; ++t)
            quant::quantize_activation(format, in + t * x.cols() + g * w.n_in, w.n_in,
                                       act_.data() + g * group_bytes + t * row_bytes);
    std::vector<RowJob>& jobs = group_jobs_;
    jobs.assign(n_groups, RowJob{});
    for (uint32_t g = 0; g < n_groups; ++g) {
        RowJob& job = jobs[g];
        job.w = w;
        job.w.data = w.data + static_cast<size_t>(g * rows_per_group) * w.row_bytes;
        job.w.n_out = rows_per_group;
        job.act = act_.data() + g * group_bytes;
        job.act_row_bytes = row_bytes;
        job.n_acts = n_tokens;
        job.out = result + g * rows_per_group;
        job.out_stride = out.cols();
        job.numerics = numerics;
    }
    run_row_jobs(jobs, pool_);
}

void CpuBackend::rms_norm(const Buffer& x, int64_t n_tokens, const float* weight, float eps,
                          Buffer& out) {
    check_cols(out, x.cols(), "rms_norm", "the output");
    check_rows(x, 0, n_tokens, "rms_norm");
    check_rows(out, 0, n_tokens, "rms_norm");
    const CpuBuffer& in = cpu_buffer(x);
    CpuBuffer& result = cpu_buffer(out);
    const int64_t n = x.cols();
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* row = in.row(t);
        float* dst = result.row(t);
        scale_row(row, rms_scale(row, n, eps), weight, n, dst);
    }
}

void CpuBackend::rms_norm_heads(Buffer& x, int64_t n_tokens, uint32_t head_dim, float eps) {
    check_rows(x, 0, n_tokens, "rms_norm_heads");
    if (head_dim == 0 || x.cols() % head_dim != 0)
        throw BackendError("rms_norm_heads: row width is not a multiple of the head dim");
    CpuBuffer& b = cpu_buffer(x);
    const int64_t n_heads = x.cols() / head_dim;
    std::vector<float>& scales = scratch_a_;
    scales.resize(static_cast<size_t>(n_heads));
    for (int64_t t = 0; t < n_tokens; ++t) {
        rms_scales(b.row(t), n_heads, head_dim, head_dim, eps, scales.data());
        for (int64_t h = 0; h < n_heads; ++h) {
            float* head = b.row(t) + h * head_dim;
            scale_row(head, scales[static_cast<size_t>(h)], nullptr, head_dim, head);
        }
    }
}

void CpuBackend::add(const Buffer& a, const Buffer& b, int64_t n_tokens, Buffer& out) {
    check_cols(b, a.cols(), "add", "the second operand");
    check_cols(out, a.cols(), "add", "the output");
    check_rows(a, 0, n_tokens, "add");
    check_rows(b, 0, n_tokens, "add");
    check_rows(out, 0, n_tokens, "add");
    const float* pa = cpu_buffer(a).f32();
    const float* pb = cpu_buffer(b).f32();
    float* po = cpu_buffer(out).f32();
    const int64_t n = n_tokens * a.cols();
    for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
}

void CpuBackend::swiglu(const Buffer& gate, const Buffer& up, int64_t n_tokens, float clamp,
                        Buffer& out) {
    check_cols(up, gate.cols(), "swiglu", "up");
    check_cols(out, gate.cols(), "swiglu", "the output");
    check_rows(gate, 0, n_tokens, "swiglu");
    check_rows(up, 0, n_tokens, "swiglu");
    check_rows(out, 0, n_tokens, "swiglu");
    const float* g = cpu_buffer(gate).f32();
    const float* u = cpu_buffer(up).f32();
    float* o = cpu_buffer(out).f32();
    const int64_t n = n_tokens * gate.cols();
    for (int64_t i = 0; i < n; ++i)
        o[i] = silu(std::min(g[i], clamp)) * std::clamp(u[i], -clamp, clamp);
}

void CpuBackend::scale(Buffer& x, int64_t n_tokens, float factor) {
    check_rows(x, 0, n_tokens, "scale");
    float* p = cpu_buffer(x).f32();
    const int64_t n = n_tokens * x.cols();
    for (int64_t i = 0; i < n; ++i) p[i] *= factor;
}

}  // namespace dsv4::backend::cpu
