// The whole forward pass against the reference engine's logits on the tiny golden models, one
// test per sidecar found in the golden directory: `exact` cases in f32 numerics with the
// per-row tolerance the golden README derives from the oracle's own noise, `qact` cases in q8
// numerics with loose, noise-derived bounds. Generation cases decode token by token.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tests/unit/test_forward_oracle.h"

namespace dsv4::test {
namespace {

constexpr int64_t kContextTokens = 2048;  // the oracle's --ctx
// Exact mode: a row may differ by max(1e-3 (max - min), this many times the oracle's own twin
// difference), the per-row rule that follows from the golden README's noise figures.
constexpr double kTwinFactor = 2.0;
// Q8 mode: activation quantization re-rolls on any last-bit difference; rows get twice that.
constexpr double kQ8TwinFactor = 4.0;
// An argmax is only compared where the top-2 gap exceeds the row's noise by this factor.
constexpr double kGapFactor = 4.0;

struct CaseRun {
    std::vector<float> logits;          // [rows][n_vocab]
    std::vector<int32_t> first_tokens;  // gen: argmax of the prefill's last row
};

CaseRun run_case(const GoldenCase& c, quant::Numerics numerics) {
    static std::map<std::string, std::unique_ptr<forward::LoadedModel>> models;
    auto& model = models[c.model_path];
    if (!model) model = forward::load_model(c.model_path);
    backend::cpu::CpuBackend backend(2);
    forward::ForwardOptions options;
    options.numerics = numerics;
    forward::Forward fwd(*model, backend, options);
    state::SequenceState seq(model->config, backend, kContextTokens);
    const std::vector<int32_t> prompt = c.meta["prompt_tokens"].int_list();
    CaseRun run;
    if (c.name != "gen") {
        run.logits = fwd.prefill(seq, prompt, forward::LogitRows::All);
        return run;
    }
    const std::vector<float> last = fwd.prefill(seq, prompt, forward::LogitRows::Last);
    run.first_tokens.push_back(
        static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    // Teacher-forced with the oracle's tokens so that one flipped argmax cannot derail the rest.
    const std::vector<int32_t> generated = c.meta["generated_tokens"].int_list();
    const auto n_rows = static_cast<size_t>(c.meta["n_rows"].number);
    for (size_t j = 0; j < n_rows; ++j) {
        const std::vector<float> row = fwd.decode(seq, generated[j]);
        run.logits.insert(run.logits.end(), row.begin(), row.end());
    }
    return run;
}

std::vector<GoldenCase> cases_or_empty() {
    try {
        return golden_cases();
    } catch (const std::exception&) {
        return {};  // reported by GoldenCases.ArePresent
    }
}

class GoldenLogits : public testing::TestWithParam<GoldenCase> {};

// What one case's rows look like next to the oracle, and next to the oracle's twin build.
struct CaseSummary {
    int64_t n_rows = 0;
    std::vector<double> rel_rms;
    int within_tolerance = 0;  // max abs diff <= max(1e-3 range, twin factor * twin)
    int jumps = 0;             // rows with rel RMS above kJumpRelRms
    int twin_jumps = 0;
    int argmax_agree = 0;
    int clear_rows = 0;  // rows whose top-2 gap is well above the noise
    int clear_argmax_agree = 0;
    double worst_over_tolerance = 0;
};

// A row "jumps" when a flipped rounding or top-k choice moved it far beyond float noise.
constexpr double kJumpRelRms = 1e-2;

CaseSummary summarize(const GoldenCase& c, const std::vector<float>& ours,
                      const std::vector<float>& oracle) {
    const double twin_factor = c.mode == "exact" ? kTwinFactor : kQ8TwinFactor;
    const auto n_vocab = static_cast<int64_t>(c.meta["n_vocab"].number);
    const Json& rows = c.meta["rows"];
    CaseSummary s;
    s.n_rows = static_cast<int64_t>(c.meta["n_rows"].number);
    for (int64_t r = 0; r < s.n_rows; ++r) {
        const RowComparison cmp =
            compare_row(ours.data() + r * n_vocab, oracle.data() + r * n_vocab, n_vocab);
        const Json& twin = rows.items[static_cast<size_t>(r)]["twin"];
        const double tolerance =
            std::max(1e-3 * cmp.range, twin_factor * twin["max_abs_diff"].number);
        s.rel_rms.push_back(cmp.rel_rms_diff);
        s.within_tolerance += cmp.max_abs_diff <= tolerance;
        s.worst_over_tolerance = std::max(s.worst_over_tolerance, cmp.max_abs_diff / tolerance);
        s.jumps += cmp.rel_rms_diff > kJumpRelRms;
        s.twin_jumps += twin["rel_rms_diff"].number > kJumpRelRms;
        s.argmax_agree += cmp.argmax_ours == cmp.argmax_oracle;
        const double noise = std::max(1e-3 * cmp.range, twin["max_abs_diff"].number);
        if (rows.items[static_cast<size_t>(r)]["gap12"].number > kGapFactor * noise) {
            ++s.clear_rows;
            s.clear_argmax_agree += cmp.argmax_ours == cmp.argmax_oracle;
        }
    }
    return s;
}

TEST_P(GoldenLogits, MatchTheReferenceEngine) {
    const GoldenCase& c = GetParam();
    const bool exact = c.mode == "exact";
    const CaseRun run = run_case(c, exact ? quant::Numerics::F32 : quant::Numerics::Q8);
    const std::vector<float> oracle = c.logits();
    ASSERT_EQ(oracle.size(),
              static_cast<size_t>(c.meta["n_rows"].number * c.meta["n_vocab"].number));
    ASSERT_EQ(run.logits.size(), oracle.size());
    const CaseSummary s = summarize(c, run.logits, oracle);
    const Json& twin = c.meta["twin_summary"];
    const double twin_median = twin["median_rel_rms_diff"].number;
    const double ours_median = median(s.rel_rms);
    const auto n = static_cast<double>(s.n_rows);
    std::printf(
        "[golden] %-32s rows %3lld  median rel RMS %.2e (twin %.2e)  max %.2e  within "
        "tolerance %d  jumps %d (twin %d)  argmax %d (twin %d)  clear rows %d agree %d\n",
        c.label().c_str(), static_cast<long long>(s.n_rows), ours_median, twin_median,
        *std::max_element(s.rel_rms.begin(), s.rel_rms.end()), s.within_tolerance, s.jumps,
        s.twin_jumps, s.argmax_agree, static_cast<int>(twin["argmax_agree_rows"].number),
        s.clear_rows, s.clear_argmax_agree);

    if (c.name == "gen") {
        EXPECT_EQ(run.first_tokens[0], c.meta["generated_tokens"].int_list()[0])
            << "first generated token (argmax of the prefill)";
    }
    if (exact && c.name != "long") {
        // Short prompts reproduce to float noise: every row, every argmax.
        EXPECT_EQ(s.within_tolerance, s.n_rows)
            << "worst diff / tolerance " << s.worst_over_tolerance;
        EXPECT_EQ(s.argmax_agree, s.n_rows);
    } else if (exact) {
        // Long prompts: a few rows jump in any two builds (see the golden README); ours may jump
        // on other rows than the twin, but not more often and not further overall.
        EXPECT_LE(ours_median, 3 * twin_median);
        EXPECT_GE(s.within_tolerance, 0.9 * n);
        EXPECT_LE(s.jumps, 2 * s.twin_jumps + 5);
        EXPECT_GE(s.clear_argmax_agree, s.clear_rows - std::max(2.0, 0.01 * n));
    } else {
        // Activation quantization re-rolls on any last-bit difference: compare noise levels.
        EXPECT_LE(ours_median, 2 * twin_median);
        EXPECT_GE(s.within_tolerance, n - std::max(2.0, 0.1 * n));
        EXPECT_GE(s.argmax_agree, twin["argmax_agree_rows"].number - std::max(2.0, 0.05 * n));
        // At most 5 % of the rows whose top-2 gap stands clear of the noise change argmax.
        EXPECT_GE(s.clear_argmax_agree, 0.95 * s.clear_rows);
    }
}

std::string case_name(const testing::TestParamInfo<GoldenCase>& info) {
    std::string name = info.param.label();
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Oracle, GoldenLogits, testing::ValuesIn(cases_or_empty()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenLogits);

TEST(GoldenCases, ArePresent) {
    const std::vector<GoldenCase> cases = golden_cases();
    EXPECT_GE(cases.size(), 1u) << "no golden sidecars in " << golden_dir();
}

}  // namespace
}  // namespace dsv4::test
