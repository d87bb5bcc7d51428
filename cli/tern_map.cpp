// tern_map.cpp - tern-map, the table tool (like postmap):
//   tern-map [-c DIR] [-v] type:file...        build file.db from file
//   tern-map [-c DIR] [-v] -q KEY type:name... look KEY up (first hit wins)
//   tern-map [-c DIR] [-v] -q - type:name...   keys from stdin, "key value" out
//   tern-map [-c DIR] [-v] -s type:name...     list every entry
// Exit: 0 done/found, 1 build error or not found, 64 usage, 75 table error,
// 78 configuration error.
// SECURITY: runs with the invoker's privileges; as root a built table gets
// the owner of its source file.
#include <cstdio>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli/cli_config.hpp"
#include "lib/maps.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: tern-map [-c DIR] [-v] type:file...\n"
                 "       tern-map [-c DIR] [-v] -q KEY|- type:name...\n"
                 "       tern-map [-c DIR] [-v] -s type:name...\n");
}

// One table spec: a bare name gets default_database_type.
std::string with_type(const std::string& spec, const std::string& default_type) {
    if (parse_table_spec(spec)) return spec;
    return default_type + ":" + spec;
}

int build(const std::vector<std::string>& specs, const std::string& default_type, const map_options& opts) {
    int rc = 0;
    for (const auto& spec : specs) {
        std::vector<config_error> errors;
        build_report report;
        bool ok = build_table(spec, default_type, opts, errors, report);
        for (const auto& w : report.warnings) log::warn("%s", w.str().c_str());
        for (const auto& e : errors) log::error("%s", e.str().c_str());
        if (!ok) {
            log::error("%s: failed", with_type(spec, default_type).c_str());
            rc = 1;
        } else {
            log::debug("%s: %zu entries", with_type(spec, default_type).c_str(), report.entries);
        }
    }
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    log::init("tern-map", log::sink::stderr_stream, false);
    std::string config_dir = TERN_CONFIG_DIR;
    bool explicit_dir = false, list = false, query = false;
    std::string key;
    int c;
    while ((c = ::getopt(argc, argv, "c:vq:s")) != -1) {
        switch (c) {
        case 'c':
            config_dir = optarg;
            explicit_dir = true;
            break;
        case 'v': log::set_verbose(true); break;
        case 'q':
            query = true;
            key = optarg;
            break;
        case 's': list = true; break;
        default: usage(); return cli::ex_usage;
        }
    }
    if (optind >= argc || (query && list)) {
        usage();
        return cli::ex_usage;
    }
    std::vector<std::string> specs(argv + optind, argv + argc);

    config cfg;
    if (!cli::load_config(cfg, config_dir, explicit_dir)) return cli::ex_config;
    map_options opts = map_options::from_config(cfg);
    std::string default_type = cfg.get("default_database_type");

    if (!query && !list) return build(specs, default_type, opts);

    map_list maps;
    for (const auto& spec : specs) {
        std::vector<config_error> errors;
        auto t = open_table(with_type(spec, default_type), opts, errors);
        for (const auto& e : errors) log::error("%s", e.str().c_str());
        // like postmap: a table that cannot be read ends the query
        if (!t || !t->load_error().empty()) return cli::ex_tempfail;
        maps.add(std::move(t));
    }

    if (list) {
        int rc = 0;
        for (const auto& t : maps.tables()) {
            std::string err;
            bool ok = t->for_each(
                [](std::string_view k, std::string_view v) {
                    std::cout << k << ' ' << v << '\n';
                    return true;
                },
                err);
            if (!ok) {
                log::error("%s", err.c_str());
                rc = cli::ex_tempfail;
            }
        }
        std::cout.flush();
        return rc;
    }

    if (key != "-") {
        auto r = maps.lookup(key);
        if (r.failed()) {
            log::error("%s", r.error.c_str());
            return cli::ex_tempfail;
        }
        if (!r.found()) return 1;
        std::cout << r.value << '\n';
        return 0;
    }

    bool any_found = false, any_error = false;
    std::string line;
    while (std::getline(std::cin, line)) {
        auto k = trim(line);
        if (k.empty()) continue;
        auto r = maps.lookup(k);
        if (r.failed()) {
            log::error("%s", r.error.c_str());
            any_error = true;
        } else if (r.found()) {
            std::cout << k << ' ' << r.value << '\n';
            any_found = true;
        }
    }
    std::cout.flush();
    if (any_error) return cli::ex_tempfail;
    return any_found ? 0 : 1;
}
