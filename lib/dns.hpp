// dns.hpp - asynchronous DNS for every daemon: libunbound's event API on the
// tern event loop, with our own bounds-checked parser for the answer packets.
// Called by smtp-client (MX, A/AAAA, TLSA), smtpd and spamd (PTR, TXT/SPF,
// DNSBL A), and by the command-line tools through blocking_resolver.
// SECURITY: answers come from the network; parse_dns_answer() trusts no count,
// length or compression pointer in them (it is a fuzz target).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern {
class config;
class event_loop;
}  // namespace tern

namespace tern::dns {

// ok: records of the asked type. nxdomain: the name does not exist (also
// used for a name or address that cannot be asked at all; error says so).
// nodata: the name exists without records of that type. temporary: SERVFAIL,
// REFUSED, network or resolver trouble. timeout: no answer within
// dns_timeout. bogus: DNSSEC validation failed.
enum class status { ok, nxdomain, nodata, temporary, timeout, bogus };
const char* status_name(status s);

enum class rr_type : uint16_t {
    a = 1, ns = 2, cname = 5, ptr = 12, mx = 15, txt = 16, aaaa = 28, tlsa = 52, spf = 99,
};
const char* type_name(rr_type t);

struct mx_record {
    int preference = 0;
    std::string host;  // without the trailing dot
};

struct tlsa_record {
    uint8_t usage = 0;
    uint8_t selector = 0;
    uint8_t matching_type = 0;
    std::vector<uint8_t> data;
};

struct result {
    status st = status::temporary;
    bool secure = false;   // libunbound validated the answer (needs a trust anchor)
    uint32_t ttl = 0;      // minimum TTL of the answer RRs (CNAMEs included);
                           // for nxdomain/nodata the SOA's negative TTL, if any
    std::string qname;     // the name asked, as the answer spells it
    std::string canonical; // owner of the records after following CNAMEs
    std::vector<std::string> addresses;  // A and AAAA, as text
    std::vector<mx_record> mx;           // sorted by preference (stable)
    bool null_mx = false;                // RFC 7505: the single MX is "0 ." (mx is then empty)
    std::vector<std::string> txt;        // TXT/SPF: each RR's strings concatenated
    std::vector<std::string> names;      // PTR, CNAME, NS targets
    std::vector<tlsa_record> tlsa;
    std::string error;                   // why, when st is not ok (for logs)

    bool ok() const { return st == status::ok; }
};

// How to resolve: from main.cf (dns_resolver, dns_timeout,
// dns_trust_anchor_file) or built by hand (tests).
struct options {
    bool system = true;                   // resolv.conf + /etc/hosts
    std::vector<std::string> forwarders;  // "ADDR" or "ADDR@PORT" when !system
    std::chrono::milliseconds timeout{10000};
    std::string trust_anchor_file;        // DS/DNSKEY lines; empty: no DNSSEC validation

    static std::optional<options> from_config(const config& cfg, std::string& err);
};

namespace detail {
class core;
}

// A query in flight. Destroying it cancels the query: its callback never runs.
// Destroying it after the callback ran (or inside the callback) is fine.
class query {
public:
    ~query();
    query(const query&) = delete;
    query& operator=(const query&) = delete;

private:
    friend class detail::core;
    query(std::weak_ptr<detail::core> core, uint64_t id) : _core(std::move(core)), _id(id) {}
    std::weak_ptr<detail::core> _core;
    uint64_t _id;
};

// One libunbound context bound to one event loop. Create it before chroot
// and privilege drop (it reads resolv.conf, /etc/hosts and the trust anchor
// then); it keeps working afterwards. Destroy it before its event_loop.
// Callbacks always run from the loop, never inside the call that started the
// query; they may destroy their own query handle, start new queries or
// destroy the resolver.
class resolver {
public:
    using callback = std::function<void(const result&)>;

    static std::unique_ptr<resolver> create(event_loop& loop, const config& cfg, std::string& err);
    static std::unique_ptr<resolver> create(event_loop& loop, const options& opts, std::string& err);
    ~resolver();
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;

