// cmd_data.cpp - DATA and BDAT: the data restrictions, a queue file for the
// message, and at its end the end-of-data restrictions and the group
// commit; "250 2.0.0 Ok: queued as ID - Message accepted for delivery" goes out only after the file and
// its directory entry are on disk. Then the qmgr is woken.
// SECURITY: the size of every BDAT chunk is consumed exactly, even when
// the chunk is refused, so chunk data is never read as commands.
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/message.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

// The queue file for the current transaction; nullptr after a reply.
std::unique_ptr<message> open_message(session& s, int& code, std::string& dsn, std::string& text) {
    std::string err;
    auto w = queue_writer::create(*s.ctx.queue, err);
    if (!w) {
        log::warn("%s: %s", s.client.label().c_str(), err.c_str());
        code = 451, dsn = "4.3.0", text = "Error: queue file write error";
        return nullptr;
    }
    envelope& env = w->env();
    env.sender = s.tx.sender;
    env.recipients = s.tx.rcpts;
    env.client_address = s.client.addr;
    env.client_name = s.client.name;
    env.helo = printable(s.helo, 255);
    env.auth_user = s.sasl_user;
    env.protocol = s.protocol();
    env.body = s.tx.body;
    env.smtputf8 = s.tx.smtputf8;
    env.envid = s.tx.envid;
    env.ret = s.tx.ret;
    env.by = s.tx.by;
    env.attributes.emplace_back("client_port", std::to_string(s.client.port));
    if (s.client.reverse_name != s.client.name)
        env.attributes.emplace_back("reverse_client_name", s.client.reverse_name);
    if (!s.sasl_method.empty()) env.attributes.emplace_back("sasl_method", s.sasl_method);
    if (s.tls_active) env.attributes.emplace_back("tls", printable(s.tls_info, 400));
    s.queue_id = w->id();
    std::string line = w->id() + ": client=" + s.client.label();
    if (s.is_authenticated()) line += ", sasl_method=" + s.sasl_method + ", sasl_username=" + s.sasl_user;
    log::info("%s", line.c_str());
    auto m = std::make_unique<message>(s, std::move(w));
    if (!s.ctx.s.content_socket.empty()) m->hold(s.ctx.s.content_size_limit);
    return m;
}

// A header line a content service may have us prepend: "Name: value", one line.
bool acceptable_header(const std::string& h) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.size() > 998) return false;
    for (size_t i = 0; i < h.size(); ++i) {
        auto c = static_cast<unsigned char>(h[i]);
        if (i < colon && (c <= 0x20 || c >= 0x7F)) return false;
        if (c == '\r' || c == '\n' || c == 0) return false;
    }
    return true;
}

// The common checks of DATA and the first BDAT; false after an error reply.
bool ready_for_data(session& s, const char* cmd) {
    if (!s.tx.active) {
        s.error(503, "5.5.1", "Error: need RCPT command");
        return false;
    }
    if (s.tx.rcpts.empty()) {
        s.error(554, "5.5.1", "Error: no valid recipients");
        return false;
    }
    (void)cmd;
    return true;
}

// smtpd_data_restrictions, then fn(); rejects reply and end the transaction.
void data_restrictions(session& s, const char* cmd, std::function<void()> fn) {
    if (s.ctx.data_r.empty() || s.tx.data_checked) {
        fn();
        return;
    }
    s.suspend();
    s.eval.run(stage::data, {&s.ctx.data_r}, "", [&s, cmd, fn](const verdict& v) {
        s.resume();
        if (v.rejected()) {
            s.log_reject(cmd, v);
            s.reply_verdict(v);
            s.reset_transaction();
            return;
        }
        s.tx.data_checked = true;
        fn();
    });
}

}  // namespace

