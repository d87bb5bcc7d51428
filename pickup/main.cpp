// main.cpp - pickup, the daemon that queues local submissions: hooks into
// the server skeleton. It scans maildrop/ when it starts, on its master.cf
// wakeup timer, and whenever sendmail connects to its socket
// (public/pickup, request=wakeup); after queueing anything it wakes the qmgr.
// SECURITY: runs as mail_owner; see pickup.hpp for how maildrop files are
// treated.
#include <memory>

#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/server.hpp"
#include "pickup/pickup.hpp"

using namespace tern;

namespace {

struct state {
    std::unique_ptr<queue_dir> queue;
    pickup::settings settings;
    bool scan_pending = false;
    std::string root;
};

state g;

void schedule_scan(server& srv) {
    if (g.scan_pending) return;
    g.scan_pending = true;
    srv.loop.post([] {
        g.scan_pending = false;
        size_t n = pickup::scan_maildrop(*g.queue, g.settings);
        if (n) qmgr_wakeup(g.root, 500);
    });
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "pickup";
    hooks.post_jail = [](server& srv) {
        g.root = srv.chrooted ? "/" : srv.cfg.get("queue_directory");
        g.queue = std::make_unique<queue_dir>(g.root, static_cast<int>(srv.cfg.get_int("hash_queue_depth")));
        g.settings = pickup::load_settings(srv.cfg);
        schedule_scan(srv);
    };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        serve_attr_connection(
            srv.loop, std::move(fd),
            [&srv](const attr_list&, attr_responder respond) {
                respond(attr_list().add("status", "ok"));
                schedule_scan(srv);
            },
            std::chrono::seconds(10));
    };
    hooks.on_wakeup = [](server& srv) { schedule_scan(srv); };
    hooks.active_sessions = [](server&) -> size_t { return attr_connections_open(); };
    return server_main(argc, argv, hooks);
}
