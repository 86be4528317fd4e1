#include "engine/model/synth.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include "engine/quant/block_layouts.h"
#include "engine/quant/fp16.h"
#include "engine/quant/kernels.h"
#include "engine/quant/synth_blocks.h"
#include "engine/tokenizer/byte_symbols.h"
#include "engine/tokenizer/tokenizer.h"

namespace dsv4::model {
namespace {

using gguf::MetaValue;
using quant::Type;

constexpr uint32_t kFullWidthMaxLayers = 43;
constexpr uint32_t kSparseRatio = 4;
constexpr uint32_t kCompressedRatio = 128;
constexpr uint32_t kDenseLayers = 2;
constexpr float kSwigluClamp = 10.0f;
// The real file's context length (the key is informational only).
constexpr uint32_t kContextLength = 1u << 20;
// Longest merged token, in vocabulary symbols: keeps the synthetic words word-sized.
constexpr size_t kMaxMergedSymbols = 16;
// Rows dequantized to measure the RMS a quantized pool came out with.
constexpr int64_t kRmsSampleRows = 32;

uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// A counter-based generator: every draw is a hash of (seed, counter), so streams never overlap.
class SynthRng {
  public:
    explicit SynthRng(uint64_t seed) : state_(mix64(seed + 0x5851f42d4c957f2dull)) {}
    uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ull); }
    // Uniform in [0, 1) with 24 random bits.
    float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
    uint64_t below(uint64_t n) { return next() % n; }
    // Sum of four uniforms, centred and scaled to unit variance: close enough to a normal for
    // weights and much cheaper than exact sampling.
    float roughly_normal() {
        const uint64_t bits = next();
        float sum = 0;
        for (int i = 0; i < 4; ++i) sum += static_cast<float>((bits >> (16 * i)) & 0xffff);
        constexpr float kMean = 2.0f * 65535.0f;
        constexpr float kStd = 65536.0f / 1.7320508f;  // sqrt(4 / 12) per unit range
        return (sum - kMean) / kStd;
    }

  private:
    uint64_t state_;
};

uint64_t name_seed(uint64_t seed, std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    return mix64(seed ^ mix64(h));
}

// Where a quantized block keeps the f16 factors every weight of the block is proportional to.
struct ScaleFields {
    uint32_t block_bytes;
    uint32_t d_offset;
    int32_t dmin_offset;  // -1: none
};

ScaleFields scale_fields(Type t) {
    switch (t) {
        case Type::Q8_0:
            return {sizeof(quant::BlockQ8_0), offsetof(quant::BlockQ8_0, d), -1};
        case Type::IQ2_XXS:
            return {sizeof(quant::BlockIq2xxs), offsetof(quant::BlockIq2xxs, d), -1};
        case Type::Q2_K:
            return {sizeof(quant::BlockQ2K), offsetof(quant::BlockQ2K, d),
                    static_cast<int32_t>(offsetof(quant::BlockQ2K, dmin))};
        case Type::Q4_K:
            return {sizeof(quant::BlockQ4K), offsetof(quant::BlockQ4K, d),
                    static_cast<int32_t>(offsetof(quant::BlockQ4K, dmin))};
        default:
            throw std::invalid_argument("synthetic weights: no scale rewrite for type " +
                                        std::string(quant::type_info(t).name));
    }
}

void scale_f16_field(uint8_t* at, float factor) {
    uint16_t h;
    std::memcpy(&h, at, sizeof h);
    h = quant::f32_to_f16(quant::f16_to_f32(h) * factor);
    std::memcpy(at, &h, sizeof h);
}

// Multiplies every weight of the rows by about `factor` by rewriting the block scales.
void rescale_blocks(Type t, uint8_t* data, size_t n_bytes, float factor) {
    const ScaleFields f = scale_fields(t);
    for (size_t block = 0; block + f.block_bytes <= n_bytes; block += f.block_bytes) {
        scale_f16_field(data + block + f.d_offset, factor);
        if (f.dmin_offset >= 0) scale_f16_field(data + block + f.dmin_offset, factor);
    }
}

