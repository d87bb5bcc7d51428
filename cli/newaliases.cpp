// newaliases.cpp - newaliases [-c DIR] [-v]: rebuild every table named in
// alias_database (default hash:$config_directory/aliases) from its aliases(5)
// text source. Errors name file:line; the old database stays in place when
// its source has any error. Exit 0 when all were built, 1 otherwise, 64
// usage, 78 configuration error.
// SECURITY: runs with the invoker's privileges; as root a built database
// gets the owner of its source file.
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli/cli_config.hpp"
#include "lib/aliases.hpp"
#include "lib/maps.hpp"

using namespace tern;

int main(int argc, char** argv) {
    log::init("newaliases", log::sink::stderr_stream, false);
    std::string config_dir = TERN_CONFIG_DIR;
    bool explicit_dir = false;
    int c;
    while ((c = ::getopt(argc, argv, "c:v")) != -1) {
        switch (c) {
        case 'c':
            config_dir = optarg;
            explicit_dir = true;
            break;
        case 'v': log::set_verbose(true); break;
        default:
            std::fprintf(stderr, "usage: newaliases [-c DIR] [-v]\n");
            return cli::ex_usage;
        }
    }
    if (optind != argc) {
        std::fprintf(stderr, "usage: newaliases [-c DIR] [-v]\n");
        return cli::ex_usage;
    }
    config cfg;
    if (!cli::load_config(cfg, config_dir, explicit_dir)) return cli::ex_config;
    map_limits limits = map_limits::from_config(cfg);
    std::string default_type = cfg.get("default_database_type");

    auto specs = split_table_list(cfg.get("alias_database"));
    if (specs.empty()) log::warn("alias_database is empty: nothing to build");
    int rc = 0;
    for (const auto& spec : specs) {
        std::vector<config_error> errors;
        build_report report;
        bool ok = build_alias_table(spec, default_type, limits, errors, report);
        for (const auto& w : report.warnings) log::warn("%s", w.str().c_str());
        for (const auto& e : errors) log::error("%s", e.str().c_str());
        if (!ok) {
            log::error("%s: not built", spec.c_str());
            rc = 1;
        } else {
            log::debug("%s: %zu aliases", spec.c_str(), report.entries);
        }
    }
    return rc;
}
