#include "kvstore/record.h"

#include <bit>
#include <cstring>

#include "engine/common/xxh64.h"

namespace dsv4::kvstore {
namespace {

static_assert(std::endian::native == std::endian::little,
              "records are little-endian and written in native order");

constexpr char kBlockMagic[8] = {'D', 'S', 'V', '4', 'K', 'V', 'B', '\0'};
constexpr char kTailMagic[8] = {'D', 'S', 'V', '4', 'K', 'V', 'T', '\0'};

template <typename T>
void put(uint8_t*& p, const T& value) {
    std::memcpy(p, &value, sizeof value);
    p += sizeof value;
}

template <typename T>
T get(const uint8_t*& p) {
    T value;
    std::memcpy(&value, p, sizeof value);
    p += sizeof value;
    return value;
}

}  // namespace

std::vector<uint8_t> encode_record(const RecordHeader& header, std::span<const uint8_t> state_piece,
                                   std::span<const float> logits) {
    const size_t payload_bytes = state_piece.size() + logits.size_bytes();
    std::vector<uint8_t> out(kRecordHeaderBytes + payload_bytes);
    uint8_t* payload = out.data() + kRecordHeaderBytes;
    std::memcpy(payload, state_piece.data(), state_piece.size());
    if (!logits.empty())
        std::memcpy(payload + state_piece.size(), logits.data(), logits.size_bytes());
    uint8_t* p = out.data();
    std::memcpy(p, header.kind == RecordKind::Tail ? kTailMagic : kBlockMagic, 8);
    p += 8;
    put(p, kStoreFormatVersion);
    put(p, header.block_index);
    put(p, header.parent);
    put(p, header.kind == RecordKind::Tail ? header.extra_tokens : uint32_t{0});
    put(p, static_cast<uint32_t>(logits.size()));
    put(p, static_cast<uint64_t>(payload_bytes));
    put(p, xxh64(std::span<const uint8_t>(payload, payload_bytes)));
    return out;
}

std::optional<RecordHeader> decode_record_header(std::span<const uint8_t> record) {
    if (record.size() < kRecordHeaderBytes) return std::nullopt;
    RecordHeader h;
    if (std::memcmp(record.data(), kBlockMagic, 8) == 0)
        h.kind = RecordKind::Block;
    else if (std::memcmp(record.data(), kTailMagic, 8) == 0)
        h.kind = RecordKind::Tail;
    else
        return std::nullopt;
    const uint8_t* p = record.data() + 8;
    const auto version = get<uint32_t>(p);
    h.block_index = get<uint32_t>(p);
    h.parent = get<Digest>(p);
    h.extra_tokens = get<uint32_t>(p);
    h.logit_count = get<uint32_t>(p);
    h.payload_bytes = get<uint64_t>(p);
    h.checksum = get<uint64_t>(p);
    if (version != kStoreFormatVersion || h.payload_bytes != record.size() - kRecordHeaderBytes ||
        uint64_t{h.logit_count} * sizeof(float) > h.payload_bytes ||
        (h.kind == RecordKind::Block && (h.logit_count != 0 || h.extra_tokens != 0)))
        return std::nullopt;
    return h;
}

bool payload_intact(std::span<const uint8_t> record, const RecordHeader& header) {
    return xxh64(record.subspan(kRecordHeaderBytes)) == header.checksum;
}

std::span<const uint8_t> record_state_piece(std::span<const uint8_t> record,
                                            const RecordHeader& header) {
    return record.subspan(kRecordHeaderBytes, header.payload_bytes - header.logit_count * 4ull);
}

std::vector<float> record_logits(std::span<const uint8_t> record, const RecordHeader& header) {
    std::vector<float> logits(header.logit_count);
    if (!logits.empty())
        std::memcpy(logits.data(), record.data() + record.size() - logits.size() * 4,
                    logits.size() * 4);
    return logits;
}

Digest tail_key(const Digest& block_key, std::span<const int32_t> extra_tokens) {
    static constexpr char kDomain[] = "dsv4 resume tail";
    Sha256 hash;
    hash.update(kDomain, sizeof kDomain);
    hash.update(block_key.data(), block_key.size());
    hash.update(extra_tokens.data(), extra_tokens.size_bytes());
    return hash.finish();
}

}  // namespace dsv4::kvstore
