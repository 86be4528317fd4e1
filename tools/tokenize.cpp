#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/cmd_tokenize.h"

namespace dsv4::tools {
namespace {

constexpr const char* kTokenizeUsage =
    "usage: dsv4 tokenize -m MODEL.gguf (--text TEXT | --file FILE) [--plain]\n"
    "  Prints the token ids of the text on one line, separated by spaces.\n"
    "  The special tokens (<｜begin▁of▁sentence｜>, <｜User｜>, <think>, ...) are recognised\n"
    "  wherever they occur, as in rendered chat text.\n"
    "  --plain   treat the special tokens' text as ordinary text\n"
    "  --file -  reads standard input\n";

constexpr const char* kDetokenizeUsage =
    "usage: dsv4 detokenize -m MODEL.gguf (--ids ID,ID,... | --file FILE)\n"
    "  Writes the bytes the ids stand for, exactly, with no newline added.\n"
    "  Ids may be separated by commas, spaces or newlines.\n"
    "  --file -  reads standard input\n";

// Thrown for bad command lines; reported with the usage text and exit code 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Options {
    std::string model_path;
    std::optional<std::string> inline_input;  // --text or --ids
    std::optional<std::string> input_file;
    bool plain = false;
};

Options parse_options(int argc, char** argv, const char* inline_flag, bool accepts_plain) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "-m" || arg == "--model") {
            options.model_path = value();
        } else if (arg == inline_flag) {
            options.inline_input = value();
        } else if (arg == "--file") {
            options.input_file = value();
        } else if (accepts_plain && arg == "--plain") {
            options.plain = true;
        } else {
            throw UsageError("unknown argument '" + arg + "'");
        }
    }
    if (options.model_path.empty()) throw UsageError("-m MODEL.gguf is required");
    if (options.inline_input.has_value() == options.input_file.has_value()) {
        throw UsageError(std::string("give exactly one of ") + inline_flag + " and --file");
    }
    return options;
}

bool wants_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
    }
    return false;
}

std::string read_input_file(const std::string& path) {
    if (path == "-") {
        return std::string(std::istreambuf_iterator<char>(std::cin), {});
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

std::string input_text(const Options& options) {
    return options.inline_input ? *options.inline_input : read_input_file(*options.input_file);
}

tokenizer::Tokenizer load_tokenizer(const std::string& model_path) {
    const gguf::GgufFile file = gguf::GgufFile::open(model_path);
    return tokenizer::Tokenizer::from_gguf(file);
}

std::vector<tokenizer::TokenId> parse_ids(const std::string& text) {
    std::vector<tokenizer::TokenId> ids;
    size_t pos = 0;
    const auto is_separator = [](char c) {
        return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
    };
    while (pos < text.size()) {
        if (is_separator(text[pos])) {
            ++pos;
            continue;
        }
        size_t end = pos;
        while (end < text.size() && !is_separator(text[end])) ++end;
        const std::string word = text.substr(pos, end - pos);
        char* parse_end = nullptr;
        errno = 0;
        const long long id = std::strtoll(word.c_str(), &parse_end, 10);
        if (*parse_end != '\0' || errno != 0 || id < 0 || id > INT32_MAX) {
            throw UsageError("'" + word + "' is not a token id");
        }
        ids.push_back(static_cast<tokenizer::TokenId>(id));
        pos = end;
    }
    return ids;
}

int report_usage_error(const char* command, const UsageError& error, const char* usage) {
    std::fprintf(stderr, "dsv4 %s: %s\n%s", command, error.what(), usage);
    return 2;
}

bool write_stdout(const std::string& bytes) {
    return std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() &&
           std::fflush(stdout) == 0;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    if (wants_help(argc, argv)) {
        std::fputs(kTokenizeUsage, stdout);
        return 0;
    }
    Options options;
    std::vector<tokenizer::TokenId> ids;
    try {
        options = parse_options(argc, argv, "--text", true);
        const tokenizer::Tokenizer tokenizer = load_tokenizer(options.model_path);
        ids = tokenizer.encode(input_text(options), options.plain
                                                        ? tokenizer::SpecialTokenMode::PlainText
                                                        : tokenizer::SpecialTokenMode::Recognise);
    } catch (const UsageError& error) {
        return report_usage_error("tokenize", error, kTokenizeUsage);
    }
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) line += ' ';
        line += std::to_string(ids[i]);
    }
    line += '\n';
    return write_stdout(line) ? 0 : 1;
}

int cmd_detokenize(int argc, char** argv) {
    if (wants_help(argc, argv)) {
        std::fputs(kDetokenizeUsage, stdout);
        return 0;
    }
    std::string text;
    try {
        const Options options = parse_options(argc, argv, "--ids", false);
        const std::vector<tokenizer::TokenId> ids = parse_ids(input_text(options));
        const tokenizer::Tokenizer tokenizer = load_tokenizer(options.model_path);
        text = tokenizer.decode(ids);
    } catch (const UsageError& error) {
        return report_usage_error("detokenize", error, kDetokenizeUsage);
    }
    return write_stdout(text) ? 0 : 1;
}

}  // namespace dsv4::tools
