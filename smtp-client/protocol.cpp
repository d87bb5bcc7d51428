// protocol.cpp - see protocol.hpp.
#include "smtp-client/protocol.hpp"

#include <cctype>

#include "lib/strutil.hpp"

namespace tern::smtp_client {

bool parse_tls_level(std::string_view s, tls_level& out) {
    std::string v = to_lower(trim(s));
    if (v == "none" || v.empty()) out = tls_level::none;
    else if (v == "may") out = tls_level::may;
    else if (v == "encrypt") out = tls_level::encrypt;
    else if (v == "verify" || v == "secure") out = tls_level::verify;
    else return false;
    return true;
}

const char* stage_activity(stage s) {
    switch (s) {
    case stage::idle: return "waiting in the connection cache";
    case stage::greeting: return "receiving the initial server greeting";
    case stage::ehlo: return "performing the EHLO handshake";
    case stage::helo: return "performing the HELO handshake";
    case stage::starttls: return "sending STARTTLS";
    case stage::tls_handshake: return "performing the TLS handshake";
    case stage::rset: return "sending RSET";
    case stage::mail: return "sending MAIL FROM";
    case stage::rcpt: return "sending RCPT TO";
    case stage::data: return "sending DATA command";
    case stage::body: return "sending message body";
    case stage::data_done: return "sending end of data -- message may be sent more than once";
    case stage::dead: return "closing the session";
    }
    return "talking";
}

const char* stage_command(stage s) {
    switch (s) {
    case stage::greeting: return "";
    case stage::ehlo: return "EHLO";
    case stage::helo: return "HELO";
    case stage::starttls: return "STARTTLS";
    case stage::rset: return "RSET";
    case stage::mail: return "MAIL FROM";
    case stage::rcpt: return "RCPT TO";
    case stage::data: return "DATA";
    case stage::body:
    case stage::data_done: return "end of DATA";
    default: return "";
    }
}

result local_result(std::string dsn, std::string text) {
    result r;
    r.action = dsn.size() && dsn[0] == '2' ? "delivered" : dsn.size() && dsn[0] == '5' ? "failed" : "deferred";
    r.dsn = std::move(dsn);
    r.text = std::move(text);
    return r;
}

namespace {

// Envelope values go into command lines: no controls, no angle brackets.
bool safe_address(std::string_view a) {
    for (unsigned char c : a)
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>') return false;
    return a.size() <= 998;
}

// NOTIFY=SUCCESS,FAILURE,DELAY | NEVER, checked and upper-cased; "" if unusable.
std::string clean_notify(std::string_view n) {
    std::vector<std::string> out;
    for (auto& w : split_any(n, ", ")) {
        std::string u = to_upper(w);
        if (u != "SUCCESS" && u != "FAILURE" && u != "DELAY" && u != "NEVER") return "";
        out.push_back(u);
    }
    if (out.size() > 1)
        for (auto& w : out)
            if (w == "NEVER") return "";
    return join(out, ",");
}

bool notify_success(std::string_view n) {
    for (auto& w : split_any(n, ", "))
        if (iequals(w, "SUCCESS")) return true;
    return false;
}

}  // namespace

protocol::protocol(protocol_io& io, session_settings s, std::string peer_name, std::string peer_addr)
    : _io(io), _s(std::move(s)), _peer_name(std::move(peer_name)) {
    _peer = _peer_name + "[" + peer_addr + "]";
}

std::chrono::seconds protocol::timeout_for(stage s) const {
    switch (s) {
    case stage::greeting:
    case stage::ehlo:
    case stage::helo: return _s.t.helo;
    case stage::starttls:
    case stage::tls_handshake: return _s.t.starttls;
    case stage::rset: return _s.t.rset;
    case stage::mail: return _s.t.mail;
    case stage::rcpt: return _s.t.rcpt;
    case stage::data: return _s.t.data_init;
    case stage::body: return _s.t.data_xfer;
    case stage::data_done: return _s.t.data_done;
    default: return std::chrono::seconds(0);
    }
}

result protocol::said(const smtp_reply& r, stage st) const {
    result res;
    res.dsn = r.dsn();
    res.action = r.positive() ? "delivered" : r.klass() == 5 ? "failed" : "deferred";
    res.text = "host " + _peer + " said: " + r.text();
    if (*stage_command(st)) res.text += std::string(" (in reply to ") + stage_command(st) + " command)";
    res.mta = _peer_name;
    res.diag = "smtp; " + r.text();
    return res;
}

result protocol::delivered(const smtp_reply& r, const recipient& rc) const {
    result res = said(r, stage::data_done);
    // RFC 3461 5.2.2: a next hop without DSN cannot send the success notice
    if (!_caps.dsn && notify_success(rc.notify)) res.action = "relayed";
    return res;
}

std::string protocol::mail_command() const {
    std::string c = "MAIL FROM:<" + _tx->sender + ">";
    if (_caps.size && _tx->size) c += " SIZE=" + std::to_string(_tx->size);
    if (_tx->body_8bitmime && _caps.eightbitmime) c += " BODY=8BITMIME";
    if (_caps.smtputf8 && (_tx->smtputf8 || _tx->utf8_needed)) c += " SMTPUTF8";
    if (_caps.dsn) {
        std::string ret = to_upper(_tx->ret);
        if (ret == "FULL" || ret == "HDRS") c += " RET=" + ret;
        if (!_tx->envid.empty() && _tx->envid.size() <= 100) c += " ENVID=" + xtext_encode(_tx->envid);
    }
    return c + "\r\n";
}

std::string protocol::rcpt_command(const recipient& rc) const {
    std::string c = "RCPT TO:<" + rc.addr + ">";
    if (_caps.dsn) {
        std::string n = clean_notify(rc.notify);
        if (!n.empty()) c += " NOTIFY=" + n;
        auto semi = rc.orcpt.find(';');
        if (semi != std::string::npos && semi > 0 && rc.orcpt.size() - semi - 1 <= 500) {
            std::string type = rc.orcpt.substr(0, semi);
            bool ok = true;
            for (unsigned char ch : type)
                if (!std::isalnum(ch) && ch != '-') ok = false;
            if (ok) c += " ORCPT=" + type + ";" + xtext_encode(rc.orcpt.substr(semi + 1));
        }
    }
    return c + "\r\n";
}

// ---------------------------------------------------------------- session set-up

void protocol::connected() {
    _stage = stage::greeting;
    _heard = false;
    _io.expect_reply(_s.t.helo);
}

void protocol::send_ehlo() {
    _stage = stage::ehlo;
    _io.write("EHLO " + _s.helo_name + "\r\n");
    _io.expect_reply(_s.t.helo);
}

void protocol::after_ehlo() {
    bool required = _s.tls == tls_level::encrypt || _s.tls == tls_level::verify;
    if (!_tls_active && !_s.plaintext_only && _s.tls != tls_level::none && _caps.starttls && _s.tls_available) {
        _stage = stage::starttls;
        _io.write("STARTTLS\r\n");
        _io.expect_reply(_s.t.starttls);
        return;
    }
    if (!_tls_active && required) {
        if (!_s.tls_available)
            fail(local_result("4.7.5", "TLS is required, but no TLS client context is available"));
        else
            fail(local_result("4.7.4", "TLS is required, but was not offered by host " + _peer));
        return;
    }
    go_idle();
}

void protocol::go_idle() {
    _stage = stage::idle;
    _heard = false;
    _io.expect_reply(std::chrono::seconds(0));
    _io.session_ready();
}

void protocol::fail(result r, bool retry_plaintext) {
    if (_stage == stage::dead) return;
    if (_tx) {
        for (auto* rc : _tx->rcpts)
            if (!rc->final && (!rc->has_result || rc->accepted)) {
                rc->accepted = false;
                rc->set(r, r.hard());
            }
    }
    session_failure f;
    f.res = std::move(r);
    f.retry_plaintext = retry_plaintext;
    f.before_any_reply = !_heard;
    _tx = nullptr;
    _queue.clear();
    _await.clear();
    _stage = stage::dead;
    _io.expect_reply(std::chrono::seconds(0));
    _io.session_failed(f);
}

void protocol::fail_session(const std::string& dsn, const std::string& text) { fail(local_result(dsn, text)); }

void protocol::tls_done(bool ok, const std::string& err) {
    if (_stage != stage::tls_handshake) return;
    if (!ok) {
        bool may = _s.tls == tls_level::may;
        fail(local_result("4.7.5", "TLS handshake with " + _peer + " failed: " + err), may);
        return;
    }
    _tls_active = true;
    _caps = {};
    send_ehlo();  // RFC 3207: forget what was learned before the handshake
}

void protocol::timed_out() {
    if (_stage == stage::dead) return;
    fail_session("4.4.2", "conversation with " + _peer + " timed out while " + stage_activity(_stage));
}

void protocol::lost(const std::string& why) {
    if (_stage == stage::dead) return;
    std::string text = "lost connection with " + _peer + " while " + stage_activity(_stage);
    if (!why.empty() && why != "lost connection" && why != "closed") text += " (" + why + ")";
    fail_session("4.4.2", text);
}

void protocol::bad_reply(const std::string& why) {
    if (_stage == stage::dead) return;
    fail_session("4.5.0",
                 "host " + _peer + " sent a malformed reply while " + stage_activity(_stage) + ": " + why);
}

// ---------------------------------------------------------------- replies

void protocol::reply(const smtp_reply& r) {
    _heard = true;
    switch (_stage) {
    case stage::greeting:
        if (r.positive()) {
            send_ehlo();
        } else {
            result res = said(r, stage::greeting);
            res.text = "host " + _peer + " refused to talk to me: " + r.text();
            if (r.klass() == 5 && _s.skip_5xx_greeting) {
                res.dsn[0] = '4';
                res.action = "deferred";
            }
            fail(res);
        }
        return;
    case stage::ehlo:
        if (r.positive()) {
            _caps = parse_ehlo(r);
            if (!_s.helo_name.empty() && iequals(_caps.greeting_name, _s.helo_name)) {
                std::string d = _s.destination.empty() ? _peer_name : _s.destination;
                fail_session("5.4.6", "mail for " + d + " loops back to myself");
                return;
            }
            after_ehlo();
        } else if (r.klass() == 5) {
            _stage = stage::helo;
            _io.write("HELO " + _s.helo_name + "\r\n");
            _io.expect_reply(_s.t.helo);
        } else {
            fail(said(r, stage::ehlo));
        }
        return;
    case stage::helo:
        if (r.positive()) {
            _caps = {};
            after_ehlo();
        } else {
            fail(said(r, stage::helo));
        }
        return;
    case stage::starttls:
        if (r.positive()) {
            _stage = stage::tls_handshake;
            _io.expect_reply(_s.t.starttls);
            _io.start_tls();
        } else if (_s.tls == tls_level::may) {
            go_idle();  // opportunistic: carry on in plaintext
        } else {
            fail(local_result("4.7.4", "TLS is required, but host " + _peer + " refused to start TLS: " + r.text()));
        }
        return;
    case stage::rset:
        if (!r.positive()) {
            result res = said(r, stage::rset);
            if (res.hard()) {  // a failed RSET says nothing about the recipients
                res.dsn[0] = '4';
                res.action = "deferred";
            }
            fail(res);
        } else if (_tx) {
            finish_transaction();
        } else {
            go_idle();
        }
        return;
    case stage::mail:
    case stage::rcpt:
    case stage::data:
    case stage::data_done:
        transaction_reply(r);
        return;
    case stage::idle:
    case stage::body:
    case stage::tls_handshake: {
        // unprompted (421 before closing an idle session) or early (a
        // rejection while the body is still being sent)
        result res = said(r, _stage == stage::body ? stage::data_done : stage::greeting);
        if (res.success()) res = local_result("4.5.0", "host " + _peer + " sent an unexpected reply: " + r.text());
        fail(res);
        return;
    }
    case stage::dead:
        return;
    }
}

void protocol::transaction_reply(const smtp_reply& r) {
    if (_await.empty()) return;
    pending p = _await.front();
    _await.erase(_await.begin());
    switch (p.st) {
    case stage::mail:
        if (r.positive()) {
            _mail_ok = true;
        } else {
            _mail_failed = true;
            result res = said(r, stage::mail);
            for (auto* rc : _tx->rcpts)
                if (!rc->final && !rc->has_result) rc->set(res, res.hard());
        }
        break;
    case stage::rcpt: {
        if (_mail_failed) break;
        recipient* rc = _tx->rcpts[p.index];
        if (r.positive()) {
            rc->accepted = true;
            ++_accepted;
        } else {
            rc->set(said(r, stage::rcpt), r.klass() == 5);
            // RFC 5321 4.5.3.1.10: too many recipients, the rest fit in another transaction
            if (r.code == 452 || r.enhanced == "4.5.3") rc->retry_now = true;
        }
        break;
    }
    case stage::data:
        if (r.klass() == 3) {
            if (_mail_failed || _accepted == 0) {
                // RFC 2920 3.1: nobody to deliver to, end the data at once
                _discard_data = true;
                _io.write(".\r\n");
                _await.push_back({stage::data_done, 0});
                break;
            }
            _stage = stage::body;
            _io.expect_reply(_s.t.data_xfer);
            _io.send_body();
            return;
        }
        if (!_mail_failed) {
            result res = said(r, stage::data);
            for (auto* rc : _tx->rcpts)
                if (rc->accepted) {
                    rc->accepted = false;
                    rc->set(res, res.hard());
                }
        }
        if (_mail_ok) {
            send_rset_then_done();
        } else {
            finish_transaction();
        }
        return;
    case stage::data_done:
        if (_discard_data) {
            send_rset_then_done();
            return;
        }
        for (auto* rc : _tx->rcpts) {
            if (!rc->accepted) continue;
            rc->accepted = false;
            if (r.positive())
                rc->set(delivered(r, *rc), true);
            else
                rc->set(said(r, stage::data_done), r.klass() == 5);
        }
        finish_transaction();
        return;
    default:
        break;
    }
    progress();
}

// After a reply was handled: wait for the next one, or send the next
// command when not pipelining.
void protocol::progress() {
    if (!_await.empty()) {
        _stage = _await.front().st;
        _io.expect_reply(timeout_for(_stage));
        return;
    }
    if (_mail_failed) {
        finish_transaction();  // the server holds no transaction
        return;
    }
    if (_queue.empty()) return;
    pending next = _queue.front();
    if (next.st == stage::data && _accepted == 0) {
        _queue.clear();
        send_rset_then_done();
        return;
    }
    _queue.erase(_queue.begin());
    _io.write(next.st == stage::mail   ? mail_command()
              : next.st == stage::rcpt ? rcpt_command(*_tx->rcpts[next.index])
                                       : std::string("DATA\r\n"));
    _await.push_back(next);
    _stage = next.st;
    _io.expect_reply(timeout_for(_stage));
}

void protocol::body_sent() {
    if (_stage != stage::body) return;
    _await.push_back({stage::data_done, 0});
    _stage = stage::data_done;
    _io.expect_reply(_s.t.data_done);
}

void protocol::send_rset_then_done() {
    _stage = stage::rset;
    _io.write("RSET\r\n");
    _io.expect_reply(_s.t.rset);
}

void protocol::finish_transaction() {
    _tx = nullptr;
    _queue.clear();
    _await.clear();
    _stage = stage::idle;
    _heard = false;
    _io.expect_reply(std::chrono::seconds(0));
    _io.transaction_done();
}

// ---------------------------------------------------------------- requests

bool protocol::begin(transaction& tx) {
    if (_stage != stage::idle) return false;
    std::vector<recipient*> todo;
    for (auto* rc : tx.rcpts) {
        if (rc->final) continue;
        rc->accepted = false;
        rc->retry_now = false;
        rc->has_result = false;
        todo.push_back(rc);
    }
    auto fail_all = [&](const result& res) {
        for (auto* rc : todo) rc->set(res, res.hard());
        return false;
    };
    if (todo.empty()) return false;
    if (!safe_address(tx.sender)) return fail_all(local_result("5.1.7", "bad sender address syntax"));
    if (tx.utf8_needed && !_caps.smtputf8)
        return fail_all(local_result("5.6.7", "SMTPUTF8 is required, but was not offered by host " + _peer));
    if (_caps.size_limit && tx.size > _caps.size_limit)
        return fail_all(local_result("5.3.4", "message size " + std::to_string(tx.size) + " exceeds size limit " +
                                                  std::to_string(_caps.size_limit) + " of server " + _peer));
    _queue.clear();
    _await.clear();
    _queue.push_back({stage::mail, 0});
    size_t valid = 0;
    for (size_t i = 0; i < tx.rcpts.size(); ++i) {
        recipient* rc = tx.rcpts[i];
        if (rc->final) continue;
        if (!safe_address(rc->addr) || rc->addr.empty()) {
            rc->set(local_result("5.1.3", "bad recipient address syntax"), true);
            continue;
        }
        _queue.push_back({stage::rcpt, i});
        ++valid;
    }
    if (valid == 0) {
        _queue.clear();
        return false;
    }
    _queue.push_back({stage::data, 0});
    _tx = &tx;
    _mail_ok = _mail_failed = _discard_data = false;
    _accepted = 0;
    _heard = false;
    ++_transactions;
    if (_caps.pipelining) {
        // one group: MAIL, every RCPT, DATA last (RFC 2920 3.1)
        std::string group;
        for (auto& p : _queue) {
            group += p.st == stage::mail   ? mail_command()
                     : p.st == stage::rcpt ? rcpt_command(*tx.rcpts[p.index])
                                           : std::string("DATA\r\n");
            _await.push_back(p);
        }
        _queue.clear();
        _io.write(group);
        _stage = stage::mail;
        _io.expect_reply(_s.t.mail);
    } else {
        progress();
    }
    return true;
}

void protocol::reset() {
    if (_stage != stage::idle) return;
    _heard = false;
    _stage = stage::rset;
    _io.write("RSET\r\n");
    _io.expect_reply(_s.t.rset);
}

void protocol::quit() {
    if (_stage == stage::dead) return;
    _stage = stage::dead;
    _tx = nullptr;
    _io.expect_reply(std::chrono::seconds(0));
    _io.write("QUIT\r\n");
}

}  // namespace tern::smtp_client
