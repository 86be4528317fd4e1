// Serialized sequence state, format version 3. Three pieces share one layout (little-endian):
//   magic "DSV4SEQ\0", u32 version, u32 piece (1 rows, 2 tail, 3 rows then tail),
//   fingerprint: u32 n_layer, n_embd, head_dim, n_rot, indexer_head_dim, window, n_vocab,
//                u32 compress ratio per layer,
//   u64 context_tokens (of the saving state), u64 base_position, u64 end_position,
//   u64 XXH64 of the token ids before base_position,
//   rows (pieces 1 and 3): i32 tokens[base, end); then per layer, for each active compressor
//     (attention, indexer), a section of its rows [base / ratio, end / ratio);
//   tail (pieces 2 and 3; a piece 2 has base == end): per layer a section of the ring rows of
//     positions [max(0, end - window), end) oldest first, then for each active compressor a
//     section of its window kv and one of its window score, each holding the slots that can
//     still be read: (ratio if windows overlap, else 0) + end % ratio;
//   u64 XXH64 of everything before it.
// A section is a u8 encoding (0 f32, 1 f16) and its values. f16 is used only when every value
// converts exactly — KV and indexer rows are stored f16-rounded, the compressor windows are
// not — so the encoding never loses a bit.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "engine/common/xxh64.h"
#include "engine/quant/fp16.h"
#include "engine/state/sequence_state.h"

namespace dsv4::state {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the state format is little-endian and written in native order");

constexpr char kMagic[8] = {'D', 'S', 'V', '4', 'S', 'E', 'Q', '\0'};
constexpr uint32_t kVersion = 3;

enum Piece : uint32_t { kRows = 1, kTail = 2, kRowsAndTail = 3 };

constexpr uint8_t kEncodingF32 = 0;
constexpr uint8_t kEncodingF16 = 1;

// Up to two runs of consecutive rows of one buffer (a ring wraps once at most).
struct Section {
    struct Run {
        backend::Buffer* buffer = nullptr;
        int64_t row0 = 0;
        int64_t n_rows = 0;
    };
    std::array<Run, 2> runs{};
    int n_runs = 0;

