// The persistent prefix store: sequence-state blocks and resume tails in LMDB, keyed by a hash
// chain over the token ids (seeded with the model fingerprint and the format version), so that
// long prompts survive restarts. One writer thread commits records off the token path; lookups
// read in their own transactions. Owns the LMDB environment; must not know HTTP or sampling.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/generate/prefix_cache.h"
#include "kvstore/record.h"
#include "kvstore/sha256.h"

namespace dsv4::forward {
struct LoadedModel;
}

namespace dsv4::kvstore {

struct PrefixStoreOptions {
    std::string dir;
    uint64_t max_bytes = 8ull << 30;
    int64_t block_tokens = 512;
    // A resume tail is stored every this many blocks (0: only at prompt and generation ends).
    int64_t checkpoint_blocks = 8;
    // Blocks waiting for the writer beyond this many bytes are dropped (counted), never stall
    // the engine.
    uint64_t max_pending_bytes = 256ull << 20;
};

struct PrefixStoreStats {
    uint64_t bytes = 0;  // payload and header bytes of the stored records
    uint64_t blocks = 0;
    uint64_t tails = 0;
    uint64_t hits = 0;
    uint64_t hit_tokens = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;  // records evicted for the budget
    uint64_t dropped_writes = 0;
    uint64_t corrupt_records = 0;
    uint64_t writes = 0;
    double write_seconds_sum = 0;
    double write_seconds_max = 0;
    std::string disabled_reason;  // empty while the store works (reads and writes)
};

// The seed of every chain: the model file's metadata and tensor table, how activations are
// computed (it changes the stored rows) and the store format.
Digest model_fingerprint(const forward::LoadedModel& model, std::string_view numerics);

class PrefixStore final : public generate::PrefixCache {
  public:
    // Never throws for an unusable directory: the store is then disabled (see stats()).
    PrefixStore(PrefixStoreOptions options, Digest seed);
    ~PrefixStore() override;
    PrefixStore(const PrefixStore&) = delete;
    PrefixStore& operator=(const PrefixStore&) = delete;

    int64_t block_tokens() const override { return options_.block_tokens; }
    Restored restore_longest(std::span<const int32_t> tokens, int64_t min_tokens,
                             state::SequenceState& state) override;
    void offer_block(const state::SequenceState& state) override;
    void offer_resume_point(const state::SequenceState& state,
                            std::span<const float> logits) override;

    // Open and readable; writes may still have been turned off (see stats().disabled_reason).
    bool enabled() const { return env_ != nullptr; }
    PrefixStoreStats stats() const;
    // Waits until every queued block is committed (or dropped).
    void flush();

    // The chain key of each whole block of `tokens`.
    std::vector<Digest> chain_keys(std::span<const int32_t> tokens) const;
    bool contains(const Digest& key) const;
    // Stores an arbitrary payload as the block `key` with `parent` (tests and the stress tool);
    // returns once it is committed or refused.
    void put_now(const Digest& key, const Digest& parent, uint32_t block_index,
                 std::vector<uint8_t> payload);

    struct VerifyReport {
        uint64_t records = 0;
        uint64_t blocks = 0;
        uint64_t tails = 0;
        uint64_t bad = 0;      // header, version or checksum wrong
        uint64_t orphans = 0;  // parent missing
        uint64_t bytes = 0;
        std::vector<std::string> problems;
    };
    // Reads every record of the store in `dir`.
    static VerifyReport verify(const std::string& dir);
    // A compacted copy of the store in `dir` into the empty directory `out_dir`.
    static void compact(const std::string& dir, const std::string& out_dir);

  private:
    struct Entry {
        RecordKind kind = RecordKind::Block;
        Digest parent{};
        uint64_t bytes = 0;
        uint64_t last_use = 0;
        uint32_t children = 0;  // blocks and tails that need this block
        uint32_t extra_tokens = 0;
        bool has_logits = false;
    };
    struct PendingWrite {
        Digest key;
        RecordKind kind = RecordKind::Block;
        uint32_t block_index = 0;
        Digest parent;
        std::vector<uint8_t> record;
    };
    // The deepest stored resume point of a prompt.
    struct ResumePoint {
        size_t blocks = 0;  // whole blocks before the tail
        Digest tail{};
        int64_t tokens = 0;
    };

    void open_environment();
    void load_index();
    // Rebuilds the index from the stored records; the keys of unreadable ones. mutex_ held.
    std::vector<Digest> read_index();
    void writer_loop();
    void write_one(PendingWrite& write);
    // Removes least recently used leaves but `keep` (the parent of the record being written)
    // until `incoming` more bytes fit; false if impossible.
    bool make_room(uint64_t incoming, const Digest& keep, void* txn);
    void erase_entry(std::map<Digest, Entry>::iterator entry);
    void enqueue(PendingWrite write);
    void disable(const std::string& reason);
    void disable_writes(const std::string& reason);
    void schedule_delete(const Digest& key);
    // Adds every stored record below `keys` (they could never be reached again); mutex_ held.
    void add_descendants(std::vector<Digest>& keys) const;
    // Both need mutex_ held.
    bool known(const Digest& key) const;
    std::optional<ResumePoint> find_resume_point(std::span<const int32_t> tokens,
                                                 const std::vector<Digest>& keys,
                                                 int64_t min_tokens) const;
    // Applies the blocks and the tail of `point` to `state`; false when a record is missing or
    // corrupt (the state is then reset and the record scheduled for deletion).
    bool apply_resume_point(const std::vector<Digest>& keys, const ResumePoint& point,
                            state::SequenceState& state, std::vector<float>& logits);
    void offer_tail(const state::SequenceState& state, const Digest& block_key,
                    uint32_t block_index, int64_t boundary, std::span<const float> logits);

    PrefixStoreOptions options_;
    Digest seed_;
    void* env_ = nullptr;  // MDB_env*
    unsigned blocks_dbi_ = 0;
    unsigned tails_dbi_ = 0;
    unsigned lru_dbi_ = 0;  // key -> last use, so that eviction order survives restarts

    mutable std::mutex mutex_;  // index, stats, queue
    // The whole blocks of the last sequence chain_keys() hashed, and their keys: a sequence that
    // grows block by block (or shares a prefix with the last one) hashes only its new blocks.
    struct ChainMemo {
        std::vector<int32_t> tokens;
        std::vector<Digest> keys;
    };
    mutable std::mutex chain_memo_mutex_;
    mutable ChainMemo chain_memo_;
    std::condition_variable queue_changed_;
    std::condition_variable queue_drained_;
    std::map<Digest, Entry> index_;
    std::multimap<Digest, Digest> tails_of_;  // block key (or seed) -> tail keys
    std::map<Digest, int> pending_;           // keys queued for writing
    uint64_t use_clock_ = 0;
    PrefixStoreStats stats_;
    std::deque<PendingWrite> queue_;
    std::vector<Digest> deletions_;
    std::vector<Digest> touched_;  // last-use updates to persist
    uint64_t pending_bytes_ = 0;
    bool writing_ = false;
    bool closing_ = false;
    bool writes_disabled_ = false;
    std::thread writer_;
};

}  // namespace dsv4::kvstore
