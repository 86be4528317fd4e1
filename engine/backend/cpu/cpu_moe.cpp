// Feed-forward ops of the CPU backend: the router and the routed experts. Experts run grouped
// (all tokens that chose expert e in one matmul); each result row depends only on its own token,
// so decode and any prefill batching give identical outputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/backend/cpu/cpu_row_jobs.h"
#include "engine/quant/kernels.h"

namespace dsv4::backend::cpu {
namespace {

// Floor of the routing-weight denominator (2^-14).
constexpr float kMinWeightSum = 6.103515625e-05f;
// Rows of the mid activation per work item when the SwiGLU and its quantization of a batch are
// split over the pool.
constexpr int64_t kMidRowsPerItem = 8;

void require(bool ok, const std::string& message) {
    if (!ok) throw BackendError(message);
}

float softplus(float z) {
    if (z > 20.0f) return z;
    if (z < -20.0f) return std::exp(z);
    return std::log1p(std::exp(z));
}

Numerics effective_numerics(quant::Type weight, Numerics numerics) {
    return quant::type_info(weight).act == quant::ActFormat::F32 ? Numerics::F32 : numerics;
}

}  // namespace

void CpuBackend::route(const RouterStep& step) {
    const CpuBuffer& logits = cpu_buffer(*step.logits);
    CpuBuffer& ids = cpu_buffer(*step.ids, DType::I32);
    CpuBuffer& weights = cpu_buffer(*step.weights);
    const int64_t n_expert = logits.cols();
    const uint32_t k = step.n_used;
    require(ids.cols() == k && weights.cols() == k && k <= n_expert,
            "route: expert slots do not match");
    require(step.tid2eid == nullptr || static_cast<int64_t>(step.tokens.size()) >= step.n_tokens,
            "route: hash routing needs the batch's tokens");
    std::vector<float> probs(static_cast<size_t>(n_expert));
    std::vector<float> scores(static_cast<size_t>(n_expert));
    std::vector<int32_t> order(static_cast<size_t>(n_expert));
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        for (int64_t e = 0; e < n_expert; ++e)
            probs[static_cast<size_t>(e)] = std::sqrt(softplus(logits.row(t)[e]));
        int32_t* chosen = ids.i32() + t * k;
        if (step.tid2eid != nullptr) {
            const int32_t token = step.tokens[static_cast<size_t>(t)];
            std::copy_n(step.tid2eid + static_cast<int64_t>(token) * k, k, chosen);
        } else {
            for (int64_t e = 0; e < n_expert; ++e)
                scores[static_cast<size_t>(e)] =
                    probs[static_cast<size_t>(e)] + (step.bias ? step.bias[e] : 0.0f);
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + k, order.end(),
                              [&](int32_t a, int32_t b) {
                                  const float sa = scores[static_cast<size_t>(a)];
                                  const float sb = scores[static_cast<size_t>(b)];
                                  return sa > sb || (sa == sb && a < b);
                              });
            std::copy_n(order.begin(), k, chosen);
        }
        float sum = 0.0f;
        for (uint32_t i = 0; i < k; ++i) sum += probs[static_cast<size_t>(chosen[i])];
        const float denominator = step.normalize ? std::max(sum, kMinWeightSum) : 1.0f;
        for (uint32_t i = 0; i < k; ++i)
            weights.row(t)[i] = probs[static_cast<size_t>(chosen[i])] / denominator * step.scale;
    }
}

void CpuBackend::group_by_expert(const MoeStep& step, int64_t n_expert) {
    const CpuBuffer& ids = cpu_buffer(*step.ids, DType::I32);
    const int64_t k = ids.cols();
    MoeScratch& s = moe_;
    s.first.assign(static_cast<size_t>(n_expert + 1), 0);
    for (int64_t i = 0; i < step.n_tokens * k; ++i) {
        const int32_t e = ids.i32()[i];
        require(e >= 0 && e < n_expert, "routed_moe: expert id out of range");
        ++s.first[static_cast<size_t>(e) + 1];
    }
    for (int64_t e = 0; e < n_expert; ++e)
        s.first[static_cast<size_t>(e + 1)] += s.first[static_cast<size_t>(e)];
    // Counting sort: experts in id order, each expert's (token, slot) pairs in token order.
    std::vector<int64_t>& next = s.fill;
    next.assign(s.first.begin(), s.first.end() - 1);
    s.order.resize(static_cast<size_t>(step.n_tokens * k));
    s.position.resize(s.order.size());
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        for (int64_t slot = 0; slot < k; ++slot) {
            const int64_t at = next[static_cast<size_t>(ids.i32()[t * k + slot])]++;
            s.order[static_cast<size_t>(at)] = {t, slot};
            s.position[static_cast<size_t>(t * k + slot)] = at;
        }
    }
}

