// check_greylist.cpp - the greylist policy check (RCPT only): a new
// (client network, sender, recipient) triplet is deferred with 450 4.7.1
// (DEFER_IF_PERMIT, so a later reject still wins) until greylist_delay has
// passed; a network that passed greylist_auto_whitelist triplets is let
// through; greylist_client/sender/recipient_whitelist skip it. State lives
// in greylist_database (lib/greylist); each decision is one locked, fsynced
// database session, run on a worker thread so the event loop never waits
// for the disk (one thread: fcntl locks do not separate threads of a
// process). Expired entries are swept hourly on the same thread.
// SECURITY: any database failure lets the mail through (fail open) and is
// logged; a damaged database is moved aside and started afresh.
#include <ctime>

#include "lib/greylist.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"
#include "lib/strutil.hpp"
#include "lib/workers.hpp"
#include "spamd/policy.hpp"

using namespace tern;

namespace spamd {
namespace {

// A decision on its way back from the worker thread; destroying the
// handle means its answer is dropped.
struct greylist_pending final : pending {
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    ~greylist_pending() override { *alive = false; }
};

class greylist_check final : public policy_check {
public:
    greylist_check(services& s, std::unique_ptr<greylist::store> st, net_list clients, map_list senders,
                   map_list recipients)
        : _store(std::move(st)), _clients(std::move(clients)), _senders(std::move(senders)),
          _recipients(std::move(recipients)), _sweep(s.loop, [this] { sweep(); }),
          _pool(std::make_unique<worker_pool>(s.loop, 1)) {
        _host = s.cfg.get("myhostname");
        _sweep.start(std::chrono::hours(1), true);
    }
    ~greylist_check() override {
        _sweep.stop();
        _pool.reset();  // finishes the jobs in hand before the store goes
    }
    const char* name() const override { return "greylist"; }
    bool applies(const policy_request& r) const override {
        return r.client && r.protocol_state == "RCPT" && !r.recipient.empty();
    }
    std::unique_ptr<pending> start(const policy_request& r, message_state&, done_fn done) override {
        check_answer a;
        if (auto why = whitelisted(r)) {
            a.note = "greylist=whitelisted(" + *why + ")";
            done(a);
            return nullptr;
        }
        struct job {
            greylist::decision d;
            std::string err;
        };
        auto j = std::make_shared<job>();
        auto p = std::make_unique<greylist_pending>();
        std::weak_ptr<bool> alive = p->alive;
        int64_t now = static_cast<int64_t>(std::time(nullptr));
        greylist::store* st = _store.get();
        ip_addr client = *r.client;
        std::string sender = r.sender, rcpt = r.recipient, id = r.id();
        _pool->submit([st, j, client, sender, rcpt, now] { j->d = st->check(client, sender, rcpt, now, j->err); },
                      [this, j, alive, done, now, id] {
                          auto a = alive.lock();
                          if (!a || !*a) return;  // the request is gone
                          done(answer(j->d, j->err, now, id));
                      });
        return p;
    }

private:
    check_answer answer(const greylist::decision& d, const std::string& err, int64_t now, const std::string& id) const {
        check_answer a;
        if (d.recovered) log::info("%s: greylist: started a fresh database", id.c_str());
        if (!err.empty()) {
            log::warn("%s: greylist: %s; letting the mail through", id.c_str(), err.c_str());
            a.note = "greylist=error";
            return a;
        }
        switch (d.st) {
        case greylist::state::deferred:
            a.k = check_answer::kind::final;
            a.note = "greylist=deferred";
            a.action = "DEFER_IF_PERMIT 4.7.1 Greylisted: this is the first delivery attempt for this sender and "
                       "recipient from your network; please try again in " +
                       std::to_string(d.wait) + " seconds";
            break;
        case greylist::state::passed:
            a.note = d.delayed ? "greylist=passed(delayed " + std::to_string(d.delayed) + "s)" : "greylist=known";
            if (d.delayed) {
                char date[64];
                std::time_t t = static_cast<std::time_t>(now);
                struct tm tmv;
                localtime_r(&t, &tmv);
                std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tmv);
                a.header = "X-Greylist: delayed " + std::to_string(d.delayed) + " seconds by tern spamd at " +
                           reply_safe(_host, 100) + "; " + date;
            }
            break;
        case greylist::state::whitelisted: a.note = "greylist=network-whitelisted"; break;
        }
        return a;
    }

    // Why a request is not greylisted, if it is not.
    std::optional<std::string> whitelisted(const policy_request& r) {
        auto m = _clients.match(*r.client);
        if (m == match_result::yes) return "client";
        if (m == match_result::error) log::warn("greylist_client_whitelist: %s", _clients.last_error().c_str());
        if (table_hit(_senders, r.sender, "greylist_sender_whitelist")) return "sender";
        if (table_hit(_recipients, r.recipient, "greylist_recipient_whitelist")) return "recipient";
        return std::nullopt;
    }
    // address, domain, "localpart@"
    static bool table_hit(map_list& l, const std::string& addr, const char* param) {
        if (l.empty() || addr.empty()) return false;
        std::string a = to_lower(addr);
        std::vector<std::string> keys{a};
        auto at = a.rfind('@');
        if (at != std::string::npos) {
            keys.push_back(a.substr(at + 1));
            keys.push_back(a.substr(0, at + 1));
        }
        for (const auto& k : keys) {
            auto res = l.lookup(k);
            if (res.found()) return true;
            if (res.failed()) {
                log::warn("%s: %s", param, res.error.c_str());
                return false;
            }
        }
        return false;
    }
    void sweep() {
        struct job {
            std::optional<size_t> n;
            std::string err;
        };
        auto j = std::make_shared<job>();
        greylist::store* st = _store.get();
        int64_t now = static_cast<int64_t>(std::time(nullptr));
        _pool->submit([st, j, now] { j->n = st->expire(now, j->err); },
                      [j] {
                          if (!j->n) log::warn("greylist: expiring old entries: %s", j->err.c_str());
                          else if (*j->n) log::info("greylist: %zu expired entries removed", *j->n);
                      });
    }

    std::unique_ptr<greylist::store> _store;
    net_list _clients;
    map_list _senders, _recipients;
    timer _sweep;
    std::string _host;
    std::unique_ptr<worker_pool> _pool;  // declared last: goes first
};

}  // namespace

std::unique_ptr<policy_check> make_greylist_check(services& s, std::string& err) {
    auto opts = map_options::from_config(s.cfg);
    auto clients = net_list::parse(s.cfg.get("greylist_client_whitelist"), err, opts);
    if (!clients) {
        err = "greylist_client_whitelist: " + err;
        return nullptr;
    }
    std::vector<config_error> errors;
    auto senders = map_list::parse(s.cfg.get("greylist_sender_whitelist"), opts, errors);
    auto recipients = map_list::parse(s.cfg.get("greylist_recipient_whitelist"), opts, errors);
    for (const auto& e : errors) log::warn("%s", e.str().c_str());
    if (!senders || !recipients) {
        err = "greylist sender/recipient whitelist: malformed table list";
        return nullptr;
    }
    auto st = std::make_unique<greylist::store>(s.cfg.get("greylist_database"), greylist::settings::from_config(s.cfg));
    return std::make_unique<greylist_check>(s, std::move(st), std::move(*clients), std::move(*senders),
                                            std::move(*recipients));
}

}  // namespace spamd
