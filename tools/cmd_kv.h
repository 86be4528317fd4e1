// `dsv4 kv`: inspect, verify and compact a persistent prefix store directory. Owns argument
// handling and output of that subcommand only; the store itself is kvstore/.
#pragma once

namespace dsv4::tools {

// argv[0] is "kv". Returns the process exit code.
int cmd_kv(int argc, char** argv);

}  // namespace dsv4::tools
