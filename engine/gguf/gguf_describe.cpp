#include "engine/gguf/gguf_describe.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <map>

namespace dsv4::gguf {
namespace {

std::string type_label(const Value& value) {
    if (!value.is_array()) return value_type_name(value.type());
    return "array[" + value_type_name(value.element_type()) + "; " + std::to_string(value.size()) +
           "]";
}

std::string dims_label(const TensorInfo& tensor) {
    std::string text = "[";
    for (uint32_t d = 0; d < tensor.n_dims; ++d) {
        if (d > 0) text += ", ";
        text += std::to_string(tensor.dims[d]);
    }
    return text + "]";
}

// 1234567 -> "1.18 MiB"; exact byte counts are printed next to it where they matter.
std::string human_bytes(uint64_t n) {
    constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(n);
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
        value /= 1024.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.2f %s", value, kUnits[unit]);
    return text;
}

std::string summarize_scalar(const Value& value, const DescribeOptions& options) {
    std::string text = value.to_string();
    if (value.type() == ValueType::String && text.size() > options.max_string_bytes + 2) {
        const uint64_t stored = value.as_string()->size();
        text.resize(options.max_string_bytes + 1);  // keep the opening quote
        text += "\"... (" + std::to_string(stored) + " bytes)";
    }
    return text;
}

}  // namespace

std::string summarize_value(const Value& value, const DescribeOptions& options) {
    if (!value.is_array()) return summarize_scalar(value, options);
    std::string text = "[";
    const uint64_t shown = std::min(value.size(), options.max_array_items);
    for (uint64_t i = 0; i < shown; ++i) {
        if (i > 0) text += ", ";
        text += summarize_value(value.element(i), options);
    }
    if (shown < value.size()) {
        text += (shown > 0 ? ", ... (" : "... (") + std::to_string(value.size()) + " items)";
    }
    return text + "]";
}

void describe_header(const GgufFile& file, std::ostream& out) {
    out << "file:         " << file.name() << "\n"
        << "version:      " << file.version() << "\n"
        << "alignment:    " << file.alignment() << "\n"
        << "file bytes:   " << file.file_bytes() << " (" << human_bytes(file.file_bytes()) << ")\n"
        << "data offset:  " << file.data_offset() << "\n"
        << "data bytes:   " << file.data_bytes() << " (" << human_bytes(file.data_bytes()) << ")\n"
        << "metadata:     " << file.metadata().size() << " keys\n"
        << "tensors:      " << file.tensors().size() << "\n";
}

void describe_metadata(const GgufFile& file, std::ostream& out, const DescribeOptions& options) {
    size_t key_width = 0;
    size_t type_width = 0;
    for (const MetadataEntry& entry : file.metadata()) {
        key_width = std::max(key_width, entry.key.size());
        type_width = std::max(type_width, type_label(entry.value).size());
    }
    out << "\nmetadata (" << file.metadata().size() << " keys):\n";
    for (const MetadataEntry& entry : file.metadata()) {
        out << "  " << std::left << std::setw(static_cast<int>(key_width)) << entry.key << "  "
            << std::setw(static_cast<int>(type_width)) << type_label(entry.value) << "  "
            << summarize_value(entry.value, options) << "\n";
    }
    out << std::right;
}

void describe_tensors(const GgufFile& file, std::ostream& out) {
    size_t name_width = 4;
    size_t dims_width = 4;
    for (const TensorInfo& tensor : file.tensors()) {
        name_width = std::max(name_width, tensor.name.size());
        dims_width = std::max(dims_width, dims_label(tensor).size());
    }
    out << "\ntensors (" << file.tensors().size() << "):\n";
    out << "  " << std::left << std::setw(static_cast<int>(name_width)) << "name"
        << "  " << std::setw(8) << "type"
        << "  " << std::setw(static_cast<int>(dims_width)) << "dims"
        << "  " << std::right << std::setw(14) << "bytes"
        << "  " << std::setw(14) << "offset"
        << "\n";
    for (const TensorInfo& tensor : file.tensors()) {
        out << "  " << std::left << std::setw(static_cast<int>(name_width)) << tensor.name << "  "
            << std::setw(8) << tensor.type_info->name << "  "
            << std::setw(static_cast<int>(dims_width)) << dims_label(tensor) << "  " << std::right
            << std::setw(14) << tensor.n_bytes << "  " << std::setw(14) << tensor.offset << "\n";
    }
}

void describe_type_totals(const GgufFile& file, std::ostream& out) {
    struct Total {
        uint64_t tensors = 0;
        uint64_t elements = 0;
        uint64_t bytes = 0;
    };
    std::map<std::string_view, Total> totals;
    Total all;
    for (const TensorInfo& tensor : file.tensors()) {
        for (Total* total : {&totals[tensor.type_info->name], &all}) {
            total->tensors += 1;
            total->elements += tensor.n_elements;
            total->bytes += tensor.n_bytes;
        }
    }
    out << "\ntotals by type:\n";
    const auto line = [&out](std::string_view label, const Total& total) {
        out << "  " << std::left << std::setw(8) << label << std::right << std::setw(8)
            << total.tensors << " tensors  " << std::setw(16) << total.elements << " elements  "
            << std::setw(16) << total.bytes << " bytes  (" << human_bytes(total.bytes) << ")\n";
    };
    for (const auto& [name, total] : totals) line(name, total);
    line("all", all);
}

void describe_gguf(const GgufFile& file, std::ostream& out, const DescribeOptions& options) {
    describe_header(file, out);
    describe_metadata(file, out, options);
    describe_tensors(file, out);
    describe_type_totals(file, out);
}

}  // namespace dsv4::gguf
