#include "server/routes.h"

#include <charconv>
#include <climits>
#include <ctime>

#include "engine/chat/render.h"
#include "engine/common/json.h"
#include "engine/common/log.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/generation_job.h"

namespace dsv4::server {
namespace {

HttpResponse json_body(std::string body, int status = 200) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.body += '\n';
    return response;
}

// The rest of a path after `prefix`, when it starts with it.
std::optional<std::string_view> after_prefix(std::string_view path, std::string_view prefix) {
    if (!path.starts_with(prefix)) return std::nullopt;
    return path.substr(prefix.size());
}

json::Document parse_body(const HttpRequest& request) {
    try {
        return json::parse(request.body);
    } catch (const json::JsonError& e) {
        throw chat::RequestError(400, "invalid JSON request", e.what());
    }
}

std::vector<int32_t> parse_script_tokens(const std::string& text, size_t vocab_size) {
    std::vector<int32_t> ids;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find(',', at);
        if (end == std::string::npos) end = text.size();
        std::string_view item(text.data() + at, end - at);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        int32_t id = 0;
        const auto [ptr, error] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (error != std::errc() || ptr != item.data() + item.size() || id < 0 ||
            static_cast<size_t>(id) >= vocab_size)
            throw config::ConfigError("debug.script_tokens: '" + std::string(item) +
                                      "' is not a token id below " + std::to_string(vocab_size));
        ids.push_back(id);
        at = end + 1;
    }
    return ids;
}

constexpr const char* kGenerationPaths[] = {"/v1/chat/completions", "/v1/completions",
                                            "/v1/messages", "/v1/responses"};

}  // namespace

Routes::Routes(const config::DaemonConfig& config, Metrics& metrics, ToolRegistry& registry)
    : config_(config), metrics_(metrics), registry_(registry) {}

void Routes::set_ready(ReadyEngine engine) {
    std::shared_ptr<const std::vector<int32_t>> script;
    if (!config_.debug.script_text.empty()) {
        script = std::make_shared<const std::vector<int32_t>>(engine.tokenizer->encode(
            config_.debug.script_text, tokenizer::SpecialTokenMode::Recognise));
    } else if (!config_.debug.script_tokens.empty()) {
        script = std::make_shared<const std::vector<int32_t>>(
            parse_script_tokens(config_.debug.script_tokens, engine.tokenizer->vocab_size()));
    }
    if (script)
        DSV4_LOG_WARN("debug script active: every generation emits the same %zu tokens",
                      script->size());
    std::lock_guard lock(mutex_);
    script_tokens_ = std::move(script);
    ready_ = std::make_shared<const ReadyEngine>(std::move(engine));
}

void Routes::set_load_failed(std::string reason) {
    std::lock_guard lock(mutex_);
    load_error_ = std::move(reason);
}

std::shared_ptr<const ReadyEngine> Routes::ready() const {
    std::lock_guard lock(mutex_);
    return ready_;
}

bool Routes::model_name_accepted(std::string_view name) const {
    // The reference's aliases pick the thinking mode and name the same model.
    return name.empty() || name == config_.model.name || name == chat::kDefaultModelName ||
           name == "deepseek-chat" || name == "deepseek-reasoner";
}

void Routes::handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange) {
    const std::string_view path = request.path;
    const bool get = request.method == "GET" || request.method == "HEAD";
    const bool post = request.method == "POST";
    auto answer = [&](std::string_view label, HttpResponse response) {
        metrics_.count_request(std::string(label), response.status);
        exchange->respond(std::move(response));
    };
    auto wrong_method = [&](std::string_view allowed) {
        HttpResponse response =
            error_response(405, "method " + request.method + " is not allowed on " +
                                    std::string(path) + " (allowed: " + std::string(allowed) + ")");
        response.headers.emplace_back("Allow", std::string(allowed));
        answer(path, std::move(response));
    };
    try {
        for (const char* generation_path : kGenerationPaths) {
            if (path != generation_path) continue;
            if (!post) return wrong_method("POST");
            return generate(request, generation_path, exchange);
        }
        if (path == "/health") return get ? answer(path, health()) : wrong_method("GET");
        if (path == "/metrics") {
            if (!get) return wrong_method("GET");
            HttpResponse response;
            response.content_type = "text/plain; version=0.0.4; charset=utf-8";
            if (const auto engine = ready())
                metrics_.set_queue_depth(engine->scheduler->queue_depth());
            response.body = metrics_.render();
            return answer(path, std::move(response));
        }
        if (path == "/v1/models") return get ? answer(path, models({})) : wrong_method("GET");
        if (const auto id = after_prefix(path, "/v1/models/"))
            return get ? answer("/v1/models/{id}", models(*id)) : wrong_method("GET");
        if (path == "/tokenize")
            return post ? answer(path, tokenize(request)) : wrong_method("POST");
        if (path == "/detokenize")
            return post ? answer(path, detokenize(request)) : wrong_method("POST");
        if (path == "/apply-template")
            return post ? answer(path, apply_template(request)) : wrong_method("POST");
        answer("other", error_response(404, "unknown endpoint " + std::string(path), {},
                                       "unknown_endpoint"));
    } catch (const chat::RequestError& e) {
        DSV4_LOG_DEBUG("%s %s refused: %s", request.method.c_str(), request.target.c_str(),
                       e.what());
        answer(path, error_response(e.http_status(), e.client_message() + ": " + e.what()));
    }
}

