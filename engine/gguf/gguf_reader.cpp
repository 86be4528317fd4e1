#include "engine/gguf/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

namespace dsv4::gguf {

// ---- the read-only mapping -------------------------------------------------------------------

class GgufFile::Mapping {
  public:
    Mapping(const std::string& path, LoadMode mode) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw io_error(path, "cannot open");
        try {
            struct stat info {};
            if (::fstat(fd, &info) != 0) throw io_error(path, "cannot stat");
            if (!S_ISREG(info.st_mode))
                throw GgufError(ErrorKind::Io, path + ": not a regular file");
            size_bytes_ = static_cast<size_t>(info.st_size);
            if (size_bytes_ == 0)
                throw GgufError(
                    ErrorKind::Malformed,
                    path + ": byte offset 0: the file is empty (expected a GGUF header)");
            if (mode == LoadMode::Copy) {
                const std::optional<std::string> refusal =
                    copy_refusal(size_bytes_, read_meminfo());
                if (refusal) fallback_reason_ = *refusal;
            }
            if (mode == LoadMode::Copy && fallback_reason_.empty())
                copy_into_huge_pages(fd, path);
            else
                map_file(fd, path);
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);  // a mapping keeps its own reference to the file
    }
    ~Mapping() { ::munmap(region_, region_bytes_); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    std::span<const uint8_t> bytes() const { return {address_, size_bytes_}; }
    bool copied() const { return copied_; }
    const std::string& fallback_reason() const { return fallback_reason_; }

  private:
    static constexpr size_t kHugePageBytes = size_t{1} << 21;
    static constexpr size_t kReadChunkBytes = size_t{64} << 20;

    static GgufError io_error(const std::string& path, const char* action) {
        return GgufError(ErrorKind::Io,
                         std::string(action) + " '" + path + "': " + std::strerror(errno));
    }

    static std::string read_meminfo() {
        FILE* meminfo = std::fopen("/proc/meminfo", "re");
        if (!meminfo) return {};
        std::string text;
        char chunk[4096];
        for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, meminfo)) > 0;)
            text.append(chunk, n);
        std::fclose(meminfo);
        return text;
    }

    void map_file(int fd, const std::string& path) {
        void* address = ::mmap(nullptr, size_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (address == MAP_FAILED) throw io_error(path, "cannot map");
        region_ = address;
        region_bytes_ = size_bytes_;
        address_ = static_cast<const uint8_t*>(address);
    }

    void copy_into_huge_pages(int fd, const std::string& path) {
        const size_t rounded = (size_bytes_ + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        // One huge page more than needed, so that a 2 MiB-aligned start fits inside.
        region_bytes_ = rounded + kHugePageBytes;
        region_ = ::mmap(nullptr, region_bytes_, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region_ == MAP_FAILED) {
            region_ = nullptr;
            fallback_reason_ = "cannot reserve " + std::to_string(region_bytes_ >> 20) +
                               " MiB of memory: " + std::strerror(errno);
            return map_file(fd, path);
        }
        auto* aligned = reinterpret_cast<uint8_t*>(
            (reinterpret_cast<uintptr_t>(region_) + kHugePageBytes - 1) & ~(kHugePageBytes - 1));
        // Before the first touch, so that the faults allocate huge pages.
        ::madvise(aligned, rounded, MADV_HUGEPAGE);
        for (size_t done = 0; done < size_bytes_;) {
            const ssize_t n =
                ::pread(fd, aligned + done, std::min(size_bytes_ - done, kReadChunkBytes),
                        static_cast<off_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const GgufError error =
                    n < 0 ? io_error(path, "cannot read")
                          : GgufError(ErrorKind::Io,
                                      "cannot read '" + path + "': the file shrank while loading");
                ::munmap(region_, region_bytes_);
                region_ = nullptr;
                throw error;
            }
            done += static_cast<size_t>(n);
        }
        ::mprotect(aligned, rounded, PROT_READ);  // the weights are never written
        address_ = aligned;
        copied_ = true;
    }

    void* region_ = nullptr;
    size_t region_bytes_ = 0;
    const uint8_t* address_ = nullptr;
    size_t size_bytes_ = 0;
    bool copied_ = false;
    std::string fallback_reason_;
};

std::optional<std::string> copy_refusal(uint64_t file_bytes, std::string_view meminfo) {
    constexpr uint64_t kKeptFreeBytes = uint64_t{1} << 30;
    constexpr std::string_view kKey = "MemAvailable:";
    const size_t at = meminfo.find(kKey);
    unsigned long long available_kib = 0;
    if (at == std::string_view::npos ||
        std::sscanf(std::string(meminfo.substr(at + kKey.size(), 32)).c_str(), " %llu kB",
                    &available_kib) != 1)
        return "the memory available is unknown (no MemAvailable in /proc/meminfo)";
    const uint64_t available_bytes = available_kib * 1024ull;
    if (file_bytes + kKeptFreeBytes <= available_bytes) return std::nullopt;
    return "the file needs " + std::to_string(file_bytes >> 20) + " MiB, only " +
           std::to_string(available_bytes >> 20) + " MiB are available and 1024 MiB stay free";
}

// ---- the parser ------------------------------------------------------------------------------

namespace {

// Smallest possible encodings, used to refuse counts the remaining bytes cannot hold before
// anything is allocated for them.
constexpr uint64_t kMinMetadataEntryBytes = 8 + 1 + 4 + 1;  // key length, key, type, u8 value
constexpr uint64_t kMinTensorInfoBytes =
    8 + 1 + 4 + 8 + 4 + 8;                     // name, n_dims, 1 dim, type, offset
constexpr uint64_t kArrayHeaderBytes = 4 + 8;  // element type, count

std::string quoted(std::string_view text) {
    std::string out = "'";
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f) {
            constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 15];
        } else {
            out += c;
        }
    }
    return out + "'";
}

