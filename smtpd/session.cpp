// session.cpp - see session.hpp. The input loop: one function (process)
// drives the session according to its mode; async work (DNS, auth,
// policy, queue commit) suspends it and resume() picks up where it left.
// SECURITY: untrusted input; every read is bounded and every error counted.
#include "smtpd/session.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/message.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {
constexpr int command_budget = 100;          // commands per event before yielding
constexpr size_t data_budget = 4u << 20;     // message bytes per event before yielding
constexpr size_t auth_line_limit = 12288;    // RFC 4954 4
constexpr size_t suspended_input_limit = 1u << 20;

bool same_address(const std::string& a, const std::string& b) {
    unsigned char x[16], y[16];
    if (::inet_pton(AF_INET, a.c_str(), x) == 1 && ::inet_pton(AF_INET, b.c_str(), y) == 1)
        return std::memcmp(x, y, 4) == 0;
    if (::inet_pton(AF_INET6, a.c_str(), x) == 1 && ::inet_pton(AF_INET6, b.c_str(), y) == 1)
        return std::memcmp(x, y, 16) == 0;
    return a == b;
}

std::string strip_dot(std::string s) {
    while (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}
}  // namespace

session::session(context& c, unique_fd fd, bool implicit_tls)
    : ctx(c), eval(*this), _implicit_tls(implicit_tls), _idle(c.srv.loop, [this] { idle_timeout(); }),
      _sleep(c.srv.loop, [this] { wake_from_sleep(); }), _data(c.s.forbid_bare_newline) {
    _io = std::make_unique<stream>(ctx.srv.loop, std::move(fd), *this);
    client.addr = _io->peer().host();
    client.port = _io->peer().port();
    // IPv4-mapped IPv6 clients are shown and matched as IPv4
    if (client.addr.rfind("::ffff:", 0) == 0 && client.addr.find('.') != std::string::npos)
        client.addr = client.addr.substr(7);
    client.server_addr = _io->local().host();
    client.server_port = _io->local().port();
    _io->set_timeouts(std::chrono::seconds(0), ctx.s.timeout);
    _last_input = std::chrono::steady_clock::now();
}

session::~session() {
    _idle.stop();
    _sleep.stop();
    if (_commit_ticket && ctx.committer) ctx.committer->cancel(_commit_ticket);
    if (_msg) _msg->abort();
    if (_io) _io->close();
}

void session::start() {
    int n = ctx.client_connect(client.addr);
    _counted = true;
    if (ctx.s.conn_limit > 0 && n > ctx.s.conn_limit) {
        log::warn("connect from %s: too many connections (%d) from this client", client.label().c_str(), n);
        fatal_reply(421, "4.7.0", ctx.s.myhostname + " Error: too many connections from " + client.addr);
        return;
    }
    arm_idle_timer();
    if (_implicit_tls) {
        if (!ctx.tls_ctx || !_io->start_tls_server(ctx.tls_ctx.get())) {
            log::warn("connect from %s: cannot start TLS (no certificate configured?)", client.addr.c_str());
            close_now("TLS unavailable");
            return;
        }
        _tls_pending = true;
    }
    _name_pending = true;
    resolve_client([this] {
        _name_pending = false;
        log::info("connect from %s", client.label().c_str());
        if (!_tls_pending) send_greeting();
    });
}

void session::resolve_client(std::function<void()> done) {
    if (!ctx.s.peername_lookup || !ctx.resolver || client.addr.empty() || _io->peer().family() == AF_UNIX) {
        client.name_st = client.reverse_st = name_status::not_found;
        done();
        return;
    }
    _dns = ctx.resolver->lookup_ptr(client.addr, [this, done](const dns::result& r) {
        if (r.ok() && !r.names.empty()) {
            client.reverse_name = strip_dot(to_lower(r.names.front()));
            client.reverse_st = name_status::ok;
            std::string name = client.reverse_name;
            _dns = ctx.resolver->lookup_addresses(name, [this, done, name](const dns::result& a) {
                bool match = false;
                for (const auto& ip : a.addresses)
                    if (same_address(ip, client.addr)) match = true;
                if (match) {
                    client.name = name;
                    client.name_st = name_status::ok;
                } else if (a.st == dns::status::temporary || a.st == dns::status::timeout) {
                    client.name_st = name_status::tempfail;
                } else {
                    client.name_st = name_status::not_found;
                    log::warn("hostname %s does not resolve to address %s", name.c_str(), client.addr.c_str());
                }
                done();
            });
            return;
        }
        if (r.st == dns::status::temporary || r.st == dns::status::timeout)
            client.name_st = client.reverse_st = name_status::tempfail;
        else
            client.name_st = client.reverse_st = name_status::not_found;
        done();
    });
}

