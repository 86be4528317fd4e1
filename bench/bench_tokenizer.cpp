// bench_tokenizer: encode throughput of the DSV4 tokenizer on one core, in MB/s (10^6 bytes of
// input text per second of wall-clock time, and per second of this thread's CPU time), for English
// prose and for source code, each with a small vocabulary (few merges per word, like the golden
// models) and a large one (words merge all the way up), plus text whose every word is new (no piece
// repeats) and text made of very long pieces. Also the streaming detokenizer. All texts and
// vocabularies are generated here, deterministically.
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/byte_symbols.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/stream_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

using dsv4::tokenizer::SpecialTokenMode;
using dsv4::tokenizer::TokenId;
using dsv4::tokenizer::Tokenizer;

constexpr size_t kTextBytes = 2'000'000;
// Merges the small vocabulary learns: the golden models have 376.
constexpr size_t kSmallVocabMerges = 376;
// Pieces of the training sample turned into whole-word merge chains for the large vocabulary.
constexpr size_t kLargeVocabMaxMerges = 120'000;

constexpr std::string_view kWords[] = {
    "the",        "of",         "and",         "to",          "in",         "a",
    "is",         "that",       "for",         "it",          "as",         "was",
    "with",       "be",         "by",          "on",          "not",        "he",
    "I",          "this",       "are",         "or",          "his",        "from",
    "at",         "which",      "but",         "have",        "an",         "had",
    "they",       "you",        "were",        "their",       "one",        "all",
    "we",         "can",        "her",         "has",         "there",      "been",
    "if",         "more",       "when",        "will",        "would",      "who",
    "so",         "no",         "harbor",      "lighthouse",  "keeper",     "morning",
    "notebook",   "direction",  "wind",        "unusual",     "yesterday",  "island",
    "strange",    "color",      "sunset",      "forecast",    "ferry",      "tomorrow",
    "weather",    "captain",    "season",      "village",     "question",   "answer",
    "reasonable", "government", "development", "information", "particular", "understanding",
    "everything", "community",  "experience",  "important",   "different",  "following",
    "political",  "national",   "university",  "education",   "children",   "business",
    "example",    "history",    "language",    "knowledge",   "beautiful",  "quickly",
    "carefully",  "although",   "however",     "therefore",   "meanwhile",  "nothing",
    "don't",      "it's",       "we'll",       "they've",     "I'm",        "café",
    "naïve",      "Zürich",     "résumé",      "coöperate",   "Paris",      "London",
    "Monday",     "October",
};

constexpr std::string_view kIdentifierParts[] = {
    "get",   "set",   "buffer", "size",   "count", "index", "value", "node", "tree",
    "parse", "token", "vocab",  "merge",  "rank",  "piece", "cache", "file", "path",
    "read",  "write", "open",   "close",  "max",   "min",   "next",  "prev", "result",
    "error", "state", "layer",  "expert", "row",   "col",   "tmp",   "data", "len",
};

constexpr std::string_view kTypes[] = {"int",         "size_t",   "float", "auto",  "const char*",
                                       "std::string", "uint32_t", "bool",  "double"};

template <size_t N>
std::string_view pick(std::mt19937& rng, const std::string_view (&items)[N]) {
    return items[rng() % N];
}

std::string make_english_text(size_t bytes, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string text;
    while (text.size() < bytes) {
        const size_t sentence_words = 6 + rng() % 18;
        for (size_t i = 0; i < sentence_words; ++i) {
            std::string word(pick(rng, kWords));
            if (i == 0) word[0] = static_cast<char>(std::toupper(static_cast<uint8_t>(word[0])));
            if (i > 0) text += ' ';
            if (rng() % 40 == 0) {
                text += std::to_string(rng() % 100000);
                text += ' ';
            }
            text += word;
            if (i + 1 < sentence_words && rng() % 12 == 0) text += rng() % 2 ? "," : ";";
        }
        text += rng() % 8 == 0 ? "?" : ".";
        text += rng() % 6 == 0 ? "\n\n" : " ";
    }
    return text;
}