double measured_rms(Type t, const uint8_t* rows, int64_t n_rows, int64_t n_per_row,
                    size_t row_bytes) {
    std::vector<float> values(static_cast<size_t>(n_per_row));
    double sum_squares = 0;
    const int64_t sampled = std::min(n_rows, kRmsSampleRows);
    for (int64_t r = 0; r < sampled; ++r) {
        quant::dequantize_row(t, rows + static_cast<size_t>(r) * row_bytes, values.data(),
                              n_per_row);
        for (float v : values) sum_squares += static_cast<double>(v) * v;
    }
    return std::sqrt(sum_squares / static_cast<double>(sampled * n_per_row));
}

void fill_float_rows(Type t, uint8_t* dst, size_t n_values, float rms, uint64_t seed) {
    SynthRng rng(seed);
    for (size_t i = 0; i < n_values; ++i) {
        const float v = rms * rng.roughly_normal();
        if (t == Type::F32) {
            std::memcpy(dst + 4 * i, &v, 4);
        } else {
            const uint16_t h = t == Type::F16 ? quant::f32_to_f16(v) : quant::f32_to_bf16(v);
            std::memcpy(dst + 2 * i, &h, 2);
        }
    }
}

// English letter frequencies (per mille), so that early merges look like common letter pairs.
constexpr std::array<std::pair<char, int>, 26> kLetterWeights{{
    {'e', 127}, {'t', 91}, {'a', 82}, {'o', 75}, {'i', 70}, {'n', 67}, {'s', 63},
    {'h', 61},  {'r', 60}, {'d', 43}, {'l', 40}, {'c', 28}, {'u', 28}, {'m', 24},
    {'w', 24},  {'f', 22}, {'g', 20}, {'y', 20}, {'p', 19}, {'b', 15}, {'v', 10},
    {'k', 8},   {'j', 2},  {'x', 2},  {'q', 1},  {'z', 1},
}};
// A space starts roughly one symbol in six of English text.
constexpr int kSpaceWeight = 180;

class MergeGenerator {
  public:
    MergeGenerator(uint64_t seed, std::unordered_set<std::string>& known)
        : rng_(seed), known_(known) {
        tokenizer::append_byte_symbol(space_, ' ');
        for (const auto& [letter, weight] : kLetterWeights) total_weight_ += weight;
    }

    // The next merge as (left, right); left + right is a new token.
    std::pair<std::string, std::string> next() {
        for (int attempt = 0; attempt < 10000; ++attempt) {
            const bool base_left = pieces_.empty() || rng_.below(2) == 0;
            const bool base_right = word_pieces_.empty() || rng_.below(5) < 3;
            std::string left = base_left ? base_symbol(true) : pieces_[rng_.below(pieces_.size())];
            std::string right = base_right ? base_symbol(false)
                                           : pieces_[word_pieces_[rng_.below(word_pieces_.size())]];
            std::string joined = left + right;
            if (symbol_count(joined) > kMaxMergedSymbols || known_.count(joined) != 0) continue;
            known_.insert(joined);
            if (joined.rfind(space_, 0) != 0) word_pieces_.push_back(pieces_.size());
            pieces_.push_back(std::move(joined));
            return {std::move(left), std::move(right)};
        }
        throw std::runtime_error("synthetic vocabulary: no new merge found");
    }

  private:
    std::string base_symbol(bool allow_space) {
        const int total = total_weight_ + (allow_space ? kSpaceWeight : 0);
        int pick = static_cast<int>(rng_.below(static_cast<uint64_t>(total)));
        for (const auto& [letter, weight] : kLetterWeights) {
            if (pick < weight) return std::string(1, letter);
            pick -= weight;
        }
        return space_;
    }
    static size_t symbol_count(const std::string& s) {
        size_t n = 0;
        for (unsigned char c : s) n += (c & 0xc0) != 0x80;
        return n;
    }

