#include "engine/chat/output_parser.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>

#include "engine/common/json.h"

namespace dsv4::chat {

// Tag spellings of one DSML syntax. A block is read in the syntax of its open marker.
struct DsmlSyntax {
    std::string_view block_open;
    std::string_view block_close;
    std::string_view invoke_open;  // tag name; attributes and '>' follow
    std::string_view invoke_close;
    std::string_view parameter_open;
    std::string_view parameter_close;
    // The only escape inside string values: how a value writes the literal parameter close tag.
    std::string_view escaped_parameter_close;
};

namespace {

constexpr DsmlSyntax kSyntaxes[] = {
    {"<｜DSML｜tool_calls>", "</｜DSML｜tool_calls>", "<｜DSML｜invoke", "</｜DSML｜invoke>",
     "<｜DSML｜parameter", "</｜DSML｜parameter>", "&lt;/｜DSML｜parameter>"},
    {"<DSML｜tool_calls>", "</DSML｜tool_calls>", "<DSML｜invoke", "</DSML｜invoke>",
     "<DSML｜parameter", "</DSML｜parameter>", "&lt;/DSML｜parameter>"},
    {"<tool_calls>", "</tool_calls>", "<invoke", "</invoke>", "<parameter", "</parameter>",
     "&lt;/parameter>"},
};

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// An open tag longer than this is not a tag the model meant: names are short.
constexpr size_t kMaxTagBytes = 4096;
// Loose nested parameters deeper than this are read as text.
constexpr size_t kMaxObjectDepth = 16;

// ASCII whitespace as the C locale's isspace() sees it.
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t leading_space(std::string_view text) {
    size_t n = 0;
    while (n < text.size() && is_space(text[n])) ++n;
    return n;
}

// Start of the whitespace run that ends at `end`.
size_t space_run_start(std::string_view text, size_t end) {
    while (end > 0 && is_space(text[end - 1])) --end;
    return end;
}

// Length of the longest proper prefix of `literal` that `text` ends with.
size_t partial_suffix(std::string_view text, std::string_view literal) {
    size_t longest = std::min(text.size(), literal.size() - 1);
    for (size_t k = longest; k > 0; --k) {
        if (text.substr(text.size() - k) == literal.substr(0, k)) return k;
    }
    return 0;
}

// Trailing bytes that start a UTF-8 sequence the text does not finish yet.
size_t incomplete_utf8_tail(std::string_view text) {
    for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
        auto byte = static_cast<unsigned char>(text[text.size() - back]);
        if ((byte & 0xC0) == 0x80) continue;
        size_t length = byte >= 0xF0 && byte <= 0xF4   ? 4
                        : byte >= 0xE0 && byte <= 0xEF ? 3
                        : byte >= 0xC2 && byte <= 0xDF ? 2
                                                       : 1;
        return length > back ? back : 0;
    }
    return 0;
}

enum class TagMatch : uint8_t { None, Partial, Full };

// `text` starts with `literal`; Partial when it is a shorter prefix of it.
TagMatch match_literal(std::string_view text, std::string_view literal) {
    if (text.size() < literal.size()) {
        return literal.starts_with(text) ? TagMatch::Partial : TagMatch::None;
    }
    return text.starts_with(literal) ? TagMatch::Full : TagMatch::None;
}

// `text` starts with the open tag `name`, which must be followed by whitespace or '>'.
TagMatch match_open_tag(std::string_view text, std::string_view name) {
    if (text.size() <= name.size()) {
        return name.starts_with(text) ? TagMatch::Partial : TagMatch::None;
    }
    if (!text.starts_with(name)) return TagMatch::None;
    char next = text[name.size()];
    return is_space(next) || next == '>' ? TagMatch::Full : TagMatch::None;
}

std::string decode_attribute_entities(std::string_view text) {
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        bool decoded = false;
        if (text[i] == '&') {
            for (const auto& [entity, byte] : kEntities) {
                if (text.substr(i).starts_with(entity)) {
                    out += byte;
                    i += entity.size();
                    decoded = true;
                    break;
                }
            }
        }
        if (!decoded) out += text[i++];
    }
    return out;
}

struct TagAttributes {
    std::optional<std::string> name;
    std::optional<std::string> string;
};

