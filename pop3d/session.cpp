// session.cpp - POP3 session life cycle, the command table and dispatch.
#include "pop3d/session.hpp"

#include <event2/buffer.h>

#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::pop3 {

// verb -> handler and the states it is valid in
struct command_table {
    using handler = void (session::*)(const command&);
    struct row {
        const char* verb;
        handler fn;
        bool in_auth;
        bool in_trans;
    };
    static const row* find(const std::string& verb) {
        static const row rows[] = {
            {"CAPA", &session::cmd_capa, true, true},  {"USER", &session::cmd_user, true, false},
            {"PASS", &session::cmd_pass, true, false}, {"AUTH", &session::cmd_auth, true, false},
            {"STLS", &session::cmd_stls, true, false}, {"QUIT", &session::cmd_quit, true, true},
            {"STAT", &session::cmd_stat, false, true}, {"LIST", &session::cmd_list, false, true},
            {"UIDL", &session::cmd_uidl, false, true}, {"RETR", &session::cmd_retr, false, true},
            {"TOP", &session::cmd_top, false, true},   {"DELE", &session::cmd_dele, false, true},
            {"RSET", &session::cmd_rset, false, true}, {"NOOP", &session::cmd_noop, false, true},
        };
        for (const auto& r : rows)
            if (verb == r.verb) return &r;
        return nullptr;
    }
};

session::session(daemon_state& d, unique_fd fd) : _d(d) {
    _s = std::make_unique<stream>(d.srv->loop, std::move(fd), *this);
    _peer = _s->peer().host();
    _s->set_timeouts(d.idle_timeout, d.idle_timeout);
    d.sessions.insert(this);
}

session::~session() { _d.sessions.erase(this); }

void session::start(daemon_state& d, unique_fd fd) {
    auto s = std::make_unique<session>(d, std::move(fd));
    session* p = s.get();
    p->_self = std::move(s);
    log::info("connect from %s%s", p->_peer.c_str(), d.wrapper ? " (implicit TLS)" : "");
    if (d.wrapper) {
        if (!d.tls || !p->_s->start_tls_server(d.tls.get())) {
            log::warn("no TLS context for implicit TLS; closing %s", p->_peer.c_str());
            p->_s->close_after_flush();
            return;
        }
        p->_tls_pending = true;  // greet once the handshake is done
        return;
    }
    p->reply("+OK tern POP3 server ready");
}

void session::on_tls_ready() {
    if (_tls_pending) {
        _tls_pending = false;
        log::info("%s: TLS established: %s", _peer.c_str(), _s->tls_description().c_str());
        if (_d.wrapper && _state == state::authorization && _user_arg.empty()) reply("+OK tern POP3 server ready");
        _busy = false;
        _s->kick();
    }
}

void session::reply(const std::string& line) {
    if (_s && !_s->closed()) _s->write(line + "\r\n");
}

void session::error(const std::string& text) {
    reply("-ERR " + text);
    if (++_errors >= _d.error_limit) {
        log::warn("%s: too many errors (%u); disconnecting", _peer.c_str(), _errors);
        reply("-ERR Too many errors, closing connection");
        _s->close_after_flush();
    }
}

bool session::credentials_allowed() const { return _d.allow_plaintext || _s->is_tls(); }

void session::on_readable() {
    // one command at a time; a pipelined batch is worked through in order,
    // with a budget per turn so one client cannot starve the others
    int budget = 64;
    std::string line;
    while (_s && !_s->closed() && !_s->closing() && !_busy && !_tls_pending) {
        if (budget-- == 0) {
            _s->kick();
            return;
        }
        auto st = read_line(_s->input(), _d.line_limit, line);
        if (st == line_status::need_more) return;
        if (st == line_status::too_long) {
            log::warn("%s: command line too long", _peer.c_str());
            reply("-ERR Line too long");
            _s->close_after_flush();
            return;
        }
        dispatch(line);
    }
}

void session::dispatch(const std::string& line) {
    if (_awaiting_sasl) {
        _awaiting_sasl = false;
        if (line == "*") {
            error("[AUTH] Authentication cancelled");
            return;
        }
        sasl_plain(line);
        return;
    }
    std::string why;
    auto cmd = parse_command(line, why);
    if (!cmd) {
        error(why);
        return;
    }
    auto row = command_table::find(cmd->verb);
    if (!row) {
        error("Unknown command " + printable(cmd->verb, 8));
        return;
    }
    bool ok = _state == state::authorization ? row->in_auth : row->in_trans;
    if (!ok) {
        error(_state == state::authorization ? "Not logged in" : "Command not valid in this state");
        return;
    }
    (this->*(row->fn))(*cmd);
}

void session::on_flushed() {
    if (_retr) pump_retrieval();
}

void session::on_closed(const std::string& why) {
    if (_state == state::transaction)
        log::info("%s: disconnect user=%s without QUIT (%s): nothing deleted", _peer.c_str(), _user.c_str(), why.c_str());
    else
        log::info("disconnect from %s (%s)", _peer.c_str(), why.c_str());
    finish();
}

void session::finish() {
    _auth_req.reset();
    _retr.reset();
    if (_inbox) {
        mailbox::changes ch;
        (void)_inbox->checkpoint();
    }
    _inbox.reset();
    _store.reset();
    _lock.reset();
    if (_s) {
        _s->close();
        _d.srv->loop.defer_delete(std::move(_s));
    }
    if (_self) _d.srv->loop.defer_delete(std::move(_self));
}

}  // namespace tern::pop3