    SynthRng rng_;
    std::unordered_set<std::string>& known_;
    std::string space_;
    int total_weight_ = 0;
    std::vector<std::string> pieces_;
    std::vector<size_t> word_pieces_;  // indices of pieces that do not start with a space
};

std::vector<std::string> trailing_specials() {
    using tokenizer::special_token_text;
    using tokenizer::SpecialToken;
    return {std::string(special_token_text(SpecialToken::User)),
            std::string(special_token_text(SpecialToken::Assistant)),
            "<\xEF\xBD\x9Clatest_reminder\xEF\xBD\x9C>",
            std::string(special_token_text(SpecialToken::ThinkOpen)),
            std::string(special_token_text(SpecialToken::ThinkClose)),
            std::string(special_token_text(SpecialToken::Dsml))};
}

uint32_t expert_file_type(SynthExpertQuant quant) {
    // ggml's "mostly" file types of the matching published files.
    switch (quant) {
        case SynthExpertQuant::Q2:
            return 19;
        case SynthExpertQuant::Q4:
            return 15;
        case SynthExpertQuant::Q8:
            return 7;
        case SynthExpertQuant::F16:
            return 1;
    }
    return 0;
}

struct ExpertTypes {
    Type gate_up;
    Type down;
};

ExpertTypes expert_types(SynthExpertQuant quant) {
    switch (quant) {
        case SynthExpertQuant::Q2:
            return {Type::IQ2_XXS, Type::Q2_K};
        case SynthExpertQuant::Q4:
            return {Type::Q4_K, Type::Q4_K};
        case SynthExpertQuant::Q8:
            return {Type::Q8_0, Type::Q8_0};
        case SynthExpertQuant::F16:
            return {Type::F16, Type::F16};
    }
    return {Type::F16, Type::F16};
}

MetaValue u32_array(const std::vector<uint32_t>& values) {
    std::vector<MetaValue> items;
    for (uint32_t v : values) items.push_back(MetaValue::u32(v));
    return MetaValue::array(gguf::ValueType::U32, std::move(items));
}

MetaValue f32_array(size_t n, float value) {
    return MetaValue::array(gguf::ValueType::F32, std::vector<MetaValue>(n, MetaValue::f32(value)));
}

}  // namespace

// ---- names and shapes --------------------------------------------------------------------------

std::optional<SynthExpertQuant> synth_expert_quant_from_name(std::string_view name) {
    if (name == "q2") return SynthExpertQuant::Q2;
    if (name == "q4") return SynthExpertQuant::Q4;
    if (name == "q8") return SynthExpertQuant::Q8;
    if (name == "f16") return SynthExpertQuant::F16;
    return std::nullopt;
}

const char* synth_expert_quant_name(SynthExpertQuant quant) {
    switch (quant) {
        case SynthExpertQuant::Q2:
            return "q2";
        case SynthExpertQuant::Q4:
            return "q4";
        case SynthExpertQuant::Q8:
            return "q8";
        case SynthExpertQuant::F16:
            return "f16";
    }
    return "?";
}

std::vector<uint32_t> SynthShape::compress_ratios() const {
    std::vector<uint32_t> ratios(n_layer);
    for (uint32_t il = 0; il < n_layer; ++il)
        ratios[il] = il < kDenseLayers ? 0 : (il % 2 == 0 ? kSparseRatio : kCompressedRatio);
    return ratios;
}

SynthShape synth_tiny_shape() {
    SynthShape s;
    s.preset = "tiny";
    s.n_layer = 5;
    s.n_embd = 256;
    s.n_vocab = 640;
    s.n_head = 4;
    s.head_dim = 192;
    s.n_rot = 64;
    s.q_lora_rank = 64;
    s.o_lora_rank = 64;
    s.n_out_group = 2;
    s.n_expert = 16;
    s.n_expert_used = 6;
    s.n_ff_expert = 256;
    s.n_expert_shared = 1;
    s.n_hash_layer = 3;
    s.sliding_window = 16;
    s.indexer_n_head = 2;
    s.indexer_head_dim = 128;
    s.indexer_top_k = 8;
    s.n_hc = 4;
    s.sinkhorn_iterations = 20;
    return s;
}

