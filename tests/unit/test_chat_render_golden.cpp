// Every case of the golden render.jsonl (ds4 reference output): request bytes -> exact prompt
// text, think mode, tool flags and replay statistics, or the refusal with its HTTP status and
// body. Cases come from the file only, so any vector file of the same format can be checked by
// pointing DSV4_GOLDEN_DIR at it. Also runs the built `dsv4 render` on a few of them.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/chat/openai_request.h"
#include "engine/chat/render.h"
#include "engine/common/json.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::chat {
namespace {

struct ExpectedReplay {
    int memory = 0, disk = 0, canonical = 0, missing_ids = 0;
};

struct RenderCase {
    std::string id;
    std::string load_error;  // set when the file or the line could not be read
    std::string endpoint;
    uint32_t context_size = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> tool_memory;
    bool disable_exact_replay = false;
    bool ok = false;
    // ok cases
    std::string prompt, think_mode;
    bool tools_active = false, preserves_reasoning = false;
    ExpectedReplay replay;
    // refused cases
    std::string error;
    int http_status = 0;
    std::string error_body;  // compact serialization
};

// gtest prints parameters on failure; the id says more than the struct's bytes.
void PrintTo(const RenderCase& c, std::ostream* out) {
    *out << c.id;
}

std::string render_file() {
    return test::golden_dir() + "/chat/render.jsonl";
}

int int_member(const json::Value& object, std::string_view key) {
    const json::Value* value = object.find(key);
    if (value == nullptr) throw std::runtime_error("missing \"" + std::string(key) + "\"");
    return static_cast<int>(value->as_int64().value_or(-1));
}

const json::Value& member(const json::Value& object, std::string_view key) {
    const json::Value* value = object.find(key);
    if (value == nullptr) throw std::runtime_error("missing \"" + std::string(key) + "\"");
    return *value;
}

RenderCase read_case(const json::Value& line) {
    RenderCase c;
    c.id = member(line, "id").as_string();
    c.endpoint = member(line, "endpoint").as_string();
    c.context_size = static_cast<uint32_t>(int_member(line, "ctx_size"));
    c.body = member(line, "request_body").as_string();
    if (const json::Value* memory = line.find("tool_memory")) {
        for (const json::Value& entry : memory->children()) {
            c.tool_memory.emplace_back(member(entry, "id").as_string(),
                                       member(entry, "dsml").as_string());
        }
    }
    if (const json::Value* disable = line.find("disable_exact_dsml_tool_replay")) {
        c.disable_exact_replay = disable->as_bool();
    }
    const json::Value& expected = member(line, "expected");
    c.ok = member(expected, "ok").as_bool();
    if (c.ok) {
        c.prompt = member(expected, "prompt").as_string();
        c.think_mode = member(expected, "think_mode").as_string();
        c.tools_active = member(expected, "tools_active").as_bool();
        c.preserves_reasoning = member(expected, "preserves_reasoning").as_bool();
        const json::Value& replay = member(expected, "tool_replay");
        c.replay = {int_member(replay, "mem"), int_member(replay, "disk"),
                    int_member(replay, "canonical"), int_member(replay, "missing_ids")};
    } else {
        c.error = member(expected, "error").as_string();
        c.http_status = int_member(expected, "http_status");
        c.error_body = json::serialize(member(expected, "error_body"));
    }
    return c;
}

std::vector<RenderCase> load_cases() {
    std::vector<RenderCase> cases;
    std::ifstream in(render_file(), std::ios::binary);
    if (!in) {
        RenderCase missing;
        missing.id = "render-file-missing";
        missing.load_error = "cannot open " + render_file();
        return {missing};
    }
    std::string text;
    for (size_t number = 1; std::getline(in, text); ++number) {
        if (text.empty()) continue;
        try {
            cases.push_back(read_case(json::parse(text).root()));
        } catch (const std::exception& error) {
            RenderCase broken;
            broken.id = "line-" + std::to_string(number);
            broken.load_error = render_file() + ":" + std::to_string(number) + ": " + error.what();
            cases.push_back(broken);
        }
    }
    if (cases.empty()) {
        RenderCase empty;
        empty.id = "render-file-empty";
        empty.load_error = render_file() + " holds no case";
        cases.push_back(empty);
    }
    return cases;
}

const std::vector<RenderCase>& all_cases() {
    static const std::vector<RenderCase> cases = load_cases();
    return cases;
}

std::string test_name(const testing::TestParamInfo<RenderCase>& info) {
    std::string name = std::to_string(info.index) + "_";
    for (const char c : info.param.id)
        name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    return name;
}

// First byte where two texts differ, with context, for readable failures.
std::string first_difference(const std::string& got, const std::string& want) {
    size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    const size_t from = at > 60 ? at - 60 : 0;
    return "first difference at byte " + std::to_string(at) + "\n  got:  ..." +
           got.substr(from, 160) + "\n  want: ..." + want.substr(from, 160);
}

struct Outcome {
    bool ok = false;
    RenderedPrompt prompt;
    ReplayStats replay;
    int http_status = 0;
    std::string client_message, error_body, detail;
};

Outcome run_case(const RenderCase& c) {
    Outcome outcome;
    const std::optional<Endpoint> endpoint = endpoint_from_path(c.endpoint);
    if (!endpoint) throw std::runtime_error("unknown endpoint " + c.endpoint);
    MappingOptions options;
    options.context_size = c.context_size;
    MapToolReplay memory;
    for (const auto& [id, dsml] : c.tool_memory) memory.remember(id, dsml);
    try {
        MappedRequest request = map_request(*endpoint, c.body, options);
        outcome.replay =
            attach_tool_replay(request.conversation, c.disable_exact_replay ? nullptr : &memory);
        outcome.prompt = render_prompt(request.conversation);
        outcome.ok = true;
    } catch (const RequestError& error) {
        outcome.http_status = error.http_status();
        outcome.client_message = error.client_message();
        outcome.error_body = error.error_body();
        outcome.detail = error.what();
    }
    return outcome;
}

class GoldenRender : public testing::TestWithParam<RenderCase> {};

TEST_P(GoldenRender, MatchesReference) {
    const RenderCase& c = GetParam();
    ASSERT_TRUE(c.load_error.empty()) << c.load_error;
    const Outcome outcome = run_case(c);
    if (!c.ok) {
        ASSERT_FALSE(outcome.ok) << c.id << ": the reference refuses this request (" << c.error
                                 << ") but it rendered";
        EXPECT_EQ(outcome.http_status, c.http_status);
        EXPECT_EQ(outcome.client_message, c.error);
        ASSERT_FALSE(outcome.error_body.empty());
        EXPECT_EQ(outcome.error_body.back(), '\n');
        EXPECT_EQ(json::serialize(json::parse(outcome.error_body).root()), c.error_body);
        return;
    }
    ASSERT_TRUE(outcome.ok) << c.id << ": refused with " << outcome.detail;
    EXPECT_TRUE(outcome.prompt.text == c.prompt) << first_difference(outcome.prompt.text, c.prompt);
    EXPECT_EQ(think_mode_name(outcome.prompt.think_mode), c.think_mode);
    EXPECT_EQ(outcome.prompt.tools_active, c.tools_active);
    EXPECT_EQ(outcome.prompt.preserves_reasoning, c.preserves_reasoning);
    EXPECT_EQ(outcome.replay.memory, c.replay.memory);
    EXPECT_EQ(outcome.replay.disk, c.replay.disk);
    EXPECT_EQ(outcome.replay.canonical, c.replay.canonical);
    EXPECT_EQ(outcome.replay.missing_ids, c.replay.missing_ids);
}

INSTANTIATE_TEST_SUITE_P(RenderJsonl, GoldenRender, testing::ValuesIn(all_cases()), test_name);

// ---- the built CLI ----

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::string endpoint_option(const std::string& path) {
    static const std::map<std::string, std::string> kNames = {{"/v1/chat/completions", "chat"},
                                                              {"/v1/completions", "completions"},
                                                              {"/v1/messages", "messages"},
                                                              {"/v1/responses", "responses"}};
    return kNames.at(path);
}

struct CliResult {
    int exit_code = -1;
    std::string out, err;
};

CliResult run_cli(const RenderCase& c) {
    const std::string dir = testing::TempDir();
    const std::string stem = dir + "/dsv4_render_cli_" + std::to_string(::getpid());
    {
        std::ofstream body(stem + ".json", std::ios::binary);
        body << c.body;
    }
    const std::string command = std::string("'") + DSV4_TOOL_PATH + "' render --ctx " +
                                std::to_string(c.context_size) + " --endpoint " +
                                endpoint_option(c.endpoint) + " < '" + stem + ".json' > '" + stem +
                                ".out' 2> '" + stem + ".err'";
    const int status = std::system(command.c_str());
    CliResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_file(stem + ".out");
    result.err = read_file(stem + ".err");
    for (const char* suffix : {".json", ".out", ".err"}) std::remove((stem + suffix).c_str());
    return result;
}

// The CLI has no tool memory, so cases that seed one are left to the in-process test. Takes the
// first usable ok case of each endpoint and the first refused case.
std::vector<const RenderCase*> cli_samples() {
    std::vector<const RenderCase*> samples;
    std::map<std::string, bool> endpoint_taken;
    bool refused_taken = false;
    for (const RenderCase& c : all_cases()) {
        if (!c.load_error.empty() || !c.tool_memory.empty()) continue;
        if (c.ok && !endpoint_taken[c.endpoint]) {
            endpoint_taken[c.endpoint] = true;
            samples.push_back(&c);
        } else if (!c.ok && !refused_taken) {
            refused_taken = true;
            samples.push_back(&c);
        }
    }
    return samples;
}

TEST(RenderCli, PrintsTheReferencePromptExactly) {
    const auto samples = cli_samples();
    ASSERT_FALSE(samples.empty());
    for (const RenderCase* c : samples) {
        SCOPED_TRACE(c->id);
        const CliResult result = run_cli(*c);
        if (c->ok) {
            EXPECT_EQ(result.exit_code, 0) << result.err;
            EXPECT_TRUE(result.out == c->prompt) << first_difference(result.out, c->prompt);
            EXPECT_TRUE(result.err.empty()) << result.err;
        } else {
            EXPECT_EQ(result.exit_code, 1);
            EXPECT_TRUE(result.out.empty());
            EXPECT_NE(result.err.find(c->error), std::string::npos) << result.err;
        }
    }
}

TEST(RenderCli, RejectsBadArguments) {
    const std::string command =
        std::string("'") + DSV4_TOOL_PATH + "' render --endpoint nowhere < /dev/null 2>/dev/null";
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace dsv4::chat
