// `dsv4 logits`: runs the forward pass on token ids and writes the raw logits, for comparing
// numerics against a reference. Owns argument handling and the output format of that subcommand
// only; the computation is engine/forward.
#pragma once

namespace dsv4::tools {

// argv[0] is "logits". Returns the process exit code.
int cmd_logits(int argc, char** argv);

}  // namespace dsv4::tools
