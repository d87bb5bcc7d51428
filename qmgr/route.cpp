// route.cpp - see route.hpp.
#include "qmgr/route.hpp"

#include "lib/strutil.hpp"

namespace tern::qmgr {

std::string agent_for(std::string_view transport) {
    if (transport == "virtual") return "local";
    if (transport == "relay") return "smtp";
    return std::string(transport);
}

route router::by_class(const std::string& rcpt, const std::string& domain, domain_class cls) const {
    route r;
    switch (cls) {
    case domain_class::local:
        r.transport = _s.local_transport;
        r.nexthop = rcpt;
        break;
    case domain_class::virtual_alias:
    case domain_class::virtual_mailbox:
        r.transport = _s.virtual_transport;
        r.nexthop = rcpt;
        break;
    case domain_class::other:
        r.transport = _s.default_transport;
        r.nexthop = _s.relayhost.empty() ? domain : _s.relayhost;
        break;
    }
    // a local class sent to the SMTP client needs a host, not an address
    if ((r.transport == "smtp" || r.transport == "relay") && cls != domain_class::other) r.nexthop = domain;
    return r;
}

route router::from_value(const std::string& value, const std::string& rcpt, const std::string& domain) const {
    // "transport:nexthop", "transport:", ":nexthop", "transport"
    std::string v(trim(value));
    std::string transport = v, nexthop;
    auto colon = v.find(':');
    if (colon != std::string::npos) {
        transport = v.substr(0, colon);
        nexthop = v.substr(colon + 1);
    }
    transport = to_lower(trim(transport));
    nexthop = std::string(trim(nexthop));
    bool error = false;
    domain_class cls = _s.domains.classify(domain, &error);
    if (error) return {route::kind::defer, "", "", "4.3.0", "domain table lookup failed for " + domain};
    route r = by_class(rcpt, domain, cls);
    if (transport == "error") {
        r.what = route::kind::error;
        r.status = "5.0.0";
        r.text = nexthop.empty() ? "mail for this address is refused" : nexthop;
        // "5.1.1 text" or "4.x.x text" given by the administrator
        if (r.text.size() > 6 && (r.text[0] == '4' || r.text[0] == '5') && r.text[1] == '.') {
            auto sp = r.text.find(' ');
            r.status = r.text.substr(0, sp);
            r.text = sp == std::string::npos ? "" : std::string(trim(r.text.substr(sp)));
            if (r.status[0] == '4') r.what = route::kind::defer;
        }
        return r;
    }
    if (transport == "discard") {
        r.what = route::kind::discard;
        r.text = nexthop.empty() ? "discarded" : nexthop;
        return r;
    }
    if (!transport.empty()) r.transport = transport;
    if (r.transport == "local" || r.transport == "virtual") {
        r.nexthop = rcpt;  // local delivery: one destination per recipient
    } else if (!nexthop.empty()) {
        r.nexthop = nexthop;
    } else if (!transport.empty()) {
        r.nexthop = (cls == domain_class::other && !_s.relayhost.empty()) ? _s.relayhost : domain;
    }
    return r;
}

route router::resolve(std::string_view recipient) const {
    std::string rcpt = to_lower(recipient);
    std::string domain = address_domain(rcpt);
    if (!_s.double_bounce.empty() && rcpt == to_lower(_s.double_bounce))
        return {route::kind::discard, "", "", "2.0.0", "mail to the double-bounce address is discarded"};
    if (_s.virtual_alias_maps) {
        std::string local(address_local(rcpt));
        std::vector<std::string> keys{rcpt};
        if (!_s.delimiters.empty()) {
            auto p = local.find_first_of(_s.delimiters);
            if (p != std::string::npos && p > 0)
                keys.push_back(local.substr(0, p) + (domain.empty() ? "" : "@" + domain));
        }
        if (!domain.empty()) keys.push_back("@" + domain);
        for (const auto& k : keys) {
            std::string value;
            int r = _s.virtual_alias_maps(k, value);
            if (r < 0) return {route::kind::defer, "", "", "4.3.0", "virtual_alias_maps lookup failed: " + value};
            if (r > 0) return {route::kind::deliver, _s.virtual_transport, rcpt, "", ""};
        }
    }
    if (_s.transport_maps) {
        std::vector<std::string> keys{rcpt};
        if (!domain.empty()) {
            keys.push_back(domain);
            for (size_t p = domain.find('.'); p != std::string::npos; p = domain.find('.', p + 1))
                keys.push_back(domain.substr(p));
        }
        keys.push_back("*");
        for (const auto& k : keys) {
            std::string value;
            int r = _s.transport_maps(k, value);
            if (r < 0) return {route::kind::defer, "", "", "4.3.0", "transport_maps lookup failed: " + value};
            if (r > 0) return from_value(value, rcpt, domain);
        }
    }
    bool error = false;
    domain_class cls = _s.domains.classify(domain, &error);
    if (error) return {route::kind::defer, "", "", "4.3.0", "domain table lookup failed for " + domain};
    return by_class(rcpt, domain, cls);
}

}  // namespace tern::qmgr