// key="value" pairs between a tag name and its '>'; reading stops at anything else, so a
// single-quoted or unquoted attribute and everything after it are not seen.
TagAttributes read_attributes(std::string_view text) {
    TagAttributes attributes;
    size_t i = 0;
    while (true) {
        i += leading_space(text.substr(i));
        size_t key_start = i;
        while (i < text.size() && !is_space(text[i]) && text[i] != '=') ++i;
        std::string_view key = text.substr(key_start, i - key_start);
        i += leading_space(text.substr(i));
        if (key.empty() || i >= text.size() || text[i] != '=') break;
        ++i;
        i += leading_space(text.substr(i));
        if (i >= text.size() || text[i] != '"') break;
        size_t close = text.find('"', i + 1);
        if (close == std::string_view::npos) break;
        std::string value = decode_attribute_entities(text.substr(i + 1, close - i - 1));
        i = close + 1;
        if (key == "name" && !attributes.name) attributes.name = std::move(value);
        if (key == "string" && !attributes.string) attributes.string = std::move(value);
    }
    return attributes;
}

// How much of the text after an unclosed parameter value reads as the invoke close, maybe
// followed by the block close, that the model wrote without closing the parameter first.
enum class CloseTail : uint8_t { None, Partial, Invoke, InvokePartialBlock, InvokeAndBlock };

CloseTail match_close_tail(std::string_view text, const DsmlSyntax& syntax) {
    switch (match_literal(text, syntax.invoke_close)) {
        case TagMatch::None:
            return CloseTail::None;
        case TagMatch::Partial:
            return CloseTail::Partial;
        case TagMatch::Full:
            break;
    }
    text.remove_prefix(syntax.invoke_close.size());
    text.remove_prefix(leading_space(text));
    if (text.empty()) return CloseTail::Invoke;
    switch (match_literal(text, syntax.block_close)) {
        case TagMatch::None:
            return CloseTail::None;
        case TagMatch::Partial:
            return CloseTail::InvokePartialBlock;
        case TagMatch::Full:
            break;
    }
    text.remove_prefix(syntax.block_close.size());
    return leading_space(text) == text.size() ? CloseTail::InvokeAndBlock : CloseTail::None;
}

struct CloseTailMatch {
    size_t start;  // where the tail begins, its leading whitespace included
    CloseTail kind;
};

// The tail holds at most two tags, so it can only begin at one of the last two '<'; the
// earliest match wins. Trailing whitespace alone is a Partial tail.
CloseTailMatch find_close_tail(std::string_view text, const DsmlSyntax& syntax) {
    size_t last = text.rfind('<');
    if (last != std::string_view::npos) {
        size_t before = last == 0 ? std::string_view::npos : text.rfind('<', last - 1);
        for (size_t at : {before, last}) {
            if (at == std::string_view::npos) continue;
            CloseTail kind = match_close_tail(text.substr(at), syntax);
            if (kind != CloseTail::None) return {space_run_start(text, at), kind};
        }
    }
    return {space_run_start(text, text.size()), CloseTail::Partial};
}

// Where a string value's bytes stop being certain: a possible close tag or escaped close tag
// (partial), and a possible close of the invoke without the parameter's close.
size_t string_value_hold_start(std::string_view text, const DsmlSyntax& syntax) {
    size_t partial_tag = std::max(partial_suffix(text, syntax.parameter_close),
                                  partial_suffix(text, syntax.escaped_parameter_close));
    return std::min(text.size() - partial_tag, find_close_tail(text, syntax).start);
}

std::string_view trim_space(std::string_view text) {
    text.remove_prefix(leading_space(text));
    return text.substr(0, space_run_start(text, text.size()));
}

// The kind of the JSON value `text` holds, or nothing when it is not JSON.
std::optional<json::Kind> json_kind(std::string_view text) {
    if (text.empty()) return std::nullopt;
    try {
        return json::parse(text).root().kind();
    } catch (const json::JsonError&) {
        return std::nullopt;
    }
}

// The body of a JSON string literal for `text` (quotes left out).
std::string json_string_body(std::string_view text) {
    std::string quoted = json::quote(text);
    return quoted.substr(1, quoted.size() - 2);
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
        text.replace(at, from.size(), to);
        at += to.size();
    }
}

}  // namespace

