// sendmail_bs.cpp - `sendmail -bs`: SMTP on standard input and output, as
// local mail programs (and some MUAs) use it. A small blocking dialogue:
// HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, HELP, QUIT; each accepted
// message goes to maildrop/ like any other sendmail submission. No relay
// checks: a local user may send anywhere, as with plain sendmail.
// SECURITY: input is untrusted; lines are bounded by line_length_limit and
// the message by message_size_limit.
#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <unistd.h>

#include "cli/sendmail.hpp"
#include "lib/addr.hpp"
#include "lib/fd.hpp"
#include "lib/smtp_proto.hpp"
#include "lib/strutil.hpp"

namespace tern::sendmail {

namespace {

class line_input {
public:
    explicit line_input(size_t max) : _max(max) {}
    // A line without its line end; false at EOF. too_long: the line was cut.
    bool next(std::string& line, bool& too_long) {
        too_long = false;
        line.clear();
        for (;;) {
            size_t lf = _buf.find('\n', _pos);
            if (lf != std::string::npos) {
                line.assign(_buf, _pos, lf - _pos);
                _pos = lf + 1;
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (line.size() > _max) {
                    line.resize(_max);
                    too_long = true;
                }
                return true;
            }
            if (_buf.size() - _pos > _max + 2) {
                // keep reading but do not keep more than the limit
                too_long = true;
                _buf.erase(0, _buf.size() - 2);
                _pos = 0;
            }
            char chunk[8192];
            ssize_t n = ::read(0, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (_pos < _buf.size()) {
                    line.assign(_buf, _pos, std::string::npos);
                    _buf.clear();
                    _pos = 0;
                    return true;
                }
                return false;
            }
            if (_pos > 0) {
                _buf.erase(0, _pos);
                _pos = 0;
            }
            _buf.append(chunk, static_cast<size_t>(n));
        }
    }

private:
    size_t _max;
    std::string _buf;
    size_t _pos = 0;
};

void say(int code, const char* dsn, const std::string& text) {
    std::string r = smtp::format_reply(code, dsn, text);
    write_all(1, r);
}

}  // namespace

int run_smtp_session(const config& cfg) {
    std::string host = cfg.get("myhostname");
    uint64_t limit = cfg.get_size("message_size_limit");
    size_t line_limit = static_cast<size_t>(cfg.get_int("line_length_limit"));
    // message lines may be longer than command lines
    line_input in(std::max<size_t>(line_limit, 1u << 20));
    say(220, "", host + " ESMTP " + cfg.get("mail_name") + " (sendmail -bs)");
    submission sub;
    bool have_mail = false;
    std::string line;
    bool too_long = false;
    while (in.next(line, too_long)) {
        if (too_long || line.size() > line_limit) {
            say(500, "5.5.2", "Error: line too long");
            continue;
        }
        smtp::command c = smtp::parse_command(line);
        if (c.error != smtp::line_error::none) {
            say(500, "5.5.2", "Error: bad syntax");
            continue;
        }
        const std::string& v = c.verb;
        if (v == "HELO" || v == "EHLO") {
            sub = submission();
            have_mail = false;
            if (v == "HELO")
                say(250, "", host);
            else
                say(250, "", host + "\nPIPELINING\n8BITMIME\nDSN\nSMTPUTF8\nENHANCEDSTATUSCODES" +
                                 (limit ? "\nSIZE " + std::to_string(limit) : std::string()));
        } else if (v == "MAIL") {
            if (have_mail) {
                say(503, "5.5.1", "Error: nested MAIL command");
                continue;
            }
            if (!istarts_with(c.arg, "FROM:")) {
                say(501, "5.5.4", "Syntax: MAIL FROM:<address>");
                continue;
            }
            path_options po;
            po.smtputf8 = true;
            auto a = parse_mail_arg(trim(c.arg.substr(5)), po);
            if (!a) {
                say(a.error().reply, a.error().status.c_str(), a.error().reason);
                continue;
            }
            sub = submission();
            sub.sender = a->path.null ? "" : qualify_address(cfg, a->path.address());
            bool bad = false;
            for (const auto& p : a->params) {
                if (p.key == "SIZE" && limit && parse_u64(p.value).value_or(0) > limit) {
                    say(552, "5.3.4", "Message size exceeds fixed limit");
                    bad = true;
                } else if (p.key == "BODY") {
                    sub.body = iequals(p.value, "8BITMIME") ? body_type::eight_bit_mime : body_type::seven_bit;
                } else if (p.key == "RET") {
                    sub.ret = iequals(p.value, "HDRS") ? dsn_ret::hdrs : dsn_ret::full;
                } else if (p.key == "ENVID") {
                    sub.envid = p.decoded;
                } else if (p.key == "SMTPUTF8") {
                    sub.smtputf8 = true;
                }
            }
            if (bad) continue;
            have_mail = true;
            say(250, "2.1.0", "Ok");
        } else if (v == "RCPT") {
            if (!have_mail) {
                say(503, "5.5.1", "Error: need MAIL command");
                continue;
            }
            if (!istarts_with(c.arg, "TO:")) {
                say(501, "5.5.4", "Syntax: RCPT TO:<address>");
                continue;
            }
            path_options po;
            po.smtputf8 = true;
            auto a = parse_rcpt_arg(trim(c.arg.substr(3)), po);
            if (!a) {
                say(a.error().reply, a.error().status.c_str(), a.error().reason);
                continue;
            }
            recipient r;
            r.address = qualify_address(cfg, a->path.address());
            for (const auto& p : a->params) {
                if (p.key == "NOTIFY") {
                    for (const auto& w : split_char(p.value, ',')) {
                        if (iequals(w, "NEVER")) r.notify |= dsn_notify::never;
                        if (iequals(w, "SUCCESS")) r.notify |= dsn_notify::success;
                        if (iequals(w, "FAILURE")) r.notify |= dsn_notify::failure;
                        if (iequals(w, "DELAY")) r.notify |= dsn_notify::delay;
                    }
                } else if (p.key == "ORCPT") {
                    auto semi = p.value.find(';');
                    if (semi != std::string::npos) r.orcpt = p.value.substr(0, semi) + ";" + p.decoded;
                }
            }
            sub.recipients.push_back(std::move(r));
            say(250, "2.1.5", "Ok");
        } else if (v == "DATA") {
            if (!have_mail || sub.recipients.empty()) {
                say(503, "5.5.1", "Error: need RCPT command");
                continue;
            }
            say(354, "", "End data with <CR><LF>.<CR><LF>");
            std::string body;
            bool ended = false, big = false;
            std::string l;
            bool tl = false;
            while (in.next(l, tl)) {
                if (l == ".") {
                    ended = true;
                    break;
                }
                std::string_view content = l;
                if (!content.empty() && content.front() == '.') content.remove_prefix(1);
                if (!big) {
                    body.append(content);
                    body += '\n';
                    if (limit && body.size() > limit) {
                        big = true;
                        body.clear();
                    }
                }
            }
            if (!ended) return ex_dataerr;  // EOF inside DATA: nothing was accepted
            if (big) {
                say(552, "5.3.4", "Error: message file too big");
            } else {
                sub.message = std::move(body);
                std::string id, err;
                int rc = drop_message(cfg, sub, id, err);
                if (rc == ex_ok)
                    say(250, "2.0.0", "Ok: queued as " + id);
                else
                    say(451, "4.3.0", "Error: " + err);
            }
            sub = submission();
            have_mail = false;
        } else if (v == "RSET") {
            sub = submission();
            have_mail = false;
            say(250, "2.0.0", "Ok");
        } else if (v == "NOOP") {
            say(250, "2.0.0", "Ok");
        } else if (v == "VRFY") {
            say(252, "2.0.0", "Cannot VRFY user; try RCPT to attempt delivery");
        } else if (v == "HELP") {
            say(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT");
        } else if (v == "QUIT") {
            say(221, "2.0.0", "Bye");
            return ex_ok;
        } else {
            say(502, "5.5.2", "Error: command not recognized");
        }
    }
    return ex_ok;
}

}  // namespace tern::sendmail
