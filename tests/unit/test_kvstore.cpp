// The persistent prefix store on real LMDB: the hash, chain keys, restore bit-identical to an
// uninterrupted sequence across a "restart" (from a prompt's end, with its logits, and from a
// checkpoint), shared prefixes stored once, the budget with whole chains and a last-use order
// that survives restarts, corrupt records, an unusable directory, a disk that refuses writes,
// and kill -9 during heavy writes.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvstore/prefix_store.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::kvstore {
namespace {

namespace fs = std::filesystem;

std::string hex_of(std::string_view text) {
    return to_hex(sha256({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
}

struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() / ("dsv4-kv-" + name + "-" + std::to_string(::getpid()))) {
        fs::remove_all(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string str() const { return path.string(); }
};

TEST(Sha256, StandardVectors) {
    EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 pieces;  // the same bytes fed in uneven pieces
    const std::string text(1000, 'a');
    for (size_t at = 0; at < text.size(); at += 7)
        pieces.update(text.data() + at, std::min<size_t>(7, text.size() - at));
    EXPECT_EQ(to_hex(pieces.finish()), hex_of(text));
}

struct Engine {
    std::unique_ptr<forward::LoadedModel> model =
        forward::load_model(test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    backend::cpu::CpuBackend backend{2};

    std::unique_ptr<generate::Generator> generator(generate::PrefixCache* cache) {
        generate::GeneratorConfig config;
        config.context_tokens = 4096;
        config.prefix_cache = cache;
        return std::make_unique<generate::Generator>(
            *model, backend, tokenizer::Tokenizer::from_gguf(model->file), config);
    }
    Digest seed() const { return model_fingerprint(*model, "q8"); }
};

std::vector<int32_t> prompt_tokens(size_t n, uint32_t seed) {
    std::mt19937 random(seed);
    std::vector<int32_t> tokens(n);
    for (int32_t& t : tokens)
        t = static_cast<int32_t>(10 + random() % 600);  // the tiny vocabulary has 640
    return tokens;
}

PrefixStoreOptions options_for(const TempDir& dir, uint64_t max_bytes = 1ull << 30,
                               int64_t checkpoint_blocks = 8) {
    PrefixStoreOptions options;
    options.dir = dir.str();
    options.max_bytes = max_bytes;
    options.block_tokens = 256;
    options.checkpoint_blocks = checkpoint_blocks;
    return options;
}

// Logits at the end of the prompt, and the greedy continuation.
struct Outcome {
    std::vector<float> logits;
    std::vector<int32_t> generated;
    int64_t restored = 0;
};

Outcome run(generate::Generator& generator, const std::vector<int32_t>& prompt) {
    generate::GenerateOptions options;
    options.sampling.temperature = 0;
    options.max_tokens = 0;
    Outcome out;
    out.restored = generator.generate(prompt, options).restored_tokens;
    out.logits.assign(generator.last_logits().begin(), generator.last_logits().end());
    generator.reset();
    options.max_tokens = 6;
    out.generated = generator.generate(prompt, options).tokens;
    return out;
}

// run() with a fresh store on `dir`: the prompt and a short generation after it are stored.
PrefixStoreStats store_run(Engine& engine, const TempDir& dir, const std::vector<int32_t>& prompt) {
    PrefixStore store(options_for(dir), engine.seed());
    auto generator = engine.generator(&store);
    run(*generator, prompt);
    store.flush();
    return store.stats();
}

TEST(PrefixStore, ChainKeysFollowTheTokensAndTheSeed) {
    TempDir dir("keys");
    PrefixStore a(options_for(dir), Digest{});
    const std::vector<int32_t> tokens = prompt_tokens(1000, 1);
    const std::vector<Digest> keys = a.chain_keys(tokens);
    ASSERT_EQ(keys.size(), 3u);  // whole blocks of 256 only
    const std::vector<Digest> prefix = a.chain_keys(std::span(tokens).subspan(0, 600));
    EXPECT_EQ(prefix, std::vector<Digest>(keys.begin(), keys.begin() + 2));
    std::vector<int32_t> changed = tokens;
    changed[10] += 1;  // a change in block 1 changes every later key
    const std::vector<Digest> other = a.chain_keys(changed);
    for (size_t i = 0; i < 3; ++i) EXPECT_NE(other[i], keys[i]);
    Digest seed{};
    seed[0] = 1;
    TempDir dir2("keys2");
    PrefixStore b(options_for(dir2), seed);  // another model or version
    EXPECT_NE(b.chain_keys(tokens)[0], keys[0]);
}

// Keys come from earlier calls where the blocks agree; whatever the order of calls, they equal
// the chain hashed from scratch: SHA-256(previous key ‖ the block's token ids, little-endian).
TEST(PrefixStore, ChainKeysDoNotDependOnEarlierCalls) {
    TempDir dir("keys_memo");
    Digest seed{};
    seed[5] = 7;
    PrefixStore store(options_for(dir), seed);
    const std::vector<int32_t> a = prompt_tokens(1500, 3);
    std::vector<int32_t> b = a;
    b[700] += 1;  // block 2 of 256 differs
    auto from_scratch = [&](std::span<const int32_t> tokens) {
        std::vector<Digest> keys;
        Digest previous = seed;
        for (size_t end = 256; end <= tokens.size(); end += 256) {
            Sha256 hash;
            hash.update(previous.data(), previous.size());
            hash.update(tokens.data() + end - 256, 256 * sizeof(int32_t));
            previous = hash.finish();
            keys.push_back(previous);
        }
        return keys;
    };
    const std::span<const int32_t> sa(a), sb(b);
    for (const std::span<const int32_t> tokens :
         {sa, sa.first(600), sa, sb, sa.first(900), sb.first(1024), sa.first(255), sb, sa,
          sa.first(1300)}) {
        EXPECT_EQ(store.chain_keys(tokens), from_scratch(tokens)) << tokens.size() << " tokens";
    }
}

TEST(PrefixStore, RestoreAfterRestartIsBitIdentical) {
    Engine engine;
    TempDir dir("restore");
    const std::vector<int32_t> prompt = prompt_tokens(1300, 2);
    Outcome uninterrupted;
    {
        auto plain = engine.generator(nullptr);
        uninterrupted = run(*plain, prompt);
    }
    {
        PrefixStore store(options_for(dir), engine.seed());
        auto generator = engine.generator(&store);
        const Outcome first = run(*generator, prompt);
        EXPECT_EQ(first.restored, 0);
        store.flush();
        EXPECT_EQ(store.stats().blocks, 5u);  // 1300 prompt tokens: blocks up to 1280
        // Resume points: the prompt's end (with its logits) and the generation's end.
        EXPECT_EQ(store.stats().tails, 2u);
    }
    PrefixStore store(options_for(dir), engine.seed());  // a new process, the same directory
    auto generator = engine.generator(&store);
    // The whole prompt comes back, logits included: nothing is prefilled.
    const Outcome restored = run(*generator, prompt);
    EXPECT_EQ(restored.restored, 1300);
    EXPECT_EQ(restored.logits, uninterrupted.logits);
    EXPECT_EQ(restored.generated, uninterrupted.generated);
    EXPECT_GE(store.stats().hits, 1u);
    EXPECT_EQ(store.stats().hit_tokens, 2u * 1300u);

    // A longer prompt resumes at the stored prompt end and prefills only what is new.
    std::vector<int32_t> longer = prompt;
    const std::vector<int32_t> more = prompt_tokens(90, 12);
    longer.insert(longer.end(), more.begin(), more.end());
    generator->reset();
    generate::GenerateOptions options;
    options.max_tokens = 0;
    EXPECT_EQ(generator->generate(longer, options).restored_tokens, 1300);
    auto plain = engine.generator(nullptr);
    plain->generate(longer, options);
    EXPECT_TRUE(std::ranges::equal(generator->last_logits(), plain->last_logits()));

    // Another model fingerprint finds nothing.
    Digest other_seed = engine.seed();
    other_seed[5] ^= 1;
    PrefixStore foreign(options_for(dir), other_seed);
    auto stranger = engine.generator(&foreign);
    EXPECT_EQ(run(*stranger, prompt).restored, 0);
}

TEST(PrefixStore, SharedPrefixIsStoredOnce) {
    Engine engine;
    TempDir dir("shared");
    PrefixStore store(options_for(dir), engine.seed());
    auto generator = engine.generator(&store);
    const std::vector<int32_t> system = prompt_tokens(512, 3);
    std::vector<int32_t> a = system, b = system;
    const std::vector<int32_t> tail_a = prompt_tokens(530, 4), tail_b = prompt_tokens(530, 5);
    a.insert(a.end(), tail_a.begin(), tail_a.end());
    b.insert(b.end(), tail_b.begin(), tail_b.end());
    generate::GenerateOptions options;
    options.max_tokens = 0;
    generator->generate(a, options);
    store.flush();
    const uint64_t one_chain = store.stats().bytes;
    EXPECT_EQ(store.stats().blocks, 4u);
    generator->generate(b, options);
    store.flush();
    EXPECT_EQ(store.stats().blocks, 6u);  // the two system blocks once, two of each tail
    EXPECT_LT(store.stats().bytes, 2 * one_chain);
    const auto report = PrefixStore::verify(dir.str());
    EXPECT_EQ(report.bad, 0u);
    EXPECT_EQ(report.orphans, 0u);
}

TEST(PrefixStore, ResumeTailsOnlyAtCheckpointsAndEnds) {
    Engine engine;
    TempDir dir("checkpoints");
    PrefixStore store(options_for(dir, 1ull << 30, 2), engine.seed());
    auto generator = engine.generator(&store);
    const std::vector<int32_t> prompt = prompt_tokens(1300, 13);
    generate::GenerateOptions options;
    options.max_tokens = 0;
    generator->generate(prompt, options);
    store.flush();
    // Blocks 1..5; tails after blocks 2 and 4 and at the prompt's end (1300).
    EXPECT_EQ(store.stats().blocks, 5u);
    EXPECT_EQ(store.stats().tails, 3u);

    // A prompt that leaves this one at 1100 resumes at the checkpoint at 1024.
    std::vector<int32_t> diverging(prompt.begin(), prompt.begin() + 1100);
    const std::vector<int32_t> other = prompt_tokens(150, 14);
    diverging.insert(diverging.end(), other.begin(), other.end());
    generator->reset();
    EXPECT_EQ(generator->generate(diverging, options).restored_tokens, 1024);
    auto plain = engine.generator(nullptr);
    plain->generate(diverging, options);
    EXPECT_TRUE(std::ranges::equal(generator->last_logits(), plain->last_logits()));

    // A prompt ending on a checkpoint stores that tail once, with the logits of its end.
    const std::vector<int32_t> aligned = prompt_tokens(1024, 18);
    store.flush();
    const uint64_t tails_before = store.stats().tails;
    generator->reset();
    generator->generate(aligned, options);
    store.flush();
    EXPECT_EQ(store.stats().tails, tails_before + 2);  // after blocks 2 and 4
    generator->reset();
    EXPECT_EQ(generator->generate(aligned, options).restored_tokens, 1024);
    plain->generate(aligned, options);
    EXPECT_TRUE(std::ranges::equal(generator->last_logits(), plain->last_logits()));
}

TEST(PrefixStore, LastUseOrderSurvivesARestart) {
    Engine engine;
    TempDir dir("last-use");
    std::vector<std::vector<int32_t>> prompts;
    for (uint32_t i = 0; i < 5; ++i) prompts.push_back(prompt_tokens(300, 15 + i));
    generate::GenerateOptions options;
    options.max_tokens = 0;
    uint64_t one_chain_bytes = 0, stored_bytes = 0;
    {
        PrefixStore store(options_for(dir), engine.seed());
        auto generator = engine.generator(&store);
        for (size_t i = 0; i < 4; ++i) {
            generator->generate(prompts[i], options);
            store.flush();
            if (i == 0) one_chain_bytes = store.stats().bytes;
        }
        // Used again in the order 3, 2, 1: prompt 0 is now the least recently used.
        for (size_t i = 4; i-- > 1;) {
            generator->reset();
            EXPECT_EQ(generator->generate(prompts[i], options).restored_tokens, 300);
        }
        store.flush();
        stored_bytes = store.stats().bytes;
    }
    // Room for one more chain but one byte: one leaf goes, and after the restart it must still
    // be prompt 0's resume point.
    PrefixStore store(options_for(dir, stored_bytes + one_chain_bytes - 1), engine.seed());
    auto generator = engine.generator(&store);
    generator->generate(prompts[4], options);
    store.flush();
    EXPECT_EQ(store.stats().evictions, 1u);
    for (size_t i = 1; i < 4; ++i) {
        generator->reset();
        EXPECT_EQ(generator->generate(prompts[i], options).restored_tokens, 300) << i;
    }
    generator->reset();
    EXPECT_EQ(generator->generate(prompts[0], options).restored_tokens, 0);
}

TEST(PrefixStore, BudgetEvictsLeavesAndKeepsChainsWhole) {
    TempDir dir("budget");
    const uint64_t budget = 400 * 1024;
    PrefixStoreOptions options = options_for(dir, budget);
    PrefixStore store(options, Digest{});
    std::mt19937_64 random(9);
    for (int chain = 0; chain < 12; ++chain) {
        Digest parent{};
        for (uint32_t index = 1; index <= 3; ++index) {
            Digest key;
            for (uint8_t& byte : key) byte = static_cast<uint8_t>(random());
            store.put_now(key, parent, index, std::vector<uint8_t>(40 * 1024, uint8_t(index)));
            parent = key;
            EXPECT_LE(store.stats().bytes, budget);
        }
    }
    EXPECT_GT(store.stats().evictions, 0u);
    const auto report = PrefixStore::verify(dir.str());
    EXPECT_EQ(report.bad, 0u);
    EXPECT_EQ(report.orphans, 0u) << (report.problems.empty() ? "" : report.problems[0]);
    EXPECT_LE(report.bytes, budget);
}

// Flips one payload byte of every record (or only the first block) behind the store's back.
void corrupt_records(const std::string& dir, bool first_block_only = false) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    ASSERT_EQ(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    for (const char* table : {"blocks", "tails"}) {
        if (first_block_only && std::string_view(table) == "tails") break;
        MDB_dbi dbi;
        ASSERT_EQ(mdb_dbi_open(txn, table, 0, &dbi), 0);
        MDB_cursor* cursor = nullptr;
        ASSERT_EQ(mdb_cursor_open(txn, dbi, &cursor), 0);
        MDB_val key, value;
        std::vector<std::pair<std::string, std::string>> rewritten;
        for (int op = MDB_FIRST; mdb_cursor_get(cursor, &key, &value, MDB_cursor_op(op)) == 0 &&
                                 !(first_block_only && !rewritten.empty());
             op = MDB_NEXT) {
            std::string bytes(static_cast<const char*>(value.mv_data), value.mv_size);
            bytes[bytes.size() - 7] ^= 0x5a;
            rewritten.emplace_back(std::string(static_cast<const char*>(key.mv_data), key.mv_size),
                                   bytes);
        }
        mdb_cursor_close(cursor);
        for (auto& [k, v] : rewritten) {
            MDB_val mk{k.size(), k.data()}, mv{v.size(), v.data()};
            ASSERT_EQ(mdb_put(txn, dbi, &mk, &mv, 0), 0);
        }
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

TEST(PrefixStore, CorruptRecordIsRejectedDeletedAndCountedAsAMiss) {
    Engine engine;
    TempDir dir("corrupt");
    const std::vector<int32_t> prompt = prompt_tokens(700, 6);
    const PrefixStoreStats stored = store_run(engine, dir, prompt);
    ASSERT_EQ(stored.blocks, 2u);
    ASSERT_EQ(stored.tails, 2u);  // prompt end, generation end
    corrupt_records(dir.str());
    EXPECT_EQ(PrefixStore::verify(dir.str()).bad, 4u);
    PrefixStore store(options_for(dir), engine.seed());
    auto generator = engine.generator(&store);
    auto plain = engine.generator(nullptr);
    const Outcome expected = run(*plain, prompt);
    const Outcome outcome = run(*generator, prompt);  // falls back to a full prefill
    EXPECT_EQ(outcome.restored, 0);
    EXPECT_EQ(outcome.logits, expected.logits);
    store.flush();
    EXPECT_GE(store.stats().corrupt_records, 1u);
    EXPECT_GE(store.stats().misses, 1u);
}

TEST(PrefixStore, ACorruptBlockTakesWhatHangsBelowItAlong) {
    Engine engine;
    TempDir dir("corrupt-one");
    const std::vector<int32_t> prompt = prompt_tokens(700, 19);
    store_run(engine, dir, prompt);
    corrupt_records(dir.str(), true);  // one block, whichever LMDB lists first
    EXPECT_EQ(PrefixStore::verify(dir.str()).bad, 1u);
    {
        PrefixStore store(options_for(dir), engine.seed());
        state::SequenceState state(engine.model->config, engine.backend, 4096);
        EXPECT_EQ(store.restore_longest(prompt, 0, state).tokens, 0);
        EXPECT_EQ(state.position(), 0);
        store.flush();
        EXPECT_EQ(store.stats().corrupt_records, 1u);
    }
    // The records below the corrupt block went with it: nothing is left unreachable.
    const auto report = PrefixStore::verify(dir.str());
    EXPECT_EQ(report.bad, 0u);
    EXPECT_EQ(report.orphans, 0u) << (report.problems.empty() ? "" : report.problems[0]);
    EXPECT_LT(report.blocks, 2u);
    EXPECT_EQ(report.tails, 0u);

    // Served by prefill, and stored again whole.
    PrefixStore store(options_for(dir), engine.seed());
    auto generator = engine.generator(&store);
    auto plain = engine.generator(nullptr);
    EXPECT_EQ(run(*generator, prompt).logits, run(*plain, prompt).logits);
    store.flush();
    EXPECT_EQ(store.stats().blocks, 2u);
    EXPECT_EQ(PrefixStore::verify(dir.str()).orphans, 0u);
}

TEST(PrefixStore, UnusableDirectoryDisablesTheStoreOnly) {
    Engine engine;
    PrefixStoreOptions options;
    options.dir = "/proc/dsv4-no-such-store";
    options.block_tokens = 256;
    PrefixStore store(options, engine.seed());
    EXPECT_FALSE(store.enabled());
    EXPECT_FALSE(store.stats().disabled_reason.empty());
    auto generator = engine.generator(&store);
    const Outcome outcome = run(*generator, prompt_tokens(600, 7));
    EXPECT_EQ(outcome.restored, 0);
    EXPECT_EQ(outcome.generated.size(), 6u);
}

// Runs the dsv4 tool with `arguments`; its exit status and standard output.
std::pair<int, std::string> run_tool(const std::string& arguments) {
    FILE* pipe = ::popen(("'" + std::string(DSV4_TOOL_PATH) + "' " + arguments).c_str(), "r");
    std::string out;
    char buffer[512];
    while (pipe && std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
    const int status = pipe ? ::pclose(pipe) : -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(KvCommand, StatsVerifyAndCompact) {
    Engine engine;
    TempDir dir("cli"), copy("cli-copy");
    store_run(engine, dir, prompt_tokens(700, 20));
    const auto [stats_status, stats] = run_tool("kv stats --dir '" + dir.str() + "'");
    EXPECT_EQ(stats_status, 0);
    EXPECT_NE(stats.find("blocks:   2\n"), std::string::npos) << stats;
    EXPECT_NE(stats.find("tails:    2\n"), std::string::npos) << stats;
    EXPECT_EQ(run_tool("kv verify --dir '" + dir.str() + "'").first, 0);

    const auto [compact_status, compacted] =
        run_tool("kv compact --dir '" + dir.str() + "' --out '" + copy.str() + "'");
    EXPECT_EQ(compact_status, 0) << compacted;
    EXPECT_NE(compacted.find("records:  4\n"), std::string::npos) << compacted;
    // The copy serves like the original.
    PrefixStore store(options_for(copy), engine.seed());
    auto generator = engine.generator(&store);
    EXPECT_EQ(run(*generator, prompt_tokens(700, 20)).restored, 700);

    corrupt_records(dir.str(), true);
    const auto [verify_status, verified] = run_tool("kv verify --dir '" + dir.str() + "'");
    EXPECT_EQ(verify_status, 1);
    EXPECT_NE(verified.find("bad:      1\n"), std::string::npos) << verified;
    EXPECT_EQ(run_tool("kv stats --dir /nonexistent-dsv4-store").first, 1);
}

// A disk that refuses writes (here: a file size limit) turns writing off with the reason; what
// was committed stays readable and valid.
TEST(PrefixStore, RefusedWritesTurnPersistenceOffWithAReason) {
    TempDir dir("full");
    const std::string command = "ulimit -f 2048; trap '' XFSZ; exec '" +
                                std::string(DSV4_TOOL_PATH) + "' kv stress --dir '" + dir.str() +
                                "' --seed 3 2>&1 >/dev/null";
    FILE* pipe = ::popen(("bash -c \"" + command + "\"").c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string said;
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe)) said += buffer;
    const int status = ::pclose(pipe);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3) << said;
    EXPECT_NE(said.find("cannot write the prefix store"), std::string::npos) << said;
    const auto report = PrefixStore::verify(dir.str());
    EXPECT_GT(report.records, 0u);
    EXPECT_EQ(report.bad, 0u);
    EXPECT_EQ(report.orphans, 0u);
}

// kill -9 at random moments during heavy writes: the environment always opens, every record
// verifies, and every block whose commit was acknowledged (printed) is there.
TEST(PrefixStore, SurvivesKillNineDuringWrites) {
    TempDir dir("crash");
    std::set<std::string> acknowledged;
    std::mt19937 random(11);
    for (int round = 0; round < 20; ++round) {
        int out[2];
        ASSERT_EQ(::pipe(out), 0);
        const pid_t child = ::fork();
        if (child == 0) {
            ::dup2(out[1], STDOUT_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            const std::string seed = std::to_string(round + 1);
            ::execl(DSV4_TOOL_PATH, DSV4_TOOL_PATH, "kv", "stress", "--dir", dir.str().c_str(),
                    "--seed", seed.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(out[1]);
        std::this_thread::sleep_for(std::chrono::milliseconds(30 + random() % 250));
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        std::string printed;
        char buffer[4096];
        for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;)
            printed.append(buffer, static_cast<size_t>(n));
        ::close(out[0]);
        for (size_t at = 0, end; (end = printed.find('\n', at)) != std::string::npos; at = end + 1)
            acknowledged.insert(printed.substr(at, end - at));
    }
    ASSERT_GT(acknowledged.size(), 20u);
    const auto report = PrefixStore::verify(dir.str());
    EXPECT_EQ(report.bad, 0u);
    EXPECT_EQ(report.orphans, 0u);
    PrefixStoreOptions options = options_for(dir);
    PrefixStore store(options, Digest{});
    ASSERT_TRUE(store.enabled());
    size_t missing = 0;
    for (const std::string& hex : acknowledged) {
        Digest key;
        for (size_t i = 0; i < key.size(); ++i)
            key[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
        missing += store.contains(key) ? 0 : 1;
    }
    EXPECT_EQ(missing, 0u);
}

}  // namespace
}  // namespace dsv4::kvstore