// ---- ids, names, UTF-8 ----

std::string random_hex(size_t byte_count) {
    std::string bytes(byte_count, '\0');
    size_t filled = 0;
    while (filled < byte_count) {
        ssize_t got = getrandom(bytes.data() + filled, byte_count - filled, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        filled += static_cast<size_t>(got);
    }
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(byte_count * 2);
    for (char byte : bytes) {
        auto value = static_cast<unsigned char>(byte);
        hex += kDigits[value >> 4];
        hex += kDigits[value & 0x0F];
    }
    return hex;
}

std::string RandomToolCallIds::next_id() {
    return prefix_ + random_hex(16);
}

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::ToolCalls:
            return "tool_calls";
        case FinishReason::Error:
            return "error";
    }
    return "stop";
}

std::string valid_utf8(std::string_view text) {
    static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80) {
            out += text[i++];
            continue;
        }
        size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                        : lead >= 0xE0 && lead <= 0xEF ? 3
                        : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                       : 0;
        // The second byte's range excludes overlong forms, surrogates and code points past
        // U+10FFFF; later bytes are plain continuation bytes.
        unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
        unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        size_t valid = 1;
        while (valid < length && i + valid < text.size()) {
            auto byte = static_cast<unsigned char>(text[i + valid]);
            bool in_range = valid == 1 ? byte >= low && byte <= high : (byte & 0xC0) == 0x80;
            if (!in_range) break;
            ++valid;
        }
        if (length != 0 && valid == length) {
            out.append(text.substr(i, length));
        } else {
            out += kReplacement;  // one replacement per maximal invalid subpart
        }
        i += valid;
    }
    return out;
}

// ---- tool schemas ----

ToolSchemaIndex::ToolSchemaIndex(const std::vector<ToolSchema>& tools) {
    for (const ToolSchema& tool : tools) {
        if (!tool.name.empty()) add(tool.name, tool.schema_json);
    }
}

void ToolSchemaIndex::add(std::string_view tool_name, std::string_view schema_json) {
    Parameters parameters;
    try {
        json::Document document = json::parse(schema_json);
        const json::Value& root = document.root();
        const json::Value* schema = root.is_object() ? root.find("parameters") : nullptr;
        if (schema == nullptr && root.is_object()) schema = root.find("input_schema");
        const json::Value* properties =
            schema != nullptr && schema->is_object() ? schema->find("properties") : nullptr;
        if (properties != nullptr && properties->is_object()) {
            for (size_t i = 0; i < properties->size(); ++i) {
                const json::Value& property = properties->at(i);
                const json::Value* type = property.is_object() ? property.find("type") : nullptr;
                parameters[properties->key_at(i)] =
                    type != nullptr && type->is_string() ? type->as_string() : "";
            }
        }
    } catch (const json::JsonError&) {
        return;
    }
    tools_[std::string(tool_name)] = std::move(parameters);
}

bool ToolSchemaIndex::knows_tool(std::string_view tool_name) const {
    return tools_.find(tool_name) != tools_.end();
}

bool ToolSchemaIndex::has_parameter(std::string_view tool_name, std::string_view parameter) const {
    auto tool = tools_.find(tool_name);
    return tool != tools_.end() && tool->second.find(parameter) != tool->second.end();
}

std::string_view ToolSchemaIndex::parameter_type(std::string_view tool_name,
                                                 std::string_view parameter) const {
    auto tool = tools_.find(tool_name);
    if (tool == tools_.end()) return {};
    auto found = tool->second.find(parameter);
    return found == tool->second.end() ? std::string_view() : std::string_view(found->second);
}

// ---- the parser: flow, reasoning and text ----

OutputParser::OutputParser(OutputParserOptions options, ToolCallIdSource& ids)
    : options_(options), ids_(ids), mode_(options.thinking ? Mode::ThinkOpening : Mode::Text) {}

void OutputParser::feed(std::string_view piece, std::vector<OutputEvent>& events) {
    if (finished_ || mode_ == Mode::Closed) return;
    events_ = &events;
    pending_.append(piece);
    while (step()) {
    }
    events_ = nullptr;
}

