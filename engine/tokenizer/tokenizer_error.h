// The one exception type of the tokenizer module: a model whose vocabulary cannot be used, or a
// request the vocabulary cannot serve (an id out of range). Messages name the GGUF file and the
// key or token concerned so that a user can tell which file is at fault.
#pragma once

#include <stdexcept>
#include <string>

namespace dsv4::tokenizer {

class TokenizerError : public std::runtime_error {
  public:
    explicit TokenizerError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dsv4::tokenizer
