// cidr.hpp - IP addresses and networks as bytes: parsing of "addr",
// "addr/prefix", "[v6]/prefix" and matching. Used by cidr: tables and
// net_list (mynetworks, spamd whitelists, debug_peer_list).
// SECURITY: parses client addresses and administrator input; strict
// syntax, no DNS, no allocation beyond the result.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/net.hpp"

namespace tern {

struct ip_addr {
    int family = 0;                    // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};   // network order; IPv4 uses the first 4
    int bits() const;                  // 32 or 128
    std::string str() const;           // canonical text: "192.0.2.1", "2001:db8::1"
    bool operator==(const ip_addr&) const = default;
};

// "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "IPv6:2001:db8::1". An
// IPv4-mapped IPv6 address (::ffff:192.0.2.1) becomes the IPv4 address.
std::optional<ip_addr> parse_ip_addr(std::string_view text);
std::optional<ip_addr> ip_addr_of(const sock_addr& a);  // nullopt for UNIX sockets

struct ip_net {
    ip_addr base;
    int prefix = 0;
    bool contains(const ip_addr& a) const;
    std::string str() const;  // "192.0.2.0/24", "2001:db8::/32"
};

// "192.0.2.0/24", "2001:db8::/32", "[2001:db8::]/32", "[::1]", bare
// addresses (a host network). Bits set beyond the prefix are an error, as
// is a prefix out of range; err says which.
std::optional<ip_net> parse_ip_net(std::string_view text, std::string& err);

}  // namespace tern