void OutputParser::finish(GenerationEnd end, std::vector<OutputEvent>& events) {
    if (finished_) return;
    events_ = &events;
    while (step()) {
    }
    switch (mode_) {
        case Mode::ThinkOpening:
        case Mode::Reasoning:
            emit_reasoning(pending_);
            break;
        case Mode::Text:
            emit_content(pending_);
            break;
        case Mode::Block:
            finish_block();
            break;
        case Mode::Closed:
            break;
    }
    pending_.clear();
    if (end == GenerationEnd::Error) {
        result_.finish_reason = FinishReason::Error;
    } else if (mode_ == Mode::Closed) {
        result_.finish_reason = FinishReason::ToolCalls;
    } else if (end == GenerationEnd::Length) {
        result_.finish_reason = FinishReason::Length;
    } else {
        result_.finish_reason =
            result_.tool_calls.empty() ? FinishReason::Stop : FinishReason::ToolCalls;
    }
    finished_ = true;
    events_ = nullptr;
}

bool OutputParser::step() {
    switch (mode_) {
        case Mode::ThinkOpening:
            return step_think_opening();
        case Mode::Reasoning:
            return step_reasoning();
        case Mode::Text:
            return step_text();
        case Mode::Block:
            return step_block();
        case Mode::Closed:
            pending_.clear();
            return false;
    }
    return false;
}

// The model may repeat the "<think>" the prompt ended with; one copy at the very start is
// dropped.
bool OutputParser::step_think_opening() {
    if (pending_.size() < kThinkOpen.size() && kThinkOpen.starts_with(pending_)) return false;
    if (pending_.starts_with(kThinkOpen)) pending_.erase(0, kThinkOpen.size());
    mode_ = Mode::Reasoning;
    return true;
}

bool OutputParser::step_reasoning() {
    size_t close = pending_.find(kThinkClose);
    if (close != std::string::npos) {
        emit_reasoning(std::string_view(pending_).substr(0, close));
        pending_.erase(0, close + kThinkClose.size());
        result_.reasoning_closed = true;
        mode_ = Mode::Text;
        return true;
    }
    std::string_view text = pending_;
    size_t ready = text.size() - partial_suffix(text, kThinkClose);
    ready -= incomplete_utf8_tail(text.substr(0, ready));
    emit_reasoning(text.substr(0, ready));
    pending_.erase(0, ready);
    return false;
}

// With tools active, content is held while it could still turn into a block: a partial open
// marker, and the whitespace before it, which separates content from the block and is not
// content.
bool OutputParser::step_text() {
    std::string_view text = pending_;
    size_t ready = text.size();
    if (options_.tool_calls) {
        const DsmlSyntax* first = nullptr;
        size_t first_at = std::string_view::npos;
        for (const DsmlSyntax& syntax : kSyntaxes) {
            size_t at = text.find(syntax.block_open);
            if (at < first_at) {
                first_at = at;
                first = &syntax;
            }
        }
        if (first != nullptr) {
            size_t separator_at = space_run_start(text, first_at);
            emit_content(text.substr(0, separator_at));
            open_block(separator_at, first_at, *first);
            return true;
        }
        for (const DsmlSyntax& syntax : kSyntaxes) {
            ready = std::min(ready, text.size() - partial_suffix(text, syntax.block_open));
        }
        ready = space_run_start(text, ready);
    }
    ready -= incomplete_utf8_tail(text.substr(0, ready));
    emit_content(text.substr(0, ready));
    pending_.erase(0, ready);
    return false;
}

void OutputParser::emit_reasoning(std::string_view text) {
    if (text.empty()) return;
    std::string clean = valid_utf8(text);
    result_.reasoning += clean;
    events_->push_back({OutputEventKind::ReasoningDelta, std::move(clean), 0, {}});
}

void OutputParser::emit_content(std::string_view text) {
    if (text.empty()) return;
    std::string clean = valid_utf8(text);
    result_.content += clean;
    events_->push_back({OutputEventKind::ContentDelta, std::move(clean), 0, {}});
}

void OutputParser::emit_arguments(std::string_view json_fragment) {
    if (json_fragment.empty()) return;
    ParsedToolCall& call = result_.tool_calls.back();
    call.arguments += json_fragment;
    events_->push_back({OutputEventKind::ToolArgumentsDelta,
                        std::string(json_fragment),
                        result_.tool_calls.size() - 1,
                        {}});
}

