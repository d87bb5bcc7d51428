// net_list.hpp - mynetworks-style lists of client networks: CIDR literals
// ("127.0.0.0/8", "[::1]/128", "2001:db8::/32", bare addresses), "!element"
// negation and type:name tables keyed by address (cidr: above all); the
// first element that matches decides. Used by smtpd (permit_mynetworks),
// spamd (whitelists) and debug_peer_list.
// SECURITY: the address matched is the client's; nothing is resolved.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cidr.hpp"
#include "lib/maps.hpp"
#include "lib/net.hpp"

namespace tern {

enum class match_result { no, yes, error };

class net_list {
public:
    net_list() = default;
    // nullopt with err for a malformed element or an unknown table type.
    // A table whose file is missing or broken does not fail the parse: it is
    // logged, and match() answers error until the file is fixed.
    static std::optional<net_list> parse(std::string_view list, std::string& err,
                                         const map_options& opts = map_options());

    // A table element matches when the table has an entry for the address
    // (its canonical text, e.g. "192.0.2.1", "2001:db8::1"); the value is not
    // used. An error in a table before any match is an error (the caller
    // answers a temporary failure); last_error() says why.
    match_result match(const ip_addr& a);
    match_result match(std::string_view ip);  // not an address: no
    match_result match(const sock_addr& a);   // UNIX socket: no
    const std::string& last_error() const { return _error; }
    bool empty() const { return _elements.empty(); }

private:
    struct element {
        bool negate = false;
        std::optional<ip_net> net;
        std::shared_ptr<lookup_table> table;
    };
    std::vector<element> _elements;
    std::string _error;
};

}  // namespace tern
