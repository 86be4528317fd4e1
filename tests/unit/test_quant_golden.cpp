// Checks the scalar quant reference against ggml's oracle vectors (<golden>/quant/*.bin): exact
// dequantization and activation quantization, dot products within the README's tolerances.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/quant/fp16.h"
#include "engine/quant/kernels.h"
#include "tests/unit/golden_dir.h"
#include "tests/unit/quant_golden.h"

namespace dsv4::quant {
namespace {

using test::QuantGoldenFile;

std::string quant_dir() {
    return test::golden_dir() + "/quant";
}

// Loaded once; every file is a few hundred kilobytes.
const std::vector<QuantGoldenFile>& golden_files() {
    static const std::vector<QuantGoldenFile> files = [] {
        std::vector<QuantGoldenFile> loaded;
        for (const std::string& path : test::quant_golden_files(quant_dir()))
            loaded.emplace_back(path);
        return loaded;
    }();
    return files;
}

const TypeInfo* engine_info(const QuantGoldenFile& f) {
    return type_info(f.type_id());
}

// Files of types the engine dequantizes. Any other file is reported, never dropped silently.
std::vector<const QuantGoldenFile*> dequantizable_files() {
    std::vector<const QuantGoldenFile*> out;
    for (const QuantGoldenFile& f : golden_files()) {
        const TypeInfo* info = engine_info(f);
        if (info != nullptr && info->dequantize) {
            out.push_back(&f);
        } else {
            std::cout << "[ note ] " << f.path() << ": type " << f.type_name()
                      << " is not dequantized by the engine; not tested\n";
        }
    }
    return out;
}

// Files whose weight type has dot kernels in the engine and dot data in the file.
std::vector<const QuantGoldenFile*> dot_files() {
    std::vector<const QuantGoldenFile*> out;
    for (const QuantGoldenFile* f : dequantizable_files())
        if (engine_info(*f)->act != ActFormat::None && f->has_vec_dot()) out.push_back(f);
    return out;
}

// -0.0 and +0.0 compare equal; everything else must match bit for bit.
uint32_t canonical_bits(float v) {
    return v == 0.0f ? 0u : std::bit_cast<uint32_t>(v);
}

// Counts elements whose bits differ and describes the first one.
struct Mismatches {
    int64_t count = 0;
    std::string first;
};
Mismatches compare_exact(std::span<const float> expected, const std::vector<float>& actual) {
    Mismatches m;
    for (size_t i = 0; i < expected.size(); ++i) {
        if (canonical_bits(expected[i]) == canonical_bits(actual[i])) continue;
        if (m.count++ == 0)
            m.first = "element " + std::to_string(i) + ": expected " + std::to_string(expected[i]) +
                      " got " + std::to_string(actual[i]);
    }
    return m;
}

TEST(QuantGolden, CoreFilesPresentAndConsistentWithTypeTable) {
    const auto& files = golden_files();
    ASSERT_FALSE(files.empty()) << "no GGQGOLD1 files in " << quant_dir();
    std::set<Type> present;
    for (const QuantGoldenFile& f : files) {
        SCOPED_TRACE(f.path());
        const TypeInfo* info = engine_info(f);
        ASSERT_NE(info, nullptr) << "unknown ggml type id " << f.type_id();
        EXPECT_EQ(info->name, f.type_name());
        EXPECT_EQ(info->block_elems, f.block_size());
        EXPECT_EQ(info->block_bytes, f.type_size());
        EXPECT_EQ(row_bytes(*info, f.row_len()), f.row_bytes());
        EXPECT_GT(f.n_rows(), 0);
        present.insert(info->type);
    }
    for (Type t : {Type::F32, Type::F16, Type::BF16, Type::Q8_0, Type::Q4_0, Type::MXFP4,
                   Type::Q2_K, Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ2_XXS, Type::Q8_K})
        EXPECT_TRUE(present.count(t)) << "no oracle file for " << type_info(t).name;
}

TEST(QuantGolden, DequantizeRowIsBitExact) {
    for (const QuantGoldenFile* f : dequantizable_files()) {
        SCOPED_TRACE(f->path());
        std::vector<float> out(static_cast<size_t>(f->row_len()));
        for (int64_t r = 0; r < f->n_rows(); ++r) {
            dequantize_row(*f->type(), f->q_row(r), out.data(), f->row_len());
            const Mismatches m = compare_exact(f->deq_row(r), out);
            EXPECT_EQ(m.count, 0) << "row " << r << ", " << m.first;
        }
    }
}

// act_q_deq is ggml's dequantization of act_q in the vec_dot type, whose bytes are also a valid
// weight row of that type (ggml's block_q8_0 / block_q8_K, f16, bf16, f32).
TEST(QuantGolden, ActivationDequantizationIsBitExact) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const TypeInfo* vdt = type_info(f->vec_dot_type_id());
        ASSERT_NE(vdt, nullptr);
        ASSERT_TRUE(vdt->dequantize);
        ASSERT_EQ(row_bytes(*vdt, f->row_len()), f->act_row_bytes());
        std::vector<float> out(static_cast<size_t>(f->row_len()));
        for (int64_t a = 0; a < f->n_act(); ++a) {
            dequantize_row(vdt->type, f->act_q_row(a), out.data(), f->row_len());
            const Mismatches m = compare_exact(f->act_q_deq_row(a), out);
            EXPECT_EQ(m.count, 0) << "activation " << a << ", " << m.first;
        }
    }
}

