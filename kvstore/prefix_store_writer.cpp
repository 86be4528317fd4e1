// The prefix store's writer side: the queue of records waiting for the writer thread, commits,
// evictions for the budget, deletions, last-use updates, and turning writes off when the disk
// refuses them. Lookups and offers live in prefix_store.cpp.
#include <chrono>
#include <cstring>
#include <set>

#include "engine/common/log.h"
#include "kvstore/lmdb_util.h"
#include "kvstore/prefix_store.h"

namespace dsv4::kvstore {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void PrefixStore::enqueue(PendingWrite write) {
    {
        std::lock_guard lock(mutex_);
        if (writes_disabled_) return;
        pending_bytes_ += write.record.size();
        ++pending_[write.key];
        queue_.push_back(std::move(write));
        while (pending_bytes_ > options_.max_pending_bytes && queue_.size() > 1) {
            PendingWrite& dropped = queue_.front();
            pending_bytes_ -= dropped.record.size();
            if (--pending_[dropped.key] == 0) pending_.erase(dropped.key);
            queue_.pop_front();
            ++stats_.dropped_writes;
        }
    }
    queue_changed_.notify_all();
}

void PrefixStore::put_now(const Digest& key, const Digest& parent, uint32_t block_index,
                          std::vector<uint8_t> payload) {
    if (!env_) return;
    RecordHeader header;
    header.block_index = block_index;
    header.parent = parent;
    enqueue(PendingWrite{key, RecordKind::Block, block_index, parent,
                         encode_record(header, payload, {})});
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
    queue_drained_.wait(lock, [&] {
        return (queue_.empty() && deletions_.empty() && touched_.empty() && !writing_) || !env_;
    });
}

void PrefixStore::disable_writes(const std::string& reason) {
    std::lock_guard lock(mutex_);
    if (writes_disabled_) return;
    writes_disabled_ = true;
    stats_.disabled_reason = reason;
    stats_.dropped_writes += queue_.size();
    queue_.clear();
    pending_.clear();
    pending_bytes_ = 0;
    DSV4_LOG_WARN("prefix store: writes turned off, continuing without persistence: %s",
                  reason.c_str());
}

void PrefixStore::erase_entry(std::map<Digest, Entry>::iterator entry) {
    const Entry& e = entry->second;
    if (auto parent = index_.find(e.parent); parent != index_.end()) --parent->second.children;
    if (e.kind == RecordKind::Tail) {
        auto [first, last] = tails_of_.equal_range(e.parent);
        for (auto it = first; it != last; ++it)
            if (it->second == entry->first) {
                tails_of_.erase(it);
                break;
            }
        --stats_.tails;
    } else {
        --stats_.blocks;
    }
    stats_.bytes -= e.bytes;
    index_.erase(entry);
}

void PrefixStore::add_descendants(std::vector<Digest>& keys) const {
    std::set<Digest> listed(keys.begin(), keys.end());
    for (size_t i = 0; i < keys.size(); ++i)
        for (const auto& [key, entry] : index_)
            if (entry.parent == keys[i] && listed.insert(key).second) keys.push_back(key);
}

void PrefixStore::writer_loop() {
    for (;;) {
        std::vector<Digest> deletions;
        std::vector<std::pair<Digest, uint64_t>> last_uses;
        std::optional<PendingWrite> write;
        {
            std::unique_lock lock(mutex_);
            queue_changed_.wait(lock, [&] {
                return closing_ || !queue_.empty() || !deletions_.empty() || !touched_.empty();
            });
            if (queue_.empty() && deletions_.empty() && touched_.empty()) return;  // closing
            deletions.swap(deletions_);
            add_descendants(deletions);
            for (const Digest& key : touched_)
                if (auto it = index_.find(key); it != index_.end())
                    last_uses.emplace_back(key, it->second.last_use);
            touched_.clear();
            if (!queue_.empty()) {
                write = std::move(queue_.front());
                queue_.pop_front();
                pending_bytes_ -= write->record.size();
            }
            writing_ = true;
        }
        auto* env = static_cast<MDB_env*>(env_);
        if (!deletions.empty() || !last_uses.empty()) {
            MDB_txn* txn = nullptr;
            if (mdb_txn_begin(env, nullptr, 0, &txn) == 0) {
                for (const Digest& key : deletions)
                    for (const MDB_dbi dbi : {blocks_dbi_, tails_dbi_, lru_dbi_}) {
                        MDB_val k = as_val(key);
                        mdb_del(txn, dbi, &k, nullptr);
                    }
                for (auto& [key, last_use] : last_uses) {
                    MDB_val k = as_val(key), v{sizeof last_use, &last_use};
                    mdb_put(txn, lru_dbi_, &k, &v, 0);
                }
                if (mdb_txn_commit(txn) == 0) {
                    std::lock_guard lock(mutex_);
                    for (const Digest& key : deletions)
                        if (auto found = index_.find(key); found != index_.end())
                            erase_entry(found);
                }
            }
        }
        if (write) write_one(*write);
        {
            std::lock_guard lock(mutex_);
            if (write)
                if (auto it = pending_.find(write->key); it != pending_.end() && --it->second == 0)
                    pending_.erase(it);
            writing_ = false;
        }
        queue_drained_.notify_all();
    }
}

bool PrefixStore::make_room(uint64_t incoming, const Digest& keep, void* txn_handle) {
    auto* txn = static_cast<MDB_txn*>(txn_handle);
    std::lock_guard lock(mutex_);
    while (stats_.bytes + incoming > options_.max_bytes) {
        // The least recently used leaf goes first (tails before their blocks), so no stored
        // record ever loses its parent.
        auto victim = index_.end();
        for (auto it = index_.begin(); it != index_.end(); ++it)
            if (it->second.children == 0 && it->first != keep &&
                (victim == index_.end() || it->second.last_use < victim->second.last_use))
                victim = it;
        if (victim == index_.end()) return false;
        MDB_val k = as_val(victim->first);
        const MDB_dbi dbi = victim->second.kind == RecordKind::Tail ? tails_dbi_ : blocks_dbi_;
        const int rc = mdb_del(txn, dbi, &k, nullptr);
        if (rc != 0 && rc != MDB_NOTFOUND) return false;
        mdb_del(txn, lru_dbi_, &k, nullptr);
        ++stats_.evictions;
        erase_entry(victim);
    }
    return true;
}

void PrefixStore::write_one(PendingWrite& write) {
    const auto start = Clock::now();
    auto* env = static_cast<MDB_env*>(env_);
    const std::optional<RecordHeader> header = decode_record_header(write.record);
    uint64_t last_use = 0;
    {
        std::lock_guard lock(mutex_);
        // A record whose parent was evicted or dropped meanwhile could never be reached.
        const bool needs_parent =
            write.kind == RecordKind::Block ? write.block_index > 1 : write.block_index > 0;
        if (writes_disabled_ || !header || write.record.size() > options_.max_bytes ||
            (needs_parent && !index_.contains(write.parent))) {
            ++stats_.dropped_writes;
            return;
        }
        last_use = ++use_clock_;
    }
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0 && !make_room(write.record.size(), write.parent, txn)) rc = MDB_MAP_FULL;
    MDB_val k = as_val(write.key);
    MDB_val v{write.record.size(), write.record.data()};
    MDB_val use{sizeof last_use, &last_use};
    const MDB_dbi dbi = write.kind == RecordKind::Tail ? tails_dbi_ : blocks_dbi_;
    if (rc == 0) rc = mdb_put(txn, dbi, &k, &v, 0);
    if (rc == 0) rc = mdb_put(txn, lru_dbi_, &k, &use, 0);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = nullptr;
    }
    if (txn) mdb_txn_abort(txn);
    if (rc > 0)
        // An operating-system error (no space, quota, file size limit, I/O): the disk will not
        // take more. Keep serving from what is stored, without writing.
        disable_writes(lmdb_error("cannot write the prefix store", options_.dir, rc));
    std::lock_guard lock(mutex_);
    if (rc != 0) {
        // Evictions of the aborted transaction were rolled back with it: the index follows.
        read_index();
        if (rc < 0) {
            ++stats_.dropped_writes;
            DSV4_LOG_WARN("%s", lmdb_error("prefix store write failed", options_.dir, rc).c_str());
        }
        return;
    }
    auto [entry, inserted] = index_.try_emplace(write.key);
    Entry& e = entry->second;
    if (inserted) {
        e.kind = write.kind;
        e.parent = write.parent;
        if (auto parent = index_.find(write.parent); parent != index_.end())
            ++parent->second.children;
        if (write.kind == RecordKind::Tail) {
            tails_of_.emplace(write.parent, write.key);
            ++stats_.tails;
        } else {
            ++stats_.blocks;
        }
    } else {
        stats_.bytes -= e.bytes;  // a tail replaced by one that carries logits
    }
    e.bytes = write.record.size();
    e.last_use = last_use;
    e.extra_tokens = header->extra_tokens;
    e.has_logits = header->logit_count > 0;
    stats_.bytes += e.bytes;
    ++stats_.writes;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stats_.write_seconds_sum += seconds;
    stats_.write_seconds_max = std::max(stats_.write_seconds_max, seconds);
}

}  // namespace dsv4::kvstore
