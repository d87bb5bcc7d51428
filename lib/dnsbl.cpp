// dnsbl.cpp - see dnsbl.hpp. Site syntax, reply filters, the TTL cache and
// the parallel check of one client against every list.
// SECURITY: list answers come from the network; only A records inside
// 127.0.0.0/8 that pass the site's filter count.
#include "lib/dnsbl.hpp"

#include <arpa/inet.h>
#include <ctime>
#include <map>
#include <set>

#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::dnsbl {

bool octet_pattern::matches(int v) const {
    if (ranges.empty()) return true;
    for (const auto& [lo, hi] : ranges)
        if (v >= lo && v <= hi) return true;
    return false;
}

namespace {

std::optional<int> octet_number(std::string_view s) {
    if (s.empty() || s.size() > 3) return std::nullopt;
    auto v = parse_u64(s);
    if (!v || *v > 255) return std::nullopt;
    return static_cast<int>(*v);
}

// "4", "[2..11]", "[2;4;10..12]"
bool parse_octet(std::string_view s, octet_pattern& p, std::string& err) {
    if (s.empty()) {
        err = "empty octet";
        return false;
    }
    if (s.front() != '[') {
        auto v = octet_number(s);
        if (!v) {
            err = "bad octet \"" + printable(s, 40) + "\"";
            return false;
        }
        p.ranges = {{*v, *v}};
        return true;
    }
    if (s.back() != ']' || s.size() < 3) {
        err = "unterminated [...] in \"" + printable(s, 40) + "\"";
        return false;
    }
    for (const auto& part : split_char(s.substr(1, s.size() - 2), ';')) {
        auto dots = part.find("..");
        std::optional<int> lo, hi;
        if (dots == std::string::npos) {
            lo = hi = octet_number(part);
        } else {
            lo = octet_number(std::string_view(part).substr(0, dots));
            hi = octet_number(std::string_view(part).substr(dots + 2));
        }
        if (!lo || !hi || *lo > *hi) {
            err = "bad range \"" + printable(part, 40) + "\"";
            return false;
        }
        p.ranges.emplace_back(*lo, *hi);
    }
    return true;
}

}  // namespace

std::optional<site> parse_site(std::string_view spec, std::string& err) {
    site s;
    s.text = std::string(spec);
    std::string_view rest = spec;
    auto star = rest.rfind('*');
    if (star != std::string_view::npos) {
        auto w = parse_i64(rest.substr(star + 1));
        if (!w || *w < -1000000 || *w > 1000000) {
            err = "bad weight in \"" + printable(spec, 80) + "\"";
            return std::nullopt;
        }
        s.weight = static_cast<int>(*w);
        rest = rest.substr(0, star);
    }
    auto eq = rest.find('=');
    std::string_view domain = rest.substr(0, eq);
    if (eq != std::string_view::npos) {
        std::string_view f = rest.substr(eq + 1);
        // four octet patterns; dots inside [..] belong to ranges
        std::vector<std::string_view> octets;
        size_t start = 0;
        int depth = 0;
        for (size_t i = 0; i <= f.size(); ++i) {
            if (i < f.size() && f[i] == '[') ++depth;
            if (i < f.size() && f[i] == ']') --depth;
            if (i == f.size() || (f[i] == '.' && depth == 0)) {
                octets.push_back(f.substr(start, i - start));
                start = i + 1;
            }
        }
        if (octets.size() != 4) {
            err = "filter \"" + printable(f, 80) + "\" is not four octets";
            return std::nullopt;
        }
        std::array<octet_pattern, 4> pats;
        for (size_t i = 0; i < 4; ++i)
            if (!parse_octet(octets[i], pats[i], err)) {
                err = "\"" + printable(spec, 80) + "\": " + err;
                return std::nullopt;
            }
        s.filter = pats;
    }
    std::string d = to_lower(domain);
    while (!d.empty() && d.back() == '.') d.pop_back();
    std::string why;
    if (!dns::valid_query_name(d, why) || d.find('.') == std::string::npos) {
        err = "bad list domain in \"" + printable(spec, 80) + "\"";
        return std::nullopt;
    }
    s.domain = d;
    return s;
}

bool parse_sites(const std::vector<std::string>& specs, std::vector<site>& out, std::string& err) {
    out.clear();
    for (const auto& spec : specs) {
        auto s = parse_site(spec, err);
        if (!s) return false;
        out.push_back(std::move(*s));
    }
    return true;
}

bool reply_matches(const site& s, const ip_addr& reply) {
    if (reply.family != AF_INET || reply.bytes[0] != 127) return false;
    if (!s.filter) return true;
    for (size_t i = 0; i < 4; ++i)
        if (!(*s.filter)[i].matches(reply.bytes[i])) return false;
    return true;
}

