// dns_parse.cpp - the pure half of lib/dns: DNS response packets to typed
// results, reverse names, query-name checks and the A+AAAA merge. No I/O, so
// the unit tests and the fuzz target call it directly.
// SECURITY: parses packets from the network. Every read is checked against
// the packet end; counts are never trusted (the data runs out first);
// compression pointers must point strictly backwards from the previous jump,
// which ends every loop, and names stop at 255 wire bytes.
#include "lib/dns.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <cstring>

namespace tern::dns {

const char* status_name(status s) {
    switch (s) {
    case status::ok: return "ok";
    case status::nxdomain: return "nxdomain";
    case status::nodata: return "nodata";
    case status::temporary: return "temporary";
    case status::timeout: return "timeout";
    case status::bogus: return "bogus";
    }
    return "?";
}

const char* type_name(rr_type t) {
    switch (t) {
    case rr_type::a: return "A";
    case rr_type::ns: return "NS";
    case rr_type::cname: return "CNAME";
    case rr_type::ptr: return "PTR";
    case rr_type::mx: return "MX";
    case rr_type::txt: return "TXT";
    case rr_type::aaaa: return "AAAA";
    case rr_type::tlsa: return "TLSA";
    case rr_type::spf: return "SPF";
    }
    return "?";
}

namespace {

constexpr uint16_t class_in = 1;
constexpr uint16_t type_soa = 6;
constexpr int max_pointer_hops = 127;
constexpr int max_cname_chain = 16;

// A bounds-checked reader over the whole packet.
struct packet {
    const uint8_t* p;
    size_t len;

    bool u8(size_t& pos, uint8_t& v) const {
        if (pos >= len) return false;
        v = p[pos++];
        return true;
    }
    bool u16(size_t& pos, uint16_t& v) const {
        if (len < 2 || pos > len - 2) return false;
        v = uint16_t(p[pos] << 8 | p[pos + 1]);
        pos += 2;
        return true;
    }
    bool u32(size_t& pos, uint32_t& v) const {
        if (len < 4 || pos > len - 4) return false;
        v = uint32_t(p[pos]) << 24 | uint32_t(p[pos + 1]) << 16 | uint32_t(p[pos + 2]) << 8 | p[pos + 3];
        pos += 4;
        return true;
    }

