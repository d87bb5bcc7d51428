// main.cpp - pop3d: the POP3 server (ports 110 and 995). Hooks into the
// shared server skeleton; one process serves many sessions.
// SECURITY: runs as mail_owner; the TLS key is read before privileges drop.
#include "lib/log.hpp"
#include "lib/server.hpp"
#include "pop3d/session.hpp"

using namespace tern;

static pop3::daemon_state g;

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "pop3d";
    hooks.pre_jail = [](server& srv) {
        g.srv = &srv;
        const auto& cfg = srv.cfg;
        g.wrapper = cfg.get_bool("pop3d_tls_wrappermode");
        g.allow_plaintext = cfg.get_bool("pop3d_allow_plaintext_auth");
        g.idle_timeout = std::chrono::seconds(cfg.get_time("pop3d_idle_timeout"));
        g.line_limit = static_cast<size_t>(cfg.get_int("pop3d_line_length_limit"));
        g.error_limit = static_cast<unsigned>(cfg.get_int("pop3d_error_limit"));
        g.lim = mailbox::limits::from_config(cfg);
        std::string cert = cfg.get("pop3d_tls_cert_file"), key = cfg.get("pop3d_tls_key_file");
        if (!cert.empty()) {
            std::string err;
            g.tls = make_server_ctx(cert, key.empty() ? cert : key, cfg.get("tls_protocols_min"), err);
            if (!g.tls) log::fatal("TLS: %s", err.c_str());
        } else if (g.wrapper) {
            log::fatal("pop3d_tls_wrappermode = yes needs a certificate (pop3d_tls_cert_file or tls_cert_file)");
        }
        std::string err;
        if (!g.users.open(cfg, err)) log::fatal("%s", err.c_str());
        if (!err.empty()) log::warn("%s", err.c_str());
    };
    hooks.post_jail = [](server& srv) { g.auth_socket = srv.socket_path(srv.cfg.get("auth_service_name")); };
    hooks.on_accept = [](server&, unique_fd fd, size_t) { pop3::session::start(g, std::move(fd)); };
    hooks.active_sessions = [](server&) { return g.sessions.size(); };
    hooks.on_stop = [](server&) {
        // sessions are freed before the loop they use
        auto all = g.sessions;
        for (auto* s : all) s->on_closed("server stopping");
    };
    return server_main(argc, argv, hooks);
}
