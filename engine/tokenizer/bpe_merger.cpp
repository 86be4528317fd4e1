#include "engine/tokenizer/bpe_merger.h"

#include <algorithm>
#include <bit>

namespace dsv4::tokenizer {
namespace {

// Short pieces (nearly every word) are merged by rescanning a small array of pair ranks, which
// beats a heap on them; longer ones would make that quadratic, so they use a heap.
constexpr size_t kLongestScannedPiece = 48;
constexpr uint32_t kNoSymbol = UINT32_MAX;

uint64_t pair_key(SymbolId left, SymbolId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

// Min-heap order: lower rank first, then the leftmost position.
bool candidate_after(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.left > b.left;
}

}  // namespace

BpeMerger::BpeMerger(const std::array<TokenId, 256>& byte_tokens,
                     std::span<const MergeRule> rules_by_rank, int32_t token_count)
    : byte_tokens_(byte_tokens), token_count_(token_count) {
    // At most half full, so that probes stay short.
    const size_t capacity = std::bit_ceil(std::max<size_t>(16, rules_by_rank.size() * 2));
    slots_.assign(capacity, PairSlot{kEmptyKey, kNoRank, 0});
    hash_shift_ = static_cast<uint32_t>(64 - std::countr_zero(capacity));
    for (size_t rank = 0; rank < rules_by_rank.size(); ++rank) {
        const MergeRule& rule = rules_by_rank[rank];
        insert_pair(rule.left, rule.right, static_cast<int32_t>(rank), rule.result);
    }
}

void BpeMerger::insert_pair(SymbolId left, SymbolId right, int32_t rank, SymbolId result) {
    const uint64_t key = pair_key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_index(key);; i = (i + 1) & mask) {
        PairSlot& slot = slots_[i];
        if (slot.key == key) {
            slot.rank = rank;
            slot.result = result;
            return;
        }
        if (slot.key == kEmptyKey) {
            slot = PairSlot{key, rank, result};
            ++pair_count_;
            return;
        }
    }
}

BpeMerger::PairMerge BpeMerger::find_pair(SymbolId left, SymbolId right) const {
    const uint64_t key = pair_key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_index(key);; i = (i + 1) & mask) {
        const PairSlot& slot = slots_[i];
        if (slot.key == key) return {slot.rank, slot.result};
        if (slot.key == kEmptyKey) return {kNoRank, 0};
    }
}

void BpeMerger::encode_piece(std::string_view piece, BpeScratch& scratch,
                             std::vector<TokenId>& out) const {
    if (piece.empty()) return;
    if (piece.size() == 1) {
        out.push_back(byte_tokens_[static_cast<uint8_t>(piece[0])]);
        return;
    }
    scratch.symbols.resize(piece.size());
    scratch.starts.resize(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
        scratch.symbols[i] = byte_tokens_[static_cast<uint8_t>(piece[i])];
        scratch.starts[i] = static_cast<uint32_t>(i);
    }
    if (piece.size() <= kLongestScannedPiece) {
        merge_by_scanning(scratch);
    } else {
        merge_with_heap(scratch);
    }
    emit_symbols(piece, scratch, out);
}

void BpeMerger::merge_by_scanning(BpeScratch& scratch) const {
    std::vector<SymbolId>& symbols = scratch.symbols;
    std::vector<int32_t>& ranks = scratch.pair_ranks;  // ranks[i] merges symbols i and i+1
    std::vector<SymbolId>& results = scratch.pair_results;
    const auto update_pair = [&](size_t i) {
        const PairMerge merge = find_pair(symbols[i], symbols[i + 1]);
        ranks[i] = merge.rank;
        results[i] = merge.result;
    };
    ranks.resize(symbols.size() - 1);
    results.resize(symbols.size() - 1);
    for (size_t i = 0; i + 1 < symbols.size(); ++i) update_pair(i);

    while (!ranks.empty()) {
        const size_t best =
            static_cast<size_t>(std::min_element(ranks.begin(), ranks.end()) - ranks.begin());
        if (ranks[best] == kNoRank) break;
        symbols[best] = results[best];
        symbols.erase(symbols.begin() + static_cast<ptrdiff_t>(best) + 1);
        scratch.starts.erase(scratch.starts.begin() + static_cast<ptrdiff_t>(best) + 1);
        ranks.erase(ranks.begin() + static_cast<ptrdiff_t>(best));
        results.erase(results.begin() + static_cast<ptrdiff_t>(best));
        if (best > 0) update_pair(best - 1);
        if (best < ranks.size()) update_pair(best);
    }
}

void BpeMerger::merge_with_heap(BpeScratch& scratch) const {
    std::vector<SymbolId>& symbols = scratch.symbols;
    const uint32_t count = static_cast<uint32_t>(symbols.size());
    scratch.next.resize(count);
    scratch.prev.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
        scratch.next[i] = i + 1 < count ? i + 1 : kNoSymbol;
        scratch.prev[i] = i > 0 ? i - 1 : kNoSymbol;
    }
    std::vector<BpeScratch::Candidate>& heap = scratch.heap;
    heap.clear();
    const auto push_pair = [&](uint32_t left) {
        const uint32_t right = scratch.next[left];
        if (right == kNoSymbol) return;
        const PairMerge merge = find_pair(symbols[left], symbols[right]);
        if (merge.rank == kNoRank) return;
        heap.push_back({merge.rank, left, symbols[left], symbols[right], merge.result});
        std::push_heap(heap.begin(), heap.end(), candidate_after);
    };
    for (uint32_t i = 0; i + 1 < count; ++i) push_pair(i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), candidate_after);
        const BpeScratch::Candidate candidate = heap.back();
        heap.pop_back();
        // Entries outlive the pairs they describe; a pair is still current only if both of
        // its symbols are unchanged and still adjacent.
        const uint32_t right = scratch.next[candidate.left];
        if (symbols[candidate.left] != candidate.left_symbol || right == kNoSymbol ||
            symbols[right] != candidate.right_symbol) {
            continue;
        }
        symbols[candidate.left] = candidate.result;
        symbols[right] = -1;
        const uint32_t after = scratch.next[right];
        scratch.next[candidate.left] = after;
        if (after != kNoSymbol) scratch.prev[after] = candidate.left;
        if (scratch.prev[candidate.left] != kNoSymbol) push_pair(scratch.prev[candidate.left]);
        push_pair(candidate.left);
    }

    // Compact the surviving symbols so that emit_symbols sees the same layout as after a scan.
    size_t kept = 0;
    for (uint32_t i = 0; i != kNoSymbol; i = scratch.next[i]) {
        symbols[kept] = symbols[i];
        scratch.starts[kept] = scratch.starts[i];
        ++kept;
    }
    symbols.resize(kept);
    scratch.starts.resize(kept);
}

void BpeMerger::emit_symbols(std::string_view piece, const BpeScratch& scratch,
                             std::vector<TokenId>& out) const {
    const size_t count = scratch.symbols.size();
    for (size_t i = 0; i < count; ++i) {
        const SymbolId symbol = scratch.symbols[i];
        if (symbol < token_count_) {
            out.push_back(symbol);
            continue;
        }
        const size_t end = i + 1 < count ? scratch.starts[i + 1] : piece.size();
        for (size_t b = scratch.starts[i]; b < end; ++b) {
            out.push_back(byte_tokens_[static_cast<uint8_t>(piece[b])]);
        }
    }
}

}  // namespace dsv4::tokenizer
