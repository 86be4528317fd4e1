// The one exception type of the GGUF module. Every reader, accessor and writer failure is a
// GgufError whose message names the file, the byte offset and the key or tensor concerned; the
// kind lets callers tell a missing key from a wrong type without parsing the message.
#pragma once

#include <stdexcept>
#include <string>

namespace dsv4::gguf {

enum class ErrorKind {
    Io,               // the file could not be opened, mapped or written
    Malformed,        // the bytes break the GGUF format or one of our validation rules
    MissingKey,       // a required metadata key is absent
    WrongType,        // a metadata key is present but its type or value does not fit the request
    MissingTensor,    // a required tensor is absent
    InvalidArgument,  // the writer was asked to produce something that would not read back
};

class GgufError : public std::runtime_error {
  public:
    GgufError(ErrorKind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}

    ErrorKind kind() const noexcept { return kind_; }

  private:
    ErrorKind kind_;
};

}  // namespace dsv4::gguf
