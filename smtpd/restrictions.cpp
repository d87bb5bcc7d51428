// restrictions.cpp - see restrictions.hpp. The vocabulary is Postfix's;
// reply codes come from the *_reject_code parameters and texts follow
// Postfix ("<addr>: Recipient address rejected: ...") so that log readers
// and tools that know Postfix feel at home.
// SECURITY: relay control; DNS answers and policy replies are untrusted and
// only ever select among fixed outcomes.
#include "smtpd/restrictions.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include "lib/addr.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtpd/recipients.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {

struct name_row {
    const char* name;
    rkind kind;
    enum { none, table, endpoint } arg;
};

const name_row names[] = {
    {"permit", rkind::permit, name_row::none},
    {"reject", rkind::reject, name_row::none},
    {"defer", rkind::defer, name_row::none},
    {"dunno", rkind::dunno, name_row::none},
    {"defer_if_permit", rkind::defer_if_permit, name_row::none},
    {"defer_if_reject", rkind::defer_if_reject, name_row::none},
    {"warn_if_reject", rkind::warn_if_reject, name_row::none},
    {"permit_mynetworks", rkind::permit_mynetworks, name_row::none},
    {"permit_sasl_authenticated", rkind::permit_sasl_authenticated, name_row::none},
    {"permit_auth_destination", rkind::permit_auth_destination, name_row::none},
    {"reject_unauth_destination", rkind::reject_unauth_destination, name_row::none},
    {"defer_unauth_destination", rkind::defer_unauth_destination, name_row::none},
    {"reject_unauth_pipelining", rkind::reject_unauth_pipelining, name_row::none},
    {"reject_unlisted_recipient", rkind::reject_unlisted_recipient, name_row::none},
    {"check_client_access", rkind::check_client_access, name_row::table},
    {"check_reverse_client_hostname_access", rkind::check_reverse_client_hostname_access, name_row::table},
    {"check_helo_access", rkind::check_helo_access, name_row::table},
    {"check_sender_access", rkind::check_sender_access, name_row::table},
    {"check_recipient_access", rkind::check_recipient_access, name_row::table},
    {"check_policy_service", rkind::check_policy_service, name_row::endpoint},
    {"reject_invalid_helo_hostname", rkind::reject_invalid_helo_hostname, name_row::none},
    {"reject_invalid_hostname", rkind::reject_invalid_helo_hostname, name_row::none},
    {"reject_non_fqdn_helo_hostname", rkind::reject_non_fqdn_helo_hostname, name_row::none},
    {"reject_non_fqdn_hostname", rkind::reject_non_fqdn_helo_hostname, name_row::none},
    {"reject_unknown_helo_hostname", rkind::reject_unknown_helo_hostname, name_row::none},
    {"reject_non_fqdn_sender", rkind::reject_non_fqdn_sender, name_row::none},
    {"reject_non_fqdn_recipient", rkind::reject_non_fqdn_recipient, name_row::none},
    {"reject_unknown_sender_domain", rkind::reject_unknown_sender_domain, name_row::none},
    {"reject_unknown_recipient_domain", rkind::reject_unknown_recipient_domain, name_row::none},
    {"reject_unknown_client_hostname", rkind::reject_unknown_client_hostname, name_row::none},
    {"reject_unknown_client", rkind::reject_unknown_client_hostname, name_row::none},
    {"reject_unknown_reverse_client_hostname", rkind::reject_unknown_reverse_client_hostname, name_row::none},
};

// The first digit of an enhanced status code follows the reply code.
std::string fix_dsn(int code, std::string dsn) {
    if (dsn.size() < 5 || (dsn[0] != '2' && dsn[0] != '4' && dsn[0] != '5')) dsn = "5.7.1";
    dsn[0] = static_cast<char>('0' + code / 100);
    return dsn;
}

bool looks_like_dsn(std::string_view w) {
    // d.d{1,3}.d{1,3}
    if (w.size() < 5 || w.size() > 9) return false;
    auto parts = split_char(w, '.');
    if (parts.size() != 3 || parts[0].size() != 1) return false;
    for (const auto& p : parts) {
        if (p.empty() || p.size() > 3) return false;
        for (char c : p)
            if (c < '0' || c > '9') return false;
    }
    return w[0] == '2' || w[0] == '4' || w[0] == '5';
}