void CpuBackend::run_expert_matrices(const MoeStep& step, bool down_projection, const uint8_t* act,
                                     size_t act_row_bytes, Numerics numerics) {
    MoeScratch& s = moe_;
    const int64_t n_expert = step.gate->n_expert;
    s.jobs.clear();
    auto add = [&](const model::ExpertStack& stack, int64_t e, std::vector<float>& out) {
        const int64_t first = s.first[static_cast<size_t>(e)];
        RowJob job;
        job.w = stack.expert(e);
        job.act = act + static_cast<size_t>(first) * act_row_bytes;
        job.act_row_bytes = act_row_bytes;
        job.n_acts = s.first[static_cast<size_t>(e + 1)] - first;
        job.out = out.data() + first * stack.n_out;
        job.out_stride = stack.n_out;
        job.numerics = numerics;
        s.jobs.push_back(job);
    };
    for (int64_t e = 0; e < n_expert; ++e) {
        if (s.first[static_cast<size_t>(e)] == s.first[static_cast<size_t>(e + 1)]) continue;
        if (down_projection) {
            add(*step.down, e, s.down_out);
        } else {
            add(*step.gate, e, s.gate_out);
            add(*step.up, e, s.up_out);
        }
    }
    run_row_jobs(s.jobs, pool_);
}

size_t CpuBackend::quantize_mid_rows(const MoeStep& step, Numerics numerics) {
    MoeScratch& s = moe_;
    const CpuBuffer& weights = cpu_buffer(*step.weights);
    const int64_t n_ff = step.gate->n_out;
    const auto m = static_cast<int64_t>(s.order.size());
    const quant::ActFormat format = quant::activation_format(step.down->type, numerics);
    const size_t row_bytes = quant::act_row_bytes(format, n_ff);
    act_mid_.resize(row_bytes * static_cast<size_t>(m));
    auto run = [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const Assignment& a = s.order[static_cast<size_t>(i)];
            // The routing weight goes in before the down projection and its quantization.
            const float w = weights.row(a.token)[a.slot];
            float* g = s.gate_out.data() + i * n_ff;
            const float* u = s.up_out.data() + i * n_ff;
            for (int64_t r = 0; r < n_ff; ++r)
                g[r] = silu(std::min(g[r], step.clamp)) *
                       std::clamp(u[r], -step.clamp, step.clamp) * w;
            quant::quantize_activation(format, g, n_ff,
                                       act_mid_.data() + static_cast<size_t>(i) * row_bytes);
        }
    };
    // A decode step's few rows go one per work item: each is thousands of SiLUs.
    pool_.parallel_for(m, m < 2 * kMidRowsPerItem ? 1 : kMidRowsPerItem, run);
    return row_bytes;
}

void CpuBackend::routed_moe(const MoeStep& step) {
    const CpuBuffer& x = cpu_buffer(*step.x);
    CpuBuffer& out = cpu_buffer(*step.out);
    const model::ExpertStack& gate = *step.gate;
    const model::ExpertStack& up = *step.up;
    const model::ExpertStack& down = *step.down;
    const int64_t k = step.ids->cols();
    const int64_t n_ff = gate.n_out;
    const int64_t n_out = down.n_out;
    require(x.cols() == gate.n_in && up.n_in == gate.n_in && up.n_out == gate.n_out &&
                down.n_in == gate.n_out && out.cols() == n_out && step.weights->cols() == k,
            "routed_moe: expert shapes do not match the buffers");
    require(up.type == gate.type, "routed_moe: gate and up experts differ in type");
    group_by_expert(step, gate.n_expert);
    MoeScratch& s = moe_;
    const auto m = static_cast<int64_t>(s.order.size());

    // Each token's input is quantized once, whatever number of its experts, then gathered in
    // expert order so that every expert reads one contiguous block of rows.
    const Numerics in_numerics = effective_numerics(gate.type, step.numerics);
    const size_t x_row_bytes = prepare_activations(gate.type, in_numerics, x.f32(), x.cols(),
                                                   step.n_tokens, gate.n_in, act_);
    s.gathered.resize(x_row_bytes * static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i)
        std::memcpy(
            s.gathered.data() + static_cast<size_t>(i) * x_row_bytes,
            act_.data() + static_cast<size_t>(s.order[static_cast<size_t>(i)].token) * x_row_bytes,
            x_row_bytes);
    s.gate_out.resize(static_cast<size_t>(m * n_ff));
    s.up_out.resize(static_cast<size_t>(m * n_ff));
    run_expert_matrices(step, false, s.gathered.data(), x_row_bytes, in_numerics);

    const Numerics mid_numerics = effective_numerics(down.type, step.numerics);
    const size_t mid_row_bytes = quantize_mid_rows(step, mid_numerics);
    s.down_out.resize(static_cast<size_t>(m * n_out));
    run_expert_matrices(step, true, act_mid_.data(), mid_row_bytes, mid_numerics);

    // Slot order, starting from zero: the same sum whichever experts ran first.
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        float* dst = out.row(t);
        std::fill_n(dst, n_out, 0.0f);
        for (int64_t slot = 0; slot < k; ++slot) {
            const float* part =
                s.down_out.data() + s.position[static_cast<size_t>(t * k + slot)] * n_out;
            for (int64_t o = 0; o < n_out; ++o) dst[o] += part[o];
        }
    }
}

}  // namespace dsv4::backend::cpu
