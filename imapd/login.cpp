// login.cpp - the not-authenticated state: STARTTLS (RFC 3501 6.2.1),
// LOGIN, AUTHENTICATE PLAIN with SASL-IR (RFC 4959), and what happens once
// the auth service accepts a user (its mail store located and opened, the
// special-use folders created for a new user). Nothing here touches a
// mailbox before the auth service said yes.
// SECURITY: passwords are wiped after use and never logged; LOGIN and
// AUTHENTICATE are refused without TLS unless imapd_allow_plaintext_auth;
// failed logins count toward imapd_error_limit (the auth service adds
// delays and its own limits).
#include <openssl/crypto.h>

#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

bool session::credentials_allowed() const { return _d.allow_plaintext || (_s && _s->is_tls()); }

void session::cmd_starttls(command& c) {
    if (!c.args.empty()) return bad(c, "STARTTLS takes no arguments");
    if (_s->is_tls()) return bad(c, "TLS is already active");
    if (!_d.tls) return no(c, "TLS is not available");
    write(c.tag + " OK Begin TLS negotiation now.\r\n");
    // the reply leaves in the clear; whatever the client pipelined after STARTTLS is thrown away
    _framer.reset();
    if (!_s->start_tls_server(_d.tls.get())) {
        log::warn("%s: cannot start TLS", _peer.c_str());
        finish();
        return;
    }
    _tls_pending = true;
}

void session::cmd_login(command& c) {
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring())
        return bad(c, "Usage: LOGIN user password");
    if (!credentials_allowed())
        return no(c, "[PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS; use STARTTLS");
    std::string user(c.args[0].text), pw(c.args[1].text);
    OPENSSL_cleanse(const_cast<char*>(c.args[1].text.data()), c.args[1].text.size());
    if (user.empty() || user.size() > 320) {
        OPENSSL_cleanse(pw.data(), pw.size());
        return no(c, "[AUTHENTICATIONFAILED] Authentication failed.");
    }
    login(c.tag, user, pw);
    OPENSSL_cleanse(pw.data(), pw.size());
}

void session::cmd_authenticate(command& c) {
    if (c.args.empty() || c.args.size() > 2 || !c.args[0].is_atom()) return bad(c, "Usage: AUTHENTICATE PLAIN [initial-response]");
    if (!c.args[0].is("PLAIN")) return no(c, "Unsupported authentication mechanism");
    if (!credentials_allowed())
        return no(c, "[PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS; use STARTTLS");
    if (c.args.size() == 2) {
        if (!c.args[1].is_atom()) return bad(c, "Initial response must be base64 (or =)");
        std::string ir(c.args[1].text);
        sasl_response(c.tag, ir == "=" ? "" : ir);
        OPENSSL_cleanse(ir.data(), ir.size());
        return;
    }
    write("+ \r\n");
    _mode = mode::sasl;
    _mode_tag = c.tag;
}

void session::sasl_response(const std::string& tag, const std::string& b64) {
    command c;
    c.tag = tag;
    c.name = "AUTHENTICATE";
    auto raw = base64_decode(b64);
    if (!raw) return bad(c, "Invalid base64 data");
    // authzid NUL authcid NUL password
    auto p1 = raw->find('\0');
    auto p2 = p1 == std::string::npos ? std::string::npos : raw->find('\0', p1 + 1);
    if (p1 == std::string::npos || p2 == std::string::npos) {
        OPENSSL_cleanse(raw->data(), raw->size());
        return bad(c, "Malformed PLAIN response");
    }
    std::string authz = raw->substr(0, p1), authc = raw->substr(p1 + 1, p2 - p1 - 1), pw = raw->substr(p2 + 1);
    OPENSSL_cleanse(raw->data(), raw->size());
    if (!authz.empty() && !iequals(authz, authc)) {
        OPENSSL_cleanse(pw.data(), pw.size());
        return no(c, "[AUTHORIZATIONFAILED] Proxy authorization is not supported");
    }
    login(tag, authc, pw);
    OPENSSL_cleanse(pw.data(), pw.size());
}

