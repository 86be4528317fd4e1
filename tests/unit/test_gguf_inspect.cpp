// The container listing (engine/gguf/gguf_describe) and the `dsv4 inspect` command built on it.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/gguf/gguf_describe.h"
#include "engine/gguf/gguf_writer.h"
#include "golden_dir.h"

namespace dsv4::gguf {
namespace {

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

CommandResult run_tool(const std::string& args) {
    const std::string command = std::string(DSV4_TOOL_PATH) + " " + args + " 2>&1";
    CommandResult result;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

void expect_contains(const std::string& text, std::string_view part) {
    EXPECT_NE(text.find(part), std::string::npos) << "lacks \"" << part << "\" in:\n"
                                                  << text.substr(0, 4000);
}

// Column widths are presentation; the tests compare the words with runs of spaces squeezed.
std::string squeeze_spaces(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == ' ' && !out.empty() && out.back() == ' ') continue;
        out += c;
    }
    return out;
}

TEST(GgufDescribe, SummariesStayShort) {
    GgufWriter writer;
    std::vector<std::string> tokens(1000, "tok");
    writer.add_string_array("tokens", tokens);
    writer.add_string("long", std::string(500, 'x'));
    writer.add_string("escaped", "a\"b\n");
    const GgufFile file = GgufFile::from_owned_bytes(writer.to_bytes());
    DescribeOptions options;
    options.max_array_items = 3;
    options.max_string_bytes = 10;
    EXPECT_EQ(summarize_value(*file.find("tokens"), options),
              "[\"tok\", \"tok\", \"tok\", ... (1000 items)]");
    EXPECT_EQ(summarize_value(*file.find("long"), options), "\"xxxxxxxxxx\"... (500 bytes)");
    EXPECT_EQ(summarize_value(*file.find("escaped"), options), "\"a\\\"b\\n\"");
}

TEST(GgufDescribe, ListsHeaderMetadataTensorsAndTotals) {
    GgufWriter writer(64);
    writer.add_array("ratios", std::vector<uint32_t>{0, 0, 4, 128, 4});
    writer.add_f32("eps", 1e-6f);
    writer.add_tensor("a.weight", quant::Type::Q8_0, std::vector<uint64_t>{64, 2},
                      std::vector<uint8_t>(136));
    writer.add_tensor("b.weight", quant::Type::Q8_0, std::vector<uint64_t>{32},
                      std::vector<uint8_t>(34));
    writer.add_tensor("c.bias", quant::Type::F32, std::vector<uint64_t>{3},
                      std::vector<uint8_t>(12));
    const GgufFile file = GgufFile::from_owned_bytes(writer.to_bytes(), "listing.gguf");
    std::ostringstream out;
    describe_gguf(file, out);
    const std::string text = squeeze_spaces(out.str());
    expect_contains(text, "file: listing.gguf");
    expect_contains(text, "alignment: 64");
    expect_contains(text, "tensors: 3");
    expect_contains(text, "ratios array[u32; 5] [0, 0, 4, 128, 4]");
    expect_contains(text, "eps f32 1e-06");
    expect_contains(text, "a.weight Q8_0 [64, 2] 136 256");
    expect_contains(text, "Q8_0 2 tensors 160 elements 170 bytes");
    expect_contains(text, "all 3 tensors 163 elements 182 bytes");
}

TEST(DsvInspect, PrintsTheGoldenModel) {
    CommandResult result =
        run_tool("inspect " + dsv4::test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    result.output = squeeze_spaces(result.output);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    expect_contains(result.output, "version: 3");
    expect_contains(result.output, "tensors: 150");
    expect_contains(result.output, "deepseek4.block_count");
    expect_contains(result.output, "[0, 0, 4, 128, 4]");
    expect_contains(result.output, "tokenizer.ggml.tokens array[string; 640]");
    expect_contains(result.output, "blk.0.ffn_gate_tid2eid.weight I32 [6, 640] 15360");
    expect_contains(result.output, "IQ2_XXS 10 tensors");
    expect_contains(result.output, "all 150 tensors 19126663 elements 9256476 bytes");
}

TEST(DsvInspect, BadFileExitsWithOneAndTheReason) {
    const std::string path =
        (std::filesystem::path(::testing::TempDir()) / "dsv4_inspect_bad.gguf").string();
    std::ofstream(path, std::ios::binary) << "GGUF\x01";
    const CommandResult truncated = run_tool("inspect " + path);
    EXPECT_EQ(truncated.exit_code, 1);
    expect_contains(truncated.output, path);
    expect_contains(truncated.output, "truncated");
    std::ofstream(path, std::ios::binary) << "not a gguf at all";
    const CommandResult bad_magic = run_tool("inspect " + path);
    EXPECT_EQ(bad_magic.exit_code, 1);
    expect_contains(bad_magic.output, "bad magic");
    std::filesystem::remove(path);
}

TEST(DsvInspect, UsageErrors) {
    EXPECT_EQ(run_tool("inspect").exit_code, 2);
    EXPECT_EQ(run_tool("inspect --bogus x.gguf").exit_code, 2);
    const CommandResult unknown = run_tool("no-such-command");
    EXPECT_EQ(unknown.exit_code, 2);
    expect_contains(unknown.output, "unknown command 'no-such-command'");
    expect_contains(unknown.output, "inspect");
}

}  // namespace
}  // namespace dsv4::gguf
