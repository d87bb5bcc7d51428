// cmd_auth.cpp - POP3 AUTHORIZATION state: CAPA, USER, PASS, AUTH PLAIN,
// STLS and QUIT. Logins are checked by the auth service; the mailbox is
// locked for the session ([IN-USE] for a second one).
// SECURITY: USER/PASS and AUTH are refused before TLS unless
// pop3d_allow_plaintext_auth = yes; passwords never reach a log line.
#include <cerrno>
#include <openssl/crypto.h>

#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "pop3d/session.hpp"

namespace tern::pop3 {

void session::cmd_capa(const command&) {
    std::string out = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
    if (_state == state::authorization) {
        if (credentials_allowed()) out += "USER\r\nSASL PLAIN\r\n";
        if (!_s->is_tls() && _d.tls) out += "STLS\r\n";
    }
    out += "IMPLEMENTATION tern\r\n.\r\n";
    _s->write(out);
}

void session::cmd_stls(const command& c) {
    if (!c.args.empty()) return error("STLS takes no arguments");
    if (_s->is_tls()) return error("Already using TLS");
    if (!_d.tls) return error("TLS not available");
    reply("+OK Begin TLS negotiation");
    // the reply leaves in the clear; anything the client sent after STLS is discarded
    if (!_s->start_tls_server(_d.tls.get())) {
        log::warn("%s: cannot start TLS", _peer.c_str());
        _s->close();
        finish();
        return;
    }
    _tls_pending = true;
}

void session::cmd_user(const command& c) {
    if (!credentials_allowed()) return error("[AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
    if (c.args.size() != 1 || c.rest.size() > 320) return error("Usage: USER name");
    _user_arg = c.rest;
    reply("+OK");
}

void session::cmd_pass(const command& c) {
    if (!credentials_allowed()) return error("[AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
    if (_user_arg.empty()) return error("USER first");
    if (c.rest.empty()) return error("Usage: PASS password");
    std::string pw = c.rest;  // passwords may hold spaces (RFC 1939 allows it in practice)
    login(_user_arg, pw);
    OPENSSL_cleanse(pw.data(), pw.size());
}

void session::cmd_auth(const command& c) {
    if (c.args.empty()) {
        // RFC 5034 leaves a bare AUTH to the server; list mechanisms like many servers do
        std::string out = "+OK\r\n";
        if (credentials_allowed()) out += "PLAIN\r\n";
        out += ".\r\n";
        _s->write(out);
        return;
    }
    if (!credentials_allowed()) return error("[AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
    if (!iequals(c.args[0], "PLAIN")) return error("Unsupported authentication mechanism");
    if (c.args.size() > 2) return error("Usage: AUTH PLAIN [initial-response]");
    if (c.args.size() == 2) {
        sasl_plain(c.args[1] == "=" ? "" : c.args[1]);
        return;
    }
    reply("+ ");
    _awaiting_sasl = true;
}

void session::sasl_plain(const std::string& b64) {
    auto raw = base64_decode(b64);
    if (!raw) return error("[AUTH] Invalid base64 data");
    // authzid \0 authcid \0 password
    auto p1 = raw->find('\0');
    auto p2 = p1 == std::string::npos ? std::string::npos : raw->find('\0', p1 + 1);
    if (p1 == std::string::npos || p2 == std::string::npos) {
        OPENSSL_cleanse(raw->data(), raw->size());
        return error("[AUTH] Malformed PLAIN response");
    }
    std::string authz = raw->substr(0, p1), authc = raw->substr(p1 + 1, p2 - p1 - 1), pw = raw->substr(p2 + 1);
    OPENSSL_cleanse(raw->data(), raw->size());
    if (!authz.empty() && !iequals(authz, authc)) {
        OPENSSL_cleanse(pw.data(), pw.size());
        return error("[AUTH] Proxy authorization is not supported");
    }
    login(authc, pw);
    OPENSSL_cleanse(pw.data(), pw.size());
}

void session::login(const std::string& user, const std::string& password) {
    attr_list req;
    req.add("request", "auth").add("service", "pop3d").add("username", user).add("password", password);
    req.add("client_address", _peer);
    _busy = true;
    _auth_req = ipc_async(_d.srv->loop, _d.auth_socket, req, std::chrono::seconds(60),
                          [this, user](std::optional<attr_list> rep, const std::string& err) {
                              _busy = false;
                              auto keep = std::move(_auth_req);  // destroyed after we return
                              _d.srv->loop.defer_delete(std::move(keep));
                              if (!rep) {
                                  log::error("%s: auth service: %s", _peer.c_str(), err.c_str());
                                  reply("-ERR [SYS/TEMP] Authentication service unavailable, try again later");
                              } else if (rep->get("status") == "ok") {
                                  logged_in(rep->get("user", user));
                              } else if (rep->get("status") == "throttled") {
                                  error("[AUTH] Too many failed logins; try again later");
                              } else {
                                  log::info("%s: login failed for user=%s", _peer.c_str(), printable(user, 80).c_str());
                                  error("[AUTH] Authentication failed");
                              }
                              _user_arg.clear();
                              if (_s) _s->kick();
                          });
}

void session::logged_in(const std::string& user) {
    std::string err;
    bool temporary = false;
    auto spec = _d.users.locate(user, err, temporary);
    if (!spec) {
        log::error("%s: user=%s: %s", _peer.c_str(), user.c_str(), err.c_str());
        reply(temporary ? "-ERR [SYS/TEMP] Mailbox lookup failed, try again later"
                        : "-ERR [SYS/PERM] No mailbox for this user");
        return;
    }
    mailbox::status st = mailbox::store::open(*spec, _d.lim, _store);
    if (st) st = _store->open_folder("INBOX", mailbox::open_mode::read_write, _inbox);
    if (!st) {
        log::error("%s: user=%s: cannot open INBOX: %s", _peer.c_str(), user.c_str(), st.reason.c_str());
        _store.reset();
        reply("-ERR [SYS/TEMP] Cannot open mailbox, try again later");
        return;
    }
    st = _inbox->session_lock("pop3", _lock);
    if (!st) {
        _inbox.reset();
        _store.reset();
        if (st.err == EAGAIN) {
            log::info("%s: user=%s: mailbox in use by another POP3 session", _peer.c_str(), user.c_str());
            reply("-ERR [IN-USE] Mailbox is locked by another POP3 session");
        } else {
            log::error("%s: user=%s: %s", _peer.c_str(), user.c_str(), st.reason.c_str());
            reply("-ERR [SYS/TEMP] Cannot lock mailbox");
        }
        return;
    }
    mailbox::changes ch;
    if (st = _inbox->sync(ch); !st) {
        log::error("%s: user=%s: sync: %s", _peer.c_str(), user.c_str(), st.reason.c_str());
        _inbox.reset();
        _store.reset();
        _lock.reset();
        reply("-ERR [SYS/TEMP] Cannot read mailbox");
        return;
    }
    _msgs.clear();
    uint64_t total = 0;
    for (size_t i = 0; i < _inbox->count(); ++i) {
        const auto& m = _inbox->at(i);
        _msgs.push_back({m.uid, m.wire_size, false});
        total += m.wire_size;
    }
    _user = user;
    _state = state::transaction;
    log::info("%s: login user=%s, %zu messages (%llu octets)%s", _peer.c_str(), user.c_str(), _msgs.size(),
              static_cast<unsigned long long>(total), _s->is_tls() ? ", TLS" : "");
    reply("+OK Logged in, " + std::to_string(_msgs.size()) + " messages (" + std::to_string(total) + " octets)");
}

void session::cmd_quit(const command&) {
    if (_state != state::transaction) {
        reply("+OK Bye");
        _s->close_after_flush();
        return;
    }
    // UPDATE state: remove what was marked, nothing else
    _state = state::update;
    std::vector<uint32_t> doomed;
    for (const auto& m : _msgs)
        if (m.deleted) doomed.push_back(m.uid);
    bool ok = true;
    if (!doomed.empty()) {
        std::vector<uint32_t> gone;
        auto st = _inbox->expunge(&doomed, false, gone);
        if (!st || gone.size() != doomed.size()) {
            ok = false;
            log::error("%s: user=%s: expunge: %s (%zu of %zu removed)", _peer.c_str(), _user.c_str(),
                       st ? "incomplete" : st.reason.c_str(), gone.size(), doomed.size());
        }
        _del_count = gone.size();
    }
    log::info("%s: logout user=%s, retr=%llu/%llu, del=%llu/%zu", _peer.c_str(), _user.c_str(),
              static_cast<unsigned long long>(_retr_count), static_cast<unsigned long long>(_retr_bytes),
              static_cast<unsigned long long>(_del_count), _msgs.size());
    reply(ok ? "+OK Bye" : "-ERR [SYS/TEMP] Some deleted messages were not removed");
    _state = state::authorization;  // nothing further happens on close
    _s->close_after_flush();
}

}  // namespace tern::pop3
