// Checks the SIMD dot kernels of every level the CPU runs against the scalar kernels (contract
// point 2), their independence from how a call is tiled (point 1), matmul's independence from the
// thread count, each level against ggml's oracle vectors, and the synthetic row generator.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/common/cpu_features.h"
#include "engine/common/thread_pool.h"
#include "engine/quant/kernel_sets.h"
#include "engine/quant/kernels.h"
#include "engine/quant/matmul.h"
#include "engine/quant/synth_blocks.h"
#include "tests/unit/golden_dir.h"
#include "tests/unit/quant_golden.h"

namespace dsv4::quant {
namespace {

constexpr Type kDotTypes[] = {Type::Q8_0, Type::Q2_K, Type::Q4_K,  Type::IQ2_XXS,
                              Type::F16,  Type::Q4_0, Type::MXFP4, Type::Q5_K,
                              Type::Q6_K, Type::BF16, Type::F32};

std::string type_name(Type t) {
    return std::string(type_info(t).name);
}

bool level_supported(IsaLevel level) {
    const CpuFeatures& f = cpu_features();
    switch (level) {
        case IsaLevel::Scalar:
            return true;
        case IsaLevel::Avx2:
            return f.avx2;
        case IsaLevel::Avx512:
            return f.avx512 && f.avx512_vnni && f.avx512_vbmi && f.avx512_bitalg;
    }
    return false;
}

std::vector<IsaLevel> supported_levels() {
    std::vector<IsaLevel> levels;
    for (IsaLevel l : {IsaLevel::Scalar, IsaLevel::Avx2, IsaLevel::Avx512})
        if (level_supported(l)) levels.push_back(l);
    return levels;
}

std::vector<IsaLevel> simd_levels() {
    std::vector<IsaLevel> levels = supported_levels();
    levels.erase(levels.begin());
    return levels;
}

// Row lengths with a ragged end for each block size: an odd number of 32-blocks, a multiple
// of 256 that is not one of 512, and for element types a length that is not one of 16.
int64_t test_row_length(Type t) {
    switch (type_info(t).block_elems) {
        case 256:
            return 768;
        case 32:
            return 608;
        default:
            return 613;
    }
}

// Enough activation rows to fill the widest batch tile of any kernel (12) twice and leave a
// remainder.
constexpr int64_t kTestActs = 27;

enum class Kind { Quantized, Float };
const char* kind_name(Kind k) {
    return k == Kind::Quantized ? "dot_q" : "dot_f32";
}

ActFormat act_format(Type t, Kind kind) {
    return kind == Kind::Float ? ActFormat::F32 : type_info(t).act;
}

DotKernel kernel_of(Type t, IsaLevel level, Kind kind) {
    const TypeKernels& k = kernels(t, level);
    return kind == Kind::Quantized ? k.dot_q : k.dot_f32;
}

// Activation rows like hidden states: N(0, 1) with a few large channels, some all-zero blocks.
std::vector<float> random_activations(int64_t n_acts, int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n_acts * n));
    for (float& v : x) v = normal(rng);
    for (int64_t a = 0; a < n_acts; ++a) {
        float* row = x.data() + a * n;
        for (int k = 0; k < 4; ++k) row[rng() % n] = (rng() % 2 ? 1.0f : -1.0f) * 60.0f;
        if (a == 1)
            for (int64_t i = 0; i < 32 && i < n; ++i) row[i] = 0.0f;
    }
    return x;
}

struct Problem {
    Type type;
    Kind kind;
    int64_t n;
    int64_t n_rows;
    int64_t n_acts;
    size_t w_row_bytes;
    size_t act_row_bytes;
    std::vector<uint8_t> w;
    std::vector<uint8_t> act;
    std::vector<float> w_deq;    // dequantized weights
    std::vector<float> act_deq;  // the activation values the kernel sees
};

std::vector<float> dequantize_activation(ActFormat f, const uint8_t* row, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    switch (f) {
        case ActFormat::F32:
            std::memcpy(out.data(), row, sizeof(float) * n);
            break;
        case ActFormat::Q8_0: {
            const ConstActQ8_0 v = act_q8_0_view(row, n);
            for (int64_t i = 0; i < n; ++i) out[i] = v.q[i] * v.d[i / 32];
            break;
        }
        case ActFormat::Q8_K: {
            for (int64_t b = 0; b < n / 256; ++b) {
                BlockQ8K block;
                std::memcpy(&block, row + b * sizeof(BlockQ8K), sizeof block);
                for (int j = 0; j < 256; ++j) out[256 * b + j] = block.qs[j] * block.d;
            }
            break;
        }
        case ActFormat::None:
            ADD_FAILURE() << "no activation format";
            break;
    }
    return out;
}

