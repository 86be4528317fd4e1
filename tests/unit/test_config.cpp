// The daemon's configuration: defaults, the documented TOML file, flags on top, and the errors
// that name the offending key or flag.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace dsv4::config {
namespace {

const std::string kExampleFile = std::string(DSV4_SOURCE_DIR) + "/config/dsv4d.toml";

DaemonConfig load(std::vector<std::string> args) {
    args.insert(args.begin(), "dsv4d");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return load_config(static_cast<int>(argv.size()), argv.data());
}

std::string write_temp(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() / ("dsv4-config-test-" + name);
    std::ofstream(path) << text;
    return path.string();
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Config, DocumentedFileEqualsTheDefaults) {
    const DaemonConfig from_file = load({"--config", kExampleFile});
    EXPECT_EQ(to_toml(from_file), to_toml(DaemonConfig{}));
}

TEST(Config, DocumentedFileNamesEveryKey) {
    std::ifstream in(kExampleFile);
    const std::string documented{std::istreambuf_iterator<char>(in), {}};
    std::istringstream effective(to_toml(DaemonConfig{}));
    std::string line;
    int keys = 0;
    while (std::getline(effective, line)) {
        const size_t equals = line.find(" = ");
        if (line.empty() || line[0] == '#' || line[0] == '[' || equals == std::string::npos)
            continue;
        ++keys;
        EXPECT_NE(documented.find("\n" + line.substr(0, equals) + " = "), std::string::npos)
            << line;
    }
    EXPECT_GT(keys, 30);
}

TEST(Config, PrintedConfigReadsBackTheSame) {
    DaemonConfig config = load({"--port", "9001", "--ctx", "4096", "--cors-origin", "*", "--model",
                                "/models/a \"quoted\".gguf", "--no-reasoning-alias",
                                "--kv-block-tokens", "256", "--debug-script-text", "a\nb"});
    DaemonConfig reread;
    apply_toml(reread, to_toml(config), "printed");
    EXPECT_EQ(to_toml(reread), to_toml(config));
    EXPECT_EQ(reread.http.port, 9001);
    EXPECT_EQ(reread.model.path, "/models/a \"quoted\".gguf");
    EXPECT_FALSE(reread.scheduler.reasoning_alias);
    EXPECT_EQ(reread.debug.script_text, "a\nb");
}

TEST(Config, FlagsOverrideTheFile) {
    const std::string file = write_temp("override.toml",
                                        "[http]\nport = 7000\nhost = \"0.0.0.0\"\n"
                                        "[model]\ncontext_tokens = 1024\n");
    const DaemonConfig config = load({"--port", "7001", "--config", file});
    EXPECT_EQ(config.http.port, 7001);
    EXPECT_EQ(config.http.host, "0.0.0.0");
    EXPECT_EQ(config.model.context_tokens, 1024);
    EXPECT_EQ(config.config_file, file);
    EXPECT_EQ(load({"--port=7002"}).http.port, 7002);
}

TEST(Config, UnknownKeysAndSectionsAreNamedWithTheirLine) {
    const std::string key = write_temp("unknown-key.toml", "[http]\nport = 1\nprot = 2\n");
    EXPECT_NE(error_of([&] {
                  load({"--config", key});
              }).find(":3: unknown key 'http.prot'"),
              std::string::npos);
    const std::string section = write_temp("unknown-section.toml", "[htp]\nport = 1\n");
    EXPECT_NE(error_of([&] {
                  load({"--config", section});
              }).find("unknown key 'htp.port'"),
              std::string::npos);
    const std::string top = write_temp("unknown-top.toml", "verbose = true\n");
    EXPECT_NE(error_of([&] {
                  load({"--config", top});
              }).find("unknown key 'verbose'"),
              std::string::npos);
}

TEST(Config, WrongTypesAndRangesAreRefused) {
    const std::string type = write_temp("type.toml", "[http]\nport = \"80\"\n");
    EXPECT_NE(error_of([&] {
                  load({"--config", type});
              }).find("http.port must be an integer"),
              std::string::npos);
    EXPECT_NE(error_of([] { load({"--port", "70000"}); }).find("out of range"), std::string::npos);
    EXPECT_NE(error_of([] {
                  load({"--ctx", "0"});
              }).find("model.context_tokens"),
              std::string::npos);
    EXPECT_NE(error_of([] {
                  load({"--ctx", "12x"});
              }).find("--ctx needs an integer"),
              std::string::npos);
    EXPECT_NE(error_of([] { load({"--numerics", "q4"}); }).find("q8 or f32"), std::string::npos);
    EXPECT_NE(error_of([] { load({"--load", "lazy"}); }).find("copy or mmap"), std::string::npos);
    EXPECT_NE(error_of([] { load({"--log-level", "loud"}); }).find("log_level"), std::string::npos);
    EXPECT_NE(error_of([] {
                  load({"--kv-block-tokens", "200"});
              }).find("multiple of 128"),
              std::string::npos);
    const std::string syntax = write_temp("syntax.toml", "[http\nport = 1\n");
    EXPECT_NE(error_of([&] {
                  load({"--config", syntax});
              }).find("syntax.toml:1"),
              std::string::npos);
}

TEST(Config, UnknownOrIncompleteFlagsAreNamed) {
    EXPECT_NE(error_of([] {
                  load({"--prot", "1"});
              }).find("unknown flag '--prot'"),
              std::string::npos);
    EXPECT_NE(error_of([] { load({"--port"}); }).find("--port needs a value"), std::string::npos);
    EXPECT_NE(error_of([] {
                  load({"--config", "/nonexistent/dsv4d.toml"});
              }).find("cannot read the config file '/nonexistent/dsv4d.toml'"),
              std::string::npos);
}

TEST(Config, ApiKeysFromFlagsAndKeyFileAndNeverPrinted) {
    const std::string keys = write_temp("keys.txt", "# team keys\nalpha-key\n\n  beta-key  \n");
    const DaemonConfig config = load({"--api-key", "flag-key", "--api-key-file", keys});
    EXPECT_EQ(config.http.api_keys,
              (std::vector<std::string>{"flag-key", "alpha-key", "beta-key"}));
    const std::string printed = to_toml(config);
    EXPECT_EQ(printed.find("alpha-key"), std::string::npos);
    EXPECT_NE(printed.find("api_keys = [\"***\", \"***\", \"***\"]"), std::string::npos);
    EXPECT_NE(error_of([] {
                  load({"--api-key-file", "/nonexistent/keys"});
              }).find("cannot read the API key file"),
              std::string::npos);
    const std::string file = write_temp("keys.toml", "[http]\napi_keys = [\"from-file\"]\n");
    EXPECT_EQ(load({"--config", file}).http.api_keys, std::vector<std::string>{"from-file"});
    EXPECT_EQ(load({"--config", file, "--api-key", "x"}).http.api_keys,
              std::vector<std::string>{"x"});
}

TEST(Config, HelpAndPrintConfigFlags) {
    EXPECT_TRUE(load({"--help"}).show_help);
    EXPECT_TRUE(load({"--print-config"}).print_config);
    const std::string usage = usage_text();
    for (const char* flag : {"--port", "--api-key-file", "--debug-script-text", "--kv-dir"})
        EXPECT_NE(usage.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace dsv4::config
