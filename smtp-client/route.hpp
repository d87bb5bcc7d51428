// route.hpp - where a delivery goes: the next hop the qmgr names
// ("example.net", "example.net:2525", "[mx.example.net]", "[192.0.2.1]:25",
// "[ipv6:2001:db8::1]"), the order of its mail exchangers (RFC 5321 5.1:
// preference, random among equal preferences), and the list of server
// addresses to try. Pure functions: the DNS answers come in as data.
// SECURITY: names and addresses come from DNS answers and are only compared
// and copied, never interpreted beyond numeric address parsing.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tern::smtp_client {

struct nexthop {
    std::string host;         // domain, host name or address, without brackets
    int port = 0;             // 0: smtp_remote_port
    bool no_mx = false;       // [host]: use the host's own addresses
    bool ip_literal = false;  // host is a numeric address: no DNS at all
};

// nullopt with err for a malformed next hop.
std::optional<nexthop> parse_nexthop(std::string_view s, std::string& err);

struct mx_entry {
    int preference = 0;
    std::string host;
};

// Ascending preference; hosts of equal preference in random order.
void order_mx(std::vector<mx_entry>& mx, std::mt19937& rng);

enum class addr_pref { any, ipv4, ipv6 };
bool parse_addr_pref(std::string_view s, addr_pref& out);

struct families {
    bool v4 = true;
    bool v6 = true;
};
// From inet_protocols ("all", "ipv4", "ipv6", "ipv4, ipv6").
families parse_families(const std::vector<std::string>& inet_protocols);

// One host's addresses in the order to try them: only the enabled
// families; with ipv4/ipv6 preference that family first; with "any" a
// random order.
std::vector<std::string> order_addresses(std::vector<std::string> addrs, addr_pref pref, families fam,
                                         std::mt19937& rng);

struct resolved_host {
    int preference = 0;
    std::string name;
    std::vector<std::string> addrs;  // already ordered (order_addresses)
};

struct candidate {
    std::string host;  // name for logs, TLS and "host X said"
    std::string addr;  // numeric address
    int preference = 0;
};

struct candidate_list {
    std::vector<candidate> servers;
    bool found_self = false;  // one of the hosts is this system (by name or address)
};

// The servers to try, best first: hosts in the given (ordered) sequence,
// each with its addresses; an address listed twice is tried once; at most
// `limit` servers (0: no limit). A host that is this system (a name in
// self_names or an address in self_addrs) is dropped together with every
// host of equal or worse preference (RFC 5321 5.1): with found_self and
// no servers left, the mail would loop back to this system.
candidate_list make_candidates(const std::vector<resolved_host>& hosts, size_t limit,
                               const std::vector<std::string>& self_names,
                               const std::vector<std::string>& self_addrs);

// "192.0.2.1" and "2001:db8::1" (also bracketed, also "ipv6:..."): canonical text, else nullopt.
std::optional<std::string> numeric_address(std::string_view s);
bool is_ipv6(std::string_view addr);

}  // namespace tern::smtp_client
