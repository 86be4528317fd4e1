#include "engine/chat/render_dsml.h"

#include <cstdint>
#include <cstdlib>

#include "engine/common/json.h"

namespace dsv4::chat {

namespace {

// Nesting limit of the permissive reader, the same ceiling the reference uses.
constexpr int kMaxArgumentNesting = 256;

// Reads the reference's permissive JSON dialect over a NUL-terminated buffer (the NUL is the end
// of input, as it is for the reference).
class PermissiveReader {
  public:
    explicit PermissiveReader(const char* text) : p_(text) {}

    std::optional<std::vector<ToolArgument>> read_object_members() {
        std::vector<ToolArgument> members;
        skip_space();
        if (*p_ != '{') return std::nullopt;
        ++p_;
        skip_space();
        while (*p_ != '\0' && *p_ != '}') {
            ToolArgument member;
            if (!read_string(&member.name)) return std::nullopt;
            skip_space();
            if (*p_ != ':') return std::nullopt;
            ++p_;
            skip_space();
            if (*p_ == '"') {
                member.is_string = true;
                if (!read_string(&member.value)) return std::nullopt;
            } else {
                const char* start = p_;
                if (!skip_value(0)) return std::nullopt;
                member.value =
                    json::minify(std::string_view(start, static_cast<size_t>(p_ - start)));
            }
            members.push_back(std::move(member));
            skip_space();
            if (*p_ == ',') ++p_;
            skip_space();
        }
        if (*p_ != '}') return std::nullopt;
        return members;
    }

  private:
    static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
    }

    static int hex_digit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    void skip_space() {
        while (is_space(*p_)) ++p_;
    }

    bool literal(std::string_view word) {
        for (size_t i = 0; i < word.size(); ++i) {
            if (p_[i] != word[i]) return false;  // stops at the NUL before reading past it
        }
        p_ += word.size();
        return true;
    }

    // Reads "\uXXXX" at p_; advances only on success.
    bool read_code_unit(uint32_t& unit) {
        if (p_[0] != '\\' || p_[1] != 'u') return false;
        uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const int digit = hex_digit(p_[2 + i]);
            if (digit < 0) return false;
            value = (value << 4) | static_cast<uint32_t>(digit);
        }
        p_ += 6;
        unit = value;
        return true;
    }

    static void append_code_point(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    bool read_escape(std::string& out) {
        const char c = p_[1];
        switch (c) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u': {
                uint32_t cp = 0;
                if (!read_code_unit(cp)) return false;
                // A high surrogate consumes the next \u escape whether or not it is the low half.
                uint32_t low = 0;
                if (cp >= 0xD800 && cp <= 0xDBFF && read_code_unit(low) && low >= 0xDC00 &&
                    low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                append_code_point(out, cp);
                return true;
            }
            default:
                return false;
        }
        p_ += 2;
        return true;
    }

    // out == nullptr skips the string. The decoded text ends at its first NUL byte.
    bool read_string(std::string* out) {
        skip_space();
        if (*p_ != '"') return false;
        ++p_;
        std::string decoded;
        while (*p_ != '\0' && *p_ != '"') {
            if (*p_ != '\\') {
                decoded.push_back(*p_++);
            } else if (!read_escape(decoded)) {
                return false;
            }
        }
        if (*p_ != '"') return false;
        ++p_;
        if (out != nullptr) {
            const size_t nul = decoded.find('\0');
            if (nul != std::string::npos) decoded.resize(nul);
            *out = std::move(decoded);
        }
        return true;
    }

    bool skip_container(int depth, char open, char close, bool keyed) {
        if (depth >= kMaxArgumentNesting) return false;
        skip_space();
        if (*p_ != open) return false;
        ++p_;
        skip_space();
        if (*p_ == close) {
            ++p_;
            return true;
        }
        for (;;) {
            if (keyed) {
                if (!read_string(nullptr)) return false;
                skip_space();
                if (*p_ != ':') return false;
                ++p_;
            }
            if (!skip_value(depth + 1)) return false;
            skip_space();
            if (*p_ == close) {
                ++p_;
                return true;
            }
            if (*p_ != ',') return false;
            ++p_;
        }
    }

    bool skip_value(int depth) {
        skip_space();
        if (*p_ == '"') return read_string(nullptr);
        if (*p_ == '{') return skip_container(depth, '{', '}', true);
        if (*p_ == '[') return skip_container(depth, '[', ']', false);
        if (literal("true") || literal("false") || literal("null")) return true;
        // Numbers are whatever strtod accepts (hex, inf, nan, a leading '+'), in the C locale.
        char* end = nullptr;
        std::strtod(p_, &end);
        if (end == p_) return false;
        p_ = end;
        return true;
    }

    const char* p_;
};

void append_replacing_close_tag(std::string& out, std::string_view text,
                                std::string_view lt_replacement) {
    size_t start = 0;
    for (;;) {
        const size_t hit = text.find(kDsmlParameterClose, start);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(start, hit - start));
        out.append(lt_replacement);
        start = hit + 1;  // the rest of the tag is copied as ordinary text
    }
    out.append(text.substr(start));
}

void append_parameter(std::string& out, const ToolArgument& argument) {
    out += kDsmlParameterOpen;
    append_dsml_attribute(out, argument.name);
    out += argument.is_string ? "\" string=\"true\">" : "\" string=\"false\">";
    if (argument.is_string) {
        append_dsml_string_value(out, argument.value);
    } else {
        append_dsml_json_value(out, argument.value);
    }
    out += kDsmlParameterClose;
    out.push_back('\n');
}

}  // namespace

std::optional<std::vector<ToolArgument>> split_tool_arguments(std::string_view arguments) {
    const std::string terminated(arguments);
    return PermissiveReader(terminated.c_str()).read_object_members();
}

void append_dsml_attribute(std::string& out, std::string_view text) {
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out.push_back(c);
        }
    }
}

void append_dsml_string_value(std::string& out, std::string_view text) {
    append_replacing_close_tag(out, text, "&lt;");
}

void append_dsml_json_value(std::string& out, std::string_view json_text) {
    append_replacing_close_tag(out, json_text, "\\u003c");
}

std::string canonical_tool_calls_dsml(const std::vector<ToolCall>& calls) {
    std::string out;
    if (calls.empty()) return out;
    out += "\n\n";
    out += kDsmlToolCallsOpen;
    out.push_back('\n');
    for (const ToolCall& call : calls) {
        out += kDsmlInvokeOpen;
        append_dsml_attribute(out, call.name);
        out += "\">\n";
        if (const auto arguments = split_tool_arguments(call.arguments)) {
            for (const ToolArgument& argument : *arguments) append_parameter(out, argument);
        } else {
            append_parameter(out, ToolArgument{"arguments", call.arguments, true});
        }
        out += kDsmlInvokeClose;
        out.push_back('\n');
    }
    out += kDsmlToolCallsClose;
    return out;
}

}  // namespace dsv4::chat
