// route.hpp - where a recipient goes: transport class and next hop.
// Order: an address with a virtual_alias_maps entry (the address, the
// address without its +extension, or @domain) goes to local-delivery, which
// expands it (Postfix does that in cleanup; tern at delivery, so that one
// address can become many without rewriting the queue file); then, as in
// Postfix's trivial-rewrite, transport_maps (the whole
// address, then the domain, then each parent ".domain", then "*"); then the
// domain's class: mydestination -> local_transport, virtual_alias_domains
// and virtual_mailbox_domains -> virtual_transport (both served by
// local-delivery), anything else ->
// default_transport with relayhost, or the recipient domain, as next hop.
// Built-in transports: "error" (bounce with the next hop as text), and
// "discard" (drop, reported as delivered). Mail to the double-bounce
// address is discarded. Used by qmgr/manager.cpp for every recipient it
// loads.
// SECURITY: addresses come from the envelope; they are only compared and
// used as table keys.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "lib/domain_class.hpp"

namespace tern::qmgr {

struct route {
    enum class kind { deliver, error, discard, defer } what = kind::deliver;
    std::string transport;  // scheduler class: local, virtual, smtp, relay, or a master.cf name
    std::string nexthop;    // smtp: host or [host]:port; local/virtual: the recipient
    std::string status;     // error/defer: RFC 3463 code
    std::string text;       // error/defer/discard: why
};

// transport_maps lookup: 1 found (value set), 0 not found, -1 error (value: why).
using transport_lookup = std::function<int(const std::string& key, std::string& value)>;

struct router_settings {
    domain_classifier domains;
    std::string local_transport = "local";
    std::string virtual_transport = "virtual";
    std::string default_transport = "smtp";
    std::string relayhost;               // "" = the recipient domain
    std::string double_bounce;           // discard mail to this address ("" = none)
    transport_lookup transport_maps;     // may be empty
    transport_lookup virtual_alias_maps; // may be empty
    std::string delimiters = "+";        // recipient_delimiter
};

class router {
public:
    explicit router(router_settings s) : _s(std::move(s)) {}
    route resolve(std::string_view recipient) const;
    router_settings& settings() { return _s; }

private:
    route from_value(const std::string& value, const std::string& rcpt, const std::string& domain) const;
    route by_class(const std::string& rcpt, const std::string& domain, domain_class cls) const;
    router_settings _s;
};

// The delivery agent serving a transport class: virtual is served by
// local-delivery, relay by the SMTP client; others by private/<name>.
std::string agent_for(std::string_view transport);

}  // namespace tern::qmgr
