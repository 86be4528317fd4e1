// The `dsv4` command: one binary, one subcommand per tool. A new subcommand is a cmd_*.h header
// declaring its entry point plus one row in kCommands.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "tools/cmd_chat.h"
#include "tools/cmd_inspect.h"
#include "tools/cmd_kv.h"
#include "tools/cmd_logits.h"
#include "tools/cmd_render.h"
#include "tools/cmd_run.h"
#include "tools/cmd_synth.h"
#include "tools/cmd_tokenize.h"

namespace {

struct Command {
    std::string_view name;
    int (*run)(int argc, char** argv);  // argv[0] is the subcommand name
    std::string_view summary;
};

constexpr Command kCommands[] = {
    {"inspect", dsv4::tools::cmd_inspect, "print a GGUF file's metadata and tensor table"},
    {"logits", dsv4::tools::cmd_logits, "run the forward pass on token ids and write the logits"},
    {"run", dsv4::tools::cmd_run, "generate an answer to one prompt, streamed to stdout"},
    {"chat", dsv4::tools::cmd_chat, "talk with the model, one message per line"},
    {"render", dsv4::tools::cmd_render, "print the prompt text an API request renders to"},
    {"synth", dsv4::tools::cmd_synth, "write a synthetic DSV4 GGUF with random weights"},
    {"kv", dsv4::tools::cmd_kv, "stats, verify or compact a persistent prefix store"},
    {"tokenize", dsv4::tools::cmd_tokenize, "print the token ids of a text"},
    {"detokenize", dsv4::tools::cmd_detokenize, "print the text of token ids"},
};

void print_usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: dsv4 <command> [args]   (dsv4 <command> --help for details)\n\n"
                 "commands:\n");
    for (const Command& command : kCommands) {
        std::fprintf(out, "  %-12.*s %.*s\n", static_cast<int>(command.name.size()),
                     command.name.data(), static_cast<int>(command.summary.size()),
                     command.summary.data());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const std::string_view requested = argv[1];
    if (requested == "--help" || requested == "-h" || requested == "help") {
        print_usage(stdout);
        return 0;
    }
    for (const Command& command : kCommands) {
        if (command.name != requested) continue;
        try {
            return command.run(argc - 1, argv + 1);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "dsv4 %s: %s\n", argv[1], error.what());
            return 1;
        }
    }
    std::fprintf(stderr, "dsv4: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
