// Whole-store maintenance of the prefix store: verify every record, compact copies. Works on a
// directory opened read-only, never on a live PrefixStore's state.
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "kvstore/lmdb_util.h"
#include "kvstore/prefix_store.h"

namespace dsv4::kvstore {
namespace {

// Opens an existing environment read-only.
struct ReadOnlyEnv {
    MDB_env* env = nullptr;
    MDB_dbi blocks = 0;
    MDB_dbi tails = 0;
    bool has_tails = false;

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
        if (rc == 0) rc = mdb_dbi_open(txn, kBlocksTable, 0, &blocks);
        if (rc == 0) has_tails = mdb_dbi_open(txn, kTailsTable, 0, &tails) == 0;
        // Committing (not aborting) the transaction keeps the table handles open.
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

struct CheckedRecord {
    Digest key{};
    RecordHeader header;
};

// Reads every record of one table into `records`, counting the bad ones in `report`.
void scan_table(MDB_txn* txn, MDB_dbi dbi, const std::string& dir,
                PrefixStore::VerifyReport& report, std::vector<CheckedRecord>& records) {
    MDB_cursor* cursor = nullptr;
    const int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0) throw std::runtime_error(lmdb_error("cannot read the prefix store", dir, rc));
    MDB_val key, value;
    for (int op = MDB_FIRST;
         mdb_cursor_get(cursor, &key, &value, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT) {
        ++report.records;
        report.bytes += value.mv_size;
        const std::optional<RecordHeader> header = decode_record_header(as_span(value));
        CheckedRecord record;
        if (key.mv_size != record.key.size() || !header ||
            !payload_intact(as_span(value), *header)) {
            ++report.bad;
            report.problems.push_back("record " + to_hex(as_span(key)).substr(0, 16) +
                                      ": wrong key size, header, version or checksum");
            continue;
        }
        std::memcpy(record.key.data(), key.mv_data, record.key.size());
        record.header = *header;
        ++(header->kind == RecordKind::Tail ? report.tails : report.blocks);
        records.push_back(record);
    }
    mdb_cursor_close(cursor);
}

}  // namespace

PrefixStore::VerifyReport PrefixStore::verify(const std::string& dir) {
    ReadOnlyEnv store(dir);
    MDB_txn* txn = nullptr;
    const int rc = mdb_txn_begin(store.env, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) throw std::runtime_error(lmdb_error("cannot read the prefix store", dir, rc));
    VerifyReport report;
    std::vector<CheckedRecord> records;
    try {
        scan_table(txn, store.blocks, dir, report, records);
        if (store.has_tails) scan_table(txn, store.tails, dir, report, records);
    } catch (...) {
        mdb_txn_abort(txn);
        throw;
    }
    mdb_txn_abort(txn);
    std::map<Digest, bool> blocks;
    for (const CheckedRecord& r : records)
        if (r.header.kind == RecordKind::Block) blocks[r.key] = true;
    for (const CheckedRecord& r : records) {
        // Blocks after the first and tails after a block need that block.
        const bool needs_parent = r.header.kind == RecordKind::Block ? r.header.block_index > 1
                                                                     : r.header.block_index > 0;
        if (needs_parent && !blocks.contains(r.header.parent)) {
            ++report.orphans;
            report.problems.push_back(
                std::string(r.header.kind == RecordKind::Tail ? "tail " : "block ") +
                to_hex(r.key).substr(0, 16) + " (block index " +
                std::to_string(r.header.block_index) + ") has no parent");
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
