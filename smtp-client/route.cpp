// route.cpp - see route.hpp.
#include "smtp-client/route.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <climits>
#include <set>

#include "lib/strutil.hpp"

namespace tern::smtp_client {

std::optional<std::string> numeric_address(std::string_view s) {
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    if (istarts_with(s, "ipv6:")) s = s.substr(5);
    if (s.empty() || s.size() > 64) return std::nullopt;
    std::string str(s);
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (inet_pton(AF_INET, str.c_str(), bin) == 1) {
        inet_ntop(AF_INET, bin, buf, sizeof buf);
        return std::string(buf);
    }
    if (inet_pton(AF_INET6, str.c_str(), bin) == 1) {
        inet_ntop(AF_INET6, bin, buf, sizeof buf);
        return std::string(buf);
    }
    return std::nullopt;
}

bool is_ipv6(std::string_view addr) { return addr.find(':') != std::string_view::npos; }

namespace {

bool valid_host_name(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    for (unsigned char c : h)
        if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
    return true;
}

}  // namespace

std::optional<nexthop> parse_nexthop(std::string_view s, std::string& err) {
    s = trim(s);
    nexthop n;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) {
            err = "missing ']' in next hop";
            return std::nullopt;
        }
        n.host = std::string(s.substr(1, close - 1));
        n.no_mx = true;
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                err = "junk after ']' in next hop";
                return std::nullopt;
            }
            port = rest.substr(1);
            if (port.empty()) {
                err = "empty port in next hop";
                return std::nullopt;
            }
        }
    } else {
        auto colon = s.rfind(':');
        if (colon != std::string_view::npos && s.find(':') == colon) {
            n.host = std::string(s.substr(0, colon));
            port = s.substr(colon + 1);
            if (port.empty()) {
                err = "empty port in next hop";
                return std::nullopt;
            }
        } else if (colon != std::string_view::npos) {
            err = "an IPv6 next hop must be bracketed: [" + std::string(s) + "]";
            return std::nullopt;
        } else {
            n.host = std::string(s);
        }
    }
    if (!port.empty()) {
        auto p = parse_u64(port);
        if (!p || *p == 0 || *p > 65535) {
            err = "bad port in next hop: " + printable(port, 20);
            return std::nullopt;
        }
        n.port = static_cast<int>(*p);
    }
    if (auto ip = numeric_address(n.host)) {
        n.host = *ip;
        n.ip_literal = true;
        n.no_mx = true;
        return n;
    }
    if (!n.host.empty() && n.host.back() == '.') n.host.pop_back();
    if (!valid_host_name(n.host)) {
        err = "bad host name in next hop: " + printable(n.host, 80);
        return std::nullopt;
    }
    n.host = to_lower(n.host);
    return n;
}

void order_mx(std::vector<mx_entry>& mx, std::mt19937& rng) {
    std::shuffle(mx.begin(), mx.end(), rng);
    std::stable_sort(mx.begin(), mx.end(),
                     [](const mx_entry& a, const mx_entry& b) { return a.preference < b.preference; });
}

bool parse_addr_pref(std::string_view s, addr_pref& out) {
    std::string v = to_lower(trim(s));
    if (v == "any") out = addr_pref::any;
    else if (v == "ipv4") out = addr_pref::ipv4;
    else if (v == "ipv6") out = addr_pref::ipv6;
    else return false;
    return true;
}

families parse_families(const std::vector<std::string>& inet_protocols) {
    families f{false, false};
    for (const auto& p : inet_protocols) {
        std::string v = to_lower(p);
        if (v == "all") f.v4 = f.v6 = true;
        else if (v == "ipv4") f.v4 = true;
        else if (v == "ipv6") f.v6 = true;
    }
    if (!f.v4 && !f.v6) f.v4 = f.v6 = true;
    return f;
}

std::vector<std::string> order_addresses(std::vector<std::string> addrs, addr_pref pref, families fam,
                                         std::mt19937& rng) {
    std::vector<std::string> out;
    for (auto& a : addrs) {
        bool v6 = is_ipv6(a);
        if ((v6 && fam.v6) || (!v6 && fam.v4)) out.push_back(std::move(a));
    }
    std::shuffle(out.begin(), out.end(), rng);
    if (pref != addr_pref::any) {
        bool want6 = pref == addr_pref::ipv6;
        std::stable_partition(out.begin(), out.end(), [want6](const std::string& a) { return is_ipv6(a) == want6; });
    }
    return out;
}

candidate_list make_candidates(const std::vector<resolved_host>& hosts, size_t limit,
                               const std::vector<std::string>& self_names,
                               const std::vector<std::string>& self_addrs) {
    candidate_list out;
    int self_pref = INT_MAX;
    for (const auto& h : hosts) {
        bool self = false;
        for (const auto& n : self_names)
            if (!n.empty() && iequals(n, h.name)) self = true;
        for (const auto& a : h.addrs)
            for (const auto& s : self_addrs)
                if (a == s) self = true;
        if (self) self_pref = std::min(self_pref, h.preference);
    }
    out.found_self = self_pref != INT_MAX;
    std::set<std::string> seen;
    for (const auto& h : hosts) {
        if (h.preference >= self_pref) continue;
        for (const auto& a : h.addrs) {
            if (!seen.insert(a).second) continue;
            if (limit && out.servers.size() >= limit) return out;
            out.servers.push_back({h.name, a, h.preference});
        }
    }
    return out;
}

}  // namespace tern::smtp_client
