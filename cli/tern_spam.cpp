// tern_spam.cpp - `tern-spam [-c DIR] [-v] command [args]`: the spam tool's
// dispatcher (one file per sub-command: tern_spam_<command>.cpp). Loads
// main.cf (-c DIR, else $TERN_CONFIG_DIR or the compiled-in directory; a
// missing main.cf without -c means built-in defaults) and runs the command,
// which uses the same library code as spamd.
// Exit: the command's status; 64 usage, 78 configuration error.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/cli_config.hpp"
#include "cli/tern_spam.hpp"
#include "lib/log.hpp"

using namespace tern;
using namespace tern::spam_cli;

namespace {

struct command {
    const char* name;
    command_fn fn;
    const char* usage;
};

// The sub-commands; add a row (and a tern_spam_<name>.cpp) for a new one.
const command commands[] = {
    {"spf", cmd_spf, "spf --ip ADDR --sender ADDR --helo NAME [--receiver NAME]   SPF check (result, explanation, Received-SPF)"},
};

int usage(int rc) {
    std::fprintf(rc ? stderr : stdout, "usage: tern-spam [-c config_dir] [-v] command [args]\ncommands:\n");
    for (const auto& c : commands) std::fprintf(rc ? stderr : stdout, "  %s\n", c.usage);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    log::init("tern-spam", log::sink::stderr_stream, false);
    context ctx;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) {
            ctx.config_dir = argv[++i];
            ctx.explicit_dir = true;
        } else if (a.rfind("-c", 0) == 0 && a.size() > 2) {
            ctx.config_dir = a.substr(2);
            ctx.explicit_dir = true;
        } else if (a == "-v") {
            log::set_verbose(true);
        } else if (a == "-h" || a == "--help") {
            return usage(0);
        } else {
            break;
        }
    }
    if (i >= argc) return usage(cli::ex_usage);
    std::string name = argv[i++];
    std::vector<std::string> args(argv + i, argv + argc);
    if (!ctx.explicit_dir) {
        const char* env = std::getenv("TERN_CONFIG_DIR");
        ctx.config_dir = env && *env ? env : TERN_CONFIG_DIR;
    }
    for (const auto& c : commands) {
        if (name != c.name) continue;
        if (!cli::load_config(ctx.cfg, ctx.config_dir, ctx.explicit_dir)) return cli::ex_config;
        return c.fn(ctx, args);
    }
    std::fprintf(stderr, "tern-spam: unknown command \"%s\"\n", name.c_str());
    return usage(cli::ex_usage);
}