void session::send_greeting() {
    if (_mode != mode::greeting) return;
    _mode = mode::command;
    reply(220, "", ctx.s.banner);
    process();
}

// ---------------------------------------------------------------- stream events

void session::on_readable() {
    // A command must arrive whole within smtpd_timeout of the previous one:
    // bytes that trickle in (one at a time) do not restart the clock there;
    // completing a line does (process()). Message data restarts it per read.
    if (_mode != mode::command && _mode != mode::auth) _last_input = std::chrono::steady_clock::now();
    process();
}

void session::on_flushed() {
    if (_output_blocked) {
        _output_blocked = false;
        if (!_closed && _mode != mode::closing) _io->resume_reading();
        process();
    }
}

void session::on_tls_ready() {
    tls_active = true;
    tls_info = _io->tls_description();
    log::info("TLS connection established from %s: %s", client.label().c_str(), tls_info.c_str());
    _last_input = std::chrono::steady_clock::now();
    arm_idle_timer();
    if (_tls_pending) {
        _tls_pending = false;
        if (_implicit_tls && _mode == mode::greeting) {
            if (!_name_pending) send_greeting();
            return;
        }
    }
    // STARTTLS: forget everything learned before (RFC 3207 4.2)
    helo.clear();
    esmtp = false;
    sasl_user.clear();
    sasl_method.clear();
    reset_transaction();
    _mode = mode::command;
    resume();
}

void session::on_closed(const std::string& why) {
    if (_closed) return;
    _closed = true;
    std::string w = _closing_why.empty() ? why : _closing_why;
    if (w != "closed" && _mode != mode::closing)
        log::info("%s after %s from %s", w == "lost connection" ? "lost connection" : w.c_str(),
                  _last_verb.empty() ? "CONNECT" : _last_verb.c_str(), client.label().c_str());
    finish_session();
}

void session::close_now(const std::string& why) {
    if (_closed) return;
    _closing_why = why;
    _mode = mode::closing;
    _io->close();
    _closed = true;
    finish_session();
}

void session::finish_session() {
    _idle.stop();
    _sleep.stop();
    // "disconnect from host[addr] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"
    std::string stats;
    unsigned ok_total = 0, all_total = 0;
    for (const auto& name : _counts.order) {
        unsigned ok = _counts.ok[name], all = _counts.all[name];
        ok_total += ok;
        all_total += all;
        stats += " " + name + "=" + std::to_string(ok);
        if (ok != all) stats += "/" + std::to_string(all);
    }
    stats += " commands=" + std::to_string(ok_total);
    if (ok_total != all_total) stats += "/" + std::to_string(all_total);
    log::info("disconnect from %s%s", client.label().c_str(), stats.c_str());
    if (_counted) ctx.client_disconnect(client.addr);
    _counted = false;
    ctx.end_session(this);
}

// ---------------------------------------------------------------- timers

void session::arm_idle_timer() {
    auto limit = (_mode == mode::data || _mode == mode::bdat || _mode == mode::bdat_skip) ? ctx.s.data_timeout
                 : (_tls_pending || _mode == mode::tls)                                  ? ctx.s.starttls_timeout
                                                                                         : ctx.s.timeout;
    auto idle = std::chrono::steady_clock::now() - _last_input;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(limit - idle);
    if (left.count() < 1) left = std::chrono::milliseconds(1);
    _idle.start(left);
}