SynthShape synth_full_width_shape(uint32_t n_layer) {
    SynthShape s;
    s.preset = "layers-" + std::to_string(n_layer);
    s.n_layer = n_layer;
    s.n_embd = 4096;
    s.n_vocab = 129280;
    s.n_head = 64;
    s.head_dim = 512;
    s.n_rot = 64;
    s.q_lora_rank = 1024;
    s.o_lora_rank = 1024;
    s.n_out_group = 8;
    s.n_expert = 256;
    s.n_expert_used = 6;
    s.n_ff_expert = 2048;
    s.n_expert_shared = 1;
    s.n_hash_layer = std::min<uint32_t>(3, n_layer);
    s.sliding_window = 128;
    s.indexer_n_head = 64;
    s.indexer_head_dim = 128;
    s.indexer_top_k = 512;
    s.n_hc = 4;
    s.sinkhorn_iterations = 20;
    return s;
}

std::optional<SynthShape> synth_shape_from_preset(std::string_view preset) {
    if (preset == "tiny") return synth_tiny_shape();
    constexpr std::string_view kLayersPrefix = "layers-";
    if (preset.substr(0, kLayersPrefix.size()) != kLayersPrefix) return std::nullopt;
    const std::string_view digits = preset.substr(kLayersPrefix.size());
    uint32_t n_layer = 0;
    const auto [end, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), n_layer);
    if (error != std::errc() || end != digits.data() + digits.size() || n_layer == 0 ||
        n_layer > kFullWidthMaxLayers)
        return std::nullopt;
    return synth_full_width_shape(n_layer);
}

// ---- vocabulary --------------------------------------------------------------------------------

SynthVocab synth_vocab(uint32_t n_vocab, uint64_t seed) {
    const std::vector<std::string> specials = trailing_specials();
    const size_t fixed = 2 + 256 + specials.size();
    if (n_vocab < fixed)
        throw std::invalid_argument("synthetic vocabulary: " + std::to_string(n_vocab) +
                                    " tokens cannot hold the " + std::to_string(fixed) +
                                    " byte and special tokens");
    SynthVocab v;
    v.tokens.reserve(n_vocab);
    v.tokens.emplace_back(special_token_text(tokenizer::SpecialToken::BeginOfSentence));
    v.tokens.emplace_back(special_token_text(tokenizer::SpecialToken::EndOfSentence));
    for (int byte = 0; byte < 256; ++byte) {
        std::string symbol;
        tokenizer::append_byte_symbol(symbol, static_cast<uint8_t>(byte));
        v.tokens.push_back(std::move(symbol));
    }
    std::unordered_set<std::string> known(v.tokens.begin(), v.tokens.end());
    known.insert(specials.begin(), specials.end());
    MergeGenerator generator(mix64(seed ^ 0x766f636162ull), known);
    const size_t n_merges = n_vocab - fixed;
    v.merges.reserve(n_merges);
    for (size_t i = 0; i < n_merges; ++i) {
        auto [left, right] = generator.next();
        v.tokens.push_back(left + right);
        v.merges.push_back(left + " " + right);
    }
    v.tokens.insert(v.tokens.end(), specials.begin(), specials.end());
    v.token_types.assign(n_vocab, 1);
    v.token_types[0] = v.token_types[1] = 3;
    for (size_t i = n_vocab - specials.size(); i < n_vocab; ++i) v.token_types[i] = 3;
    return v;
}

// ---- the model -------------------------------------------------------------------------------

// Produces tensor bytes in table order: a pool of distinct rows per tensor, repeated.
class SyntheticModel::Filler {
  public:
    explicit Filler(const SyntheticModel& model) : model_(&model) {}

