// The `dsv4` command: one binary, one subcommand per tool.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
        std::fprintf(stderr, "usage: dsv4 <command> [args]\n");
        return argc < 2 ? 2 : 0;
    }
    std::fprintf(stderr, "dsv4: unknown command '%s'\n", argv[1]);
    return 2;
}
