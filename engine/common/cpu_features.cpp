#include "engine/common/cpu_features.h"

#include <cpuid.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

namespace dsv4 {
namespace {

uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27);
    const bool fma = c & (1u << 12);
    const bool f16c = c & (1u << 29);
    if (!osxsave) return f;
    const uint64_t xcr0 = read_xcr0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;
    const bool os_amx = (xcr0 & 0x60000) == 0x60000;
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = b & (1u << 5);
    const bool bmi2 = b & (1u << 8);
    f.avx2 = os_ymm && avx2 && fma && f16c && bmi2;
    const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17);
    const bool avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
    f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
    f.avx512_vbmi = f.avx512 && (c & (1u << 1));
    f.avx512_vnni = f.avx512 && (c & (1u << 11));
    f.avx512_bitalg = f.avx512 && (c & (1u << 12)) && (c & (1u << 14));
    f.amx_int8 = os_amx && (d & (1u << 25)) && (d & (1u << 24));
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f.avx512_bf16 = f.avx512 && (a1 & (1u << 5));
    return f;
}

IsaLevel hardware_level(const CpuFeatures& f) {
    // The AVX-512 kernels use VNNI, VBMI and BITALG throughout; without all of them use AVX2.
    if (f.avx512 && f.avx512_vnni && f.avx512_vbmi && f.avx512_bitalg) return IsaLevel::Avx512;
    if (f.avx2) return IsaLevel::Avx2;
    return IsaLevel::Scalar;
}

IsaLevel env_limit() {
    const char* env = std::getenv("DSV4_ISA");
    if (env == nullptr || *env == '\0') return IsaLevel::Avx512;
    return parse_isa(env);
}

std::atomic<int>& isa_limit() {
    static std::atomic<int> limit{static_cast<int>(env_limit())};
    return limit;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

IsaLevel active_isa() {
    const int hw = static_cast<int>(hardware_level(cpu_features()));
    const int limit = isa_limit().load(std::memory_order_relaxed);
    return static_cast<IsaLevel>(hw < limit ? hw : limit);
}

void set_isa_limit(IsaLevel limit) {
    isa_limit().store(static_cast<int>(limit), std::memory_order_relaxed);
}

const char* isa_name(IsaLevel level) {
    switch (level) {
        case IsaLevel::Scalar:
            return "scalar";
        case IsaLevel::Avx2:
            return "avx2";
        case IsaLevel::Avx512:
            return "avx512";
    }
    return "unknown";
}

IsaLevel parse_isa(const std::string& name) {
    if (name == "scalar") return IsaLevel::Scalar;
    if (name == "avx2") return IsaLevel::Avx2;
    if (name == "avx512") return IsaLevel::Avx512;
    throw std::invalid_argument("unknown ISA level '" + name +
                                "' (expected scalar, avx2 or avx512)");
}

}  // namespace dsv4
