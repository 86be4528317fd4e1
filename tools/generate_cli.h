// What `dsv4 run` and `dsv4 chat` share: their common options, opening the model into a
// Generator, terminal output of reasoning/content and the progress and statistics lines. Owns
// terminal presentation only; generation itself is engine/generate.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/backend/cpu/cpu_backend.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"

namespace dsv4::tools {

class CliUsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

inline constexpr const char* kDefaultSystemPrompt = "You are a helpful assistant";

struct GenerationCliOptions {
    std::string model;
    bool thinking = true;
    int max_tokens = -1;  // -1: up to the end of the context
    sampler::SamplingParams sampling;
    int64_t context_tokens = 32768;
    uint64_t threads = 0;
    quant::Numerics numerics = quant::Numerics::Q8;
    gguf::LoadMode load = gguf::LoadMode::Map;
    std::string system = kDefaultSystemPrompt;
};

// Consumes argv[i] (and its value, advancing i) when it is one of the shared options; false
// when it is not. Throws CliUsageError for a missing or malformed value.
bool parse_generation_option(int argc, char** argv, int& i, GenerationCliOptions& options);

// The usage lines of the shared options.
extern const char* const kGenerationOptionsUsage;

// The model, its backend and one generator over them, in construction order.
struct GenerationSession {
    std::unique_ptr<forward::LoadedModel> model;
    std::unique_ptr<backend::cpu::CpuBackend> backend;
    std::unique_ptr<generate::Generator> generator;
};

// Loads the model (with a progress note on an interactive stderr).
GenerationSession open_generation_session(const GenerationCliOptions& options);

// Writes output events to stdout as they arrive: reasoning faint on a terminal, then content.
class TerminalPrinter {
  public:
    TerminalPrinter();
    void print(const chat::OutputEvent& event);
    // Ends the answer's line and any open styling.
    void finish();

  private:
    bool styled_;
    bool in_reasoning_ = false;
    bool printed_anything_ = false;
    bool at_line_start_ = true;
};

// A "\r"-rewritten prefill progress line on an interactive stderr, cleared when done.
class ProgressLine {
  public:
    ProgressLine();
    void update(int64_t done, int64_t total);
    void clear();

  private:
    bool enabled_;
    bool shown_ = false;
    int64_t first_done_ = -1;
    double start_seconds_ = 0;
};

// Callbacks wiring a printer and a progress line into a generation.
generate::GenerateCallbacks terminal_callbacks(TerminalPrinter& printer, ProgressLine& progress);

// "prompt N tokens (C cached), prefill X tok/s, G generated, decode Y tok/s, finish R".
void print_generation_stats(const generate::GenerateResult& result);

}  // namespace dsv4::tools