// ---- 16-bit float conversions -----------------------------------------------------------------

using HalfConversion = uint16_t (*)(float);

void expect_half_conversion(const float* src, const uint8_t* expected, int64_t n,
                            HalfConversion convert, const std::string& what) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint16_t want;
        std::memcpy(&want, expected + 2 * i, 2);
        if (convert(src[i]) != want && bad++ == 0)
            ADD_FAILURE() << what << " element " << i << ": " << src[i] << " -> " << convert(src[i])
                          << ", ggml " << want;
    }
    EXPECT_EQ(bad, 0) << what;
}

TEST(QuantGolden, HalfConversionsMatchGgml) {
    int tested = 0;
    for (const QuantGoldenFile* f : dequantizable_files()) {
        const Type t = *f->type();
        if (t != Type::F16 && t != Type::BF16) continue;
        SCOPED_TRACE(f->path());
        ++tested;
        const HalfConversion convert = t == Type::F16 ? f32_to_f16 : f32_to_bf16;
        const std::vector<float> weights =
            test::read_source_weights(quant_dir(), f->n_rows(), f->row_len());
        for (int64_t r = 0; r < f->n_rows(); ++r)
            expect_half_conversion(weights.data() + r * f->row_len(), f->q_row(r), f->row_len(),
                                   convert, "weight row " + std::to_string(r));
        for (int64_t a = 0; a < f->n_act(); ++a)
            expect_half_conversion(f->act_f32_row(a).data(), f->act_q_row(a), f->row_len(), convert,
                                   "activation " + std::to_string(a));
    }
    EXPECT_EQ(tested, 2) << "expected an F16 and a BF16 oracle file";
}

// ---- Activation quantizers --------------------------------------------------------------------

constexpr size_t kGgmlQ8_0Bytes = 34;

// Our planar Q8_0 row against ggml's block_q8_0 bytes: q identical, d identical once rounded
// to f16 as ggml stores it.
void expect_q8_0_matches_ggml(const std::vector<uint8_t>& ours, const uint8_t* ggml, int64_t n,
                              const std::string& what) {
    const ConstActQ8_0 view = act_q8_0_view(ours.data(), n);
    int64_t bad_q = 0, bad_d = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* block = ggml + b * kGgmlQ8_0Bytes;
        uint16_t d16;
        std::memcpy(&d16, block, 2);
        if (f32_to_f16(view.d[b]) != d16 && bad_d++ == 0)
            ADD_FAILURE() << what << " block " << b << ": d " << view.d[b] << " vs f16 " << d16;
        int32_t sum = 0;
        for (int j = 0; j < 32; ++j) {
            const int8_t want = static_cast<int8_t>(block[2 + j]);
            const int8_t got = view.q[32 * b + j];
            sum += got;
            if (got != want && bad_q++ == 0)
                ADD_FAILURE() << what << " block " << b << " q[" << j << "] " << int(got)
                              << " vs ggml " << int(want);
        }
        EXPECT_EQ(view.sum[b], sum) << what << " block " << b;
    }
    EXPECT_EQ(bad_q, 0) << what;
    EXPECT_EQ(bad_d, 0) << what;
}

