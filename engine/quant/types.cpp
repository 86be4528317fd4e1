#include "engine/quant/types.h"

#include <array>

namespace dsv4::quant {
namespace {

constexpr TypeInfo kTypes[] = {
    {Type::F32, "F32", 1, 4, ActFormat::F32, true},
    {Type::F16, "F16", 1, 2, ActFormat::F32, true},
    {Type::Q4_0, "Q4_0", 32, 18, ActFormat::Q8_0, true},
    {Type::Q4_1, "Q4_1", 32, 20, ActFormat::None, false},
    {Type::Q5_0, "Q5_0", 32, 22, ActFormat::None, false},
    {Type::Q5_1, "Q5_1", 32, 24, ActFormat::None, false},
    {Type::Q8_0, "Q8_0", 32, 34, ActFormat::Q8_0, true},
    {Type::Q8_1, "Q8_1", 32, 36, ActFormat::None, false},
    {Type::Q2_K, "Q2_K", 256, 84, ActFormat::Q8_K, true},
    {Type::Q3_K, "Q3_K", 256, 110, ActFormat::None, false},
    {Type::Q4_K, "Q4_K", 256, 144, ActFormat::Q8_K, true},
    {Type::Q5_K, "Q5_K", 256, 176, ActFormat::Q8_K, true},
    {Type::Q6_K, "Q6_K", 256, 210, ActFormat::Q8_K, true},
    {Type::Q8_K, "Q8_K", 256, 292, ActFormat::None, true},
    {Type::IQ2_XXS, "IQ2_XXS", 256, 66, ActFormat::Q8_K, true},
    {Type::IQ2_XS, "IQ2_XS", 256, 74, ActFormat::None, false},
    {Type::IQ3_XXS, "IQ3_XXS", 256, 98, ActFormat::None, false},
    {Type::IQ1_S, "IQ1_S", 256, 50, ActFormat::None, false},
    {Type::IQ4_NL, "IQ4_NL", 32, 18, ActFormat::None, false},
    {Type::IQ3_S, "IQ3_S", 256, 110, ActFormat::None, false},
    {Type::IQ2_S, "IQ2_S", 256, 82, ActFormat::None, false},
    {Type::IQ4_XS, "IQ4_XS", 256, 136, ActFormat::None, false},
    {Type::I8, "I8", 1, 1, ActFormat::None, false},
    {Type::I16, "I16", 1, 2, ActFormat::None, false},
    {Type::I32, "I32", 1, 4, ActFormat::None, false},
    {Type::I64, "I64", 1, 8, ActFormat::None, false},
    {Type::F64, "F64", 1, 8, ActFormat::None, false},
    {Type::IQ1_M, "IQ1_M", 256, 56, ActFormat::None, false},
    {Type::BF16, "BF16", 1, 2, ActFormat::F32, true},
    {Type::TQ1_0, "TQ1_0", 256, 54, ActFormat::None, false},
    {Type::TQ2_0, "TQ2_0", 256, 66, ActFormat::None, false},
    {Type::MXFP4, "MXFP4", 32, 17, ActFormat::Q8_0, true},
};

constexpr uint32_t kMaxId = 40;

constexpr std::array<const TypeInfo*, kMaxId> make_index() {
    std::array<const TypeInfo*, kMaxId> index{};
    for (const TypeInfo& t : kTypes) index[static_cast<uint32_t>(t.type)] = &t;
    return index;
}
constexpr auto kIndex = make_index();

}  // namespace

const TypeInfo* type_info(uint32_t ggml_id) {
    return ggml_id < kMaxId ? kIndex[ggml_id] : nullptr;
}

const TypeInfo& type_info(Type t) {
    return *kIndex[static_cast<uint32_t>(t)];
}

std::optional<Type> type_from_name(std::string_view name) {
    for (const TypeInfo& t : kTypes)
        if (t.name == name) return t.type;
    return std::nullopt;
}

size_t row_bytes(Type t, int64_t n) {
    return row_bytes(type_info(t), n);
}

}  // namespace dsv4::quant
