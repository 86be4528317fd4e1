// Entry points of the per-API request mappers behind map_request (internal to
// engine/chat/openai_request*). Each takes the parsed body object and owns that API's fields only.
#pragma once

#include "engine/chat/openai_request.h"
#include "engine/common/json.h"

namespace dsv4::chat::detail {

MappedRequest map_anthropic_messages(const json::Value& body, const MappingOptions& options);
MappedRequest map_responses(const json::Value& body, const MappingOptions& options);

// The message before `before` that carries an assistant call with this id, or nullptr.
const Message* find_prior_call(const std::vector<Message>& messages, size_t before,
                               std::string_view call_id);

}  // namespace dsv4::chat::detail
