// Byte-pair merging of one pre-tokenized piece over integer symbols: starts from one symbol per
// byte and applies the lowest-ranked merge rule (leftmost on ties) until none applies. Owns the
// pair -> (rank, result) table and the merge loop; turning strings into symbols is the loader's
// job.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/tokenizer/token_id.h"

namespace dsv4::tokenizer {

// Symbols below the merger's token count are vocabulary ids; the others name strings that a
// merge rule produces although the vocabulary lacks them (they only matter as merge inputs).
using SymbolId = int32_t;

struct MergeRule {
    SymbolId left;
    SymbolId right;
    SymbolId result;
};

// Working memory of encode_piece, reused across pieces to avoid allocations.
struct BpeScratch {
    std::vector<SymbolId> symbols;
    std::vector<uint32_t> starts;  // byte offset of each symbol in the piece
    std::vector<int32_t> pair_ranks;
    std::vector<SymbolId> pair_results;
    std::vector<uint32_t> next;
    std::vector<uint32_t> prev;
    struct Candidate {
        int32_t rank;
        uint32_t left;  // symbol index, which is also the order of positions in the piece
        SymbolId left_symbol;
        SymbolId right_symbol;
        SymbolId result;
    };
    std::vector<Candidate> heap;
};

class BpeMerger {
  public:
    static constexpr int32_t kNoRank = INT32_MAX;

    BpeMerger() = default;
    // rules_by_rank[r] has rank r; when the same pair appears twice the later rank wins.
    // byte_tokens[b] is the token of the single byte b; token_count bounds the vocabulary ids.
    BpeMerger(const std::array<TokenId, 256>& byte_tokens, std::span<const MergeRule> rules_by_rank,
              int32_t token_count);

    // Appends the tokens of piece. A merged symbol that is not a vocabulary token falls back to
    // the tokens of its bytes, so no byte is ever lost.
    void encode_piece(std::string_view piece, BpeScratch& scratch, std::vector<TokenId>& out) const;

    size_t pair_count() const { return pair_count_; }
    // Rank and result of merging left with right; rank kNoRank when no rule applies.
    struct PairMerge {
        int32_t rank;
        SymbolId result;
    };
    PairMerge find_pair(SymbolId left, SymbolId right) const;

  private:
    struct PairSlot {
        uint64_t key;
        int32_t rank;
        SymbolId result;
    };
    static constexpr uint64_t kEmptyKey = UINT64_MAX;

    size_t slot_index(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> hash_shift_; }
    void insert_pair(SymbolId left, SymbolId right, int32_t rank, SymbolId result);
    void merge_by_scanning(BpeScratch& scratch) const;
    void merge_with_heap(BpeScratch& scratch) const;
    void emit_symbols(std::string_view piece, const BpeScratch& scratch,
                      std::vector<TokenId>& out) const;

    std::array<TokenId, 256> byte_tokens_{};
    int32_t token_count_ = 0;
    std::vector<PairSlot> slots_;
    uint32_t hash_shift_ = 63;
    size_t pair_count_ = 0;
};

}  // namespace dsv4::tokenizer
