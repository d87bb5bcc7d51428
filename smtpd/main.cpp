// main.cpp - smtpd, tern's SMTP server (ports 25, 587 and 465): a few hooks
// into the shared server skeleton. Before the privilege drop it reads the
// TLS key, opens the lookup tables and the DNS resolver; each accepted
// connection becomes a session (session.cpp) driven by the event loop.
// SECURITY: runs as mail_owner; every byte from the network goes through
// the bounded parsers in lib/smtp_proto and lib/addr.
#include <memory>

#include "lib/log.hpp"
#include "lib/server.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

using namespace tern;

int main(int argc, char** argv) {
    std::unique_ptr<smtpd::context> ctx;
    server_hooks hooks;
    hooks.program = "smtpd";
    hooks.pre_jail = [&](server& srv) {
        ctx = std::make_unique<smtpd::context>(srv);
        ctx->load();
    };
    hooks.post_jail = [&](server&) { ctx->start(); };
    hooks.on_accept = [&](server&, unique_fd fd, size_t) {
        auto s = std::make_unique<smtpd::session>(*ctx, std::move(fd), ctx->s.wrapper);
        auto* p = s.get();
        ctx->add_session(std::move(s));
        p->start();
    };
    hooks.active_sessions = [&](server&) -> size_t { return ctx ? ctx->session_count() : 0; };
    hooks.on_stop = [&](server&) {
        if (ctx) ctx->stop();
    };
    int rc = server_main(argc, argv, hooks);
    // the event loop is gone: a context that still holds loop objects is left alone
    if (ctx && !ctx->stopped()) (void)ctx.release();
    return rc;
}
