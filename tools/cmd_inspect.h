// `dsv4 inspect`: prints what a GGUF file contains. Owns argument handling and exit codes of
// that subcommand only; the listing itself comes from engine/gguf/gguf_describe.
#pragma once

namespace dsv4::tools {

// argv[0] is "inspect". Returns the process exit code.
int cmd_inspect(int argc, char** argv);

}  // namespace dsv4::tools
