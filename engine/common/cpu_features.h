// The CPU feature table: what the processor can run, read once from CPUID, and the kernel level
// the engine uses. Owns the one process-wide switch that forces scalar kernels; it must not hold
// anything else mutable.
#pragma once

#include <string>

namespace dsv4 {

enum class IsaLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
    bool avx2 = false;    // with FMA, F16C and BMI2
    bool avx512 = false;  // F, BW, VL, DQ
    bool avx512_vnni = false;
    bool avx512_vbmi = false;
    bool avx512_bitalg = false;  // with VPOPCNTDQ
    bool avx512_bf16 = false;
    bool amx_int8 = false;
};

// What the hardware reports (and the OS enables for the wider registers).
const CpuFeatures& cpu_features();

// The level the kernels dispatch to: the best the hardware supports, lowered by
// set_isa_limit() or by the environment variable DSV4_ISA=scalar|avx2|avx512.
IsaLevel active_isa();

// Caps the level used from now on (tests and `--isa`); never raises it above the hardware.
void set_isa_limit(IsaLevel limit);

const char* isa_name(IsaLevel level);
// Parses "scalar", "avx2" or "avx512"; throws std::invalid_argument naming the value otherwise.
IsaLevel parse_isa(const std::string& name);

}  // namespace dsv4
