// Human-readable listings of a GGUF file's container: header facts, every metadata entry, the
// tensor table and byte totals per tensor type. Used by `dsv4 inspect`; it prints only what the
// container says and must not interpret keys or tensors as a model.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "engine/gguf/gguf_reader.h"

namespace dsv4::gguf {

struct DescribeOptions {
    uint64_t max_array_items = 8;    // array items shown before "... (N items)"
    uint64_t max_string_bytes = 96;  // longer strings are cut and marked
};

// A one-line rendering of value that never grows with the size of the value.
std::string summarize_value(const Value& value, const DescribeOptions& options = {});

void describe_header(const GgufFile& file, std::ostream& out);
void describe_metadata(const GgufFile& file, std::ostream& out,
                       const DescribeOptions& options = {});
void describe_tensors(const GgufFile& file, std::ostream& out);
void describe_type_totals(const GgufFile& file, std::ostream& out);

// All of the above, in that order.
void describe_gguf(const GgufFile& file, std::ostream& out, const DescribeOptions& options = {});

}  // namespace dsv4::gguf
