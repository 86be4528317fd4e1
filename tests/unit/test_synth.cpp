// Synthetic DSV4 models: the tiny preset loads (config, weights, tokenizer) and runs with finite,
// golden-like logits for every expert type; bytes depend only on the arguments; the tiny layout
// is the golden files' layout; the full-width layers-4 shape is right, checked on a sparse file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "engine/gguf/gguf_describe.h"
#include "engine/model/synth.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::test {
namespace {

using model::SynthExpertQuant;

model::SynthOptions tiny_options(SynthExpertQuant quant = SynthExpertQuant::Q2, uint64_t seed = 1) {
    model::SynthOptions o;
    o.shape = model::synth_tiny_shape();
    o.expert_quant = quant;
    o.seed = seed;
    return o;
}

std::unique_ptr<forward::LoadedModel> load_tiny(const model::SynthOptions& options) {
    const model::SyntheticModel synthetic(options);
    return std::make_unique<forward::LoadedModel>(
        gguf::GgufFile::from_owned_bytes(synthetic.to_bytes(), "synthetic-tiny.gguf"));
}

struct RowStats {
    bool finite = true;
    double std = 0;
    float range = 0;
};

RowStats row_stats(const float* row, size_t n) {
    RowStats s;
    double sum = 0, sum_squares = 0;
    float lo = row[0], hi = row[0];
    for (size_t i = 0; i < n; ++i) {
        s.finite = s.finite && std::isfinite(row[i]);
        sum += row[i];
        sum_squares += static_cast<double>(row[i]) * row[i];
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
    }
    const double mean = sum / static_cast<double>(n);
    s.std = std::sqrt(std::max(0.0, sum_squares / static_cast<double>(n) - mean * mean));
    s.range = hi - lo;
    return s;
}

// Prefill of a prompt that passes the window and the indexer's top-k, then decode steps: every
// row finite and spread like a real model's logits (the golden models give std 2.3-2.9).
void expect_sane_logits(const forward::LoadedModel& model, const tokenizer::Tokenizer& tok) {
    backend::cpu::CpuBackend backend(1);
    forward::Forward fwd(model, backend);
    std::string text = "<｜begin▁of▁sentence｜><｜User｜>";
    for (int i = 0; i < 5; ++i)
        text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + ". ";
    text += "<｜Assistant｜></think>";
    const std::vector<int32_t> prompt = tok.encode(text, tokenizer::SpecialTokenMode::Recognise);
    // Past the window, the indexer's top-k and a ratio-128 window on the tiny shape.
    ASSERT_GT(prompt.size(), 140u);
    state::SequenceState seq(model.config, backend, static_cast<int64_t>(prompt.size()) + 8);
    const size_t n_vocab = model.config.n_vocab;
    std::vector<float> rows = fwd.prefill(seq, prompt, forward::LogitRows::All);
    ASSERT_EQ(rows.size(), prompt.size() * n_vocab);
    int32_t next = 0;
    for (int step = 0; step < 4; ++step) {
        const std::vector<float> row = fwd.decode(seq, next);
        rows.insert(rows.end(), row.begin(), row.end());
        next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    }
    for (size_t r = 0; r < rows.size() / n_vocab; ++r) {
        const RowStats s = row_stats(rows.data() + r * n_vocab, n_vocab);
        ASSERT_TRUE(s.finite) << "row " << r;
        EXPECT_GT(s.std, 0.5) << "row " << r;
        EXPECT_LT(s.std, 10.0) << "row " << r;
    }
}

TEST(Synth, TinyLoadsTokenizesAndRunsForEveryExpertType) {
    for (SynthExpertQuant quant : {SynthExpertQuant::Q2, SynthExpertQuant::Q4, SynthExpertQuant::Q8,
                                   SynthExpertQuant::F16}) {
        SCOPED_TRACE(model::synth_expert_quant_name(quant));
        const auto model = load_tiny(tiny_options(quant));
        EXPECT_EQ(model->config.n_layer, 5u);
        EXPECT_EQ(model->config.n_vocab, 640u);
        const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(model->file);
        EXPECT_EQ(tok.vocab_size(), 640u);
        EXPECT_EQ(tok.merge_count(), 640u - 2 - 256 - 6);
        EXPECT_EQ(tok.bos(), 0);
        EXPECT_EQ(tok.eos(), 1);
        expect_sane_logits(*model, tok);
    }
}

TEST(Synth, VocabularyIsAValidByteLevelBpe) {
    const model::SynthVocab vocab = model::synth_vocab(2000, 7);
    ASSERT_EQ(vocab.tokens.size(), 2000u);
    std::vector<std::string_view> tokens(vocab.tokens.begin(), vocab.tokens.end());
    std::vector<std::string_view> merges(vocab.merges.begin(), vocab.merges.end());
    const auto tok = tokenizer::Tokenizer::from_vocab(tokens, merges);
    // Every merge result is a token of its own, so text made of merged tokens round-trips and
    // comes out shorter than its bytes.
    const std::string text = "the weather in the north is mostly rain and then sunshine";
    const std::vector<int32_t> ids = tok.encode(text, tokenizer::SpecialTokenMode::PlainText);
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_LT(ids.size(), text.size());
    EXPECT_EQ(vocab.token_types[0], 3);
    EXPECT_EQ(vocab.token_types[1999], 3);
    EXPECT_EQ(vocab.token_types[300], 1);
    EXPECT_EQ(*tok.find_token("<｜latest_reminder｜>"), 1996);
}

TEST(Synth, SameArgumentsSameBytesOtherSeedOtherBytes) {
    const std::vector<uint8_t> a = model::SyntheticModel(tiny_options()).to_bytes();
    const std::vector<uint8_t> b = model::SyntheticModel(tiny_options()).to_bytes();
    const std::vector<uint8_t> c =
        model::SyntheticModel(tiny_options(SynthExpertQuant::Q2, 2)).to_bytes();
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    // Every tensor differs, not only the name in the metadata.
    const auto fa = gguf::GgufFile::from_memory(a);
    const auto fc = gguf::GgufFile::from_memory(c);
    for (const gguf::TensorInfo& t : fa.tensors()) {
        const gguf::TensorInfo& u = fc.tensor(t.name);
        EXPECT_FALSE(std::equal(t.bytes().begin(), t.bytes().end(), u.bytes().begin())) << t.name;
    }
}

TEST(Synth, RepeatedPoolsKeepTheBytesDeterministic) {
    model::SynthOptions small_pool = tiny_options();
    small_pool.distinct_bytes_per_tensor = 4096;
    const std::vector<uint8_t> a = model::SyntheticModel(small_pool).to_bytes();
    EXPECT_EQ(a, model::SyntheticModel(small_pool).to_bytes());
    EXPECT_NE(a, model::SyntheticModel(tiny_options()).to_bytes());
    const auto model = std::make_unique<forward::LoadedModel>(
        gguf::GgufFile::from_owned_bytes(std::vector<uint8_t>(a), "small-pool.gguf"));
    expect_sane_logits(*model, tokenizer::Tokenizer::from_gguf(model->file));
}

TEST(Synth, TinyHasTheGoldenFilesLayoutAndHyperParameters) {
    const auto golden = gguf::GgufFile::open(golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    const std::vector<uint8_t> bytes = model::SyntheticModel(tiny_options()).to_bytes();
    const auto synthetic = gguf::GgufFile::from_memory(bytes);
    ASSERT_EQ(synthetic.tensors().size(), golden.tensors().size());
    for (size_t i = 0; i < golden.tensors().size(); ++i) {
        const gguf::TensorInfo& g = golden.tensors()[i];
        const gguf::TensorInfo& s = synthetic.tensors()[i];
        EXPECT_EQ(s.name, g.name);
        EXPECT_EQ(s.type(), g.type()) << g.name;
        EXPECT_EQ(s.dims, g.dims) << g.name;
        EXPECT_EQ(s.offset - synthetic.data_offset(), g.offset - golden.data_offset()) << g.name;
    }
    const gguf::DescribeOptions kAllItems{.max_array_items = 1000, .max_string_bytes = 1000};
    for (const gguf::MetadataEntry& entry : golden.metadata()) {
        if (!entry.key.starts_with("deepseek4.")) continue;
        const gguf::Value* mine = synthetic.find(entry.key);
        ASSERT_NE(mine, nullptr) << entry.key;
        EXPECT_EQ(gguf::summarize_value(*mine, kAllItems),
                  gguf::summarize_value(entry.value, kAllItems))
            << entry.key;
    }
}

class TempPath {
  public:
    explicit TempPath(const std::string& stem)
        : path_((std::filesystem::temp_directory_path() /
                 (stem + "-" + std::to_string(::getpid()) + ".gguf"))
                    .string()) {}
    ~TempPath() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(Synth, FullWidthLayers4ShapeOnASparseFile) {
    model::SynthOptions options;
    options.shape = *model::synth_shape_from_preset("layers-4");
    const model::SyntheticModel synthetic(options);
    TempPath file("dsv4-synth-layers4-sparse");
    synthetic.write_sparse_file(file.path());
    const forward::LoadedModel model(gguf::GgufFile::open(file.path()));
    const model::ModelConfig& c = model.config;
    EXPECT_EQ(model.file.file_bytes(), synthetic.file_bytes());
    EXPECT_EQ(c.n_layer, 4u);
    EXPECT_EQ(c.n_embd, 4096u);
    EXPECT_EQ(c.n_vocab, 129280u);
    EXPECT_EQ(c.n_head, 64u);
    EXPECT_EQ(c.head_dim, 512u);
    EXPECT_EQ(c.q_lora_rank, 1024u);
    EXPECT_EQ(c.n_out_group, 8u);
    EXPECT_EQ(c.o_lora_rank, 1024u);
    EXPECT_EQ(c.n_expert, 256u);
    EXPECT_EQ(c.n_expert_used, 6u);
    EXPECT_EQ(c.n_ff_expert, 2048u);
    EXPECT_EQ(c.n_expert_shared, 1u);
    EXPECT_EQ(c.n_hash_layer, 3u);
    EXPECT_EQ(c.sliding_window, 128u);
    EXPECT_EQ(c.indexer_n_head, 64u);
    EXPECT_EQ(c.indexer_head_dim, 128u);
    EXPECT_EQ(c.indexer_top_k, 512u);
    EXPECT_EQ(c.n_hc, 4u);
    const uint32_t ratios[] = {0, 0, 4, 128};
    for (uint32_t il = 0; il < 4; ++il) {
        EXPECT_EQ(c.layers[il].compress_ratio, ratios[il]);
        EXPECT_EQ(c.layers[il].hash_routed, il < 3);
        const model::LayerWeights& w = model.weights.layers[il];
        EXPECT_EQ(w.gate_exps.type, quant::Type::IQ2_XXS);
        EXPECT_EQ(w.down_exps.type, quant::Type::Q2_K);
        EXPECT_EQ(w.n_expert(), 256);
        EXPECT_EQ(w.router_bias.size > 0, il >= 3);
    }
    EXPECT_EQ(model.weights.output.type, quant::Type::Q8_0);
    EXPECT_EQ(model.weights.token_embd.type, quant::Type::F16);
    // The published q2 file's per-layer expert bytes (spec: 528 MiB gate/up, 672 MiB down).
    EXPECT_EQ(model.weights.layers[0].gate_exps.expert_bytes * 256, 528ull << 20);
    EXPECT_EQ(model.weights.layers[0].down_exps.expert_bytes * 256, 672ull << 20);
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(model.file);
    EXPECT_EQ(tok.vocab_size(), 129280u);
    const std::string text = "Synthetic vocabularies still round-trip: 123 + 456!";
    EXPECT_EQ(tok.decode(tok.encode(text, tokenizer::SpecialTokenMode::PlainText)), text);
}

TEST(Synth, PresetAndQuantNames) {
    EXPECT_EQ(model::synth_shape_from_preset("tiny")->n_embd, 256u);
    EXPECT_EQ(model::synth_shape_from_preset("layers-1")->n_hash_layer, 1u);
    EXPECT_EQ(model::synth_shape_from_preset("layers-43")->n_layer, 43u);
    for (const char* bad : {"layers-0", "layers-44", "layers-", "layers-4x", "huge", ""})
        EXPECT_FALSE(model::synth_shape_from_preset(bad)) << bad;
    for (const char* name : {"q2", "q4", "q8", "f16"})
        EXPECT_STREQ(model::synth_expert_quant_name(*model::synth_expert_quant_from_name(name)),
                     name);
    EXPECT_FALSE(model::synth_expert_quant_from_name("q3"));
    const std::vector<uint32_t> ratios = model::synth_full_width_shape(7).compress_ratios();
    EXPECT_EQ(ratios, (std::vector<uint32_t>{0, 0, 4, 128, 4, 128, 4}));
}

}  // namespace
}  // namespace dsv4::test
