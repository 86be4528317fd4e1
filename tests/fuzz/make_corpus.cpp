// Writes the fuzzer's seed corpus: the header region of each golden model (everything up to the
// start of tensor data) and small valid files from the GGUF writer covering every value type,
// nesting, alignments and tensor types. Run through `run-fuzz.sh --make-corpus`.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"

namespace {

using dsv4::gguf::GgufFile;
using dsv4::gguf::GgufWriter;
using dsv4::gguf::MetaValue;
using dsv4::gguf::ValueType;
using dsv4::quant::Type;

void save(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path);
    std::printf("%8zu bytes  %s\n", bytes.size(), path.c_str());
}

void save_golden_header(const std::string& golden, const std::string& path) {
    const GgufFile file = GgufFile::open(golden);
    const auto header = file.bytes().first(file.data_offset());
    save(path, std::vector<uint8_t>(header.begin(), header.end()));
}

std::vector<uint8_t> zeros(size_t n) {
    return std::vector<uint8_t>(n, 0);
}

std::vector<uint8_t> every_value_type() {
    GgufWriter writer;
    writer.add_u8("u8", 1);
    writer.add_i8("i8", -1);
    writer.add_u16("u16", 2);
    writer.add_i16("i16", -2);
    writer.add_u32("u32", 3);
    writer.add_i32("i32", -3);
    writer.add_f32("f32", 0.5f);
    writer.add_bool("bool", true);
    writer.add_string("string", "text");
    writer.add_u64("u64", 4);
    writer.add_i64("i64", -4);
    writer.add_f64("f64", 0.25);
    writer.add_array("a.u32", std::vector<uint32_t>{0, 0, 4, 128, 4});
    writer.add_array("a.i32", std::vector<int32_t>{1, -1});
    writer.add_array("a.f32", std::vector<float>{10.0f, 10.0f});
    writer.add_array("a.u64", std::vector<uint64_t>{65536});
    writer.add_array("a.f64", std::vector<double>{1e-6});
    writer.add_bool_array("a.bool", {true, false});
    writer.add_string_array("a.string", std::vector<std::string>{"h e", "Ġ t", ""});
    writer.add("a.nested", MetaValue::array(ValueType::Array,
                                            {MetaValue::array(ValueType::U8, {MetaValue::u8(7)}),
                                             MetaValue::array(ValueType::String, {})}));
    return writer.to_bytes();
}

std::vector<uint8_t> every_tensor_shape(uint32_t alignment) {
    GgufWriter writer(alignment);
    writer.add_string("general.architecture", "deepseek4");
    const auto add = [&writer](const char* name, Type type, std::vector<uint64_t> dims) {
        const dsv4::quant::TypeInfo& info = dsv4::quant::type_info(type);
        uint64_t elements = 1;
        for (uint64_t d : dims) elements *= d;
        writer.add_tensor(name, type, dims, zeros(elements / info.block_elems * info.block_bytes));
    };
    add("f32", Type::F32, {3});
    add("f16", Type::F16, {4, 2});
    add("q8_0", Type::Q8_0, {32, 2});
    add("q4_k", Type::Q4_K, {256, 1, 2});
    add("iq2_xxs", Type::IQ2_XXS, {256});
    add("i32", Type::I32, {6, 2, 1, 1});
    return writer.to_bytes();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_corpus GOLDEN_DIR CORPUS_DIR\n");
        return 2;
    }
    const std::string golden = argv[1];
    const std::string corpus = std::string(argv[2]) + "/";
    try {
        save_golden_header(golden + "/dsv4-tiny-s1-iq2xxs.gguf", corpus + "golden-iq2xxs-header");
        save_golden_header(golden + "/dsv4-tiny-s1-q4k.gguf", corpus + "golden-q4k-header");
        save(corpus + "every-value-type", every_value_type());
        save(corpus + "tensors-align32", every_tensor_shape(32));
        save(corpus + "tensors-align64", every_tensor_shape(64));
        save(corpus + "empty", GgufWriter().to_bytes());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "make_corpus: %s\n", error.what());
        return 1;
    }
    return 0;
}