    void operator()(size_t index, uint64_t offset, std::span<uint8_t> chunk) {
        if (index != current_) build_pool(index);
        const size_t pool_bytes = pool_.size();
        size_t at = static_cast<size_t>(offset % pool_bytes);
        for (size_t done = 0; done < chunk.size();) {
            const size_t n = std::min(chunk.size() - done, pool_bytes - at);
            std::memcpy(chunk.data() + done, pool_.data() + at, n);
            done += n;
            at = 0;
        }
    }

  private:
    void build_pool(size_t index);
    void build_random(const gguf::StreamTensor& t, const TensorPlan& plan);
    void build_expert_ids(const gguf::StreamTensor& t, const TensorPlan& plan);

    const SyntheticModel* model_;
    size_t current_ = std::numeric_limits<size_t>::max();
    std::vector<uint8_t> pool_;
};

void SyntheticModel::Filler::build_pool(size_t index) {
    const gguf::StreamTensor& t = model_->writer_.tensors()[index];
    const TensorPlan& plan = model_->plans_[index];
    current_ = index;
    switch (plan.init) {
        case Init::Random:
            return build_random(t, plan);
        case Init::ExpertIds:
            return build_expert_ids(t, plan);
        case Init::Uniform: {
            const size_t n = static_cast<size_t>(t.n_bytes / sizeof(float));
            pool_.resize(n * sizeof(float));
            SynthRng rng(plan.seed);
            for (size_t i = 0; i < n; ++i) {
                const float v = plan.lo + (plan.hi - plan.lo) * rng.uniform();
                std::memcpy(pool_.data() + i * sizeof(float), &v, sizeof(float));
            }
            return;
        }
    }
}

void SyntheticModel::Filler::build_random(const gguf::StreamTensor& t, const TensorPlan& plan) {
    const auto n_per_row = static_cast<int64_t>(t.dims[0]);
    const size_t row_bytes = quant::row_bytes(t.type, n_per_row);
    const uint64_t total_rows = t.n_bytes / row_bytes;
    const uint64_t wanted_rows = model_->options_.distinct_bytes_per_tensor / row_bytes;
    const auto n_rows = static_cast<int64_t>(std::clamp<uint64_t>(wanted_rows, 1, total_rows));
    pool_.assign(static_cast<size_t>(n_rows) * row_bytes, 0);
    if (t.type == Type::F32 || t.type == Type::F16 || t.type == Type::BF16) {
        fill_float_rows(t.type, pool_.data(), static_cast<size_t>(n_rows * n_per_row), plan.rms,
                        plan.seed);
        return;
    }
    quant::fill_random_rows(t.type, pool_.data(), n_rows, n_per_row, plan.seed);
    const double rms = measured_rms(t.type, pool_.data(), n_rows, n_per_row, row_bytes);
    if (rms > 0)
        rescale_blocks(t.type, pool_.data(), pool_.size(), static_cast<float>(plan.rms / rms));
}

void SyntheticModel::Filler::build_expert_ids(const gguf::StreamTensor& t, const TensorPlan& plan) {
    const uint64_t n_used = t.dims[0];
    const uint64_t n_tokens = t.dims[1];
    const uint32_t n_expert = model_->options_.shape.n_expert;
    pool_.resize(static_cast<size_t>(t.n_bytes));
    SynthRng rng(plan.seed);
    std::vector<int32_t> ids(n_used);
    for (uint64_t token = 0; token < n_tokens; ++token) {
        // Distinct experts per token, as a learned hash table would give.
        for (uint64_t slot = 0; slot < n_used; ++slot) {
            int32_t id;
            do {
                id = static_cast<int32_t>(rng.below(n_expert));
            } while (std::find(ids.begin(), ids.begin() + slot, id) != ids.begin() + slot);
            ids[slot] = id;
        }
        std::memcpy(pool_.data() + token * n_used * sizeof(int32_t), ids.data(),
                    n_used * sizeof(int32_t));
    }
}

