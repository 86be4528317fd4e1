// The prefix store's on-disk records: their layout, encoding, header checks and checksum, and the
// keys of resume tails. Pure functions on bytes; must not touch LMDB or a sequence state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kvstore/sha256.h"

namespace dsv4::kvstore {

// Bumped whenever the record layout or the serialized state layout changes: a store written by
// another version never matches (the version is part of every chain's seed).
inline constexpr uint32_t kStoreFormatVersion = 3;

// Block: the rows a block of tokens appended (immutable, shared by every prompt with that
// prefix). Tail: a resume point — the rows past its block boundary, the window state there and,
// when known, the logits predicting the next token.
enum class RecordKind : uint8_t { Block, Tail };

struct RecordHeader {
    RecordKind kind = RecordKind::Block;
    uint32_t block_index = 0;   // block: its 1-based index; tail: the block it follows (0: none)
    Digest parent{};            // block: the previous block; tail: the block it follows (or seed)
    uint32_t extra_tokens = 0;  // tail: tokens past the block boundary
    uint32_t logit_count = 0;   // tail: stored logits (0 or the vocabulary size)
    uint64_t payload_bytes = 0;
    uint64_t checksum = 0;
};

// magic 8, version 4, block index 4, parent 32, extra tokens 4, logit count 4, payload length 8,
// checksum 8; then the payload: a serialized state piece followed by the logits (f32).
inline constexpr size_t kRecordHeaderBytes = 72;

std::vector<uint8_t> encode_record(const RecordHeader& header, std::span<const uint8_t> state_piece,
                                   std::span<const float> logits);
// The header when magic, version and lengths are consistent; the payload checksum is checked
// separately (payload_intact) by readers that need the payload.
std::optional<RecordHeader> decode_record_header(std::span<const uint8_t> record);
bool payload_intact(std::span<const uint8_t> record, const RecordHeader& header);
std::span<const uint8_t> record_state_piece(std::span<const uint8_t> record,
                                            const RecordHeader& header);
std::vector<float> record_logits(std::span<const uint8_t> record, const RecordHeader& header);

// The key of a resume tail `extra_tokens` past the block `block_key` (or the chain seed).
Digest tail_key(const Digest& block_key, std::span<const int32_t> extra_tokens);

}  // namespace dsv4::kvstore