Problem make_problem(Type t, Kind kind, int64_t n_rows, int64_t n_acts, uint64_t seed) {
    Problem p{t, kind, test_row_length(t), n_rows, n_acts, 0, 0, {}, {}, {}, {}};
    const ActFormat f = act_format(t, kind);
    p.w_row_bytes = row_bytes(t, p.n);
    p.act_row_bytes = act_row_bytes(f, p.n);
    p.w.resize(p.w_row_bytes * n_rows);
    fill_random_rows(t, p.w.data(), n_rows, p.n, seed);
    p.w_deq.resize(static_cast<size_t>(n_rows * p.n));
    for (int64_t r = 0; r < n_rows; ++r)
        dequantize_row(t, p.w.data() + r * p.w_row_bytes, p.w_deq.data() + r * p.n, p.n);
    const std::vector<float> x = random_activations(n_acts, p.n, seed + 1);
    p.act.resize(p.act_row_bytes * n_acts);
    p.act_deq.resize(static_cast<size_t>(n_acts * p.n));
    for (int64_t a = 0; a < n_acts; ++a) {
        uint8_t* row = p.act.data() + a * p.act_row_bytes;
        quantize_activation(f, x.data() + a * p.n, p.n, row);
        const std::vector<float> deq = dequantize_activation(f, row, p.n);
        std::copy(deq.begin(), deq.end(), p.act_deq.begin() + a * p.n);
    }
    return p;
}

double abs_term_sum(const Problem& p, int64_t r, int64_t a) {
    double sum = 0.0;
    for (int64_t i = 0; i < p.n; ++i)
        sum += std::fabs(static_cast<double>(p.w_deq[r * p.n + i]) * p.act_deq[a * p.n + i]);
    return sum;
}

// Runs rows [r0, r0 + nr) x acts [a0, a0 + na); the result is indexed [a * n_rows + r] over the
// whole problem, NaN where not computed. The output stride is padded so stray writes show.
std::vector<float> run(const Problem& p, DotKernel kernel, int64_t r0, int64_t nr, int64_t a0,
                       int64_t na) {
    const int64_t stride = nr + 3;
    std::vector<float> buffer(static_cast<size_t>(stride * na),
                              std::numeric_limits<float>::quiet_NaN());
    const DotArgs args{p.w.data() + r0 * p.w_row_bytes,
                       p.w_row_bytes,
                       nr,
                       p.act.data() + a0 * p.act_row_bytes,
                       p.act_row_bytes,
                       na,
                       p.n,
                       buffer.data(),
                       stride};
    kernel(args);
    std::vector<float> out(static_cast<size_t>(p.n_rows * p.n_acts),
                           std::numeric_limits<float>::quiet_NaN());
    for (int64_t a = 0; a < na; ++a) {
        for (int64_t r = 0; r < nr; ++r) out[(a0 + a) * p.n_rows + r0 + r] = buffer[a * stride + r];
        for (int64_t r = nr; r < stride; ++r)
            EXPECT_TRUE(std::isnan(buffer[a * stride + r])) << "write past n_rows at a=" << a;
    }
    return out;
}

std::string describe(const Problem& p, IsaLevel level) {
    return type_name(p.type) + " " + kind_name(p.kind) + " " + isa_name(level);
}

class QuantSimd : public ::testing::TestWithParam<Type> {};

// Guards the dispatch tables: a level that silently falls back to a lower one would make every
// comparison below vacuous.
TEST_P(QuantSimd, EverySupportedLevelHasItsOwnKernels) {
    const Type t = GetParam();
    for (IsaLevel level : simd_levels()) {
        const TypeKernels& lower = kernels(t, static_cast<IsaLevel>(static_cast<int>(level) - 1));
        const TypeKernels& own = kernels(t, level);
        EXPECT_NE(own.dot_q, lower.dot_q) << type_name(t) << " " << isa_name(level);
        EXPECT_NE(own.dot_f32, lower.dot_f32) << type_name(t) << " " << isa_name(level);
    }
}

