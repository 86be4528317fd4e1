// The GGUF reader: maps a file read-only (or borrows bytes in memory), validates the whole
// container up front, and exposes its metadata and tensor table as views into those bytes.
// It owns container parsing only; what the keys and tensors mean belongs to the model module.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/gguf/gguf_error.h"
#include "engine/gguf/gguf_value.h"
#include "engine/quant/types.h"

namespace dsv4::gguf {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr uint32_t kMaxDims = 4;
// Deeper nesting is refused so that hostile files cannot exhaust the stack.
inline constexpr uint32_t kMaxArrayNesting = 8;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

struct MetadataEntry {
    std::string_view key;
    Value value;
    uint64_t offset;  // byte offset of the entry's key in the file
};

struct TensorInfo {
    std::string_view name;
    uint32_t n_dims = 0;
    std::array<uint64_t, kMaxDims> dims{1, 1, 1, 1};  // ggml order: dims[0] varies fastest
    const quant::TypeInfo* type_info = nullptr;
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    uint64_t offset = 0;  // absolute byte offset of the data in the file
    const uint8_t* data = nullptr;

    quant::Type type() const { return type_info->type; }
    std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
    std::span<const uint64_t> shape() const { return {dims.data(), n_dims}; }
    // Bytes of one dims[0]-long row.
    uint64_t row_bytes() const { return dims[0] / type_info->block_elems * type_info->block_bytes; }
};

// How a file's bytes are brought into memory.
enum class LoadMode : uint8_t {
    // A read-only mmap of the file: ready at once, pages come from the page cache in whatever
    // page sizes it holds (often 4 KiB).
    Map,
    // Read into anonymous memory on 2 MiB transparent huge pages: a slower start and the whole
    // file resident, but weights stream faster (fewer TLB misses, hardware prefetch not stopped
    // at every 4 KiB). Falls back to Map when the memory available cannot hold the file.
    Copy,
};

// "mmap" / "copy"; nullopt for anything else.
inline std::optional<LoadMode> parse_load_mode(std::string_view text) {
    if (text == "mmap") return LoadMode::Map;
    if (text == "copy") return LoadMode::Copy;
    return std::nullopt;
}

// Why LoadMode::Copy cannot hold a file of file_bytes, judged from /proc/meminfo text (its
// MemAvailable, less 1 GiB kept for everything else); nullopt when the copy fits.
std::optional<std::string> copy_refusal(uint64_t file_bytes, std::string_view meminfo);

class GgufFile {
  public:
    // Loads path (read-only) and validates it; throws GgufError naming the path on any problem.
    static GgufFile open(const std::string& path, LoadMode mode = LoadMode::Map);
    // Parses bytes the caller keeps alive and unchanged for the lifetime of the result.
    static GgufFile from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>");
    // Parses bytes the result keeps.
    static GgufFile from_owned_bytes(std::vector<uint8_t> bytes, std::string name = "<memory>");

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;
    ~GgufFile();

    const std::string& name() const { return name_; }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t file_bytes() const { return bytes_.size(); }
    // True when the bytes were copied into anonymous huge-page memory (LoadMode::Copy took).
    bool copied_into_memory() const;
    // Why a LoadMode::Copy open mapped the file instead; empty when it did not.
    const std::string& copy_fallback_reason() const;
    // Start of the tensor-data section, and its length up to the end of the file.
    uint64_t data_offset() const { return data_offset_; }
    uint64_t data_bytes() const;
    std::span<const uint8_t> bytes() const { return bytes_; }

    // ---- metadata, in file order ----
    std::span<const MetadataEntry> metadata() const { return metadata_; }
    const Value* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }

    // get_*: nullopt when the key is absent; GgufError(WrongType) when it is present but its
    // type or value does not fit. require_*: the same, with GgufError(MissingKey) when absent.
    std::optional<uint64_t> get_uint(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
    // Arrays of any integer element type whose every value fits int64.
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
    // Arrays of f32, f64 or integer elements.
    std::optional<std::vector<double>> get_float_array(std::string_view key) const;
    std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;

    uint64_t require_uint(std::string_view key) const;
    int64_t require_int(std::string_view key) const;
    double require_float(std::string_view key) const;
    bool require_bool(std::string_view key) const;
    std::string_view require_string(std::string_view key) const;
    std::vector<int64_t> require_int_array(std::string_view key) const;
    std::vector<double> require_float_array(std::string_view key) const;
    std::vector<std::string_view> require_string_array(std::string_view key) const;

    // ---- tensors, in file order ----
    std::span<const TensorInfo> tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;
    // GgufError(MissingTensor) when absent.
    const TensorInfo& tensor(std::string_view name) const;

  private:
    class Mapping;
    friend class Parser;
    GgufFile() = default;
    void parse();

    std::string name_;
    std::unique_ptr<Mapping> mapping_;  // set when the bytes come from mmap
    std::vector<uint8_t> owned_bytes_;  // set by from_owned_bytes
    std::span<const uint8_t> bytes_;

    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<MetadataEntry> metadata_;
    std::unordered_map<std::string_view, size_t> metadata_index_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace dsv4::gguf
