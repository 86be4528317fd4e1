// `dsv4 chat`: an interactive multi-turn conversation on stdin/stdout that keeps the sequence
// state between turns. Owns the transcript, the slash commands and Ctrl-C handling of that
// subcommand only; generation is engine/generate.
#pragma once

namespace dsv4::tools {

// argv[0] is "chat". Returns the process exit code.
int cmd_chat(int argc, char** argv);

}  // namespace dsv4::tools
