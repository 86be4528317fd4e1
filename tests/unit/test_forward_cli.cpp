// `dsv4 logits` end to end: the golden generation case through the command (greedy ids and every
// row against the oracle), the output layout, token files, and argument errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/forward.h"
#include "tests/unit/test_forward_oracle.h"

namespace dsv4::test {
namespace {

struct CommandResult {
    int exit_code = -1;
    std::string out;
};

CommandResult run_tool(const std::string& args) {
    const std::string command =
        std::string("'") + DSV4_TOOL_PATH + "' logits " + args + " 2>/dev/null";
    CommandResult r;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string join(const std::vector<int32_t>& ids, const char* separator) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? separator : "") + std::to_string(ids[i]);
    return s;
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("dsv4-logits-" + std::to_string(::getpid()) + "-" + name))
        .string();
}

const GoldenCase* find_case(const std::vector<GoldenCase>& cases, const std::string& mode,
                            const std::string& name) {
    for (const GoldenCase& c : cases)
        if (c.mode == mode && c.name == name) return &c;
    return nullptr;
}

// Rows of `ours` against an oracle file, with the golden README's per-row tolerance:
// max(1e-3 (max - min), k twin), k = 2 in exact numerics; quantized activations re-roll on any
// last-bit difference, so q8 rows get k = 4.
void expect_rows_match(const float* ours, const GoldenCase& c) {
    const double twin_factor = c.mode == "exact" ? 2.0 : 4.0;
    const std::vector<float> oracle = c.logits();
    const auto n_vocab = static_cast<int64_t>(c.meta["n_vocab"].number);
    const auto n_rows = static_cast<int64_t>(c.meta["n_rows"].number);
    for (int64_t r = 0; r < n_rows; ++r) {
        const RowComparison cmp =
            compare_row(ours + r * n_vocab, oracle.data() + r * n_vocab, n_vocab);
        const double twin =
            c.meta["rows"].items[static_cast<size_t>(r)]["twin"]["max_abs_diff"].number;
        EXPECT_LE(cmp.max_abs_diff, std::max(1e-3 * cmp.range, twin_factor * twin))
            << c.label() << " row " << r;
    }
}

TEST(LogitsCommand, ReproducesTheGoldenGreedyContinuation) {
    const std::vector<GoldenCase> cases = golden_cases();
    const GoldenCase* gen = find_case(cases, "exact", "gen");
    ASSERT_NE(gen, nullptr);
    std::vector<GoldenCase> same_model_short;
    for (const GoldenCase& c : cases)
        if (c.mode == "exact" && c.name == "short" && c.model_stem == gen->model_stem)
            same_model_short.push_back(c);
    ASSERT_EQ(same_model_short.size(), 1u);
    const std::vector<int32_t> prompt = gen->meta["prompt_tokens"].int_list();
    const std::vector<int32_t> generated = gen->meta["generated_tokens"].int_list();
    const auto n_gen = generated.size() - 1;
    const std::string out_path = temp_path("gen.f32");

    const CommandResult r =
        run_tool("-m '" + gen->model_path + "' --tokens " + join(prompt, ",") + " --gen " +
                 std::to_string(n_gen) + " --numerics f32 --threads 2 -o '" + out_path + "'");
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, join(generated, " ") + "\n");
    const std::vector<float> rows = read_f32(out_path);
    std::filesystem::remove(out_path);
    const auto n_vocab = static_cast<size_t>(gen->meta["n_vocab"].number);
    ASSERT_EQ(rows.size(), (prompt.size() + n_gen) * n_vocab);
    expect_rows_match(rows.data(), same_model_short[0]);
    expect_rows_match(rows.data() + prompt.size() * n_vocab, *gen);
}

TEST(LogitsCommand, TokenFileAndDefaultNumericsMatchTheEngine) {
    const std::vector<GoldenCase> cases = golden_cases();
    const GoldenCase* c = find_case(cases, "qact", "short");
    ASSERT_NE(c, nullptr);
    const std::vector<int32_t> prompt = c->meta["prompt_tokens"].int_list();
    const std::string tokens_path = temp_path("tokens.txt");
    const std::string out_path = temp_path("q8.f32");
    {
        std::ofstream tokens(tokens_path);
        tokens << join(std::vector<int32_t>(prompt.begin(), prompt.begin() + 10), ", ") << "\n"
               << join(std::vector<int32_t>(prompt.begin() + 10, prompt.end()), " ") << "\n";
    }
    const CommandResult r = run_tool("-m '" + c->model_path + "' --tokens-file '" + tokens_path +
                                     "' --gen 2 --batch 5 -o '" + out_path + "'");
    std::filesystem::remove(tokens_path);
    ASSERT_EQ(r.exit_code, 0);
    const std::vector<float> rows = read_f32(out_path);
    std::filesystem::remove(out_path);

    const auto model = forward::load_model(c->model_path);
    backend::cpu::CpuBackend backend(1);
    forward::Forward fwd(*model, backend);
    state::SequenceState seq(model->config, backend, 64);
    std::vector<float> expected = fwd.prefill(seq, prompt, forward::LogitRows::All);
    const size_t n_vocab = model->config.n_vocab;
    std::vector<int32_t> ids;
    for (int step = 0; step < 3; ++step) {
        const float* last = expected.data() + expected.size() - n_vocab;
        ids.push_back(static_cast<int32_t>(std::max_element(last, last + n_vocab) - last));
        if (step == 2) break;
        const std::vector<float> row = fwd.decode(seq, ids.back());
        expected.insert(expected.end(), row.begin(), row.end());
    }
    EXPECT_EQ(r.out, join(ids, " ") + "\n");
    ASSERT_EQ(rows.size(), expected.size());
    EXPECT_EQ(0, std::memcmp(rows.data(), expected.data(), rows.size() * sizeof(float)));
    expect_rows_match(rows.data(), *c);
}

TEST(LogitsCommand, RejectsBadArgumentsAndInputs) {
    const std::vector<GoldenCase> cases = golden_cases();
    ASSERT_FALSE(cases.empty());
    const std::string model = "'" + cases[0].model_path + "'";
    const std::string out_path = temp_path("bad.f32");
    EXPECT_EQ(run_tool("--tokens 1,2 -o '" + out_path + "'").exit_code, 2);
    EXPECT_EQ(run_tool("-m " + model + " -o '" + out_path + "'").exit_code, 2);
    EXPECT_EQ(run_tool("-m " + model + " --tokens 1,2").exit_code, 2);
    EXPECT_EQ(run_tool("-m " + model + " --tokens 1,x -o '" + out_path + "'").exit_code, 2);
    EXPECT_EQ(
        run_tool("-m " + model + " --tokens 1 --numerics f16 -o '" + out_path + "'").exit_code, 2);
    EXPECT_EQ(run_tool("-m " + model + " --tokens 1 --gen -3 -o '" + out_path + "'").exit_code, 2);
    // Well-formed but unusable: an id past the vocabulary, a context too small, a missing file.
    EXPECT_EQ(run_tool("-m " + model + " --tokens 1,99999999 -o '" + out_path + "'").exit_code, 1);
    EXPECT_FALSE(std::filesystem::exists(out_path)) << "a failed run left an output file";
    EXPECT_EQ(
        run_tool("-m " + model + " --tokens 1,2,3 --gen 2 --ctx 4 -o '" + out_path + "'").exit_code,
        1);
    EXPECT_EQ(run_tool("-m /nonexistent.gguf --tokens 1 -o '" + out_path + "'").exit_code, 1);
    EXPECT_EQ(run_tool("--help").exit_code, 0);
}

}  // namespace
}  // namespace dsv4::test
