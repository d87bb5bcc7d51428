// domain_class.hpp - which class a recipient domain belongs to: local
// (mydestination: system users and aliases), virtual mailbox
// (virtual_mailbox_domains) or neither (relay or remote). Used by the qmgr
// to pick a transport and by local-delivery to pick a store.
// List elements are domain names (matched whole, case-insensitively) or
// ".parent" (every subdomain of parent); an element "type:name" is a lookup
// table whose keys are domains (a hit of any value matches).
// SECURITY: domains come from envelopes; they are compared, never parsed
// further.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

class config;

// Looks a domain up in a "type:name" table: 1 found, 0 not found, -1 error.
using domain_table_lookup = std::function<int(const std::string& table, const std::string& key)>;

class domain_list {
public:
    domain_list() = default;
    explicit domain_list(const std::vector<std::string>& elements);
    // true/false, or nullopt-like error through *error when a table failed
    bool matches(std::string_view domain, bool* error = nullptr) const;
    bool empty() const { return _exact.empty() && _parents.empty() && _tables.empty(); }
    const std::vector<std::string>& tables() const { return _tables; }
    void set_table_lookup(domain_table_lookup fn) { _lookup = std::move(fn); }

private:
    std::set<std::string, std::less<>> _exact;
    std::vector<std::string> _parents;  // ".example.com"
    std::vector<std::string> _tables;
    domain_table_lookup _lookup;
};

enum class domain_class { local, virtual_alias, virtual_mailbox, other };

class domain_classifier {
public:
    domain_classifier() = default;
    // mydestination, virtual_alias_domains and virtual_mailbox_domains from main.cf.
    static domain_classifier from_config(const config& cfg);
    domain_classifier(domain_list local, domain_list virt, domain_list valias = {})
        : _local(std::move(local)), _virtual(std::move(virt)), _valias(std::move(valias)) {}

    // An empty domain (unqualified address) is local. error is set when a
    // table lookup failed (the caller defers).
    domain_class classify(std::string_view domain, bool* error = nullptr) const;
    domain_list& local() { return _local; }
    domain_list& virtual_domains() { return _virtual; }
    domain_list& virtual_alias_domains() { return _valias; }
    void set_table_lookup(const domain_table_lookup& fn) {
        _local.set_table_lookup(fn);
        _virtual.set_table_lookup(fn);
        _valias.set_table_lookup(fn);
    }

private:
    domain_list _local, _virtual, _valias;
};

// The domain of an address (after the last '@'), lower-cased; "" if none.
std::string address_domain(std::string_view address);
// The local part (before the last '@').
std::string_view address_local(std::string_view address);

}  // namespace tern
