// What the HTTP daemon adds on top of the engine: time to first token and time per token of a
// streamed chat completion through dsv4d (in process, loopback socket, SSE), against the same
// prompt run through the Generator directly. Prints medians and the difference.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "engine/backend/cpu/cpu_backend.h"
#include "engine/chat/openai_request.h"
#include "engine/chat/render.h"
#include "engine/common/log.h"
#include "engine/forward/loaded_model.h"
#include "engine/generate/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/daemon.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace dsv4;

constexpr const char* kUsage =
    "usage: bench_server [MODEL.gguf] [--rounds N] [--tokens N] [--threads N]\n"
    "  MODEL defaults to the golden tiny model; rounds 8, tokens 32 generated per request\n";

struct Options {
    std::string model = DSV4_SOURCE_DIR "/tests/golden/dsv4-tiny-s1-iq2xxs.gguf";
    int rounds = 8;
    int tokens = 32;
    unsigned threads = 0;
};

struct Timing {
    double ttft_ms = 0;
    double per_token_ms = 0;
};

std::string request_body(int round, int tokens, bool stream) {
    return R"({"messages":[{"role":"system","content":"You are a helpful assistant"},)"
           R"({"role":"user","content":"Round )" +
           std::to_string(round) +
           R"(: describe the sea in a few words."}],"thinking":false,"temperature":0,)"
           R"("max_tokens":)" +
           std::to_string(tokens) + (stream ? R"(,"stream":true)" : "") + "}";
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

Timing timing_of(Clock::time_point start, const std::vector<Clock::time_point>& token_times) {
    Timing t;
    t.ttft_ms = ms_between(start, token_times.front());
    if (token_times.size() > 1)
        t.per_token_ms = ms_between(token_times.front(), token_times.back()) /
                         static_cast<double>(token_times.size() - 1);
    return t;
}

Timing engine_round(generate::Generator& generator, const tokenizer::Tokenizer& tokenizer,
                    int round, int tokens) {
    const chat::MappedRequest mapped =
        chat::map_request(chat::Endpoint::ChatCompletions, request_body(round, tokens, false), {});
    const chat::RenderedPrompt prompt = chat::render_prompt(mapped.conversation);
    const auto start = Clock::now();
    const std::vector<int32_t> ids =
        tokenizer.encode(prompt.text, tokenizer::SpecialTokenMode::Recognise);
    generate::GenerateOptions options;
    options.sampling.temperature = 0;
    options.max_tokens = tokens;
    std::vector<Clock::time_point> token_times;
    generate::GenerateCallbacks callbacks;
    callbacks.on_token = [&](int32_t) { token_times.push_back(Clock::now()); };
    generator.reset();
    generator.generate(ids, options, callbacks);
    return timing_of(start, token_times);
}

int connect_to(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("cannot connect to the daemon");
    return fd;
}

// Time of each SSE data event that carries a delta with text (the role chunk and the final
// chunks excluded), as the client receives it.
Timing server_round(uint16_t port, int round, int tokens) {
    const std::string body = request_body(round, tokens, true);
    const std::string request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    const int fd = connect_to(port);
    const auto start = Clock::now();
    if (::send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size()))
        throw std::runtime_error("send failed");
    std::vector<Clock::time_point> token_times;
    std::string pending;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        const auto now = Clock::now();
        pending.append(buffer, static_cast<size_t>(n));
        size_t at;
        while ((at = pending.find("\n\n")) != std::string::npos) {
            const std::string event = pending.substr(0, at);
            pending.erase(0, at + 2);
            if (event.find("\"content\":\"") != std::string::npos ||
                event.find("\"reasoning_content\":\"") != std::string::npos)
                token_times.push_back(now);
        }
    }
    ::close(fd);
    if (token_times.empty()) throw std::runtime_error("the daemon streamed no tokens");
    return timing_of(start, token_times);
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values.empty() ? 0 : values[values.size() / 2];
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--rounds") {
            o.rounds = std::stoi(value());
        } else if (arg == "--tokens") {
            o.tokens = std::stoi(value());
        } else if (arg == "--threads") {
            o.threads = static_cast<unsigned>(std::stoul(value()));
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (!arg.starts_with("-")) {
            o.model = arg;
        } else {
            throw std::runtime_error("unknown argument " + arg + "\n" + kUsage);
        }
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        std::vector<double> engine_ttft, engine_token, server_ttft, server_token;
        {
            auto model = forward::load_model(o.model);
            backend::cpu::CpuBackend backend(o.threads);
            generate::Generator generator(*model, backend,
                                          tokenizer::Tokenizer::from_gguf(model->file));
            const tokenizer::Tokenizer& tokenizer = generator.tokenizer();
            engine_round(generator, tokenizer, -1, o.tokens);  // warm-up
            for (int r = 0; r < o.rounds; ++r) {
                const Timing t = engine_round(generator, tokenizer, r, o.tokens);
                engine_ttft.push_back(t.ttft_ms);
                engine_token.push_back(t.per_token_ms);
            }
        }
        log::set_level(log::Level::Warn);
        config::DaemonConfig config;
        config.http.port = 0;
        config.model.path = o.model;
        config.model.threads = o.threads;
        config.model.context_tokens = 4096;
        server::Daemon daemon(config);
        daemon.start();
        if (!daemon.wait_ready()) throw std::runtime_error("the daemon could not load the model");
        server_round(daemon.port(), -1, o.tokens);
        for (int r = 0; r < o.rounds; ++r) {
            // The engine runs were cold (reset); a new round prompt diverges early here too.
            const Timing t = server_round(daemon.port(), 1000 + r, o.tokens);
            server_ttft.push_back(t.ttft_ms);
            server_token.push_back(t.per_token_ms);
        }
        daemon.stop();
        const double e_ttft = median(engine_ttft), s_ttft = median(server_ttft);
        const double e_tok = median(engine_token), s_tok = median(server_token);
        std::printf("model: %s, %d rounds x %d tokens, medians\n", o.model.c_str(), o.rounds,
                    o.tokens);
        std::printf("  engine direct:  TTFT %8.2f ms   per token %7.3f ms\n", e_ttft, e_tok);
        std::printf("  through dsv4d:  TTFT %8.2f ms   per token %7.3f ms\n", s_ttft, s_tok);
        std::printf("  server overhead: TTFT %+.2f ms, per token %+.3f ms\n", s_ttft - e_ttft,
                    s_tok - e_tok);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_server: %s\n", e.what());
        return 1;
    }
}
