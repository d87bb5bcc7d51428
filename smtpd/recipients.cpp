// recipients.cpp - see recipients.hpp.
// SECURITY: client addresses are lower-cased and used only as lookup keys.
#include "smtpd/recipients.hpp"

#include <pwd.h>
#include <unistd.h>

#include "lib/strutil.hpp"

namespace tern::smtpd {

namespace {

bool is_table(std::string_view s) {
    auto colon = s.find(':');
    return colon != std::string_view::npos && colon > 0 && s.find('{') != 0;
}

// A system account (unix:passwd.byname); getpwnam_r so no static buffer is shared.
bool system_user(const std::string& name) {
    struct passwd pw, *res = nullptr;
    std::vector<char> buf(16384);
    return ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res != nullptr;
}

std::unique_ptr<map_list> open_maps(const std::string& list, const map_options& opts, std::string& err) {
    std::vector<config_error> errors;
    auto m = map_list::parse(list, opts, errors);
    if (!m) {
        err = errors.empty() ? "bad table list: " + list : errors.front().str();
        return nullptr;
    }
    return std::make_unique<map_list>(std::move(*m));
}

}  // namespace

std::optional<domain_list> domain_list::parse(const std::vector<std::string>& items, bool subdomains,
                                              const map_options& opts, std::string& err) {
    domain_list d;
    d._subdomains = subdomains;
    for (const auto& item : items) {
        if (is_table(item)) {
            std::vector<config_error> errors;
            auto t = open_table(item, opts, errors);
            if (!t) {
                err = errors.empty() ? "bad table " + item : errors.front().str();
                return std::nullopt;
            }
            d._tables.push_back(std::shared_ptr<lookup_table>(std::move(t)));
        } else {
            d._names.push_back(to_lower(item));
        }
    }
    return d;
}

std::optional<bool> domain_list::contains(std::string_view domain, std::string& err) const {
    for (const auto& n : _names) {
        if (n == domain) return true;
        std::string_view parent = n.front() == '.' ? std::string_view(n).substr(1) : std::string_view(n);
        bool sub = n.front() == '.' || _subdomains;
        if (sub && domain.size() > parent.size() + 1 && domain.substr(domain.size() - parent.size()) == parent &&
            domain[domain.size() - parent.size() - 1] == '.')
            return true;
    }
    for (const auto& t : _tables) {
        // the domain itself, then (for relay_domains) its parents
        std::string_view d = domain;
        for (;;) {
            auto r = t->lookup(d);
            if (r.found()) return true;
            if (r.failed()) {
                err = r.error;
                return std::nullopt;
            }
            if (!_subdomains) break;
            auto dot = d.find('.');
            if (dot == std::string_view::npos) break;
            d = d.substr(dot + 1);
        }
    }
    return false;
}

bool recipient_check::system_user(const std::string& name) const {
    if (_accounts_snapshot) return _accounts.count(name) != 0;
    return smtpd::system_user(name);
}

std::unique_ptr<recipient_check> recipient_check::load(const config& cfg, const map_options& opts, std::string& err,
                                                       bool snapshot_accounts) {
    std::unique_ptr<recipient_check> r(new recipient_check());
    auto list = [&](const char* name, bool sub, domain_list& out) {
        auto d = domain_list::parse(split_table_list(cfg.get(name)), sub, opts, err);
        if (!d) {
            err = std::string(name) + ": " + err;
            return false;
        }
        out = std::move(*d);
        return true;
    };
    if (!list("mydestination", false, r->_mydestination) ||
        !list("virtual_alias_domains", false, r->_virtual_alias_domains) ||
        !list("virtual_mailbox_domains", false, r->_virtual_mailbox_domains) ||
        !list("relay_domains", true, r->_relay_domains))
        return nullptr;
    auto maps = [&](const char* name, std::unique_ptr<map_list>& out) {
        std::string v = cfg.get(name);
        if (trim(v).empty()) return true;
        out = open_maps(v, opts, err);
        if (!out) err = std::string(name) + ": " + err;
        return out != nullptr;
    };
    if (!maps("virtual_alias_maps", r->_virtual_alias_maps) || !maps("virtual_mailbox_maps", r->_virtual_mailbox_maps) ||
        !maps("relay_recipient_maps", r->_relay_recipient_maps))
        return nullptr;
    // local_recipient_maps: unix:passwd.byname is the system account list
    std::vector<std::string> rest;
    auto local = split_table_list(cfg.get("local_recipient_maps"));
    r->_local_any = local.empty();
    for (const auto& e : local) {
        if (e == "unix:passwd.byname" || e == "proxy:unix:passwd.byname")
            r->_local_passwd = true;
        else
            rest.push_back(e);
    }
    if (!rest.empty()) {
        r->_local_maps = open_maps(join(rest, ", "), opts, err);
        if (!r->_local_maps) {
            err = "local_recipient_maps: " + err;
            return nullptr;
        }
    }
    if (r->_local_passwd && snapshot_accounts) {
        // getpwent walks every NSS source; the set is fixed until the next reload
        r->_accounts_snapshot = true;
        ::setpwent();
        while (struct passwd* pw = ::getpwent()) r->_accounts.insert(pw->pw_name);
        ::endpwent();
    }
    r->_delimiter = cfg.get("recipient_delimiter");
    return r;
}

std::optional<domain_class> recipient_check::classify(std::string_view domain, std::string& err) const {
    if (domain.empty()) return domain_class::local;
    struct {
        const domain_list* list;
        domain_class cls;
    } order[] = {
        {&_mydestination, domain_class::local},
        {&_virtual_alias_domains, domain_class::virtual_alias},
        {&_virtual_mailbox_domains, domain_class::virtual_mailbox},
        {&_relay_domains, domain_class::relay},
    };
    for (const auto& o : order) {
        auto in = o.list->contains(domain, err);
        if (!in) return std::nullopt;
        if (*in) return o.cls;
    }
    return domain_class::other;
}

std::optional<bool> recipient_check::in_maps(map_list* maps, const std::vector<std::string>& keys,
                                             std::string& err) const {
    if (!maps) return false;
    for (const auto& k : keys) {
        auto r = maps->lookup(k);
        if (r.found()) return true;
        if (r.failed()) {
            err = r.error;
            return std::nullopt;
        }
    }
    return false;
}

// user+ext@domain, user@domain, @domain (or the local part alone).
std::vector<std::string> recipient_check::keys_for(const std::string& local, const std::string& domain,
                                                   bool with_domain_key) const {
    std::vector<std::string> keys;
    std::string base = local;
    if (!_delimiter.empty()) {
        auto d = local.find_first_of(_delimiter);
        if (d != std::string::npos && d > 0) base = local.substr(0, d);
    }
    if (domain.empty()) {
        keys.push_back(local);
        if (base != local) keys.push_back(base);
        return keys;
    }
    keys.push_back(local + "@" + domain);
    if (base != local) keys.push_back(base + "@" + domain);
    if (with_domain_key) keys.push_back("@" + domain);
    return keys;
}

recipient_verdict recipient_check::check(const std::string& addr, int local_code, int vmailbox_code,
                                         int valias_code, int relay_code) const {
    recipient_verdict v;
    std::string lower = to_lower(addr);
    auto at = lower.rfind('@');
    std::string local = at == std::string::npos ? lower : lower.substr(0, at);
    std::string domain = at == std::string::npos ? "" : lower.substr(at + 1);
    std::string err;
    auto tempfail = [&] {
        v.k = recipient_verdict::kind::tempfail;
        v.code = 451;
        v.dsn = "4.3.0";
        v.text = "Temporary lookup failure";
        return v;
    };
    auto unknown = [&](int code, const char* table) {
        v.k = recipient_verdict::kind::unknown;
        v.code = code;
        v.dsn = code >= 500 ? "5.1.1" : "4.1.1";
        v.text = std::string("Recipient address rejected: User unknown in ") + table;
        return v;
    };
    auto cls = classify(domain, err);
    if (!cls) return tempfail();
    if (*cls == domain_class::other) return v;
    // a virtual alias makes any address valid
    auto alias = in_maps(_virtual_alias_maps.get(), keys_for(local, domain, true), err);
    if (!alias) return tempfail();
    if (*alias) return v;
    switch (*cls) {
    case domain_class::local: {
        if (_local_any) return v;
        std::string base = keys_for(local, "", false).back();
        if (_local_passwd && (system_user(local) || system_user(base))) return v;
        auto keys = keys_for(local, "", false);
        auto full = keys_for(local, domain, false);
        keys.insert(keys.end(), full.begin(), full.end());
        auto found = in_maps(_local_maps.get(), keys, err);
        if (!found) return tempfail();
        if (*found) return v;
        return unknown(local_code, "local recipient table");
    }
    case domain_class::virtual_alias:
        return unknown(valias_code, "virtual alias table");
    case domain_class::virtual_mailbox: {
        auto found = in_maps(_virtual_mailbox_maps.get(), keys_for(local, domain, true), err);
        if (!found) return tempfail();
        if (*found) return v;
        return unknown(vmailbox_code, "virtual mailbox table");
    }
    case domain_class::relay: {
        if (!_relay_recipient_maps) return v;
        auto found = in_maps(_relay_recipient_maps.get(), keys_for(local, domain, true), err);
        if (!found) return tempfail();
        if (*found) return v;
        return unknown(relay_code, "relay recipient table");
    }
    case domain_class::other: break;
    }
    return v;
}

}  // namespace tern::smtpd
