// server.hpp - the skeleton every daemon plugs into. In order it parses the
// arguments master passes, loads main.cf plus the service's -o overrides,
// runs the pre-jail hook (as root: read keys, open tables), chroots when
// master.cf says so, drops to mail_owner unless the service is privileged,
// runs the post-jail hook and enters the event loop. SIGTERM stops at once;
// SIGHUP (master's reload) stops accepting and drains the sessions.
//
// Arguments from master: -c DIR -n SERVICE -t inet|unix [-L N] [-u] [-j]
// [-w SECONDS] [-F] [-v] [-o name=value]... [service args]; listening
// sockets are fds 3 .. 3+N-1.
// SECURITY: a daemon marked unprivileged never runs its loop as root.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/net.hpp"

struct evconnlistener;

namespace tern {

class server;

struct server_hooks {
    const char* program = "daemon";
    // As root (when started as root), before chroot: open what the jail hides.
    std::function<void(server&)> pre_jail;
    // After dropping privileges, before the loop.
    std::function<void(server&)> post_jail;
    // A client connected on listener `index`.
    std::function<void(server&, unique_fd fd, size_t index)> on_accept;
    // Called every -w seconds (master.cf wakeup column).
    std::function<void(server&)> on_wakeup;
    // Number of sessions still open (for draining after reload); none: 0.
    std::function<size_t(server&)> active_sessions;
    // The loop is about to stop (SIGTERM or drained).
    std::function<void(server&)> on_stop;
    // True for daemons that stay root (local-delivery); all others drop.
    bool keep_root = false;
};

struct evconnlistener_deleter { void operator()(evconnlistener* l) const noexcept; };
using evconnlistener_ptr = std::unique_ptr<evconnlistener, evconnlistener_deleter>;

class server {
public:
    config cfg;
    event_loop loop;
    std::string service;       // master.cf service name
    std::string service_type;  // inet or unix
    std::vector<std::string> args;  // extra master.cf arguments
    bool chrooted = false;
    // Set before the pre-jail hook: the process will chroot (chroot = y, as
    // root), so the hook must load now whatever the jail will hide.
    bool will_chroot = false;
    bool unprivileged = false;

    // Path of something under queue_directory, valid inside or outside the
    // chroot. An absolute path is returned as is, or, in the chroot, made
    // relative to the jail when it lies under queue_directory.
    std::string queue_path(const std::string& rel) const;
    // Service socket path (e.g. "private/qmgr") for connecting to another daemon.
    std::string socket_path(const std::string& name) const { return queue_path(name); }
    bool draining() const { return _draining; }
    void stop_accepting();
    // Stop accepting, let the open sessions finish (at most
    // service_drain_timeout), then leave the loop: reload, changed tables.
    void drain(server_hooks& hooks);

private:
    friend int server_main(int, char**, server_hooks&);
    static void accept_cb(evconnlistener*, int fd, struct sockaddr*, int, void* arg) noexcept;
    struct listener {
        server* self;
        size_t index;
        evconnlistener_ptr l;
    };
    std::vector<std::unique_ptr<listener>> _listeners;
    server_hooks* _hooks = nullptr;
    std::string _queue_dir;
    bool _draining = false;
    std::unique_ptr<timer> _wakeup, _drain, _table_check;
};

int server_main(int argc, char** argv, server_hooks& hooks);

// Raise the soft RLIMIT_NOFILE to the hard limit (server_main and master call it).
void raise_fd_limit();

// Standard set of config errors from load + validate: fatal at daemon start.
void load_config_or_die(config& cfg, const std::string& dir,
                        const std::vector<std::pair<std::string, std::string>>& overrides);

}  // namespace tern
