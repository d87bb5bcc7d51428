// tern_main.cpp - `tern [-c DIR] command ...`: dispatch to the sub-commands.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/tern.hpp"
#include "lib/log.hpp"

using namespace tern;

static int usage(int rc) {
    std::fprintf(rc ? stderr : stdout,
                 "usage: tern [-c config_dir] command [args]\n"
                 "commands:\n"
                 "  init DIR --domain D [--port-base N] [--user NAME:PASSWORD]... [--hostname H] [--listen ADDR]\n"
                 "  start [-f]      start the mail system (-f: in the foreground)\n"
                 "  stop            stop the mail system\n"
                 "  reload          re-read the configuration\n"
                 "  status          show whether tern runs, its services and pids\n"
                 "  check           validate configuration, tables, directories and permissions\n"
                 "  config [-n] [-d] [-x] [name...]   print parameter values\n");
    return rc;
}

int main(int argc, char** argv) {
    log::init("tern", log::sink::stderr_stream, false);
    std::string config_dir;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) config_dir = argv[++i];
        else if (a.rfind("-c", 0) == 0 && a.size() > 2) config_dir = a.substr(2);
        else if (a == "-v") log::set_verbose(true);
        else if (a == "-h" || a == "--help") return usage(0);
        else break;
    }
    if (i >= argc) return usage(64);
    std::string cmd = argv[i++];
    std::vector<std::string> args(argv + i, argv + argc);
    if (config_dir.empty()) {
        const char* env = std::getenv("TERN_CONFIG_DIR");
        config_dir = env && *env ? env : TERN_CONFIG_DIR;
    }
    if (cmd == "init") return cli::cmd_init(args);
    if (cmd == "start") return cli::cmd_start(config_dir, args);
    if (cmd == "stop") return cli::cmd_stop(config_dir, args);
    if (cmd == "reload") return cli::cmd_reload(config_dir, args);
    if (cmd == "status") return cli::cmd_status(config_dir, args);
    if (cmd == "check") return cli::cmd_check(config_dir, args);
    if (cmd == "config") return cli::cmd_config(config_dir, args);
    std::fprintf(stderr, "tern: unknown command \"%s\"\n", cmd.c_str());
    return usage(64);
}