TEST_P(QuantSimd, AgreesWithScalarWithinContractTolerance) {
    for (Kind kind : {Kind::Quantized, Kind::Float}) {
        const Problem p = make_problem(GetParam(), kind, 33, kTestActs, 1234);
        const DotKernel scalar = kernel_of(p.type, IsaLevel::Scalar, kind);
        ASSERT_NE(scalar, nullptr) << describe(p, IsaLevel::Scalar);
        const std::vector<float> ref = run(p, scalar, 0, p.n_rows, 0, p.n_acts);
        for (IsaLevel level : simd_levels()) {
            const DotKernel kernel = kernel_of(p.type, level, kind);
            ASSERT_NE(kernel, nullptr) << describe(p, level);
            const std::vector<float> got = run(p, kernel, 0, p.n_rows, 0, p.n_acts);
            int failures = 0;
            for (int64_t a = 0; a < p.n_acts; ++a) {
                for (int64_t r = 0; r < p.n_rows; ++r) {
                    const double bound = 1e-5 * abs_term_sum(p, r, a);
                    const double diff = std::fabs(static_cast<double>(got[a * p.n_rows + r]) -
                                                  ref[a * p.n_rows + r]);
                    if (!(diff <= bound) && failures++ < 5)
                        ADD_FAILURE() << describe(p, level) << " r=" << r << " a=" << a
                                      << " simd=" << got[a * p.n_rows + r]
                                      << " scalar=" << ref[a * p.n_rows + r] << " bound=" << bound;
                }
            }
        }
    }
}

TEST_P(QuantSimd, ResultsAreIndependentOfTiling) {
    for (Kind kind : {Kind::Quantized, Kind::Float}) {
        const Problem p = make_problem(GetParam(), kind, 33, kTestActs, 99);
        for (IsaLevel level : supported_levels()) {
            const DotKernel kernel = kernel_of(p.type, level, kind);
            ASSERT_NE(kernel, nullptr) << describe(p, level);
            const std::vector<float> full = run(p, kernel, 0, p.n_rows, 0, p.n_acts);
            for (float v : full) ASSERT_TRUE(std::isfinite(v)) << describe(p, level);
            int failures = 0;
            auto expect_same = [&](const std::vector<float>& part, const char* what) {
                for (size_t i = 0; i < full.size(); ++i) {
                    if (std::isnan(part[i])) continue;
                    if (std::bit_cast<uint32_t>(part[i]) != std::bit_cast<uint32_t>(full[i]) &&
                        failures++ < 5)
                        ADD_FAILURE()
                            << describe(p, level) << " " << what << ": r=" << i % p.n_rows
                            << " a=" << i / p.n_rows << " part=" << part[i] << " full=" << full[i];
                }
            };
            for (int64_t r = 0; r < p.n_rows; ++r)
                for (int64_t a = 0; a < p.n_acts; ++a)
                    expect_same(run(p, kernel, r, 1, a, 1), "single row and activation");
            for (int64_t nr : {1, 3, 5, 17, 33}) {
                for (int64_t na = 1; na <= p.n_acts; ++na) {
                    for (int64_t r0 : {int64_t{0}, p.n_rows - nr, (p.n_rows - nr) / 2})
                        for (int64_t a0 : {int64_t{0}, p.n_acts - na})
                            expect_same(run(p, kernel, r0, nr, a0, na), "sub-block");
                }
            }
        }
    }
}

// Restores the kernel level on scope exit (set_isa_limit is process-wide).
class IsaLimitGuard {
  public:
    IsaLimitGuard() : saved_(active_isa()) {}
    ~IsaLimitGuard() { set_isa_limit(saved_); }
    IsaLimitGuard(const IsaLimitGuard&) = delete;
    IsaLimitGuard& operator=(const IsaLimitGuard&) = delete;

  private:
    IsaLevel saved_;
};