// A description for Parser's read functions that is fixed text.
auto label(std::string_view text) {
    return [text] { return std::string(text); };
}

}  // namespace

class Parser {
  public:
    Parser(GgufFile& file) : file_(file), bytes_(file.bytes_) {}

    void run() {
        read_header();
        read_metadata();
        apply_alignment();
        read_tensor_infos();
        place_tensors();
    }

  private:
    [[noreturn]] void fail(uint64_t offset, const std::string& what) const {
        throw GgufError(ErrorKind::Malformed,
                        file_.name_ + ": byte offset " + std::to_string(offset) + ": " + what);
    }

    uint64_t remaining() const { return bytes_.size() - pos_; }

    // `what` is a callable returning a description of the field; it runs only on failure, so
    // valid files never pay for building messages.
    template <typename Describe>
    void need(uint64_t n, const Describe& what) const {
        if (n > remaining()) {
            fail(pos_, "truncated: " + what() + " needs " + std::to_string(n) + " bytes but only " +
                           std::to_string(remaining()) + " remain in a file of " +
                           std::to_string(bytes_.size()) + " bytes");
        }
    }

    template <typename Describe>
    uint64_t read_scalar_bits(uint32_t width_bytes, const Describe& what) {
        need(width_bytes, what);
        uint64_t bits = 0;
        std::memcpy(&bits, bytes_.data() + pos_, width_bytes);
        pos_ += width_bytes;
        return bits;
    }
    template <typename Describe>
    uint32_t read_u32(const Describe& what) {
        return static_cast<uint32_t>(read_scalar_bits(4, what));
    }
    template <typename Describe>
    uint64_t read_u64(const Describe& what) {
        return read_scalar_bits(8, what);
    }

