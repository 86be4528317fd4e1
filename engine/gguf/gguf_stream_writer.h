// A GGUF writer for files too large to hold in memory: metadata and the tensor table are
// declared first, then the tensor bytes are produced chunk by chunk by a caller's filler while
// the file is written. Same layout conventions as GgufWriter (version 3, aligned tensor data);
// it must not interpret keys or tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/quant/types.h"

namespace dsv4::gguf {

struct StreamTensor {
    std::string name;
    quant::Type type = quant::Type::F32;
    std::vector<uint64_t> dims;  // ggml order
    uint64_t n_bytes = 0;
    uint64_t relative_offset = 0;  // from the start of the data section
};

// Writes bytes [offset, offset + chunk.size()) of tensor `index` into chunk. Called for every
// tensor in table order, each tensor's chunks in increasing offset order.
using TensorFiller = std::function<void(size_t index, uint64_t offset, std::span<uint8_t> chunk)>;

// Receives the file's bytes in order.
using ByteSink = std::function<void(std::span<const uint8_t> bytes)>;

class GgufStreamWriter {
  public:
    // alignment: a non-zero power of two; a non-default one becomes general.alignment.
    explicit GgufStreamWriter(uint32_t alignment = kDefaultAlignment);

    // The same key rules as GgufWriter::add.
    void add(std::string_view key, const MetaValue& value);
    void add_string_array(std::string_view key, std::span<const std::string> items);

    // The same shape rules as GgufWriter::add_tensor; returns the tensor's index.
    size_t add_tensor(std::string_view name, quant::Type type, std::span<const uint64_t> dims);

    std::span<const StreamTensor> tensors() const { return tensors_; }
    // Header, metadata, tensor table and padding: where the data section starts.
    uint64_t data_offset() const;
    uint64_t file_bytes() const;

    // Streams the whole file into sink, asking fill for the tensor bytes.
    void write(const ByteSink& sink, const TensorFiller& fill) const;
    std::vector<uint8_t> to_bytes(const TensorFiller& fill) const;
    // Writes to a temporary file next to path and renames it into place.
    void write_file(const std::string& path, const TensorFiller& fill) const;
    // Header and tensor table only; the data section is a hole of the right length, so the file
    // parses (tensors read as zeros) while taking almost no disk space.
    void write_sparse_file(const std::string& path) const;

  private:
    void begin_entry(std::string_view key, ValueType type);
    std::vector<uint8_t> header_bytes() const;

    uint32_t alignment_;
    uint64_t n_metadata_ = 0;
    std::vector<uint8_t> metadata_bytes_;
    std::unordered_set<std::string> keys_;
    std::vector<StreamTensor> tensors_;
    std::unordered_set<std::string> tensor_names_;
    uint64_t data_bytes_ = 0;  // aligned end of the last tensor
};

}  // namespace dsv4::gguf
