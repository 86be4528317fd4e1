// The tokenizer against the reference engine's own tokenization of the golden prompts, through
// the library and through the `dsv4 tokenize` / `dsv4 detokenize` commands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/common/json.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/golden_dir.h"

extern char** environ;

namespace dsv4::tokenizer {
namespace {

// ---- golden cases ----

struct GoldenCase {
    std::string json_name;
    std::string model_path;
    std::string prompt_text;
    std::vector<TokenId> prompt_tokens;
};

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

std::vector<GoldenCase> discover_golden_cases() {
    std::vector<GoldenCase> cases;
    const std::filesystem::path dir = test::golden_dir();
    if (!std::filesystem::is_directory(dir)) return cases;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".json") continue;
        const json::Document doc = json::parse(read_file(entry.path()));
        const json::Value* model = doc.root().find("model");
        const json::Value* text = doc.root().find("prompt_text");
        const json::Value* tokens = doc.root().find("prompt_tokens");
        if (model == nullptr || text == nullptr || tokens == nullptr) continue;
        std::vector<TokenId> ids;
        for (const json::Value& id : tokens->children())
            ids.push_back(static_cast<TokenId>(id.as_int64().value()));
        cases.push_back({entry.path().filename().string(), (dir / model->as_string()).string(),
                         text->as_string(), ids});
    }
    std::sort(cases.begin(), cases.end(),
              [](const GoldenCase& a, const GoldenCase& b) { return a.json_name < b.json_name; });
    return cases;
}

class TokenizerGolden : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { cases_ = discover_golden_cases(); }

    const Tokenizer& tokenizer_for(const std::string& model_path) {
        auto it = tokenizers_.find(model_path);
        if (it == tokenizers_.end()) {
            const gguf::GgufFile file = gguf::GgufFile::open(model_path);
            it = tokenizers_.emplace(model_path, Tokenizer::from_gguf(file)).first;
        }
        return it->second;
    }

    static std::vector<GoldenCase> cases_;
    std::map<std::string, Tokenizer> tokenizers_;
};

std::vector<GoldenCase> TokenizerGolden::cases_;

TEST_F(TokenizerGolden, EncodeMatchesReferenceTokens) {
    ASSERT_FALSE(cases_.empty()) << "no golden JSON with prompt_text/prompt_tokens in "
                                 << test::golden_dir();
    for (const GoldenCase& golden : cases_) {
        SCOPED_TRACE(golden.json_name);
        const Tokenizer& tokenizer = tokenizer_for(golden.model_path);
        EXPECT_EQ(tokenizer.encode(golden.prompt_text, SpecialTokenMode::Recognise),
                  golden.prompt_tokens);
    }
}

TEST_F(TokenizerGolden, DecodeRestoresPromptText) {
    ASSERT_FALSE(cases_.empty());
    for (const GoldenCase& golden : cases_) {
        SCOPED_TRACE(golden.json_name);
        const Tokenizer& tokenizer = tokenizer_for(golden.model_path);
        EXPECT_EQ(tokenizer.decode(golden.prompt_tokens), golden.prompt_text);
    }
}

TEST_F(TokenizerGolden, SpecialIdsAreFoundByString) {
    ASSERT_FALSE(cases_.empty());
    const Tokenizer& tokenizer = tokenizer_for(cases_.front().model_path);
    const gguf::GgufFile file = gguf::GgufFile::open(cases_.front().model_path);
    const std::vector<std::string_view> tokens = file.require_string_array(kTokensKey);
    EXPECT_EQ(tokenizer.vocab_size(), tokens.size());
    for (size_t i = 0; i < kSpecialTokenCount; ++i) {
        const auto special = static_cast<SpecialToken>(i);
        const TokenId id = tokenizer.special_id(special);
        ASSERT_TRUE(tokenizer.contains(id));
        EXPECT_EQ(tokens[static_cast<size_t>(id)], special_token_text(special));
        EXPECT_TRUE(tokenizer.is_special(id));
        EXPECT_EQ(tokenizer.token_text(id), special_token_text(special));
    }
    // In the vocabulary, but the reference does not treat it as a special.
    const std::optional<TokenId> reminder = tokenizer.find_token("<｜latest_reminder｜>");
    ASSERT_TRUE(reminder.has_value());
    EXPECT_FALSE(tokenizer.is_special(*reminder));
    const std::vector<TokenId> ids =
        tokenizer.encode("<｜latest_reminder｜>", SpecialTokenMode::Recognise);
    EXPECT_GT(ids.size(), 1u);
    EXPECT_EQ(tokenizer.decode(ids), "<｜latest_reminder｜>");
}