HttpResponse Routes::health() const {
    json::Writer w;
    w.begin_object();
    const auto engine = ready();
    std::string load_error;
    {
        std::lock_guard lock(mutex_);
        load_error = load_error_;
    }
    if (!engine) {
        w.key("status").string(load_error.empty() ? "loading" : "error");
        if (!load_error.empty()) w.key("error").string(load_error);
        w.end_object();
        return json_body(w.take(), 503);
    }
    w.key("status").string("ok");
    w.key("model").string(config_.model.name);
    w.key("model_file").string(engine->model_description);
    w.key("context_tokens").number(engine->context_tokens);
    w.key("queue_depth").number(static_cast<uint64_t>(engine->scheduler->queue_depth()));
    w.key("busy").boolean(engine->scheduler->running_job());
    w.key("kv_store").string(engine->kv_status ? engine->kv_status() : "off");
    w.end_object();
    return json_body(w.take());
}

HttpResponse Routes::models(std::string_view id) const {
    const auto engine = ready();
    const int64_t context = engine ? engine->context_tokens : config_.model.context_tokens;
    auto model_object = [&](json::Writer& w) {
        w.begin_object();
        w.key("id").string(config_.model.name);
        w.key("object").string("model");
        w.key("created").number(static_cast<int64_t>(1767225600));
        w.key("owned_by").string("dsv4d");
        w.key("context_length").number(context);
        w.end_object();
    };
    json::Writer w;
    if (!id.empty()) {
        if (!model_name_accepted(id))
            return error_response(404, "model '" + std::string(id) + "' does not exist", "model",
                                  "model_not_found");
        model_object(w);
        return json_body(w.take());
    }
    w.begin_object().key("object").string("list").key("data").begin_array();
    model_object(w);
    w.end_array().end_object();
    return json_body(w.take());
}

HttpResponse Routes::tokenize(const HttpRequest& request) const {
    const auto engine = ready();
    if (!engine) return error_response(503, "model is loading");
    const json::Document doc = parse_body(request);
    const json::Value* content = doc.root().is_object() ? doc.root().find("content") : nullptr;
    if (!content || !content->is_string())
        throw chat::RequestError(400, "missing content", "\"content\" must be a string");
    const json::Value* add_special = doc.root().find("add_special");
    std::vector<int32_t> ids;
    if (add_special && add_special->is_bool() && add_special->as_bool())
        ids.push_back(engine->tokenizer->special_id(tokenizer::SpecialToken::BeginOfSentence));
    engine->tokenizer->encode_append(content->as_string(), tokenizer::SpecialTokenMode::Recognise,
                                     ids);
    json::Writer w;
    w.begin_object().key("tokens").begin_array();
    for (int32_t id : ids) w.number(static_cast<int64_t>(id));
    w.end_array().end_object();
    return json_body(w.take());
}

HttpResponse Routes::detokenize(const HttpRequest& request) const {
    const auto engine = ready();
    if (!engine) return error_response(503, "model is loading");
    const json::Document doc = parse_body(request);
    const json::Value* tokens = doc.root().is_object() ? doc.root().find("tokens") : nullptr;
    if (!tokens || !tokens->is_array())
        throw chat::RequestError(400, "missing tokens", "\"tokens\" must be an array of ids");
    std::vector<int32_t> ids;
    for (const json::Value& item : tokens->children()) {
        const std::optional<int64_t> id = item.is_number() ? item.as_int64() : std::nullopt;
        if (!id || !engine->tokenizer->contains(static_cast<int32_t>(*id)) || *id > INT32_MAX)
            return error_response(400,
                                  "tokens: '" + std::string(item.raw()) +
                                      "' is not a token id below " +
                                      std::to_string(engine->tokenizer->vocab_size()),
                                  "tokens");
        ids.push_back(static_cast<int32_t>(*id));
    }
    json::Writer w;
    w.begin_object().key("content").string(engine->tokenizer->decode(ids)).end_object();
    return json_body(w.take());
}

