// main.cpp - spamd: the policy service (master.cf "spamd unix ... spamd",
// Postfix's policy delegation protocol; an inet line serves Postfix over
// TCP) or, with the argument "content", the content service
// (master.cf "spamc unix ... spamd content"). One event loop per process,
// many connections; see docs/spamd.md.
// SECURITY: runs as mail_owner; the DNS resolver and the whitelist tables
// are set up before privileges are dropped; every client is untrusted.
#include "lib/dns.hpp"
#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/server.hpp"
#include "spamd/content.hpp"
#include "spamd/policy.hpp"
#include "spamd/policy_conn.hpp"

using namespace tern;

namespace {

struct state {
    bool content = false;
    std::unique_ptr<dns::resolver> resolver;
    std::unique_ptr<spamd::services> services;
    spamd::policy_service policy;
    spamd::content_service content_svc;
    spamd::policy_limits limits;
};

state g;

void setup(server& srv) {
    if (srv.args.size() > 1 || (srv.args.size() == 1 && srv.args[0] != "policy" && srv.args[0] != "content"))
        log::fatal("usage in master.cf: spamd [policy|content]");
    g.content = !srv.args.empty() && srv.args[0] == "content";
    std::string err;
    if (g.content) return;  // set up after the privilege drop (worker threads)
    g.resolver = dns::resolver::create(srv.loop, srv.cfg, err);
    if (!g.resolver) log::fatal("DNS resolver: %s", err.c_str());
    g.services = std::make_unique<spamd::services>(spamd::services{srv.loop, srv.cfg, *g.resolver});
    if (!g.policy.init(*g.services, err)) log::fatal("%s", err.c_str());
    g.limits.max_line = srv.cfg.get_size("spamd_policy_line_limit");
    g.limits.max_attrs = static_cast<size_t>(srv.cfg.get_int("spamd_policy_attribute_limit"));
    g.limits.max_total = std::max<size_t>(g.limits.max_line * 4, 256 * 1024);
    g.limits.idle = std::chrono::seconds(srv.cfg.get_time("spamd_idle_timeout"));
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "spamd";
    hooks.pre_jail = [](server& srv) { setup(srv); };
    hooks.post_jail = [](server& srv) {
        std::string err;
        if (g.content && !g.content_svc.init(srv.cfg, srv.loop, err)) log::fatal("%s", err.c_str());
    };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        if (g.content) {
            serve_attr_connection(
                srv.loop, std::move(fd),
                [](const attr_list& req, attr_responder respond) { g.content_svc.handle(req, std::move(respond)); },
                std::chrono::seconds(srv.cfg.get_time("spamd_idle_timeout")), g.content_svc.limits());
            return;
        }
        spamd::serve_policy_connection(
            srv.loop, std::move(fd),
            [](spamd::raw_request req, spamd::policy_reply reply) { g.policy.handle(std::move(req), std::move(reply)); },
            g.limits);
    };
    hooks.active_sessions = [](server&) { return spamd::policy_connections_open() + attr_connections_open(); };
    hooks.on_stop = [](server&) {
        g.content_svc.stop();
        g.policy.stop();
        g.resolver.reset();
    };
    return server_main(argc, argv, hooks);
}
