// A human-readable summary of a bound DSV4 model: shape, per-layer attention kind and experts,
// weight bytes by tensor class. Owns formatting only; it reads config and weights, never files.
#pragma once

#include <ostream>

#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace dsv4::model {

void describe_model(const ModelConfig& config, const ModelWeights& weights, std::ostream& out);

}  // namespace dsv4::model
