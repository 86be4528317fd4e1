// One generation request as an engine job: runs the Generator on the worker thread and turns
// its output events into the endpoint's wire format (OpenAI chat / completions, Anthropic
// messages, Responses), streamed or whole, through the request's Exchange. Must not parse
// requests or render prompts (routes do), nor touch sockets.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat/openai_request.h"
#include "engine/chat/openai_response.h"
#include "engine/generate/generator.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/tool_registry.h"

namespace dsv4::server {

// The endpoint-specific half: how events and the end of a generation reach the client.
class ResponseWriter {
  public:
    virtual ~ResponseWriter() = default;
    // Streams: the SSE headers and opening events. Called once, before any event.
    virtual void open(Exchange& exchange, int64_t prompt_tokens) = 0;
    virtual void add(const chat::OutputEvent& event, Exchange& exchange) = 0;
    virtual void finish(const chat::ParsedOutput& output, std::string_view raw_text,
                        const chat::TokenUsage& usage, Exchange& exchange) = 0;
    // The engine failed: an error answer, or an error event on an open stream.
    virtual void fail(std::string_view message, Exchange& exchange) = 0;
};

// What the live sequence holds beyond what its text shows: after a thinking turn the client
// sends back only the answer (the reasoning is not rendered again), so the next prompt diverges
// from the live tokens inside the reasoning. The visible text of that turn lets the next
// request keep the live tokens anyway, as the reference does. Touched on the worker only.
struct LiveTextBinding {
    std::string visible_text;    // prompt text up to "<think>" + "</think>" + answer + EOS text
    int64_t live_position = -1;  // the state's position when it was recorded
};

struct GenerationRequest {
    chat::MappedRequest mapped;
    std::string prompt_text;  // rendered
    std::vector<tokenizer::TokenId> prompt_tokens;
    generate::GenerateOptions options;  // tool_schemas / tool_call_ids point into the job
    std::chrono::steady_clock::time_point received;
};

std::unique_ptr<ResponseWriter> make_response_writer(const chat::MappedRequest& mapped,
                                                     bool reasoning_alias);

class GenerationJob final : public EngineJob {
  public:
    GenerationJob(GenerationRequest request, std::shared_ptr<Exchange> exchange,
                  std::unique_ptr<ResponseWriter> writer, Metrics& metrics, ToolRegistry& registry,
                  LiveTextBinding& binding);

    // Sends the stream's headers now (keepalives then flow during queueing and prefill). Safe
    // to call from the HTTP thread after submission; the worker calls it too before running.
    void open();

    bool cancelled() const override { return exchange_->cancelled(); }
    void run(generate::Generator& generator, const std::atomic<bool>& stop_now) override;
    void drop(int status, std::string_view reason) override;

  private:
    // Keeps the live tokens when their text (or the bound visible text) is a byte prefix of
    // the rendered prompt; only the rest is tokenized.
    void reuse_live_text(const generate::Generator& generator);
    void bind_visible_text(const generate::Generator& generator,
                           const generate::GenerateResult& result);
    void record(const generate::GenerateResult& result);

    GenerationRequest request_;
    std::shared_ptr<Exchange> exchange_;
    std::unique_ptr<ResponseWriter> writer_;
    Metrics& metrics_;
    ToolRegistry& registry_;
    LiveTextBinding& binding_;
    bool thinking_ = false;
    bool tools_active_ = false;
    chat::ToolSchemaIndex schemas_;
    chat::RandomToolCallIds ids_;
    std::optional<std::chrono::steady_clock::time_point> first_token_;
    std::mutex open_mutex_;
    bool opened_ = false;
};

}  // namespace dsv4::server