void OutputParser::emit_string_fragment(std::string_view raw_value_bytes) {
    std::string value(raw_value_bytes);
    replace_all(value, syntax_->escaped_parameter_close, syntax_->parameter_close);
    emit_arguments(json_string_body(valid_utf8(value)));
}

// ---- the tool-call block ----

void OutputParser::open_block(size_t separator_at, size_t marker_at, const DsmlSyntax& syntax) {
    size_t marker_end = marker_at + syntax.block_open.size();
    block_dsml_.assign(pending_, separator_at, marker_end - separator_at);
    block_marker_end_ = block_dsml_.size();
    pending_.erase(0, marker_end);
    syntax_ = &syntax;
    block_state_ = BlockState::BetweenInvokes;
    block_first_call_ = result_.tool_calls.size();
    call_open_ = false;
    mode_ = Mode::Block;
}

void OutputParser::close_block() {
    // Exact replay needs every call of the message in this one block, and the content before it
    // to be the generated text byte for byte (which reverted blocks keep true).
    if (block_first_call_ == 0) result_.tool_calls_dsml = block_dsml_;
    block_dsml_.clear();
    mode_ = Mode::Closed;
    pending_.clear();
}

// The block is not DSML the parser can read. Before its first call nothing has been sent, so
// the whole block is content again and scanning resumes after its open marker; after calls were
// sent, the open call is closed and the text from the offending tag on is content.
void OutputParser::fail_block() {
    result_.malformed_tool_calls = true;
    if (result_.tool_calls.size() == block_first_call_) {
        emit_content(std::string_view(block_dsml_).substr(0, block_marker_end_));
        pending_.insert(0, block_dsml_, block_marker_end_);
    } else {
        if (call_open_) end_call(false);
        pending_.erase(0, leading_space(pending_));  // the layout between tags is not content
    }
    block_dsml_.clear();
    syntax_ = nullptr;
    mode_ = Mode::Text;
}

void OutputParser::consume(size_t byte_count) {
    block_dsml_.append(pending_, 0, byte_count);
    pending_.erase(0, byte_count);
}

void OutputParser::begin_call(std::string name) {
    ParsedToolCall call;
    call.id = ids_.next_id();
    call.name = valid_utf8(name);
    events_->push_back(
        {OutputEventKind::ToolCallBegin, call.name, result_.tool_calls.size(), call.id});
    result_.tool_calls.push_back(std::move(call));
    call_open_ = true;
    arguments_open_ = false;
    object_has_members_.assign(1, false);
    unwrapped_arguments_.reset();
}

void OutputParser::end_call(bool complete) {
    close_objects();
    ParsedToolCall& call = result_.tool_calls.back();
    call.dsml = block_dsml_.substr(call_dsml_start_);
    call.complete = complete;
    events_->push_back({OutputEventKind::ToolCallEnd, {}, result_.tool_calls.size() - 1, {}});
    call_open_ = false;
}

// The arguments' "{" waits for the first parameter, which may turn out to wrap them all.
void OutputParser::open_arguments() {
    if (arguments_open_) return;
    arguments_open_ = true;
    emit_arguments("{");
    if (unwrapped_arguments_) {
        // Another parameter follows, so the wrapper was an ordinary one after all.
        std::string member = json::quote(wrapper_name_) + ":" + *unwrapped_arguments_;
        unwrapped_arguments_.reset();
        object_has_members_.front() = true;
        emit_arguments(member);
    }
}

void OutputParser::write_member_name(std::string_view name) {
    open_arguments();
    std::string member = object_has_members_.back() ? "," : "";
    member += json::quote(name);
    member += ':';
    object_has_members_.back() = true;
    emit_arguments(member);
}

void OutputParser::close_objects() {
    if (!arguments_open_) {
        emit_arguments(unwrapped_arguments_ ? *unwrapped_arguments_ : "{}");
        unwrapped_arguments_.reset();
        arguments_open_ = true;
        object_has_members_.clear();
        return;
    }
    while (!object_has_members_.empty()) {
        emit_arguments("}");
        object_has_members_.pop_back();
    }
}

