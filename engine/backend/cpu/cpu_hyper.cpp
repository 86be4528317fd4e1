// Hyper-connection ops of the CPU backend: the pre-sublayer mix, the post-sublayer expansion
// and the output head's collapse of the streams.
#include <algorithm>
#include <cstring>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/backend/cpu/cpu_vector_ops.h"

namespace dsv4::backend::cpu {
namespace {

void require(bool ok, const std::string& message) {
    if (!ok) throw BackendError(message);
}

}  // namespace

void CpuBackend::hc_pre(const Buffer& hc, int64_t n_tokens, const model::HyperConnectionWeights& w,
                        const HyperParams& params, Buffer& x, Buffer& split) {
    const int64_t hc_dim = hc.cols();
    const int64_t n_mix = hc_split_width(params.n_hc);
    const int64_t n_embd = hc_dim / params.n_hc;
    require(w.fn.n_in == hc_dim && w.fn.n_out == n_mix, "hc_pre: fn does not match the state");
    require(x.cols() == n_embd && split.cols() == n_mix, "hc_pre: output widths do not match");
    require(n_tokens <= hc.rows() && n_tokens <= x.rows() && n_tokens <= split.rows(),
            "hc_pre: more tokens than buffer rows");
    const CpuBuffer& state = cpu_buffer(hc);
    CpuBuffer& out = cpu_buffer(x);
    CpuBuffer& out_split = cpu_buffer(split);

    std::vector<float>& flat = scratch_a_;
    std::vector<float>& mix = scratch_b_;
    flat.resize(static_cast<size_t>(n_tokens * hc_dim));
    mix.resize(static_cast<size_t>(n_tokens * n_mix));
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* row = state.row(t);
        scale_row(row, rms_scale(row, hc_dim, params.rms_eps), nullptr, hc_dim,
                  flat.data() + t * hc_dim);
    }
    matmul_rows(w.fn, flat.data(), hc_dim, n_tokens, mix.data(), n_mix, Numerics::F32);
    for (int64_t t = 0; t < n_tokens; ++t) {
        float* sp = out_split.row(t);
        hc_split(mix.data() + t * n_mix, w.scale.data, w.base.data, params, sp);
        const float* row = state.row(t);
        float* dst = out.row(t);
        // Each element sums the streams in stream order from zero.
        combine_rows({nullptr, 0.0f, row, n_embd, params.n_hc, sp, 1, n_embd, dst});
    }
}

void CpuBackend::hc_post(const Buffer& f, const Buffer& hc_in, const Buffer& split,
                         int64_t n_tokens, uint32_t n_hc, Buffer& hc_out) {
    const int64_t n_embd = f.cols();
    require(hc_in.cols() == n_embd * n_hc && hc_out.cols() == hc_in.cols(),
            "hc_post: state widths do not match");
    require(split.cols() == hc_split_width(n_hc), "hc_post: split width does not match");
    const CpuBuffer& sub = cpu_buffer(f);
    const CpuBuffer& in = cpu_buffer(hc_in);
    const CpuBuffer& sp_buffer = cpu_buffer(split);
    CpuBuffer& out = cpu_buffer(hc_out);
    std::vector<float>& previous = scratch_a_;
    previous.resize(static_cast<size_t>(hc_in.cols()));
    for (int64_t t = 0; t < n_tokens; ++t) {
        // Copied first so that hc_out may be hc_in.
        std::memcpy(previous.data(), in.row(t), sizeof(float) * previous.size());
        const float* post = sp_buffer.row(t) + n_hc;
        const float* comb = sp_buffer.row(t) + 2 * n_hc;
        const float* fx = sub.row(t);
        float* dst = out.row(t);
        // Each element takes f * post first, then adds the streams in order.
        for (uint32_t j = 0; j < n_hc; ++j)
            combine_rows({fx, post[j], previous.data(), n_embd, n_hc, comb + j, n_hc, n_embd,
                          dst + j * n_embd});
    }
}

void CpuBackend::hc_collapse(const Buffer& hc, int64_t n_tokens,
                             const model::HyperConnectionWeights& w, const HyperParams& params,
                             Buffer& out) {
    const int64_t hc_dim = hc.cols();
    const int64_t n_embd = hc_dim / params.n_hc;
    require(w.fn.n_in == hc_dim && w.fn.n_out == params.n_hc,
            "hc_collapse: fn does not match the state");
    require(out.cols() == n_embd, "hc_collapse: output width does not match");
    const CpuBuffer& state = cpu_buffer(hc);
    CpuBuffer& result = cpu_buffer(out);
    std::vector<float>& flat = scratch_a_;
    std::vector<float>& mix = scratch_b_;
    flat.resize(static_cast<size_t>(n_tokens * hc_dim));
    mix.resize(static_cast<size_t>(n_tokens * params.n_hc));
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* row = state.row(t);
        scale_row(row, rms_scale(row, hc_dim, params.rms_eps), nullptr, hc_dim,
                  flat.data() + t * hc_dim);
    }
    matmul_rows(w.fn, flat.data(), hc_dim, n_tokens, mix.data(), params.n_hc, Numerics::F32);
    std::vector<float> weights(params.n_hc);
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (uint32_t i = 0; i < params.n_hc; ++i)
            weights[i] =
                stable_sigmoid(mix[static_cast<size_t>(t * params.n_hc + i)] * w.scale.data[0] +
                               w.base.data[i]) +
                params.hc_eps;
        const float* row = state.row(t);
        float* dst = result.row(t);
        combine_rows({nullptr, 0.0f, row, n_embd, params.n_hc, weights.data(), 1, n_embd, dst});
    }
}

}  // namespace dsv4::backend::cpu
