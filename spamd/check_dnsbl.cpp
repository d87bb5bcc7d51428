// check_dnsbl.cpp - the dnsbl policy check: the client against every list
// of dnsbl_sites (lib/dnsbl), once per message. At dnsbl_threshold it
// rejects (554 5.7.1), defers (450 4.7.1) or adds an X-Spam-DNSBL header
// (dnsbl_action); at or below a negative dnsbl_whitelist_threshold the
// client skips the checks after this one. Lists that fail count 0.
#include "lib/dns.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "spamd/policy.hpp"

using namespace tern;

namespace spamd {
namespace {

class dnsbl_pending final : public pending {
public:
    std::unique_ptr<dnsbl::checker::pending> p;
};

class dnsbl_check final : public policy_check {
public:
    dnsbl_check(services& s, std::vector<dnsbl::site> sites, std::string action)
        : _checker(s.loop, s.resolver, std::move(sites), static_cast<size_t>(s.cfg.get_int("dnsbl_cache_size")),
                   s.cfg.get_time("dnsbl_max_ttl")),
          _action(std::move(action)) {
        _threshold = s.cfg.get_int("dnsbl_threshold");
        _allow = s.cfg.get_int("dnsbl_whitelist_threshold");
    }
    const char* name() const override { return "dnsbl"; }
    bool applies(const policy_request& r) const override { return r.client.has_value() && !_checker.sites().empty(); }
    std::unique_ptr<pending> start(const policy_request& r, message_state& st, done_fn done) override {
        if (st.dnsbl) {
            done(answer(*st.dnsbl, r));
            return nullptr;
        }
        auto p = std::make_unique<dnsbl_pending>();
        message_state* sp = &st;
        std::string id = r.id();
        p->p = _checker.check(*r.client, [this, sp, r, done](const dnsbl::verdict& v) {
            for (const auto& e : v.errors) log::warn("%s: dnsbl: %s", r.id().c_str(), e.c_str());
            sp->dnsbl = v;
            done(answer(v, r));
        });
        return p;
    }

private:
    check_answer answer(const dnsbl::verdict& v, const policy_request& r) const {
        check_answer a;
        a.note = "dnsbl=" + std::to_string(v.score);
        if (!v.hits.empty()) a.note += " (" + join(v.hits, " ") + ")";
        if (_allow < 0 && v.score <= _allow) {
            a.k = check_answer::kind::allow;
            a.note += " allowed";
            return a;
        }
        if (v.score < _threshold || v.hits.empty()) return a;
        std::string first = v.hits.front().substr(0, v.hits.front().find('='));
        std::string text = "Service unavailable; client [" + reply_safe(r.client_address, 60) + "] blocked using " + first;
        if (_action == "reject") {
            a.k = check_answer::kind::final;
            a.action = "554 5.7.1 " + text;
        } else if (_action == "defer") {
            a.k = check_answer::kind::final;
            a.action = "450 4.7.1 " + text;
        } else {
            a.header = "X-Spam-DNSBL: score=" + std::to_string(v.score) + "; " + join(v.hits, ", ");
        }
        return a;
    }

    dnsbl::checker _checker;
    std::string _action;
    int64_t _threshold = 1;
    int64_t _allow = 0;
};

}  // namespace

std::unique_ptr<policy_check> make_dnsbl_check(services& s, std::string& err) {
    std::vector<dnsbl::site> sites;
    if (!dnsbl::parse_sites(s.cfg.get_list("dnsbl_sites"), sites, err)) {
        err = "dnsbl_sites: " + err;
        return nullptr;
    }
    std::string action = to_lower(s.cfg.get("dnsbl_action"));
    if (action != "reject" && action != "defer" && action != "prepend") {
        err = "dnsbl_action = " + action + ": expected reject, defer or prepend";
        return nullptr;
    }
    return std::make_unique<dnsbl_check>(s, std::move(sites), action);
}

}  // namespace spamd
