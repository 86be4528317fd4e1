#include <charconv>
#include <cmath>
#include <stdexcept>

#include "engine/common/json.h"

namespace dsv4::json {

void append_quoted(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (byte < 0x20) {
                    out += "\\u00";
                    out.push_back(kHex[byte >> 4]);
                    out.push_back(kHex[byte & 0xF]);
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

std::string quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    append_quoted(out, text);
    return out;
}

namespace {

void serialize_into(std::string& out, const Value& value) {
    switch (value.kind()) {
        case Kind::Null:
            out += "null";
            break;
        case Kind::Bool:
            out += value.as_bool() ? "true" : "false";
            break;
        case Kind::Number:
            out += value.number_text();
            break;
        case Kind::String:
            append_quoted(out, value.as_string());
            break;
        case Kind::Array: {
            out.push_back('[');
            const auto& items = value.children();
            for (size_t i = 0; i < items.size(); ++i) {
                if (i > 0) out.push_back(',');
                serialize_into(out, items[i]);
            }
            out.push_back(']');
            break;
        }
        case Kind::Object: {
            out.push_back('{');
            const auto& values = value.children();
            for (size_t i = 0; i < values.size(); ++i) {
                if (i > 0) out.push_back(',');
                append_quoted(out, value.key_at(i));
                out.push_back(':');
                serialize_into(out, values[i]);
            }
            out.push_back('}');
            break;
        }
    }
}

}  // namespace

std::string serialize(const Value& value) {
    std::string out;
    out.reserve(value.raw().size());
    serialize_into(out, value);
    return out;
}

std::string minify(std::string_view json_text) {
    std::string out;
    out.reserve(json_text.size());
    bool in_string = false;
    bool escaped = false;
    for (const char c : json_text) {
        if (in_string) {
            out.push_back(c);
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
            out.push_back(c);
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') {
            out.push_back(c);
        }
    }
    return out;
}

// ---- Writer ----

void Writer::before_value() {
    if (frames_.empty()) {
        if (wrote_top_level_) throw std::logic_error("json::Writer: a second top-level value");
        wrote_top_level_ = true;
        return;
    }
    Frame& frame = frames_.back();
    if (frame.is_object) {
        if (!frame.expects_value)
            throw std::logic_error("json::Writer: object value without a key");
        frame.expects_value = false;
        return;
    }
    if (!frame.empty) out_.push_back(',');
    frame.empty = false;
}

Writer& Writer::begin_object() {
    before_value();
    out_.push_back('{');
    frames_.push_back({true, true, false});
    return *this;
}

Writer& Writer::end_object() {
    if (frames_.empty() || !frames_.back().is_object || frames_.back().expects_value) {
        throw std::logic_error("json::Writer: end_object without a matching open object");
    }
    frames_.pop_back();
    out_.push_back('}');
    return *this;
}

Writer& Writer::begin_array() {
    before_value();
    out_.push_back('[');
    frames_.push_back({false, true, false});
    return *this;
}

Writer& Writer::end_array() {
    if (frames_.empty() || frames_.back().is_object) {
        throw std::logic_error("json::Writer: end_array without a matching open array");
    }
    frames_.pop_back();
    out_.push_back(']');
    return *this;
}

Writer& Writer::key(std::string_view name) {
    if (frames_.empty() || !frames_.back().is_object || frames_.back().expects_value) {
        throw std::logic_error("json::Writer: key outside an object or where a value is due");
    }
    Frame& frame = frames_.back();
    if (!frame.empty) out_.push_back(',');
    frame.empty = false;
    frame.expects_value = true;
    append_quoted(out_, name);
    out_.push_back(':');
    return *this;
}

Writer& Writer::string(std::string_view text) {
    before_value();
    append_quoted(out_, text);
    return *this;
}

Writer& Writer::number(int64_t value) {
    before_value();
    out_ += std::to_string(value);
    return *this;
}

Writer& Writer::number(uint64_t value) {
    before_value();
    out_ += std::to_string(value);
    return *this;
}

Writer& Writer::number(double value) {
    before_value();
    if (!std::isfinite(value)) {
        out_ += "null";
        return *this;
    }
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out_.append(buffer, result.ptr);
    return *this;
}

Writer& Writer::boolean(bool value) {
    before_value();
    out_ += value ? "true" : "false";
    return *this;
}

Writer& Writer::null() {
    before_value();
    out_ += "null";
    return *this;
}

Writer& Writer::raw(std::string_view json_text) {
    before_value();
    out_ += json_text;
    return *this;
}

std::string Writer::take() {
    if (!frames_.empty()) throw std::logic_error("json::Writer: take() with an open container");
    return std::move(out_);
}

}  // namespace dsv4::json