TEST(QuantGolden, Q8_0ActivationQuantizersMatchGgml) {
    int tested = 0;
    for (const QuantGoldenFile* f : dot_files()) {
        if (engine_info(*f)->act != ActFormat::Q8_0) continue;
        SCOPED_TRACE(f->path());
        ++tested;
        const int64_t n = f->row_len();
        ASSERT_EQ(f->act_row_bytes(), static_cast<size_t>(n / 32) * kGgmlQ8_0Bytes);
        std::vector<uint8_t> ours(act_row_bytes(ActFormat::Q8_0, n));
        for (int64_t a = 0; a < f->n_act(); ++a) {
            const float* x = f->act_f32_row(a).data();
            quantize_act_q8_0(x, n, ours.data(), Q8_0Rounding::GgmlX86);
            expect_q8_0_matches_ggml(ours, f->act_q_row(a), n, "x86 act " + std::to_string(a));
            quantize_act_q8_0(x, n, ours.data(), Q8_0Rounding::GgmlRef);
            expect_q8_0_matches_ggml(ours, f->act_q_ref_row(a), n, "ref act " + std::to_string(a));
        }
    }
    EXPECT_GT(tested, 0);
}

// Ds4 shares ggml's reference d and 1/d and only rounds ties differently: away from ggml's
// reference value exactly where x * (1/d) is a half-integer, and then to the even neighbour.
TEST(QuantGolden, Q8_0Ds4RoundingDiffersFromGgmlRefOnlyOnTies) {
    int64_t ties_seen = 0;
    for (const QuantGoldenFile* f : dot_files()) {
        if (engine_info(*f)->act != ActFormat::Q8_0) continue;
        SCOPED_TRACE(f->path());
        const int64_t n = f->row_len();
        std::vector<uint8_t> ours(act_row_bytes(ActFormat::Q8_0, n));
        for (int64_t a = 0; a < f->n_act(); ++a) {
            const float* x = f->act_f32_row(a).data();
            quantize_act_q8_0(x, n, ours.data(), Q8_0Rounding::Ds4);
            const ConstActQ8_0 view = act_q8_0_view(std::as_const(ours).data(), n);
            for (int64_t i = 0; i < n; ++i) {
                const int64_t b = i / 32;
                float amax = 0.0f;
                for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
                const float d = amax / 127.0f;
                const float scaled = x[i] * (d != 0.0f ? 1.0f / d : 0.0f);
                const int8_t ref = static_cast<int8_t>(f->act_q_ref_row(a)[b * 34 + 2 + i % 32]);
                const int8_t got = view.q[i];
                const bool tie = std::fabs(scaled - std::trunc(scaled)) == 0.5f;
                if (!tie) {
                    ASSERT_EQ(got, ref) << "act " << a << " element " << i;
                    continue;
                }
                ++ties_seen;
                ASSERT_EQ(std::fabs(static_cast<float>(got) - scaled), 0.5f);
                ASSERT_EQ(got % 2, 0) << "act " << a << " element " << i << " x*id " << scaled;
            }
        }
    }
    std::cout << "[ info ] Q8_0 ties checked: " << ties_seen << "\n";
}

// Our Q8_K row against ggml's block_q8_K bytes: d and qs identical, bsums too unless d == 0
// (ggml leaves them unwritten then).
void expect_q8_k_matches_ggml(const uint8_t* ours, const uint8_t* ggml, int64_t n,
                              const std::string& what) {
    for (int64_t b = 0; b < n / 256; ++b) {
        BlockQ8K mine, theirs;
        std::memcpy(&mine, ours + b * sizeof(BlockQ8K), sizeof mine);
        std::memcpy(&theirs, ggml + b * sizeof(BlockQ8K), sizeof theirs);
        ASSERT_EQ(std::bit_cast<uint32_t>(mine.d), std::bit_cast<uint32_t>(theirs.d))
            << what << " block " << b << ": d " << mine.d << " vs " << theirs.d;
        ASSERT_EQ(std::memcmp(mine.qs, theirs.qs, sizeof mine.qs), 0) << what << " block " << b;
        if (theirs.d != 0.0f) {
            ASSERT_EQ(std::memcmp(mine.bsums, theirs.bsums, sizeof mine.bsums), 0)
                << what << " block " << b;
        }
    }
}

