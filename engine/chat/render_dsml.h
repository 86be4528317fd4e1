// Canonical DSML text for assistant tool calls replayed from JSON history (ds4-server §2.3):
// how arguments are split into parameters, how names and values are escaped. Owns the writing
// direction only; parsing what the model generates belongs to the output parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_types.h"

namespace dsv4::chat {

inline constexpr std::string_view kDsmlToolCallsOpen = "<｜DSML｜tool_calls>";
inline constexpr std::string_view kDsmlToolCallsClose = "</｜DSML｜tool_calls>";
inline constexpr std::string_view kDsmlInvokeOpen = "<｜DSML｜invoke name=\"";
inline constexpr std::string_view kDsmlInvokeClose = "</｜DSML｜invoke>";
inline constexpr std::string_view kDsmlParameterOpen = "<｜DSML｜parameter name=\"";
inline constexpr std::string_view kDsmlParameterClose = "</｜DSML｜parameter>";

struct ToolArgument {
    std::string name;
    // Strings decoded; any other value minified (whitespace outside strings removed, strings
    // and number spellings kept as written).
    std::string value;
    bool is_string = false;
};

// Splits tool-call arguments into top-level members, in order, duplicates kept. Returns
// nullopt when the text does not read as an object; the caller then passes it as one string
// parameter named "arguments".
//
// Arguments are often model-written text the client hands back, so this deliberately accepts
// what the ds4 reference's own reader accepts rather than strict RFC 8259 (commas between
// members optional, text after the closing brace ignored, numbers as C strtod reads them in the C
// locale, unpaired \u surrogates encoded as they are, a string ending at its first NUL): the
// replayed prompt must match what the reference would have shown the model, byte for byte.
std::optional<std::vector<ToolArgument>> split_tool_arguments(std::string_view arguments);

// name="..." attribute text: & < > " become &amp; &lt; &gt; &quot;.
void append_dsml_attribute(std::string& out, std::string_view text);
// A string="true" parameter value: raw, except that the literal parameter close tag gets its
// '<' written as "&lt;" so the value cannot end the parameter early.
void append_dsml_string_value(std::string& out, std::string_view text);
// A string="false" parameter value: the close tag's '<' written as the JSON escape \u003c.
void append_dsml_json_value(std::string& out, std::string_view json_text);

// "\n\n<｜DSML｜tool_calls>\n" + one invoke per call + "</｜DSML｜tool_calls>"; empty for no calls.
std::string canonical_tool_calls_dsml(const std::vector<ToolCall>& calls);

}  // namespace dsv4::chat
