#include "kvstore/prefix_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/common/log.h"
#include "engine/forward/loaded_model.h"

namespace dsv4::kvstore {
namespace {

using Clock = std::chrono::steady_clock;

// Record layout (little-endian): magic, format version, block index, parent key, payload
// length, FNV-1a 64 of the payload, then the payload (a serialized state block).
constexpr char kRecordMagic[8] = {'D', 'S', 'V', '4', 'K', 'V', 'B', '\0'};
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 32 + 8 + 8;

uint64_t fnv1a(std::span<const uint8_t> bytes) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (const uint8_t b : bytes) {
        hash ^= b;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

struct RecordHeader {
    uint32_t version = 0;
    uint32_t block_index = 0;
    Digest parent{};
    uint64_t payload_bytes = 0;
    uint64_t checksum = 0;
};

std::vector<uint8_t> encode_record(uint32_t block_index, const Digest& parent,
                                   std::span<const uint8_t> payload) {
    std::vector<uint8_t> out(kHeaderBytes + payload.size());
    uint8_t* p = out.data();
    std::memcpy(p, kRecordMagic, 8);
    const uint32_t version = kStoreFormatVersion;
    std::memcpy(p + 8, &version, 4);
    std::memcpy(p + 12, &block_index, 4);
    std::memcpy(p + 16, parent.data(), 32);
    const uint64_t n = payload.size();
    std::memcpy(p + 48, &n, 8);
    const uint64_t checksum = fnv1a(payload);
    std::memcpy(p + 56, &checksum, 8);
    std::memcpy(p + kHeaderBytes, payload.data(), payload.size());
    return out;
}

// The header when magic, version and length are right; the checksum is checked by the caller
// when it needs the payload.
std::optional<RecordHeader> decode_header(std::span<const uint8_t> record) {
    if (record.size() < kHeaderBytes || std::memcmp(record.data(), kRecordMagic, 8) != 0)
        return std::nullopt;
    RecordHeader h;
    std::memcpy(&h.version, record.data() + 8, 4);
    std::memcpy(&h.block_index, record.data() + 12, 4);
    std::memcpy(h.parent.data(), record.data() + 16, 32);
    std::memcpy(&h.payload_bytes, record.data() + 48, 8);
    std::memcpy(&h.checksum, record.data() + 56, 8);
    if (h.version != kStoreFormatVersion || h.payload_bytes != record.size() - kHeaderBytes)
        return std::nullopt;
    return h;
}

bool payload_intact(std::span<const uint8_t> record, const RecordHeader& h) {
    return fnv1a(record.subspan(kHeaderBytes)) == h.checksum;
}

std::span<const uint8_t> as_span(const MDB_val& v) {
    return {static_cast<const uint8_t*>(v.mv_data), v.mv_size};
}

MDB_val as_val(const Digest& key) {
    return MDB_val{key.size(), const_cast<uint8_t*>(key.data())};
}

std::string lmdb_error(const std::string& what, const std::string& dir, int rc) {
    return what + " in '" + dir + "': " + mdb_strerror(rc);
}

// Opens an existing environment read-only (verify, compact).
struct ReadOnlyEnv {
    MDB_env* env = nullptr;
    MDB_dbi dbi = 0;
    explicit ReadOnlyEnv(const std::string& dir) {
        int rc = mdb_env_create(&env);
        if (rc == 0) rc = mdb_env_set_maxdbs(env, 4);
        if (rc == 0) rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
        if (rc != 0) {
            if (env) mdb_env_close(env);
            throw std::runtime_error(lmdb_error("cannot open the prefix store", dir, rc));
        }
        MDB_txn* txn = nullptr;
        rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
        if (rc == 0) rc = mdb_dbi_open(txn, "blocks", 0, &dbi);
        // Committing (not aborting) the transaction keeps the table handle open.
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else if (txn)
            mdb_txn_abort(txn);
        if (rc != 0) {
            mdb_env_close(env);
            throw std::runtime_error(lmdb_error("no block table", dir, rc));
        }
    }
    ~ReadOnlyEnv() { mdb_env_close(env); }
};

}  // namespace

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
    if (rc == 0) rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &dbi_);
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

void PrefixStore::load_index() {
    MDB_txn* txn = nullptr;
    MDB_cursor* cursor = nullptr;
    auto* env = static_cast<MDB_env*>(env_);
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) return;
    if (mdb_cursor_open(txn, dbi_, &cursor) != 0) {
        mdb_txn_abort(txn);
        return;
    }
    MDB_val key, value;
    std::vector<Digest> bad;
    for (int op = MDB_FIRST;
         mdb_cursor_get(cursor, &key, &value, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT) {
        Digest digest{};
        const std::optional<RecordHeader> header =
            key.mv_size == digest.size() ? decode_header(as_span(value)) : std::nullopt;
        if (key.mv_size == digest.size()) std::memcpy(digest.data(), key.mv_data, digest.size());
        if (!header) {
            if (key.mv_size == digest.size()) bad.push_back(digest);
            continue;
        }
        Entry& entry = index_[digest];
        entry.parent = header->parent;
        entry.bytes = value.mv_size;
        entry.last_use = ++use_clock_;
        stats_.bytes += value.mv_size;
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    for (const auto& [key_digest, entry] : index_)
        if (auto parent = index_.find(entry.parent); parent != index_.end())
            ++parent->second.children;
    stats_.blocks = index_.size();
    for (const Digest& d : bad) schedule_delete(d);
    if (!bad.empty())
        DSV4_LOG_WARN("prefix store: %zu records with a wrong header or version are deleted",
                      bad.size());
}

std::vector<Digest> PrefixStore::chain_keys(std::span<const int32_t> tokens) const {
    std::vector<Digest> keys;
    Digest previous = seed_;
    const auto block = static_cast<size_t>(options_.block_tokens);
    for (size_t end = block; end <= tokens.size(); end += block) {
        Sha256 hash;
        hash.update(previous.data(), previous.size());
        hash.update(tokens.data() + end - block, block * sizeof(int32_t));
        previous = hash.finish();
        keys.push_back(previous);
    }
    return keys;
}

bool PrefixStore::contains(const Digest& key) const {
    std::lock_guard lock(mutex_);
    return index_.contains(key);
}

std::vector<uint8_t> PrefixStore::read_record(const Digest& key) const {
    auto* env = static_cast<MDB_env*>(env_);
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) return {};
    MDB_val k = as_val(key), value;
    std::vector<uint8_t> out;
    if (mdb_get(txn, dbi_, &k, &value) == 0) {
        const std::span<const uint8_t> bytes = as_span(value);
        out.assign(bytes.begin(), bytes.end());
    }
    mdb_txn_abort(txn);
    return out;
}

int64_t PrefixStore::restore_longest(std::span<const int32_t> tokens, int64_t min_tokens,
                                     int64_t max_tokens, state::SequenceState& state) {
    if (!env_ || max_tokens < options_.block_tokens) return 0;
    const std::vector<Digest> keys = chain_keys(tokens.subspan(0, static_cast<size_t>(max_tokens)));
    size_t found = 0;
    {
        std::lock_guard lock(mutex_);
        while (found < keys.size() && index_.contains(keys[found])) ++found;
        const int64_t found_tokens = static_cast<int64_t>(found) * options_.block_tokens;
        if (found_tokens <= min_tokens) {
            // The live state covers at least as much; a miss only when neither had anything.
            if (found == 0 && min_tokens == 0) ++stats_.misses;
            return 0;
        }
    }
    // Each block's record holds the rows appended in that block and the whole resume state at
    // its end, so applying them in order rebuilds the state at the last one.
    for (size_t i = 0; i < found; ++i) {
        const std::vector<uint8_t> record = read_record(keys[i]);
        const std::optional<RecordHeader> header = decode_header(record);
        bool applied = false;
        if (header && payload_intact(record, *header)) {
            try {
                state.restore(std::span<const uint8_t>(record).subspan(kHeaderBytes));
                applied = true;
            } catch (const state::StateError& e) {
                DSV4_LOG_WARN("prefix store: block %zu does not restore: %s", i + 1, e.what());
            }
        }
        if (!applied) {
            DSV4_LOG_WARN("prefix store: block %s is corrupt; deleted, counted as a miss",
                          to_hex(keys[i]).substr(0, 16).c_str());
            schedule_delete(keys[i]);
            state.reset();
            std::lock_guard lock(mutex_);
            ++stats_.corrupt_records;
            ++stats_.misses;
            return 0;
        }
    }
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < found; ++i) index_[keys[i]].last_use = ++use_clock_;
    ++stats_.hits;
    const int64_t restored = static_cast<int64_t>(found) * options_.block_tokens;
    stats_.hit_tokens += static_cast<uint64_t>(restored);
    return restored;
}