    template <typename Describe>
    std::string_view read_string(const Describe& what) {
        const uint64_t length_offset = pos_;
        const uint64_t length = read_u64([&] { return what() + " length"; });
        if (length > remaining()) {
            fail(length_offset, what() + ": string length " + std::to_string(length) +
                                    " runs past the end of the file (" +
                                    std::to_string(remaining()) + " bytes remain)");
        }
        std::string_view text(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
        pos_ += length;
        return text;
    }

    void read_header() {
        const uint32_t magic = read_u32(label("the GGUF magic"));
        if (magic != kGgufMagic) {
            std::string found;
            for (int i = 0; i < 4; ++i) {
                found.push_back(static_cast<char>((magic >> (8 * i)) & 0xff));
            }
            fail(0, "bad magic: expected 'GGUF', found " + quoted(found) +
                        "; this is not a GGUF file");
        }
        const uint32_t version = read_u32(label("the GGUF version"));
        if (version == 1) {
            fail(4,
                 "GGUF version 1 is not supported (it used 32-bit counts); "
                 "convert the model again with a current tool to get version 3");
        }
        if (version != 2 && version != 3) {
            const bool byte_swapped =
                (version & 0xffffu) == 0 && (version >> 24) >= 1 && (version >> 24) <= 3;
            fail(4, "unsupported GGUF version " + std::to_string(version) +
                        (byte_swapped ? " (this looks like a big-endian GGUF, which is not "
                                        "supported)"
                                      : "") +
                        "; supported versions are 2 and 3");
        }
        file_.version_ = version;
        const uint64_t n_tensors_offset = pos_;
        n_tensors_ = read_u64(label("the tensor count"));
        n_kv_ = read_u64(label("the metadata count"));
        if (n_kv_ > remaining() / kMinMetadataEntryBytes) {
            fail(n_tensors_offset + 8, "metadata count " + std::to_string(n_kv_) +
                                           " cannot fit in the " + std::to_string(remaining()) +
                                           " bytes that remain (each entry takes at least " +
                                           std::to_string(kMinMetadataEntryBytes) + ")");
        }
        if (n_tensors_ > remaining() / kMinTensorInfoBytes ||
            n_kv_ * kMinMetadataEntryBytes + n_tensors_ * kMinTensorInfoBytes > remaining()) {
            fail(n_tensors_offset, "tensor count " + std::to_string(n_tensors_) +
                                       " with metadata count " + std::to_string(n_kv_) +
                                       " cannot fit in the " + std::to_string(remaining()) +
                                       " bytes that remain (each tensor info takes at least " +
                                       std::to_string(kMinTensorInfoBytes) + ")");
        }
    }

    void read_metadata() {
        file_.metadata_.reserve(n_kv_);
        file_.metadata_index_.reserve(n_kv_);
        for (uint64_t i = 0; i < n_kv_; ++i) {
            const uint64_t entry_offset = pos_;
            const std::string_view key =
                read_string([&] { return "metadata key " + std::to_string(i); });
            if (key.empty()) fail(entry_offset, "metadata key " + std::to_string(i) + " is empty");
            const std::string context = "metadata key " + quoted(key);
            const uint64_t type_offset = pos_;
            const uint32_t type_id = read_u32([&] { return context + " value type"; });
            check_value_type(type_id, type_offset, context);
            Value value = read_value(static_cast<ValueType>(type_id), context, 0);
            const auto [it, inserted] = file_.metadata_index_.emplace(key, file_.metadata_.size());
            if (!inserted) {
                fail(entry_offset, "duplicate " + context + " (first defined at byte offset " +
                                       std::to_string(file_.metadata_[it->second].offset) + ")");
            }
            file_.metadata_.push_back(MetadataEntry{key, std::move(value), entry_offset});
        }
    }

    void check_value_type(uint32_t type_id, uint64_t offset, const std::string& context) const {
        if (type_id >= kValueTypeCount) {
            fail(offset, context + ": unknown metadata value type " + std::to_string(type_id) +
                             " (known types are 0 to " + std::to_string(kValueTypeCount - 1) + ")");
        }
    }

    Value read_value(ValueType type, const std::string& context, uint32_t depth) {
        if (type == ValueType::String) return Value::string(read_string(label(context)));
        if (type == ValueType::Array) return read_array(context, depth + 1);
        const uint64_t value_offset = pos_;
        const uint64_t bits = read_scalar_bits(scalar_size_bytes(type), label(context));
        if (type == ValueType::Bool && bits > 1) {
            fail(value_offset,
                 context + ": bool value " + std::to_string(bits) + " is neither 0 nor 1");
        }
        return Value::scalar(type, bits);
    }

    Value read_array(const std::string& context, uint32_t depth) {
        const uint64_t array_offset = pos_;
        if (depth > kMaxArrayNesting) {
            fail(array_offset, context + ": arrays nested deeper than " +
                                   std::to_string(kMaxArrayNesting) + " levels");
        }
        const uint32_t element_id = read_u32([&] { return context + " array element type"; });
        check_value_type(element_id, array_offset, context + " array");
        const auto element_type = static_cast<ValueType>(element_id);
        const uint64_t count = read_u64([&] { return context + " array length"; });
        uint64_t min_element_bytes = scalar_size_bytes(element_type);
        if (element_type == ValueType::String) min_element_bytes = 8;
        if (element_type == ValueType::Array) min_element_bytes = kArrayHeaderBytes;
        if (count > remaining() / min_element_bytes) {
            fail(array_offset, context + ": array of " + std::to_string(count) + " " +
                                   value_type_name(element_type) + " items cannot fit in the " +
                                   std::to_string(remaining()) + " bytes that remain");
        }
        if (element_type == ValueType::String) {
            auto items = std::make_shared<std::vector<std::string_view>>();
            items->reserve(count);
            for (uint64_t i = 0; i < count; ++i) {
                items->push_back(
                    read_string([&] { return context + " item " + std::to_string(i); }));
            }
            return Value::string_array(std::move(items));
        }
        if (element_type == ValueType::Array) {
            auto items = std::make_shared<std::vector<Value>>();
            items->reserve(count);
            for (uint64_t i = 0; i < count; ++i) {
                items->push_back(read_array(context + " item " + std::to_string(i), depth + 1));
            }
            return Value::nested_array(std::move(items));
        }
        const uint8_t* data = bytes_.data() + pos_;
        if (element_type == ValueType::Bool) {
            for (uint64_t i = 0; i < count; ++i) {
                if (data[i] > 1) {
                    fail(pos_ + i, context + " item " + std::to_string(i) + ": bool value " +
                                       std::to_string(data[i]) + " is neither 0 nor 1");
                }
            }
        }
        pos_ += count * min_element_bytes;
        return Value::numeric_array(element_type, count, data);
    }

    void apply_alignment() {
        const auto it = file_.metadata_index_.find(kAlignmentKey);
        if (it == file_.metadata_index_.end()) return;
        const MetadataEntry& entry = file_.metadata_[it->second];
        const std::optional<uint64_t> value = entry.value.as_uint();
        if (!is_integer_type(entry.value.type())) {
            fail(entry.offset,
                 "metadata key 'general.alignment' must be an unsigned integer, "
                 "found " +
                     value_type_name(entry.value.type()));
        }
        if (!value || *value == 0 || (*value & (*value - 1)) != 0 ||
            *value > std::numeric_limits<uint32_t>::max()) {
            fail(entry.offset,
                 "metadata key 'general.alignment' must be a non-zero power of two "
                 "that fits 32 bits, found " +
                     entry.value.to_string());
        }
        file_.alignment_ = static_cast<uint32_t>(*value);
    }

    void read_tensor_infos() {
        file_.tensors_.reserve(n_tensors_);
        file_.tensor_index_.reserve(n_tensors_);
        info_offsets_.reserve(n_tensors_);
        for (uint64_t i = 0; i < n_tensors_; ++i) {
            const uint64_t info_offset = pos_;
            TensorInfo info = read_tensor_info(i);
            const auto [it, inserted] = file_.tensor_index_.emplace(info.name, i);
            if (!inserted) {
                fail(info_offset, "duplicate tensor name " + quoted(info.name) +
                                      " (first defined at byte offset " +
                                      std::to_string(info_offsets_[it->second]) + ")");
            }
            file_.tensors_.push_back(info);
            info_offsets_.push_back(info_offset);
        }
    }

    TensorInfo read_tensor_info(uint64_t index) {
        TensorInfo info;
        const uint64_t info_offset = pos_;
        info.name = read_string([&] { return "tensor info " + std::to_string(index) + " name"; });
        if (info.name.empty())
            fail(info_offset, "tensor " + std::to_string(index) + " has an empty name");
        const std::string context = "tensor " + quoted(info.name);
        const uint64_t n_dims_offset = pos_;
        info.n_dims = read_u32([&] { return context + " n_dims"; });
        if (info.n_dims == 0 || info.n_dims > kMaxDims) {
            fail(n_dims_offset, context + ": n_dims is " + std::to_string(info.n_dims) +
                                    ", expected 1 to " + std::to_string(kMaxDims));
        }
        uint64_t n_elements = 1;
        for (uint32_t d = 0; d < info.n_dims; ++d) {
            const uint64_t dim_offset = pos_;
            const uint64_t dim = read_u64([&] { return context + " dim " + std::to_string(d); });
            if (dim == 0)
                fail(dim_offset, context + ": dim " + std::to_string(d) +
                                     " is 0; empty tensors are not supported");
            if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                __builtin_mul_overflow(n_elements, dim, &n_elements) ||
                n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                fail(dim_offset, context + ": element count overflows 63 bits at dim " +
                                     std::to_string(d) + " (" + std::to_string(dim) + ")");
            }
            info.dims[d] = dim;
        }
        info.n_elements = n_elements;
        const uint64_t type_offset = pos_;
        const uint32_t type_id = read_u32([&] { return context + " type"; });
        info.type_info = quant::type_info(type_id);
        if (info.type_info == nullptr) {
            fail(type_offset, context + ": unknown ggml tensor type id " + std::to_string(type_id));
        }
        const uint32_t block_elems = info.type_info->block_elems;
        if (info.dims[0] % block_elems != 0) {
            fail(info_offset, context + ": dim 0 is " + std::to_string(info.dims[0]) +
                                  ", not a multiple of the " + std::string(info.type_info->name) +
                                  " block size " + std::to_string(block_elems));
        }
        if (__builtin_mul_overflow(n_elements / block_elems, uint64_t{info.type_info->block_bytes},
                                   &info.n_bytes)) {
            fail(info_offset, context + ": byte size overflows 64 bits");
        }
        info.offset =
            read_u64([&] { return context + " data offset"; });  // relative until place_tensors()
        return info;
    }

