// `dsv4 run`: one prompt, one streamed answer. Owns argument handling, the one-turn prompt and
// exit codes of that subcommand only; generation is engine/generate, rendering engine/chat.
#pragma once

namespace dsv4::tools {

// argv[0] is "run". Returns the process exit code.
int cmd_run(int argc, char** argv);

}  // namespace dsv4::tools
