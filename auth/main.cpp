// main.cpp - the auth service: answers "is this user/password right" for
// smtpd AUTH, pop3d and imapd over a UNIX socket (attr protocol), so that no
// other daemon ever reads a password hash. Slows down and then refuses
// repeated failures per client address and per user, and logs each failure.
//
// Request:  request=auth, service=, username=, password=, client_address=
// Reply:    status=ok|fail|throttled|error, user=<canonical name>, reason=
// SECURITY: the user table is read as root before privileges are dropped
// (it is mode 0600); crypt(3) runs in worker threads so a slow hash never
// stalls other clients; passwords are never logged.
#include <chrono>
#include <list>
#include <map>
#include <mutex>
#include <openssl/crypto.h>

#include "auth/throttle.hpp"
#include "lib/fd.hpp"
#include "lib/ipc.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/passwd.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "lib/workers.hpp"

using namespace tern;

namespace {

struct state {
    std::map<std::string, std::string> users;  // lower-case name -> hash
    std::string default_domain;
    std::unique_ptr<auth::throttle> throttle;
    std::unique_ptr<worker_pool> pool;
    std::list<std::unique_ptr<timer>> delayed;
    std::string dummy_hash;  // for unknown users: same work, same timing
};

state g;

void load_users(server& srv) {
    // passwd:FILE is tern's own name:hash file; any other table type
    // (hash:, btree:, texthash:) maps a name to its hash
    auto opts = map_options::from_config(srv.cfg);
    for (const auto& src : split_table_list(srv.cfg.get("auth_password_maps"))) {
        auto colon = src.find(':');
        std::string type = colon == std::string::npos ? "passwd" : src.substr(0, colon);
        std::string path = colon == std::string::npos ? src : src.substr(colon + 1);
        if (type == "passwd") {
            auto text = read_file(path, 64u << 20);
            if (!text) log::fatal("cannot read %s: %s", path.c_str(), errno_text().c_str());
            std::vector<config_error> errs;
            for (auto& e : parse_passwd_file(*text, path, errs)) g.users.emplace(e.name, e.hash);
            for (const auto& e : errs) log::warn("%s", e.str().c_str());
            continue;
        }
        std::vector<config_error> errs;
        auto table = open_table(src, opts, errs);
        for (const auto& e : errs) log::error("%s", e.str().c_str());
        if (!table) log::fatal("auth_password_maps: cannot open %s", src.c_str());
        std::string err;
        size_t bad = 0;
        bool ok = table->for_each(
            [&](std::string_view key, std::string_view value) {
                std::string hash(trim(value));
                if (!acceptable_hash(hash)) {
                    ++bad;
                    return true;
                }
                g.users.emplace(to_lower(key), hash);
                return true;
            },
            err);
        if (!ok) log::fatal("auth_password_maps: cannot read %s: %s", src.c_str(), err.c_str());
        if (bad) log::warn("%s: %zu entries without an acceptable crypt(3) hash ignored", src.c_str(), bad);
    }
    log::info("%zu users loaded", g.users.size());
}

// The stored name a login refers to: exact, or with auth_default_domain.
const std::string* find_user(const std::string& login, std::string& canonical) {
    std::string l = to_lower(login);
    if (auto it = g.users.find(l); it != g.users.end()) {
        canonical = it->first;
        return &it->second;
    }
    if (l.find('@') == std::string::npos && !g.default_domain.empty()) {
        std::string full = l + "@" + to_lower(g.default_domain);
        if (auto it = g.users.find(full); it != g.users.end()) {
            canonical = it->first;
            return &it->second;
        }
    }
    return nullptr;
}

void reply_later(server& srv, std::chrono::milliseconds delay, attr_responder respond, attr_list reply) {
    if (delay.count() == 0) {
        respond(reply);
        return;
    }
    // the timer is erased from the loop, never inside its own callback
    g.delayed.push_back(nullptr);
    auto it = std::prev(g.delayed.end());
    *it = std::make_unique<timer>(srv.loop, [&srv, it, respond, reply] {
        respond(reply);
        srv.loop.post([it] { g.delayed.erase(it); });
    });
    (*it)->start(delay);
}

void handle(server& srv, const attr_list& req, attr_responder respond) {
    std::string request = req.get("request");
    if (request == "ping") {
        respond(attr_list().add("status", "ok"));
        return;
    }
    if (request != "auth") {
        respond(attr_list().add("status", "error").add("reason", "unknown request"));
        return;
    }
    std::string login = req.get("username");
    std::string password = req.get("password");
    std::string client = req.get("client_address", "unknown");
    std::string service = req.get("service", "unknown");
    if (login.empty() || login.size() > 320 || password.size() > 1024) {
        respond(attr_list().add("status", "fail").add("reason", "malformed credentials"));
        return;
    }
    std::string canonical;
    const std::string* hash = find_user(login, canonical);
    std::string user_key = "user:" + (hash ? canonical : to_lower(login));
    std::string addr_key = "addr:" + client;
    auto& th = *g.throttle;
    if (th.refused(addr_key) || th.refused(user_key)) {
        unsigned n = std::max(th.fail(addr_key), th.fail(user_key));
        log::warn("%s: login refused for user=%s, client=%s: too many failures (%u)", service.c_str(),
                  printable(login, 80).c_str(), client.c_str(), n);
        reply_later(srv, th.delay_for(n), respond,
                    attr_list().add("status", "throttled").add("reason", "too many failed logins; try again later"));
        return;
    }
    std::string stored = hash ? *hash : g.dummy_hash;
    bool known = hash != nullptr;
    auto ok = std::make_shared<bool>(false);
    auto pw = std::make_shared<std::string>(std::move(password));
    g.pool->submit([ok, pw, stored] { *ok = verify_password(*pw, stored); },
                   [&srv, ok, pw, known, canonical, login, client, service, user_key, addr_key, respond] {
                       OPENSSL_cleanse(pw->data(), pw->size());
                       auto& th = *g.throttle;
                       if (*ok && known) {
                           th.reset(user_key);
                           log::info("%s: login ok for user=%s, client=%s", service.c_str(), canonical.c_str(),
                                     client.c_str());
                           respond(attr_list().add("status", "ok").add("user", canonical));
                           return;
                       }
                       unsigned n = std::max(th.fail(addr_key), th.fail(user_key));
                       log::warn("%s: login failed for user=%s, client=%s: %s (%u failures)", service.c_str(),
                                 printable(login, 80).c_str(), client.c_str(),
                                 known ? "wrong password" : "unknown user", n);
                       reply_later(srv, th.delay_for(n), respond,
                                   attr_list().add("status", "fail").add("reason", "authentication failed"));
                   });
}

}  // namespace