    // Read a possibly compressed name at pos; pos moves past it (past the
    // first pointer when there is one). Text form: labels joined by '.',
    // no trailing dot, "." for the root; '.', '\' and bytes outside
    // 0x21-0x7e escaped as in master files.
    bool name(size_t& pos, std::string& out) const {
        out.clear();
        size_t at = pos;
        size_t limit = pos;  // a pointer must point before this
        bool jumped = false;
        int hops = 0;
        size_t wire = 1;     // the root byte
        for (;;) {
            if (at >= len) return false;
            uint8_t b = p[at];
            if (b == 0) {
                if (!jumped) pos = at + 1;
                break;
            }
            if ((b & 0xC0) == 0xC0) {
                if (at + 1 >= len) return false;
                size_t target = size_t(b & 0x3F) << 8 | p[at + 1];
                if (target >= limit || target >= at || ++hops > max_pointer_hops) return false;
                if (!jumped) pos = at + 2;
                jumped = true;
                limit = target;
                at = target;
                continue;
            }
            if (b & 0xC0) return false;  // 0x40/0x80 label types are not in use
            if (b > len - at - 1) return false;
            wire += size_t(b) + 1;
            if (wire > 255) return false;
            if (!out.empty()) out += '.';
            for (size_t i = 0; i < b; ++i) {
                unsigned char c = p[at + 1 + i];
                if (c == '.' || c == '\\') {
                    out += '\\';
                    out += char(c);
                } else if (c < 0x21 || c > 0x7E) {
                    char esc[5];
                    std::snprintf(esc, sizeof esc, "\\%03u", unsigned(c));
                    out += esc;
                } else {
                    out += char(c);
                }
            }
            at += size_t(b) + 1;
        }
        if (out.empty()) out = ".";
        return true;
    }
};

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return r;
}

struct rr_view {
    std::string owner;  // lower case, for matching
    uint16_t type = 0;
    uint32_t ttl = 0;
    size_t rdata = 0;
    uint16_t rdlen = 0;
};

bool fail(result& out, const char* why) {
    out = result{};
    out.st = status::temporary;
    out.error = std::string("malformed DNS answer: ") + why;
    return false;
}

// One resource record header + rdata bounds; pos moves past it.
bool read_rr(const packet& pk, size_t& pos, rr_view& rr, std::string& owner_text) {
    if (!pk.name(pos, owner_text)) return false;
    uint16_t cls;
    if (!pk.u16(pos, rr.type) || !pk.u16(pos, cls) || !pk.u32(pos, rr.ttl) || !pk.u16(pos, rr.rdlen))
        return false;
    if (rr.rdlen > pk.len - pos) return false;
    rr.rdata = pos;
    pos += rr.rdlen;
    rr.owner = lower(owner_text);
    if (cls != class_in) rr.type = 0;  // ignored below
    if (rr.ttl > 0x7FFFFFFFu) rr.ttl = 0;  // RFC 2181 8: a TTL with the top bit set means zero
    return true;
}

// A name that must fill the rdata exactly.
bool rdata_name(const packet& pk, const rr_view& rr, size_t pos, std::string& out) {
    if (!pk.name(pos, out)) return false;
    return pos == rr.rdata + rr.rdlen;
}

bool decode_record(const packet& pk, const rr_view& rr, rr_type qtype, result& out) {
    size_t pos = rr.rdata;
    size_t end = rr.rdata + rr.rdlen;
    switch (qtype) {
    case rr_type::a:
    case rr_type::aaaa: {
        size_t want = qtype == rr_type::a ? 4 : 16;
        if (rr.rdlen != want) return false;
        char buf[INET6_ADDRSTRLEN];
        if (!inet_ntop(qtype == rr_type::a ? AF_INET : AF_INET6, pk.p + pos, buf, sizeof buf)) return false;
        out.addresses.emplace_back(buf);
        return true;
    }
    case rr_type::mx: {
        uint16_t pref;
        if (rr.rdlen < 3 || !pk.u16(pos, pref)) return false;
        mx_record m;
        m.preference = pref;
        if (!rdata_name(pk, rr, pos, m.host)) return false;
        out.mx.push_back(std::move(m));
        return true;
    }
    case rr_type::txt:
    case rr_type::spf: {
        std::string all;
        while (pos < end) {
            uint8_t n = pk.p[pos++];
            if (n > end - pos) return false;
            all.append(reinterpret_cast<const char*>(pk.p + pos), n);
            pos += n;
        }
        out.txt.push_back(std::move(all));
        return true;
    }
    case rr_type::ptr:
    case rr_type::cname:
    case rr_type::ns: {
        std::string n;
        if (!rdata_name(pk, rr, pos, n)) return false;
        out.names.push_back(std::move(n));
        return true;
    }
    case rr_type::tlsa: {
        if (rr.rdlen < 3) return false;
        tlsa_record t;
        t.usage = pk.p[pos];
        t.selector = pk.p[pos + 1];
        t.matching_type = pk.p[pos + 2];
        t.data.assign(pk.p + pos + 3, pk.p + end);
        out.tlsa.push_back(std::move(t));
        return true;
    }
    }
    return false;
}

}  // namespace