TEST_P(QuantSimd, MatmulIsIndependentOfThreadCount) {
    const Type t = GetParam();
    // Enough weight bytes that matmul splits rows over the pool; an odd row count.
    const int64_t n_in = 1024, n_out = 257, n_tokens = 9;
    std::vector<uint8_t> data(row_bytes(t, n_in) * n_out);
    fill_random_rows(t, data.data(), n_out, n_in, 7);
    const WeightMatrix w{t, data.data(), n_in, n_out, row_bytes(t, n_in)};
    const std::vector<float> x = random_activations(n_tokens, n_in, 8);
    IsaLimitGuard guard;
    for (IsaLevel level : supported_levels()) {
        set_isa_limit(level);
        for (Numerics numerics : {Numerics::Q8, Numerics::F32}) {
            const DotKernel kernel =
                numerics == Numerics::Q8 ? kernels(t, level).dot_q : kernels(t, level).dot_f32;
            // The reference: one kernel call on the whole matrix, activations prepared alike.
            const ActFormat f = activation_format(t, numerics);
            const size_t act_bytes = act_row_bytes(f, n_in);
            std::vector<uint8_t> act(act_bytes * n_tokens);
            for (int64_t k = 0; k < n_tokens; ++k)
                quantize_activation(f, x.data() + k * n_in, n_in, act.data() + k * act_bytes);
            std::vector<float> expected(static_cast<size_t>(n_out * n_tokens));
            kernel({data.data(), w.row_bytes, n_out, act.data(), act_bytes, n_tokens, n_in,
                    expected.data(), n_out});
            for (unsigned threads = 1; threads <= 4; ++threads) {
                ThreadPool pool(threads);
                MatmulScratch scratch;
                std::vector<float> out(expected.size(), -1.0f);
                matmul(w, x.data(), n_tokens, out.data(), numerics, pool, scratch);
                EXPECT_EQ(0, std::memcmp(out.data(), expected.data(), sizeof(float) * out.size()))
                    << type_name(t) << " " << isa_name(level) << " threads=" << threads
                    << (numerics == Numerics::Q8 ? " q8" : " f32");
                std::vector<float> prepared(expected.size(), -1.0f);
                matmul_prepared(w, act.data(), act_bytes, n_tokens, prepared.data(), n_out,
                                numerics, pool);
                EXPECT_EQ(0, std::memcmp(prepared.data(), expected.data(),
                                         sizeof(float) * prepared.size()))
                    << type_name(t) << " " << isa_name(level) << " threads=" << threads
                    << " prepared";
            }
        }
    }
}

// The AVX-512 kernels without GFNI are what a CPU lacking it runs; on one that has it they are
// only reachable here, so they get the contract checks of the dispatched kernels.
TEST_P(QuantSimd, Avx512FallbackWithoutGfniAgreesWithScalarAndIgnoresTiling) {
    if (!level_supported(IsaLevel::Avx512)) GTEST_SKIP() << "no AVX-512 level on this CPU";
    const Type t = GetParam();
    const DotKernel kernel = detail::avx512_kernels_without_gfni(t).dot_q;
    ASSERT_NE(kernel, nullptr);
    const Problem p = make_problem(t, Kind::Quantized, 33, kTestActs, 4321);
    const std::vector<float> ref =
        run(p, kernel_of(t, IsaLevel::Scalar, Kind::Quantized), 0, p.n_rows, 0, p.n_acts);
    const std::vector<float> full = run(p, kernel, 0, p.n_rows, 0, p.n_acts);
    int failures = 0;
    for (int64_t a = 0; a < p.n_acts; ++a)
        for (int64_t r = 0; r < p.n_rows; ++r) {
            const size_t i = static_cast<size_t>(a * p.n_rows + r);
            if (!(std::fabs(static_cast<double>(full[i]) - ref[i]) <=
                  1e-5 * abs_term_sum(p, r, a)) &&
                failures++ < 5)
                ADD_FAILURE() << type_name(t) << " r=" << r << " a=" << a << " got=" << full[i]
                              << " scalar=" << ref[i];
        }
    for (int64_t nr : {1, 3, 17})
        for (int64_t na : {int64_t{1}, int64_t{2}, p.n_acts}) {
            const std::vector<float> part = run(p, kernel, p.n_rows - nr, nr, 0, na);
            for (size_t i = 0; i < part.size(); ++i)
                if (!std::isnan(part[i]) &&
                    std::bit_cast<uint32_t>(part[i]) != std::bit_cast<uint32_t>(full[i]) &&
                    failures++ < 5)
                    ADD_FAILURE() << type_name(t) << " nr=" << nr << " na=" << na << " i=" << i;
        }
}

INSTANTIATE_TEST_SUITE_P(AllDotTypes, QuantSimd, ::testing::ValuesIn(kDotTypes),
                         [](const ::testing::TestParamInfo<Type>& info) {
                             return type_name(info.param);
                         });

// ---- ggml's oracle vectors ----------------------------------------------------------------------

