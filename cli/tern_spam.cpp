// tern_spam.cpp - tern-spam, the command-line side of spamd:
//   tern-spam [-c DIR] [-v] SUBCOMMAND [ARGS...]
// Loads main.cf (-c DIR, else the compiled-in directory; a missing main.cf
// without -c means built-in defaults) and runs one subcommand from the
// table below, which uses the same library code as the daemon.
// Exit: the subcommand's status; 64 usage, 78 configuration error.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"

using namespace tern;

namespace {

const cli::spam::subcommand kSubcommands[] = {
    {"spf", "--ip ADDR --sender ADDR --helo NAME [--receiver NAME]", cli::spam::cmd_spf},
};

void usage() {
    std::fprintf(stderr, "usage: tern-spam [-c DIR] [-v] SUBCOMMAND [ARGS...]\n");
    for (const auto& s : kSubcommands) std::fprintf(stderr, "       tern-spam [-c DIR] %s %s\n", s.name, s.usage);
}

}  // namespace

int main(int argc, char** argv) {
    log::init("tern-spam", log::sink::stderr_stream, false);
    std::string config_dir = TERN_CONFIG_DIR;
    bool explicit_dir = false;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) {
            config_dir = argv[++i];
            explicit_dir = true;
        } else if (a == "-v") {
            log::set_verbose(true);
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            usage();
            return cli::ex_usage;
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage();
        return cli::ex_usage;
    }
    std::string name = argv[i++];
    std::vector<std::string> args(argv + i, argv + argc);
    for (const auto& s : kSubcommands) {
        if (name != s.name) continue;
        config cfg;
        if (!cli::load_config(cfg, config_dir, explicit_dir)) return cli::ex_config;
        return s.run(cfg, args);
    }
    std::fprintf(stderr, "tern-spam: unknown subcommand \"%s\"\n", name.c_str());
    usage();
    return cli::ex_usage;
}
