#include "kvstore/prefix_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/common/log.h"
#include "engine/forward/loaded_model.h"
#include "kvstore/lmdb_util.h"

namespace dsv4::kvstore {

Digest model_fingerprint(const forward::LoadedModel& model, std::string_view numerics) {
    Sha256 hash;
    const std::span<const uint8_t> file = model.file.bytes();
    hash.update(file.subspan(0, std::min<uint64_t>(model.file.data_offset(), file.size())));
    hash.update(numerics.data(), numerics.size());
    const uint32_t version = kStoreFormatVersion;
    hash.update(&version, sizeof version);
    return hash.finish();
}

PrefixStore::PrefixStore(PrefixStoreOptions options, Digest seed)
    : options_(std::move(options)), seed_(seed) {
    if (options_.block_tokens <= 0 || options_.block_tokens % 128 != 0)
        throw std::invalid_argument("prefix store block size must be a positive multiple of 128");
    if (options_.checkpoint_blocks < 0)
        throw std::invalid_argument("prefix store checkpoint interval must not be negative");
    open_environment();
    if (!env_) return;
    load_index();
    writer_ = std::thread([this] { writer_loop(); });
}

PrefixStore::~PrefixStore() {
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    queue_changed_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (env_) mdb_env_close(static_cast<MDB_env*>(env_));
}

void PrefixStore::open_environment() {
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) return disable("cannot create '" + options_.dir + "': " + ec.message());
    MDB_env* env = nullptr;
    int rc = mdb_env_create(&env);
    // Room for the budget plus LMDB's own pages and the copy-on-write of a commit.
    const uint64_t map_bytes = options_.max_bytes + options_.max_bytes / 2 + (64ull << 20);
    if (rc == 0) rc = mdb_env_set_mapsize(env, map_bytes);
    if (rc == 0) rc = mdb_env_set_maxdbs(env, 4);
    if (rc == 0) rc = mdb_env_open(env, options_.dir.c_str(), MDB_NOTLS, 0644);
    MDB_txn* txn = nullptr;
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, kBlocksTable, MDB_CREATE, &blocks_dbi_);
    if (rc == 0) rc = mdb_dbi_open(txn, kTailsTable, MDB_CREATE, &tails_dbi_);
    if (rc == 0) rc = mdb_dbi_open(txn, kLastUseTable, MDB_CREATE, &lru_dbi_);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = nullptr;
    }
    if (txn) mdb_txn_abort(txn);
    if (rc != 0) {
        if (env) mdb_env_close(env);
        return disable(lmdb_error("cannot open the prefix store", options_.dir, rc));
    }
    env_ = env;
}

void PrefixStore::disable(const std::string& reason) {
    DSV4_LOG_WARN("prefix store disabled, continuing without persistence: %s", reason.c_str());
    std::lock_guard lock(mutex_);
    stats_.disabled_reason = reason;
}