TEST(QuantSimdGolden, EveryLevelMatchesExactSumOnGgmlActivations) {
    const std::vector<std::string> paths = test::quant_golden_files(test::golden_dir() + "/quant");
    ASSERT_FALSE(paths.empty()) << "no golden quant files";
    int checked_types = 0;
    for (const std::string& path : paths) {
        const test::QuantGoldenFile file(path);
        if (!file.has_vec_dot() || !file.type()) continue;
        const Type t = *file.type();
        if (type_info(t).act == ActFormat::None) continue;
        ++checked_types;
        const int64_t n = file.row_len();
        std::vector<uint8_t> acts;
        for (int64_t a = 0; a < file.n_act(); ++a) {
            const std::vector<uint8_t> row = test::engine_activation_from_ggml(file, a);
            acts.insert(acts.end(), row.begin(), row.end());
        }
        const size_t act_bytes = acts.size() / file.n_act();
        std::vector<float> out(static_cast<size_t>(file.n_rows() * file.n_act()));
        for (IsaLevel level : supported_levels()) {
            const DotKernel kernel = kernels(t, level).dot_q;
            ASSERT_NE(kernel, nullptr) << file.type_name();
            kernel({file.q_row(0), file.row_bytes(), file.n_rows(), acts.data(), act_bytes,
                    file.n_act(), n, out.data(), file.n_rows()});
            for (int64_t r = 0; r < file.n_rows(); ++r) {
                for (int64_t a = 0; a < file.n_act(); ++a) {
                    const double got = out[a * file.n_rows() + r];
                    const double abs_sum = file.dot_abs_f64(r, a);
                    const double err = std::fabs(got - file.dot_q_f64(r, a));
                    if (abs_sum == 0.0) {
                        EXPECT_EQ(got, 0.0) << file.type_name() << " r=" << r << " a=" << a;
                    } else {
                        EXPECT_LE(err / abs_sum, 1e-5)
                            << file.type_name() << " " << isa_name(level) << " r=" << r
                            << " a=" << a << " got=" << got << " exact=" << file.dot_q_f64(r, a);
                    }
                }
            }
        }
    }
    EXPECT_GE(checked_types, 11);
}

// ---- the synthetic row generator ----------------------------------------------------------------

TEST(SynthBlocks, RowsAreDeterministicPerSeedAndRow) {
    for (Type t : kDotTypes) {
        const int64_t n = 512;
        const size_t bytes = row_bytes(t, n);
        std::vector<uint8_t> five(bytes * 5), three(bytes * 3), other(bytes * 5);
        fill_random_rows(t, five.data(), 5, n, 42);
        fill_random_rows(t, three.data(), 3, n, 42);
        fill_random_rows(t, other.data(), 5, n, 43);
        EXPECT_EQ(0, std::memcmp(five.data(), three.data(), three.size())) << type_name(t);
        EXPECT_NE(0, std::memcmp(five.data(), other.data(), five.size())) << type_name(t);
        EXPECT_NE(0, std::memcmp(five.data(), five.data() + bytes, bytes)) << type_name(t);
    }
}

TEST(SynthBlocks, RowsDequantizeToFiniteWeightsOfRealisticSize) {
    for (Type t : kDotTypes) {
        const int64_t n = 4096, rows = 8;
        std::vector<uint8_t> data(row_bytes(t, n) * rows);
        fill_random_rows(t, data.data(), rows, n, 5);
        std::vector<float> deq(static_cast<size_t>(n));
        double sum_sq = 0.0;
        float max_abs = 0.0f;
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, data.data() + r * row_bytes(t, n), deq.data(), n);
            for (float v : deq) {
                ASSERT_TRUE(std::isfinite(v)) << type_name(t);
                sum_sq += static_cast<double>(v) * v;
                max_abs = std::max(max_abs, std::fabs(v));
            }
        }
        const double rms = std::sqrt(sum_sq / static_cast<double>(n * rows));
        EXPECT_GT(rms, 1e-3) << type_name(t);
        EXPECT_LT(rms, 0.2) << type_name(t);
        EXPECT_LT(max_abs, 2.0f) << type_name(t);
        if (type_info(t).block_elems == 1) {
            EXPECT_NEAR(rms, 0.02, 0.002) << type_name(t);
        }
    }
}

TEST(SynthBlocks, Q8KRowsHaveConsistentBlockSums) {
    std::vector<uint8_t> data(row_bytes(Type::Q8_K, 1024) * 2);
    fill_random_rows(Type::Q8_K, data.data(), 2, 1024, 3);
    for (size_t b = 0; b < data.size() / sizeof(BlockQ8K); ++b) {
        BlockQ8K block;
        std::memcpy(&block, data.data() + b * sizeof block, sizeof block);
        EXPECT_TRUE(std::isfinite(block.d) && block.d != 0.0f);
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += block.qs[16 * g + j];
            EXPECT_EQ(sum, block.bsums[g]);
        }
    }
}

TEST(SynthBlocks, RejectsTypesWithoutDequantizerAndRaggedRows) {
    std::vector<uint8_t> data(4096);
    EXPECT_THROW(fill_random_rows(Type::Q4_1, data.data(), 1, 32, 0), std::invalid_argument);
    EXPECT_THROW(fill_random_rows(Type::Q4_K, data.data(), 1, 200, 0), std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::quant
