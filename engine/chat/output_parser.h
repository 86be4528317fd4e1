// Generated text -> reasoning, content and DSML tool calls, fed one decoded piece at a time
// (ds4-server §2.2-2.9, §3): the events a stream projects, the final message, and the hints the
// decode loop needs (greedy structure, stop at the block end). Must not know API field names,
// response shapes, HTTP or token ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_types.h"

namespace dsv4::chat {

struct DsmlSyntax;  // one spelling of the tags (§2.2: "<｜DSML｜…", "<DSML｜…" or plain XML)

// Where tool-call ids come from. Production ids must be unguessable: a client able to predict
// the ids handed to another client could answer or replay that client's calls.
class ToolCallIdSource {
  public:
    virtual ~ToolCallIdSource() = default;
    virtual std::string next_id() = 0;
};

// `byte_count` bytes from the kernel CSPRNG (getrandom) as lowercase hex. Throws
// std::system_error when the kernel cannot supply them.
std::string random_hex(size_t byte_count);

// prefix + 32 lowercase hex digits (16 random bytes): "call_…" for OpenAI, "toolu_…" for Anthropic.
class RandomToolCallIds final : public ToolCallIdSource {
  public:
    explicit RandomToolCallIds(std::string prefix = "call_") : prefix_(std::move(prefix)) {}
    std::string next_id() override;

  private:
    std::string prefix_;
};

enum class OutputEventKind : uint8_t {
    ReasoningDelta,
    ContentDelta,
    ToolCallBegin,
    ToolArgumentsDelta,
    ToolCallEnd,
};

struct OutputEvent {
    OutputEventKind kind = OutputEventKind::ContentDelta;
    // ReasoningDelta / ContentDelta: the new text, valid UTF-8, never empty. ToolCallBegin: the
    // tool name. ToolArgumentsDelta: the next bytes of the call's arguments JSON text.
    std::string text;
    size_t tool_index = 0;  // tool events: position of the call in the message, from 0
    std::string tool_id;    // ToolCallBegin only
};

// Why the decode loop stopped. Stop: end-of-sentence token or a stop sequence. Length:
// max_tokens or a full context. Error: the engine failed, the client went away, or shutdown.
enum class GenerationEnd : uint8_t { Stop, Length, Error };

enum class FinishReason : uint8_t { Stop, Length, ToolCalls, Error };

// "stop", "length", "tool_calls", "error".
std::string_view finish_reason_name(FinishReason reason);

struct ParsedToolCall {
    std::string id;
    std::string name;
    // Compact JSON object text; always valid JSON, also for a call generation cut short.
    std::string arguments;
    // The call's invoke element exactly as generated.
    std::string dsml;
    // The model closed the call. False when generation ended inside it: the arguments then hold
    // what had been generated, closed so that they still parse.
    bool complete = false;
};

struct ParsedOutput {
    std::string reasoning;
    bool reasoning_closed = false;  // thinking mode: </think> was generated
    std::string content;
    std::vector<ParsedToolCall> tool_calls;
    // The tool-call block exactly as generated, from the whitespace that separates it from the
    // content through its close tag; empty unless every call came from one well-formed, closed
    // block. content + tool_calls_dsml is then the generated text after the reasoning, so
    // replaying it reproduces the tokens the cache already holds.
    std::string tool_calls_dsml;
    // Some DSML could not be read as tool calls and was returned as content instead.
    bool malformed_tool_calls = false;
    FinishReason finish_reason = FinishReason::Stop;
};

// Where the next token will land, for the sampler (§2.6): DSML structure is decoded greedily,
// string bodies and JSON strings with the request's sampling.
enum class DecodePosition : uint8_t { Outside, Structure, StringValue, JsonStructure, JsonString };

// Parameter names and declared JSON types of the request's tools, so that what the model wrote
// can be read against them (the DSML edge cases of vLLM issue 41240): a string="true" value for
// a parameter declared as number, boolean, array or object is sent as that JSON value when it
// parses as one; a string="false" value for a parameter declared as string is sent as a string;
// a lone "arguments" or "input" parameter wrapping the whole object is unwrapped when the tool
// declares no parameter of that name.
class ToolSchemaIndex {
  public:
    ToolSchemaIndex() = default;
    explicit ToolSchemaIndex(const std::vector<ToolSchema>& tools);

    // Reads "parameters" (OpenAI, Responses) or "input_schema" (Anthropic) of one tool's
    // schema; a schema that does not parse declares nothing.
    void add(std::string_view tool_name, std::string_view schema_json);

    bool knows_tool(std::string_view tool_name) const;
    bool has_parameter(std::string_view tool_name, std::string_view parameter) const;
    // The parameter's "type" when it is a single type name, else empty.
    std::string_view parameter_type(std::string_view tool_name, std::string_view parameter) const;

