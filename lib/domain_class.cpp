// domain_class.cpp - see domain_class.hpp.
#include "lib/domain_class.hpp"

#include "lib/config.hpp"
#include "lib/strutil.hpp"

namespace tern {

domain_list::domain_list(const std::vector<std::string>& elements) {
    for (const auto& raw : elements) {
        std::string e = to_lower(trim(raw));
        if (e.empty()) continue;
        if (e.find(':') != std::string::npos && e.front() != '[') _tables.push_back(std::string(trim(raw)));
        else if (e.front() == '.') _parents.push_back(e);
        else {
            while (!e.empty() && e.back() == '.') e.pop_back();
            _exact.insert(e);
        }
    }
}

bool domain_list::matches(std::string_view domain, bool* error) const {
    std::string d = to_lower(domain);
    while (!d.empty() && d.back() == '.') d.pop_back();
    if (_exact.count(d)) return true;
    for (const auto& p : _parents)
        if (d.size() > p.size() && d.compare(d.size() - p.size(), p.size(), p) == 0) return true;
    if (_lookup) {
        for (const auto& t : _tables) {
            int r = _lookup(t, d);
            if (r > 0) return true;
            if (r < 0 && error) *error = true;
        }
    }
    return false;
}

domain_classifier domain_classifier::from_config(const config& cfg) {
    return domain_classifier(domain_list(cfg.get_list("mydestination")),
                             domain_list(cfg.get_list("virtual_mailbox_domains")),
                             domain_list(cfg.get_list("virtual_alias_domains")));
}

domain_class domain_classifier::classify(std::string_view domain, bool* error) const {
    if (domain.empty()) return domain_class::local;
    if (_local.matches(domain, error)) return domain_class::local;
    if (_valias.matches(domain, error)) return domain_class::virtual_alias;
    if (_virtual.matches(domain, error)) return domain_class::virtual_mailbox;
    return domain_class::other;
}

std::string address_domain(std::string_view address) {
    auto at = address.rfind('@');
    if (at == std::string_view::npos) return "";
    return to_lower(address.substr(at + 1));
}

std::string_view address_local(std::string_view address) {
    auto at = address.rfind('@');
    return at == std::string_view::npos ? address : address.substr(0, at);
}

}  // namespace tern
