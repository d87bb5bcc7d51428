// spf_check.cpp - check_host() of RFC 7208 as an asynchronous state machine
// on lib/dns: a stack of frames (the checked domain and include targets;
// redirect replaces a frame), one DNS query in flight at a time, a lookup
// counter, a void-lookup counter and an overall time limit. Called by
// spamd's policy service and `tern-spam spf`.
// SECURITY: everything evaluated comes from DNS or the SMTP client. The
// evaluation ends after at most `dns_mechanisms` DNS-causing terms (each
// with at most `mx_ptr_names` follow-up queries), `max_depth` frames or
// `time_limit`; a DNS failure is a temperror, never a crash.
#include <arpa/inet.h>
#include <ctime>
#include <map>

#include "lib/config.hpp"
#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/log.hpp"
#include "lib/spf.hpp"
#include "lib/strutil.hpp"

namespace tern::spf {
namespace {

bool is_void(const dns::result& r) { return r.st == dns::status::nxdomain || r.st == dns::status::nodata; }
bool is_error(const dns::result& r) {
    return r.st == dns::status::temporary || r.st == dns::status::timeout || r.st == dns::status::bogus;
}

std::string lower_name(std::string_view s) {
    std::string r = to_lower(s);
    while (!r.empty() && r.back() == '.') r.pop_back();
    return r;
}

std::string strip_dot(std::string s) {
    while (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

// name equals domain or is below it
bool within(const std::string& name, const std::string& domain) {
    if (name == domain) return true;
    return name.size() > domain.size() && name.compare(name.size() - domain.size(), domain.size(), domain) == 0 &&
           name[name.size() - domain.size() - 1] == '.';
}

class evaluation final : public check {
public:
    evaluation(event_loop& loop, dns::resolver& res, request req, limits lim, callback cb)
        : _res(res), _req(std::move(req)), _lim(lim), _cb(std::move(cb)),
          _deadline(loop, [this] { fail_now(result::temperror, "SPF evaluation took longer than the time limit"); }),
          _start(loop, [this] { begin(); }) {
        _start.start(std::chrono::milliseconds(0));
        _deadline.start(_lim.time_limit);
    }
    ~evaluation() override {
        _deadline.stop();
        _start.stop();
    }

private:
    enum class step { next, matched, wait };

    struct frame {
        std::string domain;  // as written, without a trailing dot
        record rec;
        size_t pos = 0;
        bool include = false;  // entered through include: (else the top or a redirect of it)
    };

    // ---- plumbing ---------------------------------------------------------------
    void finish(result r, std::string problem = {}) {
        if (!_cb) return;
        _q.reset();
        _deadline.stop();
        _out.res = r;
        if (!problem.empty()) _out.problem = std::move(problem);
        _out.dns_lookups = _lookups;
        _out.void_lookups = _voids;
        auto cb = std::move(_cb);
        _cb = nullptr;
        cb(_out);  // may destroy *this
    }
    void fail_now(result r, std::string why) { finish(r, std::move(why)); }

    // Start one query; its answer continues through k. lookup_raw: names made
    // by macro expansion may hold any byte.
    void ask(const std::string& name, dns::rr_type type, std::function<void(const dns::result&)> k) {
        _q = _res.lookup_raw(name, type, [this, k = std::move(k)](const dns::result& r) {
            if (!_cb) return;
            k(r);
        });
    }
    void ask_ptr(std::function<void(const dns::result&)> k) {
        _q = _res.lookup_ptr(_ip.str(), [this, k = std::move(k)](const dns::result& r) {
            if (!_cb) return;
            k(r);
        });
    }

    bool count_lookup() {
        if (++_lookups > _lim.dns_mechanisms) {
            fail_now(result::permerror,
                     "more than " + std::to_string(_lim.dns_mechanisms) + " DNS-querying mechanisms and modifiers");
            return false;
        }
        return true;
    }
    bool count_void(const dns::result& r) {
        if (!is_void(r)) return true;
        if (++_voids > _lim.void_lookups) {
            fail_now(result::permerror, "more than " + std::to_string(_lim.void_lookups) + " void DNS lookups");
            return false;
        }
        return true;
    }

    macro_input macros(const std::string& domain) const {
        macro_input m;
        m.sender = _out.sender;
        m.domain = domain;
        m.ip = _ip;
        m.helo = _req.helo;
        m.receiver = _req.receiver.empty() ? "unknown" : _req.receiver;
        m.timestamp = _req.timestamp ? _req.timestamp : static_cast<int64_t>(std::time(nullptr));
        auto it = _validated.find(lower_name(domain));
        if (it != _validated.end()) m.validated = it->second;
        return m;
    }

    // ---- start ------------------------------------------------------------------
    void begin() {
        auto ip = parse_ip_addr(_req.ip);
        if (!ip) {
            fail_now(result::permerror, "client address \"" + printable(_req.ip, 60) + "\" is not an IP address");
            return;
        }
        _ip = *ip;
        if (_req.sender.size() > 512 || _req.helo.size() > 255) {
            _out.identity = _req.sender.empty() ? "helo" : "mailfrom";
            fail_now(result::none, "sender or HELO name too long");
            return;
        }
        std::string domain;
        if (_req.sender.empty()) {
            _out.identity = "helo";
            _out.sender = "postmaster@" + _req.helo;
            domain = _req.helo;
        } else {
            _out.identity = "mailfrom";
            auto parts = split_sender(_req.sender);
            if (!parts) {
                _out.sender = _req.sender;
                fail_now(result::none, "sender address has no domain");
                return;
            }
            _out.sender = parts->local + "@" + parts->domain;
            domain = parts->domain;
        }
        _out.domain = domain;
        if (!valid_identity_domain(domain)) {
            fail_now(result::none, "\"" + printable(domain, 80) + "\" is not a domain name SPF can check");
            return;
        }
        fetch_record(strip_dot(domain), [this](const record& r, const std::string& d) {
            frame f;
            f.domain = d;
            f.rec = r;
            _stack.push_back(std::move(f));
            run();
        }, true);
    }

    // Look up and select the SPF record of domain. top: "none" is a result
    // (else, for include and redirect, it is a permerror).
    void fetch_record(const std::string& domain, std::function<void(const record&, const std::string&)> k, bool top) {
        ask(domain, dns::rr_type::txt, [this, domain, k = std::move(k), top](const dns::result& r) {
            if (is_error(r)) {
                fail_now(result::temperror, "DNS lookup of TXT " + domain + ": " + dns::status_name(r.st) +
                                                (r.error.empty() ? "" : " (" + r.error + ")"));
                return;
            }
            const std::string* found = nullptr;
            int count = 0;
            for (const auto& t : r.txt)
                if (is_spf_record(t)) {
                    found = &t;
                    ++count;
                }
            if (count == 0) {
                std::string why = "no SPF record at " + domain;
                fail_now(top ? result::none : result::permerror, why);
                return;
            }
            if (count > 1) {
                fail_now(result::permerror, "more than one SPF record at " + domain);
                return;
            }
            std::string err;
            auto rec = parse_record(*found, err);
            if (!rec) {
                fail_now(result::permerror, domain + ": " + err);
                return;
            }
            k(*rec, domain);
        });
    }

    // ---- the frame loop -----------------------------------------------------------
    void run() {
        while (_cb) {
            if (_stack.empty()) return;
            frame& f = _stack.back();
            if (f.pos >= f.rec.mechanisms.size()) {
                end_of_record();
                return;
            }
            const mechanism& m = f.rec.mechanisms[f.pos];
            step s = evaluate(m);
            if (s == step::wait) return;
            if (s == step::matched) {
                frame_result(m.qualifier, m.text);
                return;
            }
            ++_stack.back().pos;
        }
    }

    // Mechanism m of the top frame answered (async path).
    void resume(bool matched) {
        if (!_cb || _stack.empty()) return;
        frame& f = _stack.back();
        const mechanism& m = f.rec.mechanisms[f.pos];
        if (matched) {
            frame_result(m.qualifier, m.text);
            return;
        }
        ++f.pos;
        run();
    }

    void end_of_record() {
        frame& f = _stack.back();
        if (!f.rec.redirect) {
            frame_result(result::neutral, "default");
            return;
        }
        if (!count_lookup()) return;
        auto target = target_name(*f.rec.redirect, f.domain, [this] { end_of_record_again(); });
        if (!target) return;
        if (target->empty()) {
            fail_now(result::permerror, "redirect= names no valid domain");
            return;
        }
        fetch_record(*target, [this](const record& r, const std::string& d) {
            frame& top = _stack.back();
            top.domain = d;
            top.rec = r;
            top.pos = 0;
            run();
        }, false);
    }
    // %{p} was computed for a redirect target: expand again without counting twice.
    void end_of_record_again() {
        --_lookups;
        end_of_record();
    }

    // The frame on top ended with r.
    void frame_result(result r, const std::string& mech) {
        frame f = std::move(_stack.back());
        _stack.pop_back();
        if (!f.include) {
            _out.mechanism = mech;
            if (r == result::fail) {
                explain(f);
                return;
            }
            finish(r);
            return;
        }
        // RFC 7208 5.2: include matches on pass only
        resume(r == result::pass);
    }

    // Expand a domain-spec (or use the frame's domain when empty). nullopt:
    // the evaluation ended (permerror) or is waiting for %{p}, after which
    // again() runs. "" means the name cannot be asked (treated as no match).
    std::optional<std::string> target_name(const std::string& spec, const std::string& domain,
                                           std::function<void()> again) {
        if (spec.empty()) return domain;
        if (uses_validated_name(spec) && !_validated.count(lower_name(domain))) {
            compute_validated(domain, std::move(again));
            return std::nullopt;
        }
        std::string err;
        auto e = expand(spec, macros(domain), macro_use::domain, err);
        if (!e) {
            fail_now(result::permerror, "macro expansion: " + err);
            return std::nullopt;
        }
        std::string name = query_name(std::move(*e));
        std::string why;
        if (!dns::escape_query_name(name, why)) return std::string();
        return name;
    }

    step evaluate(const mechanism& m) {
        frame& f = _stack.back();
        switch (m.kind) {
        case mech_kind::all: return step::matched;
        case mech_kind::ip4:
        case mech_kind::ip6: {
            if (m.net.family != _ip.family) return step::next;
            ip_net n{m.net, m.kind == mech_kind::ip4 ? m.cidr4 : m.cidr6};
            return n.contains(_ip) ? step::matched : step::next;
        }
        default: break;
        }
        if (!_term_counted) {
            if (!count_lookup()) return step::wait;
            _term_counted = true;
        }
        auto again = [this] { run(); };
        auto target = target_name(m.domain_spec, f.domain, again);
        if (!target) return step::wait;
        _term_counted = false;
        if (target->empty()) return step::next;  // an unaskable name matches nothing
        switch (m.kind) {
        case mech_kind::include: do_include(*target); return step::wait;
        case mech_kind::a: do_a(*target, m); return step::wait;
        case mech_kind::mx: do_mx(*target, m); return step::wait;
        case mech_kind::ptr: do_ptr(*target); return step::wait;
        case mech_kind::exists: do_exists(*target); return step::wait;
        default: return step::next;
        }
    }

    void do_include(const std::string& target) {
        if (_stack.size() >= static_cast<size_t>(_lim.max_depth)) {
            fail_now(result::permerror, "include nesting deeper than " + std::to_string(_lim.max_depth));
            return;
        }
        fetch_record(strip_dot(target), [this](const record& r, const std::string& d) {
            frame f;
            f.domain = d;
            f.rec = r;
            f.include = true;
            _stack.push_back(std::move(f));
            run();
        }, false);
    }

    dns::rr_type family_type() const { return _ip.family == AF_INET ? dns::rr_type::a : dns::rr_type::aaaa; }

    bool address_matches(const dns::result& r, int cidr4, int cidr6) const {
        for (const auto& a : r.addresses) {
            auto ip = parse_ip_addr(a);
            if (!ip || ip->family != _ip.family) continue;
            ip_net n{*ip, _ip.family == AF_INET ? cidr4 : cidr6};
            if (n.contains(_ip)) return true;
        }
        return false;
    }

    void do_a(const std::string& target, const mechanism& m) {
        int c4 = m.cidr4, c6 = m.cidr6;
        ask(target, family_type(), [this, target, c4, c6](const dns::result& r) {
            if (is_error(r)) {
                fail_now(result::temperror, "DNS lookup of " + target + ": " + dns::status_name(r.st));
                return;
            }
            if (!count_void(r)) return;
            resume(r.ok() && address_matches(r, c4, c6));
        });
    }

    void do_mx(const std::string& target, const mechanism& m) {
        int c4 = m.cidr4, c6 = m.cidr6;
        ask(target, dns::rr_type::mx, [this, target, c4, c6](const dns::result& r) {
            if (is_error(r)) {
                fail_now(result::temperror, "DNS lookup of MX " + target + ": " + dns::status_name(r.st));
                return;
            }
            if (!count_void(r)) return;
            if (!r.ok() || r.mx.empty()) {
                resume(false);
                return;
            }
            if (r.mx.size() > static_cast<size_t>(_lim.mx_ptr_names)) {
                fail_now(result::permerror,
                         target + " has more than " + std::to_string(_lim.mx_ptr_names) + " MX records");
                return;
            }
            auto hosts = std::make_shared<std::vector<std::string>>();
            for (const auto& mx : r.mx) hosts->push_back(mx.host);
            mx_host(hosts, 0, c4, c6);
        });
    }
    void mx_host(std::shared_ptr<std::vector<std::string>> hosts, size_t i, int c4, int c6) {
        if (i >= hosts->size()) {
            resume(false);
            return;
        }
        std::string host = (*hosts)[i];
        ask(host, family_type(), [this, hosts, i, c4, c6, host](const dns::result& r) {
            if (is_error(r)) {
                fail_now(result::temperror, "DNS lookup of MX host " + host + ": " + dns::status_name(r.st));
                return;
            }
            if (r.ok() && address_matches(r, c4, c6)) {
                resume(true);
                return;
            }
            mx_host(hosts, i + 1, c4, c6);
        });
    }

    // The client's PTR names (at most mx_ptr_names), looked up once.
    void ptr_names(std::function<void(const std::vector<std::string>&)> k) {
        if (_ptr_done) {
            k(_ptr);
            return;
        }
        ask_ptr([this, k = std::move(k)](const dns::result& r) {
            _ptr_done = true;
            _ptr_void = is_void(r);
            if (r.ok())
                for (const auto& n : r.names) {
                    if (_ptr.size() >= static_cast<size_t>(_lim.mx_ptr_names)) break;
                    _ptr.push_back(lower_name(n));
                }
            k(_ptr);
        });
    }

    // Validate names in order: does one of its addresses equal the client's?
    // k gets the first validated name, or "" when none is. DNS errors skip
    // the name (RFC 7208 5.5).
    void validate(std::shared_ptr<std::vector<std::string>> names, size_t i, std::function<void(std::string)> k) {
        if (i >= names->size()) {
            k("");
            return;
        }
        std::string name = (*names)[i];
        ask(name, family_type(), [this, names, i, k = std::move(k), name](const dns::result& r) mutable {
            if (r.ok()) {
                for (const auto& a : r.addresses) {
                    auto ip = parse_ip_addr(a);
                    if (ip && *ip == _ip) {
                        k(name);
                        return;
                    }
                }
            }
            validate(names, i + 1, std::move(k));
        });
    }

    void do_ptr(const std::string& target) {
        std::string t = lower_name(target);
        bool first = !_ptr_done;
        ptr_names([this, t, first](const std::vector<std::string>& names) {
            // the PTR query is this mechanism's lookup: a void answer counts
            if (first && _ptr_void && ++_voids > _lim.void_lookups) {
                fail_now(result::permerror, "more than " + std::to_string(_lim.void_lookups) + " void DNS lookups");
                return;
            }
            auto cands = std::make_shared<std::vector<std::string>>();
            for (const auto& n : names)
                if (within(n, t)) cands->push_back(n);
            validate(cands, 0, [this](std::string v) { resume(!v.empty()); });
        });
    }

    void do_exists(const std::string& target) {
        ask(target, dns::rr_type::a, [this, target](const dns::result& r) {
            if (is_error(r)) {
                fail_now(result::temperror, "DNS lookup of " + target + ": " + dns::status_name(r.st));
                return;
            }
            if (!count_void(r)) return;
            resume(r.ok() && !r.addresses.empty());
        });
    }

    // %{p} for domain (RFC 7208 7.3): a validated name equal to domain, else
    // one below it, else any validated name, else "unknown".
    void compute_validated(const std::string& domain, std::function<void()> again) {
        std::string d = lower_name(domain);
        ptr_names([this, d, again = std::move(again)](const std::vector<std::string>& names) {
            auto order = std::make_shared<std::vector<std::string>>();
            for (const auto& n : names)
                if (n == d) order->push_back(n);
            for (const auto& n : names)
                if (n != d && within(n, d)) order->push_back(n);
            for (const auto& n : names)
                if (!within(n, d)) order->push_back(n);
            validate(order, 0, [this, d, again](std::string v) {
                _validated[d] = v.empty() ? "unknown" : v;
                again();
            });
        });
    }

    // ---- explanation (RFC 7208 6.2) ---------------------------------------------------
    void explain(const frame& f) {
        _exp_domain = lower_name(f.domain);
        _exp_domain_text = f.domain;
        if (!f.rec.exp) {
            default_explanation();
            return;
        }
        std::string spec = *f.rec.exp;
        if (uses_validated_name(spec) && !_validated.count(_exp_domain)) {
            compute_validated(_exp_domain, [this, f] { explain(f); });
            return;
        }
        std::string err;
        auto e = expand(spec, macros(f.domain), macro_use::domain, err);
        std::string why;
        if (!e || !dns::escape_query_name(query_name(*e), why)) {
            default_explanation();
            return;
        }
        ask(query_name(*e), dns::rr_type::txt, [this](const dns::result& r) {
            if (!r.ok() || r.txt.size() != 1) {
                default_explanation();
                return;
            }
            explanation_text(r.txt[0], false);
        });
    }

    void default_explanation() { explanation_text(_req.default_explanation, true); }

    void explanation_text(const std::string& text, bool is_default) {
        for (char c : text) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u > 0x7E) {
                if (is_default) {
                    finish(result::fail);
                    return;
                }
                default_explanation();
                return;
            }
        }
        if (uses_validated_name(text) && !_validated.count(_exp_domain)) {
            compute_validated(_exp_domain, [this, text, is_default] { explanation_text(text, is_default); });
            return;
        }
        std::string err;
        auto e = expand(text, macros(_exp_domain_text), macro_use::explanation, err, 2048);
        if (!e) {
            if (!is_default) {
                default_explanation();
                return;
            }
            _out.explanation = text;
        } else {
            _out.explanation = *e;
        }
        finish(result::fail);
    }

    dns::resolver& _res;
    request _req;
    limits _lim;
    callback _cb;
    timer _deadline;
    timer _start;
    std::unique_ptr<dns::query> _q;
    outcome _out;
    ip_addr _ip;
    std::vector<frame> _stack;
    int _lookups = 0;
    int _voids = 0;
    bool _term_counted = false;  // the current term's lookup is counted (waiting for %{p})
    bool _ptr_done = false;
    bool _ptr_void = false;
    std::vector<std::string> _ptr;
    std::map<std::string, std::string> _validated;  // domain -> %{p}
    std::string _exp_domain;       // lower case, for %{p}
    std::string _exp_domain_text;  // as written, for %{d}
};

}  // namespace

limits limits_from_config(const config& cfg) {
    limits l;
    l.dns_mechanisms = static_cast<int>(cfg.get_int("spf_lookup_limit"));
    l.void_lookups = static_cast<int>(cfg.get_int("spf_void_lookup_limit"));
    l.time_limit = std::chrono::milliseconds(cfg.get_time("spf_time_limit") * 1000);
    return l;
}

std::unique_ptr<check> check_host(event_loop& loop, dns::resolver& res, const request& req, const limits& lim,
                                  callback cb) {
    return std::make_unique<evaluation>(loop, res, req, lim, std::move(cb));
}

}  // namespace tern::spf
