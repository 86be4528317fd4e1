// Memo of the BPE result of each distinct piece during one encode call: words repeat, and looking
// a piece up is far cheaper than merging it again. Owns only that memo; keys are views into the
// caller's text, so a cache must not outlive the text it was filled from.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/tokenizer/token_id.h"

namespace dsv4::tokenizer {

class PieceCache {
  public:
    // Longer pieces are rare to repeat and are merged every time.
    static constexpr size_t kLongestCachedPieceBytes = 64;
    // Past this many pieces (text where few words repeat) the memo stops growing, which bounds
    // its memory at a few tens of MB and keeps the lookups of the early, frequent words fast.
    static constexpr size_t kMaxCachedPieces = size_t{1} << 18;

    // The cached tokens of piece, or an empty span with found == false.
    struct Lookup {
        bool found;
        std::span<const TokenId> tokens;
    };

    Lookup find(std::string_view piece) const {
        if (slots_.empty()) return {false, {}};
        const size_t mask = slots_.size() - 1;
        const uint64_t piece_hash = hash(piece);
        for (size_t i = piece_hash & mask;; i = (i + 1) & mask) {
            const Slot& slot = slots_[i];
            if (slot.piece.data() == nullptr) return {false, {}};
            if (slot.hash == piece_hash && slot.piece == piece) {
                return {true, std::span<const TokenId>(tokens_).subspan(slot.first, slot.count)};
            }
        }
    }

    void insert(std::string_view piece, std::span<const TokenId> tokens) {
        if (used_ >= kMaxCachedPieces) return;
        if ((used_ + 1) * 2 > slots_.size()) grow();
        const uint32_t first = static_cast<uint32_t>(tokens_.size());
        tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
        place(Slot{piece, hash(piece), first, static_cast<uint32_t>(tokens.size())});
        ++used_;
    }

  private:
    struct Slot {
        std::string_view piece;  // data() == nullptr marks an empty slot
        uint64_t hash = 0;
        uint32_t first = 0;
        uint32_t count = 0;
    };

    // FNV-1a: pieces are short, so a simple byte loop is as fast as anything fancier.
    static uint64_t hash(std::string_view piece) {
        uint64_t h = 0xCBF29CE484222325ull;
        for (const char c : piece) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
        return h ^ (h >> 29);
    }

    void place(const Slot& slot) {
        const size_t mask = slots_.size() - 1;
        size_t i = slot.hash & mask;
        while (slots_[i].piece.data() != nullptr) i = (i + 1) & mask;
        slots_[i] = slot;
    }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(std::max<size_t>(256, old.size() * 2), Slot{});
        for (const Slot& slot : old) {
            if (slot.piece.data() != nullptr) place(slot);
        }
    }

    std::vector<Slot> slots_;
    std::vector<TokenId> tokens_;
    size_t used_ = 0;
};

}  // namespace dsv4::tokenizer