namespace {

// Calls visit(key, value) for every record of a table.
template <typename Visit>
void for_each_record(MDB_txn* txn, MDB_dbi dbi, Visit visit) {
    MDB_cursor* cursor = nullptr;
    if (mdb_cursor_open(txn, dbi, &cursor) != 0) return;
    MDB_val key, value;
    for (int op = MDB_FIRST;
         mdb_cursor_get(cursor, &key, &value, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT)
        visit(as_span(key), as_span(value));
    mdb_cursor_close(cursor);
}

}  // namespace

void PrefixStore::load_index() {
    std::vector<Digest> bad;
    {
        std::lock_guard lock(mutex_);
        bad = read_index();
    }
    for (const Digest& d : bad) schedule_delete(d);
    if (!bad.empty())
        DSV4_LOG_WARN("prefix store: %zu records with a wrong header or version are deleted",
                      bad.size());
}

std::vector<Digest> PrefixStore::read_index() {
    index_.clear();
    tails_of_.clear();
    stats_.bytes = stats_.blocks = stats_.tails = 0;
    std::vector<Digest> bad;
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(static_cast<MDB_env*>(env_), nullptr, MDB_RDONLY, &txn) != 0) return bad;
    std::map<Digest, uint64_t> last_uses;
    for_each_record(txn, lru_dbi_, [&](auto key, auto value) {
        Digest digest{};
        uint64_t last_use = 0;
        if (key.size() != digest.size() || value.size() != sizeof last_use) return;
        std::memcpy(digest.data(), key.data(), digest.size());
        std::memcpy(&last_use, value.data(), sizeof last_use);
        last_uses[digest] = last_use;
        use_clock_ = std::max(use_clock_, last_use);
    });
    for (const auto& [dbi, kind] :
         {std::pair{blocks_dbi_, RecordKind::Block}, std::pair{tails_dbi_, RecordKind::Tail}}) {
        for_each_record(txn, dbi, [&](auto key, auto value) {
            Digest digest{};
            if (key.size() != digest.size()) return;
            std::memcpy(digest.data(), key.data(), digest.size());
            const std::optional<RecordHeader> header = decode_record_header(value);
            if (!header || header->kind != kind) {
                bad.push_back(digest);
                return;
            }
            Entry& entry = index_[digest];
            entry.kind = kind;
            entry.parent = header->parent;
            entry.bytes = value.size();
            const auto known_use = last_uses.find(digest);
            entry.last_use = known_use != last_uses.end() ? known_use->second : ++use_clock_;
            entry.extra_tokens = header->extra_tokens;
            entry.has_logits = header->logit_count > 0;
            stats_.bytes += value.size();
            ++(kind == RecordKind::Tail ? stats_.tails : stats_.blocks);
        });
    }
    mdb_txn_abort(txn);
    for (const auto& [key, entry] : index_) {
        if (auto parent = index_.find(entry.parent); parent != index_.end())
            ++parent->second.children;
        if (entry.kind == RecordKind::Tail) tails_of_.emplace(entry.parent, key);
    }
    return bad;
}

std::vector<Digest> PrefixStore::chain_keys(std::span<const int32_t> tokens) const {
    const auto block = static_cast<size_t>(options_.block_tokens);
    const size_t n_blocks = tokens.size() / block;
    std::lock_guard lock(chain_memo_mutex_);
    ChainMemo& memo = chain_memo_;
    // Whole leading blocks equal to the memo's keep their keys.
    const size_t comparable = std::min(n_blocks, memo.keys.size()) * block;
    const size_t same_tokens = static_cast<size_t>(
        std::mismatch(tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(comparable),
                      memo.tokens.begin())
            .first -
        tokens.begin());
    const size_t reused = same_tokens / block;
    if (reused == n_blocks)  // a prefix of the memo: keep the rest for the next call
        return {memo.keys.begin(), memo.keys.begin() + static_cast<ptrdiff_t>(n_blocks)};
    memo.keys.resize(reused);
    memo.tokens.resize(reused * block);
    Digest previous = reused > 0 ? memo.keys.back() : seed_;
    for (size_t i = reused; i < n_blocks; ++i) {
        Sha256 hash;
        hash.update(previous.data(), previous.size());
        hash.update(tokens.data() + i * block, block * sizeof(int32_t));
        previous = hash.finish();
        memo.keys.push_back(previous);
    }
    memo.tokens.insert(memo.tokens.end(), tokens.begin() + static_cast<ptrdiff_t>(reused * block),
                       tokens.begin() + static_cast<ptrdiff_t>(n_blocks * block));
    return {memo.keys.begin(), memo.keys.begin() + static_cast<ptrdiff_t>(n_blocks)};
}

bool PrefixStore::contains(const Digest& key) const {
    std::lock_guard lock(mutex_);
    return index_.contains(key);
}

bool PrefixStore::known(const Digest& key) const {
    return index_.contains(key) || pending_.contains(key);
}

