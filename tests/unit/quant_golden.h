// Reader of the GGQGOLD1 oracle files (tests/golden/quant/*.bin): header, section table, typed and
// bounds-checked access to every section, and the conversion of ggml's activation bytes into the
// engine's activation layouts. Test support only: it computes no dot products and quantizes
// nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/quant/fp16.h"
#include "engine/quant/kernels.h"
#include "engine/quant/types.h"

namespace dsv4::test {

inline std::vector<uint8_t> read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Little-endian fields; the test hosts are little-endian x86, memcpy keeps reads alignment-free.
template <typename T>
T load_le(const std::vector<uint8_t>& bytes, size_t offset) {
    if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("read past end of file");
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

template <typename T>
std::vector<T> load_array(const std::vector<uint8_t>& bytes, size_t offset, size_t count) {
    if (offset > bytes.size() || count > (bytes.size() - offset) / sizeof(T))
        throw std::runtime_error("array past end of file");
    std::vector<T> out(count);
    if (count != 0) std::memcpy(out.data(), bytes.data() + offset, count * sizeof(T));
    return out;
}

class QuantGoldenFile {
  public:
    static constexpr size_t kHeaderBytes = 512;
    static constexpr uint32_t kNoVecDotType = 0xffffffffu;

    struct Section {
        std::string name;
        uint64_t offset = 0;
        uint64_t size = 0;
    };

    explicit QuantGoldenFile(const std::string& path) : path_(path), bytes_(read_whole_file(path)) {
        parse_header();
        parse_sections();
        load_typed_sections();
    }

    const std::string& path() const { return path_; }
    uint32_t type_id() const { return type_id_; }
    const std::string& type_name() const { return type_name_; }
    // nullopt when the engine's type table does not know the id.
    std::optional<quant::Type> type() const {
        const quant::TypeInfo* info = quant::type_info(type_id_);
        return info ? std::optional<quant::Type>(info->type) : std::nullopt;
    }
    uint32_t block_size() const { return block_size_; }
    uint32_t type_size() const { return type_size_; }
    int64_t n_rows() const { return n_rows_; }
    int64_t row_len() const { return row_len_; }
    size_t row_bytes() const { return row_bytes_; }
    int64_t n_act() const { return n_act_; }
    bool has_vec_dot() const { return vec_dot_type_id_ != kNoVecDotType && n_act_ > 0; }
    uint32_t vec_dot_type_id() const { return vec_dot_type_id_; }
    const std::string& vec_dot_type_name() const { return vec_dot_type_name_; }
    size_t act_row_bytes() const { return vdt_row_bytes_; }
    uint64_t seed() const { return seed_; }
    const std::vector<Section>& sections() const { return sections_; }

    const uint8_t* q_row(int64_t r) const {
        return section_bytes("q") + checked_row(r) * row_bytes_;
    }
    std::span<const float> deq_row(int64_t r) const { return f32_row(deq_, checked_row(r)); }

    std::span<const float> act_f32_row(int64_t a) const {
        return f32_row(act_f32_, checked_act(a));
    }
    std::span<const float> act_q_deq_row(int64_t a) const {
        return f32_row(act_q_deq_, checked_act(a));
    }
    const uint8_t* act_q_row(int64_t a) const {
        return section_bytes("act_q") + checked_act(a) * vdt_row_bytes_;
    }
    const uint8_t* act_q_ref_row(int64_t a) const {
        return section_bytes("act_q_ref") + checked_act(a) * vdt_row_bytes_;
    }

    float dot_ggml(int64_t r, int64_t a) const { return dot_ggml_[dot_index(r, a)]; }
    float dot_generic(int64_t r, int64_t a) const { return dot_generic_[dot_index(r, a)]; }
    double dot_q_f64(int64_t r, int64_t a) const { return dot_q_f64_[dot_index(r, a)]; }
    double dot_ref_f64(int64_t r, int64_t a) const { return dot_ref_f64_[dot_index(r, a)]; }
    double dot_abs_f64(int64_t r, int64_t a) const { return dot_abs_f64_[dot_index(r, a)]; }

    const Section* find_section(const std::string& name) const {
        for (const Section& s : sections_)
            if (s.name == name) return &s;
        return nullptr;
    }
    const Section& section(const std::string& name) const {
        const Section* s = find_section(name);
        if (s == nullptr) throw std::runtime_error(path_ + ": no section " + name);
        return *s;
    }

  private:
    void parse_header() {
        if (bytes_.size() < kHeaderBytes || std::memcmp(bytes_.data(), "GGQGOLD1", 8) != 0)
            throw std::runtime_error(path_ + ": not a GGQGOLD1 file");
        if (load_le<uint32_t>(bytes_, 8) != 1) throw std::runtime_error(path_ + ": version != 1");
        if (load_le<uint32_t>(bytes_, 12) != kHeaderBytes)
            throw std::runtime_error(path_ + ": header size != 512");
        type_id_ = load_le<uint32_t>(bytes_, 16);
        block_size_ = load_le<uint32_t>(bytes_, 20);
        type_size_ = load_le<uint32_t>(bytes_, 24);
        n_rows_ = load_le<uint32_t>(bytes_, 28);
        row_len_ = load_le<uint32_t>(bytes_, 32);
        row_bytes_ = load_le<uint32_t>(bytes_, 36);
        n_act_ = load_le<uint32_t>(bytes_, 40);
        vec_dot_type_id_ = load_le<uint32_t>(bytes_, 44);
        vdt_row_bytes_ = load_le<uint32_t>(bytes_, 56);
        n_sections_ = load_le<uint32_t>(bytes_, 60);
        seed_ = load_le<uint64_t>(bytes_, 64);
        type_name_ = fixed_string(72, 24);
        vec_dot_type_name_ = fixed_string(96, 24);
        if (load_le<uint64_t>(bytes_, 120) != bytes_.size())
            throw std::runtime_error(path_ + ": file size field does not match the file");
        if (block_size_ == 0 || row_len_ % block_size_ != 0 ||
            row_bytes_ != static_cast<size_t>(row_len_ / block_size_) * type_size_)
            throw std::runtime_error(path_ + ": inconsistent block geometry");
        if (n_sections_ > 12) throw std::runtime_error(path_ + ": more than 12 sections");
    }

    void parse_sections() {
        for (uint32_t s = 0; s < n_sections_; ++s) {
            const size_t entry = 128 + 32 * static_cast<size_t>(s);
            Section section{fixed_string(entry, 16), load_le<uint64_t>(bytes_, entry + 16),
                            load_le<uint64_t>(bytes_, entry + 24)};
            if (section.offset > bytes_.size() || section.size > bytes_.size() - section.offset)
                throw std::runtime_error(path_ + ": section " + section.name + " out of bounds");
            sections_.push_back(std::move(section));
        }
    }

    void load_typed_sections() {
        const size_t rows = static_cast<size_t>(n_rows_);
        const size_t k = static_cast<size_t>(row_len_);
        const size_t acts = static_cast<size_t>(n_act_);
        expect_size("q", rows * row_bytes_);
        deq_ = typed<float>("deq", rows * k);
        // Sections 2..10 are empty for a type without vec_dot (Q8_K).
        const bool dots = has_vec_dot();
        expect_size("act_q", dots ? acts * vdt_row_bytes_ : 0);
        expect_size("act_q_ref", dots ? acts * vdt_row_bytes_ : 0);
        act_f32_ = typed<float>("act_f32", dots ? acts * k : 0);
        act_q_deq_ = typed<float>("act_q_deq", dots ? acts * k : 0);
        dot_ggml_ = typed<float>("dot_ggml", dots ? rows * acts : 0);
        dot_generic_ = typed<float>("dot_generic", dots ? rows * acts : 0);
        dot_q_f64_ = typed<double>("dot_q_f64", dots ? rows * acts : 0);
        dot_ref_f64_ = typed<double>("dot_ref_f64", dots ? rows * acts : 0);
        dot_abs_f64_ = typed<double>("dot_abs_f64", dots ? rows * acts : 0);
    }

    void expect_size(const std::string& name, size_t size) const {
        if (section(name).size != size)
            throw std::runtime_error(path_ + ": section " + name + " has an unexpected size");
    }

    template <typename T>
    std::vector<T> typed(const std::string& name, size_t count) const {
        expect_size(name, count * sizeof(T));
        return load_array<T>(bytes_, section(name).offset, count);
    }

    std::string fixed_string(size_t offset, size_t max_len) const {
        const char* begin = reinterpret_cast<const char*>(bytes_.data() + offset);
        return std::string(begin, std::find(begin, begin + max_len, '\0'));
    }

    const uint8_t* section_bytes(const std::string& name) const {
        return bytes_.data() + section(name).offset;
    }

    size_t checked_row(int64_t r) const {
        if (r < 0 || r >= n_rows_) throw std::out_of_range("row index");
        return static_cast<size_t>(r);
    }
    size_t checked_act(int64_t a) const {
        if (a < 0 || a >= n_act_ || !has_vec_dot()) throw std::out_of_range("activation index");
        return static_cast<size_t>(a);
    }
    size_t dot_index(int64_t r, int64_t a) const {
        return checked_row(r) * static_cast<size_t>(n_act_) + checked_act(a);
    }
    std::span<const float> f32_row(const std::vector<float>& data, size_t index) const {
        return std::span<const float>(data).subspan(index * static_cast<size_t>(row_len_),
                                                    static_cast<size_t>(row_len_));
    }

    std::string path_;
    std::vector<uint8_t> bytes_;
    uint32_t type_id_ = 0;
    uint32_t block_size_ = 0;
    uint32_t type_size_ = 0;
    int64_t n_rows_ = 0;
    int64_t row_len_ = 0;
    size_t row_bytes_ = 0;
    int64_t n_act_ = 0;
    uint32_t vec_dot_type_id_ = kNoVecDotType;
    size_t vdt_row_bytes_ = 0;
    uint32_t n_sections_ = 0;
    uint64_t seed_ = 0;
    std::string type_name_;
    std::string vec_dot_type_name_;
    std::vector<Section> sections_;
    std::vector<float> deq_, act_f32_, act_q_deq_, dot_ggml_, dot_generic_;
    std::vector<double> dot_q_f64_, dot_ref_f64_, dot_abs_f64_;
};

// Every *.bin in dir that starts with the GGQGOLD1 magic, sorted by path (source_f32.bin is raw
// floats and is not one of them).
inline std::vector<std::string> quant_golden_files(const std::string& dir) {
    std::vector<std::string> paths;
    if (!std::filesystem::is_directory(dir)) return paths;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".bin") continue;
        std::ifstream in(entry.path(), std::ios::binary);
        char magic[8] = {};
        if (in.read(magic, sizeof magic) && std::memcmp(magic, "GGQGOLD1", 8) == 0)
            paths.push_back(entry.path().string());
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

// The f32 inputs every type was quantized from: weights [rows][k] at offset 0, then the
// activations. Shapes come from a golden file's header.
inline std::vector<float> read_source_weights(const std::string& dir, int64_t rows, int64_t k) {
    return load_array<float>(read_whole_file(dir + "/source_f32.bin"), 0,
                             static_cast<size_t>(rows * k));
}

// Activation row a of the file in the engine's kernel format for the file's weight type, built from
// the bytes ggml's vec_dot used (act_q), so engine dots can be compared with dot_q_f64:
//  * F32 format (F32/F16/BF16 weights): act_q_deq, i.e. ggml's f16/bf16-rounded activation;
//  * Q8_0 format: ggml's block_q8_0 (f16 d, 32 q) rewritten planar, d widened to f32;
//  * Q8_K format: ggml's block_q8_K bytes unchanged.
inline std::vector<uint8_t> engine_activation_from_ggml(const QuantGoldenFile& file, int64_t a) {
    const quant::ActFormat format = quant::type_info(file.type().value()).act;
    const int64_t n = file.row_len();
    std::vector<uint8_t> row(quant::act_row_bytes(format, n));
    switch (format) {
        case quant::ActFormat::F32:
            std::memcpy(row.data(), file.act_q_deq_row(a).data(), row.size());
            break;
        case quant::ActFormat::Q8_0: {
            constexpr size_t kGgmlBlockBytes = 34;
            if (file.act_row_bytes() != static_cast<size_t>(n / 32) * kGgmlBlockBytes)
                throw std::runtime_error(file.path() + ": act_q is not ggml's Q8_0 layout");
            const quant::ActQ8_0 view = quant::act_q8_0_view(row.data(), n);
            const uint8_t* src = file.act_q_row(a);
            for (int64_t b = 0; b < n / 32; ++b, src += kGgmlBlockBytes) {
                uint16_t d16;
                std::memcpy(&d16, src, sizeof d16);
                view.d[b] = quant::f16_to_f32(d16);
                int32_t sum = 0;
                for (int j = 0; j < 32; ++j) {
                    view.q[32 * b + j] = static_cast<int8_t>(src[2 + j]);
                    sum += static_cast<int8_t>(src[2 + j]);
                }
                view.sum[b] = sum;
            }
            break;
        }
        case quant::ActFormat::Q8_K:
            if (file.act_row_bytes() != row.size())
                throw std::runtime_error(file.path() + ": act_q is not ggml's Q8_K layout");
            std::memcpy(row.data(), file.act_q_row(a), row.size());
            break;
        case quant::ActFormat::None:
            throw std::runtime_error(file.path() + ": the engine has no activation format");
    }
    return row;
}

}  // namespace dsv4::test