    // Any single type; CNAMEs in the answer are followed (except for cname).
    std::unique_ptr<query> lookup(std::string_view name, rr_type type, callback cb);
    // MX sorted by preference, null MX detected.
    std::unique_ptr<query> lookup_mx(std::string_view domain, callback cb);
    // A and AAAA asked in parallel, one result: ok if either has addresses.
    std::unique_ptr<query> lookup_addresses(std::string_view name, callback cb);
    // PTR of an IPv4 or IPv6 address (builds the in-addr/ip6.arpa name).
    std::unique_ptr<query> lookup_ptr(std::string_view ip, callback cb);
    // TXT, each RR's strings concatenated (SPF, DMARC, DNSBL reasons).
    std::unique_ptr<query> lookup_txt(std::string_view name, callback cb);
    // TLSA for _PORT._tcp.HOST (DANE).
    std::unique_ptr<query> lookup_tlsa(std::string_view host, int port, callback cb);
    // Any single type for a name whose labels may hold any byte but '.'
    // (SPF asks names made by macro expansion as they are, RFC 7208 7.3: a
    // local part with a space gives a label with a space). The name must
    // pass the length rules of valid_query_name; see escape_query_name.
    std::unique_ptr<query> lookup_raw(std::string_view name, rr_type type, callback cb);

    // Queries whose callback has not run yet and whose handle is alive.
    size_t pending() const;

private:
    explicit resolver(std::shared_ptr<detail::core> c) : _core(std::move(c)) {}
    std::shared_ptr<detail::core> _core;
};

// The same resolver run on a private event loop until each answer is in, for
// command-line tools (tern-spam, tern check, ...). Same code path as above.
class blocking_resolver {
public:
    static std::unique_ptr<blocking_resolver> create(const config& cfg, std::string& err);
    static std::unique_ptr<blocking_resolver> create(const options& opts, std::string& err);
    ~blocking_resolver();

    result lookup(std::string_view name, rr_type type);
    result lookup_mx(std::string_view domain);
    result lookup_addresses(std::string_view name);
    result lookup_ptr(std::string_view ip);
    result lookup_txt(std::string_view name);
    result lookup_tlsa(std::string_view host, int port);

private:
    blocking_resolver();
    result wait(const std::function<std::unique_ptr<query>(resolver::callback)>& start);
    std::unique_ptr<event_loop> _loop;
    std::unique_ptr<resolver> _res;
};

// ---- pure helpers (no I/O; unit-tested and fuzzed) ---------------------------

// Parse a DNS response packet (as libunbound hands it over) for a query of
// type qtype into out. Follows the CNAME chain inside the answer section,
// sets status from the RCODE and the records found, ttl, and the typed
// records. Returns false, with out.st = temporary and out.error set, when the
// packet is malformed in any way (truncated, bad lengths, compression loops,
// wrong question). Never reads outside [data, data+len).
bool parse_dns_answer(const uint8_t* data, size_t len, rr_type qtype, result& out);

// "192.0.2.1" -> "1.2.0.192.in-addr.arpa", "2001:db8::1" -> nibbles under
// ip6.arpa; an IPv4-mapped IPv6 address (::ffff:192.0.2.1) gets the IPv4
// name. Brackets ("[::1]") are accepted. nullopt for anything else.
std::optional<std::string> reverse_name(std::string_view ip);

// A name we are willing to ask: 1-253 characters (one trailing dot allowed),
// labels of 1-63 printable ASCII characters, no backslash or white space.
bool valid_query_name(std::string_view name, std::string& why);

// A name whose labels may hold any byte but '.' in the text form libunbound
// parses: bytes outside 0x21-0x7e and backslash become \DDD escapes. The same
// length rules as valid_query_name (1-253 bytes, labels 1-63 bytes); nullopt
// with why otherwise. Used by resolver::lookup_raw.
std::optional<std::string> escape_query_name(std::string_view name, std::string& why);

// Combine the A and the AAAA result of one name (lookup_addresses).
result combine_addresses(const result& a, const result& aaaa);

}  // namespace tern::dns