    void add(backend::Buffer* buffer, int64_t row0, int64_t n_rows) {
        if (n_rows > 0) runs[n_runs++] = Run{buffer, row0, n_rows};
    }
    size_t values() const {
        size_t n = 0;
        for (int i = 0; i < n_runs; ++i)
            n += static_cast<size_t>(runs[i].n_rows * runs[i].buffer->cols());
        return n;
    }
};

void add_compressor_rows(std::vector<Section>& out, const CompressorState& c, int64_t base,
                         int64_t end) {
    if (!c.active()) return;
    const int64_t first = base / c.ratio;
    Section s;
    s.add(c.rows.get(), first, end / c.ratio - first);
    out.push_back(s);
}

// Only the window slots that can still be read: position p writes slot p % ratio of the current
// window (after the previous window's `ratio` slots when windows overlap), and a window is pooled
// once all its slots are written, so slots past end % ratio are stale and are overwritten before
// they are read again. Leaving them out keeps the bytes canonical and the tails small.
void add_compressor_windows(std::vector<Section>& out, const CompressorState& c, int64_t end) {
    if (!c.active()) return;
    const int64_t live_slots = (c.overlap == 2 ? c.ratio : 0) + end % c.ratio;
    for (backend::Buffer* window : {c.window_kv.get(), c.window_score.get()}) {
        Section s;
        s.add(window, 0, live_slots);
        out.push_back(s);
    }
}

// The sections of a piece covering positions [base, end), in their order in the bytes.
std::vector<Section> sections_of(const std::vector<LayerState>& layers, uint32_t window,
                                 uint32_t piece, int64_t base, int64_t end) {
    std::vector<Section> out;
    if (piece & kRows)
        for (const LayerState& layer : layers) {
            add_compressor_rows(out, layer.attention, base, end);
            add_compressor_rows(out, layer.indexer, base, end);
        }
    if (piece & kTail)
        for (const LayerState& layer : layers) {
            // Position p lives in ring row p % window; the live positions wrap at most once.
            const int64_t n = std::min<int64_t>(end, window);
            const int64_t row0 = (end - n) % window;
            const int64_t first_run = std::min<int64_t>(n, window - row0);
            Section ring;
            ring.add(layer.raw_ring.get(), row0, first_run);
            ring.add(layer.raw_ring.get(), 0, n - first_run);
            out.push_back(ring);
            add_compressor_windows(out, layer.attention, end);
            add_compressor_windows(out, layer.indexer, end);
        }
    return out;
}

bool converts_to_f16_exactly(float value) {
    const uint16_t half = quant::f32_to_f16(value);
    return std::bit_cast<uint32_t>(quant::f16_to_f32(half)) == std::bit_cast<uint32_t>(value);
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
    void section(backend::Backend& backend, const Section& s) {
        std::vector<float> values(s.values());
        float* at = values.data();
        for (int i = 0; i < s.n_runs; ++i) {
            const Section::Run& run = s.runs[i];
            backend.read_rows(*run.buffer, run.row0, run.n_rows, at);
            at += run.n_rows * run.buffer->cols();
        }
        if (!std::all_of(values.begin(), values.end(), converts_to_f16_exactly)) {
            put(kEncodingF32);
            bytes(values.data(), values.size() * sizeof(float));
            return;
        }
        put(kEncodingF16);
        std::vector<uint16_t> halves(values.size());
        std::transform(values.begin(), values.end(), halves.begin(), quant::f32_to_f16);
        bytes(halves.data(), halves.size() * sizeof(uint16_t));
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
    const uint8_t* take(uint64_t n) {
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

// A section located in the bytes, applied only once the whole input is validated.
struct ParsedSection {
    Section where;
    uint8_t encoding = kEncodingF32;
    const uint8_t* data = nullptr;
};

ParsedSection parse_section(Reader& r, const Section& where) {
    ParsedSection p{where, r.get<uint8_t>(), nullptr};
    if (p.encoding != kEncodingF32 && p.encoding != kEncodingF16)
        throw StateError("serialized state has an unknown section encoding " +
                         std::to_string(p.encoding));
    const uint64_t value_bytes = p.encoding == kEncodingF16 ? 2 : 4;
    p.data = r.take(where.values() * value_bytes);
    return p;
}

void apply_section(backend::Backend& backend, const ParsedSection& p) {
    std::vector<float> values(p.where.values());
    if (p.encoding == kEncodingF16) {
        for (size_t i = 0; i < values.size(); ++i) {
            uint16_t half;
            std::memcpy(&half, p.data + 2 * i, 2);
            values[i] = quant::f16_to_f32(half);
        }
    } else {
        std::memcpy(values.data(), p.data, values.size() * sizeof(float));
    }
    const float* at = values.data();
    for (int i = 0; i < p.where.n_runs; ++i) {
        const Section::Run& run = p.where.runs[i];
        backend.write_rows(*run.buffer, run.row0, run.n_rows, at);
        at += run.n_rows * run.buffer->cols();
    }
}

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

const char* piece_name(uint32_t piece) {
    switch (piece) {
        case kRows:
            return "rows";
        case kTail:
            return "resume tail";
        default:
            return "state";
    }
}

}  // namespace

std::vector<uint8_t> SequenceState::serialize_piece(uint32_t piece, int64_t since_position) const {
    const int64_t end = position();
    if (since_position < 0 || since_position > end)
        throw StateError("cannot serialize the state since position " +
                         std::to_string(since_position) + ": the sequence holds " +
                         std::to_string(end) + " tokens");
    if ((piece & kTail) && tail_pending_)
        throw StateError("cannot serialize a resume tail: restored rows still wait for theirs");
    std::vector<uint8_t> out;
    Writer w(out);
    w.bytes(kMagic, sizeof kMagic);
    w.put(kVersion);
    w.put(piece);
    for (const FingerprintField& field : fingerprint(config_)) w.put(field.value);
    w.put(static_cast<uint64_t>(context_tokens_));
    w.put(static_cast<uint64_t>(since_position));
    w.put(static_cast<uint64_t>(end));
    w.put(token_prefix_hash(std::span(tokens_).first(static_cast<size_t>(since_position))));
    if (piece & kRows)
        w.bytes(tokens_.data() + since_position, static_cast<size_t>(end - since_position) * 4);
    for (const Section& s :
         sections_of(layers_, config_.sliding_window, piece, since_position, end))
        w.section(backend_, s);
    w.put(xxh64(out));
    return out;
}

std::vector<uint8_t> SequenceState::serialize(int64_t since_position) const {
    return serialize_piece(kRowsAndTail, since_position);
}

std::vector<uint8_t> SequenceState::serialize_rows(int64_t since_position) const {
    return serialize_piece(kRows, since_position);
}

std::vector<uint8_t> SequenceState::serialize_tail() const {
    return serialize_piece(kTail, position());
}

void SequenceState::restore(std::span<const uint8_t> bytes) {
    Reader r(bytes);
    if (std::memcmp(r.take(sizeof kMagic), kMagic, sizeof kMagic) != 0)
        throw StateError("not a serialized DSV4 sequence state (bad magic)");
    const auto version = r.get<uint32_t>();
    if (version != kVersion)
        throw StateError("serialized state has format version " + std::to_string(version) +
                         ", this build reads version " + std::to_string(kVersion));
    const auto piece = r.get<uint32_t>();
    if (piece != kRows && piece != kTail && piece != kRowsAndTail)
        throw StateError("serialized state has an unknown piece kind " + std::to_string(piece));
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
    if (base > end || end > static_cast<uint64_t>(context_tokens_) ||
        (piece == kTail && base != end))
        throw StateError(std::string("serialized ") + piece_name(piece) + " covers positions " +
                         std::to_string(base) + ".." + std::to_string(end) +
                         ", which do not fit a context of " + std::to_string(context_tokens_) +
                         " tokens");
    const auto base_position = static_cast<int64_t>(base);
    const auto end_position = static_cast<int64_t>(end);
    // Rows from position 0 replace the state; anything else continues this exact sequence.
    if (!(piece & kRows) || base_position != 0) {
        if (base_position != position())
            throw StateError(std::string("serialized ") + piece_name(piece) + " is for position " +
                             std::to_string(base_position) + " but this sequence is at " +
                             std::to_string(position()));
        if (token_prefix_hash(tokens_) != base_hash)
            throw StateError(std::string("serialized ") + piece_name(piece) +
                             " continues a different token prefix");
    }
    const uint8_t* token_bytes =
        piece & kRows ? r.take(static_cast<uint64_t>(end_position - base_position) * 4) : nullptr;
    std::vector<ParsedSection> parsed;
    for (const Section& s :
         sections_of(layers_, config_.sliding_window, piece, base_position, end_position))
        parsed.push_back(parse_section(r, s));
    if (bytes.size() != r.offset() + 8)
        throw StateError("serialized state has " + std::to_string(bytes.size()) +
                         " bytes, its header implies " + std::to_string(r.offset() + 8));
    uint64_t checksum = 0;
    std::memcpy(&checksum, bytes.data() + bytes.size() - 8, 8);
    if (checksum != xxh64(bytes.first(bytes.size() - 8)))
        throw StateError("serialized state is corrupt (checksum mismatch)");

    // Validated: from here on nothing can fail half way.
    if ((piece & kRows) && base_position == 0) reset();
    if (token_bytes) {
        const size_t old_size = tokens_.size();
        tokens_.resize(static_cast<size_t>(end_position));
        std::memcpy(tokens_.data() + old_size, token_bytes, (tokens_.size() - old_size) * 4);
    }
    for (const ParsedSection& p : parsed) apply_section(backend_, p);
    for (LayerState& layer : layers_)
        for (CompressorState* c : {&layer.attention, &layer.indexer})
            if (c->active()) c->n_rows = end_position / c->ratio;
    if (piece & kTail)
        tail_pending_ = false;
    else if (end_position > base_position)
        tail_pending_ = true;
}

}  // namespace dsv4::state