std::optional<std::string> query_name(const ip_addr& client, std::string_view domain) {
    auto rev = dns::reverse_name(client.str());
    if (!rev) return std::nullopt;
    for (std::string_view suffix : {".in-addr.arpa", ".ip6.arpa"}) {
        if (rev->size() > suffix.size() && rev->compare(rev->size() - suffix.size(), suffix.size(), suffix) == 0) {
            rev->resize(rev->size() - suffix.size());
            return *rev + "." + std::string(domain);
        }
    }
    return std::nullopt;
}

verdict combine(const std::vector<site>& sites,
                const std::unordered_map<std::string, std::vector<std::string>>& answers,
                const std::vector<std::string>& errors) {
    verdict v;
    v.errors = errors;
    for (const auto& s : sites) {
        auto it = answers.find(s.domain);
        if (it == answers.end()) continue;
        for (const auto& a : it->second) {
            auto ip = parse_ip_addr(a);
            if (!ip || !reply_matches(s, *ip)) continue;
            v.score += s.weight;
            v.hits.push_back(s.domain + "=" + a + "*" + std::to_string(s.weight));
            break;  // a site counts once
        }
    }
    return v;
}

// ---- cache ------------------------------------------------------------------------

const answer_cache::entry* answer_cache::find(const std::string& name, int64_t now) {
    auto it = _map.find(name);
    if (it == _map.end()) return nullptr;
    if (it->second.e.expires <= now) {
        _order.erase(it->second.pos);
        _map.erase(it);
        return nullptr;
    }
    return &it->second.e;
}

void answer_cache::put(const std::string& name, std::vector<std::string> addresses, uint32_t ttl, int64_t now) {
    if (_capacity == 0) return;
    int64_t keep = std::min<int64_t>(ttl, _max_ttl);
    if (keep <= 0) return;  // TTL 0: not to be kept
    auto it = _map.find(name);
    if (it != _map.end()) {
        _order.erase(it->second.pos);
        _map.erase(it);
    }
    while (_map.size() >= _capacity && !_order.empty()) {
        _map.erase(_order.front());
        _order.pop_front();
    }
    _order.push_back(name);
    _map[name] = slot{entry{std::move(addresses), now + keep}, std::prev(_order.end())};
}

// ---- checker -------------------------------------------------------------------------

checker::checker(event_loop& loop, dns::resolver& res, std::vector<site> sites, size_t cache_size, int64_t max_ttl)
    : _loop(loop), _res(res), _sites(std::move(sites)), _cache(cache_size, max_ttl) {}

class check_run final : public checker::pending {
public:
    check_run(checker& c, const ip_addr& client, checker::callback cb)
        : _c(c), _cb(std::move(cb)), _done(c._loop, [this] { deliver(); }) {
        int64_t now = static_cast<int64_t>(std::time(nullptr));
        std::set<std::string> domains;
        for (const auto& s : c._sites) domains.insert(s.domain);
        for (const auto& d : domains) {
            auto name = query_name(client, d);
            if (!name) {
                _errors.push_back(d + ": client is not an IP address");
                continue;
            }
            if (auto e = c._cache.find(*name, now)) {
                _answers[d] = e->addresses;
                continue;
            }
            std::string qname = *name;
            ++_waiting;
            _queries.push_back(c._res.lookup(qname, dns::rr_type::a, [this, d, qname](const dns::result& r) {
                answer(d, qname, r);
            }));
        }
        if (_waiting == 0) _done.start(std::chrono::milliseconds(0));
    }
    ~check_run() override { _done.stop(); }

private:
    void answer(const std::string& domain, const std::string& qname, const dns::result& r) {
        int64_t now = static_cast<int64_t>(std::time(nullptr));
        if (r.ok()) {
            _answers[domain] = r.addresses;
            _c._cache.put(qname, r.addresses, r.ttl, now);
            for (const auto& a : r.addresses) {
                auto ip = parse_ip_addr(a);
                if (ip && (ip->family != AF_INET || ip->bytes[0] != 127))
                    log::warn("dnsbl %s answered %s for %s: not in 127.0.0.0/8, ignored", domain.c_str(), a.c_str(),
                              qname.c_str());
            }
        } else if (r.st == dns::status::nxdomain || r.st == dns::status::nodata) {
            _answers[domain] = {};
            _c._cache.put(qname, {}, r.ttl, now);
        } else {
            _errors.push_back(domain + ": " + dns::status_name(r.st) + (r.error.empty() ? "" : " (" + r.error + ")"));
        }
        if (--_waiting == 0) deliver();
    }
    void deliver() {
        if (!_cb) return;
        auto v = combine(_c._sites, _answers, _errors);
        auto cb = std::move(_cb);
        _cb = nullptr;
        cb(v);  // may destroy *this
    }

    checker& _c;
    checker::callback _cb;
    timer _done;
    size_t _waiting = 0;
    std::vector<std::unique_ptr<dns::query>> _queries;
    std::unordered_map<std::string, std::vector<std::string>> _answers;
    std::vector<std::string> _errors;
};

std::unique_ptr<checker::pending> checker::check(const ip_addr& client, callback cb) {
    return std::make_unique<check_run>(*this, client, std::move(cb));
}

}  // namespace tern::dnsbl
