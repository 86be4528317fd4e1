// Each sublayer of the forward pass on the oracle's own inputs: the golden hc_states file holds
// the hyper-connection state after every sublayer of every layer for the short prompt, so one
// sublayer at a time is checked against the reference engine (exact numerics).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tests/unit/test_forward_oracle.h"

namespace dsv4::test {
namespace {

struct SublayerError {
    double max_abs_diff = 0;
    double max_abs_ref = 0;
};

SublayerError compare_state(const std::vector<float>& ours, const float* reference) {
    SublayerError e;
    for (size_t i = 0; i < ours.size(); ++i) {
        e.max_abs_diff = std::max(e.max_abs_diff, std::fabs(double(ours[i]) - reference[i]));
        e.max_abs_ref = std::max(e.max_abs_ref, std::fabs(double(reference[i])));
    }
    return e;
}

TEST(ForwardSublayers, EverySublayerMatchesTheOracleOnItsOwnInputs) {
    int checked_models = 0;
    for (const GoldenCase& c : golden_cases()) {
        if (c.mode != "exact" || c.name != "short") continue;
        const std::string states_path =
            golden_dir() + "/" + c.model_stem + ".exact.short.hc_states.f32";
        if (!std::filesystem::exists(states_path)) continue;
        SCOPED_TRACE(c.label());
        ++checked_models;
        const auto model = forward::load_model(c.model_path);
        const model::ModelConfig& config = model->config;
        const std::vector<int32_t> tokens = c.meta["prompt_tokens"].int_list();
        const auto n = static_cast<int64_t>(tokens.size());
        const int64_t hc_dim = config.hc_dim();
        const std::vector<float> states = read_f32(states_path);
        ASSERT_EQ(states.size(), size_t(config.n_layer) * 2 * n * hc_dim);
        auto reference = [&](uint32_t layer, int sublayer) {
            return states.data() + ((int64_t(layer) * 2 + sublayer) * n) * hc_dim;
        };

        backend::cpu::CpuBackend backend(2);
        forward::ForwardOptions options;
        options.numerics = quant::Numerics::F32;
        forward::Forward fwd(*model, backend, options);
        state::SequenceState seq(config, backend, 2048);
        std::vector<float> ours(size_t(n * hc_dim));
        for (uint32_t il = 0; il < config.n_layer; ++il) {
            for (int sublayer = 0; sublayer < 2; ++sublayer) {
                if (il == 0 && sublayer == 0) {
                    backend.embed(model->weights.token_embd, tokens, fwd.hc_buffer());
                } else {
                    const float* input = sublayer == 0 ? reference(il - 1, 1) : reference(il, 0);
                    backend.write_rows(fwd.hc_buffer(), 0, n, input);
                }
                if (sublayer == 0) {
                    fwd.attention_sublayer(il, seq, tokens);
                } else {
                    fwd.ffn_sublayer(il, tokens);
                }
                backend.read_rows(fwd.hc_buffer(), 0, n, ours.data());
                const SublayerError e = compare_state(ours, reference(il, sublayer));
                EXPECT_LT(e.max_abs_diff, 1e-4 * e.max_abs_ref)
                    << "layer " << il << (sublayer == 0 ? " attention" : " ffn");
            }
        }
    }
    EXPECT_GT(checked_models, 0) << "no hc_states file in " << golden_dir();
}

}  // namespace
}  // namespace dsv4::test