    void place_tensors() {
        const uint64_t alignment = file_.alignment_;
        // pos_ <= file size < 2^63, so rounding up cannot overflow.
        file_.data_offset_ = (pos_ + alignment - 1) / alignment * alignment;
        for (size_t i = 0; i < file_.tensors_.size(); ++i) {
            TensorInfo& info = file_.tensors_[i];
            const std::string context = "tensor " + quoted(info.name);
            const uint64_t relative = info.offset;
            if (relative % alignment != 0) {
                fail(info_offsets_[i], context + ": data offset " + std::to_string(relative) +
                                           " is not a multiple of the alignment " +
                                           std::to_string(alignment));
            }
            uint64_t begin = 0;
            uint64_t end = 0;
            if (__builtin_add_overflow(file_.data_offset_, relative, &begin) ||
                __builtin_add_overflow(begin, info.n_bytes, &end) || end > bytes_.size()) {
                fail(info_offsets_[i],
                     context + ": data at relative offset " + std::to_string(relative) + " (" +
                         std::to_string(info.n_bytes) + " bytes from absolute offset " +
                         std::to_string(file_.data_offset_) + " + " + std::to_string(relative) +
                         ") lies outside the file of " + std::to_string(bytes_.size()) + " bytes");
            }
            info.offset = begin;
            info.data = bytes_.data() + begin;
        }
    }

