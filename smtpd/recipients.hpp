// recipients.hpp - which domains are ours and which users exist in them:
// mydestination (system users via getpwnam and alias_maps), virtual alias
// domains, virtual mailbox domains and relay_domains, with the tables that
// list their valid recipients. smtpd answers an unknown user at RCPT TO
// with 550 5.1.1 so that tern never accepts mail it would later bounce, and
// reject_unauth_destination uses the domain classes for relay control.
// SECURITY: addresses come from clients; they are only used as lookup keys.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/maps.hpp"

namespace tern::smtpd {

// A list of domains as in mydestination: names, ".parent" for subdomains,
// and type:name tables keyed by domain.
class domain_list {
public:
    // subdomains: a plain name also matches its subdomains (relay_domains).
    static std::optional<domain_list> parse(const std::vector<std::string>& items, bool subdomains,
                                            const map_options& opts, std::string& err);
    // domain is lower case. nullopt: a table failed (err says why).
    std::optional<bool> contains(std::string_view domain, std::string& err) const;
    bool empty() const { return _names.empty() && _tables.empty(); }

private:
    std::vector<std::string> _names;  // lower case; ".x" for subdomains of x
    std::vector<std::shared_ptr<lookup_table>> _tables;
    bool _subdomains = false;
};

enum class domain_class { local, virtual_alias, virtual_mailbox, relay, other };

struct recipient_verdict {
    enum class kind { ok, unknown, tempfail };
    kind k = kind::ok;
    int code = 0;
    std::string dsn, text;  // text without the "<addr>: " prefix
};

class recipient_check {
public:
    // Opens the tables named by main.cf. Broken elements are returned as an
    // error (smtpd then answers 451 4.3.5). snapshot_accounts: read the
    // system account names now (a chrooted smtpd cannot see /etc/passwd later).
    static std::unique_ptr<recipient_check> load(const config& cfg, const map_options& opts, std::string& err,
                                                 bool snapshot_accounts = false);

    // Domain class of a lower-case domain; nullopt when a table failed.
    std::optional<domain_class> classify(std::string_view domain, std::string& err) const;
    // Is the recipient known? addr: internal form with a lower-case domain.
    recipient_verdict check(const std::string& addr, int local_code, int vmailbox_code, int valias_code,
                            int relay_code) const;

private:
    recipient_check() = default;
    // found / not found / error (err set)
    std::optional<bool> in_maps(map_list* maps, const std::vector<std::string>& keys, std::string& err) const;
    std::vector<std::string> keys_for(const std::string& local, const std::string& domain, bool with_domain_key) const;

    domain_list _mydestination, _virtual_alias_domains, _virtual_mailbox_domains, _relay_domains;
    mutable std::unique_ptr<map_list> _virtual_alias_maps, _virtual_mailbox_maps, _relay_recipient_maps;
    mutable std::unique_ptr<map_list> _local_maps;  // local_recipient_maps without unix:passwd.byname
    bool _local_passwd = false;   // unix:passwd.byname listed
    bool _accounts_snapshot = false;                // _accounts holds every account name
    std::unordered_set<std::string> _accounts;      // read before the chroot
    bool system_user(const std::string& name) const;
    bool _local_any = false;      // local_recipient_maps is empty: any local part
    std::string _delimiter;       // recipient_delimiter
};

}  // namespace tern::smtpd
