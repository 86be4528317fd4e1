// `dsv4 tokenize` and `dsv4 detokenize`: text to ids and back with a model's vocabulary. Owns the
// argument handling, input reading and output format of those subcommands only; the conversion
// itself is engine/tokenizer.
#pragma once

namespace dsv4::tools {

// argv[0] is "tokenize". Returns the process exit code.
int cmd_tokenize(int argc, char** argv);
// argv[0] is "detokenize". Returns the process exit code.
int cmd_detokenize(int argc, char** argv);

}  // namespace dsv4::tools