void cmd_data(session& s, std::string_view arg) {
    if (!arg.empty()) {
        s.error(501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (!ready_for_data(s, "DATA")) return;
    data_restrictions(s, "DATA", [&s] {
        int code = 0;
        std::string dsn, text;
        auto m = open_message(s, code, dsn, text);
        if (!m) {
            s.error(code, dsn, text);
            return;
        }
        s.reply(354, "", "End data with <CR><LF>.<CR><LF>");
        s.begin_data(std::move(m));
    });
}

// BDAT <size> [LAST]
void cmd_bdat(session& s, std::string_view arg) {
    auto words = split_any(arg, " \t");
    std::optional<uint64_t> size;
    bool last = false;
    if (!words.empty() && words.size() <= 2) size = parse_u64(words[0]);
    if (words.size() == 2) {
        if (iequals(words[1], "LAST")) last = true;
        else size.reset();
    }
    if (!size) {
        // the chunk size is unknown, so the data cannot be skipped: give up
        s.fatal_reply(501, "5.5.4", "Syntax: BDAT count [LAST]");
        return;
    }
    if (s.ctx.s.discard_ehlo.count("CHUNKING")) {
        s.skip_bdat(*size, last, 502, "5.5.1", "Error: command not implemented");
        return;
    }
    if (!s.tx.bdat_active) {
        // first chunk: the transaction must be ready
        if (!s.tx.active) {
            s.skip_bdat(*size, last, 503, "5.5.1", "Error: need RCPT command");
            return;
        }
        if (s.tx.rcpts.empty()) {
            s.skip_bdat(*size, last, 554, "5.5.1", "Error: no valid recipients");
            return;
        }
        uint64_t sz = *size;
        if (!s.ctx.data_r.empty() && !s.tx.data_checked) {
            // the restriction decides how the chunk is consumed
            s.suspend();
            s.eval.run(stage::data, {&s.ctx.data_r}, "", [&s, sz, last](const verdict& v) {
                s.resume();
                if (v.rejected()) {
                    s.log_reject("BDAT", v);
                    s.skip_bdat(sz, last, v.code, v.dsn, v.text);
                    s.reset_transaction();
                    return;
                }
                s.tx.data_checked = true;
                int code = 0;
                std::string dsn, text;
                auto m = open_message(s, code, dsn, text);
                if (!m) {
                    s.skip_bdat(sz, last, code, dsn, text);
                    return;
                }
                s.begin_bdat(sz, last, std::move(m));
            });
            return;
        }
        int code = 0;
        std::string dsn, text;
        auto m = open_message(s, code, dsn, text);
        if (!m) {
            s.skip_bdat(sz, last, code, dsn, text);
            return;
        }
        s.begin_bdat(sz, last, std::move(m));
        return;
    }
    s.begin_bdat(*size, last, nullptr);
}

void session::end_of_message(uint64_t wire_size) {
    if (!_msg) {
        error(503, "5.5.1", "Error: no message in progress");
        reset_transaction();
        return;
    }
    if (!_msg->complete(wire_size)) {
        int code;
        std::string dsn, text;
        _msg->failure_reply(code, dsn, text);
        log::info("%s: reject: END-OF-MESSAGE from %s: %d %s %s; from=<%s> proto=%s helo=<%s>", queue_id.c_str(),
                  client.label().c_str(), code, dsn.c_str(), text.c_str(), tx.sender.c_str(),
                  esmtp ? "ESMTP" : "SMTP", printable(helo, 100).c_str());
        error(code, dsn, text);
        reset_transaction();
        return;
    }
    if (!ctx.eod_r.empty()) {
        suspend();
        eval.run(stage::end_of_data, {&ctx.eod_r}, "", [this](const verdict& v) {
            resume();
            if (v.rejected()) {
                log_reject("END-OF-MESSAGE", v);
                reply_verdict(v);
                reset_transaction();
                return;
            }
            commit_message();
        });
        return;
    }
    commit_message();
}

// The held message goes to smtpd_content_check_service (docs/internal-
// protocols.md); its headers are prepended, a REJECT refuses the message,
// and any failure accepts it with "X-Spam-Status: unchecked (why)".
void session::content_check() {
    suspend();
    attr_list req;
    req.add("request", "classify").add("queue_id", _msg->id());
    for (const auto& r : tx.rcpts) req.add("rcpt", r.address);
    req.add("message", _msg->held_text());
    attr_limits lim;
    lim.max_line = 65536;  // the reply: headers only
    lim.max_total = 1u << 20;
    content_request = ipc_async(
        ctx.srv.loop, ctx.s.content_socket, req, ctx.s.content_timeout,
        [this](std::optional<attr_list> r, const std::string& err) {
            if (!_msg) return;
            std::string id = _msg->id();
            std::vector<std::string> headers;
            std::string problem;
            if (!r) problem = err.empty() ? "no answer" : err;
            else if (r->get("status") != "ok") problem = r->get("reason", "content service error");
            if (!problem.empty()) {
                log::warn("%s: content check failed: %s; the message is accepted unchecked", id.c_str(),
                          printable(problem, 200).c_str());
                headers.push_back("X-Spam-Status: unchecked (" + printable(problem, 200) + ")");
            } else {
                std::string action = std::string(trim(r->get("action", "DUNNO")));
                log::info("%s: content check: verdict=%s, score=%s, action=%s", id.c_str(),
                          printable(r->get("verdict"), 20).c_str(), printable(r->get("score"), 20).c_str(),
                          printable(action, 200).c_str());
                if (istarts_with(action, "REJECT")) {
                    std::string text(trim(std::string_view(action).substr(6)));
                    if (text.empty()) text = "Message content rejected";
                    log::info("%s: reject: END-OF-MESSAGE from %s: 550 5.7.1 %s; from=<%s> proto=%s helo=<%s>",
                              id.c_str(), client.label().c_str(), printable(text, 200).c_str(), tx.sender.c_str(),
                              esmtp ? "ESMTP" : "SMTP", printable(helo, 100).c_str());
                    error(550, "5.7.1", printable(text, 300));
                    reset_transaction();
                    resume();
                    return;
                }
                for (const auto& h : r->all("header")) {
                    if (acceptable_header(h)) headers.push_back(h);
                    else log::warn("%s: content service header ignored: %s", id.c_str(), printable(h, 100).c_str());
                }
            }
            if (!_msg->release(headers)) {
                int code;
                std::string dsn, text;
                _msg->failure_reply(code, dsn, text);
                error(code, dsn, text);
                reset_transaction();
                resume();
                return;
            }
            commit_message();
        },
        lim);
}

void session::commit_message() {
    std::string id = _msg->id();
    std::string mid = _msg->message_id();
    if (tx.discard) {
        log::info("%s: discard: END-OF-MESSAGE from %s: message discarded by a restriction", id.c_str(),
                  client.label().c_str());
        reply(250, "2.0.0", "Ok: queued as " + id + " - Message accepted for delivery");
        reset_transaction();
        return;
    }
    if (_msg->held()) {
        content_check();  // comes back here once the message is written
        return;
    }
    suspend();
    std::string sender = tx.sender;
    size_t nrcpt = tx.rcpts.size();
    uint64_t size = 0;
    auto w = _msg->take_writer();
    size = w->message_size();
    _msg.reset();
    _commit_ticket = ctx.committer->commit(std::move(w), [this, id, mid, sender, nrcpt, size](const commit_result& r) {
        _commit_ticket = 0;
        if (r.ok) {
            if (!mid.empty()) log::info("%s: message-id=%s", id.c_str(), mid.c_str());
            log::info("%s: from=<%s>, size=%llu, nrcpt=%zu (queued)", id.c_str(), sender.c_str(),
                      static_cast<unsigned long long>(size), nrcpt);
            reply(250, "2.0.0", "Ok: queued as " + id + " - Message accepted for delivery");
            _errors = 0;
            ctx.wake_qmgr();
        } else {
            log::warn("%s: cannot queue the message from %s: %s", id.c_str(), client.label().c_str(),
                      r.error.c_str());
            if (r.out_of_space)
                error(452, "4.3.1", "Error: insufficient system storage");
            else
                error(451, "4.3.0", "Error: queue file write error");
        }
        reset_transaction();
        resume();
    });
}

}  // namespace tern::smtpd