void OutputParser::open_parameter(std::string name,
                                  const std::optional<std::string>& string_attribute) {
    const ParsedToolCall& call = result_.tool_calls.back();
    const ToolSchemaIndex* schemas = options_.schemas;
    value_schema_type_ = schemas != nullptr ? schemas->parameter_type(call.name, name) : "";
    value_is_wrapper_ = string_attribute && (name == "arguments" || name == "input") &&
                        !arguments_open_ && !unwrapped_arguments_ && schemas != nullptr &&
                        schemas->knows_tool(call.name) && !schemas->has_parameter(call.name, name);
    value_buffer_.clear();
    if (value_is_wrapper_) {
        wrapper_name_ = std::move(name);
    } else {
        write_member_name(name);
    }
    if (!string_attribute) {
        block_state_ = BlockState::LooseValueStart;
    } else if (*string_attribute == "true") {
        begin_string_value();
    } else {
        value_is_string_ = false;
        json_in_string_ = false;
        json_escape_ = false;
        block_state_ = BlockState::JsonValue;
    }
}

void OutputParser::begin_string_value() {
    value_is_string_ = true;
    bool coerced = !value_schema_type_.empty() && value_schema_type_ != "string";
    value_buffered_ = value_is_wrapper_ || coerced;
    if (!value_buffered_) emit_arguments("\"");
    block_state_ = BlockState::StringValue;
}

// A value seen whole: a wrapper whose content is an object becomes the call's arguments if
// nothing follows it; otherwise the value is written as its schema asks.
void OutputParser::write_buffered_value(std::string_view text) {
    if (value_is_wrapper_) {
        std::string_view trimmed = trim_space(text);
        if (json_kind(trimmed) == json::Kind::Object) {
            unwrapped_arguments_ = json::minify(trimmed);
            return;
        }
        write_member_name(wrapper_name_);
    }
    if (!value_is_string_) {
        write_json_value(text);
        return;
    }
    std::string_view trimmed = trim_space(text);
    bool coerce = !value_schema_type_.empty() && value_schema_type_ != "string";
    if (coerce && json_kind(trimmed)) {
        emit_arguments(json::minify(trimmed));
    } else {
        emit_arguments(json::quote(valid_utf8(text)));
    }
}

// string="false" values are JSON; anything else the model wrote there is kept as a string
// rather than passed on as broken JSON, and so is a non-string value the schema declares as a
// string.
void OutputParser::write_json_value(std::string_view text) {
    std::string_view value = trim_space(text);
    std::optional<json::Kind> kind = json_kind(value);
    bool wants_string = value_schema_type_ == "string" && kind && *kind != json::Kind::String &&
                        *kind != json::Kind::Null;
    if (value.empty()) {
        emit_arguments("null");
    } else if (kind && !wants_string) {
        emit_arguments(json::minify(value));
    } else {
        emit_arguments(json::quote(valid_utf8(value)));
    }
}

bool OutputParser::step_block() {
    switch (block_state_) {
        case BlockState::BetweenInvokes:
            return step_between_invokes();
        case BlockState::BetweenParameters:
            return step_between_parameters();
        case BlockState::LooseValueStart:
            return step_loose_value_start();
        case BlockState::StringValue:
            return step_string_value();
        case BlockState::JsonValue:
            return step_json_value();
    }
    return false;
}

bool OutputParser::step_between_invokes() {
    size_t space = leading_space(pending_);
    std::string_view rest = std::string_view(pending_).substr(space);
    if (rest.empty()) return false;
    if (match_literal(rest, syntax_->block_close) == TagMatch::Full) {
        consume(space + syntax_->block_close.size());
        close_block();
        return true;
    }
    TagMatch invoke = match_open_tag(rest, syntax_->invoke_open);
    if (invoke == TagMatch::Full) {
        size_t tag_end = rest.find('>');
        if (tag_end == std::string_view::npos) {
            if (rest.size() <= kMaxTagBytes) return false;
            fail_block();
            return true;
        }
        size_t name_end = syntax_->invoke_open.size();
        TagAttributes attributes = read_attributes(rest.substr(name_end, tag_end - name_end));
        if (!attributes.name || attributes.name->empty()) {
            fail_block();
            return true;
        }
        consume(space);
        call_dsml_start_ = block_dsml_.size();
        consume(tag_end + 1);
        begin_call(std::move(*attributes.name));
        block_state_ = BlockState::BetweenParameters;
        return true;
    }
    if (invoke == TagMatch::Partial ||
        match_literal(rest, syntax_->block_close) == TagMatch::Partial) {
        return false;
    }
    fail_block();
    return true;
}