TEST(QuantGolden, Q8_KActivationQuantizerMatchesGgml) {
    int tested = 0;
    for (const QuantGoldenFile* f : dot_files()) {
        if (engine_info(*f)->act != ActFormat::Q8_K) continue;
        SCOPED_TRACE(f->path());
        ++tested;
        const int64_t n = f->row_len();
        ASSERT_EQ(f->act_row_bytes(), act_row_bytes(ActFormat::Q8_K, n));
        std::vector<uint8_t> ours(act_row_bytes(ActFormat::Q8_K, n));
        for (int64_t a = 0; a < f->n_act(); ++a) {
            quantize_act_q8_k(f->act_f32_row(a).data(), n, ours.data());
            expect_q8_k_matches_ggml(ours.data(), f->act_q_row(a), n, "act " + std::to_string(a));
            expect_q8_k_matches_ggml(ours.data(), f->act_q_ref_row(a), n,
                                     "ref act " + std::to_string(a));
        }
    }
    EXPECT_GT(tested, 0);
}

// Q8_K.bin's rows are quantize_row_q8_K_ref of the shared source weights.
TEST(QuantGolden, Q8_KQuantizerReproducesQ8_KWeights) {
    int tested = 0;
    for (const QuantGoldenFile* f : dequantizable_files()) {
        if (*f->type() != Type::Q8_K) continue;
        SCOPED_TRACE(f->path());
        ++tested;
        const int64_t n = f->row_len();
        const std::vector<float> source = test::read_source_weights(quant_dir(), f->n_rows(), n);
        std::vector<uint8_t> ours(act_row_bytes(ActFormat::Q8_K, n));
        for (int64_t r = 0; r < f->n_rows(); ++r) {
            quantize_act_q8_k(source.data() + r * n, n, ours.data());
            expect_q8_k_matches_ggml(ours.data(), f->q_row(r), n, "row " + std::to_string(r));
        }
    }
    EXPECT_EQ(tested, 1);
}

// ---- Dot products -----------------------------------------------------------------------------

// |value - reference| / dot_abs_f64, the README's normalised error.
double normalised_error(const QuantGoldenFile& f, int64_t r, int64_t a, double value,
                        double reference) {
    const double scale = f.dot_abs_f64(r, a);
    const double err = std::fabs(value - reference);
    return scale > 0.0 ? err / scale : err;
}

// All rows times all activations in one kernel call: out[a * n_rows + r].
std::vector<float> run_kernel(DotKernel kernel, const QuantGoldenFile& f,
                              const std::vector<uint8_t>& acts, size_t act_bytes) {
    std::vector<float> out(static_cast<size_t>(f.n_rows() * f.n_act()));
    const DotArgs args{f.q_row(0), f.row_bytes(), f.n_rows(), acts.data(), act_bytes,
                       f.n_act(),  f.row_len(),   out.data(), f.n_rows()};
    kernel(args);
    return out;
}

std::vector<uint8_t> ggml_activations(const QuantGoldenFile& f) {
    std::vector<uint8_t> acts;
    for (int64_t a = 0; a < f.n_act(); ++a) {
        const std::vector<uint8_t> row = test::engine_activation_from_ggml(f, a);
        acts.insert(acts.end(), row.begin(), row.end());
    }
    return acts;
}

std::vector<uint8_t> f32_activations(const QuantGoldenFile& f, bool ggml_rounded) {
    std::vector<uint8_t> acts(sizeof(float) * static_cast<size_t>(f.n_act() * f.row_len()));
    for (int64_t a = 0; a < f.n_act(); ++a) {
        const auto row = ggml_rounded ? f.act_q_deq_row(a) : f.act_f32_row(a);
        std::memcpy(acts.data() + a * row.size_bytes(), row.data(), row.size_bytes());
    }
    return acts;
}

