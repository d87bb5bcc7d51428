// cmd_mail.cpp - MAIL FROM: the sender and its ESMTP parameters (SIZE,
// BODY, RET, ENVID, AUTH, SMTPUTF8, BY), the free-space check, and (with
// smtpd_delay_reject=no) the client, HELO and sender restrictions.
// SECURITY: the path and parameters are parsed by lib/addr with RFC 5321
// length limits; a declared SIZE is checked before any data is read.
#include <ctime>
#include <unistd.h>

#include "lib/addr.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

// RFC 2852: BY=<seconds>;<R|N>[T]
bool parse_by(std::string_view v, deliver_by& out) {
    auto semi = v.find(';');
    if (semi == std::string_view::npos || semi == 0) return false;
    auto n = parse_i64(v.substr(0, semi));
    if (!n || *n < -999999999 || *n > 999999999) return false;
    std::string_view m = v.substr(semi + 1);
    if (m.empty() || m.size() > 2) return false;
    char mode = static_cast<char>(std::toupper(static_cast<unsigned char>(m[0])));
    if (mode != 'R' && mode != 'N') return false;
    bool trace = false;
    if (m.size() == 2) {
        if (std::toupper(static_cast<unsigned char>(m[1])) != 'T') return false;
        trace = true;
    }
    // a return-mode deadline must lie in the future (RFC 2852 4)
    if (mode == 'R' && *n <= 0) return false;
    out.seconds = *n;
    out.mode = mode;
    out.trace = trace;
    out.deadline = static_cast<int64_t>(std::time(nullptr)) + *n;
    return true;
}

}  // namespace

std::string qualify(const session& s, const smtp_path& p) {
    if (p.null) return "";
    std::string addr = p.address();
    // RFC 5321 4.1.1.3: a bare <postmaster> is this host's postmaster
    if (p.domain.empty() && iequals(addr, "postmaster")) return "postmaster@" + to_lower(s.ctx.s.myhostname);
    if (p.domain.empty()) return addr + "@" + s.ctx.s.myorigin;
    auto [local, domain] = split_address(addr);
    return local + "@" + lowercase_domain(domain);
}

void cmd_mail(session& s, std::string_view arg) {
    const settings& cf = s.ctx.s;
    if (cf.helo_required && s.helo.empty()) {
        s.error(503, "5.5.1", "Error: send HELO/EHLO first");
        return;
    }
    if (s.tx.active) {
        s.error(503, "5.5.1", "Error: nested MAIL command");
        return;
    }
    if (!istarts_with(arg, "FROM:")) {
        s.error(501, "5.5.4", "Syntax: MAIL FROM:<address>");
        return;
    }
    path_options po;
    po.smtputf8 = s.esmtp;
    auto parsed = parse_mail_arg(trim(arg.substr(5)), po);
    if (!parsed) {
        const auto& e = parsed.error();
        s.error(e.reply, e.status, e.reason);
        return;
    }
    transaction tx;
    const smtp_command_arg& a = *parsed;
    if (!a.params.empty() && !s.esmtp) {
        s.error(555, "5.5.4", "Error: MAIL parameters need EHLO");
        return;
    }
    for (const auto& p : a.params) {
        if (p.key == "SIZE") {
            auto n = parse_u64(p.value);
            if (!n) {
                s.error(501, "5.5.4", "Bad message size syntax");
                return;
            }
            tx.size = *n;
        } else if (p.key == "BODY") {
            if (iequals(p.value, "8BITMIME")) tx.body = body_type::eight_bit_mime;
            else if (iequals(p.value, "7BIT")) tx.body = body_type::seven_bit;
            else {
                s.error(501, "5.5.4", "Unsupported BODY parameter value");
                return;
            }
        } else if (p.key == "RET") {
            if (iequals(p.value, "FULL")) tx.ret = dsn_ret::full;
            else if (iequals(p.value, "HDRS")) tx.ret = dsn_ret::hdrs;
            else {
                s.error(501, "5.5.4", "Bad RET parameter syntax");
                return;
            }
        } else if (p.key == "ENVID") {
            tx.envid = p.decoded;
            if (has_controls(tx.envid)) {
                s.error(501, "5.5.4", "Bad ENVID parameter: control characters");
                return;
            }
        } else if (p.key == "AUTH") {
            tx.auth_param = p.decoded;
        } else if (p.key == "SMTPUTF8") {
            tx.smtputf8 = true;
        } else if (p.key == "BY") {
            if (!parse_by(p.value, tx.by)) {
                s.error(501, "5.5.4", "Bad BY parameter syntax");
                return;
            }
        } else {
            s.error(555, "5.5.4", "Unsupported option: " + printable(p.key, 40));
            return;
        }
    }
    if (a.path.utf8 && !tx.smtputf8) {
        s.error(553, "5.6.7", "Must declare SMTPUTF8 to send UTF-8 address");
        return;
    }
    if (cf.message_size_limit && tx.size > cf.message_size_limit) {
        s.error(552, "5.3.4", "Message size exceeds fixed limit");
        return;
    }
    if (!queue_space_ok(s.ctx.queue->root(), cf.queue_minfree, tx.size)) {
        // the configured path, not "/" when chrooted
        log::warn("not enough free space in %s for a message from %s", s.ctx.srv.cfg.get("queue_directory").c_str(),
                  s.client.label().c_str());
        s.error(452, "4.3.1", "Insufficient system storage");
        return;
    }
    tx.sender = qualify(s, a.path);
    tx.sender_given = a.path.null ? "" : a.path.address();
    tx.instance = std::to_string(::getpid()) + "." + std::to_string(s.serial) + "." + std::to_string(++s.tx_count);
    tx.active = true;
    s.tx = std::move(tx);
    if (!s.ctx.config_error.empty()) {
        s.error(451, "4.3.5", "Server configuration error");
        s.tx = transaction();
        return;
    }
    if (!cf.delay_reject &&
        (!s.ctx.client_r.empty() || !s.ctx.helo_r.empty() || !s.ctx.sender_r.empty())) {
        s.suspend();
        s.eval.run(stage::mail, {&s.ctx.client_r, &s.ctx.helo_r, &s.ctx.sender_r}, "", [&s](const verdict& v) {
            s.resume();
            if (v.rejected()) {
                s.log_reject("MAIL", v);
                s.tx = transaction();
                s.reply_verdict(v);
                return;
            }
            s.reply(250, "2.1.0", "Ok");
        });
        return;
    }
    s.reply(250, "2.1.0", "Ok");
}

}  // namespace tern::smtpd
