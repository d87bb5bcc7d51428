// cmd_helo.cpp - HELO and EHLO: remember the client's name, start over,
// and (EHLO) announce exactly the extensions smtpd implements.
// SECURITY: the name is client text; it is kept as sent (bounded by the
// command line limit) and only made printable where it is logged.
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

void greet(session& s, std::string_view arg, bool extended) {
    if (arg.empty()) {
        s.error(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
        return;
    }
    s.reset_transaction();
    s.helo = std::string(arg);
    s.esmtp = extended;
    auto finish = [&s, extended] {
        const settings& cf = s.ctx.s;
        if (!extended) {
            s.reply(250, "", cf.myhostname);
            return;
        }
        std::vector<std::string> lines;
        auto offer = [&](const std::string& kw, const std::string& text) {
            if (!cf.discard_ehlo.count(kw)) lines.push_back(text);
        };
        offer("PIPELINING", "PIPELINING");
        offer("SIZE", cf.message_size_limit ? "SIZE " + std::to_string(cf.message_size_limit) : "SIZE");
        offer("ETRN", "ETRN");
        if (cf.tls != tls_level::none && s.ctx.tls_ctx && !s.tls_active) offer("STARTTLS", "STARTTLS");
        if (cf.sasl_enable && (s.tls_active || !cf.tls_auth_only) && !s.is_authenticated())
            offer("AUTH", "AUTH PLAIN LOGIN");
        offer("ENHANCEDSTATUSCODES", "ENHANCEDSTATUSCODES");
        offer("8BITMIME", "8BITMIME");
        offer("DSN", "DSN");
        offer("SMTPUTF8", "SMTPUTF8");
        offer("CHUNKING", "CHUNKING");
        offer("DELIVERBY", "DELIVERBY");
        offer("HELP", "HELP");
        std::string text = cf.myhostname;
        for (const auto& l : lines) text += "\n" + l;
        s.reply(250, "", text);
    };
    // with smtpd_delay_reject=no the HELO restrictions answer right here
    if (!s.ctx.s.delay_reject && (!s.ctx.client_r.empty() || !s.ctx.helo_r.empty())) {
        s.suspend();
        s.eval.run(stage::helo, {&s.ctx.client_r, &s.ctx.helo_r}, "", [&s, finish](const verdict& v) {
            s.resume();
            if (v.rejected()) {
                s.log_reject(s.esmtp ? "EHLO" : "HELO", v);
                s.helo.clear();
                s.reply_verdict(v);
                return;
            }
            finish();
        });
        return;
    }
    finish();
}

}  // namespace

void cmd_ehlo(session& s, std::string_view arg) { greet(s, arg, true); }
void cmd_helo(session& s, std::string_view arg) { greet(s, arg, false); }

}  // namespace tern::smtpd