int main(int argc, char** argv) {
    server_hooks hooks;
    hooks.program = "auth";
    hooks.pre_jail = [](server& srv) {
        load_users(srv);
        g.default_domain = srv.cfg.get("auth_default_domain");
        auth::throttle::settings s;
        s.base_delay = std::chrono::milliseconds(srv.cfg.get_time("auth_failure_delay") * 1000);
        s.max_delay = std::chrono::milliseconds(srv.cfg.get_time("auth_failure_max_delay") * 1000);
        s.limit = static_cast<unsigned>(srv.cfg.get_int("auth_failure_limit"));
        s.window = std::chrono::seconds(srv.cfg.get_time("auth_failure_window"));
        g.throttle = std::make_unique<auth::throttle>(s);
        g.dummy_hash = hash_password("tern-dummy-password-for-timing");
    };
    hooks.post_jail = [](server& srv) { g.pool = std::make_unique<worker_pool>(srv.loop, 2); };
    hooks.on_accept = [](server& srv, unique_fd fd, size_t) {
        serve_attr_connection(
            srv.loop, std::move(fd), [&srv](const attr_list& req, attr_responder respond) { handle(srv, req, respond); },
            std::chrono::seconds(srv.cfg.get_time("ipc_timeout")));
    };
    hooks.active_sessions = [](server&) { return attr_connections_open(); };
    hooks.on_stop = [](server&) {
        g.delayed.clear();
        g.pool.reset();
    };
    return server_main(argc, argv, hooks);
}