bool parse_dns_answer(const uint8_t* data, size_t len, rr_type qtype, result& out) {
    out = result{};
    if (!data || len < 12) return fail(out, "shorter than a header");
    packet pk{data, len};
    size_t pos = 2;
    uint16_t flags, qd, an, ns, ar;
    pk.u16(pos, flags);
    pk.u16(pos, qd);
    pk.u16(pos, an);
    pk.u16(pos, ns);
    pk.u16(pos, ar);
    (void)ar;
    if (!(flags & 0x8000)) return fail(out, "not a response");
    if ((flags >> 11 & 0xF) != 0) return fail(out, "not a QUERY response");
    if (qd != 1) return fail(out, "question count is not 1");
    unsigned rcode = flags & 0xF;

    std::string qname;
    uint16_t qt, qc;
    if (!pk.name(pos, qname) || !pk.u16(pos, qt) || !pk.u16(pos, qc)) return fail(out, "truncated question");
    if (qt != uint16_t(qtype) || qc != class_in) return fail(out, "answer to another question");

    std::vector<rr_view> answers;
    std::string text;
    for (unsigned i = 0; i < an; ++i) {
        rr_view rr;
        if (!read_rr(pk, pos, rr, text)) return fail(out, "truncated or bad answer record");
        if (rr.type) answers.push_back(std::move(rr));
    }
    // The authority section only matters for the negative TTL (SOA).
    std::optional<uint32_t> negative_ttl;
    for (unsigned i = 0; i < ns; ++i) {
        rr_view rr;
        if (!read_rr(pk, pos, rr, text)) return fail(out, "truncated or bad authority record");
        if (rr.type != type_soa || negative_ttl) continue;
        size_t p = rr.rdata;
        std::string skip;
        uint32_t v[5];
        if (!pk.name(p, skip) || !pk.name(p, skip)) return fail(out, "bad SOA");
        for (auto& x : v)
            if (!pk.u32(p, x)) return fail(out, "bad SOA");
        if (p != rr.rdata + rr.rdlen) return fail(out, "bad SOA length");
        negative_ttl = std::min(rr.ttl, v[4] > 0x7FFFFFFFu ? 0u : v[4]);
    }

    result r;
    r.qname = qname;
    std::string target = lower(qname);
    r.canonical = qname;
    bool have_ttl = false;
    uint32_t ttl = 0;
    auto take_ttl = [&](uint32_t t) {
        ttl = have_ttl ? std::min(ttl, t) : t;
        have_ttl = true;
    };
    bool found = false;
    for (int hop = 0;; ++hop) {
        for (const auto& rr : answers) {
            if (rr.type != uint16_t(qtype) || rr.owner != target) continue;
            if (!decode_record(pk, rr, qtype, r)) return fail(out, "bad record data");
            take_ttl(rr.ttl);
            found = true;
        }
        if (found || qtype == rr_type::cname) break;
        const rr_view* cname = nullptr;
        for (const auto& rr : answers)
            if (rr.type == uint16_t(rr_type::cname) && rr.owner == target) {
                cname = &rr;
                break;
            }
        if (!cname) break;
        if (hop >= max_cname_chain) return fail(out, "CNAME chain too long");
        std::string next;
        if (!rdata_name(pk, *cname, cname->rdata, next)) return fail(out, "bad CNAME");
        take_ttl(cname->ttl);
        r.canonical = next;
        target = lower(next);
    }

    switch (rcode) {
    case 0:
        r.st = found ? status::ok : status::nodata;
        break;
    case 3:
        r.st = status::nxdomain;
        break;
    case 2:
        r.st = status::temporary;
        r.error = "SERVFAIL";
        break;
    case 5:
        r.st = status::temporary;
        r.error = "REFUSED";
        break;
    default:
        r.st = status::temporary;
        r.error = "DNS error code " + std::to_string(rcode);
        break;
    }
    if (r.st != status::ok) {
        r.addresses.clear();
        r.mx.clear();
        r.txt.clear();
        r.names.clear();
        r.tlsa.clear();
        r.ttl = (r.st == status::nxdomain || r.st == status::nodata) ? negative_ttl.value_or(0) : 0;
        out = std::move(r);
        return true;
    }
    r.ttl = ttl;
    if (qtype == rr_type::mx) {
        std::stable_sort(r.mx.begin(), r.mx.end(),
                         [](const mx_record& x, const mx_record& y) { return x.preference < y.preference; });
        if (r.mx.size() == 1 && r.mx[0].preference == 0 && r.mx[0].host == ".") {
            r.null_mx = true;
            r.mx.clear();
        } else {
            // "." is no host; a domain mixing it with real MX gets the real ones
            std::erase_if(r.mx, [](const mx_record& m) { return m.host == "."; });
            r.null_mx = r.mx.empty();  // only "." left: no host accepts mail
        }
    }
    out = std::move(r);
    return true;
}

