// Small LMDB helpers shared by the prefix store's files: table names, key/value views, error
// text. Internal to kvstore/; must not hold state.
#pragma once

#include <lmdb.h>

#include <span>
#include <string>

#include "kvstore/sha256.h"

namespace dsv4::kvstore {

inline constexpr const char* kBlocksTable = "blocks";
inline constexpr const char* kTailsTable = "tails";
inline constexpr const char* kLastUseTable = "last_use";

inline std::span<const uint8_t> as_span(const MDB_val& v) {
    return {static_cast<const uint8_t*>(v.mv_data), v.mv_size};
}

inline MDB_val as_val(const Digest& key) {
    return MDB_val{key.size(), const_cast<uint8_t*>(key.data())};
}

inline std::string lmdb_error(const std::string& what, const std::string& dir, int rc) {
    return what + " in '" + dir + "': " + mdb_strerror(rc);
}

}  // namespace dsv4::kvstore
