// check_spf.cpp - the spf policy check: RFC 7208 check_host() (lib/spf) of
// the MAIL FROM identity (postmaster@HELO for the null sender), once per
// message; the action per result comes from spf_<result>_action.
// Reply codes: fail/softfail 550 5.7.23 or 451 4.7.23, permerror/temperror
// 550 5.7.24 or 451 4.7.24 (RFC 7372 "SPF validation failed"/"error").
// SECURITY: the explanation comes from the sender's DNS; it is reduced to
// printable ASCII and cut before it goes into a reply.
#include <ctime>

#include "lib/dns.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "spamd/policy.hpp"

using namespace tern;

namespace spamd {
namespace {

enum class what { ignore, prepend, reject, defer };

std::optional<what> parse_what(const std::string& v) {
    std::string l = to_lower(v);
    if (l == "ignore") return what::ignore;
    if (l == "prepend") return what::prepend;
    if (l == "reject") return what::reject;
    if (l == "defer") return what::defer;
    return std::nullopt;
}

class spf_pending final : public pending {
public:
    std::unique_ptr<spf::check> chk;
};

class spf_check final : public policy_check {
public:
    spf_check(services& s, std::map<spf::result, what> acts) : _s(s), _acts(std::move(acts)) {
        _lim = spf::limits_from_config(s.cfg);
        _receiver = s.cfg.get("myhostname");
        _default_exp = s.cfg.get("spf_default_explanation");
    }
    const char* name() const override { return "spf"; }
    bool applies(const policy_request& r) const override {
        const std::string& st = r.protocol_state;
        return r.client && (st == "MAIL" || st == "RCPT" || st == "DATA" || st == "BDAT" || st == "END-OF-MESSAGE");
    }
    std::unique_ptr<pending> start(const policy_request& r, message_state& st, done_fn done) override {
        spf::request req;
        req.ip = r.client_address;
        req.sender = r.sender;
        req.helo = r.helo_name;
        req.receiver = _receiver;
        req.default_explanation = _default_exp;
        if (st.spf) {
            done(answer(*st.spf, req));
            return nullptr;
        }
        auto p = std::make_unique<spf_pending>();
        message_state* sp = &st;
        p->chk = spf::check_host(_s.loop, _s.resolver, req, _lim, [this, sp, req, done](const spf::outcome& o) {
            sp->spf = o;
            done(answer(o, req));
        });
        return p;
    }

private:
    check_answer answer(const spf::outcome& o, const spf::request& req) const {
        check_answer a;
        a.note = std::string("spf=") + spf::result_name(o.res);
        if (!o.problem.empty() && (o.res == spf::result::permerror || o.res == spf::result::temperror))
            a.note += " (" + reply_safe(o.problem, 200) + ")";
        what w = _acts.at(o.res);
        bool error = o.res == spf::result::permerror || o.res == spf::result::temperror;
        std::string domain = reply_safe(o.domain, 100);
        std::string text;
        switch (o.res) {
        case spf::result::fail: text = "SPF fail: " + reply_safe(o.explanation, 300); break;
        case spf::result::softfail:
            text = "SPF softfail: " + domain + " does not designate " + reply_safe(req.ip, 60) + " as a permitted sender";
            break;
        case spf::result::permerror: text = "SPF permanent error for " + domain + ": " + reply_safe(o.problem, 200); break;
        case spf::result::temperror:
            text = "SPF temporary error for " + domain + ": " + reply_safe(o.problem, 200) + "; try again later";
            break;
        default: text = std::string("SPF ") + spf::result_name(o.res) + " for " + domain; break;
        }
        switch (w) {
        case what::ignore: break;
        case what::prepend: a.header = spf::received_spf_header(o, req); break;
        case what::reject:
            a.k = check_answer::kind::final;
            a.action = std::string(error ? "550 5.7.24 " : "550 5.7.23 ") + text;
            break;
        case what::defer:
            a.k = check_answer::kind::final;
            a.action = std::string(error ? "451 4.7.24 " : "451 4.7.23 ") + text;
            break;
        }
        return a;
    }

    services& _s;
    std::map<spf::result, what> _acts;
    spf::limits _lim;
    std::string _receiver;
    std::string _default_exp;
};

}  // namespace

std::unique_ptr<policy_check> make_spf_check(services& s, std::string& err) {
    std::map<spf::result, what> acts;
    for (auto r : {spf::result::none, spf::result::neutral, spf::result::pass, spf::result::fail, spf::result::softfail,
                   spf::result::temperror, spf::result::permerror}) {
        std::string param = std::string("spf_") + spf::result_name(r) + "_action";
        auto w = parse_what(s.cfg.get(param));
        if (!w) {
            err = param + " = " + s.cfg.get(param) + ": expected reject, defer, prepend or ignore";
            return nullptr;
        }
        acts[r] = *w;
    }
    return std::make_unique<spf_check>(s, std::move(acts));
}

}  // namespace spamd
