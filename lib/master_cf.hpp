// master_cf.hpp - master.cf parser: Postfix's columns
//   service type private unpriv chroot wakeup maxproc command [args]
// with -o name=value overrides. Used by master and `tern check`.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/config.hpp"

namespace tern {

struct service_entry {
    std::string name;       // "smtp", "127.0.0.1:20025", "qmgr"
    std::string type;       // "inet" or "unix"
    bool private_ = true;   // unix sockets under private/ (else public/)
    bool unpriv = true;     // false: keeps root (local-delivery)
    bool chroot = false;    // chroot to queue_directory
    int wakeup = 0;         // seconds between wake-up requests; 0: none
    int maxproc = 0;        // 0: '-' (default_process_limit)
    std::string command;    // program in daemon_directory
    std::vector<std::pair<std::string, std::string>> overrides;  // -o name=value
    std::vector<std::string> args;  // other arguments, passed on
    std::string file;
    int line = 0;

    // inet: host part ("" when only a port) and port
    std::string host() const;
    std::string port() const;
    std::string origin() const { return file + ":" + std::to_string(line); }
};

// Parse master.cf text; errors carry file:line.
std::vector<service_entry> parse_master_cf(std::string_view text, const std::string& file,
                                           std::vector<config_error>& errors);
bool load_master_cf(const std::string& config_dir, std::vector<service_entry>& out,
                    std::vector<config_error>& errors);

}  // namespace tern