    GgufFile& file_;
    std::span<const uint8_t> bytes_;
    uint64_t pos_ = 0;
    uint64_t n_tensors_ = 0;
    uint64_t n_kv_ = 0;
    std::vector<uint64_t> info_offsets_;
};

// ---- GgufFile --------------------------------------------------------------------------------

GgufFile GgufFile::open(const std::string& path, LoadMode mode) {
    GgufFile file;
    file.name_ = path;
    file.mapping_ = std::make_unique<Mapping>(path, mode);
    file.bytes_ = file.mapping_->bytes();
    file.parse();
    return file;
}

bool GgufFile::copied_into_memory() const {
    return mapping_ && mapping_->copied();
}

const std::string& GgufFile::copy_fallback_reason() const {
    static const std::string kNone;
    return mapping_ ? mapping_->fallback_reason() : kNone;
}

GgufFile GgufFile::from_memory(std::span<const uint8_t> bytes, std::string name) {
    GgufFile file;
    file.name_ = std::move(name);
    file.bytes_ = bytes;
    file.parse();
    return file;
}

GgufFile GgufFile::from_owned_bytes(std::vector<uint8_t> bytes, std::string name) {
    GgufFile file;
    file.name_ = std::move(name);
    file.owned_bytes_ = std::move(bytes);
    file.bytes_ = file.owned_bytes_;
    file.parse();
    return file;
}

GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

void GgufFile::parse() {
    Parser(*this).run();
}

uint64_t GgufFile::data_bytes() const {
    return bytes_.size() > data_offset_ ? bytes_.size() - data_offset_ : 0;
}