constexpr double kF32AccumulationTolerance = 1e-5;

// Fed the exact activation values ggml's vec_dot used, the kernels compute the same sum up to
// f32 accumulation order.
TEST(QuantGolden, ScalarDotOnGgmlActivationsMatchesExactSum) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const Type t = *f->type();
        const TypeKernels& k = kernels(t, IsaLevel::Scalar);
        ASSERT_NE(k.dot_q, nullptr);
        ASSERT_NE(k.dot_f32, nullptr);
        const ActFormat format = type_info(t).act;
        const std::vector<uint8_t> q_acts = ggml_activations(*f);
        const std::vector<float> dot_q =
            run_kernel(k.dot_q, *f, q_acts, act_row_bytes(format, f->row_len()));
        // The same activation values as f32 (ggml's act_q_deq) through the f32 path.
        const std::vector<uint8_t> deq_acts = f32_activations(*f, true);
        const std::vector<float> dot_f32 =
            run_kernel(k.dot_f32, *f, deq_acts, sizeof(float) * f->row_len());
        double worst_q = 0.0, worst_f32 = 0.0;
        for (int64_t a = 0; a < f->n_act(); ++a) {
            for (int64_t r = 0; r < f->n_rows(); ++r) {
                const double want = f->dot_q_f64(r, a);
                const size_t i = static_cast<size_t>(a * f->n_rows() + r);
                worst_q = std::max(worst_q, normalised_error(*f, r, a, dot_q[i], want));
                worst_f32 = std::max(worst_f32, normalised_error(*f, r, a, dot_f32[i], want));
            }
        }
        EXPECT_LE(worst_q, kF32AccumulationTolerance) << "dot_q";
        EXPECT_LE(worst_f32, kF32AccumulationTolerance) << "dot_f32";
    }
}

// ggml's own end-to-end error for this file: its activation quantization against f32 inputs.
double ggml_end_to_end_error(const QuantGoldenFile& f) {
    double worst = 0.0;
    for (int64_t r = 0; r < f.n_rows(); ++r)
        for (int64_t a = 0; a < f.n_act(); ++a)
            worst =
                std::max(worst, normalised_error(f, r, a, f.dot_q_f64(r, a), f.dot_ref_f64(r, a)));
    return worst;
}

// From f32 activations: the engine's own quantization (Ds4 rounding, f32 scales) must do no worse
// than twice ggml's error on the same data, with a floor for types ggml computes exactly.
TEST(QuantGolden, EndToEndFromF32WithinTwiceGgmlError) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const Type t = *f->type();
        const ActFormat format = type_info(t).act;
        const int64_t n = f->row_len();
        const size_t act_bytes = act_row_bytes(format, n);
        std::vector<uint8_t> acts(act_bytes * static_cast<size_t>(f->n_act()));
        for (int64_t a = 0; a < f->n_act(); ++a)
            quantize_activation(format, f->act_f32_row(a).data(), n, acts.data() + a * act_bytes);
        const std::vector<float> dots =
            run_kernel(kernels(t, IsaLevel::Scalar).dot_q, *f, acts, act_bytes);
        const double bound = 2.0 * ggml_end_to_end_error(*f) + kF32AccumulationTolerance;
        for (int64_t a = 0; a < f->n_act(); ++a)
            for (int64_t r = 0; r < f->n_rows(); ++r)
                EXPECT_LE(normalised_error(*f, r, a, dots[static_cast<size_t>(a * f->n_rows() + r)],
                                           f->dot_ref_f64(r, a)),
                          bound)
                    << "row " << r << " act " << a;
    }
}