void session::login(const std::string& tag, const std::string& user, const std::string& password) {
    attr_list req;
    req.add("request", "auth").add("service", "imapd").add("username", user).add("password", password);
    req.add("client_address", _peer);
    _busy = true;
    _auth_req = ipc_async(_d.srv->loop, _d.auth_socket, req, std::chrono::seconds(60),
                          [this, tag, user](std::optional<attr_list> rep, const std::string& err) {
                              _busy = false;
                              auto keep = std::move(_auth_req);  // destroyed after we return
                              _d.srv->loop.defer_delete(std::move(keep));
                              command c;
                              c.tag = tag;
                              c.name = "LOGIN";
                              if (!rep) {
                                  log::error("%s: auth service: %s", _peer.c_str(), err.c_str());
                                  no(c, "[UNAVAILABLE] Authentication service unavailable, try again later");
                              } else if (rep->get("status") == "ok") {
                                  logged_in(tag, rep->get("user", user));
                              } else if (rep->get("status") == "throttled") {
                                  log::info("%s: login throttled for user=%s", _peer.c_str(), printable(user, 80).c_str());
                                  no(c, "[UNAVAILABLE] Too many failed logins, try again later");
                                  if (++_errors >= _d.error_limit) shutdown("Too many failed logins");
                              } else {
                                  log::info("%s: login failed for user=%s", _peer.c_str(), printable(user, 80).c_str());
                                  no(c, "[AUTHENTICATIONFAILED] Authentication failed.");
                                  if (++_errors >= _d.error_limit) shutdown("Too many failed logins");
                              }
                              if (_s) _s->kick();
                          });
}

void session::logged_in(const std::string& tag, const std::string& user) {
    command c;
    c.tag = tag;
    c.name = "LOGIN";
    if (_d.user_session_limit && _d.per_user[user] >= _d.user_session_limit) {
        if (_d.per_user[user] == 0) _d.per_user.erase(user);
        log::warn("%s: user=%s has %zu sessions (imapd_user_session_limit); login refused", _peer.c_str(),
                  user.c_str(), _d.user_session_limit);
        return no(c, "[LIMIT] Too many sessions for this user");
    }
    std::string err;
    bool temporary = false;
    auto spec = _d.users.locate(user, err, temporary);
    if (!spec) {
        log::error("%s: user=%s: %s", _peer.c_str(), user.c_str(), err.c_str());
        return no(c, temporary ? "[UNAVAILABLE] Mailbox lookup failed, try again later"
                               : "[AUTHORIZATIONFAILED] No mailbox for this user");
    }
    if (auto st = mailbox::store::open(*spec, _d.lim, _store); !st) {
        log::error("%s: user=%s: cannot open mail store: %s", _peer.c_str(), user.c_str(), st.reason.c_str());
        _store.reset();
        return no(c, "[UNAVAILABLE] Cannot open the mail store, try again later");
    }
    // A user without subscriptions has never used IMAP here (ensure_default_folders
    // subscribes what it creates): INBOX plus the special-use folders.
    std::vector<std::string> subs;
    if (_store->subscriptions(subs) && subs.empty()) {
        if (auto st = _store->ensure_default_folders(); !st)
            log::warn("%s: user=%s: creating the default folders: %s", _peer.c_str(), user.c_str(), st.reason.c_str());
        else
            log::info("%s: user=%s: default folders created", _peer.c_str(), user.c_str());
    }
    _user = user;
    _d.per_user[_user]++;
    _counted_user = true;
    _state = state::authenticated;
    reset_timer();
    log::info("%s: login user=%s%s", _peer.c_str(), user.c_str(), _s->is_tls() ? ", TLS" : "");
    write(tag + " OK [CAPABILITY " + capabilities() + "] Logged in\r\n");
}

}  // namespace tern::imap
