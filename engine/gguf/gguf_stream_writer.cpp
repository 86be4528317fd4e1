#include "engine/gguf/gguf_stream_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dsv4::gguf {
namespace {

// Big enough that write() calls cost nothing next to producing the bytes, small enough to stay
// in cache while the filler writes and the kernel copies.
constexpr size_t kChunkBytes = size_t{4} << 20;

void append_bits(std::vector<uint8_t>& out, uint64_t bits, uint32_t width_bytes) {
    for (uint32_t i = 0; i < width_bytes; ++i) out.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

void append_string(std::vector<uint8_t>& out, std::string_view text) {
    append_bits(out, text.size(), 8);
    out.insert(out.end(), text.begin(), text.end());
}

uint64_t align_up(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

[[noreturn]] void invalid(const std::string& what) {
    throw GgufError(ErrorKind::InvalidArgument, "GGUF stream writer: " + what);
}

[[noreturn]] void io_error(const std::string& what, int error_number) {
    throw GgufError(ErrorKind::Io, what + ": " + std::strerror(error_number));
}

// A file descriptor closed on scope exit; the temporary file is removed unless committed.
class PartialFile {
  public:
    explicit PartialFile(const std::string& path) : path_(path), temporary_(path + ".partial") {
        fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd_ < 0) io_error("cannot create '" + temporary_ + "'", errno);
    }
    ~PartialFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) std::remove(temporary_.c_str());
    }
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;

    void write(std::span<const uint8_t> bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) io_error("cannot write '" + temporary_ + "'", n < 0 ? errno : EIO);
            bytes = bytes.subspan(static_cast<size_t>(n));
        }
    }
    void truncate(uint64_t size_bytes) {
        if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0)
            io_error("cannot extend '" + temporary_ + "'", errno);
    }
    void commit() {
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) io_error("cannot write '" + temporary_ + "'", errno);
        if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
            io_error("cannot rename '" + temporary_ + "' to '" + path_ + "'", errno);
        committed_ = true;
    }

  private:
    std::string path_;
    std::string temporary_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace

GgufStreamWriter::GgufStreamWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        invalid("alignment " + std::to_string(alignment) + " is not a non-zero power of two");
    if (alignment != kDefaultAlignment) {
        begin_entry(kAlignmentKey, ValueType::U32);
        append_bits(metadata_bytes_, alignment, 4);
    }
}

void GgufStreamWriter::begin_entry(std::string_view key, ValueType type) {
    if (key.empty()) invalid("metadata keys must not be empty");
    if (!keys_.emplace(key).second) invalid("duplicate metadata key '" + std::string(key) + "'");
    append_string(metadata_bytes_, key);
    append_bits(metadata_bytes_, static_cast<uint32_t>(type), 4);
    ++n_metadata_;
}

void GgufStreamWriter::add(std::string_view key, const MetaValue& value) {
    if (key == kAlignmentKey) invalid("set the alignment through the constructor, not as a key");
    begin_entry(key, value.type());
    value.encode(metadata_bytes_);
}

void GgufStreamWriter::add_string_array(std::string_view key, std::span<const std::string> items) {
    begin_entry(key, ValueType::Array);
    append_bits(metadata_bytes_, static_cast<uint32_t>(ValueType::String), 4);
    append_bits(metadata_bytes_, items.size(), 8);
    for (const std::string& item : items) append_string(metadata_bytes_, item);
}

size_t GgufStreamWriter::add_tensor(std::string_view name, quant::Type type,
                                    std::span<const uint64_t> dims) {
    const std::string context = "tensor '" + std::string(name) + "'";
    if (name.empty()) invalid("tensor names must not be empty");
    if (tensor_names_.count(std::string(name)) != 0) invalid("duplicate " + context);
    if (dims.empty() || dims.size() > kMaxDims)
        invalid(context + ": " + std::to_string(dims.size()) + " dims, expected 1 to " +
                std::to_string(kMaxDims));
    const quant::TypeInfo& info = quant::type_info(type);
    uint64_t n_elements = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
        if (dims[d] == 0) invalid(context + ": dim " + std::to_string(d) + " is 0");
        if (__builtin_mul_overflow(n_elements, dims[d], &n_elements) ||
            n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            invalid(context + ": element count overflows 63 bits");
    }
    if (dims[0] % info.block_elems != 0)
        invalid(context + ": dim 0 is " + std::to_string(dims[0]) + ", not a multiple of the " +
                std::string(info.name) + " block size " + std::to_string(info.block_elems));
    StreamTensor t;
    t.name = std::string(name);
    t.type = type;
    t.dims.assign(dims.begin(), dims.end());
    t.n_bytes = n_elements / info.block_elems * info.block_bytes;
    t.relative_offset = data_bytes_;
    data_bytes_ = align_up(data_bytes_ + t.n_bytes, alignment_);
    tensor_names_.emplace(t.name);
    tensors_.push_back(std::move(t));
    return tensors_.size() - 1;
}

std::vector<uint8_t> GgufStreamWriter::header_bytes() const {
    std::vector<uint8_t> out;
    append_bits(out, kGgufMagic, 4);
    append_bits(out, 3, 4);
    append_bits(out, tensors_.size(), 8);
    append_bits(out, n_metadata_, 8);
    out.insert(out.end(), metadata_bytes_.begin(), metadata_bytes_.end());
    for (const StreamTensor& t : tensors_) {
        append_string(out, t.name);
        append_bits(out, t.dims.size(), 4);
        for (uint64_t dim : t.dims) append_bits(out, dim, 8);
        append_bits(out, static_cast<uint32_t>(t.type), 4);
        append_bits(out, t.relative_offset, 8);
    }
    out.resize(align_up(out.size(), alignment_), 0);
    return out;
}

uint64_t GgufStreamWriter::data_offset() const {
    return header_bytes().size();
}

uint64_t GgufStreamWriter::file_bytes() const {
    return data_offset() + data_bytes_;
}

void GgufStreamWriter::write(const ByteSink& sink, const TensorFiller& fill) const {
    sink(header_bytes());
    std::vector<uint8_t> chunk(kChunkBytes);
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const StreamTensor& t = tensors_[i];
        for (uint64_t offset = 0; offset < t.n_bytes; offset += kChunkBytes) {
            const size_t n =
                static_cast<size_t>(std::min<uint64_t>(kChunkBytes, t.n_bytes - offset));
            fill(i, offset, std::span(chunk.data(), n));
            sink(std::span<const uint8_t>(chunk.data(), n));
        }
        const uint64_t padding = align_up(t.n_bytes, alignment_) - t.n_bytes;
        if (padding > 0) {
            std::fill_n(chunk.begin(), padding, 0);
            sink(std::span<const uint8_t>(chunk.data(), static_cast<size_t>(padding)));
        }
    }
}

std::vector<uint8_t> GgufStreamWriter::to_bytes(const TensorFiller& fill) const {
    std::vector<uint8_t> out;
    out.reserve(static_cast<size_t>(file_bytes()));
    write(
        [&](std::span<const uint8_t> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); },
        fill);
    return out;
}

void GgufStreamWriter::write_file(const std::string& path, const TensorFiller& fill) const {
    PartialFile file(path);
    write([&](std::span<const uint8_t> bytes) { file.write(bytes); }, fill);
    file.commit();
}

void GgufStreamWriter::write_sparse_file(const std::string& path) const {
    PartialFile file(path);
    file.write(header_bytes());
    file.truncate(file_bytes());
    file.commit();
}

}  // namespace dsv4::gguf