void PrefixStore::offer(const state::SequenceState& state) {
    if (!env_) return;
    const int64_t position = state.position();
    const int64_t block = options_.block_tokens;
    if (position <= 0 || position % block != 0) return;
    const std::vector<Digest> keys = chain_keys(state.tokens());
    const size_t k = keys.size();
    const Digest parent = k >= 2 ? keys[k - 2] : seed_;
    {
        std::lock_guard lock(mutex_);
        if (auto known = index_.find(keys.back()); known != index_.end()) {
            known->second.last_use = ++use_clock_;
            return;
        }
        // A block whose parent is missing could never be reached: store chains whole.
        if (k >= 2 && !index_.contains(parent)) return;
    }
    const std::vector<uint8_t> payload = state.serialize(position - block);
    enqueue(PendingWrite{keys.back(), parent,
                         encode_record(static_cast<uint32_t>(k), parent, payload)});
}

void PrefixStore::enqueue(PendingWrite write) {
    {
        std::lock_guard lock(mutex_);
        pending_bytes_ += write.record.size();
        queue_.push_back(std::move(write));
        while (pending_bytes_ > options_.max_pending_bytes && queue_.size() > 1) {
            pending_bytes_ -= queue_.front().record.size();
            queue_.pop_front();
            ++stats_.dropped_writes;
        }
    }
    queue_changed_.notify_all();
}