std::string make_identifier(std::mt19937& rng) {
    std::string name(pick(rng, kIdentifierParts));
    const size_t parts = rng() % 3;
    const bool snake = rng() % 2 == 0;
    for (size_t i = 0; i < parts; ++i) {
        std::string part(pick(rng, kIdentifierParts));
        if (snake) {
            name += '_';
        } else {
            part[0] = static_cast<char>(std::toupper(static_cast<uint8_t>(part[0])));
        }
        name += part;
    }
    return name;
}

void append_code_line(std::mt19937& rng, std::string& text, int depth) {
    text.append(static_cast<size_t>(depth) * 4, ' ');
    switch (rng() % 6) {
        case 0:
            text += std::string(pick(rng, kTypes)) + " " + make_identifier(rng) + " = " +
                    make_identifier(rng) + "(" + make_identifier(rng) + ", " +
                    std::to_string(rng() % 4096) + ");\n";
            break;
        case 1:
            text += "if (" + make_identifier(rng) + " >= " + make_identifier(rng) + ".size()) {\n";
            break;
        case 2:
            text += "for (size_t i = 0; i < " + make_identifier(rng) + "; ++i) {\n";
            break;
        case 3:
            text += "// " + std::string(pick(rng, kWords)) + " " + std::string(pick(rng, kWords)) +
                    " " + make_identifier(rng) + "\n";
            break;
        case 4:
            text += make_identifier(rng) + "->" + make_identifier(rng) + "[" +
                    make_identifier(rng) + "] += 0x" + std::to_string(rng() % 100) + "ull;\n";
            break;
        default:
            text += "return " + make_identifier(rng) + ";\n";
            break;
    }
}

std::string make_code_text(size_t bytes, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string text;
    while (text.size() < bytes) {
        text += "static " + std::string(pick(rng, kTypes)) + " " + make_identifier(rng) + "(" +
                std::string(pick(rng, kTypes)) + " " + make_identifier(rng) + ") {\n";
        const size_t lines = 3 + rng() % 12;
        for (size_t i = 0; i < lines; ++i) append_code_line(rng, text, 1 + static_cast<int>(i % 3));
        text += "}\n\n";
    }
    return text;
}

// Random lower-case words: practically no piece occurs twice, so nothing comes from the cache.
std::string make_unique_words_text(size_t bytes, uint32_t seed) {
    std::mt19937 rng(seed);
    static constexpr std::string_view kLetters = "etaoinshrdlucmfwypvbgkqjxz";
    std::string text;
    while (text.size() < bytes) {
        text += ' ';
        const size_t length = 5 + rng() % 9;
        // A skewed letter choice, so that letter pairs have English-like frequencies.
        for (size_t i = 0; i < length; ++i) text += kLetters[(rng() % 13) * (rng() % 2 + 1)];
    }
    return text;
}

// Letter runs of hundreds to thousands of bytes (base64-like blobs): the long-piece path.
std::string make_long_runs_text(size_t bytes, uint32_t seed) {
    std::mt19937 rng(seed);
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzetaoinshr";
    std::string text;
    while (text.size() < bytes) {
        const size_t length = 200 + rng() % 3000;
        for (size_t i = 0; i < length; ++i) text += kAlphabet[rng() % kAlphabet.size()];
        text += '\n';
    }
    return text;
}

// ---- vocabularies ----

struct BenchVocab {
    std::vector<std::string> tokens;  // byte-symbol spelling, specials literal
    std::vector<std::string> merges;
    std::set<std::string> known;  // raw bytes of every merged token

    BenchVocab() {
        for (int byte = 0; byte < 256; ++byte) {
            tokens.push_back(
                dsv4::tokenizer::encode_byte_symbols(std::string(1, static_cast<char>(byte))));
        }
    }
    void add_merge(const std::string& left, const std::string& right) {
        merges.push_back(dsv4::tokenizer::encode_byte_symbols(left) + " " +
                         dsv4::tokenizer::encode_byte_symbols(right));
        if (known.insert(left + right).second) {
            tokens.push_back(dsv4::tokenizer::encode_byte_symbols(left + right));
        }
    }
    Tokenizer build() const {
        std::vector<std::string_view> all;
        for (size_t i = 0; i < dsv4::tokenizer::kSpecialTokenCount; ++i) {
            all.push_back(
                dsv4::tokenizer::special_token_text(static_cast<dsv4::tokenizer::SpecialToken>(i)));
        }
        all.insert(all.end(), tokens.begin(), tokens.end());
        const std::vector<std::string_view> merge_views(merges.begin(), merges.end());
        return Tokenizer::from_vocab(all, merge_views, "bench");
    }
};

