// Prefill batching and threading never change a logit: any chunk size (down to token-by-token
// decode) and any thread count give bit-identical rows, on a prompt that passes the window and
// reaches indexer selection and ratio-128 rows.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tests/unit/test_forward_oracle.h"

namespace dsv4::test {
namespace {

constexpr int64_t kContextTokens = 1024;

// The golden long prompt, cut so that it still passes the window, the indexer's top-k and one
// ratio-128 window while keeping the test fast.
std::vector<int32_t> long_prompt(const GoldenCase& c, const model::ModelConfig& config) {
    std::vector<int32_t> tokens = c.meta["prompt_tokens"].int_list();
    uint32_t max_ratio = 0;
    for (const model::LayerConfig& layer : config.layers)
        max_ratio = std::max(max_ratio, layer.compress_ratio);
    const size_t wanted = std::max<size_t>(
        {max_ratio + 40, config.sliding_window + 40u, size_t{config.indexer_top_k} * 4 + 40});
    if (tokens.size() > wanted) tokens.resize(wanted);
    return tokens;
}

std::vector<float> run(const forward::LoadedModel& model, const std::vector<int32_t>& tokens,
                       unsigned threads, int64_t max_batch, quant::Numerics numerics) {
    backend::cpu::CpuBackend backend(threads);
    forward::ForwardOptions options;
    options.numerics = numerics;
    options.max_batch_tokens = max_batch;
    forward::Forward fwd(model, backend, options);
    state::SequenceState seq(model.config, backend, kContextTokens);
    return fwd.prefill(seq, tokens, forward::LogitRows::All);
}

std::vector<float> run_decode(const forward::LoadedModel& model, const std::vector<int32_t>& tokens,
                              quant::Numerics numerics) {
    backend::cpu::CpuBackend backend(1);
    forward::ForwardOptions options;
    options.numerics = numerics;
    forward::Forward fwd(model, backend, options);
    state::SequenceState seq(model.config, backend, kContextTokens);
    std::vector<float> rows;
    for (int32_t token : tokens) {
        const std::vector<float> row = fwd.decode(seq, token);
        rows.insert(rows.end(), row.begin(), row.end());
    }
    return rows;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<GoldenCase> long_cases() {
    std::vector<GoldenCase> out;
    for (GoldenCase& c : golden_cases())
        if (c.name == "long" && c.mode == "qact") out.push_back(std::move(c));
    return out;
}

TEST(ForwardBatching, ChunkSizesAndDecodeGiveIdenticalLogits) {
    const std::vector<GoldenCase> cases = long_cases();
    ASSERT_FALSE(cases.empty());
    for (const GoldenCase& c : cases) {
        SCOPED_TRACE(c.model_stem);
        const auto model = forward::load_model(c.model_path);
        const std::vector<int32_t> tokens = long_prompt(c, model->config);
        for (quant::Numerics numerics : {quant::Numerics::Q8, quant::Numerics::F32}) {
            const std::vector<float> whole =
                run(*model, tokens, 1, static_cast<int64_t>(tokens.size()), numerics);
            ASSERT_EQ(whole.size(), tokens.size() * model->config.n_vocab);
            EXPECT_TRUE(bit_identical(whole, run_decode(*model, tokens, numerics)))
                << "token-by-token decode";
            if (numerics != quant::Numerics::Q8) continue;  // chunking is numerics-agnostic
            for (int64_t chunk : {1, 7, 64}) {
                EXPECT_TRUE(bit_identical(whole, run(*model, tokens, 1, chunk, numerics)))
                    << "chunk " << chunk;
            }
        }
    }
}

TEST(ForwardBatching, ThreadCountsGiveIdenticalLogits) {
    const std::vector<GoldenCase> cases = long_cases();
    ASSERT_FALSE(cases.empty());
    for (const GoldenCase& c : cases) {
        SCOPED_TRACE(c.model_stem);
        const auto model = forward::load_model(c.model_path);
        const std::vector<int32_t> tokens = long_prompt(c, model->config);
        const std::vector<float> one = run(*model, tokens, 1, 64, quant::Numerics::Q8);
        for (unsigned threads : {2u, 3u, 4u})
            EXPECT_TRUE(bit_identical(one, run(*model, tokens, threads, 64, quant::Numerics::Q8)))
                << threads << " threads";
    }
}

}  // namespace
}  // namespace dsv4::test
