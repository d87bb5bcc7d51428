// check_greylist.cpp - the greylist policy check (RCPT only): a new
// (client network, sender, recipient) triplet is deferred with 450 4.7.1
// (DEFER_IF_PERMIT, so a later reject still wins) until greylist_delay has
// passed; a network that passed greylist_auto_whitelist triplets is let
// through; greylist_client/sender/recipient_whitelist skip it. State lives
// in greylist_database (lib/greylist); expired entries are swept hourly.
// SECURITY: any database failure lets the mail through (fail open) and is
// logged; a damaged database is moved aside and started afresh.
#include <ctime>

#include "lib/greylist.hpp"
#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"
#include "lib/strutil.hpp"
#include "spamd/policy.hpp"

using namespace tern;

namespace spamd {
namespace {

class greylist_check final : public policy_check {
public:
    greylist_check(services& s, std::unique_ptr<greylist::store> st, net_list clients, map_list senders,
                   map_list recipients)
        : _s(s), _store(std::move(st)), _clients(std::move(clients)), _senders(std::move(senders)),
          _recipients(std::move(recipients)), _sweep(s.loop, [this] { sweep(); }) {
        _host = s.cfg.get("myhostname");
        _sweep.start(std::chrono::hours(1), true);
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
        std::string err;
        int64_t now = static_cast<int64_t>(std::time(nullptr));
        auto d = _store->check(*r.client, r.sender, r.recipient, now, err);
        if (!err.empty()) {
            log::warn("%s: greylist: %s; letting the mail through", r.id().c_str(), err.c_str());
            a.note = "greylist=error";
            done(a);
            return nullptr;
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
                std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", std::localtime(&t));
                a.header = "X-Greylist: delayed " + std::to_string(d.delayed) + " seconds by tern spamd at " +
                           reply_safe(_host, 100) + "; " + date;
            }
            break;
        case greylist::state::whitelisted: a.note = "greylist=network-whitelisted"; break;
        }
        done(a);
        return nullptr;
    }

private:
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
        std::string err;
        auto n = _store->expire(static_cast<int64_t>(std::time(nullptr)), err);
        if (!n) log::warn("greylist: expiring old entries: %s", err.c_str());
        else if (*n) log::info("greylist: %zu expired entries removed", *n);
    }

    services& _s;
    std::unique_ptr<greylist::store> _store;
    net_list _clients;
    map_list _senders, _recipients;
    timer _sweep;
    std::string _host;
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