void PrefixStore::put_now(const Digest& key, const Digest& parent, uint32_t block_index,
                          std::vector<uint8_t> payload) {
    if (!env_) return;
    enqueue(PendingWrite{key, parent, encode_record(block_index, parent, payload)});
    flush();
}

void PrefixStore::schedule_delete(const Digest& key) {
    {
        std::lock_guard lock(mutex_);
        deletions_.push_back(key);
    }
    queue_changed_.notify_all();
}

void PrefixStore::flush() {
    std::unique_lock lock(mutex_);
    queue_drained_.wait(
        lock, [&] { return (queue_.empty() && deletions_.empty() && !writing_) || !env_; });
}

void PrefixStore::writer_loop() {
    for (;;) {
        std::vector<Digest> deletions;
        std::optional<PendingWrite> write;
        {
            std::unique_lock lock(mutex_);
            queue_changed_.wait(lock,
                                [&] { return closing_ || !queue_.empty() || !deletions_.empty(); });
            if (queue_.empty() && deletions_.empty()) return;  // closing with nothing left
            deletions.swap(deletions_);
            if (!queue_.empty()) {
                write = std::move(queue_.front());
                queue_.pop_front();
                pending_bytes_ -= write->record.size();
            }
            writing_ = true;
        }
        auto* env = static_cast<MDB_env*>(env_);
        if (!deletions.empty()) {
            MDB_txn* txn = nullptr;
            if (mdb_txn_begin(env, nullptr, 0, &txn) == 0) {
                for (const Digest& key : deletions) {
                    MDB_val k = as_val(key);
                    mdb_del(txn, dbi_, &k, nullptr);
                }
                if (mdb_txn_commit(txn) == 0) {
                    std::lock_guard lock(mutex_);
                    for (const Digest& key : deletions) {
                        auto found = index_.find(key);
                        if (found == index_.end()) continue;
                        if (auto parent = index_.find(found->second.parent); parent != index_.end())
                            --parent->second.children;
                        stats_.bytes -= found->second.bytes;
                        index_.erase(found);
                    }
                    stats_.blocks = index_.size();
                }
            }
        }
        if (write) write_one(*write);
        {
            std::lock_guard lock(mutex_);
            writing_ = false;
        }
        queue_drained_.notify_all();
    }
}

