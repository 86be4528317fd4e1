// `dsv4 render`: prints the exact prompt text an API request renders to. Owns argument handling
// and exit codes of that subcommand only; mapping and rendering come from engine/chat.
#pragma once

namespace dsv4::tools {

// argv[0] is "render". Reads the request body from stdin. Returns the process exit code.
int cmd_render(int argc, char** argv);

}  // namespace dsv4::tools
