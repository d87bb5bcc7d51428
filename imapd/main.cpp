// main.cpp - imapd: the IMAP4rev1 server (ports 143 and 993). Reads its
// parameters (lib/params_access.cpp) and hooks into the shared server
// skeleton; one process serves many sessions on one event loop.
// SECURITY: runs as mail_owner; the TLS key is read before privileges drop.
#include <csignal>

#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/server.hpp"

using namespace tern;

static imap::daemon_state g;

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "imapd";
    hooks.pre_jail = [](server& srv) {
        g.srv = &srv;
        const auto& cfg = srv.cfg;
        g.wrapper = cfg.get_bool("imapd_tls_wrappermode");
        g.allow_plaintext = cfg.get_bool("imapd_allow_plaintext_auth");
        g.idle_timeout = std::chrono::seconds(cfg.get_time("imapd_idle_timeout"));
        g.login_timeout = std::chrono::seconds(cfg.get_time("imapd_login_timeout"));
        g.flim.line_limit = cfg.get_size("imapd_line_length_limit");
        g.flim.literal_limit = cfg.get_size("imapd_literal_size_limit");
        g.flim.command_limit = g.flim.literal_limit + 4 * g.flim.line_limit;
        g.error_limit = static_cast<unsigned>(cfg.get_int("imapd_error_limit"));
        g.user_session_limit = static_cast<size_t>(cfg.get_int("imapd_user_session_limit"));
        g.lim = mailbox::limits::from_config(cfg);
        std::string cert = cfg.get("imapd_tls_cert_file"), key = cfg.get("imapd_tls_key_file");
        if (!cert.empty()) {
            std::string err;
            g.tls = make_server_ctx(cert, key.empty() ? cert : key, cfg.get("tls_protocols_min"), err);
            if (!g.tls) log::fatal("TLS: %s", err.c_str());
        } else if (g.wrapper) {
            log::fatal("imapd_tls_wrappermode = yes needs a certificate (imapd_tls_cert_file or tls_cert_file)");
        }
        std::string err;
        if (!g.users.open(cfg, err)) log::fatal("%s", err.c_str());
        if (!err.empty()) log::warn("%s", err.c_str());
        // a mailbox file size limit must give EFBIG, not kill the process
        std::signal(SIGXFSZ, SIG_IGN);
    };
    hooks.post_jail = [](server& srv) {
        g.auth_socket = srv.socket_path(srv.cfg.get("auth_service_name"));
        g.learner.configure(&srv.loop, srv.socket_path("private/spamc"), srv.cfg.get_size("imapd_spam_learn_size_limit"),
                            srv.cfg.get_bool("imapd_spam_training"));
        g.start_notifier();
    };
    hooks.on_accept = [](server&, unique_fd fd, size_t) { imap::session::start(g, std::move(fd)); };
    hooks.active_sessions = [](server&) { return g.sessions.size(); };
    hooks.on_stop = [](server&) {
        // sessions are freed before the loop they use
        auto all = g.sessions;
        for (auto* s : all) s->on_closed("server stopping");
        g.notifier_event.reset();
    };
    return server_main(argc, argv, hooks);
}
