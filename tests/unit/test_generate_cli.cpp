// `dsv4 run` and `dsv4 chat` end to end on the golden tiny model: the greedy continuation of a
// rendered prompt printed on stdout, turns that reuse the live state, and argument errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/chat/output_parser.h"
#include "engine/common/json.h"
#include "engine/forward/loaded_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::test {
namespace {

struct CommandResult {
    int exit_code = -1;
    std::string out;
};

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string model_path() {
    return golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf";
}

std::string quoted(const std::string& text) {
    std::string out = "'";
    for (const char c : text) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

// stdout of the tool; stderr goes to stderr_path when given, else is dropped.
CommandResult run_tool(const std::string& args, const std::string& stdin_path = "/dev/null",
                       const std::string& stderr_path = "/dev/null") {
    const std::string command = quoted(DSV4_TOOL_PATH) + " " + args + " <" + quoted(stdin_path) +
                                " 2>" + quoted(stderr_path);
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

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("dsv4-generate-" + std::to_string(::getpid()) + "-" + name))
        .string();
}

std::string golden_continuation_text() {
    const json::Document doc =
        json::parse(read_text(golden_dir() + "/dsv4-tiny-s1-iq2xxs.exact.gen.json"));
    std::vector<tokenizer::TokenId> ids;
    for (const json::Value& item : doc.root().find("generated_tokens")->children())
        ids.push_back(static_cast<tokenizer::TokenId>(*item.as_int64()));
    const auto model = forward::load_model(model_path());
    const auto tokenizer = tokenizer::Tokenizer::from_gguf(model->file);
    return chat::valid_utf8(tokenizer.decode(ids));
}

TEST(GenerateCli, RunRawPromptPrintsTheGreedyContinuation) {
    const std::string prompt = read_text(golden_dir() + "/prompts/short.txt");
    const std::string stats = temp_path("stats");
    const CommandResult r = run_tool("run -m " + quoted(model_path()) + " --raw -p " +
                                         quoted(prompt) + " --temp 0 -n 17 --numerics f32",
                                     "/dev/null", stats);
    EXPECT_EQ(r.exit_code, 0);
    // Not a terminal: plain text, ended by one newline.
    EXPECT_EQ(r.out, golden_continuation_text() + "\n");
    const std::string stats_text = read_text(stats);
    EXPECT_NE(stats_text.find("prompt 22 tokens"), std::string::npos) << stats_text;
    EXPECT_NE(stats_text.find("17 generated"), std::string::npos) << stats_text;
    EXPECT_NE(stats_text.find("finish length"), std::string::npos) << stats_text;
    std::filesystem::remove(stats);
}

TEST(GenerateCli, RunRendersAOneTurnChat) {
    // The same question through the template renders the golden prompt's text (its system
    // prompt has a final period), so the greedy answer is the golden one.
    const CommandResult r = run_tool(
        "run -m " + quoted(model_path()) +
        " --nothink --system 'You are a helpful assistant.' -p 'What is the capital of France?'"
        " --temp 0 -n 17 --numerics f32 --ctx 64");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, golden_continuation_text() + "\n");
}

TEST(GenerateCli, ChatReusesTheLiveStateBetweenTurns) {
    const std::string input = temp_path("chat-in");
    const std::string stats = temp_path("chat-stats");
    std::ofstream(input) << "What is the capital of France?\n/help\nAnd of Italy?\n/clear\n"
                            "What is the capital of France?\n";
    const CommandResult r = run_tool("chat -m " + quoted(model_path()) +
                                         " --nothink --system 'You are a helpful assistant.'"
                                         " --temp 0 -n 17 --numerics f32 --ctx 256",
                                     input, stats);
    EXPECT_EQ(r.exit_code, 0);
    const std::string golden = golden_continuation_text() + "\n";
    // The first answer is the golden one, and after /clear the same question gets it again.
    EXPECT_EQ(r.out.substr(0, golden.size()), golden);
    EXPECT_GE(r.out.size(), 2 * golden.size());
    EXPECT_EQ(r.out.substr(r.out.size() - golden.size()), golden);
    EXPECT_NE(r.out.find("/nothink"), std::string::npos);  // the /help text
    std::istringstream lines(read_text(stats));
    std::vector<std::string> stat_lines;
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("prompt ")) stat_lines.push_back(line);
    ASSERT_EQ(stat_lines.size(), 3u) << read_text(stats);
    EXPECT_NE(stat_lines[0].find("prompt 22 tokens (0 cached)"), std::string::npos);
    // Second turn: the first prompt, its 17 answer tokens but the last (never fed) are cached.
    EXPECT_NE(stat_lines[1].find("(38 cached)"), std::string::npos) << stat_lines[1];
    EXPECT_NE(stat_lines[2].find("prompt 22 tokens (0 cached)"), std::string::npos);
    std::filesystem::remove(input);
    std::filesystem::remove(stats);
}

TEST(GenerateCli, ArgumentErrorsExitWithUsage) {
    EXPECT_EQ(run_tool("run -p hello").exit_code, 2);                    // no model
    EXPECT_EQ(run_tool("run -m " + quoted(model_path())).exit_code, 2);  // no prompt
    EXPECT_EQ(run_tool("run -m x -p y --numerics f16").exit_code, 2);    // bad mode
    EXPECT_EQ(run_tool("run -m x -p y --temp warm").exit_code, 2);       // bad number
    EXPECT_EQ(run_tool("chat -m " + quoted(model_path()) + " --bogus").exit_code, 2);
    EXPECT_EQ(run_tool("run -m /nonexistent.gguf -p y").exit_code, 1);  // unreadable model
}

}  // namespace
}  // namespace dsv4::test