SyntheticModel::SyntheticModel(SynthOptions options) : options_(std::move(options)) {
    const SynthShape& s = options_.shape;
    if (s.n_expert_used > s.n_expert || s.n_layer == 0)
        throw std::invalid_argument("synthetic model: inconsistent shape '" + s.preset + "'");
    if (options_.distinct_bytes_per_tensor == 0)
        throw std::invalid_argument("synthetic model: distinct_bytes_per_tensor must be positive");
    add_metadata();
    add_matrix("token_embd.weight", Type::F16, {s.n_embd, s.n_vocab});
    plans_.back().rms = 1.0f;  // an embedding row is a whole residual, not a projection
    const std::vector<uint32_t> ratios = s.compress_ratios();
    for (uint32_t il = 0; il < s.n_layer; ++il) add_layer_tensors(il, ratios[il]);
    add_uniform("output_hc_base.weight", s.n_hc, -0.5f, 0.5f);
    add_matrix("output_hc_fn.weight", Type::F16, {uint64_t{s.n_hc} * s.n_embd, s.n_hc});
    add_uniform("output_hc_scale.weight", 1, 0.5f, 1.5f);
    add_uniform("output_norm.weight", s.n_embd, 0.8f, 1.2f);
    // A wider head gives logits with a spread like the golden models' (std 2-3).
    add_matrix("output.weight", Type::Q8_0, {s.n_embd, s.n_vocab}, 2.5f);
}

void SyntheticModel::add_metadata() {
    const SynthShape& s = options_.shape;
    const std::string a = "deepseek4.";
    writer_.add("general.architecture", MetaValue::string("deepseek4"));
    writer_.add("general.name", MetaValue::string("dsv4-synthetic-" + s.preset + "-" +
                                                  synth_expert_quant_name(options_.expert_quant) +
                                                  "-seed" + std::to_string(options_.seed)));
    writer_.add("general.quantization_version", MetaValue::u32(2));
    writer_.add("general.file_type", MetaValue::u32(expert_file_type(options_.expert_quant)));
    const std::pair<const char*, uint32_t> counts[] = {
        {"block_count", s.n_layer},
        {"context_length", kContextLength},
        {"embedding_length", s.n_embd},
        {"vocab_size", s.n_vocab},
        {"attention.head_count", s.n_head},
        {"attention.head_count_kv", 1},
        {"attention.key_length", s.head_dim},
        {"attention.value_length", s.head_dim},
        {"rope.dimension_count", s.n_rot},
        {"attention.q_lora_rank", s.q_lora_rank},
        {"attention.output_lora_rank", s.o_lora_rank},
        {"attention.output_group_count", s.n_out_group},
        {"expert_count", s.n_expert},
        {"expert_used_count", s.n_expert_used},
        {"expert_feed_forward_length", s.n_ff_expert},
        {"expert_shared_count", s.n_expert_shared},
        {"expert_group_count", 0},
        {"expert_group_used_count", 0},
        {"hash_layer_count", s.n_hash_layer},
        {"attention.sliding_window", s.sliding_window},
        {"attention.indexer.head_count", s.indexer_n_head},
        {"attention.indexer.key_length", s.indexer_head_dim},
        {"attention.indexer.top_k", s.indexer_top_k},
        {"hyper_connection.count", s.n_hc},
        {"hyper_connection.sinkhorn_iterations", s.sinkhorn_iterations},
    };
    for (const auto& [key, value] : counts) writer_.add(a + key, MetaValue::u32(value));
    writer_.add(a + "hyper_connection.epsilon", MetaValue::f32(1e-6f));
    writer_.add(a + "attention.compress_ratios", u32_array(s.compress_ratios()));
    writer_.add(a + "swiglu_clamp_exp", f32_array(s.n_layer, kSwigluClamp));
    writer_.add(a + "rope.freq_base", MetaValue::f32(10000.0f));
    writer_.add(a + "rope.scaling.type", MetaValue::string("yarn"));
    writer_.add(a + "rope.scaling.factor", MetaValue::f32(16.0f));
    writer_.add(a + "rope.scaling.original_context_length", MetaValue::u32(65536));
    writer_.add(a + "rope.scaling.yarn_beta_fast", MetaValue::f32(32.0f));
    writer_.add(a + "rope.scaling.yarn_beta_slow", MetaValue::f32(1.0f));
    writer_.add(a + "attention.compress_rope_freq_base", MetaValue::f32(160000.0f));
    writer_.add(a + "expert_weights_scale", MetaValue::f32(1.5f));
    writer_.add(a + "expert_weights_norm", MetaValue::boolean(true));
    writer_.add(a + "attention.layer_norm_rms_epsilon", MetaValue::f32(1e-6f));

    const SynthVocab vocab = synth_vocab(s.n_vocab, options_.seed);
    writer_.add("tokenizer.ggml.model", MetaValue::string("gpt2"));
    writer_.add("tokenizer.ggml.pre", MetaValue::string("joyai-llm"));
    writer_.add_string_array("tokenizer.ggml.tokens", vocab.tokens);
    std::vector<MetaValue> types;
    types.reserve(vocab.token_types.size());
    for (int32_t t : vocab.token_types) types.push_back(MetaValue::i32(t));
    writer_.add("tokenizer.ggml.token_type",
                MetaValue::array(gguf::ValueType::I32, std::move(types)));
    writer_.add_string_array("tokenizer.ggml.merges", vocab.merges);
    writer_.add("tokenizer.ggml.bos_token_id", MetaValue::u32(0));
    writer_.add("tokenizer.ggml.eos_token_id", MetaValue::u32(1));
    writer_.add("tokenizer.ggml.add_bos_token", MetaValue::boolean(true));
    writer_.add("tokenizer.ggml.add_eos_token", MetaValue::boolean(false));
}

