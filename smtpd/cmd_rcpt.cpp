// cmd_rcpt.cpp - RCPT TO: the recipient and its DSN parameters (NOTIFY,
// ORCPT), the recipient limit, the restriction lists (client, HELO and
// sender ones too with smtpd_delay_reject=yes; relay control always), and
// the check that the user exists in our own domains (550 5.1.1).
// SECURITY: this is where relaying is allowed or refused.
#include "lib/addr.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/recipients.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

// NOTIFY=NEVER | SUCCESS,FAILURE,DELAY
bool parse_notify(std::string_view v, uint8_t& bits) {
    bits = 0;
    for (const auto& w : split_char(v, ',')) {
        if (iequals(w, "NEVER")) bits |= dsn_notify::never;
        else if (iequals(w, "SUCCESS")) bits |= dsn_notify::success;
        else if (iequals(w, "FAILURE")) bits |= dsn_notify::failure;
        else if (iequals(w, "DELAY")) bits |= dsn_notify::delay;
        else return false;
    }
    // NEVER stands alone (RFC 3461 4.1)
    return bits != 0 && (!(bits & dsn_notify::never) || bits == dsn_notify::never);
}

void accept_recipient(session& s, recipient r) {
    for (const auto& have : s.tx.rcpts)
        if (have.address == r.address) {
            // the same recipient twice is delivered once
            s.reply(250, "2.1.5", "Ok");
            return;
        }
    s.tx.rcpts.push_back(std::move(r));
    s.reply(250, "2.1.5", "Ok");
}

}  // namespace

void cmd_rcpt(session& s, std::string_view arg) {
    const settings& cf = s.ctx.s;
    if (!s.tx.active) {
        s.error(503, "5.5.1", "Error: need MAIL command");
        return;
    }
    if (!istarts_with(arg, "TO:")) {
        s.error(501, "5.5.4", "Syntax: RCPT TO:<address>");
        return;
    }
    path_options po;
    po.smtputf8 = s.tx.smtputf8;
    auto parsed = parse_rcpt_arg(trim(arg.substr(3)), po);
    if (!parsed) {
        const auto& e = parsed.error();
        s.error(e.reply, e.status, e.reason);
        return;
    }
    const smtp_command_arg& a = *parsed;
    recipient r;
    if (!a.params.empty() && !s.esmtp) {
        s.error(555, "5.5.4", "Error: RCPT parameters need EHLO");
        return;
    }
    for (const auto& p : a.params) {
        if (p.key == "NOTIFY") {
            if (!parse_notify(p.value, r.notify)) {
                s.error(501, "5.5.4", "Bad NOTIFY parameter syntax");
                return;
            }
        } else if (p.key == "ORCPT") {
            // "addr-type;xtext": keep the type and the decoded address
            auto semi = p.value.find(';');
            if (semi == std::string::npos || semi == 0) {
                s.error(501, "5.5.4", "Bad ORCPT parameter syntax");
                return;
            }
            r.orcpt = p.value.substr(0, semi) + ";" + p.decoded;
            if (has_controls(r.orcpt)) {
                s.error(501, "5.5.4", "Bad ORCPT parameter: control characters");
                return;
            }
        } else {
            s.error(555, "5.5.4", "Unsupported option: " + printable(p.key, 40));
            return;
        }
    }
    if (s.tx.rcpts.size() >= cf.recipient_limit) {
        s.error(452, "4.5.3", "Error: too many recipients");
        return;
    }
    if (!s.ctx.config_error.empty()) {
        s.error(451, "4.3.5", "Server configuration error");
        return;
    }
    r.address = qualify(s, a.path);
    std::vector<const restriction_list*> lists;
    if (cf.delay_reject) lists = {&s.ctx.client_r, &s.ctx.helo_r, &s.ctx.sender_r};
    lists.push_back(&s.ctx.relay_r);
    lists.push_back(&s.ctx.recipient_r);
    s.suspend();
    std::string addr = r.address;
    std::string given = a.path.address();
    s.eval.run(stage::rcpt, lists, addr, [&s, r = std::move(r)](const verdict& v) mutable {
        s.resume();
        if (v.rejected()) {
            s.log_reject("RCPT", v, r.address);
            s.reply_verdict(v);
            return;
        }
        if (s.ctx.s.reject_unlisted_recipient && s.ctx.recipients) {
            const settings& c = s.ctx.s;
            auto rv = s.ctx.recipients->check(r.address, c.unknown_local_code, c.unknown_virtual_mailbox_code,
                                              c.unknown_virtual_alias_code, c.unknown_relay_code);
            if (rv.k != recipient_verdict::kind::ok) {
                verdict rej;
                rej.k = verdict::kind::reject;
                rej.code = rv.code;
                rej.dsn = rv.dsn;
                rej.text = "<" + r.address + ">: " + rv.text;
                s.log_reject("RCPT", rej, r.address);
                s.reply_verdict(rej);
                return;
            }
        }
        accept_recipient(s, std::move(r));
    }, given);
}

}  // namespace tern::smtpd
