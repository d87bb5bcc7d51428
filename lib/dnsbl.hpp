// dnsbl.hpp - DNS block and allow lists (RFC 5782): the site syntax of
// Postfix's postscreen_dnsbl_sites ("zen.example=127.0.0.[2..11]*3"), reply
// filters, weights and a combined score, an answer cache bounded in size and
// kept for the DNS TTL, and the asynchronous check of one client against
// every list. Called by spamd's dnsbl policy check (and usable by smtpd).
// SECURITY: the client address is turned into a query name by lib/dns's
// reverse_name only; answers outside 127.0.0.0/8 are never counted (a
// resolver that answers every name must not list every client).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/cidr.hpp"

namespace tern {
class event_loop;
namespace dns {
class resolver;
}
}  // namespace tern

namespace tern::dnsbl {

// One octet pattern: empty = any value; else a list of inclusive ranges.
struct octet_pattern {
    std::vector<std::pair<int, int>> ranges;
    bool matches(int v) const;
};

struct site {
    std::string domain;                               // lower case, no trailing dot
    std::optional<std::array<octet_pattern, 4>> filter;  // nullopt: any reply in 127.0.0.0/8
    int weight = 1;                                    // negative: an allow list
    std::string text;                                  // as written
};

// "domain[=d.d.d.d][*weight]" where each d is a number or "[n;m..k;...]".
std::optional<site> parse_site(std::string_view spec, std::string& err);
// Every element of a list parameter; false with err naming the bad one.
bool parse_sites(const std::vector<std::string>& specs, std::vector<site>& out, std::string& err);
// Does a reply address count for this site?
bool reply_matches(const site& s, const ip_addr& reply);
// The name to ask: the client's reversed address (nibbles for IPv6) under
// the list's domain. nullopt for a client that is not an address.
std::optional<std::string> query_name(const ip_addr& client, std::string_view domain);

// What the lists said about one client.
struct verdict {
    int score = 0;
    std::vector<std::string> hits;    // "zen.example=127.0.0.4*3" for each counting site
    std::vector<std::string> errors;  // lists that could not be asked (they count 0)
};

// Answers by query name, kept until their TTL (capped at max_ttl) runs out;
// at most `capacity` entries (the oldest go first).
class answer_cache {
public:
    struct entry {
        std::vector<std::string> addresses;  // empty: not listed
        int64_t expires = 0;                 // seconds, same clock as `now`
    };
    answer_cache(size_t capacity, int64_t max_ttl) : _capacity(capacity), _max_ttl(max_ttl) {}
    const entry* find(const std::string& name, int64_t now);
    void put(const std::string& name, std::vector<std::string> addresses, uint32_t ttl, int64_t now);
    size_t size() const { return _map.size(); }

private:
    size_t _capacity;
    int64_t _max_ttl;
    std::list<std::string> _order;  // insertion order, oldest first
    struct slot {
        entry e;
        std::list<std::string>::iterator pos;
    };
    std::unordered_map<std::string, slot> _map;
};

// Asks every list about a client in parallel (one query per distinct
// domain) and combines the weights. DNS errors make a list count 0.
class checker {
public:
    checker(event_loop& loop, dns::resolver& res, std::vector<site> sites, size_t cache_size, int64_t max_ttl);
    const std::vector<site>& sites() const { return _sites; }

    class pending {
    public:
        virtual ~pending() = default;
    };
    using callback = std::function<void(const verdict&)>;
    // Destroying the handle cancels the check (the callback never runs).
    // The callback always runs from the event loop.
    std::unique_ptr<pending> check(const ip_addr& client, callback cb);
    answer_cache& cache() { return _cache; }

private:
    friend class check_run;
    event_loop& _loop;
    dns::resolver& _res;
    std::vector<site> _sites;
    answer_cache _cache;
};

// Combine per-domain answers into a verdict (pure; used by checker).
verdict combine(const std::vector<site>& sites,
                const std::unordered_map<std::string, std::vector<std::string>>& answers,
                const std::vector<std::string>& errors);

}  // namespace tern::dnsbl