  private:
    using Parameters = std::map<std::string, std::string, std::less<>>;
    std::map<std::string, Parameters, std::less<>> tools_;
};

struct OutputParserOptions {
    // The prompt ended with "<think>": the output starts as reasoning and switches to content at
    // the first "</think>". Off, every byte is content and "</think>" is plain text.
    bool thinking = false;
    // Tools are active: DSML blocks after the reasoning become tool calls. Off, they are content.
    bool tool_calls = false;
    // The request's tool schemas; null reads values by their string="…" attribute alone. Must
    // outlive the parser.
    const ToolSchemaIndex* schemas = nullptr;
};

// One generation's incremental parser. Feed it every piece as it is decoded; each call appends
// the events that piece made certain, holding back bytes whose meaning depends on what follows
// (a possible "</think>" or DSML tag, whitespace that may separate content from a tool block,
// an incomplete UTF-8 sequence). finish() releases them. Whatever the split of the text into
// pieces, the events concatenate to the same final result.
//
// Malformed DSML never produces a broken call: a block that fails before its first call is
// returned as content byte for byte; one that fails later ends the open call with valid JSON and
// continues as content.
class OutputParser {
  public:
    // `ids` must outlive the parser; it is asked once per call, at the call's first event.
    OutputParser(OutputParserOptions options, ToolCallIdSource& ids);

    void feed(std::string_view piece, std::vector<OutputEvent>& events);
    // Ends the generation: flushes every held byte and settles the finish reason. Later feeds
    // are ignored.
    void finish(GenerationEnd end, std::vector<OutputEvent>& events);

    DecodePosition decode_position() const;
    // DSML structure or JSON punctuation comes next: sample greedily.
    bool wants_greedy_sampling() const;
    // A tool-call block was closed: generation should stop here (§2.5). Text fed afterwards is
    // not part of the message.
    bool tool_calls_complete() const { return mode_ == Mode::Closed; }
    bool finished() const { return finished_; }

    // The message so far; final after finish().
    const ParsedOutput& result() const { return result_; }

  private:
    enum class Mode : uint8_t { ThinkOpening, Reasoning, Text, Block, Closed };
    enum class BlockState : uint8_t {
        BetweenInvokes,
        BetweenParameters,
        LooseValueStart,  // parameter without string="…": a nested object or a string follows
        StringValue,
        JsonValue,
    };
    // Each step consumes held bytes or changes state and says whether it did; the feed loop runs
    // steps until none can.
    bool step();
    bool step_think_opening();
    bool step_reasoning();
    bool step_text();
    bool step_block();
    bool step_between_invokes();
    bool step_between_parameters();
    bool step_loose_value_start();
    bool step_string_value();
    bool step_json_value();

    void finish_block();
    void finish_string_value();
    void finish_json_value();
    // A well-formed close of the open call's value and invoke (and maybe the block) that the
    // model wrote without closing the parameter: trims `value`, returns whether it matched.
    bool cut_unclosed_value_tail(std::string& value, bool& closes_block) const;

    void open_block(size_t separator_at, size_t marker_at, const DsmlSyntax& syntax);
    void close_block();
    void fail_block();
    void consume(size_t byte_count);

    void begin_call(std::string name);
    void end_call(bool complete);
    void open_parameter(std::string name, const std::optional<std::string>& string_attribute);
    void begin_string_value();
    void open_arguments();
    void write_member_name(std::string_view name);
    void write_buffered_value(std::string_view text);
    void write_json_value(std::string_view text);
    void close_objects();

    void emit_reasoning(std::string_view text);
    void emit_content(std::string_view text);
    void emit_arguments(std::string_view json_fragment);
    void emit_string_fragment(std::string_view raw_value_bytes);

    OutputParserOptions options_;
    ToolCallIdSource& ids_;
    std::vector<OutputEvent>* events_ = nullptr;  // the caller's list during feed() / finish()
    Mode mode_;
    bool finished_ = false;
    std::string pending_;  // received, not yet turned into events
    ParsedOutput result_;

    // The open tool-call block.
    const DsmlSyntax* syntax_ = nullptr;
    BlockState block_state_ = BlockState::BetweenInvokes;
    std::string block_dsml_;  // bytes consumed since the separator whitespace
    size_t block_marker_end_ = 0;
    size_t block_first_call_ = 0;  // index of its first call in result_.tool_calls

    // The open call.
    bool call_open_ = false;
    size_t call_dsml_start_ = 0;            // in block_dsml_
    bool arguments_open_ = false;           // its "{" was sent
    std::vector<bool> object_has_members_;  // one entry per open JSON object of its arguments
    std::string wrapper_name_;              // "arguments" / "input" while it may be unwrapped
    std::optional<std::string> unwrapped_arguments_;  // the wrapped object, until the call ends

    // The value being read. String values are sent as they arrive unless they must be seen
    // whole first (schema coercion, a possible wrapper); JSON values are always seen whole.
    bool value_is_string_ = false;
    bool value_buffered_ = false;
    bool value_is_wrapper_ = false;
    std::string value_schema_type_;
    std::string value_buffer_;
    bool json_in_string_ = false;  // lexical position at the end of a JSON value_buffer_
    bool json_escape_ = false;
};

// The whole text at once: the non-stream path and tests.
ParsedOutput parse_output(std::string_view text, GenerationEnd end, OutputParserOptions options,
                          ToolCallIdSource& ids);

// Text bytes with every invalid or truncated UTF-8 sequence replaced by U+FFFD, so that it can
// be sent in JSON.
std::string valid_utf8(std::string_view text);

}  // namespace dsv4::chat
