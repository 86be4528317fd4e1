// Sequence state: memory accounting against what is actually allocated, and serialization —
// restoring a whole state or a chain of appended parts at any position (including the middle of
// compressor windows) and continuing gives logits bit-identical to an uninterrupted run; corrupt,
// foreign or misplaced bytes are refused without touching the state.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tests/unit/test_forward_oracle.h"

namespace dsv4::state {
namespace {

constexpr int64_t kContextTokens = 512;

struct Fixture {
    Fixture() {
        for (test::GoldenCase& c : test::golden_cases()) {
            if (c.name != "long") continue;
            model = forward::load_model(c.model_path);
            tokens = c.meta["prompt_tokens"].int_list();
            break;
        }
        if (!model) throw std::runtime_error("no golden long case");
        uint32_t max_ratio = 0;
        for (const model::LayerConfig& layer : model->config.layers)
            max_ratio = std::max(max_ratio, layer.compress_ratio);
        // Past the first ratio-128 emission, with indexer selection active.
        tokens.resize(std::min<size_t>(tokens.size(), max_ratio + 60));
    }
    std::unique_ptr<forward::LoadedModel> model;
    std::vector<int32_t> tokens;
    backend::cpu::CpuBackend backend{1};
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

std::span<const int32_t> slice(const std::vector<int32_t>& v, size_t begin, size_t end) {
    return std::span<const int32_t>(v).subspan(begin, end - begin);
}

bool bit_identical(const std::vector<float>& a, const float* b, size_t n) {
    return a.size() == n && std::memcmp(a.data(), b, n * sizeof(float)) == 0;
}

TEST(SequenceState, MemoryEstimateMatchesTheAllocatedBuffers) {
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    SequenceState seq(config, f.backend, kContextTokens);
    uint64_t fixed = 0, rows = 0;
    for (uint32_t il = 0; il < config.n_layer; ++il) {
        const LayerState& layer = seq.layer(il);
        auto bytes = [](const backend::Buffer& b) { return uint64_t(b.rows() * b.cols()) * 4; };
        fixed += bytes(*layer.raw_ring);
        for (const CompressorState* c : {&layer.attention, &layer.indexer}) {
            if (!c->active()) continue;
            fixed += bytes(*c->window_kv) + bytes(*c->window_score);
            rows += bytes(*c->rows);
        }
    }
    const MemoryEstimate estimate = estimate_memory(config, kContextTokens);
    EXPECT_EQ(estimate.fixed_bytes, fixed);
    EXPECT_EQ(estimate.total_bytes, fixed + rows);
    // Growth: one compressed row per `ratio` tokens on every compressed layer.
    const MemoryEstimate twice = estimate_memory(config, 2 * kContextTokens);
    EXPECT_NEAR(static_cast<double>(twice.total_bytes - estimate.total_bytes),
                estimate.bytes_per_token * kContextTokens, 1e-6 * estimate.total_bytes);
    EXPECT_GT(estimate.bytes_per_token, 0.0);
}

TEST(SequenceState, MemoryEstimateOfTheFullModelShapeMatchesTheSpec) {
    // DeepSeek V4 Flash: 43 layers (ratios 0, 0, then 4 on even and 128 on odd layers), head dim
    // 512, indexer head dim 128, window 128. The spec's figures: rings 11 272 192 B, compressor
    // windows 12 206 080 B, 13 760 B per token in f32.
    model::ModelConfig config;
    config.n_layer = 43;
    config.head_dim = 512;
    config.indexer_head_dim = 128;
    config.sliding_window = 128;
    for (uint32_t il = 0; il < config.n_layer; ++il) {
        model::LayerConfig layer;
        layer.compress_ratio = il < 2 ? 0 : (il % 2 == 0 ? 4 : 128);
        layer.attention = model::attention_kind_for_ratio(layer.compress_ratio);
        config.layers.push_back(layer);
    }
    const MemoryEstimate m = estimate_memory(config, 1 << 20);
    EXPECT_EQ(m.fixed_bytes, 11272192u + 12206080u);
    EXPECT_DOUBLE_EQ(m.bytes_per_token, 13760.0);
    EXPECT_EQ(m.total_bytes, m.fixed_bytes + 13760ull * (1 << 20));
}

class StateRestore : public testing::TestWithParam<quant::Numerics> {};

TEST_P(StateRestore, RestoreThenContinueIsBitIdenticalAtAnyPosition) {
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    forward::ForwardOptions options;
    options.numerics = GetParam();
    forward::Forward fwd(*f.model, f.backend, options);
    SequenceState reference(config, f.backend, kContextTokens);
    const std::vector<float> expected = fwd.prefill(reference, f.tokens, forward::LogitRows::All);
    const size_t n = f.tokens.size();
    const size_t n_vocab = config.n_vocab;

    // Positions at, after and inside compressor windows, inside and past the raw window.
    for (size_t cut :
         {size_t{1}, size_t{5}, size_t{config.sliding_window} + 2, size_t{61}, n / 2, n - 1}) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        SequenceState first(config, f.backend, kContextTokens);
        fwd.prefill(first, slice(f.tokens, 0, cut), forward::LogitRows::None);
        const std::vector<uint8_t> bytes = first.serialize();

        SequenceState restored(config, f.backend, kContextTokens);
        restored.restore(bytes);
        ASSERT_EQ(restored.position(), static_cast<int64_t>(cut));
        const std::vector<float> rest =
            fwd.prefill(restored, slice(f.tokens, cut, n), forward::LogitRows::All);
        EXPECT_TRUE(bit_identical(rest, expected.data() + cut * n_vocab, (n - cut) * n_vocab));
        // The restored state serializes to the same bytes as the reference at the end.
        EXPECT_EQ(restored.serialize(), reference.serialize());
    }
}

// Prefills `live` piece by piece up to each cut and keeps serialize_part(live, previous cut)
// after every piece.
template <typename SerializePart>
std::vector<std::vector<uint8_t>> prefill_in_parts(forward::Forward& fwd, SequenceState& live,
                                                   const std::vector<size_t>& cuts,
                                                   SerializePart serialize_part) {
    std::vector<std::vector<uint8_t>> parts;
    for (size_t i = 1; i < cuts.size(); ++i) {
        fwd.prefill(live, slice(fixture().tokens, cuts[i - 1], cuts[i]), forward::LogitRows::None);
        parts.push_back(serialize_part(live, static_cast<int64_t>(cuts[i - 1])));
    }
    return parts;
}

TEST_P(StateRestore, ChainOfAppendedPartsRestoresTheSameState) {
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    forward::ForwardOptions options;
    options.numerics = GetParam();
    forward::Forward fwd(*f.model, f.backend, options);
    const size_t n = f.tokens.size();

    SequenceState live(config, f.backend, kContextTokens);
    const std::vector<std::vector<uint8_t>> parts =
        prefill_in_parts(fwd, live, {0, 3, 30, 31, n - 9, n},
                         [](const SequenceState& s, int64_t since) { return s.serialize(since); });
    // Every appended part is smaller than the whole state once rows accumulate.
    EXPECT_LT(parts.back().size(), live.serialize().size());

    SequenceState chained(config, f.backend, kContextTokens);
    for (const std::vector<uint8_t>& part : parts) chained.restore(part);
    EXPECT_EQ(chained.serialize(), live.serialize());
    const int32_t next = f.tokens[n / 2];
    EXPECT_TRUE(
        bit_identical(fwd.decode(chained, next), fwd.decode(live, next).data(), config.n_vocab));
}

TEST_P(StateRestore, RowChainPlusOneTailResumesBitIdentically) {
    // What the prefix store keeps: immutable rows per block, a resume tail only at the end.
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    forward::ForwardOptions options;
    options.numerics = GetParam();
    forward::Forward fwd(*f.model, f.backend, options);
    const size_t n = f.tokens.size();

    SequenceState live(config, f.backend, kContextTokens);
    const std::vector<std::vector<uint8_t>> rows = prefill_in_parts(
        fwd, live, {0, 64, 128, n - 7},
        [](const SequenceState& s, int64_t since) { return s.serialize_rows(since); });
    const std::vector<uint8_t> tail = live.serialize_tail();

    SequenceState chained(config, f.backend, kContextTokens);
    for (const std::vector<uint8_t>& part : rows) {
        chained.restore(part);
        EXPECT_FALSE(chained.resumable());
    }
    // Rows alone cannot be extended: the window state is missing.
    EXPECT_THROW(fwd.decode(chained, f.tokens[n - 7]), StateError);
    chained.restore(tail);
    ASSERT_TRUE(chained.resumable());
    EXPECT_EQ(chained.serialize(), live.serialize());
    const std::vector<float> expected =
        fwd.prefill(live, slice(f.tokens, n - 7, n), forward::LogitRows::All);
    const std::vector<float> resumed =
        fwd.prefill(chained, slice(f.tokens, n - 7, n), forward::LogitRows::All);
    EXPECT_TRUE(bit_identical(resumed, expected.data(), expected.size()));
}

INSTANTIATE_TEST_SUITE_P(Numerics, StateRestore,
                         testing::Values(quant::Numerics::Q8, quant::Numerics::F32),
                         [](const testing::TestParamInfo<quant::Numerics>& info) {
                             return std::string(info.param == quant::Numerics::Q8 ? "q8" : "f32");
                         });

TEST(SequenceState, RefusesCorruptForeignAndMisplacedBytes) {
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    forward::Forward fwd(*f.model, f.backend);
    SequenceState source(config, f.backend, kContextTokens);
    fwd.prefill(source, slice(f.tokens, 0, 40), forward::LogitRows::None);
    const std::vector<uint8_t> whole = source.serialize();
    fwd.prefill(source, slice(f.tokens, 40, 50), forward::LogitRows::None);
    const std::vector<uint8_t> suffix = source.serialize(40);

    SequenceState target(config, f.backend, kContextTokens);
    fwd.prefill(target, slice(f.tokens, 0, 7), forward::LogitRows::None);
    const std::vector<uint8_t> before = target.serialize();
    auto expect_refused = [&](const std::vector<uint8_t>& bytes, const char* what) {
        EXPECT_THROW(target.restore(bytes), StateError) << what;
        EXPECT_EQ(target.serialize(), before) << what << " changed the state";
    };

    std::vector<uint8_t> flipped = whole;
    flipped[flipped.size() / 2] ^= 0x10;
    expect_refused(flipped, "a flipped byte");
    expect_refused(std::vector<uint8_t>(whole.begin(), whole.end() - 1), "a truncated state");
    expect_refused(std::vector<uint8_t>(whole.begin(), whole.begin() + 5), "a stub");
    expect_refused(suffix, "a suffix for position 40 on a state at 7");

    // A suffix onto the right position but another prefix.
    SequenceState other(config, f.backend, kContextTokens);
    std::vector<int32_t> changed(f.tokens.begin(), f.tokens.begin() + 40);
    changed[3] = (changed[3] + 1) % static_cast<int32_t>(config.n_vocab);
    fwd.prefill(other, changed, forward::LogitRows::None);
    EXPECT_THROW(other.restore(suffix), StateError);

    // A context too small for the saved positions, and a model of another shape.
    SequenceState small(config, f.backend, 16);
    EXPECT_THROW(small.restore(whole), StateError);
    model::ModelConfig wider = config;
    wider.sliding_window *= 2;
    SequenceState foreign(wider, f.backend, kContextTokens);
    try {
        foreign.restore(whole);
        ADD_FAILURE() << "a state of another model shape was accepted";
    } catch (const StateError& e) {
        EXPECT_NE(std::string(e.what()).find("sliding window"), std::string::npos) << e.what();
    }
}

TEST(SequenceState, RowsAreStoredAsExactHalvesAndTailsOnlyWhereTheyFit) {
    Fixture& f = fixture();
    const model::ModelConfig& config = f.model->config;
    forward::Forward fwd(*f.model, f.backend);
    SequenceState seq(config, f.backend, kContextTokens);
    const auto n = static_cast<int64_t>(f.tokens.size());
    fwd.prefill(seq, f.tokens, forward::LogitRows::None);
    // f32 bytes of the rows appended by the whole prompt.
    uint64_t row_values = 0;
    for (uint32_t il = 0; il < config.n_layer; ++il)
        for (const CompressorState* c : {&seq.layer(il).attention, &seq.layer(il).indexer})
            if (c->active()) row_values += static_cast<uint64_t>(n / c->ratio) * c->head_dim;
    ASSERT_GT(row_values, 0u);
    const size_t rows_bytes = seq.serialize_rows(0).size();
    // Header and tokens aside, two bytes per value: the rows are f16-exact.
    EXPECT_LT(rows_bytes, 2 * row_values + 4 * n + 512);
    EXPECT_GT(rows_bytes, 2 * row_values);

    // A tail is bound to its position and prefix.
    const std::vector<uint8_t> tail = seq.serialize_tail();
    SequenceState shorter(config, f.backend, kContextTokens);
    fwd.prefill(shorter, slice(f.tokens, 0, 10), forward::LogitRows::None);
    EXPECT_THROW(shorter.restore(tail), StateError);
    std::vector<uint8_t> flipped = tail;
    flipped[flipped.size() - 20] ^= 0x01;
    SequenceState rows_only(config, f.backend, kContextTokens);
    rows_only.restore(seq.serialize_rows(0));
    EXPECT_THROW(rows_only.restore(flipped), StateError);
    EXPECT_FALSE(rows_only.resumable());
    rows_only.restore(tail);
    EXPECT_EQ(rows_only.serialize(), seq.serialize());
}

TEST(SequenceState, ContextLimitIsEnforcedBeforeAnyWork) {
    Fixture& f = fixture();
    forward::Forward fwd(*f.model, f.backend);
    SequenceState seq(f.model->config, f.backend, 8);
    fwd.prefill(seq, slice(f.tokens, 0, 6), forward::LogitRows::None);
    const std::vector<uint8_t> before = seq.serialize();
    EXPECT_THROW(fwd.prefill(seq, slice(f.tokens, 6, 9), forward::LogitRows::Last),
                 forward::ForwardError);
    EXPECT_EQ(seq.serialize(), before);
    EXPECT_THROW(fwd.decode(seq, -1), forward::ForwardError);
    seq.reset();
    EXPECT_EQ(seq.position(), 0);
}

}  // namespace
}  // namespace dsv4::state