// ---- the dsv4 tokenize / detokenize commands ----

struct ToolResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string read_all(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0)
        text.append(buffer, static_cast<size_t>(n));
    return text;
}

// Runs the dsv4 binary with exactly these arguments (no shell, so any text can be passed).
ToolResult run_tool(const std::vector<std::string>& args) {
    const std::filesystem::path err_path =
        std::filesystem::temp_directory_path() / ("dsv4_tok_err_" + std::to_string(::getpid()));
    int out_pipe[2];
    if (::pipe(out_pipe) != 0) return {};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> argv_strings = {DSV4_TOOL_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawn_error =
        ::posix_spawn(&pid, DSV4_TOOL_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ToolResult result;
    if (spawn_error != 0) {
        ::close(out_pipe[0]);
        return result;
    }
    result.out = read_all(out_pipe[0]);
    ::close(out_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.err = read_file(err_path);
    std::filesystem::remove(err_path);
    return result;
}

std::string joined_ids(const std::vector<TokenId>& ids, char separator) {
    std::string text;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) text += separator;
        text += std::to_string(ids[i]);
    }
    return text;
}

class TokenizerTool : public TokenizerGolden {
  protected:
    std::filesystem::path write_temp(const std::string& name, const std::string& bytes) {
        const std::filesystem::path path =
            std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
        std::ofstream(path, std::ios::binary) << bytes;
        temp_files_.push_back(path);
        return path;
    }
    void TearDown() override {
        for (const auto& path : temp_files_) std::filesystem::remove(path);
    }

    std::vector<std::filesystem::path> temp_files_;
};

TEST_F(TokenizerTool, TokenizeFilePrintsReferenceIds) {
    ASSERT_FALSE(cases_.empty());
    for (const GoldenCase& golden : cases_) {
        SCOPED_TRACE(golden.json_name);
        const auto prompt = write_temp("dsv4_tok_prompt", golden.prompt_text);
        const ToolResult result =
            run_tool({"tokenize", "-m", golden.model_path, "--file", prompt.string()});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        EXPECT_EQ(result.out, joined_ids(golden.prompt_tokens, ' ') + "\n");
    }
}

TEST_F(TokenizerTool, TokenizeTextAndPlainMode) {
    ASSERT_FALSE(cases_.empty());
    const GoldenCase& golden = cases_.front();
    const Tokenizer& tokenizer = tokenizer_for(golden.model_path);
    const std::string text = "<think>x</think> caf\xC3\xA9\n";
    ToolResult result = run_tool({"tokenize", "-m", golden.model_path, "--text", text});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out,
              joined_ids(tokenizer.encode(text, SpecialTokenMode::Recognise), ' ') + "\n");
    result = run_tool({"tokenize", "-m", golden.model_path, "--plain", "--text", text});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out,
              joined_ids(tokenizer.encode(text, SpecialTokenMode::PlainText), ' ') + "\n");
}

TEST_F(TokenizerTool, DetokenizePrintsTextExactly) {
    ASSERT_FALSE(cases_.empty());
    for (const GoldenCase& golden : cases_) {
        SCOPED_TRACE(golden.json_name);
        ToolResult result = run_tool({"detokenize", "-m", golden.model_path, "--ids",
                                      joined_ids(golden.prompt_tokens, ',')});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        EXPECT_EQ(result.out, golden.prompt_text);
        // A file may separate the ids by spaces, commas and newlines alike.
        const auto ids_file =
            write_temp("dsv4_tok_ids", joined_ids(golden.prompt_tokens, '\n') + " \n");
        result = run_tool({"detokenize", "-m", golden.model_path, "--file", ids_file.string()});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        EXPECT_EQ(result.out, golden.prompt_text);
    }
}

TEST_F(TokenizerTool, UsageErrorsFailWithMessages) {
    ASSERT_FALSE(cases_.empty());
    const std::string& model = cases_.front().model_path;
    ToolResult result = run_tool({"detokenize", "-m", model, "--ids", "1,99999"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("99999"), std::string::npos) << result.err;
    result = run_tool({"detokenize", "-m", model, "--ids", "1,x"});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("'x'"), std::string::npos) << result.err;
    result = run_tool({"tokenize", "-m", model});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("--text"), std::string::npos) << result.err;
    result = run_tool({"tokenize", "--text", "hi"});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("-m"), std::string::npos) << result.err;
    result = run_tool({"tokenize", "-m", "/nonexistent/model.gguf", "--text", "hi"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("/nonexistent/model.gguf"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace dsv4::tokenizer