bool OutputParser::step_between_parameters() {
    size_t space = leading_space(pending_);
    std::string_view rest = std::string_view(pending_).substr(space);
    if (rest.empty()) return false;
    bool nested = object_has_members_.size() > 1;
    if (nested && match_literal(rest, syntax_->parameter_close) == TagMatch::Full) {
        consume(space + syntax_->parameter_close.size());
        emit_arguments("}");
        object_has_members_.pop_back();
        return true;
    }
    if (match_literal(rest, syntax_->invoke_close) == TagMatch::Full) {
        consume(space + syntax_->invoke_close.size());
        end_call(true);
        block_state_ = BlockState::BetweenInvokes;
        return true;
    }
    // A missing invoke close: the block close still ends the call the way the model meant.
    if (match_literal(rest, syntax_->block_close) == TagMatch::Full) {
        consume(space + syntax_->block_close.size());
        end_call(true);
        close_block();
        return true;
    }
    TagMatch parameter = match_open_tag(rest, syntax_->parameter_open);
    if (parameter == TagMatch::Full) {
        size_t tag_end = rest.find('>');
        if (tag_end == std::string_view::npos) {
            if (rest.size() <= kMaxTagBytes) return false;
            fail_block();
            return true;
        }
        size_t name_end = syntax_->parameter_open.size();
        TagAttributes attributes = read_attributes(rest.substr(name_end, tag_end - name_end));
        if (!attributes.name) {
            fail_block();
            return true;
        }
        consume(space + tag_end + 1);
        open_parameter(valid_utf8(*attributes.name), attributes.string);
        return true;
    }
    if (parameter == TagMatch::Partial ||
        match_literal(rest, syntax_->invoke_close) == TagMatch::Partial ||
        match_literal(rest, syntax_->block_close) == TagMatch::Partial ||
        (nested && match_literal(rest, syntax_->parameter_close) == TagMatch::Partial)) {
        return false;
    }
    fail_block();
    return true;
}

// A parameter without string="…" holds either more parameters (an object, §2.4 "loose
// nested") or, like string="true", text; its leading whitespace belongs to the text.
bool OutputParser::step_loose_value_start() {
    size_t space = leading_space(pending_);
    std::string_view rest = std::string_view(pending_).substr(space);
    if (rest.empty()) return false;
    TagMatch nested = match_open_tag(rest, syntax_->parameter_open);
    if (nested == TagMatch::Partial) return false;
    if (nested == TagMatch::Full && object_has_members_.size() < kMaxObjectDepth) {
        consume(space);
        emit_arguments("{");
        object_has_members_.push_back(false);
        block_state_ = BlockState::BetweenParameters;
        return true;
    }
    begin_string_value();
    return true;
}

bool OutputParser::step_string_value() {
    std::string_view text = pending_;
    size_t close = text.find(syntax_->parameter_close);
    size_t ready = close;
    if (close == std::string_view::npos) {
        ready = string_value_hold_start(text, *syntax_);
        ready -= incomplete_utf8_tail(text.substr(0, ready));
    }
    if (value_buffered_) {
        value_buffer_.append(text.substr(0, ready));
    } else {
        emit_string_fragment(text.substr(0, ready));
    }
    if (close == std::string_view::npos) {
        consume(ready);
        return false;
    }
    consume(close + syntax_->parameter_close.size());
    if (value_buffered_) {
        replace_all(value_buffer_, syntax_->escaped_parameter_close, syntax_->parameter_close);
        write_buffered_value(value_buffer_);
    } else {
        emit_arguments("\"");
    }
    block_state_ = BlockState::BetweenParameters;
    return true;
}