std::vector<std::pair<std::string, int64_t>> pieces_by_frequency(std::string_view sample) {
    std::unordered_map<std::string_view, int64_t> counts;
    for (const std::string_view piece : dsv4::tokenizer::split_pretokens(sample)) ++counts[piece];
    std::vector<std::pair<std::string, int64_t>> pieces(counts.begin(), counts.end());
    std::sort(pieces.begin(), pieces.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    return pieces;
}

// Classic BPE training: repeatedly merge the most frequent adjacent pair (ties: the pair seen
// first in the symbol numbering), over integer symbols to keep the setup short.
BenchVocab train_small_vocab(std::string_view sample, size_t merge_count) {
    std::vector<std::string> symbol_bytes;
    for (int byte = 0; byte < 256; ++byte) symbol_bytes.emplace_back(1, static_cast<char>(byte));
    struct Word {
        std::vector<uint32_t> symbols;
        int64_t count;
    };
    std::vector<Word> words;
    for (const auto& [piece, count] : pieces_by_frequency(sample)) {
        Word word{{}, count};
        for (const char c : piece) word.symbols.push_back(static_cast<uint8_t>(c));
        words.push_back(std::move(word));
    }
    BenchVocab vocab;
    std::unordered_map<uint64_t, int64_t> pair_counts;
    for (size_t m = 0; m < merge_count; ++m) {
        pair_counts.clear();
        for (const Word& word : words) {
            for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
                pair_counts[(uint64_t{word.symbols[i]} << 32) | word.symbols[i + 1]] += word.count;
            }
        }
        uint64_t best_pair = 0;
        int64_t best_count = 1;
        for (const auto& [pair, count] : pair_counts) {
            if (count > best_count || (count == best_count && pair < best_pair)) {
                best_pair = pair;
                best_count = count;
            }
        }
        if (best_count < 2) break;
        const auto left = static_cast<uint32_t>(best_pair >> 32);
        const auto right = static_cast<uint32_t>(best_pair);
        vocab.add_merge(symbol_bytes[left], symbol_bytes[right]);
        const auto merged = static_cast<uint32_t>(symbol_bytes.size());
        symbol_bytes.push_back(symbol_bytes[left] + symbol_bytes[right]);
        for (Word& word : words) {
            for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
                if (word.symbols[i] == left && word.symbols[i + 1] == right) {
                    word.symbols[i] = merged;
                    word.symbols.erase(word.symbols.begin() + static_cast<ptrdiff_t>(i) + 1);
                }
            }
        }
    }
    return vocab;
}

// Every frequent piece of the sample gets the chain of merges that builds it byte by byte, so
// known words take one merge per byte: the many-merges case.
BenchVocab chain_large_vocab(std::string_view sample, size_t max_merges) {
    BenchVocab vocab;
    for (const auto& [piece, count] : pieces_by_frequency(sample)) {
        for (size_t end = 2; end <= piece.size() && vocab.merges.size() < max_merges; ++end) {
            const std::string prefix = piece.substr(0, end);
            if (vocab.known.count(prefix)) continue;
            vocab.add_merge(piece.substr(0, end - 1), piece.substr(end - 1, 1));
        }
    }
    return vocab;
}

// ---- measurement ----

struct BenchCase {
    std::string name;
    const Tokenizer* tokenizer;
    const std::string* text;
};

// Wall-clock and CPU seconds of this thread: the machine is shared, and CPU time shows what one
// core does when a neighbour steals part of it.
struct Stopwatch {
    std::chrono::steady_clock::time_point wall_start = std::chrono::steady_clock::now();
    double cpu_start_seconds = thread_cpu_seconds();

    static double thread_cpu_seconds() {
        timespec now{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
    }
    double wall_seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    }
    double cpu_seconds() const { return thread_cpu_seconds() - cpu_start_seconds; }
};

