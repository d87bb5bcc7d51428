// cmd_misc.cpp - the small commands: RSET, NOOP, QUIT, VRFY (252 without
// a lookup, so addresses cannot be harvested), HELP and ETRN (asks the qmgr
// to flush deferred mail for a domain, RFC 1985).
// SECURITY: arguments are client text; ETRN's domain is syntax-checked
// before it reaches the qmgr.
#include "lib/addr.hpp"
#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

void cmd_rset(session& s, std::string_view arg) {
    if (!arg.empty()) {
        s.error(501, "5.5.4", "Syntax: RSET");
        return;
    }
    s.reset_transaction();
    s.reply(250, "2.0.0", "Ok");
}

void cmd_noop(session& s, std::string_view) { s.reply(250, "2.0.0", "Ok"); }

void cmd_quit(session& s, std::string_view) {
    s.reply(221, "2.0.0", "Bye");
    s.reset_transaction();
    s.close_after_reply();
}

void cmd_vrfy(session& s, std::string_view arg) {
    if (s.ctx.s.disable_vrfy) {
        s.error(502, "5.5.1", "VRFY command is disabled");
        return;
    }
    if (arg.empty()) {
        s.error(501, "5.5.4", "Syntax: VRFY address");
        return;
    }
    s.reply(252, "2.0.0", "Cannot VRFY user; try RCPT to attempt delivery");
}

void cmd_help(session& s, std::string_view) {
    s.reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP ETRN STARTTLS AUTH");
}

void cmd_etrn(session& s, std::string_view arg) {
    if (s.helo.empty()) {
        s.error(503, "5.5.1", "Error: send HELO/EHLO first");
        return;
    }
    if (s.tx.active) {
        s.error(503, "5.5.1", "Error: MAIL transaction in progress");
        return;
    }
    std::string_view d = arg;
    if (!d.empty() && d.front() == '@') d.remove_prefix(1);
    if (!arg.empty() && arg.front() == '#') {
        s.error(458, "4.3.0", "Unable to queue messages for node " + printable(arg, 100) + ": queue names are not supported");
        return;
    }
    if (d.empty() || !valid_domain(d)) {
        s.error(501, "5.5.4", "Syntax: ETRN domain");
        return;
    }
    std::string domain = to_lower(d);
    auto ask = [&s, domain] {
        attr_list req;
        req.add("request", "flush").add("site", domain);
        s.suspend();
        s.etrn_request = ipc_async(
            s.ctx.srv.loop, s.ctx.s.qmgr_socket, req, std::chrono::seconds(10),
            [&s, domain](std::optional<attr_list> rep, const std::string& err) {
                s.resume();
                if (rep && rep->get("status") == "ok") {
                    log::info("%s: ETRN %s: queuing started", s.client.label().c_str(), domain.c_str());
                    s.reply(250, "", "Queuing started");
                } else {
                    std::string why = rep ? rep->get("reason", "refused") : err;
                    log::warn("%s: ETRN %s: %s", s.client.label().c_str(), domain.c_str(), why.c_str());
                    s.error(458, "4.3.0", "Unable to queue messages for node " + domain);
                }
            });
    };
    if (s.ctx.etrn_r.empty()) {
        ask();
        return;
    }
    s.suspend();
    s.eval.run(stage::etrn, {&s.ctx.etrn_r}, domain, [&s, ask](const verdict& v) {
        s.resume();
        if (v.rejected()) {
            s.log_reject("ETRN", v);
            s.reply_verdict(v);
            return;
        }
        ask();
    });
}

}  // namespace tern::smtpd