bool OutputParser::step_json_value() {
    if (pending_.empty()) return false;
    std::string_view close_tag = syntax_->parameter_close;
    size_t previous = value_buffer_.size();
    size_t search_from = previous >= close_tag.size() ? previous - close_tag.size() + 1 : 0;
    value_buffer_ += pending_;
    size_t close = value_buffer_.find(close_tag, search_from);
    if (close == std::string::npos) {
        for (char c : pending_) {
            if (json_escape_) {
                json_escape_ = false;
            } else if (json_in_string_) {
                json_escape_ = c == '\\';
                json_in_string_ = c != '"';
            } else {
                json_in_string_ = c == '"';
            }
        }
        consume(pending_.size());
        return false;
    }
    consume(close + close_tag.size() - previous);
    value_buffer_.resize(close);
    write_buffered_value(value_buffer_);
    block_state_ = BlockState::BetweenParameters;
    return true;
}

// ---- end of generation inside a block ----

bool OutputParser::cut_unclosed_value_tail(std::string& value, bool& closes_block) const {
    CloseTailMatch tail = find_close_tail(value, *syntax_);
    if (tail.kind != CloseTail::Invoke && tail.kind != CloseTail::InvokePartialBlock &&
        tail.kind != CloseTail::InvokeAndBlock) {
        return false;
    }
    closes_block = tail.kind == CloseTail::InvokeAndBlock;
    value.resize(tail.start);
    return true;
}

void OutputParser::finish_string_value() {
    std::string value = value_buffered_ ? value_buffer_ + pending_ : pending_;
    bool closes_block = false;
    bool closed = cut_unclosed_value_tail(value, closes_block);
    if (value_buffered_) {
        replace_all(value, syntax_->escaped_parameter_close, syntax_->parameter_close);
        write_buffered_value(value);
    } else {
        emit_string_fragment(value);
        emit_arguments("\"");
    }
    consume(pending_.size());
    end_call(closed);
    if (closes_block) close_block();
}

void OutputParser::finish_json_value() {
    bool closes_block = false;
    bool closed = cut_unclosed_value_tail(value_buffer_, closes_block);
    write_buffered_value(value_buffer_);
    end_call(closed);
    if (closes_block) close_block();
}

void OutputParser::finish_block() {
    switch (block_state_) {
        case BlockState::BetweenInvokes:
            if (result_.tool_calls.size() == block_first_call_) {
                // Only a marker and whitespace, maybe a partial tag: all of it is content.
                result_.malformed_tool_calls = true;
                emit_content(block_dsml_ + pending_);
                mode_ = Mode::Text;
            }
            break;
        case BlockState::BetweenParameters:
            end_call(false);
            break;
        case BlockState::LooseValueStart:
            begin_string_value();
            finish_string_value();
            break;
        case BlockState::StringValue:
            finish_string_value();
            break;
        case BlockState::JsonValue:
            finish_json_value();
            break;
    }
}

// ---- sampler hints ----

// As the reference: prose stays sampled until a whole open marker is there (a partial one may
// still be prose), and DSML quoted in reasoning is not structure since it is never executed.
DecodePosition OutputParser::decode_position() const {
    if (mode_ != Mode::Block) return DecodePosition::Outside;
    switch (block_state_) {
        case BlockState::StringValue: {
            if (partial_suffix(pending_, syntax_->parameter_close) >= 2) {
                return DecodePosition::Structure;
            }
            CloseTailMatch tail = find_close_tail(pending_, *syntax_);
            size_t tag_at = pending_.find('<', tail.start);
            bool in_tag = tag_at != std::string::npos && pending_.size() - tag_at >= 2;
            return in_tag ? DecodePosition::Structure : DecodePosition::StringValue;
        }
        case BlockState::JsonValue:
            if (partial_suffix(value_buffer_, syntax_->parameter_close) >= 2) {
                return DecodePosition::Structure;
            }
            return json_in_string_ ? DecodePosition::JsonString : DecodePosition::JsonStructure;
        default:
            return DecodePosition::Structure;
    }
}

bool OutputParser::wants_greedy_sampling() const {
    DecodePosition position = decode_position();
    return position == DecodePosition::Structure || position == DecodePosition::JsonStructure;
}

ParsedOutput parse_output(std::string_view text, GenerationEnd end, OutputParserOptions options,
                          ToolCallIdSource& ids) {
    OutputParser parser(options, ids);
    std::vector<OutputEvent> events;
    parser.feed(text, events);
    parser.finish(end, events);
    return parser.result();
}

}  // namespace dsv4::chat