void set_text_counters(benchmark::State& state, const Stopwatch& stopwatch, size_t text_bytes,
                       size_t token_count) {
    const double wall_seconds = stopwatch.wall_seconds();
    const double cpu_seconds = stopwatch.cpu_seconds();
    const double bytes = static_cast<double>(text_bytes) * static_cast<double>(state.iterations());
    state.counters["mb_per_s"] = bytes / wall_seconds * 1e-6;
    state.counters["mb_per_cpu_s"] = bytes / cpu_seconds * 1e-6;
    state.counters["bytes_per_token"] =
        static_cast<double>(text_bytes) / static_cast<double>(std::max<size_t>(1, token_count));
    // Every merge turns two symbols into one, and every byte starts as one symbol (these
    // vocabularies hold every merge result as a token, so no symbol falls back to bytes).
    state.counters["merges_per_byte"] = static_cast<double>(text_bytes - token_count) /
                                        static_cast<double>(std::max<size_t>(1, text_bytes));
}

void bench_encode(benchmark::State& state, const BenchCase& bench) {
    size_t token_count = 0;
    const Stopwatch stopwatch;
    for (auto _ : state) {
        const std::vector<TokenId> ids =
            bench.tokenizer->encode(*bench.text, SpecialTokenMode::Recognise);
        token_count = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    set_text_counters(state, stopwatch, bench.text->size(), token_count);
}

void bench_stream_detokenize(benchmark::State& state, const BenchCase& bench) {
    const std::vector<TokenId> ids =
        bench.tokenizer->encode(*bench.text, SpecialTokenMode::Recognise);
    const Stopwatch stopwatch;
    for (auto _ : state) {
        dsv4::tokenizer::StreamDetokenizer stream(*bench.tokenizer);
        std::string out;
        out.reserve(bench.text->size());
        for (const TokenId id : ids) stream.feed(id, out);
        stream.flush(out);
        benchmark::DoNotOptimize(out.data());
    }
    set_text_counters(state, stopwatch, bench.text->size(), ids.size());
}

int run(int argc, char** argv) {
    const std::string english = make_english_text(kTextBytes, 1);
    const std::string code = make_code_text(kTextBytes, 2);
    const std::string unique_words = make_unique_words_text(kTextBytes, 3);
    const std::string long_runs = make_long_runs_text(kTextBytes, 4);

    // Vocabularies learn from other samples than the measured texts, as a real one would.
    const std::string mixed_sample = make_english_text(150'000, 11) + make_code_text(150'000, 12) +
                                     make_unique_words_text(50'000, 13);
    const Tokenizer small_vocab = train_small_vocab(mixed_sample, kSmallVocabMerges).build();
    const Tokenizer large_vocab = chain_large_vocab(mixed_sample, kLargeVocabMaxMerges).build();
    std::printf("small vocabulary: %zu tokens, %zu merges; large: %zu tokens, %zu merges\n",
                small_vocab.vocab_size(), small_vocab.merge_count(), large_vocab.vocab_size(),
                large_vocab.merge_count());

    const std::vector<BenchCase> encode_cases = {
        {"english/small_vocab", &small_vocab, &english},
        {"english/large_vocab", &large_vocab, &english},
        {"code/small_vocab", &small_vocab, &code},
        {"code/large_vocab", &large_vocab, &code},
        {"unique_words/small_vocab", &small_vocab, &unique_words},
        {"unique_words/large_vocab", &large_vocab, &unique_words},
        {"long_runs/large_vocab", &large_vocab, &long_runs},
    };
    for (const BenchCase& bench : encode_cases) {
        benchmark::RegisterBenchmark(("encode/" + bench.name).c_str(), bench_encode, bench)
            ->Unit(benchmark::kMillisecond);
    }
    const BenchCase detokenize_case{"english/large_vocab", &large_vocab, &english};
    benchmark::RegisterBenchmark(("stream_detokenize/" + detokenize_case.name).c_str(),
                                 bench_stream_detokenize, detokenize_case)
        ->Unit(benchmark::kMillisecond);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
        return 1;
    }
}
