#include "engine/tokenizer/stream_detokenizer.h"

#include "engine/tokenizer/utf8.h"

namespace dsv4::tokenizer {

void StreamDetokenizer::feed(TokenId id, std::string& out) {
    const std::string_view text = tokenizer_.token_text(id);
    if (pending_.empty()) {
        const size_t held = append_complete_utf8(text, out);
        pending_.assign(text.substr(text.size() - held));
        return;
    }
    std::string joined = std::move(pending_);
    joined.append(text);
    const size_t held = append_complete_utf8(joined, out);
    pending_.assign(std::string_view(joined).substr(joined.size() - held));
}

std::string StreamDetokenizer::feed(TokenId id) {
    std::string out;
    feed(id, out);
    return out;
}

void StreamDetokenizer::flush(std::string& out) {
    // Whatever is held is a valid but unfinished start of a character: one replacement.
    if (!pending_.empty()) out.append(kReplacementCharacterUtf8);
    pending_.clear();
}

std::string StreamDetokenizer::flush() {
    std::string out;
    flush(out);
    return out;
}

}  // namespace dsv4::tokenizer
