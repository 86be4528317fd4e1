// dsv4d: the OpenAI-compatible HTTP daemon for DeepSeek V4 Flash.
#include <csignal>
#include <cstdio>

#include "config/config.h"
#include "engine/common/log.h"
#include "server/daemon.h"

int main(int argc, char** argv) {
    using namespace dsv4;
    config::DaemonConfig config;
    try {
        config = config::load_config(argc, argv);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "dsv4d: %s\n\n%s", e.what(), config::usage_text().c_str());
        return 2;
    }
    if (config.show_help) {
        std::fputs(config::usage_text().c_str(), stdout);
        return 0;
    }
    if (config.print_config) {
        std::fputs(config::to_toml(config).c_str(), stdout);
        return 0;
    }
    log::set_level(*log::parse_level(config.log_level));

    // Signals are taken synchronously by this thread; every other thread inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        server::Daemon daemon(config);
        daemon.start();
        int received = 0;
        sigwait(&signals, &received);
        DSV4_LOG_INFO("received %s", received == SIGTERM ? "SIGTERM" : "SIGINT");
        daemon.stop();
    } catch (const std::exception& e) {
        DSV4_LOG_ERROR("%s", e.what());
        return 1;
    }
    return 0;
}
