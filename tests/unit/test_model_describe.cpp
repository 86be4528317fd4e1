#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "engine/gguf/gguf_reader.h"
#include "engine/model/describe.h"
#include "tests/unit/golden_dir.h"

namespace dsv4::model {
namespace {

TEST(ModelDescribe, ListsLayersExpertsAndBytesByClass) {
    const auto file = gguf::GgufFile::open(test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    const ModelConfig config = read_model_config(file);
    const ModelWeights weights = bind_model_weights(file, config);
    std::ostringstream out;
    describe_model(config, weights, out);
    const std::string text = out.str();
    EXPECT_NE(text.find("5 layers, width 256, vocab 640"), std::string::npos) << text;
    EXPECT_NE(text.find("    2      4  sparse      hash          16  IQ2_XXS   Q2_K"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("    3    128  compressed  top-k         16  IQ2_XXS   Q2_K"),
              std::string::npos)
        << text;
    // The classes add up to every tensor byte of the file.
    uint64_t file_tensor_bytes = 0;
    for (const auto& t : file.tensors()) file_tensor_bytes += t.n_bytes;
    EXPECT_NE(text.find(std::to_string(file_tensor_bytes) + "  ("), std::string::npos)
        << "total " << file_tensor_bytes << " missing from\n"
        << text;
}

std::string run_tool(const std::string& args) {
    std::string output;
    FILE* pipe = popen((std::string(DSV4_TOOL_PATH) + " " + args + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return output;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
    pclose(pipe);
    return output;
}

TEST(ModelDescribe, InspectPrintsStateBytesPerToken) {
    // Tiny model: ratio-4 layers 2 and 4 grow by (192 + 128) / 4 rows of f32 per token, the
    // ratio-128 layer by 192 / 128: 2 * 320 + 6 = 646 bytes per token.
    const std::string out =
        run_tool("inspect --ctx 1000 " + test::golden_dir() + "/dsv4-tiny-s1-iq2xxs.gguf");
    EXPECT_NE(out.find("per token:      646.0 bytes"), std::string::npos) << out;
    EXPECT_NE(out.find("5 layers, width 256"), std::string::npos) << out;
    EXPECT_NE(run_tool("inspect --ctx 0 x.gguf").find("--ctx needs a positive number"),
              std::string::npos);
}

}  // namespace
}  // namespace dsv4::model