// "a.b.example.com" -> {"a.b.example.com", "b.example.com", "example.com", "com"}
std::vector<std::string> domain_keys(const std::string& d) {
    std::vector<std::string> keys;
    std::string_view v = d;
    while (!v.empty()) {
        keys.emplace_back(v);
        auto dot = v.find('.');
        if (dot == std::string_view::npos) break;
        v = v.substr(dot + 1);
    }
    return keys;
}

// "192.0.2.1" -> {"192.0.2.1", "192.0.2", "192.0", "192"}; IPv6 by ':' groups.
std::vector<std::string> address_keys(const std::string& a) {
    std::vector<std::string> keys{a};
    char sep = a.find(':') != std::string::npos ? ':' : '.';
    std::string v = a;
    for (;;) {
        auto p = v.rfind(sep);
        if (p == std::string::npos || p == 0) break;
        v = v.substr(0, p);
        while (!v.empty() && v.back() == sep) v.pop_back();
        if (v.empty()) break;
        keys.push_back(v);
    }
    return keys;
}

// Postfix's lookup order for an address: user@domain, domain (and parents), user@.
std::vector<std::string> mail_keys(const std::string& addr) {
    if (addr.empty()) return {"<>"};
    std::vector<std::string> keys{to_lower(addr)};
    auto at = addr.rfind('@');
    if (at == std::string::npos) return keys;
    for (auto& k : domain_keys(to_lower(addr.substr(at + 1)))) keys.push_back(k);
    keys.push_back(to_lower(addr.substr(0, at + 1)));
    return keys;
}

std::string domain_of(const std::string& addr) {
    auto at = addr.rfind('@');
    return at == std::string::npos ? "" : to_lower(addr.substr(at + 1));
}

}  // namespace

const char* stage_name(stage s) {
    switch (s) {
    case stage::connect: return "CONNECT";
    case stage::helo: return "EHLO";
    case stage::mail: return "MAIL";
    case stage::rcpt: return "RCPT";
    case stage::data: return "DATA";
    case stage::end_of_data: return "END-OF-MESSAGE";
    case stage::etrn: return "ETRN";
    }
    return "?";
}

