#include <gtest/gtest.h>

#include <sstream>

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

}  // namespace
}  // namespace dsv4::model