const Value* GgufFile::find(std::string_view key) const {
    const auto it = metadata_index_.find(key);
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {

std::string describe(const Value& value) {
    if (value.is_array()) {
        return "array of " + std::to_string(value.size()) + " " +
               value_type_name(value.element_type());
    }
    return value_type_name(value.type()) + " " + value.to_string(4);
}

GgufError key_error(ErrorKind kind, const std::string& file_name, std::string_view key,
                    const std::string& what) {
    return GgufError(kind, file_name + ": metadata key " + quoted(key) + ": " + what);
}

// Looks key up and converts its value; convert returns nullopt when the value does not fit.
template <typename Convert>
auto get_converted(const GgufFile& file, std::string_view key, const char* expected,
                   Convert convert) -> decltype(convert(std::declval<const Value&>())) {
    const Value* value = file.find(key);
    if (value == nullptr) return std::nullopt;
    auto result = convert(*value);
    if (!result) {
        throw key_error(ErrorKind::WrongType, file.name(), key,
                        std::string("expected ") + expected + ", found " + describe(*value));
    }
    return result;
}

// Converts every element of an array value, or returns nullopt when the value is not an array
// or any element does not fit.
template <typename T, typename Convert>
std::optional<std::vector<T>> convert_elements(const Value& value, Convert convert) {
    if (!value.is_array()) return std::nullopt;
    std::vector<T> items;
    items.reserve(value.size());
    for (uint64_t i = 0; i < value.size(); ++i) {
        std::optional<T> item = convert(value.element(i));
        if (!item) return std::nullopt;
        items.push_back(*item);
    }
    return items;
}

template <typename T>
T required(std::optional<T> value, const GgufFile& file, std::string_view key) {
    if (!value) {
        throw key_error(ErrorKind::MissingKey, file.name(), key, "required but missing");
    }
    return std::move(*value);
}

}  // namespace

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
    return get_converted(*this, key, "a non-negative integer",
                         [](const Value& v) { return v.as_uint(); });
}
std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    return get_converted(*this, key, "an integer within 64 signed bits",
                         [](const Value& v) { return v.as_int(); });
}
std::optional<double> GgufFile::get_float(std::string_view key) const {
    return get_converted(*this, key, "a number", [](const Value& v) { return v.as_float(); });
}
std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    return get_converted(*this, key, "a bool", [](const Value& v) { return v.as_bool(); });
}
std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    return get_converted(*this, key, "a string", [](const Value& v) { return v.as_string(); });
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
    return get_converted(
        *this, key, "an array of integers within 64 signed bits", [](const Value& v) {
            return convert_elements<int64_t>(v, [](const Value& item) { return item.as_int(); });
        });
}
std::optional<std::vector<double>> GgufFile::get_float_array(std::string_view key) const {
    return get_converted(*this, key, "an array of numbers", [](const Value& v) {
        return convert_elements<double>(v, [](const Value& item) { return item.as_float(); });
    });
}
std::optional<std::vector<std::string_view>> GgufFile::get_string_array(
    std::string_view key) const {
    return get_converted(*this, key, "an array of strings", [](const Value& v) {
        return convert_elements<std::string_view>(
            v, [](const Value& item) { return item.as_string(); });
    });
}

uint64_t GgufFile::require_uint(std::string_view key) const {
    return required(get_uint(key), *this, key);
}
int64_t GgufFile::require_int(std::string_view key) const {
    return required(get_int(key), *this, key);
}
double GgufFile::require_float(std::string_view key) const {
    return required(get_float(key), *this, key);
}
bool GgufFile::require_bool(std::string_view key) const {
    return required(get_bool(key), *this, key);
}
std::string_view GgufFile::require_string(std::string_view key) const {
    return required(get_string(key), *this, key);
}
std::vector<int64_t> GgufFile::require_int_array(std::string_view key) const {
    return required(get_int_array(key), *this, key);
}
std::vector<double> GgufFile::require_float_array(std::string_view key) const {
    return required(get_float_array(key), *this, key);
}
std::vector<std::string_view> GgufFile::require_string_array(std::string_view key) const {
    return required(get_string_array(key), *this, key);
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(std::string_view name) const {
    const TensorInfo* info = find_tensor(name);
    if (info == nullptr) {
        throw GgufError(ErrorKind::MissingTensor,
                        name_ + ": required tensor " + quoted(name) + " is missing");
    }
    return *info;
}

}  // namespace dsv4::gguf
