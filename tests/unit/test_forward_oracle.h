// Test-side access to the oracle data of the tiny DSV4 models: the JSON sidecars (read with the
// engine's JSON parser), the float32 logits and hc-state files, case discovery from the JSON
// files present, and the per-row tolerance the golden README derives from the oracle's noise.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/common/json.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::test {

// A parsed JSON value; enough of JSON for the golden sidecars.
struct Json {
    enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
    bool boolean = false;
    double number = 0;
    std::string text;
    std::vector<Json> items;
    std::map<std::string, Json> members;

    const Json& operator[](const std::string& key) const {
        auto it = members.find(key);
        if (it == members.end()) throw std::runtime_error("JSON member '" + key + "' is missing");
        return it->second;
    }
    bool has(const std::string& key) const { return members.count(key) != 0; }
    std::vector<int32_t> int_list() const {
        std::vector<int32_t> out;
        for (const Json& item : items) out.push_back(static_cast<int32_t>(item.number));
        return out;
    }
};

// Converts the engine's JSON DOM into the plain tree the oracle tests walk.
inline Json to_test_json(const json::Value& v) {
    Json out;
    switch (v.kind()) {
        case json::Kind::Null:
            break;
        case json::Kind::Bool:
            out.kind = Json::Kind::Bool;
            out.boolean = v.as_bool();
            break;
        case json::Kind::Number:
            out.kind = Json::Kind::Number;
            out.number = v.as_double();
            break;
        case json::Kind::String:
            out.kind = Json::Kind::String;
            out.text = v.as_string();
            break;
        case json::Kind::Array:
            out.kind = Json::Kind::Array;
            for (const json::Value& item : v.children()) out.items.push_back(to_test_json(item));
            break;
        case json::Kind::Object:
            out.kind = Json::Kind::Object;
            for (size_t i = 0; i < v.size(); ++i) out.members[v.key_at(i)] = to_test_json(v.at(i));
            break;
    }
    return out;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::vector<float> read_f32(const std::string& path) {
    const std::string bytes = read_text(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

// One oracle case: <model>.<mode>.<case>.json and its logits.
struct GoldenCase {
    std::string json_path;
    std::string model_path;
    std::string model_stem;
    std::string mode;  // "exact" or "qact"
    std::string name;  // "short", "gen" or "long"
    Json meta;

    std::string label() const { return model_stem + "." + mode + "." + name; }
    std::vector<float> logits() const {
        return read_f32(golden_dir() + "/" + meta["logits_file"].text);
    }
};

// gtest prints parameters through this.
inline void PrintTo(const GoldenCase& c, std::ostream* os) {
    *os << c.label();
}

// Every sidecar in the golden directory, sorted by file name.
inline std::vector<GoldenCase> golden_cases() {
    std::vector<GoldenCase> cases;
    namespace fs = std::filesystem;
    for (const auto& entry : fs::directory_iterator(golden_dir())) {
        const std::string file = entry.path().filename().string();
        if (entry.path().extension() != ".json") continue;
        Json meta = to_test_json(json::parse(read_text(entry.path().string())).root());
        if (!meta.has("format") || meta["format"].text != "dsv4-golden-v1") continue;
        GoldenCase c;
        c.json_path = entry.path().string();
        c.model_path = golden_dir() + "/" + meta["model"].text;
        c.model_stem = fs::path(meta["model"].text).stem().string();
        c.mode = meta["oracle_mode"].text;
        c.name = meta["case"].text;
        c.meta = std::move(meta);
        cases.push_back(std::move(c));
    }
    std::sort(cases.begin(), cases.end(),
              [](const GoldenCase& a, const GoldenCase& b) { return a.json_path < b.json_path; });
    return cases;
}

struct RowComparison {
    double max_abs_diff = 0;
    double rel_rms_diff = 0;  // rms(ours - oracle) / std(oracle)
    double range = 0;         // oracle max - min
    int argmax_ours = -1;
    int argmax_oracle = -1;
};

inline RowComparison compare_row(const float* ours, const float* oracle, int64_t n) {
    RowComparison r;
    double sum_sq_diff = 0, sum = 0, sum_sq = 0;
    float lo = oracle[0], hi = oracle[0];
    int64_t best_ours = 0, best_oracle = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(ours[i]) - oracle[i];
        r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(d));
        sum_sq_diff += d * d;
        sum += oracle[i];
        sum_sq += static_cast<double>(oracle[i]) * oracle[i];
        lo = std::min(lo, oracle[i]);
        hi = std::max(hi, oracle[i]);
        if (ours[i] > ours[best_ours]) best_ours = i;
        if (oracle[i] > oracle[best_oracle]) best_oracle = i;
    }
    const double mean = sum / static_cast<double>(n);
    const double variance = std::max(0.0, sum_sq / static_cast<double>(n) - mean * mean);
    r.rel_rms_diff = std::sqrt(sum_sq_diff / static_cast<double>(n)) / std::sqrt(variance);
    r.range = hi - lo;
    r.argmax_ours = static_cast<int>(best_ours);
    r.argmax_oracle = static_cast<int>(best_oracle);
    return r;
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace dsv4::test
