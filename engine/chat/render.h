// The DeepSeek V4 prompt text for a Conversation, byte for byte as the ds4 reference renders it,
// and the exact-DSML replay hook. Owns the template only: not JSON fields (openai_request), not
// tokenization, not the tool memory's storage (whoever implements ToolReplay).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/chat/chat_types.h"

namespace dsv4::chat {

// The literal special-token strings of the template.
inline constexpr std::string_view kBeginOfSentence = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEndOfSentence = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUserMarker = "<｜User｜>";
inline constexpr std::string_view kAssistantMarker = "<｜Assistant｜>";
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";

// Written right after BOS in Think-Max mode.
extern const std::string_view kThinkMaxPrefix;

// ---- exact DSML replay ----

enum class ReplaySource : uint8_t { Memory, Disk };

struct ReplayBlock {
    std::string dsml;  // the whole sampled block, shared by every call of its turn
    ReplaySource source = ReplaySource::Memory;
};

// Maps a tool-call id to the DSML block the model sampled when it made that call, so that
// history can be replayed exactly as generated instead of re-rendered from the client's JSON
// (which would differ in whitespace, key order or number spelling and cost a KV-cache miss).
class ToolReplay {
  public:
    virtual ~ToolReplay() = default;
    // Not const: a cache may refresh the entry's recency.
    virtual std::optional<ReplayBlock> find(std::string_view call_id) = 0;
};

// A plain map, for tests, the CLI and as a seed for larger stores.
class MapToolReplay : public ToolReplay {
  public:
    void remember(std::string call_id, std::string dsml,
                  ReplaySource source = ReplaySource::Memory);
    std::optional<ReplayBlock> find(std::string_view call_id) override;

  private:
    std::map<std::string, ReplayBlock, std::less<>> blocks_;
};

struct ReplayStats {
    int memory = 0;       // messages replayed from blocks found in memory
    int disk = 0;         // messages replayed from blocks that all came from disk
    int canonical = 0;    // messages rendered canonically
    int missing_ids = 0;  // call ids not found, over the canonical messages
};

// For each message with tool calls and no exact block yet: when every call id is known and all
// map to the same block, stores that block in Message::exact_tool_calls_dsml. replay == nullptr
// means exact replay is disabled: nothing is looked up and every such message counts canonical.
ReplayStats attach_tool_replay(Conversation& conversation, ToolReplay* replay);

// ---- rendering ----

struct RenderedPrompt {
    std::string text;
    ThinkMode think_mode = ThinkMode::High;  // after the context gate
    bool tools_active = false;
    // Reasoning is kept on every assistant turn (tools active, or tool calls / results in the
    // history); otherwise only turns after the last user message keep theirs.
    bool preserves_reasoning = false;
};

// "<tool_result>" + text + "</tool_result>", the text verbatim except that its own closing tag
// gets its '<' written as "&lt;". Anthropic tool_result blocks are inlined into user content
// with it before rendering.
void append_tool_result_block(std::string& out, std::string_view text);

// The tool-prompt block (instructions + one schema per line) that opens the system text; empty
// when no schema line is non-empty.
std::string render_tools_block(const Conversation& conversation);

RenderedPrompt render_prompt(const Conversation& conversation);

}  // namespace dsv4::chat
