// `dsv4 synth`: writes a synthetic DSV4 GGUF (random weights, synthetic vocabulary) for tests and
// benchmarks. Owns argument handling and exit codes of that subcommand only; the model itself
// comes from engine/model/synth.
#pragma once

namespace dsv4::tools {

// argv[0] is "synth". Returns the process exit code.
int cmd_synth(int argc, char** argv);

}  // namespace dsv4::tools
