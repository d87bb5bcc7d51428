// supervisor.hpp - master's service table: binds the listeners master.cf
// names, forks each service's processes with their listening sockets, and
// restarts children that die (with a growing delay, never a fork loop).
// Called by master/main.cpp. SECURITY: runs as root in system mode; children
// drop privileges themselves (lib/server.cpp) before touching client data.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "lib/config.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/master_cf.hpp"

namespace tern::master {

struct service {
    service_entry entry;
    std::vector<unique_fd> listeners;  // kept open for the life of the service
    std::string describe;              // "smtp/inet 127.0.0.1:20025"
    std::vector<pid_t> pids;           // current generation
    int wanted = 1;
    // restart throttling
    std::chrono::seconds delay{0};
    std::chrono::steady_clock::time_point last_start{};
    std::unique_ptr<timer> restart_timer;
    bool removed = false;
};

class supervisor {
public:
    supervisor(event_loop& loop, std::string config_dir, bool foreground, bool verbose)
        : _loop(loop), _config_dir(std::move(config_dir)), _foreground(foreground), _verbose(verbose) {}

    // Load and check main.cf and master.cf; on error print every problem and
    // return false (nothing has been started).
    bool load(config& cfg, std::vector<service_entry>& entries, std::vector<std::string>& errors) const;
    // Bind every listener and start every service. False: nothing is left running.
    bool start(config cfg, std::vector<service_entry> entries, std::string& err);
    // SIGHUP: new config; old children drain, new ones start with the new config.
    void reload();
    // SIGCHLD.
    void reap();
    // SIGTERM: stop every child (SIGTERM, then SIGKILL after master_stop_timeout).
    void stop_all();
    void kill_remaining();
    bool all_stopped() const;

    const config& cfg() const { return _cfg; }
    void write_status() const;

private:
    bool bind(service& s, std::string& err);
    void spawn(service& s);
    void spawn_all(service& s);
    void schedule_restart(service& s);
    std::string service_key(const service_entry& e) const { return e.name + "/" + e.type; }

    event_loop& _loop;
    std::string _config_dir;
    bool _foreground;
    bool _verbose;
    config _cfg;
    std::map<std::string, std::unique_ptr<service>> _services;
    std::map<pid_t, service*> _by_pid;
    std::map<pid_t, std::string> _retiring;  // old generation after reload, or removed services
    bool _stopping = false;
};

// The port for a master.cf inet service name: numeric, or a name from
// /etc/services ("smtp"), or one of tern's own names (submission, smtps...).
int resolve_port(const std::string& port);

}  // namespace tern::master