void SyntheticModel::add_tensor(const std::string& name, Type type, std::vector<uint64_t> dims,
                                TensorPlan plan) {
    plan.seed = name_seed(options_.seed, name);
    writer_.add_tensor(name, type, dims);
    plans_.push_back(plan);
}

// Weights scaled by fan-in (dims[0]) so that a projection of a unit-RMS row comes out with an
// RMS of about `gain`: activations stay finite through any number of layers.
void SyntheticModel::add_matrix(const std::string& name, Type type, std::vector<uint64_t> dims,
                                float gain) {
    TensorPlan plan;
    plan.init = Init::Random;
    plan.rms = gain / std::sqrt(static_cast<float>(dims[0]));
    add_tensor(name, type, std::move(dims), plan);
}

void SyntheticModel::add_uniform(const std::string& name, uint64_t size, float lo, float hi) {
    TensorPlan plan;
    plan.init = Init::Uniform;
    plan.lo = lo;
    plan.hi = hi;
    add_tensor(name, Type::F32, {size}, plan);
}

void SyntheticModel::add_layer_tensors(uint32_t il, uint32_t ratio) {
    const SynthShape& s = options_.shape;
    const std::string p = "blk." + std::to_string(il) + ".";
    const uint64_t hc_dim = uint64_t{s.n_hc} * s.n_embd;
    const uint64_t hc_mix = 2 * s.n_hc + s.n_hc * s.n_hc;
    const uint64_t heads_per_group = s.n_head / s.n_out_group;
    const uint64_t low_rank = uint64_t{s.n_out_group} * s.o_lora_rank;
    auto hyper_connection = [&](const std::string& prefix) {
        add_matrix(prefix + "_fn.weight", Type::F16, {hc_dim, hc_mix});
        add_uniform(prefix + "_scale.weight", 3, 0.5f, 1.5f);
        add_uniform(prefix + "_base.weight", hc_mix, -0.5f, 0.5f);
    };
    auto compressor = [&](const std::string& prefix, uint64_t head_dim) {
        const uint64_t width = (ratio == kSparseRatio ? 2 : 1) * head_dim;
        TensorPlan ape;
        ape.rms = 0.1f;  // a position bias on scores, not a projection
        add_tensor(prefix + "_ape.weight", Type::F16, {width, ratio}, ape);
        add_matrix(prefix + "_kv.weight", Type::F16, {s.n_embd, width});
        add_matrix(prefix + "_gate.weight", Type::F16, {s.n_embd, width});
        add_uniform(prefix + "_norm.weight", head_dim, 0.8f, 1.2f);
    };
    hyper_connection(p + "hc_attn");
    add_uniform(p + "attn_norm.weight", s.n_embd, 0.8f, 1.2f);
    add_matrix(p + "attn_q_a.weight", Type::Q8_0, {s.n_embd, s.q_lora_rank});
    add_uniform(p + "attn_q_a_norm.weight", s.q_lora_rank, 0.8f, 1.2f);
    add_matrix(p + "attn_q_b.weight", Type::Q8_0, {s.q_lora_rank, uint64_t{s.n_head} * s.head_dim});
    add_matrix(p + "attn_kv.weight", Type::Q8_0, {s.n_embd, s.head_dim});
    add_uniform(p + "attn_kv_a_norm.weight", s.head_dim, 0.8f, 1.2f);
    add_uniform(p + "attn_sinks.weight", s.n_head, -0.5f, 0.5f);
    add_matrix(p + "attn_output_a.weight", Type::Q8_0, {heads_per_group * s.head_dim, low_rank});
    add_matrix(p + "attn_output_b.weight", Type::Q8_0, {low_rank, s.n_embd});
    if (ratio != 0) compressor(p + "attn_compressor", s.head_dim);
    if (ratio == kSparseRatio) {
        add_matrix(p + "indexer.attn_q_b.weight", Type::F16,
                   {s.q_lora_rank, uint64_t{s.indexer_n_head} * s.indexer_head_dim});
        add_matrix(p + "indexer.proj.weight", Type::F16, {s.n_embd, s.indexer_n_head});
        compressor(p + "indexer_compressor", s.indexer_head_dim);
    }
    hyper_connection(p + "hc_ffn");
    add_uniform(p + "ffn_norm.weight", s.n_embd, 0.8f, 1.2f);
    add_matrix(p + "ffn_gate_inp.weight", Type::F16, {s.n_embd, s.n_expert});
    if (il >= s.n_hash_layer) add_uniform(p + "exp_probs_b.bias", s.n_expert, -0.05f, 0.05f);
    if (il < s.n_hash_layer) {
        TensorPlan ids;
        ids.init = Init::ExpertIds;
        add_tensor(p + "ffn_gate_tid2eid.weight", Type::I32, {s.n_expert_used, s.n_vocab}, ids);
    }
    const ExpertTypes experts = expert_types(options_.expert_quant);
    add_matrix(p + "ffn_gate_exps.weight", experts.gate_up, {s.n_embd, s.n_ff_expert, s.n_expert});
    add_matrix(p + "ffn_up_exps.weight", experts.gate_up, {s.n_embd, s.n_ff_expert, s.n_expert});
    add_matrix(p + "ffn_down_exps.weight", experts.down, {s.n_ff_expert, s.n_embd, s.n_expert});
    if (s.n_expert_shared > 0) {
        add_matrix(p + "ffn_gate_shexp.weight", Type::Q8_0, {s.n_embd, s.n_ff_expert});
        add_matrix(p + "ffn_up_shexp.weight", Type::Q8_0, {s.n_embd, s.n_ff_expert});
        add_matrix(p + "ffn_down_shexp.weight", Type::Q8_0, {s.n_ff_expert, s.n_embd});
    }
}

gguf::TensorFiller SyntheticModel::filler() const {
    return Filler(*this);
}

void SyntheticModel::write_file(const std::string& path) const {
    writer_.write_file(path, filler());
}

void SyntheticModel::write_sparse_file(const std::string& path) const {
    writer_.write_sparse_file(path);
}

std::vector<uint8_t> SyntheticModel::to_bytes() const {
    return writer_.to_bytes(filler());
}

}  // namespace dsv4::model