void session::idle_timeout() {
    if (_closed) return;
    auto limit = (_mode == mode::data || _mode == mode::bdat || _mode == mode::bdat_skip) ? ctx.s.data_timeout
                 : (_tls_pending || _mode == mode::tls)                                  ? ctx.s.starttls_timeout
                                                                                         : ctx.s.timeout;
    // waiting on our own work (DNS, auth, policy, fsync) is not the client's idleness
    if (std::chrono::steady_clock::now() - _last_input < limit || (_suspended && !_tls_pending && _mode != mode::tls)) {
        if (_suspended) _last_input = std::chrono::steady_clock::now();
        arm_idle_timer();
        return;
    }
    log::info("timeout after %s from %s", _last_verb.empty() ? "CONNECT" : _last_verb.c_str(),
              client.label().c_str());
    if (_mode == mode::tls || _tls_pending) {
        close_now("timeout");
        return;
    }
    fatal_reply(421, "4.4.2", ctx.s.myhostname + " Error: timeout exceeded");
}

void session::wake_from_sleep() {
    _sleeping = false;
    if (!_delayed.empty() && !_closed) {
        _io->write(_delayed);
        _delayed.clear();
    }
    if (_close_after_delay) {
        _mode = mode::closing;
        _io->close_after_flush();
        return;
    }
    if (!_closed) _io->kick();
}

// ---------------------------------------------------------------- replies

void session::write_out(const std::string& text) {
    if (_closed) return;
    if (_sleeping)
        _delayed += text;
    else
        _io->write(text);
}

void session::reply(int code, std::string_view dsn, std::string_view text) {
    if (!_pending_verb.empty() && code != 334) {
        count(_pending_verb, code < 400);
        _pending_verb.clear();
    }
    write_out(smtp::format_reply(code, dsn, text));
}

void session::error(int code, std::string_view dsn, std::string_view text) {
    ++_errors;
    if (ctx.s.soft_error_limit > 0 && _errors >= static_cast<size_t>(ctx.s.soft_error_limit) &&
        ctx.s.error_sleep.count() > 0 && !_sleeping && !_io->closed()) {
        // tarpit: this reply (and everything after it) waits a while
        _sleeping = true;
        _sleep.start(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.s.error_sleep));
    }
    reply(code, dsn, text);
    if (ctx.s.hard_error_limit > 0 && _errors >= static_cast<size_t>(ctx.s.hard_error_limit)) {
        log::warn("too many errors after %s from %s", _last_verb.c_str(), client.label().c_str());
        fatal_reply(421, "4.7.0", ctx.s.myhostname + " Error: too many errors");
    }
}

void session::fatal_reply(int code, std::string_view dsn, std::string_view text) {
    if (_closed || _mode == mode::closing) return;
    if (!_pending_verb.empty()) {
        count(_pending_verb, false);
        _pending_verb.clear();
    }
    write_out(smtp::format_reply(code, dsn, text));
    if (_sleeping) {
        _close_after_delay = true;
        _mode = mode::closing;
        return;
    }
    _mode = mode::closing;
    _io->close_after_flush();
}

void session::close_after_reply() {
    if (_closed || _mode == mode::closing) return;
    _mode = mode::closing;
    if (_sleeping) {
        _close_after_delay = true;
        return;
    }
    _io->close_after_flush();
}

void session::shutdown() {
    _closed = true;
    _idle.stop();
    _sleep.stop();
    if (_commit_ticket && ctx.committer) ctx.committer->cancel(_commit_ticket);
    _commit_ticket = 0;
    if (_io) _io->close();
    if (_counted) ctx.client_disconnect(client.addr);
    _counted = false;
}

void session::count(const std::string& cmd, bool ok) {
    if (!_counts.all.count(cmd)) _counts.order.push_back(cmd);
    ++_counts.all[cmd];
    if (ok) ++_counts.ok[cmd];
}

