#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "kvstore/prefix_store.h"
#include "tools/cmd_kv.h"

namespace dsv4::tools {
namespace {

constexpr const char* kUsage =
    "usage: dsv4 kv stats --dir DIR        blocks, resume tails, bytes and problems of a\n"
    "                                      prefix store\n"
    "       dsv4 kv verify --dir DIR       check every record (header, version, checksum,\n"
    "                                      parent); exit 1 when any is bad\n"
    "       dsv4 kv compact --dir DIR --out NEW_DIR\n"
    "                                      copy the store compactly into an empty directory\n";

int print_report(const std::string& dir, bool strict) {
    const kvstore::PrefixStore::VerifyReport report = kvstore::PrefixStore::verify(dir);
    std::printf(
        "store:    %s\nrecords:  %llu\nblocks:   %llu\ntails:    %llu\nbytes:    %llu\n"
        "bad:      %llu\norphans:  %llu\n",
        dir.c_str(), static_cast<unsigned long long>(report.records),
        static_cast<unsigned long long>(report.blocks),
        static_cast<unsigned long long>(report.tails),
        static_cast<unsigned long long>(report.bytes), static_cast<unsigned long long>(report.bad),
        static_cast<unsigned long long>(report.orphans));
    for (const std::string& problem : report.problems) std::printf("  %s\n", problem.c_str());
    return strict && report.bad + report.orphans > 0 ? 1 : 0;
}

// Writes chained random blocks as fast as it can and prints each key once its commit returned
// (the durability promise the crash tests check). Not listed in the usage.
int stress(const std::string& dir, uint64_t seed) {
    kvstore::PrefixStoreOptions options;
    options.dir = dir;
    options.max_bytes = 1ull << 30;
    kvstore::PrefixStore store(options, kvstore::Digest{});
    if (!store.enabled()) {
        std::fprintf(stderr, "dsv4 kv stress: %s\n", store.stats().disabled_reason.c_str());
        return 1;
    }
    std::mt19937_64 random(seed);
    kvstore::Digest parent{};
    for (uint32_t index = 1;; ++index) {
        kvstore::Digest key;
        for (uint8_t& b : key) b = static_cast<uint8_t>(random());
        std::vector<uint8_t> payload(4096 + random() % 65536);
        for (uint8_t& b : payload) b = static_cast<uint8_t>(random());
        store.put_now(key, parent, index, std::move(payload));
        if (!store.contains(key)) {
            // Writes were refused (full disk, file size limit): say why, as the daemon would.
            std::fprintf(stderr, "dsv4 kv stress: %s\n", store.stats().disabled_reason.c_str());
            return 3;
        }
        std::printf("%s\n", kvstore::to_hex(key).c_str());
        std::fflush(stdout);
        parent = key;
    }
}

}  // namespace

int cmd_kv(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string action = argv[1];
    std::string dir, out;
    uint64_t seed = 1;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "dsv4 kv: %s needs a value\n%s", arg.c_str(), kUsage);
            return 2;
        }
        if (arg == "--dir") {
            dir = argv[++i];
        } else if (arg == "--out") {
            out = argv[++i];
        } else if (arg == "--seed") {
            seed = std::stoull(argv[++i]);
        } else {
            std::fprintf(stderr, "dsv4 kv: unknown argument '%s'\n%s", arg.c_str(), kUsage);
            return 2;
        }
    }
    if (dir.empty()) {
        std::fprintf(stderr, "dsv4 kv: --dir is required\n%s", kUsage);
        return 2;
    }
    try {
        if (action == "stats") return print_report(dir, false);
        if (action == "verify") return print_report(dir, true);
        if (action == "stress") return stress(dir, seed);
        if (action == "compact") {
            if (out.empty()) {
                std::fprintf(stderr, "dsv4 kv compact: --out is required\n");
                return 2;
            }
            kvstore::PrefixStore::compact(dir, out);
            return print_report(out, true);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dsv4 kv %s: %s\n", action.c_str(), e.what());
        return 1;
    }
    std::fprintf(stderr, "dsv4 kv: unknown action '%s'\n%s", action.c_str(), kUsage);
    return 2;
}

}  // namespace dsv4::tools