std::optional<restriction_list> parse_restrictions(const std::vector<std::string>& words, const map_options& opts,
                                                   std::string& err) {
    restriction_list out;
    for (size_t i = 0; i < words.size(); ++i) {
        std::string w = to_lower(words[i]);
        const name_row* row = nullptr;
        for (const auto& n : names)
            if (w == n.name) row = &n;
        if (!row) {
            err = "unknown restriction \"" + words[i] + "\"";
            return std::nullopt;
        }
        restriction r{row->kind, w, nullptr, ""};
        if (row->arg != name_row::none) {
            if (i + 1 >= words.size()) {
                err = w + " needs an argument";
                return std::nullopt;
            }
            std::string arg = words[++i];
            if (row->arg == name_row::table) {
                if (!parse_table_spec(arg)) {
                    err = w + ": \"" + arg + "\" is not a type:name table";
                    return std::nullopt;
                }
                std::vector<config_error> errors;
                auto m = map_list::parse(arg, opts, errors);
                if (!m) {
                    err = w + ": " + (errors.empty() ? "cannot open " + arg : errors.front().str());
                    return std::nullopt;
                }
                for (const auto& e : errors) log::warn("%s", e.str().c_str());
                r.table = std::make_shared<map_list>(std::move(*m));
            } else {
                r.endpoint = arg;
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

action parse_action(std::string_view value, int reject_code, int defer_code) {
    action a;
    std::string_view v = trim(value);
    auto sp = v.find_first_of(" \t");
    std::string word = to_upper(v.substr(0, sp));
    std::string rest = sp == std::string_view::npos ? "" : std::string(trim(v.substr(sp)));
    auto take_dsn = [&](int code, const char* dflt) {
        auto s2 = rest.find_first_of(" \t");
        std::string first = rest.substr(0, s2);
        if (looks_like_dsn(first)) {
            a.dsn = fix_dsn(code, first);
            rest = s2 == std::string::npos ? "" : std::string(trim(std::string_view(rest).substr(s2)));
        } else {
            a.dsn = fix_dsn(code, dflt);
        }
        a.text = rest;
    };
    if (word == "OK" || word == "PERMIT") a.k = action::kind::permit;
    else if (word == "DUNNO") a.k = action::kind::dunno;
    else if (word == "REJECT") {
        a.k = action::kind::reject;
        a.code = reject_code;
        take_dsn(reject_code, "5.7.1");
    } else if (word == "DEFER" || word == "DEFER_IF_PERMIT" || word == "DEFER_IF_REJECT") {
        a.k = word == "DEFER" ? action::kind::defer
              : word == "DEFER_IF_PERMIT" ? action::kind::defer_if_permit
                                          : action::kind::defer_if_reject;
        a.code = defer_code;
        take_dsn(defer_code, "4.7.1");
    } else if (word == "WARN") {
        a.k = action::kind::warn;
        a.text = rest;
    } else if (word == "HOLD") {
        a.k = action::kind::hold;
        a.text = rest;
    } else if (word == "DISCARD") {
        a.k = action::kind::discard;
        a.text = rest;
    } else if (word == "PREPEND") {
        a.k = action::kind::prepend;
        a.text = rest;
    } else if (word.size() == 3 && word[0] >= '2' && word[0] <= '5' && parse_u64(word)) {
        int code = static_cast<int>(*parse_u64(word));
        if (code < 200 || code > 599) {
            a.k = action::kind::invalid;
            a.text = std::string(v);
        } else if (code < 400) {
            a.k = action::kind::permit;
        } else {
            a.k = code < 500 ? action::kind::defer : action::kind::reject;
            a.code = code;
            take_dsn(code, code < 500 ? "4.7.1" : "5.7.1");
        }
    } else if (word.empty()) {
        a.k = action::kind::invalid;
    } else {
        bool known = false;
        for (const auto& n : names)
            if (to_lower(word) == n.name) known = true;
        a.k = known ? action::kind::restriction : action::kind::invalid;
        a.text = std::string(v);
    }
    return a;
}

// ---------------------------------------------------------------- the engine

restriction_eval::restriction_eval(session& s) : _s(s) {}
restriction_eval::~restriction_eval() = default;

void restriction_eval::run(stage st, std::vector<const restriction_list*> lists, std::string subject, done_fn done,
                           std::string given) {
    _stage = st;
    _lists = std::move(lists);
    _rcpt = std::move(subject);
    _rcpt_given = given.empty() ? _rcpt : std::move(given);
    _list = _index = 0;
    _nested.clear();
    _in_nested = false;
    _nested_index = 0;
    _defer_if_permit.reset();
    _defer_if_reject = _warn_if_reject = false;
    _policy_answer.reset();
    _done = std::move(done);
    loop();
}

const restriction* restriction_eval::current() {
    for (;;) {
        if (_in_nested) {
            if (_nested_index < _nested.size()) return &_nested[_nested_index];
            _in_nested = false;
            _nested.clear();
            ++_index;
            continue;
        }
        if (_list >= _lists.size()) return nullptr;
        if (_index < _lists[_list]->size()) return &(*_lists[_list])[_index];
        ++_list;
        _index = 0;
    }
}

void restriction_eval::next_list() {
    _in_nested = false;
    _nested.clear();
    ++_list;
    _index = 0;
}

void restriction_eval::loop() {
    if (_running || !_done) return;
    _running = true;
    for (;;) {
        const restriction* r = current();
        if (!r) {
            if (_defer_if_permit) {
                finish(*_defer_if_permit);
            } else {
                verdict v;
                v.k = verdict::kind::permit;
                finish(v);
            }
            break;
        }
        bool warn = _warn_if_reject && r->kind != rkind::warn_if_reject;
        auto res = step(*r);
        if (res == step_result::pending) break;
        if (warn) _warn_if_reject = false;
        if (res == step_result::reject) {
            if (warn) {
                log::info("%s: reject_warning: %s from %s: %d %s %s", _s.queue_id.empty() ? "NOQUEUE" : _s.queue_id.c_str(),
                          stage_name(_stage), _s.client.label().c_str(), _result.code, _result.dsn.c_str(),
                          _result.text.c_str());
                res = step_result::next;
            } else {
                finish(_result);
                break;
            }
        }
        if (res == step_result::permit) {
            next_list();
            continue;
        }
        // next
        if (_in_nested)
            ++_nested_index;
        else
            ++_index;
    }
    _running = false;
}

void restriction_eval::finish(verdict v) {
    _dns.reset();
    _policy.reset();
    auto done = std::move(_done);
    _done = nullptr;
    if (done) done(v);
}

std::string restriction_eval::target(const char* what) const {
    const context& c = _s.ctx;
    const restriction_list* l = _list < _lists.size() ? _lists[_list] : nullptr;
    if (l == &c.client_r) return "<" + _s.client.label() + ">: " + (what ? what : "Client host rejected");
    if (l == &c.helo_r) return "<" + printable(_s.helo, 100) + ">: " + (what ? what : "Helo command rejected");
    if (l == &c.sender_r) return "<" + _s.tx.sender + ">: " + (what ? what : "Sender address rejected");
    if (l == &c.data_r) return std::string("<DATA>: ") + (what ? what : "Data command rejected");
    if (l == &c.eod_r) return std::string("<END-OF-MESSAGE>: ") + (what ? what : "End-of-data rejected");
    if (l == &c.etrn_r) return "<" + _rcpt + ">: " + (what ? what : "Etrn command rejected");
    return "<" + _rcpt + ">: " + (what ? what : "Recipient address rejected");
}

restriction_eval::step_result restriction_eval::reject_with(int code, std::string dsn, std::string text) {
    if (_defer_if_reject && code >= 500) code = 450;
    _result.k = verdict::kind::reject;
    _result.code = code;
    _result.dsn = fix_dsn(code, std::move(dsn));
    _result.text = std::move(text);
    return step_result::reject;
}

restriction_eval::step_result restriction_eval::apply_action(const action& a) {
    const settings& cf = _s.ctx.s;
    switch (a.k) {
    case action::kind::permit: return step_result::permit;
    case action::kind::dunno: return step_result::next;
    case action::kind::reject:
    case action::kind::defer:
        return reject_with(a.code, a.dsn, target() + ": " + (a.text.empty() ? "Access denied" : a.text));
    case action::kind::defer_if_permit: {
        verdict v;
        v.k = verdict::kind::reject;
        v.code = a.code;
        v.dsn = a.dsn;
        v.text = target() + ": " + (a.text.empty() ? "Try again later" : a.text);
        if (!_defer_if_permit) _defer_if_permit = v;
        return step_result::next;
    }
    case action::kind::defer_if_reject: _defer_if_reject = true; return step_result::next;
    case action::kind::warn:
        log::info("%s: warn: %s from %s: %s", _s.queue_id.empty() ? "NOQUEUE" : _s.queue_id.c_str(), stage_name(_stage),
                  _s.client.label().c_str(), printable(a.text).c_str());
        return step_result::next;
    case action::kind::hold:
        // tern has no hold-on-arrival yet: the message is accepted normally
        log::warn("%s: HOLD from %s ignored (not supported): %s", _s.queue_id.empty() ? "NOQUEUE" : _s.queue_id.c_str(),
                  _s.client.label().c_str(), printable(a.text).c_str());
        return step_result::next;
    case action::kind::discard:
        _s.tx.discard = true;
        return step_result::permit;
    case action::kind::prepend: {
        // a header "Name: value"; anything else is ignored
        auto colon = a.text.find(':');
        if (colon == std::string::npos || colon == 0 || a.text.find_first_of("\r\n") != std::string::npos ||
            a.text.size() > 998) {
            log::warn("bad PREPEND header ignored: %s", printable(a.text).c_str());
            return step_result::next;
        }
        _s.tx.prepend.push_back(a.text);
        return step_result::next;
    }
    case action::kind::restriction: {
        if (_in_nested) {
            log::warn("restriction class inside a restriction class: %s", printable(a.text).c_str());
            return reject_with(451, "4.3.5", "Server configuration error");
        }
        std::string err;
        auto list = parse_restrictions(split_table_list(a.text), map_options(), err);
        if (!list) {
            log::warn("bad access table result \"%s\": %s", printable(a.text).c_str(), err.c_str());
            return reject_with(451, "4.3.5", "Server configuration error");
        }
        _nested = std::move(*list);
        _nested_index = 0;
        _in_nested = true;
        // step() must not advance: the caller's "next" moves inside the class
        --_nested_index;
        return step_result::next;
    }
    case action::kind::invalid:
        log::warn("unknown access table or policy action \"%s\"", printable(a.text).c_str());
        (void)cf;
        return reject_with(451, "4.3.5", "Server configuration error");
    }
    return step_result::next;
}

const dns::result* restriction_eval::dns_cached(const std::string& key, dns::rr_type type, const std::string& name) {
    auto it = _s.dns_cache.find(key);
    if (it != _s.dns_cache.end()) return &it->second;
    if (_s.dns_cache.size() > 1000) _s.dns_cache.clear();
    if (!_s.ctx.resolver) {
        dns::result r;
        r.st = dns::status::temporary;
        r.error = "no DNS resolver";
        return &(_s.dns_cache[key] = r);
    }
    auto cb = [this, key](const dns::result& r) {
        _s.dns_cache[key] = r;
        loop();
    };
    if (type == dns::rr_type::mx)
        _dns = _s.ctx.resolver->lookup_mx(name, cb);
    else
        _dns = _s.ctx.resolver->lookup_addresses(name, cb);
    return nullptr;
}

bool restriction_eval::auth_destination() const {
    auto at = _rcpt.rfind('@');
    std::string local = at == std::string::npos ? _rcpt : _rcpt.substr(0, at);
    std::string domain = domain_of(_rcpt);
    if (!_s.ctx.recipients) return false;
    std::string err;
    auto cls = _s.ctx.recipients->classify(domain, err);
    if (!cls) return false;
    unsigned routing = routing_chars(local);
    if (routing & route_at) return false;
    switch (*cls) {
    case domain_class::local:
    case domain_class::virtual_alias:
    case domain_class::virtual_mailbox: return true;
    case domain_class::relay: return (routing & (route_percent | route_bang)) == 0;
    case domain_class::other: return false;
    }
    return false;
}

restriction_eval::step_result restriction_eval::unauth_destination(int code, const char* dsn, bool permit_only) {
    if (_stage != stage::rcpt) return step_result::next;
    std::string domain = domain_of(_rcpt);
    std::string err;
    if (_s.ctx.recipients && !_s.ctx.recipients->classify(domain, err)) {
        log::warn("%s: relay check for <%s>: %s", _s.client.label().c_str(), _rcpt.c_str(), err.c_str());
        return reject_with(451, "4.3.0", "<" + _rcpt + ">: Temporary lookup failure");
    }
    bool ok = auth_destination();
    if (permit_only) return ok ? step_result::permit : step_result::next;
    if (ok) return step_result::next;
    return reject_with(code, dsn, "<" + _rcpt + ">: Relay access denied");
}

restriction_eval::step_result restriction_eval::unknown_domain(const std::string& addr, bool sender) {
    const settings& cf = _s.ctx.s;
    std::string domain = domain_of(addr);
    if (domain.empty() || domain.front() == '[') return step_result::next;
    const char* who = sender ? "Sender address rejected" : "Recipient address rejected";
    std::string prefix = "<" + addr + ">: " + who + ": ";
    const dns::result* mx = dns_cached("mx:" + domain, dns::rr_type::mx, domain);
    if (!mx) return step_result::pending;
    auto temp = [&](const dns::result& r) {
        return r.st == dns::status::temporary || r.st == dns::status::timeout || r.st == dns::status::bogus;
    };
    if (mx->ok()) {
        if (mx->null_mx)
            return reject_with(cf.unknown_address_code, sender ? "5.7.27" : "5.1.10",
                               prefix + "Domain " + domain + " does not accept mail (nullMX)");
        return step_result::next;
    }
    if (temp(*mx))
        return reject_with(cf.unknown_address_tempfail_code, sender ? "4.1.8" : "4.1.2",
                           prefix + "Domain not found (temporary DNS failure)");
    if (mx->st == dns::status::nxdomain)
        return reject_with(cf.unknown_address_code, sender ? "5.1.8" : "5.1.2", prefix + "Domain not found");
    // no MX: the domain's own A/AAAA records receive its mail
    const dns::result* a = dns_cached("addr:" + domain, dns::rr_type::a, domain);
    if (!a) return step_result::pending;
    if (a->ok() && !a->addresses.empty()) return step_result::next;
    if (temp(*a))
        return reject_with(cf.unknown_address_tempfail_code, sender ? "4.1.8" : "4.1.2",
                           prefix + "Domain not found (temporary DNS failure)");
    return reject_with(cf.unknown_address_code, sender ? "5.1.8" : "5.1.2", prefix + "Domain not found");
}

restriction_eval::step_result restriction_eval::unknown_client(bool reverse_only) {
    const client_info& c = _s.client;
    name_status st = reverse_only ? c.reverse_st : c.name_st;
    if (st == name_status::ok) return step_result::next;
    std::string text = std::string("Client host rejected: cannot find your ") + (reverse_only ? "reverse " : "") +
                       "hostname, [" + c.addr + "]";
    int code = st == name_status::tempfail ? 450 : _s.ctx.s.unknown_client_code;
    return reject_with(code, "4.7.25", text);
}

restriction_eval::step_result restriction_eval::unknown_helo() {
    const std::string& h = _s.helo;
    if (h.empty() || h.front() == '[' || !valid_helo_hostname(h)) return step_result::next;
    std::string name = to_lower(h);
    while (!name.empty() && name.back() == '.') name.pop_back();
    const dns::result* a = dns_cached("addr:" + name, dns::rr_type::a, name);
    if (!a) return step_result::pending;
    if (a->ok() && !a->addresses.empty()) return step_result::next;
    const dns::result* mx = dns_cached("mx:" + name, dns::rr_type::mx, name);
    if (!mx) return step_result::pending;
    if (mx->ok() && !mx->null_mx) return step_result::next;
    bool temp = a->st == dns::status::temporary || a->st == dns::status::timeout || mx->st == dns::status::temporary ||
                mx->st == dns::status::timeout;
    return reject_with(temp ? 450 : _s.ctx.s.unknown_client_code, "4.7.1",
                       "<" + printable(h, 100) + ">: Helo command rejected: Host not found");
}

restriction_eval::step_result restriction_eval::access_lookup(const restriction& r) {
    std::vector<std::string> keys;
    switch (r.kind) {
    case rkind::check_client_access:
        if (_s.client.name != "unknown") keys = domain_keys(_s.client.name);
        for (auto& k : address_keys(_s.client.addr)) keys.push_back(k);
        break;
    case rkind::check_reverse_client_hostname_access:
        if (_s.client.reverse_name != "unknown") keys = domain_keys(_s.client.reverse_name);
        break;
    case rkind::check_helo_access:
        if (_s.helo.empty()) return step_result::next;
        keys = domain_keys(to_lower(_s.helo));
        break;
    case rkind::check_sender_access:
        if (!_s.tx.active) return step_result::next;
        keys = mail_keys(_s.tx.sender);
        break;
    case rkind::check_recipient_access:
        if (_stage != stage::rcpt) return step_result::next;
        keys = mail_keys(_rcpt);
        break;
    default: return step_result::next;
    }
    for (const auto& k : keys) {
        auto res = r.table->lookup(k);
        if (res.failed()) {
            log::warn("%s: %s lookup of %s: %s", _s.client.label().c_str(), r.name.c_str(), printable(k).c_str(),
                      res.error.c_str());
            return reject_with(451, "4.3.0", target() + ": Temporary lookup failure");
        }
        if (res.found())
            return apply_action(parse_action(res.value, _s.ctx.s.access_reject_code, _s.ctx.s.access_defer_code));
    }
    return step_result::next;
}

attr_list restriction_eval::policy_request() const {
    const session& s = _s;
    attr_list a;
    auto add = [&](const char* k, const std::string& v) {
        // raw mode: a value must not hold a line break
        std::string clean = v;
        for (auto& c : clean)
            if (c == '\n' || c == '\r') c = ' ';
        a.add(k, clean);
    };
    std::string state = stage_name(_stage);
    if (_stage == stage::helo) state = s.esmtp ? "EHLO" : "HELO";
    if (_stage == stage::data && s.tx.bdat_active) state = "BDAT";
    add("request", "smtpd_access_policy");
    add("protocol_state", state);
    add("protocol_name", s.esmtp ? "ESMTP" : "SMTP");
    add("helo_name", s.helo);
    add("queue_id", s.queue_id);
    add("sender", s.tx.sender);
    add("recipient", _stage == stage::rcpt ? _rcpt : "");
    add("recipient_count", std::to_string(s.tx.rcpts.size()));
    add("client_address", s.client.addr);
    add("client_name", s.client.name);
    add("reverse_client_name", s.client.reverse_name);
    add("instance", s.tx.instance);
    add("sasl_method", s.sasl_method);
    add("sasl_username", s.sasl_user);
    add("sasl_sender", s.tx.auth_param);
    add("size", std::to_string(s.tx.size));
    add("ccert_subject", "");
    add("ccert_issuer", "");
    add("ccert_fingerprint", "");
    add("ccert_pubkey_fingerprint", "");
    std::string proto, cipher, bits;
    if (s.tls_active) {
        if (SSL* ssl = const_cast<session&>(s).io().ssl()) {
            proto = SSL_get_version(ssl);
            cipher = SSL_get_cipher_name(ssl);
            bits = std::to_string(SSL_get_cipher_bits(ssl, nullptr));
        }
    }
    add("encryption_protocol", proto);
    add("encryption_cipher", cipher);
    add("encryption_keysize", bits);
    add("etrn_domain", _stage == stage::etrn ? _rcpt : "");
    add("stress", "");
    add("server_address", s.client.server_addr);
    add("server_port", std::to_string(s.client.server_port));
    add("client_port", std::to_string(s.client.port));
    add("policy_context", "");
    add("compatibility_level", "3.9");
    add("mail_version", "tern");
    return a;
}

restriction_eval::step_result restriction_eval::policy_check(const restriction& r) {
    const settings& cf = _s.ctx.s;
    if (_policy_answer) {
        std::string answer = std::move(*_policy_answer);
        _policy_answer.reset();
        _policy.reset();
        if (answer.empty()) answer = cf.policy_default_action;
        action a = parse_action(answer, cf.access_reject_code, cf.access_defer_code);
        if (a.k == action::kind::restriction) {
            log::warn("policy service %s answered a restriction name (%s); ignored", r.endpoint.c_str(),
                      printable(answer).c_str());
            return step_result::next;
        }
        return apply_action(a);
    }
    std::string endpoint = r.endpoint;
    _policy = _s.ctx.policy(endpoint).ask(policy_request(), [this, endpoint](std::optional<std::string> act,
                                                                             const std::string& err) {
        if (!act) log::warn("problem talking to policy service %s: %s", endpoint.c_str(), err.c_str());
        _policy_answer = act.value_or("");
        loop();
    });
    return step_result::pending;
}

restriction_eval::step_result restriction_eval::step(const restriction& r) {
    const settings& cf = _s.ctx.s;
    const session& s = _s;
    switch (r.kind) {
    case rkind::permit: return step_result::permit;
    case rkind::reject: return reject_with(cf.reject_code, "5.7.1", target() + ": Access denied");
    case rkind::defer: return reject_with(cf.defer_code, "4.7.1", target() + ": Try again later");
    case rkind::dunno: return step_result::next;
    case rkind::defer_if_permit: {
        verdict v;
        v.k = verdict::kind::reject;
        v.code = cf.defer_code;
        v.dsn = "4.7.1";
        v.text = target() + ": Try again later";
        if (!_defer_if_permit) _defer_if_permit = v;
        return step_result::next;
    }
    case rkind::defer_if_reject: _defer_if_reject = true; return step_result::next;
    case rkind::warn_if_reject: _warn_if_reject = true; return step_result::next;
    case rkind::permit_mynetworks: {
        auto m = _s.ctx.mynetworks.match(std::string_view(s.client.addr));
        if (m == match_result::yes) return step_result::permit;
        if (m == match_result::error) {
            log::warn("mynetworks lookup for %s: %s", s.client.addr.c_str(), _s.ctx.mynetworks.last_error().c_str());
            return reject_with(451, "4.3.0", target() + ": Temporary lookup failure");
        }
        return step_result::next;
    }
    case rkind::permit_sasl_authenticated: return s.is_authenticated() ? step_result::permit : step_result::next;
    case rkind::permit_auth_destination: return unauth_destination(0, "", true);
    case rkind::reject_unauth_destination: return unauth_destination(cf.relay_reject_code, "5.7.1", false);
    case rkind::defer_unauth_destination: return unauth_destination(cf.defer_code, "4.7.1", false);
    case rkind::reject_unauth_pipelining:
        if ((!s.esmtp || cf.discard_ehlo.count("PIPELINING")) && s.input_pending())
            return reject_with(503, "5.5.0", target() + ": Improper use of SMTP command pipelining");
        return step_result::next;
    case rkind::reject_unlisted_recipient: {
        if (_stage != stage::rcpt || !_s.ctx.recipients) return step_result::next;
        auto v = _s.ctx.recipients->check(_rcpt, cf.unknown_local_code, cf.unknown_virtual_mailbox_code,
                                          cf.unknown_virtual_alias_code, cf.unknown_relay_code);
        if (v.k == recipient_verdict::kind::ok) return step_result::next;
        return reject_with(v.code, v.dsn, "<" + _rcpt + ">: " + v.text);
    }
    case rkind::check_client_access:
    case rkind::check_reverse_client_hostname_access:
    case rkind::check_helo_access:
    case rkind::check_sender_access:
    case rkind::check_recipient_access: return access_lookup(r);
    case rkind::check_policy_service: return policy_check(r);
    case rkind::reject_invalid_helo_hostname:
        if (s.helo.empty() || valid_helo_hostname(s.helo)) return step_result::next;
        return reject_with(cf.invalid_hostname_code, "5.5.2",
                           "<" + printable(s.helo, 100) + ">: Helo command rejected: Invalid name");
    case rkind::reject_non_fqdn_helo_hostname:
        if (s.helo.empty() || is_fqdn_helo(s.helo)) return step_result::next;
        return reject_with(cf.non_fqdn_code, "5.5.2",
                           "<" + printable(s.helo, 100) + ">: Helo command rejected: need fully-qualified hostname");
    case rkind::reject_unknown_helo_hostname: return unknown_helo();
    case rkind::reject_non_fqdn_sender: {
        if (!s.tx.active || s.tx.sender.empty()) return step_result::next;
        std::string d = domain_of(s.tx.sender_given);
        if (s.tx.sender_given.find('@') != std::string::npos && (is_fqdn(d) || valid_address_literal(d)))
            return step_result::next;
        return reject_with(cf.non_fqdn_code, "5.5.2",
                           "<" + s.tx.sender_given + ">: Sender address rejected: need fully-qualified address");
    }
    case rkind::reject_non_fqdn_recipient: {
        if (_stage != stage::rcpt) return step_result::next;
        std::string d = domain_of(_rcpt_given);
        if (_rcpt_given.find('@') != std::string::npos && (is_fqdn(d) || valid_address_literal(d)))
            return step_result::next;
        return reject_with(cf.non_fqdn_code, "5.5.2",
                           "<" + _rcpt_given + ">: Recipient address rejected: need fully-qualified address");
    }
    case rkind::reject_unknown_sender_domain:
        if (!s.tx.active || s.tx.sender.empty()) return step_result::next;
        return unknown_domain(s.tx.sender, true);
    case rkind::reject_unknown_recipient_domain: {
        if (_stage != stage::rcpt) return step_result::next;
        std::string err;
        auto cls = _s.ctx.recipients ? _s.ctx.recipients->classify(domain_of(_rcpt), err) : std::nullopt;
        // our own domains need no DNS
        if (cls && *cls != domain_class::other && *cls != domain_class::relay) return step_result::next;
        return unknown_domain(_rcpt, false);
    }
    case rkind::reject_unknown_client_hostname: return unknown_client(false);
    case rkind::reject_unknown_reverse_client_hostname: return unknown_client(true);
    }
    return step_result::next;
}

}  // namespace tern::smtpd