void session::log_reject(const char* cmd, const verdict& v, const std::string& rcpt) {
    std::string line = std::string(queue_id.empty() ? "NOQUEUE" : queue_id.c_str()) + ": reject: " + cmd +
                       " from " + client.label() + ": " + std::to_string(v.code) + " " + v.dsn + " " + v.text;
    if (tx.active) line += "; from=<" + tx.sender + ">";
    if (!rcpt.empty()) line += " to=<" + rcpt + ">";
    line += " proto=" + std::string(esmtp ? "ESMTP" : "SMTP");
    if (!helo.empty()) line += " helo=<" + printable(helo, 100) + ">";
    log::info("%s", line.c_str());
}

void session::reply_verdict(const verdict& v) { error(v.code, v.dsn, v.text); }

std::string session::protocol() const { return smtp_with_protocol(esmtp, tls_active, is_authenticated(), tx.smtputf8); }

bool session::tls_required() const { return ctx.s.tls == tls_level::encrypt && !tls_active; }

bool session::input_pending() const { return _io && evbuffer_get_length(_io->input()) > 0; }

void session::reset_transaction() {
    tx = transaction();
    queue_id.clear();
    if (_msg) {
        _msg->abort();
        _msg.reset();
    }
}

// ---------------------------------------------------------------- input loop

void session::resume() {
    _suspended = false;
    if (_input_paused && !_closed) {
        _input_paused = false;
        _io->resume_reading();
    }
    if (_in_process) return;  // the loop that suspended us goes on
    if (!_closed) _io->kick();
}

void session::process() {
    if (_closed || _in_process) return;
    _in_process = true;
    int commands = 0;
    size_t bytes_at_start = _data.bytes();
    while (!_closed && _mode != mode::closing && _mode != mode::greeting && _mode != mode::tls) {
        if (_suspended || _sleeping) {
            // bound what a client can pile up while we wait
            if (!_input_paused && evbuffer_get_length(_io->input()) > suspended_input_limit) {
                _io->pause_reading();
                _input_paused = true;
            }
            break;
        }
        if (_io->pending_output() > ctx.s.output_limit) {
            // a pipelining client that does not read its replies
            _io->pause_reading();
            _output_blocked = true;
            break;
        }
        bool progressed = false;
        switch (_mode) {
        case mode::command:
            progressed = read_command();
            if (progressed) ++commands;
            break;
        case mode::data: progressed = read_data(); break;
        case mode::bdat:
        case mode::bdat_skip: progressed = read_bdat(); break;
        case mode::auth: progressed = read_auth_line(); break;
        default: break;
        }
        if (!progressed) break;
        if (_mode == mode::command || _mode == mode::auth) _last_input = std::chrono::steady_clock::now();
        if (commands >= command_budget || _data.bytes() - bytes_at_start >= data_budget) {
            _io->kick();  // let other clients have a turn
            break;
        }
    }
    _in_process = false;
    if (!_closed && _mode != mode::closing) arm_idle_timer();
}

bool session::read_command() {
    evbuffer* in = _io->input();
    size_t len = evbuffer_get_length(in);
    if (len == 0) return false;
    evbuffer_ptr p = evbuffer_search(in, "\n", 1, nullptr);
    size_t limit = ctx.s.line_limit;
    if (p.pos < 0) {
        if (len > limit) {
            // an overlong line: drop it as it comes, answer once it ends
            evbuffer_drain(in, len);
            _discarding_line = true;
        }
        return false;
    }
    size_t n = static_cast<size_t>(p.pos) + 1;
    if (_discarding_line && _discard_answered) {
        // the rest of an overlong AUTH response, already answered: never a command
        evbuffer_drain(in, n);
        _discarding_line = _discard_answered = false;
        return true;
    }
    if (_discarding_line || n > limit + 2) {
        evbuffer_drain(in, n);
        _discarding_line = false;
        _last_verb = "CONNECT";
        log::info("%s: command line too long (more than %zu bytes)", client.label().c_str(), limit);
        error(500, "5.5.2", "Error: line too long");
        return true;
    }
    _line.resize(n);
    evbuffer_remove(in, _line.data(), n);
    smtp::command c = smtp::parse_command(_line);
    switch (c.error) {
    case smtp::line_error::none: break;
    case smtp::line_error::bare_lf:
    case smtp::line_error::bare_cr:
        if (ctx.s.forbid_bare_newline) {
            log::info("%s from %s: %s", c.error == smtp::line_error::bare_lf ? "bare <LF>" : "bare <CR>",
                      client.label().c_str(), smtp::line_error_text(c.error));
            _last_verb = c.verb.empty() ? "CONNECT" : c.verb;
            fatal_reply(521, "5.5.2", ctx.s.myhostname + " Error: " + smtp::line_error_text(c.error));
            return true;
        }
        if (c.error == smtp::line_error::bare_cr) {
            error(500, "5.5.2", "Error: bad syntax");
            return true;
        }
        break;
    case smtp::line_error::nul:
    case smtp::line_error::empty:
        error(500, "5.5.2", "Error: bad syntax");
        return true;
    }
    bool secret = c.verb == "AUTH";
    dispatch(c);
    // an AUTH initial response holds a password
    if (secret) OPENSSL_cleanse(_line.data(), _line.size());
    return true;
}

