// Serialized sequence state. Layout (little-endian):
//   magic "DSV4SEQ\0", u32 version,
//   fingerprint: u32 n_layer, n_embd, head_dim, n_rot, indexer_head_dim, window, n_vocab,
//                u32 compress ratio per layer,
//   u64 context_tokens (of the saving state), u64 base_position, u64 end_position,
//   u64 hash of the tokens before base_position,
//   i32 tokens[base, end),
//   per layer: ring rows of positions [max(0, end - window), end) oldest first; then for each
//   active compressor (attention, indexer): rows [base / ratio, end / ratio), window kv,
//   window score,
//   u64 FNV-1a of everything before it.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "engine/state/sequence_state.h"

namespace dsv4::state {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the state format is little-endian and written in native order");

constexpr char kMagic[8] = {'D', 'S', 'V', '4', 'S', 'E', 'Q', '\0'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const uint8_t* data, size_t n) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) {
        hash ^= data[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

class Writer {
  public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
    template <typename T>
    void put(T value) {
        bytes(&value, sizeof value);
    }
    void bytes(const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        out_.insert(out_.end(), p, p + n);
    }
    // Appends n_rows rows of a buffer, read through the backend.
    void rows(backend::Backend& backend, const backend::Buffer& buffer, int64_t row0,
              int64_t n_rows) {
        if (n_rows <= 0) return;
        const size_t n = static_cast<size_t>(n_rows * buffer.cols()) * 4;
        const size_t at = out_.size();
        out_.resize(at + n);
        backend.read_rows(buffer, row0, n_rows, out_.data() + at);
    }

  private:
    std::vector<uint8_t>& out_;
};

class Reader {
  public:
    explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
    template <typename T>
    T get() {
        T value;
        std::memcpy(&value, take(sizeof value), sizeof value);
        return value;
    }
    const uint8_t* take(size_t n) {
        if (n > bytes_.size() - offset_)
            throw StateError("serialized state is truncated (" + std::to_string(bytes_.size()) +
                             " bytes)");
        const uint8_t* p = bytes_.data() + offset_;
        offset_ += n;
        return p;
    }
    size_t offset() const { return offset_; }

  private:
    std::span<const uint8_t> bytes_;
    size_t offset_ = 0;
};

struct FingerprintField {
    const char* name;
    uint32_t value;
};

std::vector<FingerprintField> fingerprint(const model::ModelConfig& c) {
    std::vector<FingerprintField> fields = {{"layer count", c.n_layer},
                                            {"embedding width", c.n_embd},
                                            {"head dim", c.head_dim},
                                            {"rope dims", c.rope.n_rot},
                                            {"indexer head dim", c.indexer_head_dim},
                                            {"sliding window", c.sliding_window},
                                            {"vocabulary", c.n_vocab}};
    for (const model::LayerConfig& layer : c.layers)
        fields.push_back({"layer compress ratio", layer.compress_ratio});
    return fields;
}

int64_t ring_rows(int64_t end, uint32_t window) {
    return std::min<int64_t>(end, window);
}

// Bytes of everything after the header's positions and hash, checksum excluded.
uint64_t body_bytes(const model::ModelConfig& c, int64_t base, int64_t end) {
    uint64_t n = static_cast<uint64_t>(end - base) * 4;
    for (const model::LayerConfig& layer : c.layers) {
        n += static_cast<uint64_t>(ring_rows(end, c.sliding_window)) * c.head_dim * 4;
        if (layer.compress_ratio == 0) continue;
        const uint64_t new_rows =
            static_cast<uint64_t>(end / layer.compress_ratio - base / layer.compress_ratio);
        const uint32_t overlap = layer.attention == model::AttentionKind::Sparse ? 2 : 1;
        auto compressor = [&](uint32_t head_dim) {
            return new_rows * head_dim * 4 +
                   2ull * overlap * layer.compress_ratio * overlap * head_dim * 4;
        };
        n += compressor(c.head_dim);
        if (layer.attention == model::AttentionKind::Sparse) n += compressor(c.indexer_head_dim);
    }
    return n;
}

void write_compressor(Writer& w, backend::Backend& backend, const CompressorState& c, int64_t base,
                      int64_t end) {
    if (!c.active()) return;
    const int64_t first = base / c.ratio;
    w.rows(backend, *c.rows, first, end / c.ratio - first);
    w.rows(backend, *c.window_kv, 0, c.window_kv->rows());
    w.rows(backend, *c.window_score, 0, c.window_score->rows());
}

void read_compressor(Reader& r, backend::Backend& backend, CompressorState& c, int64_t base,
                     int64_t end) {
    if (!c.active()) return;
    const int64_t first = base / c.ratio;
    const int64_t n_new = end / c.ratio - first;
    if (n_new > 0) backend.write_rows(*c.rows, first, n_new, r.take(n_new * c.head_dim * 4ull));
    c.n_rows = end / c.ratio;
    for (backend::Buffer* window : {c.window_kv.get(), c.window_score.get()})
        backend.write_rows(*window, 0, window->rows(),
                           r.take(static_cast<size_t>(window->rows() * window->cols()) * 4));
}

}  // namespace

std::vector<uint8_t> SequenceState::serialize(int64_t since_position) const {
    const int64_t end = position();
    if (since_position < 0 || since_position > end)
        throw StateError("cannot serialize the state since position " +
                         std::to_string(since_position) + ": the sequence holds " +
                         std::to_string(end) + " tokens");
    std::vector<uint8_t> out;
    Writer w(out);
    w.bytes(kMagic, sizeof kMagic);
    w.put(kVersion);
    for (const FingerprintField& field : fingerprint(config_)) w.put(field.value);
    w.put(static_cast<uint64_t>(context_tokens_));
    w.put(static_cast<uint64_t>(since_position));
    w.put(static_cast<uint64_t>(end));
    w.put(token_prefix_hash(std::span(tokens_).first(static_cast<size_t>(since_position))));
    w.bytes(tokens_.data() + since_position, static_cast<size_t>(end - since_position) * 4);
    const uint32_t window = config_.sliding_window;
    for (const LayerState& layer : layers_) {
        for (int64_t p = end - ring_rows(end, window); p < end; ++p)
            w.rows(backend_, *layer.raw_ring, p % window, 1);
        write_compressor(w, backend_, layer.attention, since_position, end);
        write_compressor(w, backend_, layer.indexer, since_position, end);
    }
    w.put(fnv1a(out.data(), out.size()));
    return out;
}

void SequenceState::restore(std::span<const uint8_t> bytes) {
    Reader r(bytes);
    if (std::memcmp(r.take(sizeof kMagic), kMagic, sizeof kMagic) != 0)
        throw StateError("not a serialized DSV4 sequence state (bad magic)");
    const auto version = r.get<uint32_t>();
    if (version != kVersion)
        throw StateError("serialized state has format version " + std::to_string(version) +
                         ", this build reads version " + std::to_string(kVersion));
    for (const FingerprintField& field : fingerprint(config_)) {
        const auto saved = r.get<uint32_t>();
        if (saved != field.value)
            throw StateError("serialized state belongs to another model: its " +
                             std::string(field.name) + " is " + std::to_string(saved) +
                             ", this model's is " + std::to_string(field.value));
    }
    r.get<uint64_t>();  // the saving state's context size; only the end position must fit ours
    const auto base = r.get<uint64_t>();
    const auto end = r.get<uint64_t>();
    const auto base_hash = r.get<uint64_t>();
    if (base > end || end > static_cast<uint64_t>(context_tokens_))
        throw StateError("serialized state covers positions " + std::to_string(base) + ".." +
                         std::to_string(end) + ", which do not fit a context of " +
                         std::to_string(context_tokens_) + " tokens");
    const auto base_position = static_cast<int64_t>(base);
    const auto end_position = static_cast<int64_t>(end);
    if (base_position != 0) {
        if (base_position != position())
            throw StateError("serialized state continues from position " +
                             std::to_string(base_position) + " but this sequence is at " +
                             std::to_string(position()));
        if (token_prefix_hash(tokens_) != base_hash)
            throw StateError("serialized state continues a different token prefix");
    }
    const uint64_t expected = r.offset() + body_bytes(config_, base_position, end_position) + 8;
    if (bytes.size() != expected)
        throw StateError("serialized state has " + std::to_string(bytes.size()) +
                         " bytes, its header implies " + std::to_string(expected));
    uint64_t checksum = 0;
    std::memcpy(&checksum, bytes.data() + bytes.size() - 8, 8);
    if (checksum != fnv1a(bytes.data(), bytes.size() - 8))
        throw StateError("serialized state is corrupt (checksum mismatch)");

    // Validated: from here on nothing can fail half way.
    if (base_position == 0) reset();
    const uint8_t* token_bytes = r.take(static_cast<size_t>(end_position - base_position) * 4);
    const size_t old_size = tokens_.size();
    tokens_.resize(static_cast<size_t>(end_position));
    std::memcpy(tokens_.data() + old_size, token_bytes, (tokens_.size() - old_size) * 4);
    const uint32_t window = config_.sliding_window;
    for (LayerState& layer : layers_) {
        for (int64_t p = end_position - ring_rows(end_position, window); p < end_position; ++p)
            backend_.write_rows(*layer.raw_ring, p % window, 1, r.take(config_.head_dim * 4ull));
        read_compressor(r, backend_, layer.attention, base_position, end_position);
        read_compressor(r, backend_, layer.indexer, base_position, end_position);
    }
}

}  // namespace dsv4::state
