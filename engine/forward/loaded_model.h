// A DSV4 model opened for inference: the mapped GGUF, its config and the weight views into it,
// kept together so the views never outlive the mapping. Owns no computation.
#pragma once

#include <memory>
#include <string>

#include "engine/gguf/gguf_reader.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace dsv4::forward {

struct LoadedModel {
    explicit LoadedModel(gguf::GgufFile opened)
        : file(std::move(opened)),
          config(model::read_model_config(file)),
          weights(model::bind_model_weights(file, config)) {}
    LoadedModel(const LoadedModel&) = delete;
    LoadedModel& operator=(const LoadedModel&) = delete;

    gguf::GgufFile file;
    model::ModelConfig config;
    model::ModelWeights weights;
};

// Loads (maps or copies, see gguf::LoadMode) and validates the file; throws gguf::GgufError or
// model::ModelError with the reason.
inline std::unique_ptr<LoadedModel> load_model(const std::string& path,
                                               gguf::LoadMode mode = gguf::LoadMode::Map) {
    return std::make_unique<LoadedModel>(gguf::GgufFile::open(path, mode));
}

}  // namespace dsv4::forward
