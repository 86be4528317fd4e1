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

// The tokens that chose one expert, their quantized inputs and the buffers of its three matmuls.
struct CpuBackend::ExpertTask {
    int64_t expert = 0;
    const std::vector<Assignment>* assignments = nullptr;
    size_t x_row_bytes = 0;
    Numerics in_numerics = Numerics::Q8;
    Numerics mid_numerics = Numerics::Q8;
    std::vector<uint8_t> gathered;
    std::vector<float> gate_out, up_out, down_out;
};

void CpuBackend::run_expert(const MoeStep& step, ExpertTask& task, std::vector<float>& slot_out) {
    const std::vector<Assignment>& list = *task.assignments;
    const CpuBuffer& weights = cpu_buffer(*step.weights);
    const int64_t n_slots = weights.cols();
    const int64_t n_ff = step.gate->n_out;
    const int64_t n_out = step.down->n_out;
    const auto m = static_cast<int64_t>(list.size());
    task.gathered.resize(task.x_row_bytes * list.size());
    for (size_t i = 0; i < list.size(); ++i)
        std::memcpy(task.gathered.data() + i * task.x_row_bytes,
                    act_.data() + static_cast<size_t>(list[i].token) * task.x_row_bytes,
                    task.x_row_bytes);
    task.gate_out.resize(static_cast<size_t>(m * n_ff));
    task.up_out.resize(static_cast<size_t>(m * n_ff));
    quant::matmul_prepared(step.gate->expert(task.expert), task.gathered.data(), task.x_row_bytes,
                           m, task.gate_out.data(), n_ff, task.in_numerics, pool_);
    quant::matmul_prepared(step.up->expert(task.expert), task.gathered.data(), task.x_row_bytes, m,
                           task.up_out.data(), n_ff, task.in_numerics, pool_);
    // The routing weight goes in before the down projection (and its activation quantization).
    for (int64_t i = 0; i < m; ++i) {
        const Assignment& a = list[static_cast<size_t>(i)];
        const float w = weights.row(a.token)[a.slot];
        float* g = task.gate_out.data() + i * n_ff;
        const float* u = task.up_out.data() + i * n_ff;
        for (int64_t r = 0; r < n_ff; ++r)
            g[r] = silu(std::min(g[r], step.clamp)) * std::clamp(u[r], -step.clamp, step.clamp) * w;
    }
    const size_t mid_row_bytes = prepare_activations(step.down->type, task.mid_numerics,
                                                     task.gate_out.data(), n_ff, m, n_ff, act_mid_);
    task.down_out.resize(static_cast<size_t>(m * n_out));
    quant::matmul_prepared(step.down->expert(task.expert), act_mid_.data(), mid_row_bytes, m,
                           task.down_out.data(), n_out, task.mid_numerics, pool_);
    for (int64_t i = 0; i < m; ++i) {
        const Assignment& a = list[static_cast<size_t>(i)];
        std::memcpy(slot_out.data() + (a.token * n_slots + a.slot) * n_out,
                    task.down_out.data() + i * n_out, sizeof(float) * static_cast<size_t>(n_out));
    }
}

void CpuBackend::routed_moe(const MoeStep& step) {
    const CpuBuffer& x = cpu_buffer(*step.x);
    const CpuBuffer& ids = cpu_buffer(*step.ids, DType::I32);
    CpuBuffer& out = cpu_buffer(*step.out);
    const model::ExpertStack& gate = *step.gate;
    const model::ExpertStack& up = *step.up;
    const model::ExpertStack& down = *step.down;
    const int64_t k = ids.cols();
    const int64_t n_out = down.n_out;
    require(x.cols() == gate.n_in && up.n_in == gate.n_in && up.n_out == gate.n_out &&
                down.n_in == gate.n_out && out.cols() == n_out && step.weights->cols() == k,
            "routed_moe: expert shapes do not match the buffers");
    require(up.type == gate.type, "routed_moe: gate and up experts differ in type");

    std::vector<std::vector<Assignment>> by_expert(static_cast<size_t>(gate.n_expert));
    for (int64_t t = 0; t < step.n_tokens; ++t) {
        for (int64_t s = 0; s < k; ++s) {
            const int32_t e = ids.i32()[t * k + s];
            require(e >= 0 && e < gate.n_expert, "routed_moe: expert id out of range");
            by_expert[static_cast<size_t>(e)].push_back({t, s});
        }
    }
    ExpertTask task;
    task.in_numerics = effective_numerics(gate.type, step.numerics);
    task.mid_numerics = effective_numerics(down.type, step.numerics);
    // Each token's input is quantized once, whatever number of its experts.
    task.x_row_bytes = prepare_activations(gate.type, task.in_numerics, x.f32(), x.cols(),
                                           step.n_tokens, gate.n_in, act_);
    std::vector<float>& slot_out = scratch_c_;
    slot_out.resize(static_cast<size_t>(step.n_tokens * k * n_out));
    for (int64_t e = 0; e < gate.n_expert; ++e) {
        if (by_expert[static_cast<size_t>(e)].empty()) continue;
        task.expert = e;
        task.assignments = &by_expert[static_cast<size_t>(e)];
        run_expert(step, task, slot_out);
    }
    // Slot order, starting from zero: the same sum whichever experts ran first.
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
