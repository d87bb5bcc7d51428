// check_client.cpp - the client checks offered to Postfix and tern alike:
//  fcrdns: the client address has a PTR name (one of the first 10) whose
//          A/AAAA records include the address again (forward-confirmed
//          reverse DNS); otherwise spamd_fcrdns_action.
//  helo:   the HELO/EHLO name is a fully-qualified host name (504 5.5.2) or
//          an address literal of the client (550 5.7.1), does not claim to
//          be this host (550 5.7.1) and has A, AAAA or MX records (450 4.7.1).
// Both run once per message; DNS trouble gives DUNNO (fail open).
// SECURITY: the HELO name is client input: checked byte by byte before it
// is asked in DNS, and quoted safely in replies and logs.
#include <arpa/inet.h>

#include "lib/dns.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "spamd/policy.hpp"

using namespace tern;

namespace spamd {
namespace {

constexpr size_t max_ptr_names = 10;

class dns_pending final : public pending {
public:
    std::unique_ptr<dns::query> q;
};

// Run done with a, remembering it for the message.
void answer_cached(message_state& st, const char* key, check_answer a, const policy_check::done_fn& done) {
    st.client[key] = std::make_shared<check_answer>(a);
    done(std::move(a));
}

// ---- fcrdns -----------------------------------------------------------------------------

class fcrdns_check final : public policy_check {
public:
    fcrdns_check(services& s, std::string action) : _s(s), _action(std::move(action)) {}
    const char* name() const override { return "fcrdns"; }
    bool applies(const policy_request& r) const override { return r.client.has_value(); }
    std::unique_ptr<pending> start(const policy_request& r, message_state& st, done_fn done) override {
        if (auto it = st.client.find("fcrdns"); it != st.client.end()) {
            done(*it->second);
            return nullptr;
        }
        auto p = std::make_shared<dns_pending>();
        auto holder = std::make_unique<holder_t>(p);
        message_state* sp = &st;
        ip_addr client = *r.client;
        p->q = _s.resolver.lookup_ptr(client.str(), [this, p, sp, client, done](const dns::result& res) {
            if (res.st == dns::status::nxdomain || res.st == dns::status::nodata) {
                answer_cached(*sp, "fcrdns", fail("fcrdns=no-ptr"), done);
                return;
            }
            if (!res.ok()) {
                check_answer a;
                a.note = std::string("fcrdns=temperror(") + dns::status_name(res.st) + ")";
                done(a);  // not remembered: a later recipient may try again
                return;
            }
            auto names = std::make_shared<std::vector<std::string>>(res.names);
            if (names->size() > max_ptr_names) names->resize(max_ptr_names);
            forward(p, sp, client, names, 0, false, done);
        });
        return holder;
    }

private:
    struct holder_t final : pending {
        explicit holder_t(std::shared_ptr<dns_pending> p) : p(std::move(p)) {}
        ~holder_t() override { p->q.reset(); }
        std::shared_ptr<dns_pending> p;
    };
    check_answer fail(std::string note) const {
        check_answer a;
        a.k = check_answer::kind::final;
        a.note = std::move(note);
        a.action = _action;
        return a;
    }
    void forward(std::shared_ptr<dns_pending> p, message_state* sp, ip_addr client,
                 std::shared_ptr<std::vector<std::string>> names, size_t i, bool trouble, done_fn done) {
        if (i >= names->size()) {
            if (trouble) {
                check_answer a;
                a.note = "fcrdns=temperror";
                done(a);
                return;
            }
            answer_cached(*sp, "fcrdns", fail("fcrdns=mismatch"), done);
            return;
        }
        std::string name = (*names)[i];
        auto type = client.family == AF_INET ? dns::rr_type::a : dns::rr_type::aaaa;
        p->q = _s.resolver.lookup(name, type, [this, p, sp, client, names, i, trouble, done, name](const dns::result& r) {
            if (r.ok())
                for (const auto& a : r.addresses) {
                    auto ip = parse_ip_addr(a);
                    if (ip && *ip == client) {
                        check_answer ok;
                        ok.note = "fcrdns=" + reply_safe(name, 100);
                        answer_cached(*sp, "fcrdns", ok, done);
                        return;
                    }
                }
            bool t = trouble || r.st == dns::status::temporary || r.st == dns::status::timeout;
            forward(p, sp, client, names, i + 1, t, done);
        });
    }

