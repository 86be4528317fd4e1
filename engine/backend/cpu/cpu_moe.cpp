// Feed-forward ops of the CPU backend: the router and the routed experts. Experts run grouped
// (all tokens that chose expert e in one matmul); each result row depends only on its own token,
// so decode and any prefill batching give identical outputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/backend/cpu/cpu_numerics.h"
#include "engine/quant/kernels.h"

namespace dsv4::backend::cpu {
namespace {

// Floor of the routing-weight denominator (2^-14).
constexpr float kMinWeightSum = 6.103515625e-05f;

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

// One (token, slot) that chose a given expert.
struct Assignment {
    int64_t token;
    int64_t slot;
};

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

void CpuBackend::routed_moe(const MoeStep& step) {
    const CpuBuffer& x = cpu_buffer(*step.x);
    const CpuBuffer& ids = cpu_buffer(*step.ids, DType::I32);
    const CpuBuffer& weights = cpu_buffer(*step.weights);
    CpuBuffer& out = cpu_buffer(*step.out);
    const model::ExpertStack& gate = *step.gate;
    const model::ExpertStack& up = *step.up;
    const model::ExpertStack& down = *step.down;
    const int64_t k = ids.cols();
    const int64_t n_ff = gate.n_out;
    const int64_t n_out = down.n_out;
    require(x.cols() == gate.n_in && up.n_in == gate.n_in && up.n_out == n_ff &&
                down.n_in == n_ff && out.cols() == n_out && weights.cols() == k,
            "routed_moe: expert shapes do not match the buffers");
    require(up.type == gate.type, "routed_moe: gate and up experts differ in type");

    const Numerics in_numerics = effective_numerics(gate.type, step.numerics);
    const Numerics mid_numerics = effective_numerics(down.type, step.numerics);
    const size_t x_row_bytes = prepare_activations(gate.type, in_numerics, x.f32(), x.cols(),
                                                   step.n_tokens, gate.n_in, act_);

    std::vector<std::vector<Assignment>> by_expert(static_cast<size_t>(gate.n_expert));
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        for (int64_t s = 0; s < k; ++s) {
            const int32_t e = ids.i32()[t * k + s];
            require(e >= 0 && e < gate.n_expert, "routed_moe: expert id out of range");
            by_expert[static_cast<size_t>(e)].push_back({t, s});
        }
    }
    std::vector<float>& slot_out = scratch_c_;
    slot_out.resize(static_cast<size_t>(step.n_tokens * k * n_out));
    std::vector<uint8_t> gathered;
    std::vector<float> gate_out;
    std::vector<float> up_out;
    std::vector<float> down_out;
    for (int64_t e = 0; e < gate.n_expert; ++e) {
        const std::vector<Assignment>& list = by_expert[static_cast<size_t>(e)];
        if (list.empty()) continue;
        const auto m = static_cast<int64_t>(list.size());
        gathered.resize(x_row_bytes * list.size());
        for (size_t i = 0; i < list.size(); ++i)
            std::memcpy(gathered.data() + i * x_row_bytes,
                        act_.data() + static_cast<size_t>(list[i].token) * x_row_bytes,
                        x_row_bytes);
        gate_out.resize(static_cast<size_t>(m * n_ff));
        up_out.resize(static_cast<size_t>(m * n_ff));
        quant::matmul_prepared(gate.expert(e), gathered.data(), x_row_bytes, m, gate_out.data(),
                               n_ff, in_numerics, pool_);
        quant::matmul_prepared(up.expert(e), gathered.data(), x_row_bytes, m, up_out.data(), n_ff,
                               in_numerics, pool_);
        for (int64_t i = 0; i < m; ++i) {
            const float w =
                weights.row(list[static_cast<size_t>(i)].token)[list[static_cast<size_t>(i)].slot];
            float* g = gate_out.data() + i * n_ff;
            const float* u = up_out.data() + i * n_ff;
            for (int64_t r = 0; r < n_ff; ++r)
                g[r] = silu(std::min(g[r], step.clamp)) *
                       std::clamp(u[r], -step.clamp, step.clamp) * w;
        }
        const size_t mid_row_bytes =
            prepare_activations(down.type, mid_numerics, gate_out.data(), n_ff, m, n_ff, act_mid_);
        down_out.resize(static_cast<size_t>(m * n_out));
        quant::matmul_prepared(down.expert(e), act_mid_.data(), mid_row_bytes, m, down_out.data(),
                               n_out, mid_numerics, pool_);
        for (int64_t i = 0; i < m; ++i) {
            const Assignment& a = list[static_cast<size_t>(i)];
            std::memcpy(slot_out.data() + (a.token * k + a.slot) * n_out,
                        down_out.data() + i * n_out, sizeof(float) * static_cast<size_t>(n_out));
        }
    }
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        float* dst = out.row(t);
        std::fill_n(dst, n_out, 0.0f);
        for (int64_t s = 0; s < k; ++s) {
            const float* part = slot_out.data() + (t * k + s) * n_out;
            for (int64_t o = 0; o < n_out; ++o) dst[o] += part[o];
        }
    }
}

}  // namespace dsv4::backend::cpu