TEST(QuantGolden, DotF32OnF32ActivationsMatchesReferenceSum) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const std::vector<uint8_t> acts = f32_activations(*f, false);
        const std::vector<float> dots = run_kernel(kernels(*f->type(), IsaLevel::Scalar).dot_f32,
                                                   *f, acts, sizeof(float) * f->row_len());
        for (int64_t a = 0; a < f->n_act(); ++a)
            for (int64_t r = 0; r < f->n_rows(); ++r)
                EXPECT_LE(normalised_error(*f, r, a, dots[static_cast<size_t>(a * f->n_rows() + r)],
                                           f->dot_ref_f64(r, a)),
                          kF32AccumulationTolerance)
                    << "row " << r << " act " << a;
    }
}

// The exact-numerics path: dequantize (bit-exact with ggml) and accumulate x * w in f32, strictly
// in element order. Rebuilt here from ggml's deq, so any reordering or dequantization slip shows.
TEST(QuantGolden, DotF32IsSequentialF32SumOverGgmlDequantization) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const std::vector<uint8_t> acts = f32_activations(*f, false);
        const std::vector<float> dots = run_kernel(kernels(*f->type(), IsaLevel::Scalar).dot_f32,
                                                   *f, acts, sizeof(float) * f->row_len());
        for (int64_t a = 0; a < f->n_act(); ++a) {
            const auto x = f->act_f32_row(a);
            for (int64_t r = 0; r < f->n_rows(); ++r) {
                const auto w = f->deq_row(r);
                float expected = 0.0f;
                for (size_t i = 0; i < w.size(); ++i) expected += x[i] * w[i];
                ASSERT_EQ(std::bit_cast<uint32_t>(dots[static_cast<size_t>(a * f->n_rows() + r)]),
                          std::bit_cast<uint32_t>(expected))
                    << "row " << r << " act " << a;
            }
        }
    }
}

// F32, F16 and BF16 weights take f32 activations in both modes: the two kernels are one sum.
TEST(QuantGolden, FloatWeightsDotQEqualsDotF32) {
    for (const QuantGoldenFile* f : dot_files()) {
        if (type_info(*f->type()).act != ActFormat::F32) continue;
        SCOPED_TRACE(f->path());
        const TypeKernels& k = kernels(*f->type(), IsaLevel::Scalar);
        const std::vector<uint8_t> acts = f32_activations(*f, false);
        const size_t act_bytes = sizeof(float) * f->row_len();
        const std::vector<float> q = run_kernel(k.dot_q, *f, acts, act_bytes);
        const std::vector<float> f32 = run_kernel(k.dot_f32, *f, acts, act_bytes);
        for (size_t i = 0; i < q.size(); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(q[i]), std::bit_cast<uint32_t>(f32[i])) << i;
    }
}

// Contract 1 of kernels.h: a (row, activation) result does not depend on the batch around it.
TEST(QuantGolden, ScalarDotIsIndependentOfBatchShape) {
    for (const QuantGoldenFile* f : dot_files()) {
        SCOPED_TRACE(f->path());
        const Type t = *f->type();
        const TypeKernels& k = kernels(t, IsaLevel::Scalar);
        const size_t q_bytes = act_row_bytes(type_info(t).act, f->row_len());
        const size_t f32_bytes = sizeof(float) * f->row_len();
        const std::vector<uint8_t> q_acts = ggml_activations(*f);
        const std::vector<uint8_t> f32_acts = f32_activations(*f, false);
        for (const auto& [kernel, acts, act_bytes] :
             {std::tuple{k.dot_q, &q_acts, q_bytes}, std::tuple{k.dot_f32, &f32_acts, f32_bytes}}) {
            const std::vector<float> batched = run_kernel(kernel, *f, *acts, act_bytes);
            for (int64_t a = 0; a < f->n_act(); ++a) {
                for (int64_t r = 0; r < f->n_rows(); ++r) {
                    float single = std::nanf("");
                    const DotArgs args{
                        f->q_row(r),  f->row_bytes(), 1, acts->data() + a * act_bytes, act_bytes, 1,
                        f->row_len(), &single,        1};
                    kernel(args);
                    ASSERT_EQ(std::bit_cast<uint32_t>(single),
                              std::bit_cast<uint32_t>(batched[a * f->n_rows() + r]))
                        << "row " << r << " act " << a;
                }
            }
        }
    }
}

}  // namespace
}  // namespace dsv4::quant