std::optional<PrefixStore::ResumePoint> PrefixStore::find_resume_point(
    std::span<const int32_t> tokens, const std::vector<Digest>& keys, int64_t min_tokens) const {
    size_t found = 0;
    while (found < keys.size() && index_.contains(keys[found])) ++found;
    const auto n = static_cast<int64_t>(tokens.size());
    // Tails after block k end before block k + 1 does, so the deepest block with a matching
    // tail holds the longest resume point.
    for (size_t k = found + 1; k-- > 0;) {
        const Digest& block = k > 0 ? keys[k - 1] : seed_;
        const int64_t boundary = static_cast<int64_t>(k) * options_.block_tokens;
        if (boundary + options_.block_tokens <= min_tokens) break;
        std::optional<ResumePoint> best;
        auto [first, last] = tails_of_.equal_range(block);
        for (auto it = first; it != last; ++it) {
            const Entry& tail = index_.at(it->second);
            const int64_t end = boundary + tail.extra_tokens;
            if (end > n || (end == n && !tail.has_logits) || end <= min_tokens ||
                (best && end <= best->tokens))
                continue;
            const auto extra = tokens.subspan(static_cast<size_t>(boundary), tail.extra_tokens);
            if (tail_key(block, extra) == it->second) best = ResumePoint{k, it->second, end};
        }
        if (best) return best;
    }
    return std::nullopt;
}

bool PrefixStore::apply_resume_point(const std::vector<Digest>& keys, const ResumePoint& point,
                                     state::SequenceState& state, std::vector<float>& logits) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(static_cast<MDB_env*>(env_), nullptr, MDB_RDONLY, &txn) != 0) return false;
    bool corrupt = false;
    // Records are applied straight from the memory map, each checked before it is applied.
    auto apply = [&](MDB_dbi dbi, const Digest& key, RecordKind kind) {
        MDB_val k = as_val(key), value;
        if (mdb_get(txn, dbi, &k, &value) != 0) return false;  // evicted meanwhile
        const std::span<const uint8_t> record = as_span(value);
        const std::optional<RecordHeader> header = decode_record_header(record);
        corrupt = !header || header->kind != kind || !payload_intact(record, *header);
        if (corrupt) return false;
        try {
            state.restore(record_state_piece(record, *header));
        } catch (const state::StateError& e) {
            DSV4_LOG_WARN("prefix store: record %s does not restore: %s",
                          to_hex(key).substr(0, 16).c_str(), e.what());
            corrupt = true;
            return false;
        }
        if (kind == RecordKind::Tail) logits = record_logits(record, *header);
        return true;
    };
    const Digest* failed = nullptr;
    for (size_t i = 0; i < point.blocks && !failed; ++i)
        if (!apply(blocks_dbi_, keys[i], RecordKind::Block)) failed = &keys[i];
    if (!failed && !apply(tails_dbi_, point.tail, RecordKind::Tail)) failed = &point.tail;
    mdb_txn_abort(txn);
    if (!failed) return true;
    state.reset();
    logits.clear();
    if (corrupt) {
        DSV4_LOG_WARN("prefix store: record %s is corrupt; deleted, counted as a miss",
                      to_hex(*failed).substr(0, 16).c_str());
        schedule_delete(*failed);
    }
    std::lock_guard lock(mutex_);
    if (corrupt) ++stats_.corrupt_records;
    ++stats_.misses;
    return false;
}

