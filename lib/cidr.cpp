// cidr.cpp - see cidr.hpp; also the cidr: table type: lines
// "[!]network/prefix result", first match wins.
#include "lib/cidr.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

#include "lib/map_types.hpp"
#include "lib/strutil.hpp"

namespace tern {

int ip_addr::bits() const { return family == AF_INET ? 32 : 128; }

std::string ip_addr::str() const {
    char buf[INET6_ADDRSTRLEN];
    if (!::inet_ntop(family, bytes.data(), buf, sizeof buf)) return "";
    return buf;
}

std::optional<ip_addr> ip_addr_of(const sock_addr& a) {
    ip_addr r;
    if (a.family() == AF_INET) {
        auto in = reinterpret_cast<const sockaddr_in*>(&a.ss);
        r.family = AF_INET;
        std::memcpy(r.bytes.data(), &in->sin_addr, 4);
        return r;
    }
    if (a.family() == AF_INET6) {
        auto in6 = reinterpret_cast<const sockaddr_in6*>(&a.ss);
        const uint8_t* b = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(b, mapped, 12) == 0) {
            r.family = AF_INET;
            std::memcpy(r.bytes.data(), b + 12, 4);
        } else {
            r.family = AF_INET6;
            std::memcpy(r.bytes.data(), b, 16);
        }
        return r;
    }
    return std::nullopt;
}

std::optional<ip_addr> parse_ip_addr(std::string_view text) {
    if (text.empty() || text.size() > 64) return std::nullopt;
    auto a = parse_ip(text);
    if (!a) return std::nullopt;
    return ip_addr_of(*a);
}

bool ip_net::contains(const ip_addr& a) const {
    if (a.family != base.family) return false;
    int full = prefix / 8;
    if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<size_t>(full)) != 0) return false;
    int rest = prefix % 8;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[static_cast<size_t>(full)] & mask) == (base.bytes[static_cast<size_t>(full)] & mask);
}

std::string ip_net::str() const { return base.str() + "/" + std::to_string(prefix); }

std::optional<ip_net> parse_ip_net(std::string_view text, std::string& err) {
    std::string_view addr = text, len;
    auto slash = text.rfind('/');
    if (slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        len = text.substr(slash + 1);
    }
    // "[2001:db8::]/32", "[::1]" and plain forms; brackets only around IPv6
    bool bracketed = addr.size() >= 2 && addr.front() == '[' && addr.back() == ']';
    if (bracketed) addr = addr.substr(1, addr.size() - 2);
    if (addr.empty() || addr.size() > 45 || addr.find_first_of("[]") != std::string_view::npos) {
        err = "bad network address \"" + printable(text, 60) + "\"";
        return std::nullopt;
    }
    ip_net n;
    std::string a(addr);
    if (!bracketed && ::inet_pton(AF_INET, a.c_str(), n.base.bytes.data()) == 1) {
        n.base.family = AF_INET;
    } else if (::inet_pton(AF_INET6, a.c_str(), n.base.bytes.data()) == 1) {
        n.base.family = AF_INET6;
    } else {
        err = "bad network address \"" + printable(text, 60) + "\"";
        return std::nullopt;
    }
    n.prefix = n.base.bits();
    if (slash != std::string_view::npos) {
        auto p = len.size() <= 3 ? parse_u64(len) : std::nullopt;
        if (!p || *p > static_cast<uint64_t>(n.base.bits())) {
            err = "bad prefix length in \"" + printable(text, 60) + "\" (0-" + std::to_string(n.base.bits()) + ")";
            return std::nullopt;
        }
        n.prefix = static_cast<int>(*p);
    }
    // host bits must be zero, as Postfix insists: a typo would match too much or too little
    ip_net cleared = n;
    for (int bit = n.prefix; bit < n.base.bits(); ++bit)
        cleared.base.bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    if (!(cleared.base == n.base)) {
        err = "non-zero host bits in \"" + printable(text, 60) + "\", perhaps you mean \"" + cleared.str() + "\"";
        return std::nullopt;
    }
    return n;
}

namespace detail {
namespace {

class cidr_table : public lookup_table {
public:
    cidr_table(std::string name, const map_options& opts) : lookup_table("cidr", std::move(name), opts) {
        watch_file(this->name());
    }

protected:
    struct rule {
        ip_net net;
        bool negate = false;
        std::string pattern;  // as written, for listing
        std::string result;
    };

    bool load(std::vector<config_error>& errors, db::file_stamp& stamp) override {
        size_t before = errors.size();
        std::vector<rule> fresh;
        bool full = false;
        line_reader reader(
            name(), options().line_length,
            [&](int line, std::string_view text) {
                if (full) return;
                size_t sp = 0;
                while (sp < text.size() && text[sp] != ' ' && text[sp] != '\t') ++sp;
                std::string_view pattern = text.substr(0, sp);
                std::string_view result = trim(text.substr(sp));
                if (pattern == "if" || pattern == "endif") {
                    errors.push_back({name(), line, "if/endif is not supported in cidr: tables"});
                    return;
                }
                rule r;
                r.pattern = std::string(pattern);
                if (!pattern.empty() && pattern[0] == '!') {
                    r.negate = true;
                    pattern.remove_prefix(1);
                }
                std::string err;
                auto net = parse_ip_net(pattern, err);
                if (!net) {
                    errors.push_back({name(), line, err});
                    return;
                }
                if (result.empty()) {
                    errors.push_back({name(), line, "expected format: network/prefix whitespace result"});
                    return;
                }
                if (fresh.size() >= options().entries) {
                    errors.push_back({name(), line, "more than " + std::to_string(options().entries) +
                                                        " entries (table_entry_limit)"});
                    full = true;
                    return;
                }
                r.net = *net;
                r.result = std::string(result);
                fresh.push_back(std::move(r));
            },
            errors);
        std::string err;
        if (!read_file_pieces(name(), [&](std::string_view p) { reader.feed(p); }, err, &stamp)) {
            errors.push_back({"", 0, err});
            return false;
        }
        reader.finish();
        if (errors.size() != before) return false;
        _rules.swap(fresh);
        return true;
    }

    lookup_result find(std::string_view key) override {
        auto a = parse_ip_addr(key);
        if (!a) return lookup_result::miss();
        // a rule only speaks about its own address family, negated or not
        for (const auto& r : _rules)
            if (r.net.base.family == a->family && r.net.contains(*a) != r.negate) return lookup_result::hit(r.result);
        return lookup_result::miss();
    }

    bool list(const visitor& fn, std::string&) override {
        for (const auto& r : _rules)
            if (!fn(r.pattern, r.result)) break;
        return true;
    }

private:
    std::vector<rule> _rules;
};

}  // namespace

std::unique_ptr<lookup_table> make_cidr_table(const std::string& name, const map_options& opts,
                                              std::vector<config_error>& errors) {
    auto t = std::make_unique<cidr_table>(name, opts);
    t->open(errors);
    return t;
}

}  // namespace detail
}  // namespace tern