void session::dispatch(const smtp::command& c) {
    const command_def* def = find_command(c.verb);
    if (!def) {
        _last_verb = "UNKNOWN";
        count("unknown", false);
        log::info("%s: unknown command %s", client.label().c_str(), printable(c.verb, 20).c_str());
        error(502, "5.5.2", "Error: command not recognized");
        return;
    }
    _last_verb = def->verb;
    _pending_verb = to_lower(def->verb);
    if (tls_required() && !(def->flags & cmd_before_tls)) {
        error(530, "5.7.0", "Must issue a STARTTLS command first");
        return;
    }
    if (tx.bdat_active && !(def->flags & cmd_during_bdat)) {
        error(503, "5.5.1", "Error: only BDAT, RSET, NOOP or QUIT during a BDAT transfer");
        return;
    }
    def->fn(*this, c.arg);
}

// ---------------------------------------------------------------- DATA

void session::begin_data(std::unique_ptr<message> m) {
    _msg = std::move(m);
    _data = smtp::data_decoder(ctx.s.forbid_bare_newline);
    _mode = mode::data;
    _last_input = std::chrono::steady_clock::now();
}

bool session::read_data() {
    evbuffer* in = _io->input();
    if (evbuffer_get_length(in) == 0) return false;
    evbuffer_iovec vec[16];
    int n = evbuffer_peek(in, -1, nullptr, vec, 16);
    size_t consumed = 0;
    smtp::data_decoder::status st = smtp::data_decoder::status::need_more;
    for (int i = 0; i < n && i < 16; ++i) {
        std::string_view piece(static_cast<const char*>(vec[i].iov_base), vec[i].iov_len);
        auto r = _data.feed(piece, _msg ? _msg->sink() : nullptr);
        consumed += r.consumed;
        if (_msg) _msg->absorb(_data.bytes() + _data.lines());
        if (r.st != smtp::data_decoder::status::need_more) {
            st = r.st;
            break;
        }
    }
    evbuffer_drain(in, consumed);
    if (st == smtp::data_decoder::status::need_more) return consumed > 0;
    if (st == smtp::data_decoder::status::done) {
        _mode = mode::command;
        end_of_message(_data.bytes() + _data.lines());
        return true;
    }
    // bare CR or LF inside DATA: refuse the whole message, never split it
    const char* what = st == smtp::data_decoder::status::bare_lf ? "bare <LF> received" : "bare <CR> received";
    log::info("%s: reject: DATA from %s: %s", queue_id.empty() ? "NOQUEUE" : queue_id.c_str(),
              client.label().c_str(), what);
    reset_transaction();
    fatal_reply(521, "5.5.2", ctx.s.myhostname + " Error: " + what);
    return true;
}

// ---------------------------------------------------------------- BDAT

void session::begin_bdat(uint64_t size, bool last, std::unique_ptr<message> m) {
    if (m) {
        _msg = std::move(m);
        _crlf.reset();
    }
    tx.bdat_active = true;
    _bdat_left = size;
    _bdat_chunk_size = size;
    _bdat_last = last;
    _mode = mode::bdat;
    _last_input = std::chrono::steady_clock::now();
    if (size == 0) finish_bdat_chunk();
}