    services& _s;
    std::string _action;
};

// ---- helo -------------------------------------------------------------------------------

// LDH (and '_', which real hosts use) labels, at least two, the last not all digits.
bool fqdn_syntax(std::string_view h) {
    if (!h.empty() && h.back() == '.') h.remove_suffix(1);
    if (h.empty() || h.size() > 253) return false;
    auto labels = split_char(h, '.');
    if (labels.size() < 2) return false;
    for (const auto& l : labels) {
        if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
        for (char c : l)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    }
    const auto& top = labels.back();
    bool digits = true;
    for (char c : top) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    return !digits;
}

class helo_check final : public policy_check {
public:
    explicit helo_check(services& s) : _s(s) { _me = to_lower(s.cfg.get("myhostname")); }
    const char* name() const override { return "helo"; }
    bool applies(const policy_request& r) const override {
        return r.client.has_value() && !r.helo_name.empty() && r.protocol_state != "CONNECT";
    }
    std::unique_ptr<pending> start(const policy_request& r, message_state& st, done_fn done) override {
        if (auto it = st.client.find("helo"); it != st.client.end()) {
            done(*it->second);
            return nullptr;
        }
        const std::string& h = r.helo_name;
        std::string shown = reply_safe(h, 100);
        if (h.front() == '[') {
            std::string lit = h.back() == ']' ? h.substr(1, h.size() - 2) : std::string();
            if (istarts_with(lit, "ipv6:")) lit = lit.substr(5);
            auto a = parse_ip_addr(lit);
            if (!a) {
                answer_cached(st, "helo", refuse("helo=bad-literal", "504 5.5.2 Helo command rejected: invalid address literal " + shown), done);
            } else if (!(*a == *r.client)) {
                answer_cached(st, "helo", refuse("helo=literal-mismatch", "550 5.7.1 Helo command rejected: address literal " + shown + " is not your address [" + r.client->str() + "]"), done);
            } else {
                check_answer ok;
                ok.note = "helo=literal";
                answer_cached(st, "helo", ok, done);
            }
            return nullptr;
        }
        if (!fqdn_syntax(h)) {
            answer_cached(st, "helo", refuse("helo=not-fqdn", "504 5.5.2 Helo command rejected: need fully-qualified hostname"), done);
            return nullptr;
        }
        std::string name = to_lower(h);
        if (name.back() == '.') name.pop_back();
        if (!_me.empty() && name == _me) {
            answer_cached(st, "helo", refuse("helo=forged", "550 5.7.1 Helo command rejected: you are not me"), done);
            return nullptr;
        }
        auto p = std::make_shared<dns_pending>();
        auto holder = std::make_unique<holder_t>(p);
        message_state* sp = &st;
        p->q = _s.resolver.lookup_addresses(name, [this, p, sp, name, done](const dns::result& res) {
            if (res.ok()) {
                check_answer ok;
                ok.note = "helo=ok";
                answer_cached(*sp, "helo", ok, done);
                return;
            }
            if (res.st != dns::status::nxdomain && res.st != dns::status::nodata) {
                check_answer t;
                t.note = "helo=temperror";
                done(t);
                return;
            }
            p->q = _s.resolver.lookup_mx(name, [this, sp, done](const dns::result& mx) {
                if (mx.ok() && !mx.null_mx) {
                    check_answer ok;
                    ok.note = "helo=mx";
                    answer_cached(*sp, "helo", ok, done);
                    return;
                }
                if (mx.st != dns::status::nxdomain && mx.st != dns::status::nodata && !mx.ok()) {
                    check_answer t;
                    t.note = "helo=temperror";
                    done(t);
                    return;
                }
                answer_cached(*sp, "helo", refuse("helo=unknown", "450 4.7.1 Helo command rejected: Host not found"), done);
            });
        });
        return holder;
    }

private:
    struct holder_t final : pending {
        explicit holder_t(std::shared_ptr<dns_pending> p) : p(std::move(p)) {}
        ~holder_t() override { p->q.reset(); }
        std::shared_ptr<dns_pending> p;
    };
    static check_answer refuse(std::string note, std::string action) {
        check_answer a;
        a.k = check_answer::kind::final;
        a.note = std::move(note);
        a.action = std::move(action);
        return a;
    }
    services& _s;
    std::string _me;
};

}  // namespace

std::unique_ptr<policy_check> make_fcrdns_check(services& s, std::string&) {
    return std::make_unique<fcrdns_check>(s, s.cfg.get("spamd_fcrdns_action"));
}

std::unique_ptr<policy_check> make_helo_check(services& s, std::string&) { return std::make_unique<helo_check>(s); }

}  // namespace spamd