HttpResponse Routes::apply_template(const HttpRequest& request) const {
    const auto engine = ready();
    if (!engine) return error_response(503, "model is loading");
    chat::MappingOptions mapping;
    mapping.context_size = static_cast<uint32_t>(engine->context_tokens);
    chat::MappedRequest mapped =
        chat::map_request(chat::Endpoint::ChatCompletions, request.body, mapping);
    chat::attach_tool_replay(mapped.conversation, &registry_);
    const chat::RenderedPrompt prompt = chat::render_prompt(mapped.conversation);
    const size_t n_tokens =
        engine->tokenizer->encode(prompt.text, tokenizer::SpecialTokenMode::Recognise).size();
    json::Writer w;
    w.begin_object().key("prompt").string(prompt.text);
    w.key("prompt_tokens").number(static_cast<uint64_t>(n_tokens));
    w.key("think_mode").string(chat::think_mode_name(prompt.think_mode));
    w.key("tools_active").boolean(prompt.tools_active);
    w.end_object();
    return json_body(w.take());
}

void Routes::generate(const HttpRequest& request, std::string_view label,
                      const std::shared_ptr<Exchange>& exchange) {
    const auto engine = ready();
    const std::string label_text(label);
    auto refuse = [&](HttpResponse response) {
        metrics_.count_request(label_text, response.status);
        exchange->respond(std::move(response));
    };
    if (!engine) return refuse(error_response(503, "model is loading"));
    const chat::Endpoint endpoint = *chat::endpoint_from_path(label);
    chat::MappingOptions mapping;
    mapping.context_size = static_cast<uint32_t>(engine->context_tokens);
    mapping.is_live_call_id = [this](std::string_view id) {
        return registry_.find(id).has_value();
    };

    GenerationRequest job_request;
    job_request.received = std::chrono::steady_clock::now();
    job_request.mapped = chat::map_request(endpoint, request.body, mapping);
    chat::MappedRequest& mapped = job_request.mapped;
    if (!model_name_accepted(mapped.options.model))
        return refuse(error_response(404,
                                     "model '" + mapped.options.model +
                                         "' does not exist; this "
                                         "server serves '" +
                                         config_.model.name + "'",
                                     "model", "model_not_found"));
    chat::attach_tool_replay(mapped.conversation, &registry_);
    const chat::RenderedPrompt prompt = chat::render_prompt(mapped.conversation);
    job_request.prompt_tokens =
        engine->tokenizer->encode(prompt.text, tokenizer::SpecialTokenMode::Recognise);
    job_request.prompt_text = prompt.text;
    const auto n_prompt = static_cast<int64_t>(job_request.prompt_tokens.size());
    if (n_prompt >= engine->context_tokens)
        return refuse(
            error_response(400,
                           "Prompt has " + std::to_string(n_prompt) +
                               " tokens, but the configured context size is " +
                               std::to_string(engine->context_tokens) + " tokens",
                           endpoint == chat::Endpoint::Completions ? "prompt" : "messages",
                           "context_length_exceeded"));

    generate::GenerateOptions& options = job_request.options;
    const chat::GenerationOptions& requested = mapped.options;
    options.sampling.temperature = requested.temperature;
    options.sampling.top_p = requested.top_p;
    options.sampling.top_k = requested.top_k;
    options.sampling.min_p = requested.min_p;
    if (requested.seed != 0) options.sampling.seed = requested.seed;
    options.thinking = prompt.think_mode != chat::ThinkMode::None;
    options.tool_calls = prompt.tools_active;
    const int default_max = config_.scheduler.default_max_tokens;
    options.max_tokens =
        requested.max_tokens ? *requested.max_tokens : (default_max < 0 ? INT_MAX : default_max);
    options.stop_strings = requested.stop;
    std::shared_ptr<const std::vector<int32_t>> script;
    {
        std::lock_guard lock(mutex_);
        script = script_tokens_;
    }
    options.scripted_tokens = script.get();  // the routes keep the script alive

    auto writer = make_response_writer(mapped, config_.scheduler.reasoning_alias);
    auto job = std::make_shared<GenerationJob>(std::move(job_request), exchange, std::move(writer),
                                               metrics_, registry_, live_binding_);
    if (!engine->scheduler->try_submit(job)) {
        HttpResponse busy = error_response(429, "the engine queue is full (" +
                                                    std::to_string(config_.scheduler.queue_length) +
                                                    " waiting); retry later");
        busy.headers.emplace_back("Retry-After",
                                  std::to_string(1 + engine->scheduler->queue_depth() * 5));
        return refuse(std::move(busy));
    }
    metrics_.count_request(label_text, 200);
    metrics_.set_queue_depth(engine->scheduler->queue_depth());
    job->open();
}

}  // namespace dsv4::server