std::optional<std::string> reverse_name(std::string_view ip) {
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (ip.empty() || ip.size() > 64) return std::nullopt;
    std::string s(ip);
    unsigned char b[16];
    if (inet_pton(AF_INET, s.c_str(), b) == 1) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
        return std::string(buf);
    }
    if (inet_pton(AF_INET6, s.c_str(), b) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (std::memcmp(b, mapped, sizeof mapped) == 0) {
            // ::ffff:a.b.c.d (a dual-stack socket's IPv4 client) is that IPv4 address
            char buf[64];
            std::snprintf(buf, sizeof buf, "%u.%u.%u.%u.in-addr.arpa", b[15], b[14], b[13], b[12]);
            return std::string(buf);
        }
        static const char hex[] = "0123456789abcdef";
        std::string r;
        r.reserve(72);
        for (int i = 15; i >= 0; --i) {
            r += hex[b[i] & 0xF];
            r += '.';
            r += hex[b[i] >> 4];
            r += '.';
        }
        r += "ip6.arpa";
        return r;
    }
    return std::nullopt;
}

bool valid_query_name(std::string_view name, std::string& why) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) {
        why = "empty domain name";
        return false;
    }
    if (name.size() > 253) {
        why = "domain name longer than 253 characters";
        return false;
    }
    size_t label = 0;
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '.') {
            if (label == 0) {
                why = "empty label in domain name";
                return false;
            }
            label = 0;
            continue;
        }
        if (c < 0x21 || c > 0x7E || c == '\\') {
            why = "invalid character in domain name";
            return false;
        }
        if (++label > 63) {
            why = "label longer than 63 characters";
            return false;
        }
    }
    return true;
}

std::optional<std::string> escape_query_name(std::string_view name, std::string& why) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) {
        why = "empty domain name";
        return std::nullopt;
    }
    if (name.size() > 253) {
        why = "domain name longer than 253 characters";
        return std::nullopt;
    }
    std::string out;
    size_t label = 0;
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '.') {
            if (label == 0) {
                why = "empty label in domain name";
                return std::nullopt;
            }
            label = 0;
            out += '.';
            continue;
        }
        if (++label > 63) {
            why = "label longer than 63 characters";
            return std::nullopt;
        }
        if (c < 0x21 || c > 0x7E || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '$' ||
            c == '@') {
            char esc[5];
            std::snprintf(esc, sizeof esc, "\\%03u", unsigned(c));
            out += esc;
        } else {
            out += char(c);
        }
    }
    return out;
}

result combine_addresses(const result& a, const result& aaaa) {
    result r;
    r.qname = !a.qname.empty() ? a.qname : aaaa.qname;
    r.canonical = !a.canonical.empty() ? a.canonical : aaaa.canonical;
    r.secure = a.secure && aaaa.secure;
    r.addresses = a.addresses;
    r.addresses.insert(r.addresses.end(), aaaa.addresses.begin(), aaaa.addresses.end());
    auto rank = [](status s) {
        // which failure to report when neither has addresses
        switch (s) {
        case status::bogus: return 5;
        case status::temporary: return 4;
        case status::timeout: return 3;
        case status::nodata: return 2;
        case status::nxdomain: return 1;
        case status::ok: return 0;
        }
        return 0;
    };
    if (a.st == status::ok || aaaa.st == status::ok) {
        r.st = status::ok;
        uint32_t t = UINT32_MAX;
        if (a.st == status::ok) t = std::min(t, a.ttl);
        if (aaaa.st == status::ok) t = std::min(t, aaaa.ttl);
        r.ttl = t;
        // say what went wrong with the other family, for logs
        bool a_ok = a.st == status::ok;
        const result& other = a_ok ? aaaa : a;
        if (other.st != status::ok && other.st != status::nodata && other.st != status::nxdomain)
            r.error = std::string(a_ok ? "AAAA" : "A") + " lookup: " + status_name(other.st) +
                      (other.error.empty() ? "" : ": " + other.error);
        return r;
    }
    if (a.st == status::nodata || aaaa.st == status::nodata) {
        // one family says the name exists: it does
        bool bad = rank(a.st) > 2 || rank(aaaa.st) > 2;
        if (!bad) {
            r.st = status::nodata;
            r.ttl = std::min(a.ttl, aaaa.ttl);
            return r;
        }
    }
    const result& worst = rank(a.st) >= rank(aaaa.st) ? a : aaaa;
    r.st = worst.st;
    r.error = worst.error;
    r.ttl = std::min(a.ttl, aaaa.ttl);
    return r;
}

}  // namespace tern::dns
