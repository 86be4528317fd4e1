#include <array>

#include "engine/quant/kernel_sets.h"

namespace dsv4::quant {
namespace {

constexpr uint32_t kIds = 40;
constexpr int kLevels = 3;

struct Table {
    std::array<std::array<TypeKernels, kIds>, kLevels> by_level{};
};

TypeKernels merged(const TypeKernels& upper, const TypeKernels& lower) {
    return {upper.dot_q ? upper.dot_q : lower.dot_q, upper.dot_f32 ? upper.dot_f32 : lower.dot_f32};
}

Table build() {
    Table t;
    for (uint32_t id = 0; id < kIds; ++id) {
        const TypeInfo* info = type_info(id);
        if (info == nullptr) continue;
        const TypeKernels scalar = detail::scalar_kernels(info->type);
        const TypeKernels avx2 = merged(detail::avx2_kernels(info->type), scalar);
        const TypeKernels avx512 = merged(detail::avx512_kernels(info->type), avx2);
        t.by_level[0][id] = scalar;
        t.by_level[1][id] = avx2;
        t.by_level[2][id] = avx512;
    }
    return t;
}

}  // namespace

const TypeKernels& kernels(Type t, IsaLevel isa) {
    static const Table table = build();
    return table.by_level[static_cast<int>(isa)][static_cast<uint32_t>(t)];
}

}  // namespace dsv4::quant