void session::skip_bdat(uint64_t size, bool last, int code, std::string dsn, std::string text) {
    _bdat_left = size;
    _bdat_last = last;
    _skip_code = code;
    _skip_dsn = std::move(dsn);
    _skip_text = std::move(text);
    _mode = mode::bdat_skip;
    _last_input = std::chrono::steady_clock::now();
    if (size == 0) finish_bdat_chunk();
}

bool session::read_bdat() {
    evbuffer* in = _io->input();
    size_t avail = evbuffer_get_length(in);
    if (avail == 0 || _bdat_left == 0) return false;
    size_t take = static_cast<size_t>(std::min<uint64_t>(avail, _bdat_left));
    if (_mode == mode::bdat && _msg && _msg->sink()) {
        evbuffer_iovec vec[16];
        int n = evbuffer_peek(in, static_cast<ev_ssize_t>(take), nullptr, vec, 16);
        size_t used = 0;
        for (int i = 0; i < n && i < 16 && used < take; ++i) {
            size_t len = std::min(vec[i].iov_len, take - used);
            // after a failure (size, header) the rest of the chunk is only counted
            if (_msg->sink()) {
                _crlf.feed(std::string_view(static_cast<const char*>(vec[i].iov_base), len), _msg->sink());
                _msg->absorb(_crlf.bytes() + _crlf.lines());
            }
            used += len;
        }
        take = used;
    }
    evbuffer_drain(in, take);
    _bdat_left -= take;
    if (_bdat_left == 0) finish_bdat_chunk();
    return true;
}

void session::finish_bdat_chunk() {
    if (_mode == mode::bdat_skip) {
        _mode = mode::command;
        if (_bdat_last) tx.bdat_active = false;
        error(_skip_code, _skip_dsn, _skip_text);
        return;
    }
    _mode = mode::command;
    if (!_bdat_last) {
        if (_msg && _msg->state() != message::status::ok) {
            int code;
            std::string dsn, text;
            _msg->failure_reply(code, dsn, text);
            error(code, dsn, text);
            return;
        }
        reply(250, "2.0.0", "Ok: " + std::to_string(_bdat_chunk_size) + " bytes");
        return;
    }
    tx.bdat_active = false;
    if (_msg && _msg->sink()) _crlf.finish(_msg->sink());
    end_of_message(_crlf.bytes() + _crlf.lines());
}

// ---------------------------------------------------------------- AUTH lines

void session::begin_auth_continuation(std::function<void(std::string_view)> on_line) {
    _auth_line = std::move(on_line);
    _mode = mode::auth;
}

bool session::read_auth_line() {
    evbuffer* in = _io->input();
    size_t len = evbuffer_get_length(in);
    if (len == 0) return false;
    evbuffer_ptr p = evbuffer_search(in, "\n", 1, nullptr);
    if (p.pos < 0) {
        if (len > auth_line_limit) {
            evbuffer_drain(in, len);
            _mode = mode::command;
            _auth_line = nullptr;
            error(500, "5.5.6", "Error: authentication line too long");
            _discarding_line = true;
            _discard_answered = true;
            return true;
        }
        return false;
    }
    size_t n = static_cast<size_t>(p.pos) + 1;
    _line.resize(n);
    evbuffer_remove(in, _line.data(), n);
    while (!_line.empty() && (_line.back() == '\n' || _line.back() == '\r')) _line.pop_back();
    _mode = mode::command;
    auto fn = std::move(_auth_line);
    _auth_line = nullptr;
    fn(_line);
    OPENSSL_cleanse(_line.data(), _line.size());
    return true;
}

// ---------------------------------------------------------------- STARTTLS

bool session::start_tls() {
    if (!ctx.tls_ctx) return false;
    if (!_io->start_tls_server(ctx.tls_ctx.get())) return false;
    _mode = mode::tls;
    _tls_pending = true;
    _last_input = std::chrono::steady_clock::now();
    arm_idle_timer();
    return true;
}

}  // namespace tern::smtpd