bool PrefixStore::make_room(uint64_t incoming, void* txn_handle) {
    auto* txn = static_cast<MDB_txn*>(txn_handle);
    std::lock_guard lock(mutex_);
    while (stats_.bytes + incoming > options_.max_bytes) {
        // The least recently used leaf goes first, so no stored block loses its parent.
        auto victim = index_.end();
        for (auto it = index_.begin(); it != index_.end(); ++it)
            if (it->second.children == 0 &&
                (victim == index_.end() || it->second.last_use < victim->second.last_use))
                victim = it;
        if (victim == index_.end()) return false;
        MDB_val k = as_val(victim->first);
        const int rc = mdb_del(txn, dbi_, &k, nullptr);
        if (rc != 0 && rc != MDB_NOTFOUND) return false;
        if (auto parent = index_.find(victim->second.parent); parent != index_.end())
            --parent->second.children;
        stats_.bytes -= victim->second.bytes;
        ++stats_.evictions;
        index_.erase(victim);
    }
    stats_.blocks = index_.size();
    return true;
}

void PrefixStore::write_one(PendingWrite& write) {
    const auto start = Clock::now();
    auto* env = static_cast<MDB_env*>(env_);
    if (write.record.size() > options_.max_bytes) {
        std::lock_guard lock(mutex_);
        ++stats_.dropped_writes;
        return;
    }
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0 && !make_room(write.record.size(), txn)) rc = MDB_MAP_FULL;
    MDB_val k = as_val(write.key);
    MDB_val v{write.record.size(), write.record.data()};
    if (rc == 0) rc = mdb_put(txn, dbi_, &k, &v, 0);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = nullptr;
    }
    if (txn) mdb_txn_abort(txn);
    std::lock_guard lock(mutex_);
    if (rc != 0) {
        // Evictions of this transaction were rolled back with it: reload the truth next open.
        ++stats_.dropped_writes;
        DSV4_LOG_WARN("%s", lmdb_error("prefix store write failed", options_.dir, rc).c_str());
        return;
    }
    Entry& entry = index_[write.key];
    entry.parent = write.parent;
    entry.bytes = write.record.size();
    entry.last_use = ++use_clock_;
    if (auto parent = index_.find(write.parent); parent != index_.end()) ++parent->second.children;
    stats_.bytes += write.record.size();
    stats_.blocks = index_.size();
    ++stats_.writes;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stats_.write_seconds_sum += seconds;
    stats_.write_seconds_max = std::max(stats_.write_seconds_max, seconds);
}

PrefixStoreStats PrefixStore::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

PrefixStore::VerifyReport PrefixStore::verify(const std::string& dir) {
    ReadOnlyEnv store(dir);
    MDB_txn* txn = nullptr;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_txn_begin(store.env, nullptr, MDB_RDONLY, &txn);
    if (rc == 0) rc = mdb_cursor_open(txn, store.dbi, &cursor);
    if (rc != 0) {
        if (txn) mdb_txn_abort(txn);
        throw std::runtime_error(lmdb_error("cannot read the prefix store", dir, rc));
    }
    VerifyReport report;
    std::map<Digest, Digest> parents;
    std::vector<std::pair<Digest, uint32_t>> chained;
    MDB_val key, value;
    for (int op = MDB_FIRST;
         mdb_cursor_get(cursor, &key, &value, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT) {
        ++report.records;
        report.bytes += value.mv_size;
        const std::optional<RecordHeader> header = decode_header(as_span(value));
        Digest digest{};
        if (key.mv_size != digest.size() || !header || !payload_intact(as_span(value), *header)) {
            ++report.bad;
            report.problems.push_back("record " + to_hex(as_span(key)).substr(0, 16) +
                                      ": wrong key size, header, version or checksum");
            continue;
        }
        std::memcpy(digest.data(), key.mv_data, digest.size());
        parents[digest] = header->parent;
        chained.emplace_back(digest, header->block_index);
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    for (const auto& [digest, block_index] : chained) {
        if (block_index > 1 && !parents.contains(parents[digest])) {
            ++report.orphans;
            report.problems.push_back("block " + to_hex(digest).substr(0, 16) + " (index " +
                                      std::to_string(block_index) + ") has no parent");
        }
    }
    return report;
}

void PrefixStore::compact(const std::string& dir, const std::string& out_dir) {
    ReadOnlyEnv store(dir);
    std::filesystem::create_directories(out_dir);
    const int rc = mdb_env_copy2(store.env, out_dir.c_str(), MDB_CP_COMPACT);
    if (rc != 0)
        throw std::runtime_error(lmdb_error("cannot compact into '" + out_dir + "'", dir, rc));
}

}  // namespace dsv4::kvstore
