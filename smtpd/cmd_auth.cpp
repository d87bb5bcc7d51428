// cmd_auth.cpp - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
// mechanisms. smtpd never sees a password hash: the credentials go to the
// auth service (private/auth) asynchronously, and its verdict decides.
// SECURITY: offered and accepted only over TLS unless smtpd_tls_auth_only
// = no; passwords are wiped from memory after use and never logged; every
// failure counts toward the error limits (and the auth service slows
// repeated failures down).
#include <openssl/crypto.h>

#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

void wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

void check_credentials(session& s, std::string user, std::string password, const char* method) {
    attr_list req;
    req.add("request", "auth")
        .add("service", s.ctx.s.service)
        .add("username", user)
        .add("password", password)
        .add("client_address", s.client.addr);
    wipe(password);
    s.suspend();
    s.auth_request = ipc_async(
        s.ctx.srv.loop, s.ctx.s.auth_socket, req, s.ctx.s.auth_timeout,
        [&s, user, method](std::optional<attr_list> rep, const std::string& err) {
            s.resume();
            std::string status = rep ? rep->get("status") : "error";
            if (status == "ok") {
                s.sasl_user = rep->get("user", user);
                s.sasl_method = method;
                log::info("%s: sasl_method=%s, sasl_username=%s", s.client.label().c_str(), method,
                          s.sasl_user.c_str());
                s.reply(235, "2.7.0", "Authentication successful");
                return;
            }
            if (status == "fail") {
                log::warn("%s: SASL %s authentication failed: %s", s.client.label().c_str(), method,
                          rep->get("reason", "authentication failure").c_str());
                s.error(535, "5.7.8", "Error: authentication failed: authentication failure");
                return;
            }
            std::string why = rep ? rep->get("reason", status) : err;
            log::warn("%s: SASL %s authentication %s: %s", s.client.label().c_str(), method,
                      status == "throttled" ? "refused" : "unavailable", why.c_str());
            s.error(454, "4.7.0", "Temporary authentication failure");
        });
    // the request copied the attributes; wipe ours
    for (auto& [k, v] : req.items)
        if (k == "password") wipe(v);
}

bool aborted(session& s, std::string_view line) {
    if (line == "*") {
        s.error(501, "5.7.0", "Authentication aborted");
        return true;
    }
    return false;
}

std::optional<std::string> decode(session& s, std::string_view b64) {
    if (b64 == "=") return std::string();
    auto d = base64_decode(b64);
    if (!d) s.error(501, "5.5.2", "Error: malformed authentication response (bad base64)");
    return d;
}

// RFC 4616: [authzid] NUL authcid NUL passwd
void plain_response(session& s, std::string_view line) {
    if (aborted(s, line)) return;
    auto d = decode(s, line);
    if (!d) return;
    auto n1 = d->find('\0');
    auto n2 = n1 == std::string::npos ? std::string::npos : d->find('\0', n1 + 1);
    if (n2 == std::string::npos || d->find('\0', n2 + 1) != std::string::npos) {
        wipe(*d);
        s.error(501, "5.5.2", "Error: malformed PLAIN response");
        return;
    }
    std::string authz = d->substr(0, n1), user = d->substr(n1 + 1, n2 - n1 - 1), pass = d->substr(n2 + 1);
    wipe(*d);
    if (user.empty() || (!authz.empty() && authz != user)) {
        wipe(pass);
        s.error(535, "5.7.8", "Error: authentication failed: authorization identity not allowed");
        return;
    }
    check_credentials(s, std::move(user), std::move(pass), "PLAIN");
}

void login_password(session& s, const std::string& user, std::string_view line) {
    if (aborted(s, line)) return;
    auto pass = decode(s, line);
    if (!pass) return;
    check_credentials(s, user, std::move(*pass), "LOGIN");
}

void login_user(session& s, std::string_view line) {
    if (aborted(s, line)) return;
    auto user = decode(s, line);
    if (!user) return;
    if (user->empty()) {
        s.error(535, "5.7.8", "Error: authentication failed: empty user name");
        return;
    }
    s.reply(334, "", base64_encode("Password:"));
    std::string u = *user;
    s.begin_auth_continuation([&s, u](std::string_view l) { login_password(s, u, l); });
}

}  // namespace

void cmd_auth(session& s, std::string_view arg) {
    const settings& cf = s.ctx.s;
    if (!cf.sasl_enable) {
        s.error(502, "5.5.1", "Error: authentication not enabled");
        return;
    }
    if (!s.esmtp) {
        s.error(503, "5.5.1", "Error: send EHLO first");
        return;
    }
    if (cf.tls_auth_only && !s.tls_active) {
        s.error(538, "5.7.11", "Encryption required for requested authentication mechanism");
        return;
    }
    if (s.is_authenticated()) {
        s.error(503, "5.5.1", "Error: already authenticated");
        return;
    }
    if (s.tx.active) {
        s.error(503, "5.5.1", "Error: MAIL transaction in progress");
        return;
    }
    auto words = split_any(arg, " ");
    if (words.empty() || words.size() > 2) {
        s.error(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
        return;
    }
    std::string mech = to_upper(words[0]);
    bool initial = words.size() == 2;
    if (mech == "PLAIN") {
        if (initial) {
            plain_response(s, words[1]);
            wipe(words[1]);
            return;
        }
        s.reply(334, "", "");
        s.begin_auth_continuation([&s](std::string_view l) { plain_response(s, l); });
        return;
    }
    if (mech == "LOGIN") {
        if (initial) {
            login_user(s, words[1]);
            return;
        }
        s.reply(334, "", base64_encode("Username:"));
        s.begin_auth_continuation([&s](std::string_view l) { login_user(s, l); });
        return;
    }
    s.error(504, "5.5.4", "Unsupported authentication mechanism");
}

}  // namespace tern::smtpd
