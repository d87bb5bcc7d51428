// cli_config.hpp - configuration loading shared by the table commands
// (tern-map, newaliases): -c DIR or TERN_CONFIG_DIR, errors to stderr.
#pragma once

#include <string>
#include <unistd.h>
#include <vector>

#include "lib/config.hpp"
#include "lib/log.hpp"

namespace tern::cli {

// Exit codes from sysexits.h, spelled out to keep the header list short.
constexpr int ex_usage = 64;
constexpr int ex_tempfail = 75;
constexpr int ex_config = 78;

// Load DIR/main.cf. Without an explicit -c a missing main.cf is not an
// error (the built-in defaults apply), so the commands work on a host where
// tern is not configured yet; with -c it must exist. False after logging.
inline bool load_config(config& cfg, const std::string& dir, bool explicit_dir) {
    std::string main_cf = dir + "/main.cf";
    if (!explicit_dir && ::access(main_cf.c_str(), F_OK) != 0) {
        log::debug("%s: not found, using built-in defaults", main_cf.c_str());
        return true;
    }
    std::vector<config_error> errors;
    if (cfg.load(dir, errors) && errors.empty()) return true;
    for (const auto& e : errors) log::error("%s", e.str().c_str());
    return false;
}

}  // namespace tern::cli