generate::PrefixCache::Restored PrefixStore::restore_longest(std::span<const int32_t> tokens,
                                                             int64_t min_tokens,
                                                             state::SequenceState& state) {
    if (!env_) return {};
    const std::vector<Digest> keys = chain_keys(tokens);
    std::optional<ResumePoint> point;
    {
        std::lock_guard lock(mutex_);
        point = find_resume_point(tokens, keys, min_tokens);
        // The live state covers at least as much; a miss only when neither had anything.
        if (!point && min_tokens == 0) ++stats_.misses;
    }
    if (!point) return {};
    Restored restored;
    if (!apply_resume_point(keys, *point, state, restored.logits)) return {};
    restored.tokens = point->tokens;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i <= point->blocks; ++i) {
            const Digest& key = i < point->blocks ? keys[i] : point->tail;
            if (auto it = index_.find(key); it != index_.end()) {
                it->second.last_use = ++use_clock_;
                touched_.push_back(key);
            }
        }
        ++stats_.hits;
        stats_.hit_tokens += static_cast<uint64_t>(restored.tokens);
    }
    queue_changed_.notify_all();
    return restored;
}

void PrefixStore::offer_block(const state::SequenceState& state) {
    if (!env_) return;
    const int64_t position = state.position();
    const int64_t block = options_.block_tokens;
    if (position <= 0 || position % block != 0) return;
    const std::vector<Digest> keys = chain_keys(state.tokens());
    const auto index = static_cast<uint32_t>(keys.size());
    const Digest parent = index >= 2 ? keys[index - 2] : seed_;
    bool store_block = false;
    {
        std::lock_guard lock(mutex_);
        if (writes_disabled_) return;
        if (auto stored = index_.find(keys.back()); stored != index_.end())
            stored->second.last_use = ++use_clock_;
        else if (!pending_.contains(keys.back()))
            // A block whose parent is missing could never be reached: store chains whole.
            store_block = index < 2 || known(parent);
    }
    if (store_block) {
        RecordHeader header;
        header.block_index = index;
        header.parent = parent;
        enqueue(PendingWrite{keys.back(), RecordKind::Block, index, parent,
                             encode_record(header, state.serialize_rows(position - block), {})});
    }
    if (options_.checkpoint_blocks > 0 && index % options_.checkpoint_blocks == 0)
        offer_tail(state, keys.back(), index, position, {});
}

void PrefixStore::offer_resume_point(const state::SequenceState& state,
                                     std::span<const float> logits) {
    if (!env_ || state.position() <= 0) return;
    const int64_t boundary = state.position() / options_.block_tokens * options_.block_tokens;
    const std::vector<Digest> keys =
        chain_keys(state.tokens().first(static_cast<size_t>(boundary)));
    offer_tail(state, keys.empty() ? seed_ : keys.back(), static_cast<uint32_t>(keys.size()),
               boundary, logits);
}

void PrefixStore::offer_tail(const state::SequenceState& state, const Digest& block_key,
                             uint32_t block_index, int64_t boundary,
                             std::span<const float> logits) {
    const std::span<const int32_t> extra = state.tokens().subspan(static_cast<size_t>(boundary));
    const Digest key = tail_key(block_key, extra);
    {
        std::lock_guard lock(mutex_);
        if (writes_disabled_ || (block_index > 0 && !known(block_key))) return;
        if (auto stored = index_.find(key); stored != index_.end()) {
            stored->second.last_use = ++use_clock_;
            // Stored already, unless these logits would complete it.
            if (stored->second.has_logits || logits.empty()) return;
        } else if (pending_.contains(key) && logits.empty()) {
            return;
        }
    }
    RecordHeader header;
    header.kind = RecordKind::Tail;
    header.block_index = block_index;
    header.parent = block_key;
    header.extra_tokens = static_cast<uint32_t>(extra.size());
    PendingWrite write{key, RecordKind::Tail, block_index, block_key,
                       encode_record(header, state.serialize(boundary), logits)};
    {
        // A checkpoint at a prompt's end is queued without logits just before the prompt's end
        // offers them: complete the queued record instead of writing the tail twice.
        std::lock_guard lock(mutex_);
        for (PendingWrite& queued : queue_)
            if (queued.key == key) {
                pending_bytes_ += write.record.size() - queued.record.size();
                queued.record = std::move(write.record);
                return;
            }
    }
    enqueue(std::move(write));
}

PrefixStoreStats PrefixStore::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace dsv4::kvstore
